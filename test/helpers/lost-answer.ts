import type { Environment } from './env.js';

/**
 * A crash between send and save, in-process: the document `create` made reaches Xero but every answer is lost; then
 * `edit` changes it in Bitrix24 before the retry (another body, so Xero's idempotency replay cannot help), and the
 * retry is worked. `between` runs while the connector has not heard back.
 */
export async function pushWithLostAnswer(env: Environment, steps: { create: () => void; between: () => void; edit: () => void }): Promise<void> {
  steps.create();
  env.xero.setFaults({ dropResponseRate: 1 });
  await env.b24.flushEvents();
  await env.c.services.outbox.drain();
  env.xero.setFaults({});
  steps.between();
  steps.edit();
  await env.c.store.db.run(`UPDATE jobs SET run_at = 0 WHERE state = 'pending'`);
  await env.settle();
}
