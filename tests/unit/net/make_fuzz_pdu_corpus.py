#!/usr/bin/env python3
# Writes the seed corpus of tests/fuzz/fuzz_pdu.c (first byte = mode; see there):
#   python3 tests/unit/net/make_fuzz_pdu_corpus.py tests/fuzz/corpus/fuzz_pdu
import struct, os, sys
out = sys.argv[1]
os.makedirs(out, exist_ok=True)
def item(t, v): return struct.pack('>BBH', t, 0, len(v)) + v
def pdu(t, body): return struct.pack('>BBI', t, 0, len(body)) + body
def ae(s): return s.encode().ljust(16, b' ')
def rq(contexts, maxlen=16384, extra=b''):
    body = struct.pack('>HH', 1, 0) + ae('FUZZ') + ae('SCU') + b'\0'*32
    body += item(0x10, b'1.2.840.10008.3.1.1.1')
    for pid, asx, tss in contexts:
        sub = item(0x30, asx.encode()) + b''.join(item(0x40, t.encode()) for t in tss)
        body += item(0x20, bytes([pid, 0, 0, 0]) + sub)
    ui = item(0x51, struct.pack('>I', maxlen)) + item(0x52, b'1.2.3.4') + item(0x55, b'FUZZ') + extra
    body += item(0x50, ui)
    return pdu(1, body)
def elem(e, v): return struct.pack('<HHI', 0, e, len(v)) + v
def uid(s):
    b = s.encode()
    return b + (b'\0' if len(b) % 2 else b'')
def cmd(fields):
    b = b''.join(fields)
    return elem(0, struct.pack('<I', len(b))) + b
def pdv(pid, ctl, data): return struct.pack('>IBB', len(data)+2, pid, ctl) + data
def pdata(*pdvs): return pdu(4, b''.join(pdvs))
REL = pdu(5, b'\0'*4)
V='1.2.840.10008.1.1'; CT='1.2.840.10008.5.1.4.1.1.2'; F='1.2.840.10008.5.1.4.1.2.2.1'
IM='1.2.840.10008.1.2'; EX='1.2.840.10008.1.2.1'
echo = cmd([elem(2, uid(V)), elem(0x100, struct.pack('<H', 0x30)), elem(0x110, struct.pack('<H', 1)), elem(0x800, struct.pack('<H', 0x101))])
store = cmd([elem(2, uid(CT)), elem(0x100, struct.pack('<H', 1)), elem(0x110, struct.pack('<H', 2)), elem(0x700, struct.pack('<H', 0)), elem(0x800, struct.pack('<H', 0)), elem(0x1000, uid('1.2.3.4.5'))])
ds = struct.pack('<HHI', 8, 0x16, 26) + uid(CT) + struct.pack('<HHI', 8, 0x18, 10) + uid('1.2.3.4.5')
find = cmd([elem(2, uid(F)), elem(0x100, struct.pack('<H', 0x20)), elem(0x110, struct.pack('<H', 3)), elem(0x700, struct.pack('<H', 0)), elem(0x800, struct.pack('<H', 0))])
fid = struct.pack('<HHI', 8, 0x52, 6) + b'STUDY '
A = rq([(1, V, [IM, EX]), (3, CT, [EX, IM]), (5, F, [IM])])
seeds = {
 'echo': A + pdata(pdv(1, 3, echo)) + REL,
 'store': A + pdata(pdv(1, 3, echo)) + pdata(pdv(3, 3, store)) + pdata(pdv(3, 0, ds[:20])) + pdata(pdv(3, 2, ds[20:])) + REL,
 'store_fragmented_cmd': A + pdata(pdv(3, 1, store[:10]), pdv(3, 3, store[10:])) + pdata(pdv(3, 2, ds)) + REL,
 'find': A + pdata(pdv(5, 3, find)) + pdata(pdv(5, 2, fid)) + REL,
 'abort': A + pdu(7, b'\0\0\0\0'),
 'truncated_rq': A[:40],
 'lying_length': A[:2] + struct.pack('>I', 0xFFFFFFF0) + A[6:],
 'bad_item_len': A[:80] + b'\xff\xff' + A[82:],
 'pdata_before_rq': pdata(pdv(1, 3, echo)),
 'huge_pdv': A + pdu(4, struct.pack('>IBB', 0x7FFFFFFF, 1, 3)),
 'unknown_pdu': A + pdu(9, b'abcd'),
 'identity': rq([(1, V, [IM])], extra=item(0x58, bytes([2, 1]) + struct.pack('>H', 4) + b'user' + struct.pack('>H', 4) + b'pass') + item(0x54, struct.pack('>H', len(CT)) + CT.encode() + b'\1\1') + item(0x53, struct.pack('>HH', 4, 4))) + pdata(pdv(1, 3, echo)) + REL,
 'wrong_context': A + pdata(pdv(7, 3, echo)),
 'data_for_command': A + pdata(pdv(1, 2, echo)),
}
for k, v in seeds.items():
    open(os.path.join(out, 'serve_' + k), 'wb').write(b'\0' + v)
# mode 1: bodies of A-ASSOCIATE PDUs
open(os.path.join(out, 'parse_rq'), 'wb').write(b'\1' + A[6:])
# mode 2: P-DATA bodies
open(os.path.join(out, 'pdv_echo'), 'wb').write(b'\2' + pdv(1, 3, echo) + pdv(1, 1, store))
# mode 3: FSM sequences
open(os.path.join(out, 'fsm_requestor'), 'wb').write(b'\3\1' + bytes([0, 1, 2, 8, 9, 10, 12, 16]))
open(os.path.join(out, 'fsm_acceptor'), 'wb').write(b'\3\0' + bytes([4, 0x85, 6, 9, 8, 11, 13, 16, 17]))
