// A clone of the repository alone must pass `npm test` and be read without anything beside it: the data the tests
// read lives under test/fixtures/, and every document the code, the tests and the docs cite is in the repository
// (the protocol notes in docs/reference/, cited by section as `docs/reference/xero.md#rate-limits`) or an official
// URL. scripts/check-self-contained.sh proves it end to end (a fresh clone with no ../shared beside it).
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { SPEC_PATH, loadSpec } from './emulators/xero/contract.js';
import { fixture } from './bitrix24-emulator/helpers.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    if (name === 'node_modules' || name === 'fixtures' || name === 'out') return [];
    if (statSync(full).isDirectory()) return sources(full);
    return /\.(ts|sh)$/.test(name) ? [full] : [];
  });
}

describe('Self-contained test data', () => {
  it('when the Xero contract check loads its default spec, then the file is inside the repository and loads', async () => {
    assert.ok(SPEC_PATH.startsWith(root + path.sep), `${SPEC_PATH} is outside ${root}`);
    assert.ok(await loadSpec(), 'the contract check would be skipped');
  });

  it('when a Bitrix24 docs sample is read, then it comes from test/fixtures with its licence beside it', () => {
    assert.equal((fixture('event.ONAPPINSTALL.json') as { event: string }).event, 'ONAPPINSTALL');
    for (const dir of ['bitrix24', 'xero-openapi']) {
      assert.match(readFileSync(path.join(root, 'test/fixtures', dir, 'LICENSE'), 'utf8'), /MIT License/);
      assert.match(readFileSync(path.join(root, 'test/fixtures', dir, 'README.md'), 'utf8'), /commit `?[0-9a-f]{40}/);
    }
  });

  it('when the code and tests are scanned, then none reads from a shared folder beside the repository', () => {
    const self = fileURLToPath(import.meta.url);
    const offenders = ['app', 'test', 'scripts', 'bench'].flatMap((d) => sources(path.join(root, d)))
      .filter((f) => f !== self && /\.\.\/shared\/|shared\/(fixtures|xero-openapi)\//.test(readFileSync(f, 'utf8')))
      .map((f) => path.relative(root, f));
    assert.deepEqual(offenders, []);
  });
});

/** Folders whose files are scanned for citations: the product, its tests and tools, the pages, the docs. */
const SCANNED = ['app', 'placements', 'test', 'scripts', 'bench', 'views', 'docs'];
/** Not scanned for citations: copied upstream data (its README names upstream paths at a commit), generated output. */
const SKIPPED = new Set(['node_modules', 'fixtures', 'out', 'screenshots', '.git', 'data']);
/** Lists the old citations on purpose, as the map from each to its new place. */
const CITATION_MAP = path.join(root, 'docs/reference/README.md');
/** Written by the bench when it runs (bench/out/ is not committed). */
const GENERATED = ['bench/out/report.md'];

function walk(dir: string, skip: Set<string>): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    if (skip.has(name)) return [];
    if (statSync(full).isDirectory()) return walk(full, skip);
    return [full];
  });
}

const scanned = (): string[] =>
  [path.join(root, 'README.md'), ...SCANNED.flatMap((d) => walk(path.join(root, d), SKIPPED))]
    .filter((f) => /\.(ts|js|ejs|sh|md)$/.test(f));
/** Every file name in the repository (fixtures too), for bare names such as `xero_accounting.yaml`. */
const basenames = (): Set<string> =>
  new Set(walk(root, new Set(['node_modules', '.git', 'data'])).map((f) => path.basename(f)));

/** Drops URLs, so `…/docs/api.md#backup` of a public repository is not taken for a file here. */
const withoutUrls = (text: string) => text.replace(/\b(?:https?:\/\/|[\w-]+(?:\.[\w-]+)+\/)\S*/g, (url) => (/^[\w-]+\.md\//.test(url) ? url : ' '));

/** Whether a cited file exists: beside the citing file, from the repository root, or (a bare name) anywhere in it. */
function resolveCited(from: string, cited: string, names: Set<string>): string | undefined {
  if (cited.includes('*')) return undefined;
  for (const base of [path.dirname(from), root]) {
    const full = path.resolve(base, cited);
    if (full.startsWith(root) && existsSync(full)) return full;
  }
  if (GENERATED.some((g) => g === cited || (g.endsWith('/' + cited) && path.relative(root, from).startsWith(g.split('/')[0] + '/')))) return cited;
  if (!cited.includes('/') && names.has(cited)) return cited;
  return undefined;
}

/** GitHub's anchor of a heading: lower case, punctuation dropped, spaces → hyphens; repeats get -1, -2, … */
function anchorsOf(file: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  let fenced = false;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (/^\s*```/.test(line)) fenced = !fenced;
    const m = fenced ? null : /^#{1,6}\s+(.+?)\s*#*\s*$/.exec(line);
    if (!m) continue;
    const slug = m[1]!.replace(/\[([^\]]*)\]\([^)]*\)/g, '$1').toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-');
    const n = seen.get(slug) ?? 0;
    seen.set(slug, n + 1);
    out.add(n ? `${slug}-${n}` : slug);
  }
  return out;
}

/** What a file cites that is not in the repository, one line per citation: `file:line: why`. */
function strayCitations(file: string, names: Set<string>, text = readFileSync(file, 'utf8')): string[] {
  const rel = path.relative(root, file);
  const out: string[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = withoutUrls(raw);
    const at = `${rel}:${i + 1}`;
    for (const m of line.matchAll(/§\s?\d/g)) {
      if (!/RFC\s?\d+[^§]*$/.test(line.slice(0, m.index))) out.push(`${at}: a section (${m[0]}) of no document in the repository`);
    }
    for (const m of line.matchAll(/(?<![\w/.*-])((?:\.{1,2}\/)*[\w*][\w.*/-]*\.(?:md|ya?ml))(?![\w-])/g)) {
      if (!resolveCited(file, m[1]!, names)) out.push(`${at}: ${m[1]} is not in the repository`);
    }
  });
  return out;
}

/** Links and `docs/…#anchor` citations whose file or heading does not exist. */
function brokenLinks(file: string, names: Set<string>, text = readFileSync(file, 'utf8')): string[] {
  const rel = path.relative(root, file);
  const out: string[] = [];
  const check = (at: string, target: string, relativeOnly: boolean) => {
    const [cited, anchor] = target.split('#') as [string, string | undefined];
    const full = cited === '' ? file : relativeOnly ? path.resolve(path.dirname(file), cited) : resolveCited(file, cited, names);
    if (!full || !full.startsWith(root) || !existsSync(full)) return out.push(`${at}: ${target} points to no file`);
    if (anchor && full.endsWith('.md') && !anchorsOf(full).has(anchor)) out.push(`${at}: ${target} names no heading of ${path.relative(root, full)}`);
  };
  let fenced = false;
  text.split('\n').forEach((line, i) => {
    const at = `${rel}:${i + 1}`;
    if (/^\s*```/.test(line)) fenced = !fenced;
    if (file.endsWith('.md') && !fenced) {
      const targets = [...line.matchAll(/\]\(([^)\s]+)\)/g), ...line.matchAll(/^\s*\[[^\]]+\]:\s*(\S+)/g)].map((m) => m[1]!);
      for (const t of targets) if (!/^(https?:|mailto:)/.test(t)) check(at, t, true);
    }
    for (const m of withoutUrls(line).matchAll(/(?<![\w/.-])((?:\.{1,2}\/)*docs\/[\w./-]*\.md#[\w-]+)/g)) check(at, m[1]!, false);
  });
  return out;
}

describe('Self-contained documents', () => {
  const self = fileURLToPath(import.meta.url);

  it('when the code, tests and docs are scanned, then every document they cite is in the repository', () => {
    const names = basenames();
    const offenders = scanned().filter((f) => f !== self && f !== CITATION_MAP).flatMap((f) => strayCitations(f, names));
    assert.deepEqual(offenders, [], 'cite docs/reference/xero.md#… or docs/reference/bitrix24.md#… (see docs/reference/README.md), or an official URL');
  });

  it('when the docs link a file or a heading, and when the code cites docs/…#anchor, then the file and the heading exist', () => {
    const names = basenames();
    assert.deepEqual(scanned().filter((f) => f !== self).flatMap((f) => brokenLinks(f, names)), []);
  });

  it('when a comment cites an outside note, or a link names a missing file or heading, then the scan reports it', () => {
    const names = basenames();
    const probe = path.join(root, 'test', 'probe.ts');
    const cases = ['// 60 per minute (xero-api.md §2)', '// leaky bucket (reference §9)', '// see settings/how-to-call-rest-api/batch.md', '// see ../shared/design/architecture.md'];
    for (const text of cases) {
      assert.notDeepEqual(strayCitations(probe, names, text), [], text);
    }
    assert.deepEqual(strayCitations(probe, names, '// PKCE (RFC 7636 §4.1), docs/reference/xero.md#oauth, README.md'), []);
    assert.notDeepEqual(brokenLinks(probe, names, '// docs/reference/xero.md#no-such-heading'), []);
    assert.deepEqual(brokenLinks(probe, names, '// docs/reference/xero.md#rate-limits'), []);
    const doc = path.join(root, 'docs', 'probe.md');
    assert.notDeepEqual(brokenLinks(doc, names, 'See [the limits](reference/xero.md#no-such-heading).'), []);
    assert.notDeepEqual(brokenLinks(doc, names, 'See [the notes](missing.md).'), []);
    assert.deepEqual(brokenLinks(doc, names, 'See [the limits](reference/xero.md#rate-limits).'), []);
  });
});
