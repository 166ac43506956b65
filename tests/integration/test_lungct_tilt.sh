#!/bin/bash
# A chest CT acquired with a tilted gantry (12 degrees): the slices are parallel planes whose
# positions move sideways along the table. radnode shifts each slice in-plane onto an orthogonal
# grid (PS3.3 C.7.6.2.1.1 geometry from Image Position / Orientation (Patient)) instead of
# refusing the series. The phantom pair of test_lungct_phantom_random.sh, written tilted by
# tools/phantom/make_ct_phantom.py --tilt, is scored by tools/phantom/eval_lungct.py --check:
# sensitivity and volume floors, VDT of free nodules, subsolid volumes; findings are matched to
# the truth in patient coordinates, so a wrong shift direction or size would miss them.
# Skips (77) without /usr/bin/python3 + numpy + pydicom.
# shellcheck source=tests/integration/lungct_lib.sh
. "$(dirname "$0")/lungct_lib.sh"
lungct_eval --thickness 1.25 --seeds 1 --tilt 12 --check || exit 1
# the resampling is reported to the reader (details.warnings, notes)
/usr/bin/python3 - "$tmp" "$RADNODE" <<'PY' || exit 1
import glob, json, os, subprocess, sys
tmp, radnode = sys.argv[1], sys.argv[2]
cur = [d for d in glob.glob(tmp + "/*_cur") if os.path.isdir(d)][0]
out = subprocess.run([radnode, "analyze", cur, "--json"], capture_output=True, text=True).stdout
f = json.loads(out.splitlines()[0])
warn = " ".join(f.get("details", {}).get("warnings", []) + f.get("warnings", []))
print("warnings:", warn)
assert "gantry tilt of 12.0 degrees" in warn, "no tilt warning"

# Hostile geometry is refused with the reason, not analysed: one slice moved sideways off the
# tilt's line by 0.3 mm (an irregular shear), and a slice taken out (a gap).
import pydicom, shutil
def refused(mutate, expect):
    d = os.path.join(tmp, "bad")
    shutil.rmtree(d, ignore_errors=True)
    shutil.copytree(cur, d)
    files = sorted(glob.glob(d + "/*.dcm"))
    mutate(files)
    out = subprocess.run([radnode, "analyze", d, "--json"], capture_output=True,
                         text=True).stdout
    f = json.loads(out.splitlines()[0])
    print("%s: %s" % (expect, f.get("error")))
    assert f.get("status") == "refused" and expect in (f.get("error") or ""), f.get("error")
def shift_one(files):
    ds = pydicom.dcmread(files[len(files) // 2])
    ds.ImagePositionPatient = [float(ds.ImagePositionPatient[0]) + 0.3,
                               float(ds.ImagePositionPatient[1]),
                               float(ds.ImagePositionPatient[2])]
    ds.save_as(files[len(files) // 2])
refused(shift_one, "sheared irregularly")
refused(lambda files: os.remove(files[len(files) // 2]), "missing slices")

# A 25-degree tilt puts the slice planes beyond what the analyzer measures on (18 degrees off
# axial): refused, and the reason names the tilt.
def small_phantom(name, *args):  # 20 slices of the fixed phantom, without its truth file
    d = os.path.join(tmp, name)
    subprocess.run(["/usr/bin/python3", os.path.join(os.environ["RN_SOURCE_DIR"], "tools",
                    "phantom", "make_ct_phantom.py"), d, "--slices", "20", *args], check=True,
                   stdout=subprocess.DEVNULL)
    os.remove(os.path.join(d, "truth.json"))
    return d
cur = small_phantom("t25", "--tilt", "25")
refused(lambda files: None, "gantry tilt of 25.0 degrees")
# Untilted, one slice moved sideways by 0.3 mm on its own: refused as well.
cur = small_phantom("t0")
refused(shift_one, "sheared irregularly")
PY
