/**
 * Whether a module is the script node was started with (`node dist/app/main.js`, `tsx app/main.ts`). Compared by
 * real path: node loads the main module from its real path, so an install reached through a symlink
 * (/opt/xero-connector → /opt/releases/…) would otherwise never start.
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export function isEntryPoint(moduleUrl: string): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(moduleUrl));
  } catch {
    return false;
  }
}
