/**
 * A TCP connection flooder run inside a namespace (`python3 -c SOURCE`):
 * opens HOLD connections and keeps them idle, then for SECONDS opens and
 * abandons connections (SO_LINGER 0: closed with a reset) as fast as one
 * thread can. At the end it peeks at each held connection (alive, closed or
 * reset) and prints one JSON line of counts.
 */
import type { Netns } from '../harness/netns.js';

const FLOODER = String.raw`
import errno, json, socket, struct, sys, time
host, port, hold, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
LINGER0 = struct.pack('ii', 1, 0)
held, hold_errors = [], 0
for i in range(hold):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(2)
    try:
        s.connect((host, port))
        held.append(s)
    except OSError:
        hold_errors += 1
        s.close()
opened = churn_errors = 0
end = time.time() + seconds
while time.time() < end:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER0)
    s.settimeout(1)
    try:
        s.connect((host, port))
        opened += 1
    except OSError:
        churn_errors += 1
    s.close()
alive = closed = reset = 0
for s in held:
    s.setblocking(False)
    try:
        if s.recv(1, socket.MSG_PEEK) == b'':
            closed += 1
        else:
            alive += 1
    except BlockingIOError:
        alive += 1
    except OSError:
        reset += 1
for s in held:
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER0)
    s.close()
print(json.dumps({'held': len(held), 'holdErrors': hold_errors, 'alive': alive, 'closed': closed, 'reset': reset,
                  'churnOpened': opened, 'churnErrors': churn_errors, 'seconds': seconds}))
`;

export interface FloodResult {
  /** Idle connections whose connect() succeeded, and how they ended up after the churn. */
  held: number;
  holdErrors: number;
  alive: number;
  closed: number;
  reset: number;
  /** Connections opened and abandoned during the churn, and connects that failed. */
  churnOpened: number;
  churnErrors: number;
  seconds: number;
}

export async function floodConnections(ns: Netns, host: string, port: number, hold: number, seconds: number): Promise<FloodResult> {
  const r = await ns.exec(['python3', '-c', FLOODER, host, String(port), String(hold), String(seconds)], { timeoutMs: (seconds + hold * 2 + 20) * 1000 });
  if (r.code !== 0) throw new Error(`flooder failed (${r.code}): ${r.stderr}`);
  return JSON.parse(r.stdout) as FloodResult;
}
