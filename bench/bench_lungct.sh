#!/bin/bash
# Lung-nodule analyzer benchmark (issue 8): analysis time and peak memory of `radnode analyze`
# on a 300-slice chest CT (512 x 512 pixels of 0.7 mm, 1 mm slices, 12 random nodules of
# 3-30 mm: tools/phantom/make_ct_phantom.py --random), alone and with its prior (follow-up:
# two volumes, registration, matching), on 2 threads; and on the real 64-slice CT of
# ../shared/data when present. Wall and CPU time and the maximum resident set size come from
# /usr/bin/time -v; "analysis" is the analyzer's own details.analysis_seconds (volume assembly
# to findings, without reading the files). Median of ROUNDS runs. Not a test: it prints figures.
#   bench/bench_lungct.sh [BUILD_DIR]     env: ROUNDS (3), SLICES (300), KEEP=dir (reuse phantoms)
set -u
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$SRC/build}
RADNODE=$BUILD/radnode
ROUNDS=${ROUNDS:-3}
SLICES=${SLICES:-300}
DATA=${RN_SHARED_DATA:-$SRC/../shared/data}
[ -x "$RADNODE" ] || { echo "no $RADNODE"; exit 1; }
/usr/bin/python3 -c 'import numpy, pydicom' 2>/dev/null || { echo "needs /usr/bin/python3 with numpy, pydicom"; exit 1; }
W=${KEEP:-$(mktemp -d /tmp/rn_bench_lungct.XXXXXX)}
mkdir -p "$W"
[ -n "${KEEP:-}" ] || trap 'rm -rf "$W"' EXIT
for k in cur prior; do
    [ -r "$W/$k.truth.json" ] && continue
    echo "writing the $k phantom ($SLICES slices of 512 x 512) ..."
    /usr/bin/python3 "$SRC/tools/phantom/make_ct_phantom.py" "$W/$k" --random 12 --seed 5 \
        --thickness 1 --slices "$SLICES" --size 512 $([ $k = prior ] && echo --prior) || exit 1
    mv "$W/$k/truth.json" "$W/$k.truth.json"
done

run() {   # label, args...
    local label=$1; shift
    for r in $(seq "$ROUNDS"); do
        /usr/bin/time -v -o "$W/time.txt" "$RADNODE" analyze --json "$@" > "$W/out.json" 2>/dev/null
        /usr/bin/python3 - "$W/out.json" "$W/time.txt" <<'PY'
import json, re, sys
j = json.loads(open(sys.argv[1]).readline())
t = open(sys.argv[2]).read()
w = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+(?:\.\d+)?)$", t, re.M)
wall = float(w.group(1) or 0) * 60 + float(w.group(2))
cpu = sum(float(re.search(p, t).group(1)) for p in (r"User time \(seconds\): ([\d.]+)",
                                                     r"System time \(seconds\): ([\d.]+)"))
rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", t).group(1)) / 1024
print("%.2f %.2f %.0f %.2f %d %s" % (wall, cpu, rss, j.get("details", {}).get("analysis_seconds", -1),
                                     len(j.get("nodules", [])), j.get("status")))
PY
    done > "$W/rounds.txt"
    sort -n "$W/rounds.txt" | awk -v l="$label" -v n="$ROUNDS" '
        { w[NR]=$1; c[NR]=$2; m[NR]=$3; a[NR]=$4; k=$5; s=$6 }
        END { i=int((n+1)/2); printf "%-34s %7.2f %7.2f %9.2f %8.0f %6d  %s\n", l, w[i], c[i], a[i], m[i], k, s }'
}
echo
echo "$(nproc) CPUs; load average $(cut -d' ' -f1-3 /proc/loadavg); median of $ROUNDS runs"
printf "%-34s %7s %7s %9s %8s %6s  %s\n" "case" "wall_s" "cpu_s" "analysis" "peak_MiB" "found" "status"
run "phantom ${SLICES} slices" "$W/cur"
run "phantom ${SLICES} slices + prior" "$W/cur" --prior "$W/prior"
CT=$DATA/ct-lung-pet-ct-dx-A0001
if [ -d "$CT" ]; then
    d=$(dirname "$(find "$CT" -name '*.dcm' | head -1)")
    run "real CT A0001 ($(ls "$d" | grep -c dcm) slices)" "$d"
else
    echo "(no $CT: the real-CT row is skipped)"
fi
