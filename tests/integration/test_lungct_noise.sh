#!/bin/bash
# Subsolid nodules in a noisy scan: the random phantom pair of seed 2 at 1.25 mm with 80 HU of
# white noise (tools/phantom/make_ct_phantom.py --noise 80), scored by
# tools/phantom/eval_lungct.py against its truth. At that noise about one ground-glass voxel in
# sixteen falls below the region's threshold; before the region's holes were filled and the
# partial-volume weights made noise-robust (session 9), its part-solid nodules of 10-28.6 mm read
# -31 to -83 % (the 18.7 mm one called solid) and its 17.4 mm ground-glass nodule -17 %. Each
# ground-glass or part-solid nodule >= 8 mm must be found, keep its type and read within 12 %
# in both scans (they read -6.3 ... -0.5 % now). Skips (77) without /usr/bin/python3 + numpy +
# pydicom.
# shellcheck source=tests/integration/lungct_lib.sh
. "$(dirname "$0")/lungct_lib.sh"
lungct_eval --thickness 1.25 --noise 80 --seeds 2 --json "$tmp/noise.json" || exit 1
/usr/bin/python3 - "$tmp/noise.json" <<'PY' || exit 1
import json, sys
rows = [r for r in json.load(open(sys.argv[1]))["rows"]
        if r["type"] != "solid" and r["dmax"] >= 8]
assert len(rows) >= 3, "the phantom should hold >= 3 subsolid nodules >= 8 mm, has %d" % len(rows)
bad = []
for r in rows:
    print("%s %-12s %5.1f mm: found %s as %s, volume %s, prior %s" % (
        r["id"], r["type"], r["dmax"], r["found"], r.get("type_found"), r.get("vol_err"),
        r.get("prior_vol_err")))
    if not r["found"] or r.get("type_found") != r["type"]:
        bad.append(r["id"] + " not found as " + r["type"])
        continue
    for k in ("vol_err", "prior_vol_err"):
        if r.get(k) is None or abs(r[k]) > 0.12:
            bad.append("%s %s %s" % (r["id"], k, r.get(k)))
assert not bad, "subsolid volumes at 80 HU noise: " + "; ".join(bad)
PY
