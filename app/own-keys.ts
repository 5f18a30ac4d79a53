/**
 * Look-ups keyed by values from outside the code (a request's view, placement or status, a stored map's key): only a
 * table's own keys count, never names every object inherits (`constructor`, `toString`, `__proto__`,
 * `hasOwnProperty`), which would hand a caller a function where a handler, a label or a stage was meant.
 */

/** `table[key]` when `key` is one of the table's own keys, else undefined. */
export function ownValue<T>(table: Readonly<Record<string, T>> | null | undefined, key: unknown): T | undefined {
  return table && typeof key === 'string' && Object.hasOwn(table, key) ? table[key] : undefined;
}

/** Whether `key` is one of the table's own keys. */
export function hasOwnKey(table: object | null | undefined, key: unknown): boolean {
  return Boolean(table) && typeof key === 'string' && Object.hasOwn(table!, key);
}
