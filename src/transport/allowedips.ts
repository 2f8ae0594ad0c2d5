/**
 * Cryptokey routing table (whitepaper section 3): maps IP prefixes to a value
 * (a peer) with longest-prefix match, one trie for IPv4 and one for IPv6.
 *
 * Structure: a path-compressed binary trie as in the Linux module
 * (drivers/net/wireguard/allowedips.c) and wireguard-go. Each node holds a
 * prefix, an optional value and two children chosen by the first bit after
 * the node's prefix; nodes without a value exist only where two branches
 * split. A lookup walks down while the node's prefix matches the address
 * and remembers the last value passed.
 *
 * Layout: the nodes of one trie live in a single Int32Array (8 ints per IPv4
 * node, 16 per IPv6 node; a node is named by its offset), with prefix words
 * and masks stored so that matching a node is an XOR and an AND per 32-bit
 * word. Keeping a 100k-prefix trie in a few MB of contiguous memory, rather
 * than in objects, is what makes lookups fast; values sit in a side array.
 *
 * Large IPv4 tries also get a jump table indexed by the address's top 16
 * bits: for each /16 it holds the first node a walk would reach at depth
 * >= 16 and the last value passed on the way, so a lookup skips the dense
 * top of the trie. A change marks dirty the /16s whose walk could pass the
 * changed spot (those under the prefix of a node above it); the next lookup
 * recomputes them.
 *
 * Every value keeps the set of its nodes (as the kernel's per-peer list), so
 * removeValue and entries cost O(prefixes of that value). entries lists a
 * value's prefixes in the order they were assigned to it (a prefix that moves
 * to another value and back goes last; re-inserting it for the same value
 * keeps its place).
 */

const NIL = -1;

/** Mask of the bits of 32-bit word `i` that lie inside a /cidr prefix. */
function maskWord(cidr: number, i: number): number {
  const k = cidr - 32 * i;
  return k >= 32 ? -1 : k <= 0 ? 0 : (-1 << (32 - k)) | 0;
}

/** Bit `i` (0 = most significant) of a key given as int32 words. */
function bitOf(key: Int32Array, i: number): number {
  return (key[i >>> 5]! >>> (31 - (i & 31))) & 1;
}

/**
 * One family's trie. Node fields, at offsets from the node's base, with
 * W = words per address (1 or 4): prefix words [0, W), masks [W, 2W), then
 * SHIFT (right shift selecting the bit after the prefix), CHILD0, CHILD1,
 * HAS (1 when the node carries a value), PARENT, CIDR, and for IPv6 WORD
 * (index of the word holding the bit after the prefix).
 */
class Trie<T> {
  readonly W: number;
  readonly stride: number;
  readonly shift: number; // log2(stride)
  readonly SHIFT: number;
  readonly CHILD0: number;
  readonly HAS: number;
  readonly PARENT: number;
  readonly CIDR: number;
  readonly WORD: number;
  data: Int32Array;
  values: Array<T | undefined> = [];
  root = NIL;
  private top = 0;
  private free: number[] = [];
  nodes = 0;

  constructor(readonly bits: 32 | 128) {
    const W = bits / 32;
    this.W = W;
    this.stride = W === 1 ? 8 : 16;
    this.shift = W === 1 ? 3 : 4;
    this.SHIFT = 2 * W;
    this.CHILD0 = 2 * W + 1;
    this.HAS = 2 * W + 3;
    this.PARENT = 2 * W + 4;
    this.CIDR = 2 * W + 5;
    this.WORD = 2 * W + 6;
    this.data = new Int32Array(16 * this.stride);
  }

  cidrOf(n: number): number {
    return this.data[n + this.CIDR]!;
  }

  child(n: number, bit: number): number {
    return this.data[n + this.CHILD0 + bit]!;
  }

  has(n: number): boolean {
    return this.data[n + this.HAS] !== 0;
  }

  parentOf(n: number): number {
    return this.data[n + this.PARENT]!;
  }

  /** A new node for key/cidr (key bits past cidr are masked off). */
  alloc(key: Int32Array, cidr: number): number {
    let n = this.free.pop();
    if (n === undefined) {
      if (this.top + this.stride > this.data.length) {
        const bigger = new Int32Array(this.data.length * 2);
        bigger.set(this.data);
        this.data = bigger;
      }
      n = this.top;
      this.top += this.stride;
    }
    const d = this.data;
    const W = this.W;
    for (let i = 0; i < W; i++) {
      const m = maskWord(cidr, i);
      d[n + i] = key[i]! & m;
      d[n + W + i] = m;
    }
    d[n + this.SHIFT] = 31 - (cidr & 31);
    d[n + this.CHILD0] = NIL;
    d[n + this.CHILD0 + 1] = NIL;
    d[n + this.HAS] = 0;
    d[n + this.PARENT] = NIL;
    d[n + this.CIDR] = cidr;
    if (W === 4) d[n + this.WORD] = Math.min(cidr >>> 5, 3);
    this.nodes++;
    return n;
  }

  release(n: number): void {
    this.values[n >> this.shift] = undefined;
    this.free.push(n);
    this.nodes--;
  }

  /** Length of the common leading bits of node n's prefix and key, capped at limit. */
  common(n: number, key: Int32Array, limit: number): number {
    const d = this.data;
    for (let i = 0; i < this.W; i++) {
      const x = d[n + i]! ^ key[i]!;
      if (x !== 0) return Math.min(limit, 32 * i + Math.clz32(x));
    }
    return limit;
  }

  /** Does node n's prefix cover key/cidr (n's prefix is no longer and matches)? */
  covers(n: number, key: Int32Array, cidr: number): boolean {
    const c = this.cidrOf(n);
    return c <= cidr && this.common(n, key, c) === c;
  }

  /** Bit `i` of node n's prefix. */
  nodeBit(n: number, i: number): number {
    return (this.data[n + (i >>> 5)]! >>> (31 - (i & 31))) & 1;
  }

  /** Puts child under parent on side `bit` (or at the root when parent is NIL). */
  link(parent: number, bit: number, child: number): void {
    if (child !== NIL) this.data[child + this.PARENT] = parent;
    if (parent === NIL) this.root = child;
    else this.data[parent + this.CHILD0 + bit] = child;
  }

  sideOf(parent: number, n: number): number {
    return parent !== NIL && this.child(parent, 1) === n ? 1 : 0;
  }

  /** Copy of node n's prefix as bytes. */
  prefixBytes(n: number): Uint8Array {
    const ip = new Uint8Array(this.W * 4);
    for (let i = 0; i < ip.length; i++) ip[i] = (this.data[n + (i >>> 2)]! >>> (24 - 8 * (i & 3))) & 0xff;
    return ip;
  }
}

/** A node handle across both tries: offset * 2 + (1 for IPv6). */
type Handle = number;

/** IPv4 trie size (nodes) from which the jump table is kept; dropped below half of it. */
const JUMP_MIN_NODES = 2048;
const JUMP_BITS = 16;
const JUMP_SIZE = 1 << JUMP_BITS;

export interface AllowedIPsOptions {
  /** Keep the IPv4 jump table from this many trie nodes on (default 2048; 0 = always, Infinity = never). */
  jumpTableMinNodes?: number;
}

export class AllowedIPs<T> {
  private v4 = new Trie<T>(32);
  private v6 = new Trie<T>(128);
  private readonly byValue = new Map<T, Set<Handle>>();
  private count = 0;
  private readonly key = new Int32Array(4);
  private readonly jumpMin: number;
  /** Per top-16-bit bucket: the node to continue from and the last valued node passed (NIL: none). */
  private jumpStart: Int32Array | null = null;
  private jumpFound: Int32Array | null = null;
  /** Buckets [dirtyLo, dirtyHi] need refreshing; dirtyLo > dirtyHi when none do. */
  private dirtyLo = 0;
  private dirtyHi = -1;

  constructor(options: AllowedIPsOptions = {}) {
    this.jumpMin = options.jumpTableMinNodes ?? JUMP_MIN_NODES;
    this.updateJump();
  }

  /** Number of prefixes in the table (IPv4 and IPv6). */
  get size(): number {
    return this.count;
  }

  /**
   * Trie nodes in use (diagnostics and tests). Branch nodes without a value
   * always have two children, so this stays below 2 * size.
   */
  get nodeCount(): number {
    return this.v4.nodes + this.v6.nodes;
  }

  /**
   * Routes ip/cidr to `value` (host bits are ignored). An existing prefix is
   * reassigned to the new value. Throws RangeError on a bad length or cidr.
   */
  insert(ip: Uint8Array, cidr: number, value: T): void {
    const t = this.trieFor(ip, cidr);
    const key = this.key;
    let slotParent = NIL;
    let slotBit = 0;
    let n = t.root;
    // Descend while the node's prefix is a prefix of the new one.
    while (n !== NIL && t.covers(n, key, cidr)) {
      if (t.cidrOf(n) === cidr) {
        this.assign(t, n, value);
        this.changed(t, n);
        return;
      }
      slotParent = n;
      slotBit = bitOf(key, t.cidrOf(n));
      n = t.child(n, slotBit);
    }
    const fresh = t.alloc(key, cidr);
    if (n === NIL) {
      t.link(slotParent, slotBit, fresh);
    } else {
      const common = t.common(n, key, Math.min(t.cidrOf(n), cidr));
      if (common === cidr) {
        // The new prefix covers n: it goes in between.
        t.link(slotParent, slotBit, fresh);
        t.link(fresh, t.nodeBit(n, cidr), n);
      } else {
        // They part at bit `common`: a valueless branch node holds both.
        const split = t.alloc(key, common);
        t.link(slotParent, slotBit, split);
        t.link(split, bitOf(key, common), fresh);
        t.link(split, t.nodeBit(n, common), n);
      }
    }
    this.assign(t, fresh, value);
    this.changed(t, slotParent);
  }

  /** Removes exactly ip/cidr (host bits ignored); false if it was not present. */
  remove(ip: Uint8Array, cidr: number): boolean {
    const t = this.trieFor(ip, cidr);
    const key = this.key;
    let n = t.root;
    while (n !== NIL && t.covers(n, key, cidr)) {
      const c = t.cidrOf(n);
      if (c === cidr) {
        if (!t.has(n)) return false;
        this.drop(t, n);
        return true;
      }
      n = t.child(n, bitOf(key, c));
    }
    return false;
  }

  /** Removes every prefix routed to `value`. */
  removeValue(value: T): void {
    const handles = this.byValue.get(value);
    if (handles === undefined) return;
    for (const h of [...handles]) this.drop(h & 1 ? this.v6 : this.v4, h >> 1);
  }

  /** The prefixes routed to `value` (fresh copies, host bits zero), in assignment order. */
  entries(value: T): Array<{ ip: Uint8Array; cidr: number }> {
    const handles = this.byValue.get(value);
    if (handles === undefined) return [];
    const out: Array<{ ip: Uint8Array; cidr: number }> = [];
    for (const h of handles) {
      const t = h & 1 ? this.v6 : this.v4;
      const n = h >> 1;
      out.push({ ip: t.prefixBytes(n), cidr: t.cidrOf(n) });
    }
    return out;
  }

  /** Removes everything. */
  clear(): void {
    this.v4 = new Trie<T>(32);
    this.v6 = new Trie<T>(128);
    this.byValue.clear();
    this.count = 0;
    this.jumpStart = this.jumpFound = null;
    this.updateJump();
  }

  /** Longest-prefix match of a 4- or 16-byte address; undefined if none (or another length). */
  lookup(addr: Uint8Array): T | undefined {
    if (addr.length === 4) {
      return this.lookup4((addr[0]! << 24) | (addr[1]! << 16) | (addr[2]! << 8) | addr[3]!);
    }
    if (addr.length === 16) {
      return this.lookup6(
        (addr[0]! << 24) | (addr[1]! << 16) | (addr[2]! << 8) | addr[3]!,
        (addr[4]! << 24) | (addr[5]! << 16) | (addr[6]! << 8) | addr[7]!,
        (addr[8]! << 24) | (addr[9]! << 16) | (addr[10]! << 8) | addr[11]!,
        (addr[12]! << 24) | (addr[13]! << 16) | (addr[14]! << 8) | addr[15]!,
      );
    }
    return undefined;
  }

  // The two walks below use the IPv4 (W = 1) and IPv6 (W = 4) field offsets
  // of Trie as literals: IPv4 word 0, mask 1, SHIFT 2, CHILD0 3, HAS 5;
  // IPv6 words 0-3, masks 4-7, SHIFT 8, CHILD0 9, HAS 11, WORD 14.

  private lookup4(a: number): T | undefined {
    const t = this.v4;
    const d = t.data;
    let found = NIL;
    let n = t.root;
    const start = this.jumpStart;
    if (start !== null) {
      if (this.dirtyLo <= this.dirtyHi) this.refreshJump();
      const b = a >>> JUMP_BITS;
      n = start[b]!;
      found = this.jumpFound![b]!;
    }
    while (n !== NIL && ((a ^ d[n]!) & d[n + 1]!) === 0) {
      if (d[n + 5] !== 0) found = n;
      n = d[n + 3 + ((a >>> d[n + 2]!) & 1)]!;
    }
    return found === NIL ? undefined : t.values[found >> 3];
  }

  private lookup6(a0: number, a1: number, a2: number, a3: number): T | undefined {
    const t = this.v6;
    const d = t.data;
    let found = NIL;
    let n = t.root;
    while (
      n !== NIL &&
      (((a0 ^ d[n]!) & d[n + 4]!) | ((a1 ^ d[n + 1]!) & d[n + 5]!) | ((a2 ^ d[n + 2]!) & d[n + 6]!) | ((a3 ^ d[n + 3]!) & d[n + 7]!)) === 0
    ) {
      if (d[n + 11] !== 0) found = n;
      const bw = d[n + 14];
      const w = bw === 0 ? a0 : bw === 1 ? a1 : bw === 2 ? a2 : a3;
      n = d[n + 9 + ((w >>> d[n + 8]!) & 1)]!;
    }
    return found === NIL ? undefined : t.values[found >> 4];
  }

  /** Checks the arguments, loads ip into this.key as int32 words, returns the family's trie. */
  private trieFor(ip: Uint8Array, cidr: number): Trie<T> {
    const bits = ip.length * 8;
    if (bits !== 32 && bits !== 128) throw new RangeError(`AllowedIPs: ${ip.length}-byte address`);
    if (!Number.isInteger(cidr) || cidr < 0 || cidr > bits) throw new RangeError(`AllowedIPs: prefix length ${cidr}`);
    const key = this.key;
    key.fill(0);
    for (let i = 0; i < ip.length; i++) key[i >>> 2]! |= ip[i]! << (24 - 8 * (i & 3));
    return bits === 32 ? this.v4 : this.v6;
  }

  private handle(t: Trie<T>, n: number): Handle {
    return n * 2 + (t === this.v6 ? 1 : 0);
  }

  private assign(t: Trie<T>, n: number, value: T): void {
    const slot = n >> t.shift;
    if (t.has(n)) {
      if (t.values[slot] === value) return;
      this.unlist(t, n);
    } else {
      this.count++;
      t.data[n + t.HAS] = 1;
    }
    t.values[slot] = value;
    let set = this.byValue.get(value);
    if (set === undefined) this.byValue.set(value, (set = new Set()));
    set.add(this.handle(t, n));
  }

  private unlist(t: Trie<T>, n: number): void {
    const value = t.values[n >> t.shift] as T;
    const set = this.byValue.get(value);
    if (set === undefined) return;
    set.delete(this.handle(t, n));
    if (set.size === 0) this.byValue.delete(value);
  }

  /** Takes the value off node n, then removes n (and a parent branch node) if no longer needed. */
  private drop(t: Trie<T>, n: number): void {
    // Everything changes at most two levels up (n's parent may be spliced out).
    const up = t.parentOf(n);
    this.changed(t, up === NIL ? NIL : t.parentOf(up));
    this.unlist(t, n);
    t.values[n >> t.shift] = undefined;
    t.data[n + t.HAS] = 0;
    this.count--;
    const c0 = t.child(n, 0);
    const c1 = t.child(n, 1);
    if (c0 !== NIL && c1 !== NIL) return; // still a branch point
    const only = c0 !== NIL ? c0 : c1;
    const parent = t.parentOf(n);
    t.link(parent, t.sideOf(parent, n), only);
    t.release(n);
    // A valueless parent left with a single child is no longer a branch point.
    if (only === NIL && parent !== NIL && !t.has(parent)) {
      const p0 = t.child(parent, 0);
      const other = p0 !== NIL ? p0 : t.child(parent, 1);
      const gp = t.parentOf(parent);
      t.link(gp, t.sideOf(gp, parent), other);
      t.release(parent);
    }
  }

  // ---- IPv4 jump table ----

  /** Notes a change in the subtrie under node x (NIL: the whole trie) and keeps the table's existence in line with the trie's size. */
  private changed(t: Trie<T>, x: number): void {
    if (t !== this.v4) return;
    this.updateJump();
    if (this.jumpStart === null) return;
    let lo = 0;
    let hi = JUMP_SIZE - 1;
    if (x !== NIL) {
      const c = Math.min(t.cidrOf(x), JUMP_BITS);
      lo = t.data[x]! >>> JUMP_BITS; // prefix bits past the node's cidr are zero
      hi = lo + (1 << (JUMP_BITS - c)) - 1;
    }
    if (lo < this.dirtyLo || this.dirtyLo > this.dirtyHi) this.dirtyLo = lo;
    if (hi > this.dirtyHi) this.dirtyHi = hi;
  }

  private updateJump(): void {
    const nodes = this.v4.nodes;
    if (this.jumpStart === null && nodes >= this.jumpMin && nodes > 0) {
      this.jumpStart = new Int32Array(JUMP_SIZE);
      this.jumpFound = new Int32Array(JUMP_SIZE);
      this.dirtyLo = 0;
      this.dirtyHi = JUMP_SIZE - 1;
    } else if (this.jumpStart !== null && nodes < this.jumpMin / 2) {
      this.jumpStart = this.jumpFound = null;
      this.dirtyLo = 0;
      this.dirtyHi = -1;
    }
  }

  /** Recomputes the dirty buckets: walk the bits above 16 of each bucket's addresses. */
  private refreshJump(): void {
    const t = this.v4;
    const d = t.data;
    const start = this.jumpStart!;
    const fnd = this.jumpFound!;
    for (let b = this.dirtyLo; b <= this.dirtyHi; b++) {
      const a = b << JUMP_BITS;
      let n = t.root;
      let found = NIL;
      // Nodes shorter than /16 are decided by the bucket alone.
      while (n !== NIL && d[n + 7]! < JUMP_BITS) {
        if (((a ^ d[n]!) & d[n + 1]!) !== 0) {
          n = NIL;
          break;
        }
        if (d[n + 5] !== 0) found = n;
        n = d[n + 3 + ((a >>> d[n + 2]!) & 1)]!;
      }
      start[b] = n;
      fnd[b] = found;
    }
    this.dirtyLo = 0;
    this.dirtyHi = -1;
  }
}
