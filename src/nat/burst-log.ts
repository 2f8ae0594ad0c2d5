/**
 * Logs repeated events once per burst instead of once each. The first event
 * of a key is logged at once; later ones within `windowMs` are counted and
 * summed up in one line when the window ends. A key stays open while each
 * window sees events, so a sustained flood costs one line per window.
 */

export class BurstLog {
  private readonly open = new Map<string, { count: number; last: string; timer: NodeJS.Timeout }>();

  constructor(
    private readonly emit: (line: string) => void,
    private readonly windowMs = 10_000,
  ) {}

  event(key: string, message: string): void {
    const b = this.open.get(key);
    if (b) {
      b.count++;
      b.last = message;
      return;
    }
    this.emit(message);
    this.open.set(key, { count: 0, last: message, timer: this.arm(key) });
  }

  private arm(key: string): NodeJS.Timeout {
    const t = setTimeout(() => this.tick(key), this.windowMs);
    t.unref();
    return t;
  }

  private tick(key: string): void {
    const b = this.open.get(key);
    if (!b) return;
    if (b.count === 0) {
      this.open.delete(key);
      return;
    }
    this.emit(this.summary(b.count, b.last));
    b.count = 0;
    b.timer = this.arm(key);
  }

  private summary(count: number, last: string): string {
    return `${last} (${count} more like this in the last ${this.windowMs / 1000} s)`;
  }

  /** Emits pending summaries now and stops the timers. */
  close(): void {
    for (const b of this.open.values()) {
      clearTimeout(b.timer);
      if (b.count > 0) this.emit(this.summary(b.count, b.last));
    }
    this.open.clear();
  }
}
