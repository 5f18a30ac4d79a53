/**
 * `npm run portal -- list | restore <member_id> | relocate <member_id> | purge <member_id>`: the operator's portal
 * commands (app/sync/install/portal-admin.ts), against the store in DATA_DIR with the same environment as `npm start`.
 */
import { ConfigError, parseConfig, prepareDataDir, resolveAppSecret } from '../app/config.js';
import { openConfiguredStore } from '../app/store/index.js';
import { runPortalCommand } from '../app/sync/install/portal-admin.js';

try {
  const config = parseConfig(process.env);
  prepareDataDir(config.dataDir);
  const store = await openConfiguredStore(config, resolveAppSecret(config));
  try {
    const { ok, lines } = await runPortalCommand(store, process.argv.slice(2));
    for (const line of lines) (ok ? console.log : console.error)(line);
    process.exitCode = ok ? 0 : 1;
  } finally {
    await store.close();
  }
} catch (err) {
  console.error(err instanceof ConfigError ? err.message : (err as Error).message);
  process.exitCode = 1;
}
