/**
 * The benchmark report's summary table: every benchmark adds its headline figures with `row(...)`, beside its
 * target and lower bound where one exists; `summaryTable()` renders them at the top of bench/out/report.md, above
 * each benchmark's own section. To add a benchmark: write `async function mine()` in bench/run.ts that `say`s its
 * section and calls `row` for each headline figure, and add it to `parts` there.
 */
export interface ReportRow {
  /** The benchmark (its part name, e.g. "backlog"). */
  benchmark: string;
  /** What was measured, in words. */
  measure: string;
  /** The measured value, with its unit. */
  value: string;
  /** The target, in words ("≤ 1.1×", "< 50 ms"); omitted when there is none. */
  target?: string;
  /** The best possible value (e.g. the fewest calls that can do it); omitted when there is none. */
  lowerBound?: string;
  /** Whether the target was met; omitted when there is no target. */
  met?: boolean;
}

const rows: ReportRow[] = [];

export function row(r: ReportRow): void {
  rows.push(r);
}

export function summaryTable(): string[] {
  const cell = (s: string | undefined) => (s ?? '—').replace(/\|/g, '\\|');
  return [
    '| benchmark | measure | value | target | lower bound | met |',
    '|---|---|---|---|---|---|',
    ...rows.map((r) => `| ${cell(r.benchmark)} | ${cell(r.measure)} | ${cell(r.value)} | ${cell(r.target)} | ${cell(r.lowerBound)} | ${r.met === undefined ? '—' : r.met ? 'yes' : '**no**'} |`),
  ];
}
