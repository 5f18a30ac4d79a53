/**
 * Where the connector's files outside the code are (views/, views/i18n, install.json): the project root, the
 * nearest folder above this module that holds package.json. The module is app/project-root.ts when it runs from
 * source (tsx: tests, the demo) and dist/app/project-root.js when it runs from the build (`npm start`), so paths
 * relative to import.meta.url would differ by one folder; the root does not.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

function findRoot(from: string): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'package.json'))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`No package.json above ${from}: the connector's files are not where they were installed.`);
  }
}

export const PROJECT_ROOT = findRoot(path.dirname(fileURLToPath(import.meta.url)));

/** A path inside the project root. */
export const projectPath = (...parts: string[]): string => path.join(PROJECT_ROOT, ...parts);
