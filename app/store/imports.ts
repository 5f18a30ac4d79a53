/**
 * Repository of import runs and their records (migration 6). A run's plan is its records: one per Xero record with
 * the action decided at preview (create, link, update, skip, fail) and, once worked, its state. Working a run only
 * reads records still `planned` or `sending`, so a restart continues where the last process stopped.
 */
import { clock } from '../clock.js';
import type { SqlDb } from './sql.js';
import { rowMapper } from './rows.js';
import { ImportDirectoryRepository } from './import-directory.js';

export type ImportWhat = 'companies' | 'contacts' | 'products';
export type ImportRunState = 'planning' | 'previewed' | 'running' | 'cancelled' | 'done' | 'failed';
export type ImportAction = 'create' | 'link' | 'update' | 'skip' | 'fail';
export type ImportRecordState = 'planned' | 'sending' | 'done' | 'failed';

export interface ImportProgress {
  /** What the run does now, in words for people. */
  phase?: string;
  /** Xero pages read while planning. */
  pagesRead?: number;
  /** Records planned so far. */
  planned?: number;
}

export interface ImportRun {
  id: number;
  memberId: string;
  connectionId: number | null;
  what: ImportWhat[];
  includeArchived: boolean;
  state: ImportRunState;
  progress: ImportProgress;
  error: string | null;
  startedBy: string | null;
  createdAt: number;
  updatedAt: number;
  finishedAt: number | null;
}

export interface ImportRecord {
  runId: number;
  seq: number;
  b24Type: 'company' | 'contact' | 'product';
  xeroType: 'contact' | 'contact_person' | 'item';
  xeroId: string;
  name: string;
  action: ImportAction;
  b24Id: string | null;
  parentSeq: number | null;
  payload: unknown;
  reason: string | null;
  state: ImportRecordState;
  /** When the batch carrying it was last sent (epoch ms), while it waits for its answer. */
  sentAt: number | null;
  /** The parts of a created record Bitrix24 already holds, by part (`main`, `rq`, `a<type>`, `price`): their ids. */
  written: Written;
}

/** Part of a created record → its Bitrix24 id (an address, which has none, holds its requisite's). */
export type Written = Record<string, string>;

export type NewImportRecord = Omit<ImportRecord, 'runId' | 'state' | 'sentAt' | 'written'>;

/** Counts per action: planned (preview) or, per state, as worked. */
export type ActionCounts = Record<ImportAction, number>;

interface RunRow {
  id: number; member_id: string; connection_id: number | null; what: string; include_archived: number; state: ImportRunState;
  progress: string; error: string | null; started_by: string | null; created_at: number; updated_at: number; finished_at: number | null;
}
interface RecordRow {
  run_id: number; seq: number; b24_type: ImportRecord['b24Type']; xero_type: ImportRecord['xeroType']; xero_id: string; name: string;
  action: ImportAction; b24_id: string | null; parent_seq: number | null; payload: string | null; reason: string | null; state: ImportRecordState;
  sent_at: number | null; written: string | null;
}

const LIVE_RUN = `state IN ('planning', 'previewed', 'running')`;
export const zeroCounts = (): ActionCounts => ({ create: 0, link: 0, update: 0, skip: 0, fail: 0 });

/** Failed records read per query when they are streamed (the CSV of failures). */
const FAILURE_PAGE = 500;

export class ImportRepository {

  /** The Bitrix24 records a run's preview matches against (import-directory.ts). */
  readonly directory: ImportDirectoryRepository;

  constructor(private readonly db: SqlDb) {
    this.directory = new ImportDirectoryRepository(db);
  }

  async createRun(input: { memberId: string; connectionId: number | null; what: ImportWhat[]; includeArchived: boolean; startedBy: string | null }, now = clock.now()): Promise<ImportRun> {
    const { lastId } = await this.db.run(
      `INSERT INTO import_runs (member_id, connection_id, what, include_archived, started_by, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
      [input.memberId, input.connectionId, JSON.stringify(input.what), input.includeArchived ? 1 : 0, input.startedBy, now, now],
      { returning: 'id' },
    );
    return (await this.run(lastId!))!;
  }

  async run(id: number): Promise<ImportRun | undefined> {
    const row = (await this.db.get('SELECT * FROM import_runs WHERE id = ?', [id])) as RunRow | undefined;
    return row && runOf(row);
  }

  /** The portal's run that is not finished (planning, previewed or running), if any. */
  async liveRun(memberId: string): Promise<ImportRun | undefined> {
    const row = (await this.db.get(`SELECT * FROM import_runs WHERE member_id = ? AND ${LIVE_RUN} ORDER BY id DESC LIMIT 1`, [memberId])) as RunRow | undefined;
    return row && runOf(row);
  }

  async latestRun(memberId: string): Promise<ImportRun | undefined> {
    const row = (await this.db.get('SELECT * FROM import_runs WHERE member_id = ? ORDER BY id DESC LIMIT 1', [memberId])) as RunRow | undefined;
    return row && runOf(row);
  }

  /** Moves a run to `state` unless it was cancelled meanwhile; returns whether it moved. */
  async setState(id: number, state: ImportRunState, error: string | null = null, now = clock.now()): Promise<boolean> {
    const finished = state === 'done' || state === 'failed' || state === 'cancelled' ? now : null;
    return (await this.db.run(`UPDATE import_runs SET state = ?, error = ?, updated_at = ?, finished_at = coalesce(?, finished_at)
                WHERE id = ? AND (state != 'cancelled' OR ? = 'cancelled')`, [state, error, now, finished, id, state])).changes > 0;
  }

  async setProgress(id: number, progress: ImportProgress, now = clock.now()): Promise<void> {
    await this.db.run('UPDATE import_runs SET progress = ?, updated_at = ? WHERE id = ?', [JSON.stringify(progress), now, id]);
  }

  async addRecords(runId: number, records: NewImportRecord[]): Promise<void> {
    await this.db.transaction(async () => {
      for (const r of records) {
        const state: ImportRecordState = r.action === 'skip' ? 'done' : r.action === 'fail' ? 'failed' : 'planned';
        await this.db.run(
          `INSERT INTO import_records (run_id, seq, b24_type, xero_type, xero_id, name, action, b24_id, parent_seq, payload, reason, state)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
          [runId, r.seq, r.b24Type, r.xeroType, r.xeroId, r.name, r.action, r.b24Id, r.parentSeq, r.payload === undefined ? null : JSON.stringify(r.payload), r.reason, state],
        );
      }
    });
  }

  /** Drops a run's plan (a preview made again). */
  async clearRecords(runId: number): Promise<void> {
    await this.db.run('DELETE FROM import_records WHERE run_id = ?', [runId]);
  }

  /**
   * Records left to send, in plan order — a company's people only once their company is written (or failed), so each
   * is created with its company's id. (Records sent without a recorded answer are read back first: `sending`.)
   */
  async pending(runId: number, limit: number): Promise<ImportRecord[]> {
    return ((await this.db.all(`SELECT r.* FROM import_records r LEFT JOIN import_records p ON p.run_id = r.run_id AND p.seq = r.parent_seq
                      WHERE r.run_id = ? AND r.state = 'planned' AND (r.parent_seq IS NULL OR p.state IN ('done', 'failed'))
                      ORDER BY r.seq LIMIT ?`, [runId, limit])) as RecordRow[]).map(recordOf);
  }

  /** Records that were being sent when the last process stopped: their answer was never recorded. */
  async sending(runId: number): Promise<ImportRecord[]> {
    return ((await this.db.all(`SELECT * FROM import_records WHERE run_id = ? AND state = 'sending' ORDER BY seq`, [runId])) as RecordRow[]).map(recordOf);
  }

  async record(runId: number, seq: number): Promise<ImportRecord | undefined> {
    const row = (await this.db.get('SELECT * FROM import_records WHERE run_id = ? AND seq = ?', [runId, seq])) as RecordRow | undefined;
    return row && recordOf(row);
  }

  /** The records of a batch about to go out, with the time it goes. */
  async markSending(runId: number, seqs: number[], now = Date.now()): Promise<void> {
    await this.db.transaction(async () => {
      for (const s of seqs) await this.db.run(`UPDATE import_records SET state = 'sending', sent_at = ? WHERE run_id = ? AND seq = ? AND state IN ('planned', 'sending')`, [now, runId, s]);
    });
  }

  /**
   * A record sent that Bitrix24 does not hold in full (its answer lost, or some of its commands blocked): it is sent
   * again, only the parts not `written` yet.
   */
  async unsend(runId: number, seq: number, written: Written): Promise<void> {
    await this.db.run(`UPDATE import_records SET state = 'planned', written = ?, b24_id = coalesce(?, b24_id) WHERE run_id = ? AND seq = ? AND state = 'sending'`, [JSON.stringify(written), written.main ?? null, runId, seq]);
  }

  async markDone(runId: number, seq: number, b24Id: string | null): Promise<void> {
    await this.db.run(`UPDATE import_records SET state = 'done', b24_id = coalesce(?, b24_id) WHERE run_id = ? AND seq = ?`, [b24Id, runId, seq]);
  }

  async markFailed(runId: number, seq: number, reason: string): Promise<void> {
    await this.db.run(`UPDATE import_records SET state = 'failed', reason = ? WHERE run_id = ? AND seq = ?`, [reason, runId, seq]);
  }

  /** Planned counts per action (the preview). */
  async plannedCounts(runId: number): Promise<ActionCounts> {
    const out = zeroCounts();
    for (const r of (await this.db.all('SELECT action, count(*) AS n FROM import_records WHERE run_id = ? GROUP BY action', [runId])) as { action: ImportAction; n: number }[]) out[r.action] = r.n;
    return out;
  }

  /** Outcome so far: records done per action, and every failed record counted as `fail`. */
  async outcomeCounts(runId: number): Promise<ActionCounts & { remaining: number }> {
    const out = { ...zeroCounts(), remaining: 0 };
    const rows = (await this.db.all('SELECT action, state, count(*) AS n FROM import_records WHERE run_id = ? GROUP BY action, state', [runId])) as { action: ImportAction; state: ImportRecordState; n: number }[];
    for (const r of rows) {
      if (r.state === 'failed') out.fail += r.n;
      else if (r.state === 'done') out[r.action] += r.n;
      else out.remaining += r.n;
    }
    return out;
  }

  /** Failed records (planned failures and refused writes), streamed in plan order, a page of FAILURE_PAGE at a time. */
  async *failures(runId: number, limit = Number.MAX_SAFE_INTEGER): AsyncGenerator<ImportRecord> {
    let after = -1;
    for (let left = limit; left > 0; ) {
      const rows = await this.db.all<RecordRow>(`SELECT * FROM import_records WHERE run_id = ? AND state = 'failed' AND seq > ? ORDER BY seq LIMIT ?`, [runId, after, Math.min(left, FAILURE_PAGE)]);
      for (const row of rows) yield recordOf(row);
      if (rows.length < FAILURE_PAGE) return;
      left -= rows.length;
      after = rows.at(-1)!.seq;
    }
  }

  /** Runs finished before `before` (retention). */
  async purgeFinished(before: number): Promise<number> {
    return (await this.db.run(`DELETE FROM import_runs WHERE state IN ('done', 'failed', 'cancelled') AND updated_at < ?`, [before])).changes;
  }
}

const runOf = rowMapper<RunRow, ImportRun>()(
  ['id', 'member_id', 'connection_id', 'what', 'include_archived', 'state', 'progress', 'error', 'started_by', 'created_at', 'updated_at', 'finished_at'],
  { what: (r) => JSON.parse(r.what) as ImportWhat[], includeArchived: (r) => r.include_archived === 1, progress: (r) => JSON.parse(r.progress) as ImportProgress },
);

const recordOf = rowMapper<RecordRow, ImportRecord>()(
  ['run_id', 'seq', 'b24_type', 'xero_type', 'xero_id', 'name', 'action', 'b24_id', 'parent_seq', 'payload', 'reason', 'state', 'sent_at', 'written'],
  { payload: (r) => (r.payload === null ? null : (JSON.parse(r.payload) as unknown)), written: (r) => (r.written === null ? {} : (JSON.parse(r.written) as Written)) },
);
