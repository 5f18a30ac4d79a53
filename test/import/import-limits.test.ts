// Bitrix24's operating-time limit met inside an import's batches: the blocked commands (a company, its requisite, a
// product's price) did not run; the import waits until the answer's operating_reset_at and sends them again.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { statusBed, type StatusBed } from '../statuses/bed.js';
import { assertImportedOnce, assertSummaryRight, seedXeroContacts, seedXeroItems } from './bed.js';
import { cli } from './cli.js';

/** 10 s of a method's operating time per 1.5 s window (Bitrix24: 420 s per 10 minutes), each costed call 1 s. */
function limitOperatingTime(bed: StatusBed): void {
  bed.b24.setOperatingLimit({ limitSeconds: 10, windowMs: 1500, costSeconds: { 'crm.company.add': 1, 'crm.requisite.add': 1, 'catalog.price.add': 1 } });
}

/** The commands of each batch call, as Bitrix24 worked them (a batch's own entry is logged after its commands). */
function batches(bed: StatusBed): { method: string; status: number; error?: string }[][] {
  const out: { method: string; status: number; error?: string }[][] = [[]];
  for (const c of bed.b24.callLog) {
    if (c.viaBatch) out.at(-1)!.push(c);
    else if (c.method === 'batch') out.push([]);
  }
  return out.filter((b) => b.length);
}

/** No batch sent a method while Bitrix24 still blocked it: each blocked method had run in that batch before it blocked. */
function assertWaitedForTheReset(bed: StatusBed): number {
  let blocked = 0;
  for (const b of batches(bed)) {
    for (const method of new Set(b.filter((c) => c.error === 'OPERATION_TIME_LIMIT').map((c) => c.method))) {
      blocked++;
      assert.equal(b.find((c) => c.method === method)!.status, 200, `${method} was sent again only once Bitrix24 had freed it`);
    }
  }
  return blocked;
}

describe('import from Xero: Bitrix24 operating-time limit', () => {
  it('when an import\'s batches meet OPERATION_TIME_LIMIT on companies, requisites and prices, then npm run import waits until operating_reset_at, sends what was blocked again and completes with nothing failed and every record once', async () => {
    const bed = await statusBed();
    seedXeroItems(bed, 20);
    seedXeroContacts(bed, 20, 5);
    limitOperatingTime(bed);
    const run = cli(bed, ['--what', 'companies,contacts,products']);
    assert.equal(await run.exited, 0, run.output());
    assert.match(run.output(), /Waiting: Bitrix24 blocks (crm\.company\.add|crm\.requisite\.add|catalog\.price\.add) for now \(its operating time limit\); the import goes on at .+ UTC\./);
    assert.ok(assertWaitedForTheReset(bed) >= 3, 'companies, requisites and prices were blocked');
    assertImportedOnce(bed, { people: 5 });
    const runId = (await bed.c.store.imports.latestRun(bed.memberId))!.id;
    const outcome = await assertSummaryRight(bed, runId);
    assert.match(run.output(), new RegExp(`Import ${runId} done: ${outcome.create} created, 0 linked, 0 updated, 0 skipped, 0 failed\\.`));
  });

  it('when the import started from the slider meets OPERATION_TIME_LIMIT, then its job waits in the queue until operating_reset_at, saying why, without using up its attempts, and the run completes with nothing failed', async () => {
    const bed = await statusBed();
    seedXeroItems(bed, 20);
    seedXeroContacts(bed, 12, 0);
    limitOperatingTime(bed);
    const svc = bed.c.services.importFromXero;
    const { outbox } = bed.c.services;
    const preview = await svc.requestPreview({ memberId: bed.memberId, what: ['companies', 'contacts', 'products'], includeArchived: false, startedBy: '1' });
    await outbox.drain();
    await svc.requestRun(bed.memberId, preview.id);
    let waits = 0;
    for (await outbox.drain(); (await bed.c.store.imports.run(preview.id))!.state === 'running'; await outbox.drain()) {
      const job = (await bed.c.store.jobs.list({ memberId: bed.memberId, states: ['pending'], limit: 10 })).find((j) => j.kind === 'import-from-xero')!;
      assert.equal(job.lastErrorCode, 'B24.OPERATION_TIME_LIMIT');
      assert.match(job.lastError ?? '', /^Bitrix24 blocks [\w.]+ for now \(its operating time limit\); the import goes on at .+ UTC\.$/);
      assert.equal(job.attempts, 0, 'waiting for Bitrix24 uses up no attempt');
      assert.ok(job.runAt > Date.now() && job.runAt <= Date.now() + 3000, 'it waits until operating_reset_at, not a fixed minute');
      waits++;
      await new Promise((resolve) => setTimeout(resolve, job.runAt - Date.now()));
    }
    assert.ok(waits >= 2, `the run waited (${waits})`);
    assertWaitedForTheReset(bed);
    assertImportedOnce(bed, { people: 0 });
    await assertSummaryRight(bed, preview.id);
  });
});
