/** The app manifest (install.json): scopes and the relative paths Bitrix24 and Xero call. */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { projectPath } from './project-root.js';

const relativePath = z.string().regex(/^\/[A-Za-z0-9/_-]*$/, 'must be a relative path starting with /');

const manifestSchema = z.object({
  name: z.string(),
  description: z.string().optional(),
  scopes: z.array(z.string()).min(1),
  handler: relativePath,
  install: relativePath,
  events: z.record(z.string().regex(/^[A-Z0-9_.]+$/), relativePath),
  placements: z.record(z.string().regex(/^[A-Z0-9_]+$/), relativePath),
  xeroRedirect: relativePath,
  xeroWebhook: relativePath,
});

export type Manifest = z.infer<typeof manifestSchema>;

export function loadManifest(file: string | URL = projectPath('install.json')): Manifest {
  return manifestSchema.parse(JSON.parse(readFileSync(file, 'utf8')));
}

/** Every distinct path the manifest lists; the server must answer each of them. */
export function manifestPaths(m: Manifest): string[] {
  return [...new Set([m.handler, m.install, m.xeroRedirect, m.xeroWebhook, ...Object.values(m.events), ...Object.values(m.placements)])];
}
