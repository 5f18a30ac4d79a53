// `npm run restore -- FILE`: replaces DATA_DIR/connector.db with the backup FILE after checking it (integrity,
// schema version, APP_SECRET opens its secrets). Stop the connector first. The replaced database is kept beside it
// as connector.db.before-restore-<time>. Prints one JSON line; exit 1 with a reason on failure (nothing changed).
import { parseConfig, prepareDataDir, resolveAppSecret } from '../app/config.js';
import { restoreStore } from '../app/store/backup.js';

const file = process.argv.slice(2).find((a) => a !== '--');
if (!file) {
  process.stderr.write('Usage: npm run restore -- FILE   (stop the connector first; DATA_DIR names the store; default ./data)\n');
  process.exit(2);
}
try {
  const config = parseConfig(process.env);
  prepareDataDir(config.dataDir);
  const report = await restoreStore(config.dataDir, file, resolveAppSecret(config));
  process.stdout.write(`${JSON.stringify(report)}\n`);
} catch (err) {
  process.stderr.write(`Restore failed: ${(err as Error).message}\n`);
  process.exit(1);
}
