/** GET /health: the state of the store (503 while it cannot write), the portals, the Xero connections and the job queue. Counts only, no names. */
import { Router } from 'express';
import { latestVersion } from '../store/db.js';
import type { Store } from '../store/index.js';

export function healthRoutes(store: Store, startedAt: number): Router {
  const router = Router();
  router.get('/health', async (_req, res) => {
    if (!(await store.isHealthy())) {
      res.status(503).json({ status: 'unavailable', store: { ok: false } });
      return;
    }
    // Reads still work while the database refuses writes (locked, disk full): say which, and since when.
    const fault = store.faults.current();
    if (fault) {
      res.status(503).json({ status: 'unavailable', store: { ok: false, fault: { code: fault.code, message: fault.message, since: new Date(fault.since).toISOString(), refusedWrites: fault.failures } } });
      return;
    }
    const connections = await store.connections.countByState();
    const jobs = await store.jobs.countByState();
    const degraded = connections.needs_reconnect > 0 || jobs.needs_attention > 0;
    res.json({
      status: degraded ? 'degraded' : 'ok',
      uptimeSeconds: Math.round((Date.now() - startedAt) / 1000),
      store: { ok: true, schemaVersion: (await store.schemaVersion()), latestSchemaVersion: latestVersion() },
      portals: await store.portals.countByState(),
      connections,
      queue: {
        pending: jobs.pending,
        running: jobs.running,
        needsAttention: jobs.needs_attention,
        paused: jobs.paused,
        done: jobs.done,
      },
    });
  });
  return router;
}
