// The store answers asynchronously (app/store/sql.ts): a store call whose promise nobody awaits runs out of order with
// what follows it, and its failure is lost. The type checker finds a promise used as a value; this test finds the
// places where it cannot: a statement whose promise is dropped, a promise taken as a condition, and an async callback
// given to an array step that reads its answer at once (filter, find, some, every, sort, forEach, reduce: a promise
// is always truthy, and forEach waits for nothing). It reads app/ and placements/ with the type checker.
import assert from 'node:assert/strict';
import { readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { tempDir } from './helpers/tmp.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Array steps that take their callback's answer as it comes back (a promise is not an answer for them). */
const SYNC_STEPS = new Set(['filter', 'find', 'findIndex', 'findLast', 'some', 'every', 'sort', 'forEach', 'reduce']);

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) return sourceFiles(full);
    return name.endsWith('.ts') ? [full] : [];
  });
}

function scan(program: ts.Program, files: string[]): string[] {
  const checker = program.getTypeChecker();
  const isPromise = (n: ts.Node) => {
    const t = checker.getTypeAtLocation(n);
    return t.getSymbol()?.getName() === 'Promise' || /^Promise</.test(checker.typeToString(t));
  };
  // A promise handled where it is made (.then/.catch/.finally), or kept in a variable or field for later.
  const handled = (e: ts.Expression): boolean =>
    ts.isAwaitExpression(e) || ts.isVoidExpression(e)
    || (ts.isCallExpression(e) && ts.isPropertyAccessExpression(e.expression) && ['then', 'catch', 'finally'].includes(e.expression.name.text))
    || (ts.isBinaryExpression(e) && e.operatorToken.kind === ts.SyntaxKind.EqualsToken);
  // A condition on a kept promise asks whether one is kept (a cache of promises, a Map's get), not what it answers.
  const keptPromise = (e: ts.Expression) => ts.isIdentifier(e) || ts.isPropertyAccessExpression(e) || ts.isElementAccessExpression(e)
    || (ts.isCallExpression(e) && ts.isPropertyAccessExpression(e.expression) && e.expression.name.text === 'get' && e.arguments.length === 1
      && checker.getTypeAtLocation(e.expression.expression).getSymbol()?.getName() === 'Map');
  const found: string[] = [];
  for (const file of files) {
    const sf = program.getSourceFile(file);
    assert.ok(sf, `${file} is in the program`);
    const rel = path.relative(root, file).split(path.sep).join('/');
    const say = (n: ts.Node, what: string) => found.push(`${rel}:${sf.getLineAndCharacterOfPosition(n.getStart()).line + 1} ${what}: ${n.getText().slice(0, 80)}`);
    const visit = (n: ts.Node) => {
      if (ts.isExpressionStatement(n) && isPromise(n.expression) && !handled(n.expression)) say(n, 'dropped promise');
      const condition = ts.isIfStatement(n) || ts.isWhileStatement(n) ? n.expression
        : ts.isConditionalExpression(n) ? n.condition
        : ts.isPrefixUnaryExpression(n) && n.operator === ts.SyntaxKind.ExclamationToken ? n.operand
        : ts.isBinaryExpression(n) && [ts.SyntaxKind.AmpersandAmpersandToken, ts.SyntaxKind.BarBarToken].includes(n.operatorToken.kind) ? n.left
        : undefined;
      if (condition && isPromise(condition) && !keptPromise(condition)) say(condition, 'promise as a condition');
      if ((ts.isArrowFunction(n) || ts.isFunctionExpression(n)) && ts.isCallExpression(n.parent) && ts.isPropertyAccessExpression(n.parent.expression)
        && SYNC_STEPS.has(n.parent.expression.name.text)) {
        const sig = checker.getSignatureFromDeclaration(n);
        if (sig && /^Promise</.test(checker.typeToString(checker.getReturnTypeOfSignature(sig)))) say(n, `async callback of .${n.parent.expression.name.text}`);
      }
      ts.forEachChild(n, visit);
    };
    visit(sf);
  }
  return found;
}

describe('store calls in app/ are awaited', () => {
  let appFound: string[];
  let fixtureFound: string[];

  before(() => {
    // A fixture beside app/: one of each mistake the scan must find, and the forms it must let through.
    const dir = tempDir('store-calls-');
    const fixture = path.join(dir, 'fixture.ts');
    const store = path.join(root, 'app', 'store', 'index.js');
    writeFileSync(fixture, [
      `import type { Store } from ${JSON.stringify(store)};`,
      `export async function fine(store: Store, cache: Map<string, Promise<unknown>>) {`,
      `  await store.links.find('m', 'smart_invoice', '1');`,
      `  void store.jobs.purgeFinished(0);`,
      `  store.jobs.purgeFinished(0).catch(() => undefined);`,
      `  const kept = store.jobs.nextRunAt(); if (cache.get('k')) await kept;`,
      `}`,
      `export async function wrong(store: Store, ids: string[]) {`,
      `  store.jobs.purgeFinished(0);`,
      `  if (store.links.find('m', 'smart_invoice', '1')) return;`,
      `  return ids.filter(async (id) => Boolean(await store.links.find('m', 'smart_invoice', id)));`,
      `}`,
      '',
    ].join('\n'));
    const cfg = ts.getParsedCommandLineOfConfigFile(path.join(root, 'tsconfig.json'), {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => {} })!;
    const files = [...sourceFiles(path.join(root, 'app')), ...sourceFiles(path.join(root, 'placements'))];
    const program = ts.createProgram([...files, fixture], cfg.options);
    appFound = scan(program, files);
    fixtureFound = scan(program, [fixture]).map((f) => f.replace(/^.*?:(\d+) /, '$1 ').replace(/:.*$/, ''));
  });

  it('when the scan reads a fixture, then it finds the dropped promise, the promise taken as a condition and the async filter, and nothing else', () => {
    assert.deepEqual(fixtureFound, ['9 dropped promise', '10 promise as a condition', '11 async callback of .filter']);
  });

  it('when app/ and placements/ are read, then no store promise is dropped, taken as a condition or given to a synchronous array step', () => {
    assert.deepEqual(appFound, [], 'await these (or keep the promise, or handle it with .catch)');
  });
});
