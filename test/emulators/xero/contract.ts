// Contract check: every JSON request body is validated against Xero's official OpenAPI description.
// Source: issue "Contract check"; test/fixtures/xero-openapi/README.md (load non-strict: openapi-backend quick mode,
// ajv strict:false, ajv-formats for uuid/date-time). openapi-backend 5 works on Node 20 in quick mode (checked).
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { OpenAPIBackend, type Document } from 'openapi-backend';
import addFormats from 'ajv-formats';
import YAML from 'yaml';

export interface SpecViolation { method: string; path: string; operationId?: string; errors: Array<{ at: string; message: string }>; body: unknown }

// The spec is kept in the repository (test/fixtures/xero-openapi, with its source and MIT licence).
const here = dirname(fileURLToPath(import.meta.url));
export const SPEC_PATH = resolve(here, '../../fixtures/xero-openapi/xero_accounting.yaml');

// ajv-formats is CommonJS: under NodeNext the default import may be the module object or the function.
const formatsPlugin = ((addFormats as any).default ?? addFormats) as (ajv: unknown) => unknown;

const loading = new Map<string, Promise<OpenAPIBackend | undefined>>();
const warned = new Set<string>();

/**
 * Loads and initialises the spec once per process (about a second). Undefined when the file is absent: then the
 * check is skipped with one console.warn per path (only for a path given explicitly: the default is in the repository).
 */
export function loadSpec(specPath: string = SPEC_PATH): Promise<OpenAPIBackend | undefined> {
  const cached = loading.get(specPath);
  if (cached) return cached;
  const p = (async () => {
    if (!existsSync(specPath)) {
      if (!warned.has(specPath)) {
        warned.add(specPath);
        console.warn(`[xero-emulator] contract check skipped: ${specPath} not found (the official Xero spec is test/fixtures/xero-openapi/xero_accounting.yaml)`);
      }
      return undefined;
    }
    const definition = parseOnce(readFileSync(specPath, 'utf8'));
    const api = new OpenAPIBackend({
      definition, quick: true, validate: true,
      ajvOpts: { strict: false, allErrors: true },
      customizeAjv: (ajv) => { formatsPlugin(ajv); return ajv; },
    });
    await api.init();
    return api;
  })();
  loading.set(specPath, p);
  return p;
}

/**
 * The spec parsed: YAML takes most of a second for its 900 KB, in every test process; the JSON of the same text is
 * kept in the temp folder under the text's hash (written whole, then renamed, so processes beside it read all or
 * nothing) and read back in a few milliseconds. A changed spec has another hash, so it is parsed again.
 */
function parseOnce(text: string): Document {
  const cache = join(tmpdir(), `xero-openapi-${createHash('sha256').update(text).digest('hex').slice(0, 16)}.json`);
  try {
    return JSON.parse(readFileSync(cache, 'utf8')) as Document;
  } catch {
    const definition = YAML.parse(text) as Document;
    try {
      const part = `${cache}.${process.pid}.tmp`;
      writeFileSync(part, JSON.stringify(definition));
      renameSync(part, cache);
    } catch {
      // A temp folder that cannot be written costs only the time.
    }
    return definition;
  }
}

/** Validates one request body; returns the violations (body errors only: headers/params are the emulator's job). */
export function validateBody(api: OpenAPIBackend, method: string, path: string, query: Record<string, string>, body: unknown): SpecViolation | undefined {
  const req = { method: method.toLowerCase(), path, query, headers: { 'content-type': 'application/json', 'xero-tenant-id': 'x' }, body };
  const op = api.router.matchOperation(req);
  if (!op) return undefined; // routes the spec does not describe (e.g. test controls) are not checked
  const result = api.validator.validateRequest(req, op);
  const errors = (result.errors ?? [])
    .filter((e) => (e.instancePath ?? '').startsWith('/requestBody') || e.schemaPath?.includes('requestBody'))
    .map((e) => ({ at: (e.instancePath ?? '').replace(/^\/requestBody/, '') || '/', message: `${e.message ?? e.keyword}${e.params ? ' ' + JSON.stringify(e.params) : ''}` }));
  return errors.length ? { method, path, operationId: op.operationId, errors, body } : undefined;
}
