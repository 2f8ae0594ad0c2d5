/**
 * Small python3 programs the forwarder tests run inside namespaces (Node
 * cannot enter a namespace in-process): a PROXY protocol receiver, its
 * client, a UDP multi-client, a concurrent HTTP fetcher and a probe that
 * tells a reset from an orderly close or a hang. Each is run
 * with `python3 -c SOURCE ARGS...`; results come back as one JSON line or
 * as plain lines on stdout.
 */
import { waitFor, type Netns, type Proc } from '../harness/netns.js';

/**
 * PROXY header receiver (HAProxy proxy-protocol.txt: v1 section 2.1, v2
 * section 2.2). Per connection: parse the header, read the payload line
 * that follows it, and answer one line
 * `vN FAMILY SRC SPORT DST DPORT payload=LINE` (or `error WHY`), then close.
 */
const PROXY_RECEIVER = String.raw`
import socket, struct, sys, threading, ipaddress
SIG = b'\r\n\r\n\x00\r\nQUIT\n'
host, port = sys.argv[1], int(sys.argv[2])

def exact(c, n):
    b = b''
    while len(b) < n:
        x = c.recv(n - len(b))
        if not x:
            raise ValueError('connection ended inside the header')
        b += x
    return b

def v1(c, first):
    line = first
    while not line.endswith(b'\r\n'):
        if len(line) >= 107:
            raise ValueError('v1 line longer than 107 bytes')
        line += exact(c, 1)
    parts = line[:-2].decode('ascii').split(' ')
    if len(parts) != 6 or parts[0] != 'PROXY' or parts[1] not in ('TCP4', 'TCP6'):
        raise ValueError('bad v1 line %r' % line)
    src, dst = ipaddress.ip_address(parts[2]), ipaddress.ip_address(parts[3])
    want = 4 if parts[1] == 'TCP4' else 6
    if src.version != want or dst.version != want:
        raise ValueError('address family does not match %s' % parts[1])
    for p in parts[4:6]:
        if not p.isdigit() or (p != '0' and p.startswith('0')) or int(p) > 65535:
            raise ValueError('bad port %r' % p)
    return 'v1 %s %s %d %s %d' % (parts[1], src, int(parts[4]), dst, int(parts[5]))

def v2(c):
    ver_cmd, fam, ln = struct.unpack('!BBH', exact(c, 4))
    body = exact(c, ln)
    if ver_cmd != 0x21:
        raise ValueError('ver_cmd %#x, want 0x21' % ver_cmd)
    if fam == 0x11 and ln >= 12:
        src, dst = ipaddress.IPv4Address(body[0:4]), ipaddress.IPv4Address(body[4:8])
        sp, dp = struct.unpack('!HH', body[8:12])
        return 'v2 TCP4 %s %d %s %d' % (src, sp, dst, dp)
    if fam == 0x21 and ln >= 36:
        src, dst = ipaddress.IPv6Address(body[0:16]), ipaddress.IPv6Address(body[16:32])
        sp, dp = struct.unpack('!HH', body[32:36])
        return 'v2 TCP6 %s %d %s %d' % (src, sp, dst, dp)
    raise ValueError('family/transport %#x with length %d' % (fam, ln))

def handle(c):
    try:
        head = exact(c, 12)
        if head == SIG:
            out = v2(c)
        elif head.startswith(b'PROXY '):
            out = v1(c, head)
        else:
            raise ValueError('no PROXY header: %r' % head)
        payload = b''
        while not payload.endswith(b'\n'):
            x = c.recv(100)
            if not x:
                break
            payload += x
        c.sendall(('%s payload=%s\n' % (out, payload.decode().strip())).encode())
    except Exception as e:
        c.sendall(('error %s\n' % e).encode())
    finally:
        c.close()

s = socket.socket(socket.AF_INET6 if ':' in host else socket.AF_INET)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((host, port))
s.listen(64)
print('ready', flush=True)
while True:
    c, _ = s.accept()
    threading.Thread(target=handle, args=(c,), daemon=True).start()
`;

/** Connects from a fixed source address:port, sends a payload line, prints the answer line. */
const PROXY_CLIENT = String.raw`
import socket, sys
src, sport, dst, dport, payload = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5]
s = socket.socket(socket.AF_INET6 if ':' in dst else socket.AF_INET)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.settimeout(8)
s.bind((src, sport))
s.connect((dst, dport))
s.sendall((payload + '\n').encode())
data = b''
while not data.endswith(b'\n'):
    x = s.recv(1000)
    if not x:
        break
    data += x
print(data.decode().strip())
`;

/**
 * N UDP clients at once (each its own socket, so its own source port), M
 * tagged datagrams each; resends what is missing for a few rounds. Prints
 * JSON: per client its port, the replies it got, and any foreign ones.
 */
const UDP_CLIENTS = String.raw`
import json, select, socket, sys, time
dst, dport, n, m = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
socks = []
for i in range(n):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(('0.0.0.0', 0))
    socks.append(s)
got = [set() for _ in range(n)]
foreign = [[] for _ in range(n)]
want = [set('c%d-m%d-%s' % (i, j, 'x' * (j * 37 % 200)) for j in range(m)) for i in range(n)]
for rnd in range(4):
    for i, s in enumerate(socks):
        for msg in sorted(want[i] - got[i]):
            s.sendto(msg.encode(), (dst, dport))
    deadline = time.time() + 2
    while time.time() < deadline and any(want[i] - got[i] for i in range(n)):
        r, _, _ = select.select(socks, [], [], 0.2)
        for s in r:
            i = socks.index(s)
            data, addr = s.recvfrom(2000)
            txt = data.decode(errors='replace')
            if txt in want[i]:
                got[i].add(txt)
            else:
                foreign[i].append(txt)
    if all(not (want[i] - got[i]) for i in range(n)):
        break
print(json.dumps([{'port': socks[i].getsockname()[1], 'got': len(got[i]), 'missing': len(want[i] - got[i]), 'foreign': foreign[i]} for i in range(n)]))
`;

/**
 * GETs URL COUNT times, PARALLEL at a time, each on a new connection;
 * counts the answers whose status is 200 and whose body equals EXPECTED.
 */
const FETCH_MANY = String.raw`
import json, sys, urllib.request
from concurrent.futures import ThreadPoolExecutor
url, count, parallel, expected = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
def one(i):
    try:
        with urllib.request.urlopen('%s?n=%d' % (url, i), timeout=20) as r:
            body = r.read().decode()
            return 'ok' if r.status == 200 and body == expected else 'bad body/status %d' % r.status
    except Exception as e:
        return '%s: %s' % (type(e).__name__, e)
with ThreadPoolExecutor(parallel) as ex:
    res = list(ex.map(one, range(count)))
errors = [r for r in res if r != 'ok']
print(json.dumps({'ok': len(res) - len(errors), 'errors': errors[:10]}))
`;

/**
 * N connections at once to DST:PORT; each sends a request line and waits
 * for an answer. Prints a JSON list of outcomes: reset (ECONNRESET, or
 * EPIPE once the reset was taken), fin (orderly close, no data), data,
 * hang (no answer within 5 s), or the errno name.
 */
const PROBE_CLOSE = String.raw`
import errno, json, socket, sys
from concurrent.futures import ThreadPoolExecutor
dst, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def one(i):
    try:
        s = socket.create_connection((dst, port), timeout=5)
        s.sendall(b'GET / HTTP/1.0\r\n\r\n')
        d = s.recv(100)
        return 'fin' if d == b'' else 'data'
    except (ConnectionResetError, BrokenPipeError):
        return 'reset'
    except socket.timeout:
        return 'hang'
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e))
with ThreadPoolExecutor(n) as ex:
    print(json.dumps(list(ex.map(one, range(n)))))
`;

export async function probeClose(ns: Netns, dst: string, port: number, n: number): Promise<string[]> {
  const r = await ns.exec(['python3', '-c', PROBE_CLOSE, dst, String(port), String(n)], { timeoutMs: 20_000 });
  if (r.code !== 0) throw new Error(`close probe failed (${r.code}): ${r.stderr}`);
  return JSON.parse(r.stdout) as string[];
}

export async function startProxyReceiver(ns: Netns, host: string, port: number): Promise<Proc> {
  const p = ns.spawn(['python3', '-u', '-c', PROXY_RECEIVER, host, String(port)], { label: `proxy-receiver ${host}:${port}` });
  await waitFor(() => {
    p.assertRunning();
    return p.output().includes('ready');
  }, 5000, 'the PROXY receiver to listen');
  return p;
}

export async function proxyClient(ns: Netns, src: string, sport: number, dst: string, dport: number, payload: string): Promise<string> {
  const r = await ns.exec(['python3', '-c', PROXY_CLIENT, src, String(sport), dst, String(dport), payload], { timeoutMs: 15_000 });
  if (r.code !== 0) throw new Error(`proxy client failed (${r.code}): ${r.stderr}`);
  return r.stdout.trim();
}

export interface UdpClientResult {
  port: number;
  got: number;
  missing: number;
  foreign: string[];
}

export async function udpClients(ns: Netns, dst: string, dport: number, clients: number, each: number): Promise<UdpClientResult[]> {
  const r = await ns.exec(['python3', '-c', UDP_CLIENTS, dst, String(dport), String(clients), String(each)], { timeoutMs: 20_000 });
  if (r.code !== 0) throw new Error(`udp clients failed (${r.code}): ${r.stderr}`);
  return JSON.parse(r.stdout) as UdpClientResult[];
}

export async function fetchMany(ns: Netns, url: string, count: number, parallel: number, expected: string): Promise<{ ok: number; errors: string[] }> {
  const r = await ns.exec(['python3', '-c', FETCH_MANY, url, String(count), String(parallel), expected], { timeoutMs: 60_000 });
  if (r.code !== 0) throw new Error(`fetch-many failed (${r.code}): ${r.stderr}`);
  return JSON.parse(r.stdout) as { ok: number; errors: string[] };
}

/**
 * `python3 -m http.server` as a script with a listen backlog of 256: the
 * module's server keeps socketserver's backlog of 5, so a burst of 50
 * connections overflowed the home kernel's accept queue and SYNs were
 * dropped (clients then waited 1, 3, 7 s for SYN retransmits).
 */
const HTTP_SERVER = `
import functools, http.server, socket, sys
host, port, d = sys.argv[1], int(sys.argv[2]), sys.argv[3]
class Server(http.server.ThreadingHTTPServer):
    request_queue_size = 256
    address_family = socket.AF_INET6 if ':' in host else socket.AF_INET
srv = Server((host, port), functools.partial(http.server.SimpleHTTPRequestHandler, directory=d))
print(f'Serving HTTP on {host} port {port}', flush=True)
srv.serve_forever()
`;

/** A threading http.server bound to host:port serving dir; waits for its "Serving HTTP" line. */
export async function startHttpServer(ns: Netns, host: string, port: number, dir: string, opts: { prefix?: readonly string[]; python?: string } = {}): Promise<Proc> {
  const p = ns.spawn([...(opts.prefix ?? []), opts.python ?? 'python3', '-u', '-c', HTTP_SERVER, host, String(port), dir], {
    label: `http.server ${host}:${port}`,
    env: { PYTHONUNBUFFERED: '1' },
  });
  await waitFor(() => {
    p.assertRunning();
    return p.output().includes('Serving HTTP');
  }, 5000, `http.server on ${host}:${port}`);
  return p;
}

/** socat UDP echo: every datagram from any peer is answered, by a child per datagram, to its sender. */
export async function startUdpEcho(ns: Netns, host: string, port: number): Promise<Proc> {
  const p = ns.spawn(['socat', `UDP4-RECVFROM:${port},bind=${host},fork`, 'EXEC:cat'], { label: `socat udp echo ${host}:${port}` });
  await waitFor(async () => {
    p.assertRunning();
    const r = await ns.exec(['ss', '-Hlun', `sport = :${port}`]);
    return r.stdout.includes(`${host}:${port}`);
  }, 5000, `socat to bind udp ${host}:${port}`);
  return p;
}
