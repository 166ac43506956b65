#!/bin/bash
# Disk full (issue 4 "Must show"): the node's data folder is a small tmpfs (16 MiB). DCMTK
# storescu sends 512 KiB CT instances until the node refuses; then:
#   - the refusals are DICOM failure statuses (A700 Out of Resources), never a success for data
#     that was not stored, and the node keeps running;
#   - every acknowledged instance is stored and identical;
#   - after space is freed (a filler file deleted) the node accepts new instances again by
#     itself, without a restart.
# Needs root to mount a tmpfs (skips otherwise).
. "$(dirname "$0")/net_lib.sh"
command -v storescu >/dev/null || skip "storescu (dcmtk) not installed"
command -v curl >/dev/null || skip "curl not installed"
/usr/bin/python3 -c "import pydicom, numpy" 2>/dev/null || skip "python3-pydicom/numpy missing"
[ -f "$PYDICOM_FILES/CT_small.dcm" ] || skip "pydicom test files not installed"
mkdir -p "$WORK/data"
mount -t tmpfs -o size=16m tmpfs "$WORK/data" 2>/dev/null || skip "cannot mount a tmpfs (needs root)"
cleanup_tmpfs() {
    for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null; done
    for p in "${PIDS[@]:-}"; do [ -n "$p" ] && wait "$p" 2>/dev/null; done
    umount "$WORK/data" 2>/dev/null
    cleanup
}
trap cleanup_tmpfs EXIT

/usr/bin/python3 - "$PYDICOM_FILES/CT_small.dcm" "$WORK/send" <<'PY' || fail "could not make the instances"
import os, sys, numpy as np, pydicom
from pydicom.uid import generate_uid
src = pydicom.dcmread(sys.argv[1])
os.makedirs(sys.argv[2])
study, series = generate_uid(), generate_uid()
rng = np.random.default_rng(5)
for k in range(60):
    ds = src.copy()
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.Rows = ds.Columns = 512
    ds.PixelData = rng.integers(0, 2000, (512, 512), dtype=np.int16).tobytes()
    ds.InstanceNumber = k + 1
    ds.save_as(os.path.join(sys.argv[2], "i%03d.dcm" % k))
PY

PORT=$(free_port)
HTTP=$(free_port)
cat >"$WORK/radnode.conf" <<CONF
[node]
dicom_port = $PORT
http_port = $HTTP
data_dir = $WORK/data
quiet_period = 3600
min_free_mb = 2
CONF
"$RADNODE" serve --config "$WORK/radnode.conf" >"$WORK/node.log" 2>&1 &
NODE_PID=$!
PIDS+=("$NODE_PID")
wait_port "$PORT" || fail "radnode serve did not start: $(tail "$WORK/node.log")"
# A filler file takes part of the space (what another process on the volume might hold).
dd if=/dev/zero of="$WORK/data/filler" bs=1M count=4 status=none

storescu -v -aec RADNODE 127.0.0.1 "$PORT" "$WORK"/send/i0[0-3]*.dcm >"$WORK/scu1.log" 2>&1
grep -q "Refused: OutOfResources" "$WORK/scu1.log" ||
    fail "the node never refused although the volume filled up: $(tail -5 "$WORK/scu1.log"); df: $(df -h "$WORK/data" | tail -1)"
kill -0 "$NODE_PID" 2>/dev/null || fail "the node died when the disk filled: $(tail "$WORK/node.log")"
storescu_acked "$WORK/scu1.log" >"$WORK/acked.txt"
nacked=$(wc -l <"$WORK/acked.txt")
[ "$nacked" -ge 3 ] || fail "only $nacked instances stored before the volume was full"
check_stored "$WORK/acked.txt" "$WORK/data" || fail "an acknowledged instance is missing or damaged"
echo "refused when full: $(grep -c 'Refused: OutOfResources' "$WORK/scu1.log") instances; df: $(df -h "$WORK/data" | tail -1 | awk '{print $3" used of "$2}')"

# Free space: the node must accept again by itself.
rm -f "$WORK/data/filler"
sleep 1
storescu -v -aec RADNODE 127.0.0.1 "$PORT" "$WORK"/send/i05[0-2].dcm >"$WORK/scu2.log" 2>&1 ||
    fail "after space was freed the node still refuses: $(grep -E 'Refused|Error' "$WORK/scu2.log" | head -3)"
n=$(grep -c "Received Store Response (Success)" "$WORK/scu2.log")
[ "$n" = 3 ] || fail "after space was freed only $n of 3 instances were accepted"
echo "ok: a full volume gives A700 refusals, keeps what was acknowledged, and recovers by itself when space is freed"
