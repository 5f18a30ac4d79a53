/**
 * How the repositories turn a table's row (snake_case columns) into their object (camelCase fields): the columns
 * named are copied under their camelCase names, and the few fields that need more (JSON parsed, a secret opened, a
 * flag, a renamed column, a default) are computed from the row. The types check both halves: a field whose column
 * does not carry it as it is must be computed, and a field copied must have its column named.
 */

/** `member_id` → `memberId`. */
type Camel<S extends string> = S extends `${infer H}_${infer T}` ? `${H}${Capitalize<Camel<T>>}` : S;

/** The columns of R whose camelCase name is a field of T (the only ones a mapper copies). */
type FieldColumn<R, T> = { [C in keyof R & string]: Camel<C> extends keyof T ? C : never }[keyof R & string];

/** The fields of T that a column of R carries as it is (its camelCase name, a type the field takes). */
type Copyable<R, T> = {
  [C in keyof R & string]: Camel<C> extends keyof T ? (R[C] extends T[Camel<C>] ? C : never) : never;
}[keyof R & string];

/** The fields of T no column carries as it is. */
type Uncopyable<R, T> = Exclude<keyof T, Camel<Copyable<R, T>>>;

/** How each uncopyable field is made from the row; a copyable one may be made too (it is then not copied). */
export type Computed<R, T> = { [K in Uncopyable<R, T>]-?: (row: R) => T[K] } & { [K in keyof T]?: (row: R) => T[K] };

/** The copyable columns that are neither named nor computed (`never` when none is missing). */
type Missing<R, T, C extends string, F> = Exclude<Copyable<R, T>, C | { [X in Copyable<R, T>]: Camel<X> extends keyof F ? X : never }[Copyable<R, T>]>;

export function camelCase(column: string): string {
  return column.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/**
 * A row → object mapper over `columns` (copied, or made where `computed` makes their field) and the rest of
 * `computed` (made). Only columns named like a field of T can be named: a column read under another name (`job_key`
 * as `key`) is read by its computed field, never copied besides. The object's fields come in the order of `columns`, then of the other computed fields.
 */
export function rowMapper<R, T>() {
  return <const C extends readonly FieldColumn<R, T>[], F extends Computed<R, T>>(
    columns: C & ([Missing<R, T, C[number], F>] extends [never] ? unknown : { missingColumns: Missing<R, T, C[number], F> }),
    computed: F,
  ): ((row: R) => T) => {
    const make = computed as Record<string, (row: R) => unknown>;
    const fields = (columns as readonly string[]).map((c) => [camelCase(c), c] as const);
    const plan: [string, (row: R) => unknown][] = [
      ...fields.map(([field, column]): [string, (row: R) => unknown] => [field, make[field] ?? ((row) => (row as Record<string, unknown>)[column])]),
      ...Object.entries(make).filter(([field]) => !fields.some(([f]) => f === field)),
    ];
    return (row) => {
      const out: Record<string, unknown> = {};
      for (const [field, value] of plan) out[field] = value(row);
      return out as T;
    };
  };
}

/** Counts per value, every value of `zero` present (0 when no row has it). */
export function countsOf<K extends string>(zero: Record<K, number>, rows: { key: K; n: number }[]): Record<K, number> {
  const counts = { ...zero };
  for (const r of rows) counts[r.key] = r.n;
  return counts;
}
