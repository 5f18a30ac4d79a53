// The import killed while a batch call is on the wire, and `npm run import` started again: Bitrix24 has applied the
// batch (the emulator holds the answer until the process is gone), or is still working it (Bitrix24 runs a batch to
// its end whoever still listens), or never got it.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { statusBed, type StatusBed } from '../statuses/bed.js';
import { waitFor } from '../faults/mix.js';
import { assertImportedOnce, assertSummaryRight, seedXeroContacts, seedXeroItems } from './bed.js';
import { cli } from './cli.js';
import type { SqliteDb } from '../../app/store/sqlite-driver.js';

const ARGS = ['--what', 'companies,contacts,products'];
/** A batch can no longer be running on the portal 10 s after it was sent (here; Bitrix24 cloud: 60 s). */
const ENV = { B24_REQUEST_LIMIT_SECONDS: '10' };

/** Starts the import command line and SIGKILLs it while the first batch `match` picks is held on the wire. */
async function killWhileHeld(bed: StatusBed, point: string, match: (lines: string[]) => boolean, opts: { beforeApplying?: boolean } = {}): Promise<string> {
  const hold = bed.b24.holdBatchAnswer(match, opts);
  const run = cli(bed, ARGS, ENV);
  const finished = run.exited.then((code) => { throw new Error(`the import ended (${code}) before ${point}: ${run.output()}`); });
  try {
    await Promise.race([hold.held, finished]);
  } catch (err) {
    hold.release();
    throw err;
  }
  run.child.kill('SIGKILL');
  assert.equal(await run.exited, 'SIGKILL');
  await hold.lost;
  return run.output();
}

const decoded = (lines: string[]) => lines.map((l) => decodeURIComponent(l));
const creating = (lines: string[]) => lines.some((l) => /^[a-z.]+\.add\?/.test(l));

/**
 * Records of the running import the connector has not sent yet, read from its SQLite file at once: the emulator asks
 * while a batch answer is held, and its question cannot wait for the store's asynchronous answer.
 */
function planned(bed: StatusBed): number {
  const raw = (bed.c.store.db as SqliteDb).raw;
  return (raw.prepare(`SELECT count(*) AS n FROM import_records r JOIN import_runs u ON u.id = r.run_id WHERE u.state = 'running' AND r.state = 'planned'`).get() as { n: number }).n;
}

const since = (bed: StatusBed, mark: number, method: string, viaBatch: boolean) => bed.b24.callLog.slice(mark).filter((c) => c.method === method && Boolean(c.viaBatch) === viaBatch).length;

describe('import from Xero: killed with a batch on the wire', () => {
  it('when npm run import is SIGKILLed during the first batch, a batch of products and one of companies cut short on the portal, a batch Bitrix24 is still working, a batch that never reached it and the last batch, then each rerun finds what the earlier runs created: every record exactly once and the summary counts each planned record once', async () => {
    const bed = await statusBed();
    seedXeroItems(bed, 120);
    seedXeroContacts(bed, 200, 30);
    const output: string[] = [];
    // 1. The first batch that creates anything (items are planned first): applied, its answer lost.
    output.push(await killWhileHeld(bed, 'the first batch', creating));
    /** Bitrix24 fails the batch's first command of `method` (500) as it works the batch: the batch is cut short there. */
    const failingFirst = (method: string, match: (lines: string[]) => boolean) => (lines: string[]) => {
      if (!match(lines)) return false;
      bed.b24.setFaults({ failMethods: { [method]: 1 } });
      return true;
    };
    // 2. A batch of products in the middle of the catalog, the first of its prices failed on the portal, answer lost.
    output.push(await killWhileHeld(bed, 'a batch of products', failingFirst('catalog.price.add', (lines) => creating(lines) && decoded(lines).some((l) => l.includes('ITEM-00060')))));
    // 3. A batch of companies, the first of its requisites failed on the portal (so its address too), answer lost.
    output.push(await killWhileHeld(bed, 'a batch of companies cut short', failingFirst('crm.requisite.add', (lines) => decoded(lines).some((l) => l.startsWith('crm.company.add?') && l.includes('Org 00020 Ltd')))));
    // 4. A batch of companies Bitrix24 is still working when the process dies (each command 100 ms on the portal, then
    //    3 s): the rerun starts while it goes on, and the rest of it comes in only after the rerun has begun to look.
    const slow = bed.b24.holdBatchAnswer((lines) => decoded(lines).some((l) => l.startsWith('crm.company.add?') && l.includes('Org 00050 Ltd')), { beforeApplying: true });
    const third = cli(bed, ARGS, ENV);
    await slow.held;
    let mark = bed.b24.callLog.length;
    bed.b24.setFaults({ batchCommandMs: 100 });
    slow.release();
    await waitFor('three companies of the batch written', () => since(bed, mark, 'crm.company.add', true) >= 3, 30_000, 2);
    bed.b24.setFaults({ batchCommandMs: 3000 }); // the portal slows down: the batch is far from its end when the rerun looks
    third.child.kill('SIGKILL');
    await third.exited;
    output.push(third.output());
    const companiesAtKill = bed.b24.items(4).length;
    if (process.env.KILL_TRACE) process.stderr.write(`companies at the kill: ${companiesAtKill}\n`);
    // 5. The rerun goes on until a batch that never reaches Bitrix24 (killed before the portal got to it): the next
    //    run waits until that batch could no longer be running, finds nothing of it and sends it.
    const lost = bed.b24.holdBatchAnswer((lines) => decoded(lines).some((l) => l.startsWith('crm.company.add?') && l.includes('Org 00120 Ltd')), { beforeApplying: true });
    const fourth = cli(bed, ARGS, ENV);
    mark = bed.b24.callLog.length;
    await waitFor('the rerun looking for what the stopped run sent', () => since(bed, mark, 'crm.company.list', false) > 0, 60_000, 2);
    if (process.env.KILL_TRACE) process.stderr.write(`companies at the rerun's look-up: ${bed.b24.items(4).length}\n`);
    bed.b24.setFaults({});
    await waitFor('the batch worked to its end', () => bed.b24.items(4).length > companiesAtKill + 3, 30_000, 5);
    await lost.held;
    fourth.child.kill('SIGKILL');
    await fourth.exited;
    await lost.lost;
    output.push(fourth.output());
    // 6. The last batch: nothing of the plan is left to send.
    output.push(await killWhileHeld(bed, 'the last batch', (lines) => creating(lines) && planned(bed) === 0));
    const last = cli(bed, ARGS, ENV);
    assert.equal(await last.exited, 0, last.output());
    if (process.env.KILL_TRACE) process.stderr.write(`${[...output, last.output()].join('\n----\n')}\n`);
    for (const o of [...output.slice(1), last.output()]) assert.match(o, /Resuming import/);

    assertImportedOnce(bed, { people: 30 });
    const run = (await bed.c.store.imports.latestRun(bed.memberId))!;
    const outcome = await assertSummaryRight(bed, run.id);
    assert.match(last.output(), new RegExp(`Import ${run.id} done: ${outcome.create} created, 0 linked, 0 updated, 0 skipped, 0 failed\\.`));
  });
});
