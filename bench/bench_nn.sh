#!/bin/bash
# radnode nn vs PyTorch, side by side in one run: per model, batch-1 latency (median of
# REPEAT runs) and batch-16 throughput, same thread count, and peak memory (max RSS from
# /usr/bin/time -v of each whole process). Prints ratios (>1 means radnode is better).
#
#   bench/bench_nn.sh [BUILD_DIR]      env: THREADS (default 1), REPEAT (30), MODELS,
#                                      BACKENDS (radnode's RN_NN_BACKEND values to run, in
#                                      turn next to the same PyTorch run; default "auto";
#                                      "before" runs $RADNODE_BEFORE, an older build, instead)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "${1:-$ROOT/build}" && pwd)
RADNODE=${RADNODE:-$BUILD/radnode}
PY=/usr/bin/python3
THREADS=${THREADS:-1}
REPEAT=${REPEAT:-30}
BACKENDS=${BACKENDS:-auto}
DATA=$ROOT/tests/data/nn
EXTRA_MODELS=""
# the shipped bone-age model (its PyTorch twin is tools/boneage/model.py, untrained: same cost)
[ -f "$ROOT/models/boneage-v2.onnx" ] && EXTRA_MODELS=boneage
onnx_of() { if [ "$1" = boneage ]; then echo "$ROOT/models/boneage-v2.onnx"; else echo "$DATA/$1.onnx"; fi; }
MODELS=${MODELS:-"resnet18s mobilenetv2s unet2d cnn3d $EXTRA_MODELS"}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
[ -x "$RADNODE" ] || { echo "bench_nn: $RADNODE not built" >&2; exit 1; }

field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p" | head -1; }
rss() { sed -n 's/.*Maximum resident set size (kbytes): \([0-9]*\).*/\1/p'; }

printf "threads=%s repeat=%s (batch 16: repeat/6); times are medians in ms; PyTorch = the faster of eager and frozen TorchScript\n" "$THREADS" "$REPEAT"
printf "%-13s %5s %-7s %9s %9s %9s %9s %8s %8s %9s %9s %6s\n" model batch backend rn_wall rn_cpu pt_wall pt_cpu x_wall x_cpu rn_rssMB pt_rssMB x_mem
for m in $MODELS; do
  for b in 1 16; do
    r=$REPEAT; w=5
    if [ $b = 16 ]; then r=$(( REPEAT / 6 > 3 ? REPEAT / 6 : 3 )); w=1; fi
    args=$($PY "$ROOT/bench/bench_nn.py" inputs "$(onnx_of $m)" "$TMP" $b)
    for be in $BACKENDS; do
      bin=$RADNODE
      [ "$be" = before ] && bin=${RADNODE_BEFORE:?BACKENDS has before: set RADNODE_BEFORE}
      RN_NN_BACKEND=${be/before/auto} /usr/bin/time -v "$bin" nn run "$(onnx_of $m)" $args --threads "$THREADS" \
        --repeat $r --warmup $w >/dev/null 2>"$TMP/rn_$be.txt"
    done
    extra=""
    if [ $m = boneage ]; then
      extra=$($PY -c "import onnx;m=onnx.load('$(onnx_of boneage)');print(','.join(str(d.dim_value or 1) for d in m.graph.input[0].type.tensor_type.shape.dim[1:]))")
    fi
    /usr/bin/time -v $PY "$ROOT/bench/bench_nn.py" torch $m $b "$THREADS" $w $r $extra >"$TMP/pt.txt" 2>"$TMP/pt_err.txt" || true
    pt_rss=$(rss < "$TMP/pt_err.txt")
    read -r pw pc <<<"$($PY - "$TMP/pt.txt" <<'PYEOF'
import re, sys
w, c = [], []
for line in open(sys.argv[1]):
    m = re.search(r"median_ms=([0-9.]+) cpu_ms=([0-9.]+)", line)
    if m:
        w.append(float(m.group(1))); c.append(float(m.group(2)))
print(min(w) if w else "nan", min(c) if c else "nan")
PYEOF
)"
    for be in $BACKENDS; do
      rw=$(field median_ms < "$TMP/rn_$be.txt"); rc=$(field cpu_ms < "$TMP/rn_$be.txt")
      rn_rss=$(rss < "$TMP/rn_$be.txt")
      $PY - <<PYEOF
rw, rc, pw, pc, rr, pr = $rw, $rc, float("$pw"), float("$pc"), $rn_rss / 1024, ${pt_rss:-0} / 1024
print("%-13s %5d %-7s %9.3f %9.3f %9.3f %9.3f %8.2f %8.2f %9.1f %9.1f %6.1f" % ("$m", $b, "$be",
      rw, rc, pw, pc, pw / rw, pc / rc, rr, pr, pr / rr))
if $b == 16:
    print("  batch-16 throughput (CPU time): radnode %.0f img/s, PyTorch %.0f img/s" % (16e3 / rc, 16e3 / pc))
PYEOF
    done
  done
done
echo "x_* = PyTorch / radnode (>1: radnode faster or smaller). RSS is the whole process (PyTorch's includes the Python runtime)."
