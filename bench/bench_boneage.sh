#!/bin/bash
# Bone-age analyzer benchmark: time per image (preprocessing + inference, from the analyzer's own
# timing in the findings' details.timing_ms, and the wall time of the whole `radnode analyze`
# process) and peak memory (/usr/bin/time -v, maximum resident set size), on 2 threads, for the
# full-resolution RSNA radiographs wrapped as DX and their 299 px versions wrapped as SC (in a
# temporary folder). Not a test: it prints figures.
#   bench/bench_boneage.sh [BUILD_DIR]      (model: models/boneage-v2.onnx or $RN_BONEAGE_MODEL)
set -u
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$SRC/build}
RADNODE=$BUILD/radnode
DATA=${RN_SHARED_DATA:-$SRC/../shared/data}
FULL=$DATA/boneage-rsna-fullres
[ -x "$RADNODE" ] || { echo "no $RADNODE"; exit 1; }
[ -r "$FULL/labels.csv" ] || { echo "no $FULL"; exit 1; }
[ -n "${RN_BONEAGE_MODEL:-}" ] || [ -r "$SRC/models/boneage-v2.onnx" ] || { echo "no model"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for png in "$FULL"/*.png; do
    id=$(basename "$png" .png)
    /usr/bin/python3 "$SRC/tools/boneage/wrap_dicom.py" "$png" "$tmp/$id-full.dcm" --sex M --birth 20140101
    /usr/bin/python3 "$SRC/tools/boneage/wrap_dicom.py" "$DATA/boneage-rsna-299px/images/$id.jpg" \
        "$tmp/$id-small.dcm" --modality SC --sex M --birth 20140101
done
echo "kind   id    rows x cols   prep_ms  infer_ms  wall_s  peak_MiB   (2 threads, 5 TTA passes)"
for f in "$tmp"/*.dcm; do
    name=$(basename "$f" .dcm)
    /usr/bin/time -v -o "$tmp/time.txt" "$RADNODE" analyze --analyzer boneage --json \
        --models "$SRC/models" --objects sr --out "$tmp/out" "$f" > "$tmp/out.json" 2>/dev/null
    /usr/bin/python3 - "$tmp/out.json" "$tmp/time.txt" "$name" "$f" <<'PY'
import json, re, sys
import pydicom
j = json.loads(open(sys.argv[1]).readline())
j = j[0] if isinstance(j, list) else j
t = open(sys.argv[2]).read()
wall = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+(?:\.\d+)?)$", t, re.M)
wall_s = (float(wall.group(1) or 0) * 60 + float(wall.group(2))) if wall else float("nan")
rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", t).group(1)) / 1024
ds = pydicom.dcmread(sys.argv[4], stop_before_pixels=True)
tm = j.get("details", {}).get("timing_ms", {})
ident, kind = sys.argv[3].split("-")
print("%-6s %-5s %5d x %-5d %8.1f %9.1f %7.2f %9.1f" % (kind, ident, ds.Rows, ds.Columns,
      tm.get("preprocessing", float("nan")), tm.get("inference", float("nan")), wall_s, rss))
PY
done
