#!/bin/bash
# The bone-age analyzer refuses images that are not hand radiographs. From the chest CT of
# ../shared/data/ct-lung-pet-ct-dx-A0001 this test makes, in a temporary folder: reconstructed
# chest radiographs (the CT summed along rays at 5, 95, 185 and 265 degrees around the body
# axis: frontal and lateral views, angles off the 10-degree grid the "not a hand" check was
# trained on), one of them inverted (a wrong MONOCHROME1 rendering), and axial slices from the
# upper part of the scan (also not trained on) under lung and soft-tissue windows, a coronal
# slice; each is wrapped as a DX file and given to `radnode analyze --analyzer boneage`.
# Asserted: every one is refused (status "refused"), none gets a bone age. Reported: the refusal
# reasons. Skips (77) without the CT, the model or pydicom/numpy. One real hand (the first
# full-resolution RSNA image, if present) is run too and must be analysed, so the test cannot
# pass by refusing everything.
set -u
SRC=${RN_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
DATA=${RN_SHARED_DATA:-$SRC/../shared/data}
RADNODE=${RADNODE:-$SRC/build/radnode}
CT=$DATA/ct-lung-pet-ct-dx-A0001/series-2
[ -r "$SRC/models/boneage-v2.onnx" ] || { echo "skip: no models/boneage-v2.onnx"; exit 77; }
[ -d "$CT" ] || { echo "skip: no chest CT at $CT"; exit 77; }
[ -x "$RADNODE" ] || { echo "skip: no radnode binary at $RADNODE"; exit 77; }
/usr/bin/python3 -c "import pydicom, numpy, PIL" 2>/dev/null || { echo "skip: no pydicom/numpy/PIL"; exit 77; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
/usr/bin/python3 - "$CT" "$tmp" <<'PY' || { echo "FAIL: could not make the test images"; exit 1; }
import glob, math, sys
import numpy as np, pydicom
from PIL import Image
ct, out = sys.argv[1], sys.argv[2]
ds = sorted((pydicom.dcmread(f) for f in glob.glob(ct + "/*")),
            key=lambda d: float(d.ImagePositionPatient[2]))
vol = np.stack([d.pixel_array * float(d.RescaleSlope) + float(d.RescaleIntercept) for d in ds])
dz = abs(float(ds[1].ImagePositionPatient[2]) - float(ds[0].ImagePositionPatient[2]))
dxy = float(ds[0].PixelSpacing[0]) * 4
z, h, w = vol.shape
v = vol[:, :h // 4 * 4, :w // 4 * 4].reshape(z, h // 4, 4, w // 4, 4).mean(axis=(2, 4))
mu = np.clip((v + 1000) / 1000, 0, None)

def save(img, name, stretch=True):
    img = np.asarray(img, dtype=np.float64)
    if stretch:
        lo, hi = np.percentile(img, [1, 99])
        img = np.clip((img - lo) / max(hi - lo, 1e-6), 0, 1)
    Image.fromarray((img * 255).astype(np.uint8)).save("%s/%s.png" % (out, name))

def drr(angle):
    a = math.radians(angle)
    n = mu.shape[1]
    c = (n - 1) / 2
    yy, xx = np.mgrid[0:n, 0:n] - c
    sy = np.cos(a) * yy - np.sin(a) * xx + c   # rotate the sampling grid about the body axis
    sx = np.sin(a) * yy + np.cos(a) * xx + c
    y0, x0 = np.floor(sy).astype(int), np.floor(sx).astype(int)
    fy, fx = sy - y0, sx - x0
    ok = (y0 >= 0) & (x0 >= 0) & (y0 < n - 1) & (x0 < n - 1)
    y0, x0 = np.clip(y0, 0, n - 2), np.clip(x0, 0, n - 2)
    r = (mu[:, y0, x0] * (1 - fy) * (1 - fx) + mu[:, y0 + 1, x0] * fy * (1 - fx) +
         mu[:, y0, x0 + 1] * (1 - fy) * fx + mu[:, y0 + 1, x0 + 1] * fy * fx) * ok
    p = r.sum(axis=1)[::-1]                    # [z, x], head up
    img = 1 - np.exp(-3 * p / p.max())
    rows = max(8, int(round(p.shape[0] * dz / dxy)))
    return np.asarray(Image.fromarray(img.astype(np.float32)).resize((p.shape[1], rows)))

for ang in (5, 95, 185, 265):
    save(drr(ang), "drr%03d" % ang)
save(1 - drr(185), "drr185_inverted")
for k in (48, 56):
    save(np.clip((vol[k] + 1000) / 1200, 0, 1), "axial%d_lung" % k, stretch=False)
    save(np.clip((vol[k] + 160) / 400, 0, 1), "axial%d_soft" % k, stretch=False)
cor = v[::-1, v.shape[1] // 2, :]
save(np.clip((cor + 1000) / 1200, 0, 1), "coronal", stretch=False)
PY

WRAP="/usr/bin/python3 $SRC/tools/boneage/wrap_dicom.py"
mkdir -p "$tmp/in"
for png in "$tmp"/*.png; do
    name=$(basename "$png" .png)
    $WRAP "$png" "$tmp/in/$name.dcm" --modality DX --sex M --age 010Y --patient-id "$name" ||
        { echo "FAIL: wrap $name"; exit 1; }
done
HAND=$DATA/boneage-rsna-fullres
hand_id=""
if [ -r "$HAND/labels.csv" ]; then
    hand_id=$(tail -n +2 "$HAND/labels.csv" | head -1 | cut -d, -f1)
    $WRAP "$HAND/$hand_id.png" "$tmp/in/hand.dcm" --modality DX --sex M --age 010Y \
        --patient-id HAND || { echo "FAIL: wrap hand"; exit 1; }
fi
"$RADNODE" analyze --analyzer boneage --json --models "$SRC/models" --objects sr \
    --out "$tmp/out" "$tmp/in" > "$tmp/results.jsonl" 2> "$tmp/stderr.txt"
/usr/bin/python3 - "$tmp/results.jsonl" "$hand_id" <<'PY'
import json, sys
seen, fail = {}, 0
for ln in open(sys.argv[1]):
    ln = ln.strip()
    if not ln:
        continue
    j = json.loads(ln)
    for f in (j if isinstance(j, list) else [j]):
        seen[f.get("patient_id")] = f
for name, f in sorted(seen.items()):
    oc = f.get("details", {}).get("orientation_check", {})
    what = f.get("refusal_reason") or f.get("bone_age_months")
    print("%-18s %-8s %s (not-a-hand p=%s)" % (name, f.get("status"), what,
                                              oc.get("not_hand_probability")))
    if name == "HAND":
        if f.get("status") != "ok":
            print("FAIL: the real hand radiograph was not analysed"); fail = 1
    elif f.get("status") != "refused":
        print("FAIL: %s is not a hand radiograph but was not refused" % name); fail = 1
if len([n for n in seen if n != "HAND"]) != 10:
    print("FAIL: expected 10 non-hand results, got %d" % len([n for n in seen if n != "HAND"]))
    fail = 1
if sys.argv[2] and "HAND" not in seen:
    print("FAIL: no result for the hand"); fail = 1
sys.exit(fail)
PY
