// `npm run backup -- FILE`: an online backup of DATA_DIR/connector.db into FILE, safe while the connector runs
// (SQLite's backup API; see app/store/backup.ts). Prints one JSON line; exit 1 with a reason on failure.
import { parseConfig } from '../app/config.js';
import { backupStore } from '../app/store/backup.js';

const target = process.argv.slice(2).find((a) => a !== '--');
if (!target) {
  process.stderr.write('Usage: npm run backup -- FILE   (DATA_DIR names the store; default ./data)\n');
  process.exit(2);
}
try {
  const config = parseConfig(process.env);
  const report = await backupStore(config.dataDir, target);
  process.stdout.write(`${JSON.stringify({ ...report, note: 'keep DATA_DIR/app-secret (or APP_SECRET) with the backup: the tokens in it are sealed with it' })}\n`);
} catch (err) {
  process.stderr.write(`Backup failed: ${(err as Error).message}\n`);
  process.exit(1);
}
