#!/bin/bash
# `radnode analyze --json` with the lungct analyzer on a small phantom (tools/phantom):
# one JSON line with analyzer, series_instance_uid, lung_volume_ml and nodules whose items
# carry center_patient_mm, volume_mm3, long/short axis, type and lung_rads; and a 6 mm
# phantom slice series refused with "error". Skips (77) without python3+numpy+pydicom.
set -u
: "${RADNODE:?}" "${RN_SOURCE_DIR:?}"
if ! /usr/bin/python3 -c 'import numpy, pydicom' 2>/dev/null; then
    echo "SKIP: /usr/bin/python3 with numpy and pydicom is needed for the phantom"; exit 77
fi
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
/usr/bin/python3 "$RN_SOURCE_DIR/tools/phantom/make_ct_phantom.py" "$tmp/ph" --thickness 2.5 --size 160 || exit 1
/usr/bin/python3 "$RN_SOURCE_DIR/tools/phantom/make_ct_phantom.py" "$tmp/thick" --thickness 6 --slices 12 || exit 1
rm -f "$tmp/ph/truth.json" "$tmp/thick/truth.json"
"$RADNODE" analyze "$tmp/ph" --out "$tmp/out" --json --objects sr > "$tmp/ph.json" 2> "$tmp/ph.err"
"$RADNODE" analyze "$tmp/thick" --out "$tmp/out2" --json --objects sr > "$tmp/thick.json" 2>> "$tmp/ph.err"
if grep -q "no analyzers built in\|no such analyzer" "$tmp/ph.err"; then
    echo "FAIL: lungct is not linked into radnode (the registry references it weakly; the"
    echo "      static library member must be pulled in, e.g. --whole-archive)"; exit 1
fi
/usr/bin/python3 - "$tmp/ph.json" "$tmp/thick.json" <<'PY' || exit 1
import json, sys
f = json.loads(open(sys.argv[1]).readline())
assert f["analyzer"] == "lungct" and f["status"] == "ok", f.get("error")
assert f["series_instance_uid"] and 100 < f["lung_volume_ml"] < 400, f["lung_volume_ml"]
assert len(f["nodules"]) >= 6, len(f["nodules"])
for n in f["nodules"]:
    for k in ("center_patient_mm", "volume_mm3", "long_axis_mm", "short_axis_mm", "type", "lung_rads"):
        assert k in n, k
t = json.loads(open(sys.argv[2]).readline())
assert t["status"] == "refused" and "slice thickness" in t["error"], t
print("lungct analyze: %d nodules, lungs %.0f mL; 6 mm series refused: %s"
      % (len(f["nodules"]), f["lung_volume_ml"], t["error"]))
PY
