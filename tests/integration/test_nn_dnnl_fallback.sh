#!/bin/bash
# The oneDNN convolution backend is optional (src/nn/conv_dnnl.c opens libdnnl.so.2 with
# dlopen): with RN_NN_BACKEND=dnnl, `radnode nn run` must use oneDNN where the library opens
# and fall back to the native kernels, with the same results as RN_NN_BACKEND=native bit for
# bit, where it does not. The library is hidden from one radnode process by bind-mounting
# /dev/null over it in a private mount namespace (unshare -m; exit 77 where that is not
# permitted). No peer exists for this: the reference is PyTorch's output saved with the
# parity model (tests/data/nn), compared within the parity tolerance.
set -euo pipefail
RADNODE=${RADNODE:?}
SRC=${RN_SOURCE_DIR:?}
DATA=$SRC/tests/data/nn
PY=/usr/bin/python3
LIB=$(readlink -f /usr/lib/x86_64-linux-gnu/libdnnl.so.2 2>/dev/null || true)
if [ -z "$LIB" ] || [ ! -f "$LIB" ]; then
    echo "SKIP: libdnnl.so.2 not installed (nothing to hide; the parity tests cover native)"
    exit 77
fi
if [ ! -f /usr/include/dnnl.h ]; then
    echo "SKIP: libdnnl-dev absent: radnode was built without the oneDNN backend"
    exit 77
fi
if ! unshare -m --propagation private true 2>/dev/null; then
    echo "SKIP: unshare -m not permitted here"
    exit 77
fi
WORK=$(mktemp -d /tmp/rn_nn_dnnl.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

# batch of 4 copies of the parity input (float32 .npy without numpy)
$PY - "$DATA/resnet18s_in_input.npy" "$WORK/in4.npy" <<'EOF'
import sys, ast
b = open(sys.argv[1], 'rb').read()
assert b[:6] == b'\x93NUMPY'
hl = int.from_bytes(b[8:10], 'little') if b[6] == 1 else int.from_bytes(b[8:12], 'little')
off = (10 if b[6] == 1 else 12) + hl
hdr = ast.literal_eval(b[off - hl:off].decode('latin1'))
shape = (4,) + tuple(hdr['shape'][1:])
h = "{'descr': '<f4', 'fortran_order': False, 'shape': %r, }" % (shape,)
h = h + ' ' * (63 - (10 + len(h)) % 64) + '\n'
with open(sys.argv[2], 'wb') as f:
    f.write(b'\x93NUMPY\x01\x00' + len(h).to_bytes(2, 'little') + h.encode('latin1'))
    f.write(b[off:] * 4)
EOF

run() { # $1 backend, $2 output file, rest: prefix command
    local be=$1 out=$2
    shift 2
    env RN_NN_BACKEND="$be" "$@" "$RADNODE" nn run "$DATA/resnet18s.onnx" \
        --in input="$WORK/in4.npy" --out output="$out" --threads 1 >"$out.log" 2>&1 ||
        { echo "FAIL: RN_NN_BACKEND=$be $*"; cat "$out.log"; exit 1; }
}
run native "$WORK/native.npy"
run dnnl "$WORK/dnnl.npy"
# the library hidden: dlopen fails, every conv falls back to the native kernels
run dnnl "$WORK/hidden.npy" unshare -m --propagation private sh -c \
    "mount --bind /dev/null '$LIB' && exec \"\$0\" \"\$@\""

$PY - "$WORK" "$DATA/resnet18s_out_output.npy" <<'EOF'
import sys, array
def load(p):
    b = open(p, 'rb').read()
    hl = int.from_bytes(b[8:10], 'little') if b[6] == 1 else int.from_bytes(b[8:12], 'little')
    a = array.array('f'); a.frombytes(b[(10 if b[6] == 1 else 12) + hl:]); return a
w = sys.argv[1]
native, dnnl, hidden, ref = (load(w + '/native.npy'), load(w + '/dnnl.npy'),
                             load(w + '/hidden.npy'), load(sys.argv[2]))
n = len(ref)
assert len(native) == len(dnnl) == len(hidden) == 4 * n, (len(native), n)
def check(name, a):
    worst = 0.0
    for i, v in enumerate(a):
        r = ref[i % n]; d = abs(v - r)
        if d > 1e-5 and d > 1e-4 * abs(r):
            sys.exit("FAIL: %s element %d is %r, PyTorch %r" % (name, i, v, r))
        worst = max(worst, d)
    print("%s: %d values within tolerance of PyTorch (max abs err %.2g)" % (name, len(a), worst))
check('native', native); check('dnnl', dnnl); check('dnnl, library hidden', hidden)
if hidden.tobytes() != native.tobytes():
    sys.exit("FAIL: without libdnnl.so.2 the output differs from the native backend's")
if dnnl.tobytes() == native.tobytes():
    sys.exit("FAIL: RN_NN_BACKEND=dnnl gave the native output bit for bit: oneDNN not used?")
print("library hidden: identical to native; library present: oneDNN's own rounding")
EOF
echo "PASS"
