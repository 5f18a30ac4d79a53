// Awaits the store's repository calls under the given folders and makes their callers async up the chain (issue 23):
// `tsx scripts/await-store-calls.ts test/import [more folders]`. Calls inside a synchronous `store.transaction`
// callback (and the functions it calls) are left and marked `// step B: async transaction`. It prints what it
// cannot do itself — array callbacks, generators, getters, async functions passed as values — for a hand fix.
import ts from 'typescript';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const ROOT = process.cwd();
const SEEDS = process.argv.slice(2).map((p) => path.resolve(ROOT, p));
const EDITABLE = ['app', 'scripts', 'bench', 'test', 'placements', 'views'].map((p) => path.join(ROOT, p) + path.sep);
const REPOSITORIES = new Set([
  'PortalRepository', 'ConnectionRepository', 'LinkRepository', 'JobRepository', 'ActivityRepository',
  'SettingsRepository', 'WatermarkRepository', 'ConsentRepository', 'ImportRepository', 'LeaseRepository',
  'EventTallyRepository', 'XeroLimitRepository',
]);
const TX_MARK = '// step B: async transaction';

type Fn = ts.FunctionLikeDeclaration;
const converted = new Set<string>();
const reports = new Set<string>();

function program(): ts.Program {
  const cfg = ts.getParsedCommandLineOfConfigFile(path.join(ROOT, 'tsconfig.json'), {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => {} })!;
  return ts.createProgram(cfg.fileNames, cfg.options);
}

function isFn(n: ts.Node): n is Fn {
  return ts.isFunctionDeclaration(n) || ts.isMethodDeclaration(n) || ts.isArrowFunction(n) || ts.isFunctionExpression(n) || ts.isGetAccessor(n) || ts.isSetAccessor(n) || ts.isConstructorDeclaration(n);
}

function enclosingFn(n: ts.Node): Fn | undefined {
  for (let p = n.parent; p; p = p.parent) if (isFn(p)) return p;
  return undefined;
}

function rel(f: string): string {
  return path.relative(ROOT, f);
}

/** A stable name for a declaration, across runs: file + class/function/variable name. */
function keyOf(fn: ts.Node): string | undefined {
  const file = rel(fn.getSourceFile().fileName);
  if (ts.isFunctionDeclaration(fn) && fn.name) return `${file}:${fn.name.text}`;
  if ((ts.isMethodDeclaration(fn) || ts.isMethodSignature(fn)) && fn.name) {
    const owner = fn.parent;
    const ownerName = (ts.isClassLike(owner) || ts.isInterfaceDeclaration(owner)) && owner.name ? owner.name.text : ts.isObjectLiteralExpression(owner) ? ownerOfLiteral(owner) : '?';
    return `${file}:${ownerName}.${fn.name.getText()}`;
  }
  if ((ts.isArrowFunction(fn) || ts.isFunctionExpression(fn)) && ts.isVariableDeclaration(fn.parent) && ts.isIdentifier(fn.parent.name)) return `${file}:${fn.parent.name.text}`;
  if (ts.isVariableDeclaration(fn) && ts.isIdentifier(fn.name)) return `${file}:${fn.name.text}`;
  if ((ts.isArrowFunction(fn) || ts.isFunctionExpression(fn)) && ts.isPropertyAssignment(fn.parent)) return `${file}:${ownerOfLiteral(fn.parent.parent as ts.ObjectLiteralExpression)}.${fn.parent.name.getText()}`;
  if ((ts.isArrowFunction(fn) || ts.isFunctionExpression(fn)) && ts.isPropertyDeclaration(fn.parent) && ts.isClassLike(fn.parent.parent)) return `${file}:${fn.parent.parent.name?.text}.${fn.parent.name.getText()}`;
  return undefined;
}

function ownerOfLiteral(o: ts.ObjectLiteralExpression): string {
  const p = o.parent;
  if (ts.isVariableDeclaration(p) && ts.isIdentifier(p.name)) return p.name.text;
  if (ts.isReturnStatement(p)) { const f = enclosingFn(p); return f ? (keyOf(f) ?? '?').split(':')[1] + '()' : '?'; }
  return '{}';
}

function where(n: ts.Node): string {
  const sf = n.getSourceFile();
  const { line } = sf.getLineAndCharacterOfPosition(n.getStart());
  return `${rel(sf.fileName)}:${line + 1}`;
}

const ARRAY_METHODS = new Set(['map', 'flatMap', 'filter', 'some', 'every', 'find', 'findIndex', 'forEach', 'reduce', 'sort', 'findLast']);

/** The node a marker comment goes above: the statement, member or property holding `n`. */
function markTarget(n: ts.Node): ts.Node {
  let st = n;
  while (st.parent && !ts.isBlock(st.parent) && !ts.isSourceFile(st.parent) && !ts.isClassLike(st.parent) && !ts.isObjectLiteralExpression(st.parent) && !ts.isModuleBlock(st.parent) && !ts.isCaseClause(st.parent)) st = st.parent;
  return st;
}

function hasMark(n: ts.Node): boolean {
  const sf = n.getSourceFile();
  return (ts.getLeadingCommentRanges(sf.text, n.getFullStart()) ?? []).some((r) => sf.text.slice(r.pos, r.end).includes(TX_MARK));
}

/** True when the function's first body line carries the marker. */
function fnHasMark(fn: Fn): boolean {
  const body = fn.body;
  if (!body || !ts.isBlock(body)) return false;
  const text = fn.getSourceFile().text;
  const start = body.getStart();
  return text.slice(start, text.indexOf('\n', start)).includes(TX_MARK);
}

/** The sync transaction callback `n` is in, if any. */
function inTransaction(n: ts.Node): ts.CallExpression | undefined {
  for (let p: ts.Node | undefined = n; p; p = p.parent) {
    if (isFn(p) && ts.isCallExpression(p.parent) && p.parent.arguments.includes(p as ts.Expression)) {
      const callee = p.parent.expression;
      if (ts.isPropertyAccessExpression(callee) && callee.name.text === 'transaction') return p.parent;
    }
  }
  return undefined;
}

function isRepositoryCall(checker: ts.TypeChecker, call: ts.CallExpression): boolean {
  const callee = call.expression;
  if (!ts.isPropertyAccessExpression(callee)) return false;
  const t = checker.getTypeAtLocation(callee.expression);
  const name = (t.getSymbol() ?? t.aliasSymbol)?.getName();
  const nn = checker.getNonNullableType(t).getSymbol()?.getName();
  if (!(name && REPOSITORIES.has(name)) && !(nn && REPOSITORIES.has(nn))) return false;
  // Already asynchronous (withLease): its callers handle the promise as they should.
  return !checker.getTypeAtLocation(call).getProperty('then');
}

function calleeDeclKey(checker: ts.TypeChecker, call: ts.CallExpression): string | undefined {
  const decl = checker.getResolvedSignature(call)?.declaration;
  if (!decl || ts.isJSDocSignature(decl)) return undefined;
  return keyOf(decl);
}

function isAwaited(call: ts.Node): boolean {
  let p = call.parent;
  while (ts.isParenthesizedExpression(p)) p = p.parent;
  return ts.isAwaitExpression(p) || ts.isVoidExpression(p);
}

function needsParens(call: ts.Node): boolean {
  const p = call.parent;
  return (ts.isPropertyAccessExpression(p) && p.expression === call) || (ts.isElementAccessExpression(p) && p.expression === call) || (ts.isCallExpression(p) && p.expression === call) || ts.isNonNullExpression(p) || ts.isTaggedTemplateExpression(p);
}

interface Edit { pos: number; text: string; end?: number }

function run(): number {
  const prog = program();
  const checker = prog.getTypeChecker();
  const edits = new Map<string, Edit[]>();
  const fnsDone = new Set<ts.Node>();
  const txMarked = new Set<ts.Node>();
  const txBound = new Set<string>();
  {
    const files = prog.getSourceFiles().filter((sf) => EDITABLE.some((d) => sf.fileName.startsWith(d)));
    let grew = true;
    while (grew) {
      grew = false;
      for (const sf of files) {
        const visit = (n: ts.Node) => {
          if (ts.isCallExpression(n) && !isRepositoryCall(checker, n)) {
            let bound = !!inTransaction(n);
            if (!bound) for (let f = enclosingFn(n); f; f = enclosingFn(f)) { const k = keyOf(f); if (k && txBound.has(k)) { bound = true; break; } }
            const k = bound ? calleeDeclKey(checker, n) : undefined;
            const decl = k ? checker.getResolvedSignature(n)?.declaration : undefined;
            if (k && decl && EDITABLE.some((d) => decl.getSourceFile().fileName.startsWith(d)) && !txBound.has(k)) { txBound.add(k); grew = true; }
          }
          ts.forEachChild(n, visit);
        };
        visit(sf);
      }
    }
  }
  const txBoundFn = (n: ts.Node): ts.Node | undefined => {
    for (let f = enclosingFn(n); f; f = enclosingFn(f)) { const k = keyOf(f); if (k && txBound.has(k)) return f; }
    return undefined;
  };
  const add = (file: string, e: Edit) => { if (!edits.has(file)) edits.set(file, []); edits.get(file)!.push(e); };

  const makeAsync = (fn: Fn) => {
    if (fnsDone.has(fn)) return;
    fnsDone.add(fn);
    const file = fn.getSourceFile().fileName;
    if (ts.isGetAccessor(fn) || ts.isSetAccessor(fn) || ts.isConstructorDeclaration(fn)) { reports.add(`CANNOT ASYNC (accessor/constructor) ${where(fn)}`); return; }
    if (fn.asteriskToken) { reports.add(`GENERATOR ${where(fn)}`); return; }
    if (ts.isCallExpression(fn.parent) && ts.isPropertyAccessExpression(fn.parent.expression) && ARRAY_METHODS.has(fn.parent.expression.name.text)) { reports.add(`ARRAY CALLBACK ${where(fn)} ${fn.parent.expression.getText().slice(0, 60)}`); return; }
    const isAsync = fn.modifiers?.some((m) => m.kind === ts.SyntaxKind.AsyncKeyword);
    if (isAsync) return;
    const key = keyOf(fn);
    if (key) converted.add(key);
    else {
      const p = fn.parent;
      const ctx = ts.isCallExpression(p) ? `argument of ${p.expression.getText().slice(0, 60)}` : ts.SyntaxKind[p.kind];
      reports.add(`ANON ${isAsync ? '(already async) ' : ''}${where(fn)} ${ctx}`);
    }
    if (isAsync) return;
    let pos: number;
    if (ts.isFunctionDeclaration(fn) || ts.isFunctionExpression(fn)) pos = fn.getChildren().find((c) => c.kind === ts.SyntaxKind.FunctionKeyword)!.getStart();
    else if (ts.isMethodDeclaration(fn)) pos = fn.name.getStart();
    else pos = fn.getStart();
    add(file, { pos, text: 'async ' });
    if (fn.type && !/^Promise</.test(fn.type.getText())) {
      add(file, { pos: fn.type.getStart(), text: 'Promise<' });
      add(file, { pos: fn.type.getEnd(), text: '>' });
    }
  };

  for (const sf of prog.getSourceFiles()) {
    const file = sf.fileName;
    if (!EDITABLE.some((d) => file.startsWith(d))) continue;
    if (file.startsWith(path.join(ROOT, 'app', 'store') + path.sep)) continue;
    const seeded = SEEDS.some((s) => file.startsWith(s));
    const visit = (n: ts.Node) => {
      if (ts.isCallExpression(n) && !isAwaited(n)) {
        const repo = seeded && isRepositoryCall(checker, n);
        const key = repo ? undefined : calleeDeclKey(checker, n);
        const prop = key !== undefined && converted.has(key);
        if (repo || prop) {
          const tx = inTransaction(n) ?? txBoundFn(n);
          if (tx) {
            if (prop) reports.add(`ASYNC CALLEE IN TRANSACTION ${where(n)} ${n.expression.getText()}`);
            if (isFn(tx)) {
              const body = tx.body;
              if (body && ts.isBlock(body) && !txMarked.has(tx) && !fnHasMark(tx)) {
                txMarked.add(tx);
                add(file, { pos: body.getStart() + 1, text: ` ${TX_MARK} (runs inside store.transaction)` });
              }
            } else {
              const st = markTarget(tx);
              if (!txMarked.has(st) && !hasMark(st)) {
                txMarked.add(st);
                const indent = sf.text.slice(sf.text.lastIndexOf('\n', st.getStart()) + 1, st.getStart());
                add(file, { pos: st.getStart(), text: `${TX_MARK}\n${indent}` });
              }
            }
          } else {
            if (needsParens(n)) { add(file, { pos: n.getStart(), text: '(await ' }); add(file, { pos: n.getEnd(), text: ')' }); }
            else add(file, { pos: n.getStart(), text: 'await ' });
            const fn = enclosingFn(n);
            if (fn) makeAsync(fn);
          }
        }
      }
      // A converted function used as a value (not called): report.
      if ((ts.isIdentifier(n) || ts.isPropertyAccessExpression(n)) && !(ts.isCallExpression(n.parent) && n.parent.expression === n)) {
        const sym = checker.getSymbolAtLocation(ts.isPropertyAccessExpression(n) ? n.name : n);
        const decl = sym?.valueDeclaration;
        if (decl && !ts.isPropertyAccessExpression(n.parent) && decl !== n.parent) {
          const k = keyOf(decl);
          if (k && converted.has(k) && !ts.isImportSpecifier(n.parent) && !ts.isExportSpecifier(n.parent) && n.parent !== decl) reports.add(`AS VALUE ${where(n)} ${n.getText()}`);
        }
      }
      ts.forEachChild(n, visit);
    };
    visit(sf);
  }
  let count = 0;
  for (const [file, es] of edits) {
    let text = readFileSync(file, 'utf8');
    es.sort((a, b) => b.pos - a.pos);
    for (const e of es) text = text.slice(0, e.pos) + e.text + text.slice(e.pos);
    writeFileSync(file, text);
    count += es.length;
  }
  return count;
}

for (let i = 0; i < 20; i++) {
  const n = run();
  console.error(`pass ${i + 1}: ${n} edits`);
  if (n === 0) break;
}
for (const r of [...reports].sort()) console.log(r);
