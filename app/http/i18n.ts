/**
 * Text in one place per language: views/i18n/<lang>.json holds every word the pages show, by key.
 * The language is the portal user's, as Bitrix24 puts it in the frame URL (`LANG`, also `B24Frame.getLang()`);
 * a language without a dictionary falls back to English, and a key missing in a dictionary falls back to its English text.
 *
 * A message is a string with `{name}` placeholders, or plural forms by Intl.PluralRules category:
 * `{ "one": "{count} job", "other": "{count} jobs" }` (chosen by the `count` variable).
 */
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { hasOwnKey, ownValue } from '../own-keys.js';
import { projectPath } from '../project-root.js';

type Message = string | Partial<Record<Intl.LDMLPluralRule, string>>;
type Dictionary = Record<string, Message>;

export type Translate = (key: string, vars?: Record<string, string | number>) => string;

export const DEFAULT_LANGUAGE = 'en';
const I18N_DIR = projectPath('views', 'i18n');

let dictionaries: Map<string, Dictionary> | undefined;

function load(): Map<string, Dictionary> {
  if (!dictionaries) {
    dictionaries = new Map();
    for (const file of readdirSync(I18N_DIR).filter((f) => f.endsWith('.json'))) {
      dictionaries.set(file.replace(/\.json$/, ''), JSON.parse(readFileSync(path.join(I18N_DIR, file), 'utf8')) as Dictionary);
    }
  }
  return dictionaries;
}

/** The languages with a dictionary, English first. */
export function languages(): string[] {
  return [...load().keys()].sort((a, b) => (a === DEFAULT_LANGUAGE ? -1 : b === DEFAULT_LANGUAGE ? 1 : a.localeCompare(b)));
}

/** The dictionary language for a Bitrix24 `LANG` value (`de`, `DE`, `de-CH` → `de`; `la`, garbage, none → `en`). */
export function pickLanguage(lang: unknown): string {
  const code = String(Array.isArray(lang) ? lang[0] : lang ?? '').trim().toLowerCase().slice(0, 2);
  return load().has(code) ? code : DEFAULT_LANGUAGE;
}

/** The translate function of a language. Unknown keys come back as the key itself, so a gap is visible, never blank. */
export function translator(lang: string): Translate {
  const all = load();
  const own = all.get(lang) ?? {};
  const fallback = all.get(DEFAULT_LANGUAGE) ?? {};
  const plural = new Intl.PluralRules(lang);
  return (key, vars = {}) => {
    const message = ownValue(own, key) ?? ownValue(fallback, key);
    if (message === undefined) return key;
    const text = typeof message === 'string' ? message : (ownValue(message, plural.select(Number(vars.count ?? 0))) ?? ownValue(message, 'other') ?? key);
    return text.replace(/\{(\w+)\}/g, (whole, name: string) => (hasOwnKey(vars, name) ? String(vars[name]) : whole));
  };
}

/** Whether the dictionaries have a message for `key` (every key is in English; see test/i18n.test.ts). */
export function hasMessage(key: string): boolean {
  return ownValue(load().get(DEFAULT_LANGUAGE) ?? {}, key) !== undefined;
}

/**
 * The words of an error for a page in `lang`: the message its `details.key` names (with `details.vars`), else the
 * dictionary's `error.<code>`, else the error's own message (English, as logged).
 */
export function errorText(lang: string, error: { code: string; message: string; details?: Record<string, unknown> }): string {
  const named = error.details?.key;
  const vars = (error.details?.vars ?? {}) as Record<string, string | number>;
  if (typeof named === 'string' && hasMessage(named)) return translator(lang)(named, vars);
  return hasMessage(`error.${error.code}`) ? translator(lang)(`error.${error.code}`, vars) : error.message;
}

/** The language of a window outside Bitrix24 (the Xero window, an error page): the one it carries, else the browser's. */
export function windowLanguage(carried: unknown, acceptLanguage: string | undefined): string {
  const chosen = typeof carried === 'string' && carried ? carried : undefined;
  return pickLanguage(chosen ?? acceptLanguage);
}

/** The messages browser scripts use (keys starting with `js.`), for the page's JSON data island. */
export function browserMessages(lang: string): Record<string, Message> {
  const all = load();
  const merged = { ...all.get(DEFAULT_LANGUAGE), ...all.get(lang) };
  return Object.fromEntries(Object.entries(merged).filter(([k]) => k.startsWith('js.')));
}
