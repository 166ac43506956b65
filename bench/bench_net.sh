#!/bin/bash
# Ingest benchmark (issue 3): the radnode SCP against DCMTK storescp (--fork,
# TCP_NODELAY=1) and Orthanc, same files and sender (DCMTK storescu, 4
# parallel processes), one run, printed as ratios; and `radnode send` against
# storescu into the same DCMTK storescp. Files: N copies of a ~512 KB CT slice
# made from the pydicom CT test file with fresh SOP Instance UIDs.
# Never a pass/fail test: it prints numbers.
set -u
RADNODE=${RADNODE:-$(dirname "$0")/../build/radnode}
N=${N:-400}
PAR=${PAR:-4}
export TCP_NODELAY=1
W=$(mktemp -d /tmp/rn_bench.XXXXXX)
PIDS=()
trap 'for p in "${PIDS[@]:-}"; do kill $p 2>/dev/null; done; wait 2>/dev/null; rm -rf "$W"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
python3 - "$W/in" "$N" <<'PY'
import os, struct, sys, random
out, n = sys.argv[1], int(sys.argv[2])
os.makedirs(out)
# A synthetic 512x512x16-bit CT slice, explicit VR LE.
def el(g, e, vr, v):
    if len(v) % 2: v += b'\0' if vr == b'UI' else b' '
    if vr in (b'OB', b'OW', b'SQ', b'UN', b'UT'):
        return struct.pack('<HH', g, e) + vr + b'\0\0' + struct.pack('<I', len(v)) + v
    return struct.pack('<HH', g, e) + vr + struct.pack('<H', len(v)) + v
pix = bytes(random.getrandbits(8) for _ in range(4096)) * 128
for i in range(n):
    inst = '1.2.826.0.1.3680043.10.1078.9.%d.%d' % (os.getpid(), i)
    ct = '1.2.840.10008.5.1.4.1.1.2'
    meta = el(2, 1, b'OB', b'\0\1') + el(2, 2, b'UI', ct.encode()) + el(2, 3, b'UI', inst.encode()) + \
        el(2, 0x10, b'UI', b'1.2.840.10008.1.2.1')
    meta = el(2, 0, b'UL', struct.pack('<I', len(meta))) + meta
    ds = el(8, 0x16, b'UI', ct.encode()) + el(8, 0x18, b'UI', inst.encode()) + el(8, 0x60, b'CS', b'CT') + \
        el(0x10, 0x10, b'PN', b'BENCH') + el(0x10, 0x20, b'LO', b'B1') + \
        el(0x20, 0xd, b'UI', b'1.2.826.0.1.3680043.10.1078.9.1') + el(0x20, 0xe, b'UI', b'1.2.826.0.1.3680043.10.1078.9.2') + \
        el(0x28, 2, b'US', struct.pack('<H', 1)) + el(0x28, 4, b'CS', b'MONOCHROME2') + \
        el(0x28, 0x10, b'US', struct.pack('<H', 512)) + el(0x28, 0x11, b'US', struct.pack('<H', 512)) + \
        el(0x28, 0x100, b'US', struct.pack('<H', 16)) + el(0x28, 0x101, b'US', struct.pack('<H', 16)) + \
        el(0x28, 0x102, b'US', struct.pack('<H', 15)) + el(0x28, 0x103, b'US', struct.pack('<H', 0)) + \
        el(0x7fe0, 0x10, b'OW', pix)
    open('%s/%05d.dcm' % (out, i), 'wb').write(b'\0' * 128 + b'DICM' + meta + ds)
PY
MB=$(du -sm "$W/in" | cut -f1)
send_par() { # port aec
    local k files=("$W"/in/*.dcm) n=${#files[@]} t0 t1
    t0=$(date +%s.%N)
    for k in $(seq 0 $((PAR - 1))); do
        storescu -aec "$2" 127.0.0.1 "$1" "${files[@]:$((k * n / PAR)):$(((k + 1) * n / PAR - k * n / PAR))}" 2>/dev/null &
    done
    wait $(jobs -p | grep -v -e "^${PIDS[*]:-x}$") 2>/dev/null
    t1=$(date +%s.%N)
    python3 -c "print('%.3f' % ($t1 - $t0))"
}
wait_port() { for i in $(seq 100); do (echo > /dev/tcp/127.0.0.1/$1) 2>/dev/null && return; sleep 0.1; done; }
P=$(free_port); "$RADNODE" storescp --port "$P" --dir "$W/rn" >/dev/null 2>&1 & PIDS+=($!); wait_port "$P"
T_RN=$(send_par "$P" ANY)
P2=$(free_port); mkdir -p "$W/dcmtk"; storescp --fork -od "$W/dcmtk" "$P2" >/dev/null 2>&1 & PIDS+=($!); wait_port "$P2"
T_DC=$(send_par "$P2" ANY)
T_OR=""
if command -v Orthanc >/dev/null; then
    P3=$(free_port); H=$(free_port); mkdir -p "$W/or"
    printf '{"StorageDirectory":"%s","IndexDirectory":"%s","DicomPort":%s,"HttpPort":%s,"RemoteAccessAllowed":false,"DicomCheckCalledAet":false}' \
        "$W/or" "$W/or" "$P3" "$H" >"$W/or.json"
    Orthanc "$W/or.json" >/dev/null 2>&1 & PIDS+=($!); wait_port "$P3"
    T_OR=$(send_par "$P3" ORTHANC)
fi
rm -rf "$W/dcmtk"/*
t0=$(date +%s.%N); "$RADNODE" send --associations "$PAR" 127.0.0.1 "$P2" "$W/in" >/dev/null 2>&1; t1=$(date +%s.%N)
T_SEND=$(python3 -c "print('%.3f' % ($t1 - $t0))")
python3 - "$N" "$MB" "$T_RN" "$T_DC" "${T_OR:-0}" "$T_SEND" "$T_DC" <<'PY'
import sys
n, mb, rn, dc, orx, snd, dcs = int(sys.argv[1]), float(sys.argv[2]), *map(float, sys.argv[3:])
def line(name, t): print('%-28s %8.1f inst/s %8.1f MB/s' % (name, n / t, mb / t))
line('radnode storescp', rn); line('dcmtk storescp --fork', dc)
if orx: line('orthanc', orx)
print('ratio radnode/storescp: %.2fx' % (dc / rn))
if orx: print('ratio radnode/orthanc:  %.2fx' % (orx / rn))
line('radnode send -> storescp', snd); line('storescu -> storescp', dcs)
print('ratio radnode send/storescu: %.2fx' % (dcs / snd))
PY
