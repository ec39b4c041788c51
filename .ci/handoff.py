# make bench (bench-pg.sh): a fallback session's POST round trips (protocol
# 1.2 section 6) at the node holding the session and handed over from the
# other node through PostgreSQL, alternating; pings, so no store work.
# Usage: handoff.py PORT_OF_HOLDER PORT_OF_OTHER [POSTS]
import http.client, json, sys, time, statistics, socket
A, B = int(sys.argv[1]), int(sys.argv[2])
N = int(sys.argv[3]) if len(sys.argv) > 3 else 300
s = socket.create_connection(("127.0.0.1", A))
s.sendall(f"GET /live HTTP/1.1\r\nHost: 127.0.0.1:{A}\r\nOrigin: http://127.0.0.1:{A}\r\n\r\n".encode())
buf = b""
while b'"session"' not in buf or not buf.split(b'"session":"',1)[1].count(b'"'):
    buf += s.recv(65536)
sid = buf.split(b'"session":"',1)[1].split(b'"',1)[0].decode()
seq = 0
def post(port, frames):
    global seq
    c = http.client.HTTPConnection("127.0.0.1", port)
    body = "".join(json.dumps(f) + "\n" for f in frames)
    t = time.perf_counter()
    c.request("POST", f"/live?session={sid}&seq={seq}", body=body,
              headers={"Origin": f"http://127.0.0.1:{port}", "Content-Type": "text/plain", "Connection": "close"})
    r = c.getresponse(); r.read()
    dt = time.perf_counter() - t
    assert r.status == 204, (r.status, port)
    seq += 1
    return dt * 1000
post(A, [{"type": "hello", "name": "bench"}])
local, handed = [], []
for i in range(N):
    local.append(post(A, [{"type": "ping"}]))
    handed.append(post(B, [{"type": "ping"}]))
def q(v, p): v = sorted(v); return v[min(len(v)-1, int(len(v)*p))]
for name, v in (("at its node", local), ("handed over", handed)):
    print(f"{name}: median {statistics.median(v):.2f} ms, p99 {q(v,0.99):.2f} ms ({len(v)} POSTs)")
