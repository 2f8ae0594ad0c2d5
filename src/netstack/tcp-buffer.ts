/**
 * The send buffer: bytes the application wrote that are not yet
 * acknowledged. Writes are copied into fixed 64 KiB blocks, so reading any
 * offset for (re)transmission is O(1) and small writes do not make long
 * chunk lists. The front is released as ACKs arrive.
 */
const BLOCK = 1 << 16;

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
      if (bi >= this.blocks.length) this.blocks.push(new Uint8Array(BLOCK));
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
      this.blocks.shift();
      this.head -= BLOCK;
    }
    if (this.len === 0 && this.blocks.length > 0) {
      // Keep one block for reuse.
      this.blocks.length = 1;
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
