/** Text in one place per language: the dictionaries, the language pick and the plural forms. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { browserMessages, languages, pickLanguage, translator } from '../app/http/i18n.js';

const dict = (lang: string) => Object.keys(JSON.parse(readFileSync(fileURLToPath(new URL(`../views/i18n/${lang}.json`, import.meta.url)), 'utf8')) as object);

describe('page text by language', () => {
  it('when the dictionaries are read, then every language has exactly the English keys', () => {
    const en = dict('en').sort();
    for (const lang of languages()) assert.deepEqual(dict(lang).sort(), en, `${lang} has the same keys as en`);
    assert.deepEqual(languages().slice(0, 1), ['en']);
  });

  it('when Bitrix24 sends a LANG, then its dictionary is picked, and any language without one falls back to English', () => {
    assert.equal(pickLanguage('de'), 'de');
    assert.equal(pickLanguage('DE'), 'de');
    assert.equal(pickLanguage(['de', 'en']), 'de');
    assert.equal(pickLanguage('la'), 'en');
    assert.equal(pickLanguage('<script>'), 'en');
    assert.equal(pickLanguage(undefined), 'en');
  });

  it('when a message has plural forms and placeholders, then the form follows the count and unknown keys show themselves', () => {
    const en = translator('en');
    const de = translator('de');
    assert.equal(en('log.count', { count: 1, page: 1, pages: 1 }), '1 entry · page 1 of 1');
    assert.equal(en('log.count', { count: 2, page: 1, pages: 3 }), '2 entries · page 1 of 3');
    assert.equal(de('log.count', { count: 2, page: 1, pages: 3 }), '2 Einträge · Seite 1 von 3');
    assert.equal(de('status.PAID'), 'Bezahlt');
    assert.equal(en('no.such.key'), 'no.such.key');
    assert.ok(Object.keys(browserMessages('de')).every((k) => k.startsWith('js.')));
  });
});
