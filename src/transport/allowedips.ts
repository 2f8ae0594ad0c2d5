/**
 * Cryptokey routing table (whitepaper section 3): maps IP prefixes to a value
 * (a peer) with longest-prefix match, one trie for IPv4 and one for IPv6.
 *
 * Structure: a path-compressed binary trie as in the Linux module
 * (drivers/net/wireguard/allowedips.c) and wireguard-go. Each node holds a
 * prefix (up to four 32-bit words plus per-word masks, so matching a node is
 * a few XOR/AND operations), an optional value, and two children chosen by
 * the first bit after the node's prefix. Nodes without a value exist only
 * where two branches split. A lookup walks down while the node's prefix
 * matches the address and remembers the last value passed.
 *
 * Every value keeps the set of its nodes (as the kernel's per-peer list), so
 * removeValue and entries cost O(prefixes of that value). entries lists a
 * value's prefixes in the order they were assigned to it (a prefix that moves
 * to another value and back goes last; re-inserting it for the same value
 * keeps its place).
 */

class Node<T> {
  // Prefix words (network order, as int32) and masks; IPv4 uses word 0 only.
  w0 = 0;
  w1 = 0;
  w2 = 0;
  w3 = 0;
  m0 = 0;
  m1 = 0;
  m2 = 0;
  m3 = 0;
  /** Word index and right shift that select the bit right after the prefix. */
  bw = 0;
  bs = 0;
  c0: Node<T> | null = null;
  c1: Node<T> | null = null;
  parent: Node<T> | null = null;
  has = false;
  value: T | undefined = undefined;

  constructor(
    readonly bits: number,
    readonly cidr: number,
    words: ArrayLike<number>,
  ) {
    const m = (i: number): number => {
      const k = cidr - 32 * i;
      return k >= 32 ? -1 : k <= 0 ? 0 : (-1 << (32 - k)) | 0;
    };
    this.m0 = m(0);
    this.m1 = m(1);
    this.m2 = m(2);
    this.m3 = m(3);
    this.w0 = words[0]! & this.m0;
    this.w1 = (words[1] ?? 0) & this.m1;
    this.w2 = (words[2] ?? 0) & this.m2;
    this.w3 = (words[3] ?? 0) & this.m3;
    this.bw = cidr >>> 5 < 4 ? cidr >>> 5 : 3;
    this.bs = 31 - (cidr & 31);
  }

  word(i: number): number {
    return i === 0 ? this.w0 : i === 1 ? this.w1 : i === 2 ? this.w2 : this.w3;
  }
}

/** Bit `i` (0 = most significant) of a key given as words. */
function bitOf(words: ArrayLike<number>, i: number): 0 | 1 {
  return ((words[i >>> 5]! >>> (31 - (i & 31))) & 1) as 0 | 1;
}

/** Length of the common leading bits of a node's prefix and a key, capped at `limit`. */
function commonBits<T>(n: Node<T>, key: ArrayLike<number>, limit: number): number {
  const nw = n.bits >>> 5;
  for (let i = 0; i < nw; i++) {
    const x = n.word(i) ^ key[i]!;
    if (x !== 0) return Math.min(limit, 32 * i + Math.clz32(x));
  }
  return limit;
}

export class AllowedIPs<T> {
  private root4: Node<T> | null = null;
  private root6: Node<T> | null = null;
  private readonly byValue = new Map<T, Set<Node<T>>>();
  private count = 0;
  private readonly key = new Int32Array(4);

  /** Number of prefixes in the table (IPv4 and IPv6). */
  get size(): number {
    return this.count;
  }

  /**
   * Routes ip/cidr to `value` (host bits are ignored). An existing prefix is
   * reassigned to the new value. Throws RangeError on a bad length or cidr.
   */
  insert(ip: Uint8Array, cidr: number, value: T): void {
    const bits = this.loadKey(ip, cidr);
    const key = this.key;
    let slotParent: Node<T> | null = null;
    let slotBit: 0 | 1 = 0;
    let n = bits === 32 ? this.root4 : this.root6;
    // Descend while the node's prefix is a prefix of the new one.
    while (n !== null && n.cidr <= cidr && commonBits(n, key, n.cidr) === n.cidr) {
      if (n.cidr === cidr) {
        this.assign(n, value);
        return;
      }
      slotParent = n;
      slotBit = bitOf(key, n.cidr);
      n = slotBit === 0 ? n.c0 : n.c1;
    }
    const fresh = new Node<T>(bits, cidr, key);
    if (n === null) {
      this.link(bits, slotParent, slotBit, fresh);
    } else {
      const common = commonBits(n, key, Math.min(n.cidr, cidr));
      if (common === cidr) {
        // The new prefix covers n: it goes in between.
        this.link(bits, slotParent, slotBit, fresh);
        this.link(bits, fresh, bitOf(this.wordsOf(n), cidr), n);
      } else {
        // They split at `common`: a valueless branch node holds both.
        const split = new Node<T>(bits, common, key);
        this.link(bits, slotParent, slotBit, split);
        this.link(bits, split, bitOf(key, common), fresh);
        this.link(bits, split, bitOf(this.wordsOf(n), common), n);
      }
    }
    this.assign(fresh, value);
  }

  /** Removes exactly ip/cidr (host bits ignored); false if it was not present. */
  remove(ip: Uint8Array, cidr: number): boolean {
    const bits = this.loadKey(ip, cidr);
    const key = this.key;
    let n = bits === 32 ? this.root4 : this.root6;
    while (n !== null && n.cidr <= cidr && commonBits(n, key, n.cidr) === n.cidr) {
      if (n.cidr === cidr) {
        if (!n.has) return false;
        this.drop(n);
        return true;
      }
      n = bitOf(key, n.cidr) === 0 ? n.c0 : n.c1;
    }
    return false;
  }

  /** Removes every prefix routed to `value`. */
  removeValue(value: T): void {
    const nodes = this.byValue.get(value);
    if (nodes === undefined) return;
    for (const n of [...nodes]) this.drop(n);
  }

  /** The prefixes routed to `value`, in the order they were (last) assigned to it; fresh copies. */
  entries(value: T): Array<{ ip: Uint8Array; cidr: number }> {
    const nodes = this.byValue.get(value);
    if (nodes === undefined) return [];
    const out: Array<{ ip: Uint8Array; cidr: number }> = [];
    for (const n of nodes) {
      const ip = new Uint8Array(n.bits / 8);
      for (let i = 0; i < ip.length; i++) ip[i] = (n.word(i >>> 2) >>> (24 - 8 * (i & 3))) & 0xff;
      out.push({ ip, cidr: n.cidr });
    }
    return out;
  }

  /**
   * Trie nodes in use, walked on demand (diagnostics and tests). Branch nodes
   * without a value always have two children, so this stays below 2 * size.
   */
  get nodeCount(): number {
    let n = 0;
    const stack: Array<Node<T> | null> = [this.root4, this.root6];
    while (stack.length > 0) {
      const x = stack.pop()!;
      if (x === null) continue;
      n++;
      stack.push(x.c0, x.c1);
    }
    return n;
  }

  /** Removes everything. */
  clear(): void {
    this.root4 = null;
    this.root6 = null;
    this.byValue.clear();
    this.count = 0;
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

  private lookup4(a: number): T | undefined {
    let found: T | undefined;
    let n = this.root4;
    while (n !== null && ((a ^ n.w0) & n.m0) === 0) {
      if (n.has) found = n.value;
      n = ((a >>> n.bs) & 1) === 0 ? n.c0 : n.c1;
    }
    return found;
  }

  private lookup6(a0: number, a1: number, a2: number, a3: number): T | undefined {
    let found: T | undefined;
    let n = this.root6;
    while (n !== null && (((a0 ^ n.w0) & n.m0) | ((a1 ^ n.w1) & n.m1) | ((a2 ^ n.w2) & n.m2) | ((a3 ^ n.w3) & n.m3)) === 0) {
      if (n.has) found = n.value;
      const bw = n.bw;
      const w = bw === 0 ? a0 : bw === 1 ? a1 : bw === 2 ? a2 : a3;
      n = ((w >>> n.bs) & 1) === 0 ? n.c0 : n.c1;
    }
    return found;
  }

  /** Loads ip into this.key as int32 words and checks the arguments; returns 32 or 128. */
  private loadKey(ip: Uint8Array, cidr: number): number {
    const bits = ip.length * 8;
    if (bits !== 32 && bits !== 128) throw new RangeError(`AllowedIPs: ${ip.length}-byte address`);
    if (!Number.isInteger(cidr) || cidr < 0 || cidr > bits) throw new RangeError(`AllowedIPs: prefix length ${cidr}`);
    const key = this.key;
    key.fill(0);
    for (let i = 0; i < ip.length; i++) key[i >>> 2]! |= ip[i]! << (24 - 8 * (i & 3));
    return bits;
  }

  private wordsOf(n: Node<T>): number[] {
    return [n.w0, n.w1, n.w2, n.w3];
  }

  /** Puts `child` under `parent` on side `bit` (or at the root when parent is null). */
  private link(bits: number, parent: Node<T> | null, bit: 0 | 1, child: Node<T> | null): void {
    if (child !== null) child.parent = parent;
    if (parent === null) {
      if (bits === 32) this.root4 = child;
      else this.root6 = child;
    } else if (bit === 0) parent.c0 = child;
    else parent.c1 = child;
  }

  private assign(n: Node<T>, value: T): void {
    if (n.has) {
      if (n.value === value) return;
      this.unlist(n);
    } else {
      this.count++;
    }
    n.has = true;
    n.value = value;
    let set = this.byValue.get(value);
    if (set === undefined) this.byValue.set(value, (set = new Set()));
    set.add(n);
  }

  private unlist(n: Node<T>): void {
    const set = this.byValue.get(n.value as T);
    if (set === undefined) return;
    set.delete(n);
    if (set.size === 0) this.byValue.delete(n.value as T);
  }

  /** Takes the value off node n, then removes n (and a parent branch node) if no longer needed. */
  private drop(n: Node<T>): void {
    this.unlist(n);
    n.has = false;
    n.value = undefined;
    this.count--;
    if (n.c0 !== null && n.c1 !== null) return; // still a branch point
    const only = n.c0 ?? n.c1;
    const parent = n.parent;
    const side: 0 | 1 = parent !== null && parent.c1 === n ? 1 : 0;
    this.link(n.bits, parent, side, only);
    n.parent = null;
    // A valueless parent left with a single child is no longer a branch point.
    if (only === null && parent !== null && !parent.has) {
      const other = parent.c0 ?? parent.c1;
      const gp = parent.parent;
      const pside: 0 | 1 = gp !== null && gp.c1 === parent ? 1 : 0;
      this.link(n.bits, gp, pside, other);
      parent.parent = null;
    }
  }
}
