/**
 * Names to addresses through the tunnel: the DNS servers of the config's
 * `DNS =` line are asked over UDP through the tunnel (the userspace stack,
 * or kernel sockets on the TUN device), over TCP when an answer comes back
 * truncated. Packets are made and read by the dns-packet library.
 *
 *   lookup(name)
 *     -> candidates (wg-quick search domains, resolv.conf's ndots:1 rule)
 *     -> per candidate: A and AAAA at once -> cache (TTL) | query
 *   query(fqdn, type)
 *     -> for each attempt, for each server: UDP (own socket, random id)
 *        -> reply with our id and question, from that server
 *        -> TC bit: the same question over TCP (2-byte length framing)
 *        -> NOERROR: addresses + TTL | NXDOMAIN: negative, cached
 *        -> SERVFAIL / REFUSED / timeout: the next server
 *
 * With no servers (no `DNS =` line), names go to the system resolver, as
 * wireproxy does; with servers, nothing leaks outside the tunnel.
 */
import dnsPacket from 'dns-packet';
import { isIP } from 'node:net';
import type { NetUdpSocket, TunnelNet } from '../host/net.js';

export interface ResolverOptions {
  /** IP addresses of the DNS servers inside the tunnel. */
  servers: string[];
  /** Search domains (the non-address entries of `DNS =`). */
  search?: string[];
  /** How long to wait for one server's answer (default 2000 ms). */
  timeoutMs?: number;
  /** Rounds over all servers before giving up (default 2). */
  attempts?: number;
  /** Answers kept (default 1000; the oldest go first). */
  maxCache?: number;
}

export interface ResolverStats {
  queries: number;
  cacheHits: number;
  timeouts: number;
  truncated: number;
  failures: number;
}

type RecordType = 'A' | 'AAAA';
type Answer = { addrs: string[]; ttl: number; nx: boolean };

const NEGATIVE_TTL_S = 30;
const MAX_TTL_S = 3600;
const DNS_PORT = 53;

/** An error shaped like node:dns's (`code`, `syscall`, `hostname`). */
export function dnsError(code: string, syscall: string, hostname: string): Error {
  return Object.assign(new Error(`${syscall} ${code} ${hostname}`), { code, errno: code === 'ENOTFOUND' ? -3008 : -3001, syscall, hostname });
}

export class TunnelResolver {
  readonly stats: ResolverStats = { queries: 0, cacheHits: 0, timeouts: 0, truncated: 0, failures: 0 };
  private readonly cache = new Map<string, { answer: Answer; expires: number }>();
  private readonly inflight = new Map<string, Promise<Answer>>();
  private readonly open = new Set<{ close(): void }>();
  private readonly timeoutMs: number;
  private readonly attempts: number;
  private readonly maxCache: number;
  private closed = false;

  constructor(
    private readonly net: TunnelNet,
    readonly opts: ResolverOptions,
  ) {
    this.timeoutMs = opts.timeoutMs ?? 2000;
    this.attempts = opts.attempts ?? 2;
    this.maxCache = opts.maxCache ?? 1000;
  }

  /** Addresses of `name`: IPv4 first, then IPv6 (family 4 or 6: only that one). ENOTFOUND, or EAI_AGAIN when no server answered. */
  async lookup(name: string, family: 0 | 4 | 6 = 0): Promise<string[]> {
    if (isIP(name)) return [name];
    const types: RecordType[] = family === 4 ? ['A'] : family === 6 ? ['AAAA'] : ['A', 'AAAA'];
    let unanswered = false;
    for (const fqdn of this.candidates(name)) {
      const got = await Promise.allSettled(types.map((t) => this.cached(fqdn, t)));
      const addrs = got.flatMap((r) => (r.status === 'fulfilled' ? r.value.addrs : []));
      if (addrs.length > 0) return addrs;
      if (got.every((r) => r.status === 'rejected')) unanswered = true;
    }
    throw dnsError(unanswered ? 'EAI_AGAIN' : 'ENOTFOUND', 'getaddrinfo', name);
  }

  /** As dns.resolve4 / resolve6: the records of the name as given (no search domains). */
  async resolve(name: string, type: RecordType): Promise<string[]> {
    const a = await this.cached(name.replace(/\.$/, ''), type);
    if (a.addrs.length === 0) throw dnsError(a.nx ? 'ENOTFOUND' : 'ENODATA', type === 'A' ? 'queryA' : 'queryAaaa', name);
    return a.addrs;
  }

  /** Stop: pending queries fail, sockets close, the cache empties. */
  close(): void {
    this.closed = true;
    for (const o of [...this.open]) o.close();
    this.cache.clear();
  }

  /** resolv.conf with ndots:1: a dotted name as given first, then with each search domain; a bare one the other way round. */
  private candidates(name: string): string[] {
    if (name.endsWith('.')) return [name.slice(0, -1)];
    const searched = (this.opts.search ?? []).map((d) => `${name}.${d.replace(/\.$/, '')}`);
    return name.includes('.') ? [name, ...searched] : [...searched, name];
  }

  private cached(fqdn: string, type: RecordType): Promise<Answer> {
    const key = `${type} ${fqdn.toLowerCase()}`;
    const hit = this.cache.get(key);
    if (hit && hit.expires > Date.now()) {
      this.stats.cacheHits++;
      return Promise.resolve(hit.answer);
    }
    if (hit) this.cache.delete(key);
    let p = this.inflight.get(key);
    if (!p) {
      p = this.query(fqdn, type).finally(() => this.inflight.delete(key));
      p.then((answer) => this.remember(key, answer), () => {});
      this.inflight.set(key, p);
    }
    return p;
  }

  private remember(key: string, answer: Answer): void {
    if (this.closed || answer.ttl <= 0) return;
    this.cache.delete(key);
    this.cache.set(key, { answer, expires: Date.now() + answer.ttl * 1000 });
    while (this.cache.size > this.maxCache) this.cache.delete(this.cache.keys().next().value!);
  }

  private async query(fqdn: string, type: RecordType): Promise<Answer> {
    let lastError: Error = dnsError('EAI_AGAIN', 'query', fqdn);
    for (let round = 0; round < this.attempts; round++) {
      for (const server of this.opts.servers) {
        if (this.closed) throw dnsError('ECANCELLED', 'query', fqdn);
        this.stats.queries++;
        try {
          let reply = await this.udp(server, fqdn, type);
          if (reply.flag_tc) {
            this.stats.truncated++;
            reply = await this.tcp(server, fqdn, type);
          }
          const rcode = (reply as { rcode?: string }).rcode ?? 'NOERROR';
          if (rcode === 'NXDOMAIN') return { addrs: [], nx: true, ttl: negativeTtl(reply) };
          if (rcode !== 'NOERROR') {
            this.stats.failures++;
            lastError = dnsError(rcode === 'REFUSED' ? 'EREFUSED' : 'ESERVFAIL', 'query', fqdn);
            continue;
          }
          return answerOf(reply, type);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === 'ETIMEOUT') this.stats.timeouts++;
          else this.stats.failures++;
          lastError = e as Error;
        }
      }
    }
    throw lastError;
  }

  private question(fqdn: string, type: RecordType): dnsPacket.Packet & { id: number } {
    return { type: 'query', id: (Math.random() * 0x10000) | 0, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type, class: 'IN', name: fqdn }] };
  }

  /** One UDP exchange with one server; a reply that is not to our question is ignored (spoofing, late answers). */
  private async udp(server: string, fqdn: string, type: RecordType): Promise<dnsPacket.DecodedPacket> {
    const q = this.question(fqdn, type);
    const sock = await this.net.udpSocket({ family: isIP(server) === 6 ? 6 : 4 });
    if (this.closed) {
      closeQuietly(sock);
      throw dnsError('ECANCELLED', 'query', fqdn);
    }
    return this.exchange(fqdn, (done, fail) => {
      sock.on('message', (msg, rinfo) => {
        if (rinfo.address !== server || rinfo.port !== DNS_PORT) return;
        const r = decodeReply(msg, q.id, fqdn, type);
        if (r) done(r);
      });
      sock.on('error', fail);
      sock.send(dnsPacket.encode(q), DNS_PORT, server, (err) => err && fail(err));
      return { close: () => closeQuietly(sock) };
    });
  }

  /** The same question over TCP (RFC 1035 4.2.2: two-byte length, then the message). */
  private tcp(server: string, fqdn: string, type: RecordType): Promise<dnsPacket.DecodedPacket> {
    const q = this.question(fqdn, type);
    return this.exchange(fqdn, (done, fail) => {
      const s = this.net.connectTcp({ host: server, port: DNS_PORT });
      let buf = Buffer.alloc(0);
      s.on('data', (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        if (buf.length > 2 + 65535) return fail(dnsError('EBADRESP', 'query', fqdn));
        if (buf.length < 2 || buf.length < 2 + buf.readUInt16BE(0)) return;
        const r = decodeReply(buf.subarray(2, 2 + buf.readUInt16BE(0)), q.id, fqdn, type);
        if (r) done(r);
        else fail(dnsError('EBADRESP', 'query', fqdn));
      });
      s.on('error', fail);
      s.on('end', () => fail(dnsError('EBADRESP', 'query', fqdn)));
      s.write(dnsPacket.streamEncode(q));
      return { close: () => s.destroy() };
    });
  }

  /** Run one exchange with a timeout; whatever it opened is closed when it settles (or the resolver closes). */
  private exchange<T>(fqdn: string, start: (done: (v: T) => void, fail: (e: Error) => void) => { close(): void }): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let opened: { close(): void } | null = null;
      let settled = false;
      const settle = (f: () => void): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.open.delete(entry);
        opened?.close();
        f();
      };
      const entry = { close: () => settle(() => reject(dnsError('ECANCELLED', 'query', fqdn))) };
      const timer = setTimeout(() => settle(() => reject(dnsError('ETIMEOUT', 'query', fqdn))), this.timeoutMs);
      this.open.add(entry);
      opened = start((v) => settle(() => resolve(v)), (e) => settle(() => reject(e)));
      if (settled) opened.close();
    });
  }
}

/** The system resolver (no `DNS =` line), with the same answer shape and errors. */
export async function systemLookup(name: string, family: 0 | 4 | 6 = 0): Promise<string[]> {
  if (isIP(name)) return [name];
  // node:dns only when a name is looked up this way (it is ~0.9 MB resident).
  const dns = await import('node:dns/promises');
  const all = await dns.lookup(name, { all: true, family, order: 'ipv4first' } as import('node:dns').LookupAllOptions);
  return all.map((a) => a.address);
}

function closeQuietly(s: NetUdpSocket): void {
  try {
    s.close();
  } catch {
    /* closed already */
  }
}

/** A reply to our question (same id, a response, same name and type), or null. Malformed packets are null. */
function decodeReply(msg: Buffer, id: number, fqdn: string, type: RecordType): dnsPacket.DecodedPacket | null {
  let r: dnsPacket.DecodedPacket;
  try {
    r = dnsPacket.decode(msg);
  } catch {
    return null;
  }
  if (r.id !== id || !r.flag_qr) return null;
  const q = r.questions?.[0];
  if (!q || q.type !== type || q.name.toLowerCase() !== fqdn.toLowerCase()) return null;
  return r;
}

/** The addresses of the requested type (CNAME chains included in the answer section) and the smallest TTL. */
function answerOf(r: dnsPacket.DecodedPacket, type: RecordType): Answer {
  const recs = (r.answers ?? []).flatMap((a) => {
    const rec = a as { type: string; data?: unknown; ttl?: number };
    return rec.type === type && typeof rec.data === 'string' && isIP(rec.data) === (type === 'A' ? 4 : 6) ? [{ ip: rec.data, ttl: rec.ttl ?? 0 }] : [];
  });
  if (recs.length === 0) return { addrs: [], nx: false, ttl: negativeTtl(r) };
  const ttl = Math.min(MAX_TTL_S, ...recs.map((a) => a.ttl));
  return { addrs: [...new Set(recs.map((a) => a.ip))], nx: false, ttl };
}

/** RFC 2308: a negative answer is cached for the SOA's TTL (at most 30 s here). */
function negativeTtl(r: dnsPacket.DecodedPacket): number {
  const soa = (r.authorities ?? []).find((a) => a.type === 'SOA') as { ttl?: number } | undefined;
  return Math.min(NEGATIVE_TTL_S, soa?.ttl ?? NEGATIVE_TTL_S);
}
