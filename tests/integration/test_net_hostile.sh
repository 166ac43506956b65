#!/bin/bash
# Hostile peers against radnode storescp (issue 3): malformed and truncated
# PDUs, lengths that lie, PDUs larger than negotiated, data on unaccepted
# contexts, abrupt disconnects mid-instance, a slow sender, silent
# connections (ARTIM), 200 connection attempts at once, then 1,000 short
# associations: the server keeps serving (echoscu after each round), leaves
# no partial file, and its descriptor count returns to where it started.
. "$(dirname "$0")/net_lib.sh"
[ -x "$RADNODE" ] || skip "radnode not built"
command -v echoscu >/dev/null || skip "DCMTK not installed"
OUT=$WORK/out
rn_storescp "$OUT" --aet HOSTILE --max-associations 32 --artim-timeout 2 --timeout 2 --dimse-timeout 3
fds() { ls /proc/"$RN_PID"/fd | wc -l; }
alive() {
    kill -0 "$RN_PID" 2>/dev/null || fail "radnode storescp died ($1): $(tail -5 "$WORK/storescp.$RN_PORT.log")"
    echoscu -to 10 -aec HOSTILE 127.0.0.1 "$RN_PORT" || fail "echo failed after $1"
}
alive start
FD0=$(fds)

python3 - "$RN_PORT" <<'PY' || fail "hostile client script"
import socket, struct, sys, threading, time
port = int(sys.argv[1])
def item(t, v): return struct.pack('>BBH', t, 0, len(v)) + v
def pdu(t, body): return struct.pack('>BBI', t, 0, len(body)) + body
def ae(s): return s.encode().ljust(16, b' ')
def rq(ctx, maxlen=16384):
    b = struct.pack('>HH', 1, 0) + ae('HOSTILE') + ae('EVIL') + b'\0'*32 + item(0x10, b'1.2.840.10008.3.1.1.1')
    for pid, asx, tss in ctx:
        b += item(0x20, bytes([pid, 0, 0, 0]) + item(0x30, asx.encode()) + b''.join(item(0x40, t.encode()) for t in tss))
    return pdu(1, b + item(0x50, item(0x51, struct.pack('>I', maxlen)) + item(0x52, b'1.2.3')))
def elem(e, v): return struct.pack('<HHI', 0, e, len(v)) + v
def uid(s): b = s.encode(); return b + (b'\0' if len(b) % 2 else b'')
def cmd(f): b = b''.join(f); return elem(0, struct.pack('<I', len(b))) + b
def pdv(pid, ctl, d): return struct.pack('>IBB', len(d) + 2, pid, ctl) + d
CT = '1.2.840.10008.5.1.4.1.1.2'; EX = '1.2.840.10008.1.2.1'
A = rq([(1, '1.2.840.10008.1.1', [EX]), (3, CT, [EX])])
store = cmd([elem(2, uid(CT)), elem(0x100, struct.pack('<H', 1)), elem(0x110, struct.pack('<H', 1)),
             elem(0x700, b'\0\0'), elem(0x800, b'\0\0'), elem(0x1000, uid('1.2.3.4.5.6'))])
def conn():
    s = socket.create_connection(('127.0.0.1', port), timeout=10)
    return s
def send_and_drain(data, close_early=False):
    s = conn()
    try:
        s.sendall(data)
        if close_early:
            return
        s.settimeout(5)
        while s.recv(65536):
            pass
    except OSError:
        pass
    finally:
        s.close()
def associate():
    s = conn(); s.sendall(A)
    h = s.recv(6)
    assert h and h[0] == 2, 'no A-ASSOCIATE-AC: %r' % h
    n = struct.unpack('>I', h[2:6])[0]
    while n > 0:
        n -= len(s.recv(n))
    return s
cases = {
    'garbage': b'\xde\xad\xbe\xef' * 100,
    'truncated RQ': A[:50],
    'RQ length lies (huge)': A[:2] + struct.pack('>I', 0xFFFFFFFF) + A[6:],
    'RQ length lies (short)': A[:2] + struct.pack('>I', 20) + A[6:],
    'item length lies': A[:80] + b'\xff\xff' + A[82:],
    'P-DATA first': pdu(4, pdv(1, 3, b'x' * 10)),
    'unknown PDU type': pdu(0x42, b'1234'),
    'RQ twice': A + A,
    'PDU larger than negotiated': A + pdu(4, pdv(1, 3, b'x' * 100000)),
    'PDV length lies': A + pdu(4, struct.pack('>IBB', 1000, 1, 3) + b'abc'),
    'data on unaccepted context': A + pdu(4, pdv(9, 3, store)),
    'data set before command': A + pdu(4, pdv(3, 2, b'\0' * 16)),
    'command not group 0000': A + pdu(4, pdv(3, 3, struct.pack('<HHI', 8, 0x16, 2) + b'12')),
    'release RQ with long body': A + pdu(5, b'\0' * 100),
}
for name, data in cases.items():
    send_and_drain(data)
    send_and_drain(data, close_early=True)
# Abrupt disconnect mid-instance, several times.
for i in range(20):
    s = associate()
    s.sendall(pdu(4, pdv(3, 3, store)) + pdu(4, pdv(3, 0, b'\x08\x00\x16\x00' + b'\0' * 4000)))
    s.close()
# Slow sender: one byte per 0.5 s of a PDU header; must be dropped by the timeout.
s = associate()
try:
    for b in pdu(4, pdv(3, 3, store))[:8]:
        s.send(bytes([b])); time.sleep(0.5)
except OSError:
    pass
s.close()
# Silent connections: ARTIM closes them.
silent = [conn() for _ in range(10)]
time.sleep(3)
for c in silent:
    c.settimeout(1)
    try:
        assert c.recv(10) == b'', 'ARTIM did not close a silent connection'
    except socket.timeout:
        raise SystemExit('ARTIM did not close a silent connection')
    c.close()
# 200 connection attempts at once, each a full C-ECHO association.
echo = cmd([elem(2, uid('1.2.840.10008.1.1')), elem(0x100, struct.pack('<H', 0x30)),
            elem(0x110, struct.pack('<H', 1)), elem(0x800, struct.pack('<H', 0x101))])
ok = []
def one():
    try:
        s = associate()
        s.sendall(pdu(4, pdv(1, 3, echo)))
        h = s.recv(6); n = struct.unpack('>I', h[2:6])[0]; body = b''
        while len(body) < n: body += s.recv(n - len(body))
        s.sendall(pdu(5, b'\0' * 4))
        s.recv(10)
        s.close()
        ok.append(1)
    except Exception as e:
        print('echo failed:', e)
ts = [threading.Thread(target=one) for _ in range(200)]
[t.start() for t in ts]; [t.join() for t in ts]
print('200 concurrent: %d succeeded' % len(ok))
assert len(ok) == 200
PY
alive "hostile round"
ls -A "$OUT" 2>/dev/null | grep -q '^\.incoming' && fail "partial files left in $OUT"

# 1,000 associations (C-ECHO) in 10 parallel streams; descriptors must not grow.
streams=()
for k in $(seq 10); do
    (for i in $(seq 100); do echoscu -aec HOSTILE 127.0.0.1 "$RN_PORT" || exit 1; done) &
    streams+=($!)
done
wait_all=0
for j in "${streams[@]}"; do wait "$j" || wait_all=1; done
[ "$wait_all" = 0 ] || fail "an echo of the 1,000 failed"
sleep 1
FD1=$(fds)
[ "$FD1" -le "$((FD0 + 2))" ] || fail "descriptors grew from $FD0 to $FD1"
alive "1000 associations"
echo "descriptors: $FD0 before, $FD1 after"
echo PASS
