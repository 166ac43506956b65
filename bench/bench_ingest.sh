#!/bin/bash
# Durable ingest benchmark (issues 3 and 4): the node (`radnode serve`: file,
# folder and index fsync'd before each C-STORE success, group-committed across
# associations) and the plain SCP (`radnode storescp`, fsync'd per instance)
# against DCMTK storescp (--fork, TCP_NODELAY=1, which does not fsync at all),
# in one run, with the same files and the same sender: DCMTK storescu, PAR
# parallel associations. Files: NS small instances (~8 KB, e.g. SR or
# thumbnails) and NL 512x512x16-bit CT slices (~512 KB), fresh UIDs, in one
# study. Each receiver is measured ROUNDS times, interleaved, and the median
# is printed with the ratio against storescp. `radnode storescp --no-fsync` is
# measured too: it shows what the sender and the machine allow at all; and
# the disk alone (PAR threads writing the same files durably, no network, no
# DICOM): what no durable receiver can exceed on this disk. SENDER=radnode
# sends with `radnode send --associations PAR` instead of storescu.
# The issue's case (512 KB CT slices only): NS=0 NL=400.
# Never a pass/fail test.
set -u
RADNODE=${RADNODE:-$(dirname "$0")/../build/radnode}
NS=${NS:-300}
NL=${NL:-200}
PAR=${PAR:-4}
# SENDER=radnode: `radnode send --associations PAR` instead of PAR storescu processes (a lighter
# sender leaves more of the 2 cores to the receiver; the same sender for every receiver)
SENDER=${SENDER:-storescu}
ROUNDS=${ROUNDS:-3}
export TCP_NODELAY=1
W=$(mktemp -d /tmp/rn_bench_ingest.XXXXXX)
PIDS=()
trap 'for p in "${PIDS[@]:-}"; do kill $p 2>/dev/null; done; wait 2>/dev/null; rm -rf "$W"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_port() { for i in $(seq 100); do (echo > /dev/tcp/127.0.0.1/$1) 2>/dev/null && return; sleep 0.1; done; }
command -v storescp >/dev/null || { echo "storescp (dcmtk) not installed"; exit 0; }

python3 - "$W/in" "$NS" "$NL" <<'PY'
import os, struct, sys, random
out, ns, nl = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
os.makedirs(out)
def el(g, e, vr, v):
    if len(v) % 2: v += b'\0' if vr == b'UI' else b' '
    if vr in (b'OB', b'OW', b'SQ', b'UN', b'UT'):
        return struct.pack('<HH', g, e) + vr + b'\0\0' + struct.pack('<I', len(v)) + v
    return struct.pack('<HH', g, e) + vr + struct.pack('<H', len(v)) + v
rnd = bytes(random.getrandbits(8) for _ in range(4096))
root = '1.2.826.0.1.3680043.10.1078.8.%d' % os.getpid()
for i in range(ns + nl):
    big = i >= ns
    side = 512 if big else 64
    pix = (rnd * (side * side * 2 // 4096 + 1))[:side * side * 2]
    inst = '%s.%d' % (root, i)
    ct = '1.2.840.10008.5.1.4.1.1.2'
    meta = el(2, 1, b'OB', b'\0\1') + el(2, 2, b'UI', ct.encode()) + el(2, 3, b'UI', inst.encode()) + \
        el(2, 0x10, b'UI', b'1.2.840.10008.1.2.1')
    meta = el(2, 0, b'UL', struct.pack('<I', len(meta))) + meta
    ds = el(8, 0x16, b'UI', ct.encode()) + el(8, 0x18, b'UI', inst.encode()) + el(8, 0x60, b'CS', b'CT') + \
        el(0x10, 0x10, b'PN', b'BENCH') + el(0x10, 0x20, b'LO', b'B1') + \
        el(0x20, 0xd, b'UI', (root + '.1000000').encode()) + \
        el(0x20, 0xe, b'UI', (root + ('.1000002' if big else '.1000001')).encode()) + \
        el(0x28, 2, b'US', struct.pack('<H', 1)) + el(0x28, 4, b'CS', b'MONOCHROME2') + \
        el(0x28, 0x10, b'US', struct.pack('<H', side)) + el(0x28, 0x11, b'US', struct.pack('<H', side)) + \
        el(0x28, 0x100, b'US', struct.pack('<H', 16)) + el(0x28, 0x101, b'US', struct.pack('<H', 16)) + \
        el(0x28, 0x102, b'US', struct.pack('<H', 15)) + el(0x28, 0x103, b'US', struct.pack('<H', 0)) + \
        el(0x7fe0, 0x10, b'OW', pix)
    # Interleave small and large so every association carries both.
    open('%s/%05d.dcm' % (out, (i * 7919) % (ns + nl)), 'wb').write(b'\0' * 128 + b'DICM' + meta + ds)
PY
N=$((NS + NL))
MB=$(du -sm "$W/in" | cut -f1)

send_par() { # port -> seconds
    local k files=("$W"/in/*.dcm) n t0 t1 pids=()
    n=${#files[@]}
    t0=$(date +%s.%N)
    if [ "$SENDER" = radnode ]; then
        "$RADNODE" send --associations "$PAR" --aec ANY 127.0.0.1 "$1" "$W/in" >/dev/null 2>&1
        t1=$(date +%s.%N)
        python3 -c "print('%.3f' % ($t1 - $t0))"
        return
    fi
    for k in $(seq 0 $((PAR - 1))); do
        storescu -aec ANY 127.0.0.1 "$1" "${files[@]:$((k * n / PAR)):$(((k + 1) * n / PAR - k * n / PAR))}" \
            >/dev/null 2>&1 &
        pids+=($!)
    done
    wait "${pids[@]}"
    t1=$(date +%s.%N)
    python3 -c "print('%.3f' % ($t1 - $t0))"
}
stop() { kill "$1" 2>/dev/null; wait "$1" 2>/dev/null; }

run_node() {
    local p d=$W/node
    rm -rf "$d"
    p=$(free_port)
    printf '[node]\ndicom_port = %s\nhttp_port = 0\ndata_dir = %s\nquiet_period = 36000\nmin_free_mb = 1\nlog_level = warn\n' \
        "$p" "$d" >"$W/node.conf"
    "$RADNODE" serve --config "$W/node.conf" >"$W/node.log" 2>&1 &
    local pid=$!
    wait_port "$p"
    send_par "$p"
    stop $pid
    local stored
    stored=$(find "$d/instances" -name '*.dcm' | wc -l)
    [ "$stored" = "$N" ] || echo "warning: node stored $stored of $N" >&2
}
run_rnscp() { # [--no-fsync]
    local p d=$W/rnscp
    rm -rf "$d"
    p=$(free_port)
    "$RADNODE" storescp --port "$p" --dir "$d" "$@" >/dev/null 2>&1 &
    local pid=$!
    wait_port "$p"
    send_par "$p"
    stop $pid
}
run_dcmtk() {
    local p d=$W/dcmtk
    rm -rf "$d"
    mkdir -p "$d"
    p=$(free_port)
    storescp --fork -od "$d" "$p" >/dev/null 2>&1 &
    local pid=$!
    wait_port "$p"
    send_par "$p"
    stop $pid
}

# The disk's own ceiling for durable writes, without DICOM or network: PAR threads each
# writing the same files as a durable receiver must (write, fdatasync, rename, fsync of the
# folder). No durable receiver can store faster than this on this disk.
disk_ceiling() {
    rm -rf "$W/disk"
    python3 - "$W/in" "$W/disk" "$PAR" <<'PY'
import os, sys, threading, time
src, out, par = sys.argv[1], sys.argv[2], int(sys.argv[3])
os.makedirs(out)
files = sorted(os.listdir(src))
data = [open(os.path.join(src, f), 'rb').read() for f in files]
def work(k):
    for i in range(k, len(data), par):
        p = os.path.join(out, files[i])
        fd = os.open(p + '.tmp', os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.write(fd, data[i])
        os.fdatasync(fd)
        os.close(fd)
        os.rename(p + '.tmp', p)
        dfd = os.open(out, os.O_RDONLY)
        os.fsync(dfd)
        os.close(dfd)
t0 = time.time()
th = [threading.Thread(target=work, args=(k,)) for k in range(par)]
for x in th:
    x.start()
for x in th:
    x.join()
print('%.3f' % (time.time() - t0))
PY
}

T_NODE=() T_SCP=() T_DC=() T_CEIL=() T_DISK=()
for r in $(seq "$ROUNDS"); do
    T_DC+=("$(run_dcmtk)")
    T_NODE+=("$(run_node)")
    T_SCP+=("$(run_rnscp)")
    T_CEIL+=("$(run_rnscp --no-fsync)")
    T_DISK+=("$(disk_ceiling)")
done
python3 - "$N" "$MB" "$PAR" "${T_DC[*]}" "${T_NODE[*]}" "${T_SCP[*]}" "${T_CEIL[*]}" \
    "${T_DISK[*]}" "$SENDER" <<'PY'
import statistics, sys
n, mb, par = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
dc, node, scp, ceil, disk = ([float(x) for x in a.split()] for a in sys.argv[4:9])
sender = sys.argv[9]
print('%d instances (%.0f MB), %d parallel associations from %s, median of %d rounds'
      % (n, mb, par, 'radnode send' if sender == 'radnode' else 'storescu', len(dc)))
def line(name, ts):
    t = statistics.median(ts)
    print('%-34s %8.1f inst/s %7.1f MB/s   (runs: %s s)' % (name, n / t, mb / t,
          ' '.join('%.2f' % x for x in ts)))
    return t
d = line('dcmtk storescp --fork (no fsync)', dc)
a = line('radnode serve (durable, indexed)', node)
b = line('radnode storescp (durable)', scp)
c = line('radnode storescp --no-fsync', ceil)
print('ratio radnode serve / storescp:    %.2fx' % (d / a))
print('ratio radnode storescp / storescp: %.2fx' % (d / b))
# With no durability at all radnode is limited by the sender (storescu) and the
# machine: no durable receiver can beat this ratio with this sender here.
print('ceiling (no fsync) / storescp:     %.2fx' % (d / c))
# Durable writes alone (no network, no DICOM), PAR writers: the disk's limit.
e = line('disk: durable writes only', disk)
print('disk ceiling / storescp:           %.2fx' % (d / e))
PY
