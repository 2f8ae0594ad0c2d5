/**
 * The kernel-TCP digest sink the interop suites run with `python3 -c
 * PY_DIGEST_SINK HOST PORT` inside a namespace: per connection it reads to
 * EOF and answers one line "SHA256HEX LENGTH", then closes; it prints
 * LISTENING once bound.
 */
export const PY_DIGEST_SINK = `
import socket, hashlib, sys
s = socket.create_server((sys.argv[1], int(sys.argv[2])), family=socket.AF_INET6 if ':' in sys.argv[1] else socket.AF_INET)
print('LISTENING', flush=True)
while True:
    c, _ = s.accept()
    h = hashlib.sha256(); n = 0
    while True:
        d = c.recv(1 << 16)
        if not d: break
        h.update(d); n += len(d)
    c.sendall(f"{h.hexdigest()} {n}\\n".encode()); c.close()
`;
