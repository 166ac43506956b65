#!/bin/bash
# Node latency and sustained rate (issue 4 bench), with real peers, one run:
#   1. latency: 20 studies (10 CT instances each, made from pydicom's CT_small.dcm with fresh
#      UIDs) sent one after another by DCMTK storescu to `radnode serve` (echo analyzer, study
#      level, quiet period Q s); for each, the time from storescu's return (last C-STORE
#      acknowledged) until its SR+SC+PDF are stored in Orthanc; median and p95, with and without
#      the configured quiet period (which is a wait by design);
#   2. sustained: the 20 studies again with new UIDs, all sent back to back; time until the last
#      result set is in Orthanc; instances/s and studies/min; and, as the peer in the same run,
#      the time storescu takes to store the same 200 instances straight into Orthanc.
# Not a test: it prints figures.   usage: bench/bench_node_latency.sh [QUIET_SECONDS]
SRC=$(cd "$(dirname "$0")/.." && pwd)
RADNODE=${RADNODE:-$SRC/build/radnode}
Q=${1:-1}
. "$SRC/tests/integration/net_lib.sh"
command -v storescu >/dev/null || skip "storescu missing"
[ -f "$PYDICOM_FILES/CT_small.dcm" ] || skip "pydicom test files missing"
PORT=$(free_port)
HTTP=$(free_port)
start_orthanc RADNODE "$PORT"
make_ct_studies "$WORK/lat" 20 10 BL
make_ct_studies "$WORK/sus" 20 10 BS
make_ct_studies "$WORK/peer" 20 10 BP
cat >"$WORK/radnode.conf" <<CONF
[node]
dicom_port = $PORT
http_port = $HTTP
data_dir = $WORK/data
quiet_period = $Q
[route echo-everything]
analyzer = echo
level = study
when = Modality present
[destination orthanc]
type = dicom
host = 127.0.0.1
port = $ORTHANC_DICOM
ae_title = ORTHANC
CONF
"$RADNODE" serve --config "$WORK/radnode.conf" >"$WORK/node.log" 2>&1 &
PIDS+=($!)
wait_port "$PORT" || fail "radnode did not start"
now() { date +%s.%N; }
: >"$WORK/lat.txt"
for d in "$WORK"/lat/s*; do
    uid=$(study_uid_of "$d/i000.dcm")
    storescu -aec RADNODE 127.0.0.1 "$PORT" "$d"/*.dcm >/dev/null 2>&1 || fail "storescu failed"
    t0=$(now)
    until [ "$(orthanc_results "$uid")" -ge 3 ]; do sleep 0.05; done
    echo "$(now) $t0" | awk '{print $1 - $2}' >>"$WORK/lat.txt"
done
/usr/bin/python3 - "$WORK/lat.txt" "$Q" <<'PY'
import statistics, sys
v = sorted(float(x) for x in open(sys.argv[1]))
q = float(sys.argv[2])
p95 = v[min(len(v) - 1, int(round(0.95 * (len(v) - 1))))]
print("latency, last C-STORE acknowledged -> SR+SC+PDF stored in Orthanc (20 studies x 10 CT):")
print("  median %.2f s, p95 %.2f s (quiet period %.1f s included; without it: median %.2f s, p95 %.2f s)"
      % (statistics.median(v), p95, q, statistics.median(v) - q, p95 - q))
PY
t0=$(now)
storescu -aec RADNODE 127.0.0.1 "$PORT" "$WORK"/sus/s*/*.dcm >/dev/null 2>&1 || fail "storescu failed"
t1=$(now)
for d in "$WORK"/sus/s*; do
    uid=$(study_uid_of "$d/i000.dcm")
    until [ "$(orthanc_results "$uid")" -ge 3 ]; do sleep 0.1; done
done
t2=$(now)
p0=$(now)
storescu -aec ORTHANC 127.0.0.1 "$ORTHANC_DICOM" "$WORK"/peer/s*/*.dcm >/dev/null 2>&1 || fail "storescu to Orthanc failed"
p1=$(now)
awk -v a="$t0" -v b="$t1" -v c="$t2" -v p0="$p0" -v p1="$p1" -v q="$Q" 'BEGIN {
    printf "sustained: 200 instances (20 studies) sent in %.2f s (%.0f inst/s into radnode); all 20 result sets in Orthanc after %.2f s = %.1f studies/min, %.0f inst/s end to end (quiet period %.1f s)\n", b-a, 200/(b-a), c-a, 20*60/(c-a), 200/(c-a), q
    printf "peer, same run: storescu -> Orthanc directly, the same 200 instances: %.2f s (%.0f inst/s); radnode ingest / Orthanc ingest = %.2fx\n", p1-p0, 200/(p1-p0), (p1-p0)/(b-a) }'
