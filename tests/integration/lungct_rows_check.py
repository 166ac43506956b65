#!/usr/bin/python3
"""Checks the rows of tools/phantom/eval_lungct.py --json for one kind of nodule across a
follow-up: each must be found, matched with its prior, read within --vol-tol in both scans
and, where it grew >= 25 %, have its VDT within 10 % (unless --no-vdt). Exit 1 with the
reasons otherwise.
Used by test_lungct_vessel.sh, test_lungct_pleura.sh, test_lungct_subsolid.sh and
test_lungct_blur.sh."""
import argparse
import json
import sys

ap = argparse.ArgumentParser()
ap.add_argument("json")
ap.add_argument("--attachment", required=True)
ap.add_argument("--type", help="only this type (solid, part-solid, ground-glass)")
ap.add_argument("--min-mm", type=float, required=True, help="smallest largest diameter")
ap.add_argument("--vol-tol", type=float, required=True, help="allowed |volume error|, 0.08 = 8 %")
ap.add_argument("--min-rows", type=int, default=2, help="the phantom must hold this many")
ap.add_argument("--no-vdt", action="store_true", help="volumes only: no VDT asked")
a = ap.parse_args()
rows = [r for r in json.load(open(a.json))["rows"]
        if r["attachment"] == a.attachment and r["dmax"] >= a.min_mm
        and (a.type is None or r["type"] == a.type)]
what = "%s nodules >= %g mm %s" % (a.type or "all", a.min_mm,
                                  "free" if a.attachment == "free" else "on the " + a.attachment)
if len(rows) < a.min_rows:
    sys.exit("the phantom should hold >= %d %s, has %d" % (a.min_rows, what, len(rows)))
bad = []
for r in rows:
    print("%s %-12s %5.1f mm grown %+.0f %%: %s, volume %s, prior %s, VDT %s" % (
        r["id"], r["type"], r["dmax"], 100 * (r.get("growth") or 0), r.get("status"),
        r.get("vol_err"), r.get("prior_vol_err"), r.get("vdt_err")))
    if not r["found"] or r.get("status") != "matched":
        bad.append("%s %s" % (r["id"], "not found" if not r["found"] else r.get("status")))
        continue
    for k in ("vol_err", "prior_vol_err"):
        if r.get(k) is None or abs(r[k]) > a.vol_tol:
            bad.append("%s %s %s" % (r["id"], k, r.get(k)))
    vdt = r.get("vdt_err")
    grown = (r.get("growth") or 0) >= 0.25
    if not a.no_vdt and grown and (vdt is None or abs(vdt) > 0.10 + 1e-9):
        bad.append("%s VDT %s" % (r["id"], vdt))
if bad:
    sys.exit("%s: %s" % (what, "; ".join(bad)))
