/**
 * Array steps whose callback awaits (a store read per item), run one item after another: Array's own map, filter,
 * find and every would take the callback's promise for its answer (a filter keeping everything, a find taking the
 * first item). One at a time keeps a transaction's order and the store's single SQLite connection unqueued.
 */
export async function mapEach<T, U>(items: readonly T[], fn: (item: T, index: number) => Promise<U>): Promise<U[]> {
  const out: U[] = [];
  for (let i = 0; i < items.length; i++) out.push(await fn(items[i]!, i));
  return out;
}

export async function filterEach<T>(items: readonly T[], keep: (item: T, index: number) => Promise<boolean>): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < items.length; i++) if (await keep(items[i]!, i)) out.push(items[i]!);
  return out;
}

export async function findEach<T>(items: readonly T[], match: (item: T, index: number) => Promise<boolean>): Promise<T | undefined> {
  for (let i = 0; i < items.length; i++) if (await match(items[i]!, i)) return items[i];
  return undefined;
}

export async function findIndexEach<T>(items: readonly T[], match: (item: T, index: number) => Promise<boolean>): Promise<number> {
  for (let i = 0; i < items.length; i++) if (await match(items[i]!, i)) return i;
  return -1;
}

export async function everyEach<T>(items: readonly T[], test: (item: T, index: number) => Promise<boolean>): Promise<boolean> {
  for (let i = 0; i < items.length; i++) if (!(await test(items[i]!, i))) return false;
  return true;
}

export async function flatMapEach<T, U>(items: readonly T[], fn: (item: T, index: number) => Promise<U | readonly U[]>): Promise<U[]> {
  return (await mapEach(items, fn)).flat() as U[];
}

/** Every item of an async iterable, in order (Array.fromAsync arrives with Node 22). */
export async function fromAsync<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}
