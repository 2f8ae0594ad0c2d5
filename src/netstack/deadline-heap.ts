/**
 * A binary min-heap of (deadline, item) for the TCP layer's timers, so a
 * poll or a next-deadline question costs O(log n) in the connections that
 * are due rather than a walk over every connection.
 *
 * Entries are lazy: the owner files an item again when its deadline moves
 * earlier and judges on pop whether an entry still holds (see tcp.ts).
 */
export class DeadlineHeap<T> {
  private readonly at: number[] = [];
  private readonly items: T[] = [];

  get size(): number {
    return this.at.length;
  }

  push(at: number, item: T): void {
    const a = this.at;
    const it = this.items;
    let i = a.length;
    a.push(at);
    it.push(item);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (a[p]! <= at) break;
      a[i] = a[p]!;
      it[i] = it[p]!;
      i = p;
    }
    a[i] = at;
    it[i] = item;
  }

  /** The earliest deadline (Infinity when empty). */
  peekAt(): number {
    return this.at.length > 0 ? this.at[0]! : Infinity;
  }

  /** The item with the earliest deadline (undefined when empty). */
  peekItem(): T | undefined {
    return this.items[0];
  }

  /** Remove the earliest entry. */
  pop(): void {
    const a = this.at;
    const it = this.items;
    const n = a.length - 1;
    if (n < 0) return;
    const lastAt = a[n]!;
    const lastItem = it[n]!;
    a.pop();
    it.pop();
    if (n === 0) return;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && a[r]! < a[l]! ? r : l;
      if (a[c]! >= lastAt) break;
      a[i] = a[c]!;
      it[i] = it[c]!;
      i = c;
    }
    a[i] = lastAt;
    it[i] = lastItem;
  }

  clear(): void {
    this.at.length = 0;
    this.items.length = 0;
  }
}
