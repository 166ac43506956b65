#!/bin/bash
# Metadata reading and pixel decoding, radnode against DCMTK on the same files
# in one run, printed as ratios (DCMTK time / radnode time: > 1 means radnode
# is faster). Inputs are made here from ../shared/data (the TCIA chest CT and
# an RSNA hand radiograph) with DCMTK's own compressors.
#
# Each tool runs once per file (process start included), as an operator runs
# it. The two tools alternate, pass by pass (radnode first on odd passes, DCMTK
# first on even ones), so background load on a shared machine falls on both
# alike. Per tool it prints the median over the passes of the time per file:
# wall time, and CPU time (user + system of the child processes), which
# waiting for a busy core does not inflate. The first row is the bare process
# start (`--version`), the floor under every other row.
#   usage: bench/bench_dicom.sh [REPEAT]        env: RADNODE (default build/radnode)
set -eu
cd "$(dirname "$0")/.."
RADNODE=${RADNODE:-build/radnode}
SHARED=${RN_SHARED_DATA:-../shared/data}
REPEAT=${1:-5}
CT="$SHARED/ct-lung-pet-ct-dx-A0001/series-2"
HAND="$SHARED/boneage-rsna-fullres"
PY=/usr/bin/python3
[ -x "$RADNODE" ] || { echo "build radnode first (make)"; exit 1; }
[ -d "$CT" ] || { echo "SKIP: $CT not present"; exit 0; }
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
mkdir -p "$W"/{ct,jpegll,jpegls,rle,base}
ls "$CT"/*.dcm 2>/dev/null | head -32 > "$W/list" || true
[ -s "$W/list" ] || find "$CT" -type f | head -32 > "$W/list"
i=0
while read -r f; do
    i=$((i+1)); n=$(printf %03d $i)
    cp "$f" "$W/ct/$n.dcm"
    dcmcjpeg +e1 "$f" "$W/jpegll/$n.dcm"    # JPEG lossless SV1
    dcmcjpls "$f" "$W/jpegls/$n.dcm"        # JPEG-LS lossless
    dcmcrle "$f" "$W/rle/$n.dcm"            # RLE lossless
done < "$W/list"
# JPEG baseline: the hand radiographs as 8-bit DX via img2dcm (JPEG passed through).
if [ -d "$HAND" ]; then
    for p in "$HAND"/*.png; do
        b=$(basename "$p" .png)
        $PY -c "from PIL import Image; Image.open('$p').convert('L').save('$W/$b.jpg', quality=90)"
        img2dcm -q "$W/$b.jpg" "$W/base/$b.dcm"
    done
fi

echo "radnode: $RADNODE ($(ldd "$RADNODE" | wc -l) shared libraries loaded at start)"
echo "files: $(ls "$W/ct" | wc -l) CT slices 512x512 16-bit, $(ls "$W/base" | wc -l) hand radiographs; $REPEAT passes"
$PY - "$W" "$REPEAT" "$RADNODE" <<'PYEOF'
import glob, os, resource, statistics, subprocess, sys, time

w, repeat, radnode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
out = os.path.join(w, "out.bin")

def one_pass(argv_of, files):
    """Runs argv_of(f) for every file; returns (wall, cpu) seconds per file."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    for f in files:
        p = subprocess.run(argv_of(f), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if p.returncode != 0:
            sys.exit("failed: " + " ".join(argv_of(f)))
    t1 = time.perf_counter()
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    return (t1 - t0) / len(files), cpu / len(files)

def row(label, files, rn, dc):
    if not files:
        return
    res = {"rn": [], "dc": []}
    for r in range(repeat):
        order = [("rn", rn), ("dc", dc)] if r % 2 == 0 else [("dc", dc), ("rn", rn)]
        for key, argv_of in order:
            res[key].append(one_pass(argv_of, files))
    med = {k: (statistics.median(x[0] for x in v) * 1e3, statistics.median(x[1] for x in v) * 1e3)
           for k, v in res.items()}
    (rw, rc), (dw, dcpu) = med["rn"], med["dc"]
    print("%-30s %9.2f %9.2f %9.2f %9.2f %7.2fx %7.2fx" % (label, rw, rc, dw, dcpu, dw / rw, dcpu / rc))

files = lambda d: sorted(glob.glob(os.path.join(w, d, "*.dcm")))
print("%-30s %9s %9s %9s %9s %8s %8s" % ("ms per file (median)", "rn_wall", "rn_cpu", "dcmtk_wall",
                                         "dcmtk_cpu", "x_wall", "x_cpu"))
ct = files("ct")
row("process start (--version)", ct[:8], lambda f: [radnode, "--version"],
    lambda f: ["dcmdump", "--version"])
row("header read (dump/dcmdump)", ct, lambda f: [radnode, "dump", f], lambda f: ["dcmdump", f])
dec = lambda f: [radnode, "decode", f, "--raw", out]
row("JPEG lossless SV1 (dcmdjpeg)", files("jpegll"), dec, lambda f: ["dcmdjpeg", f, out])
row("JPEG-LS lossless (dcmdjpls)", files("jpegls"), dec, lambda f: ["dcmdjpls", f, out])
row("RLE (dcmdrle)", files("rle"), dec, lambda f: ["dcmdrle", f, out])
row("JPEG baseline ~1500x1900", files("base"), dec, lambda f: ["dcmdjpeg", f, out])
print("x_* = DCMTK / radnode (> 1: radnode faster); one process per file, start-up included")
PYEOF
