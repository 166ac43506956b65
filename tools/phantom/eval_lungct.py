#!/usr/bin/python3
"""Issue 8's phantom study: random-layout CT pairs (make_ct_phantom.py --random), analysed by
`radnode analyze CUR --prior PRIOR`, compared with the phantom's truth.

For every slice thickness, noise level and seed it writes a current scan and a prior scan
(--days earlier, each nodule smaller by its doubling time, the patient shifted and rotated),
runs radnode and matches the findings to the true nodules (a finding matches when its centre
lies within max(radius, 2.5 mm) + 1.5 mm of a true centre; each true nodule takes at most one
finding; every finding left over is a false positive, duplicates included). It prints, per
slice thickness and size class (3-5, 5-8, 8-15, 15-30 mm, by the largest diameter now):
sensitivity, median absolute and signed volume error, and for pairs that grew by 25 % or more
the VDT error (a nodule on the pleura is compared with the volume and doubling time of its part
inside the lung, as make_ct_phantom.py writes them); per thickness the false positives per
scan; then issue 8's three floors.

Usage: eval_lungct.py [--radnode build/radnode] [--work /tmp/rn_lungeval]
         [--thickness 0.625,1.25,2.5,5] [--noise 15] [--seeds 1,2] [--count 12] [--days 180]
         [--new K] [--tilt DEG] [--pixel 0.7] [--overlap PERCENT] [--psf 0.5]
         [--ssp box|gauss] [--fissures]
         [--json summary.json] [--check]
Phantoms are kept in --work and reused when they exist (delete the folder to regenerate).
Needs /usr/bin/python3 with numpy and pydicom.
"""
import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
CLASSES = [(3, 5), (5, 8), (8, 15), (15, 30.01)]
PIXEL_MM = 0.7  # make_ct_phantom.py's default pixel
PSF_MM = 0.5  # make_ct_phantom.py's default in-plane blur (Gaussian sigma)
REPORT_FLOOR_MM = 2.5  # nodules.c MIN_DIAMETER_MM: smaller findings are not reported


def phantom_dir(work, th, noise, seed, new, kind, tilt=0.0, pixel=PIXEL_MM, nps="white",
                overlap=0, psf=PSF_MM, ssp="box", fissures=False):
    return os.path.join(work, "t%s_n%g_s%d%s%s%s%s%s%s%s%s_%s" % (th, noise, seed,
                                                            "_new%d" % new if new else "",
                                                            "_tilt%g" % tilt if tilt else "",
                                                            "_px%g" % pixel if pixel != PIXEL_MM
                                                            else "",
                                                            "_nps" + nps if nps != "white"
                                                            else "",
                                                            "_ov%g" % overlap if overlap else "",
                                                            "_psf%g" % psf if psf != PSF_MM
                                                            else "",
                                                            "_ssp" + ssp if ssp != "box" else "",
                                                            "_fis" if fissures else "",
                                                            kind))


def phantom(work, th, noise, seed, count, days, prior, new, tilt=0.0, pixel=PIXEL_MM,
            nps="white", overlap=0, psf=PSF_MM, ssp="box", fissures=False):
    # prior: False (the current scan), True (the prior) or "stable" (a prior without growth)
    d = phantom_dir(work, th, noise, seed, new,
                    "stable" if prior == "stable" else "prior" if prior else "cur", tilt, pixel,
                    nps, overlap, psf, ssp, fissures)
    if not os.path.exists(os.path.join(d, "truth.json")):
        cmd = [sys.executable, os.path.join(HERE, "make_ct_phantom.py"), d, "--random", str(count),
               "--thickness", str(th), "--noise", str(noise), "--seed", str(seed),
               "--days", str(days), "--new", str(new), "--tilt", str(tilt),
               "--pixel", str(pixel), "--nps", nps, "--psf", str(psf),
               "--ssp", ssp]
        if overlap:
            cmd += ["--increment", str(th * (1 - overlap / 100.0))]
        if fissures:
            cmd.append("--fissures")
        if prior:
            cmd.append("--prior")
        if prior == "stable":
            cmd.append("--stable")
        subprocess.run(cmd, check=True)
    truth = json.load(open(os.path.join(d, "truth.json")))
    # radnode reads the folder: keep the truth beside it, not in it
    os.replace(os.path.join(d, "truth.json"), d + ".truth.json")
    return d, truth


def load_truth(d):
    p = d + ".truth.json"
    return json.load(open(p)) if os.path.exists(p) else None


def deq(t):
    """The volume-equivalent diameter (mm) of a truth entry's whole ellipsoid."""
    d = t["diameters_mm"]
    return (d[0] * d[1] * d[2]) ** (1.0 / 3.0)


def size_class(dmax):
    for lo, hi in CLASSES:
        if lo <= dmax < hi:
            return "%g-%g" % (lo, min(hi, 30))
    return "other"


def match(nodules, findings):
    pairs = []
    for i, t in enumerate(nodules):
        rad = max(t["diameters_mm"]) / 2
        for j, f in enumerate(findings):
            dist = math.dist(t["center_patient_mm"], f["center_patient_mm"])
            if dist <= max(rad, 2.5) + 1.5:
                pairs.append((dist, i, j))
    pairs.sort()
    ti, fj, m = set(), set(), {}
    for dist, i, j in pairs:
        if i in ti or j in fj:
            continue
        ti.add(i)
        fj.add(j)
        m[i] = j
    return m, [f for j, f in enumerate(findings) if j not in fj]


def within10(err):
    """VDT within 10 % of the truth. radnode reports whole days, so a VDT of exactly 10 % off
    (484 d for 440 d) comes out as 0.10000000000000009: compared at 1e-9."""
    return abs(err) <= 0.10 + 1e-9


def med(v):
    return statistics.median(v) if v else float("nan")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--radnode", default=os.path.join(REPO, "build", "radnode"))
    ap.add_argument("--work", default="/tmp/rn_lungeval")
    ap.add_argument("--thickness", default="0.625,1.25,2.5,5")
    ap.add_argument("--noise", default="15")
    ap.add_argument("--seeds", default="1,2")
    ap.add_argument("--count", type=int, default=12)
    ap.add_argument("--days", type=float, default=180)
    ap.add_argument("--new", type=int, default=0, metavar="K",
                    help="K more nodules per pair that are absent from the prior (new); they "
                         "must be called new, and are left out of the other figures")
    ap.add_argument("--json", default="")
    ap.add_argument("--tilt", type=float, default=0.0,
                    help="gantry tilt of both scans in degrees (resampled by radnode)")
    ap.add_argument("--pixel", type=float, default=PIXEL_MM,
                    help="in-plane pixel size of both scans (mm)")
    ap.add_argument("--nps", choices=("white", "ct"), default="white",
                    help="noise texture (make_ct_phantom.py --nps): white, or ct (correlated "
                         "in-plane as after filtered back-projection)")
    ap.add_argument("--overlap", type=float, default=0, metavar="PERCENT",
                    help="slices overlapping by this share of their thickness (50: a 1.25 mm "
                         "series reconstructed every 0.625 mm), same extent")
    ap.add_argument("--psf", type=float, default=PSF_MM, metavar="MM",
                    help="in-plane blur of both scans (make_ct_phantom.py --psf, Gaussian sigma)")
    ap.add_argument("--ssp", choices=("box", "gauss"), default="box",
                    help="slice sensitivity profile of both scans (make_ct_phantom.py --ssp)")
    ap.add_argument("--fissures", action="store_true",
                    help="draw the interlobar fissures (make_ct_phantom.py --fissures) and "
                         "score each found nodule's lobe")
    ap.add_argument("--stable", action="store_true",
                    help="priors in which nothing grew (make_ct_phantom.py --stable): counts "
                         "how often growth beyond the measurement error is called")
    ap.add_argument("--check", action="store_true",
                    help="exit 1 unless, at slices <= 2.5 mm, sensitivity for solid nodules >= 5 mm "
                         "is >= 95 %% at <= 2 FP/scan; at <= 1.25 mm the median |volume error| "
                         "of solid nodules >= 6 mm is <= 5 %%; and every free nodule >= 5 mm "
                         "grown >= 25 %% has its VDT within 10 %% (the regression guard of the "
                         "integration test; nodules on the pleura or a vessel are reported only)")
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)
    rows = []          # one per true nodule present in both scans
    news = []          # one per true nodule absent from the prior (--new)
    scans = []         # one per analysed pair
    for th in [float(x) for x in args.thickness.split(",")]:
        for noise in [float(x) for x in args.noise.split(",")]:
            for seed in [int(x) for x in args.seeds.split(",")]:
                cur, prior = (phantom_dir(args.work, th, noise, seed, args.new, k, args.tilt,
                                          args.pixel, args.nps, args.overlap, args.psf,
                                          args.ssp, args.fissures)
                              for k in ("cur", "stable" if args.stable else "prior"))
                tc, tp = load_truth(cur), load_truth(prior)
                if tc is None:
                    cur, tc = phantom(args.work, th, noise, seed, args.count, args.days, False,
                                      args.new, args.tilt, args.pixel, args.nps, args.overlap,
                                      args.psf, args.ssp, args.fissures)
                if tp is None:
                    prior, tp = phantom(args.work, th, noise, seed, args.count, args.days,
                                        "stable" if args.stable else True,
                                        args.new, args.tilt, args.pixel, args.nps, args.overlap,
                                        args.psf, args.ssp, args.fissures)
                t0 = time.time()
                r = subprocess.run([args.radnode, "analyze", cur, "--prior", prior, "--json"],
                                   capture_output=True, text=True)
                secs = time.time() - t0
                lines = [x for x in r.stdout.splitlines() if x.startswith("{")]
                if not lines:
                    print("th %g noise %g seed %d: no result (%s)" % (th, noise, seed,
                                                                      r.stderr.strip()[-300:]))
                    continue
                f = json.loads(lines[0])
                if f.get("status") != "ok":
                    print("th %g noise %g seed %d: %s" % (th, noise, seed, f.get("error")))
                    scans.append({"th": th, "noise": noise, "seed": seed, "fp": None,
                                  "error": f.get("error")})
                    continue
                finds = f.get("nodules", [])
                m, fps = match(tc["nodules"], finds)
                scans.append({"th": th, "noise": noise, "seed": seed, "fp": len(fps),
                              "seconds": round(secs, 1),
                              "fp_list": [(n["center_patient_mm"], round(n["volume_mm3"], 1))
                                          for n in fps]})
                prior_by_id = {n["id"]: n for n in tp["nodules"]}
                for i, t in enumerate(tc["nodules"]):
                    n = finds[m[i]] if i in m else None
                    if t.get("new"):    # absent from the prior: must be called new
                        news.append({"th": th, "seed": seed, "id": t["id"], "found": n is not None,
                                     "status": n.get("status") if n else None})
                        continue
                    vp = prior_by_id[t["id"]]["volume_mm3"]
                    growth = t["volume_mm3"] / vp - 1
                    # on the pleura: the doubling time of the part inside the lung, the part
                    # that can be seen (make_ct_phantom.py)
                    vdt_true = t.get("vdt_visible_days", t["vdt_days"])
                    row = {"th": th, "noise": noise, "seed": seed, "id": t["id"],
                           "type": t["type"], "attachment": t.get("attachment", "free"),
                           "dmax": max(t["diameters_mm"]), "deq": deq(t),
                           "found": n is not None, "growth": growth, "vdt_true": vdt_true}
                    if n:
                        row["status"] = n.get("status")
                        row["prior_found_by"] = n.get("prior_found_by")
                        row["vol_err"] = n["volume_mm3"] / t["volume_mm3"] - 1
                        row["type_found"] = n.get("type")
                        row["juxtapleural_found"] = n.get("juxtapleural")
                        row["juxtavascular_found"] = n.get("juxtavascular")
                        row["prior_type_found"] = n.get("prior_type")
                        row["lung_rads"] = n.get("lung_rads")
                        if n.get("volume_sd_mm3") is not None:
                            row["vol_sd"] = n["volume_sd_mm3"] / n["volume_mm3"]
                        if n.get("prior_volume_mm3"):
                            row["prior_vol_err"] = n["prior_volume_mm3"] / vp - 1
                            if n.get("prior_volume_sd_mm3") is not None:
                                row["prior_vol_sd"] = n["prior_volume_sd_mm3"] / n["prior_volume_mm3"]
                        if n.get("vdt_days") and vdt_true:
                            row["vdt_err"] = n["vdt_days"] / vdt_true - 1
                        if n.get("vdt_ci95_days"):
                            row["vdt_ci"] = n["vdt_ci95_days"]
                        if n.get("growth_significant") is not None:
                            row["growth_significant"] = n["growth_significant"]
                        if "lobe" in t:
                            row["lobe"], row["lobe_found"] = t["lobe"], n.get("lobe")
                            row["fissure_distance_mm"] = t["fissure_distance_mm"]
                    rows.append(row)
                print("th %-5g noise %-3g seed %d: %2d/%2d found, %d false positives, %.1f s" % (
                    th, noise, seed, len(m), len(tc["nodules"]), len(fps), secs), flush=True)

    print("\nper slice thickness and size class (all types; volume error = found/true - 1;"
          " VDT only for pairs grown >= 25 %)")
    print("%-6s %-6s %4s %6s %9s %9s %5s %9s %10s" % (
        "th mm", "class", "n", "sens", "|vol| med", "vol med", "nVDT", "|VDT| med",
        "VDT<=10%"))
    for th in sorted({r["th"] for r in rows}):
        for cl in ["%g-%g" % (lo, min(hi, 30)) for lo, hi in CLASSES]:
            rs = [r for r in rows if r["th"] == th and size_class(r["dmax"]) == cl]
            if not rs:
                continue
            fo = [r for r in rs if r["found"]]
            ve = [r["vol_err"] for r in fo]
            vd = [r["vdt_err"] for r in fo if "vdt_err" in r and r["growth"] >= 0.25]
            ng = len([r for r in rs if r["growth"] >= 0.25])
            print("%-6g %-6s %4d %5.0f%% %8.1f%% %+8.1f%% %5s %8.1f%% %10s" % (
                th, cl, len(rs), 100 * len(fo) / len(rs), 100 * med([abs(x) for x in ve]),
                100 * med(ve), "%d/%d" % (len(vd), ng), 100 * med([abs(x) for x in vd]),
                "%d/%d" % (len([x for x in vd if within10(x)]), ng)))
        sc = [s for s in scans if s["th"] == th and s["fp"] is not None]
        if sc:
            print("%-6g false positives per scan: %.2f (%d scans)" % (
                th, sum(s["fp"] for s in sc) / len(sc), len(sc)))

    lb = [r for r in rows if "lobe" in r]
    if lb:
        right = [r for r in lb if r["lobe_found"] == r["lobe"]]
        wrong = [r for r in lb if r["lobe_found"] and r["lobe_found"] != r["lobe"]]
        print("\nlobes (--fissures): %d of %d found nodules in their true lobe, %d in another"
              " (%s), %d without a lobe" % (
                  len(right), len(lb), len(wrong),
                  ", ".join("%s %s for %s, %.1f mm from a fissure" % (
                      r["id"], r["lobe_found"], r["lobe"], r["fissure_distance_mm"])
                      for r in wrong) or "none", len(lb) - len(right) - len(wrong)))
    print("\nby type and attachment (all thicknesses)")
    for key in ("type", "attachment"):
        for v in sorted({r[key] for r in rows}):
            rs = [r for r in rows if r[key] == v]
            fo = [r for r in rs if r["found"]]
            ve = [r["vol_err"] for r in fo]
            vd = [r["vdt_err"] for r in fo if "vdt_err" in r and r["growth"] >= 0.25]
            print("  %-12s n %3d  sens %5.1f%%  |vol| med %5.1f%%  vol med %+5.1f%%  |VDT| med %5.1f%%"
                  " (n %d)" % (v, len(rs), 100 * len(fo) / len(rs), 100 * med([abs(x) for x in ve]),
                               100 * med(ve), 100 * med([abs(x) for x in vd]), len(vd)))

    print("\nissue 8 floors")
    f1 = [abs(r["vol_err"]) for r in rows if r["found"] and r["type"] == "solid" and
          r["dmax"] >= 6 and r["th"] <= 1.25]
    print("  median |volume error|, solid >= 6 mm, slices <= 1.25 mm: %.1f %% (n %d; floor <= 5 %%)"
          " %s" % (100 * med(f1), len(f1), "MET" if f1 and med(f1) <= 0.05 else "NOT MET"))
    for thmax in (1.25, 2.5, 5.0):
        g = [r for r in rows if r["growth"] >= 0.25 and r["th"] <= thmax]
        ok = [r for r in g if "vdt_err" in r and within10(r["vdt_err"])]
        print("  VDT within 10 %%, pairs grown >= 25 %%, slices <= %g mm: %d/%d (%.0f %%)" % (
            thmax, len(ok), len(g), 100 * len(ok) / max(1, len(g))))
    for th in sorted({r["th"] for r in rows}):
        rs = [r for r in rows if r["th"] == th and r["type"] == "solid" and r["dmax"] >= 5]
        sc = [s for s in scans if s["th"] == th and s["fp"] is not None]
        sens = len([r for r in rs if r["found"]]) / max(1, len(rs))
        fpps = sum(s["fp"] for s in sc) / max(1, len(sc))
        print("  slices %g mm: sensitivity solid >= 5 mm %.1f %% (n %d) at %.2f FP/scan %s" % (
            th, 100 * sens, len(rs), fpps, "MET" if sens >= 0.95 and fpps <= 2 else "NOT MET"))
    # the reported uncertainty: is the error within the 95 % interval as often as it says?
    zs = {}
    for r in rows:
        for k, sd in (("vol_err", "vol_sd"), ("prior_vol_err", "prior_vol_sd")):
            if r.get(k) is not None and r.get(sd):
                zs.setdefault(r["attachment"], []).append(abs(math.log(1 + r[k])) / r[sd])
    if zs:
        allz = [z for v in zs.values() for z in v]
        print("  volume within its 95 %% interval (log error <= 1.96 SD): %d/%d (%.1f %%; %s)" % (
            sum(z <= 1.96 for z in allz), len(allz), 100 * sum(z <= 1.96 for z in allz) /
            len(allz), ", ".join("%s %d/%d" % (a, sum(z <= 1.96 for z in v), len(v))
                                 for a, v in sorted(zs.items()))))
    g = [r for r in rows if r["growth"] >= 0.25 and "vdt_ci" in r]
    if g:
        inside = [r for r in g if (r["vdt_ci"][0] is None or r["vdt_true"] >= r["vdt_ci"][0]) and
                  (r["vdt_ci"][1] is None or r["vdt_true"] <= r["vdt_ci"][1])]
        sig = [r for r in g if r.get("growth_significant")]
        print("  true VDT within the reported 95 %% interval, pairs grown >= 25 %%: %d/%d; "
              "growth beyond the measurement error: %d/%d" % (len(inside), len(g), len(sig),
                                                               len(g)))
    if args.stable:
        st = [r for r in rows if r.get("growth_significant") is not None]
        print("  stable pairs (nothing grew): growth beyond the measurement error called for "
              "%d of %d matched" % (len([r for r in st if r["growth_significant"]]), len(st)))
    targeted = [r for r in rows if r.get("prior_found_by", "detection") != "detection"]
    print("  prior counterparts measured at the registered location (not detected in the prior):"
          " %d" % len(targeted))
    wrong_new = [r for r in rows if r.get("status") == "new"]
    print("  nodules present in both scans but called new: %d of %d found" % (
        len(wrong_new), len([r for r in rows if r["found"]])))
    if news:
        fn = [x for x in news if x["found"]]
        print("  new nodules (absent from the prior) called new: %d of %d found (%d in all)" % (
            len([x for x in fn if x["status"] == "new"]), len(fn), len(news)))
    missed = [r for r in rows if not r["found"]]
    if missed:
        print("\nmissed:", ", ".join("%s@%gmm/s%d %s %.1fmm%s %s" % (
            r["id"], r["th"], r["seed"], r["type"], r["dmax"],
            " (deq %.1f)" % r["deq"] if r["deq"] < REPORT_FLOOR_MM else "", r["attachment"])
            for r in missed))
        if any(r["deq"] < REPORT_FLOOR_MM for r in missed):
            print("  (deq: volume-equivalent diameter, under the %g mm that radnode reports; "
                  "still counted as missed above)" % REPORT_FLOOR_MM)
    for s in scans:
        for c, v in s.get("fp_list", []):
            print("false positive @%gmm/s%d: centre %s, %.1f mm3" % (s["th"], s["seed"], c, v))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"rows": rows, "scans": scans, "new": news}, fh, indent=1)
    if args.check:
        bad = []
        if not rows or any(s["fp"] is None for s in scans):
            bad.append("a series was refused or gave no result")
        for th in sorted({r["th"] for r in rows if r["th"] <= 2.5}):
            rs = [r for r in rows if r["th"] == th and r["type"] == "solid" and r["dmax"] >= 5]
            sc = [s for s in scans if s["th"] == th and s["fp"] is not None]
            sens = len([r for r in rs if r["found"]]) / max(1, len(rs))
            fpps = sum(s["fp"] for s in sc) / max(1, len(sc))
            if sens < 0.95 or fpps > 2:
                bad.append("%g mm: sensitivity %.1f %% at %.2f FP/scan" % (th, 100 * sens, fpps))
        f1 = [abs(r["vol_err"]) for r in rows if r["found"] and r["type"] == "solid" and
              r["dmax"] >= 6 and r["th"] <= 1.25]
        if f1 and med(f1) > 0.05:
            bad.append("median |volume error| %.1f %%" % (100 * med(f1)))
        # subsolid nodules >= 8 mm on thin slices, in both scans (a part-solid nodule's ground
        # glass counted at half its weight read -31 %)
        for r in rows:
            if (r["type"] != "solid" and r["attachment"] == "free" and r["dmax"] >= 8 and
                    r["th"] <= 1.25 and r["found"]):
                for key, scan in (("vol_err", "now"), ("prior_vol_err", "prior")):
                    if key in r and abs(r[key]) > 0.08:
                        bad.append("%s %s at %g mm (seed %d): volume error %+.1f %% (%s)" % (
                            r["type"], r["id"], r["th"], r["seed"], 100 * r[key], scan))
        for r in rows:
            if (r["attachment"] == "free" and r["dmax"] >= 5 and r["growth"] >= 0.25 and
                    r["th"] <= 2.5 and not ("vdt_err" in r and within10(r["vdt_err"]))):
                bad.append("%s at %g mm (seed %d): VDT error %s" % (
                    r["id"], r["th"], r["seed"],
                    "%+.1f %%" % (100 * r["vdt_err"]) if "vdt_err" in r else "none"))
        for x in news:
            if x["found"] and x["status"] != "new":
                bad.append("%s at %g mm (seed %d): absent from the prior but called %s" % (
                    x["id"], x["th"], x["seed"], x["status"]))
        if bad:
            print("CHECK FAILED: " + "; ".join(bad))
            sys.exit(1)
        print("check passed")


if __name__ == "__main__":
    main()
