/**
 * The send buffer: bytes the application wrote that are not yet
 * acknowledged. Writes are copied into fixed 64 KiB blocks, so reading any
 * offset for (re)transmission is O(1) and small writes do not make long
 * chunk lists. The front is released as ACKs arrive; released blocks go to a
 * small pool shared by all queues, so an idle connection holds none (10,000
 * idle connections would otherwise keep 64 KiB each) while a busy one still
 * reuses blocks instead of allocating.
 */
const BLOCK = 1 << 16;
/** Free blocks kept for reuse across all connections (4 MiB). */
const POOL_MAX = 64;
const pool: Uint8Array[] = [];

function takeBlock(): Uint8Array {
  return pool.pop() ?? new Uint8Array(BLOCK);
}

function giveBlock(b: Uint8Array): void {
  if (pool.length < POOL_MAX) pool.push(b);
}

/** Blocks waiting in the shared pool (tests). */
export function pooledBlocks(): number {
  return pool.length;
}

export class ByteQueue {
  private blocks: Uint8Array[] = [];
  /** Offset of byte 0 within blocks[0]. */
  private head = 0;
  private len = 0;

  get length(): number {
    return this.len;
  }

  /** Appends a copy of `data`. */
  push(data: Uint8Array): void {
    let at = 0;
    while (at < data.length) {
      const end = this.head + this.len;
      const bi = Math.floor(end / BLOCK);
      const bo = end % BLOCK;
      if (bi >= this.blocks.length) this.blocks.push(takeBlock());
      const n = Math.min(BLOCK - bo, data.length - at);
      this.blocks[bi]!.set(data.subarray(at, at + n), bo);
      at += n;
      this.len += n;
    }
  }

  /** Forgets the first n bytes (n <= length). */
  consume(n: number): void {
    if (n > this.len) n = this.len;
    this.head += n;
    this.len -= n;
    while (this.head >= BLOCK) {
      giveBlock(this.blocks.shift()!);
      this.head -= BLOCK;
    }
    if (this.len === 0) {
      for (const b of this.blocks) giveBlock(b);
      this.blocks.length = 0;
      this.head = 0;
    }
  }

  /** Copies bytes [offset, offset + n) into dst at `at`. */
  copyTo(offset: number, n: number, dst: Uint8Array, at: number): void {
    let pos = this.head + offset;
    while (n > 0) {
      const bi = Math.floor(pos / BLOCK);
      const bo = pos % BLOCK;
      const k = Math.min(n, BLOCK - bo);
      dst.set(this.blocks[bi]!.subarray(bo, bo + k), at);
      at += k;
      pos += k;
      n -= k;
    }
  }
}
