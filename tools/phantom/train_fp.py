#!/usr/bin/python3
"""Trains the lung nodule detector's false-positive classifier (src/analyzers/lungct/fpmodel.c).

On random-layout phantoms (make_ct_phantom.py --random 12) of the training seeds (101-110 by
default; the evaluation, eval_lungct.py, uses seeds 1-5 and the integration test seed 1), it runs
`radnode analyze` with RN_LUNGCT_FEATURES set: the rules decide, and every detected candidate
that reaches the decision (a region that stays in its search ball, contrast >= 150 HU, size 3-100
mm when the shipped model was trained, 2.5-100 since; not masses) is written with its features.
A candidate is a nodule when its centre lies within max(radius, 2.5 mm) + 1.5 mm of a true
nodule's centre (eval_lungct.py's rule).

It fits a logistic regression (standardised features, L2 penalty, Newton's method) on every
candidate that reached the decision, and sets the operating point: the highest probability
threshold that keeps, on the training scans, every nodule candidate the rules kept. radnode keeps
a candidate when the rules and the classifier both do: the classifier only removes (on the
phantoms it was trained on, a classifier in place of the rules let vessel crossings of a real
5 mm CT through). Leave-one-seed-out
cross-validation (fit and threshold on the other seeds) gives the figures for scans the model
did not see. Writes src/analyzers/lungct/fpmodel_generated.h and a summary.

Usage: train_fp.py [--radnode build/radnode] [--work /tmp/rn_fptrain] [--seeds 101-110]
         [--thickness 0.625,1.25,2.5,5] [--l2 1.0] [--out src/analyzers/lungct/fpmodel_generated.h]
         [--summary tools/phantom/fp-train/summary.txt] [--recollect]
Phantoms and each scan's features are kept in --work and reused; --recollect runs radnode again
(needed after any change to the detector, whose candidates and features it records).
Needs /usr/bin/python3 with numpy and pydicom.
"""
import argparse
import datetime
import glob
import json
import math
import os
import subprocess
import sys
import textwrap

import numpy as np
import pydicom

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
FEATURES = ["log volume (mm3)", "elongation", "tube ratio", "contrast (100 HU)",
            "Hessian sphericity", "log dot response", "juxtapleural", "vessels cut off",
            "HU SD (100 HU)", "R_in / equivalent radius", "slice spacing (mm)",
            "stronger opening"]


def seeds_arg(s):
    out = []
    for part in s.split(","):
        if "-" in part:
            a, b = part.split("-")
            out += list(range(int(a), int(b) + 1))
        elif part:
            out.append(int(part))
    return out


def phantom(work, th, seed):
    d = os.path.join(work, "t%s_s%d_cur" % (th, seed))
    truth = d + ".truth.json"
    if not os.path.exists(truth):
        subprocess.run([sys.executable, os.path.join(HERE, "make_ct_phantom.py"), d, "--random",
                        "12", "--thickness", str(th), "--noise", "15", "--seed", str(seed),
                        "--days", "180"], check=True, stdout=subprocess.DEVNULL)
        os.replace(os.path.join(d, "truth.json"), truth)
    return d, json.load(open(truth))


def geometry(d):
    """Voxel (column, row, sorted slice) -> patient mm for an axial phantom series."""
    hdr = [pydicom.dcmread(f, stop_before_pixels=True) for f in glob.glob(os.path.join(d, "*"))]
    hdr.sort(key=lambda h: float(h.ImagePositionPatient[2]))
    x0, y0 = float(hdr[0].ImagePositionPatient[0]), float(hdr[0].ImagePositionPatient[1])
    col, row = float(hdr[0].PixelSpacing[1]), float(hdr[0].PixelSpacing[0])
    zs = [float(h.ImagePositionPatient[2]) for h in hdr]
    dz = (zs[-1] - zs[0]) / (len(zs) - 1)
    return lambda v: (x0 + v[0] * col, y0 + v[1] * row, zs[0] + v[2] * dz)


def collect(args, th, seed):
    d, truth = phantom(args.work, th, seed)
    log = d + ".features.txt"
    if args.recollect and os.path.exists(log):
        os.remove(log)
    if not os.path.exists(log):
        tmp = log + ".part"
        if os.path.exists(tmp):
            os.remove(tmp)
        env = dict(os.environ, RN_LUNGCT_FEATURES=tmp)
        subprocess.run([args.radnode, "analyze", d, "--json"], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        if not os.path.exists(tmp):
            open(tmp, "w").close()
        os.replace(tmp, log)
    to_patient = geometry(d)
    rows = []
    for line in open(log):
        v = [float(t) for t in line.split()]
        p = to_patient(v[0:3])
        label = 0
        for n in truth["nodules"]:
            rad = max(n["diameters_mm"]) / 2
            if math.dist(p, n["center_patient_mm"]) <= max(rad, 2.5) + 1.5:
                label = 1
        rows.append((seed, th, label, int(v[3]), v[4:]))
    return rows


def fit(X, y, l2):
    """Logistic regression by Newton's method; X standardised, bias unpenalised."""
    n, k = X.shape
    A = np.hstack([np.ones((n, 1)), X])
    w = np.zeros(k + 1)
    pen = np.full(k + 1, l2)
    pen[0] = 0
    for _ in range(100):
        p = 1 / (1 + np.exp(-(A @ w)))
        g = A.T @ (p - y) + pen * w
        H = (A * (p * (1 - p))[:, None]).T @ A + np.diag(pen) + 1e-9 * np.eye(k + 1)
        step = np.linalg.solve(H, g)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return w


def train(rows, l2):
    X = np.array([r[4] for r in rows])
    y = np.array([r[2] for r in rows], float)
    rule = np.array([r[3] for r in rows])
    mean, scale = X.mean(0), X.std(0)
    scale[scale < 1e-9] = 1
    w = fit((X - mean) / scale, y, l2)
    score = 1 / (1 + np.exp(-(w[0] + ((X - mean) / scale) @ w[1:])))
    # the highest threshold that keeps every nodule candidate the rules kept
    need = score[(y == 1) & (rule == 1)]
    thr = float(need.min()) if len(need) else 0.5
    thr = math.floor(thr * 1e4) / 1e4
    return mean, scale, w, thr


def apply(model, rows):
    """Kept: by the rules and by the classifier (it only removes)."""
    mean, scale, w, thr = model
    X = np.array([r[4] for r in rows])
    rule = np.array([r[3] for r in rows]) == 1
    return rule & (1 / (1 + np.exp(-(w[0] + ((X - mean) / scale) @ w[1:]))) >= thr)


def counts(rows, keep):
    y = np.array([r[2] for r in rows])
    return int(((y == 1) & keep).sum()), int(((y == 0) & keep).sum())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--radnode", default=os.path.join(REPO, "build", "radnode"))
    ap.add_argument("--work", default="/tmp/rn_fptrain")
    ap.add_argument("--seeds", default="101-110")
    ap.add_argument("--thickness", default="0.625,1.25,2.5,5")
    ap.add_argument("--l2", type=float, default=1.0)
    ap.add_argument("--recollect", action="store_true",
                    help="run radnode again on every scan (after a change to the detector)")
    ap.add_argument("--out", default=os.path.join(REPO, "src", "analyzers", "lungct",
                                                  "fpmodel_generated.h"))
    ap.add_argument("--summary", default=os.path.join(HERE, "fp-train", "summary.txt"))
    args = ap.parse_args()
    seeds = seeds_arg(args.seeds)
    ths = [float(t) for t in args.thickness.split(",")]
    if any(1 <= s <= 5 for s in seeds):
        raise SystemExit("seeds 1-5 are the evaluation's: train on others")
    os.makedirs(args.work, exist_ok=True)
    rows = []
    for s in seeds:
        for th in ths:
            rows += collect(args, "%g" % th, s)
            print("seed %d %g mm: %d candidates so far" % (s, th, len(rows)), flush=True)
    scans = len(seeds) * len(ths)
    out = []
    y = np.array([r[2] for r in rows])
    rule = np.array([r[3] for r in rows]) == 1
    out.append("training: seeds %s, slices %s mm, %d scans; %d candidates reached the decision "
               "(%d nodule, %d not)" % (args.seeds, args.thickness, scans, len(rows),
                                        int(y.sum()), int((1 - y).sum())))
    tp, fp = counts(rows, rule)
    out.append("rules (tube ratio >= 1.3, elongation <= 3): nodule candidates kept %d, others "
               "kept %d (%.2f per scan)" % (tp, fp, fp / scans))
    # leave-one-seed-out
    cv_tp = cv_fp = 0
    for s in seeds:
        tr = [r for r in rows if r[0] != s]
        te = [r for r in rows if r[0] == s]
        if not te:
            continue
        a, b = counts(te, apply(train(tr, args.l2), te))
        cv_tp += a
        cv_fp += b
    out.append("classifier, leave-one-seed-out: nodule candidates kept %d of %d (rules %d), "
               "others kept %d (%.2f per scan)" % (cv_tp, int(y.sum()), tp, cv_fp, cv_fp / scans))
    model = train(rows, args.l2)
    mean, scale, w, thr = model
    a, b = counts(rows, apply(model, rows))
    out.append("classifier, all training seeds (the shipped weights): threshold %.4f; nodule "
               "candidates kept %d, others kept %d (%.2f per scan)" % (thr, a, b, b / scans))
    out.append("standardised weights: " + ", ".join("%s %+.2f" % (f, x)
                                                     for f, x in zip(FEATURES, w[1:])))
    print("\n".join(out))
    today = datetime.date.today().isoformat()
    with open(args.out, "w") as fh:
        fh.write("/* Generated by tools/phantom/train_fp.py on %s; do not edit.\n" % today)
        for line in out:
            for i, part in enumerate(textwrap.wrap(line, 94)):
                fh.write(" * %s%s\n" % ("  " if i else "", part))
        fh.write(" */\n")
        for name, v in (("FP_MEAN", mean), ("FP_SCALE", scale), ("FP_WEIGHT", w[1:])):
            body = textwrap.wrap(", ".join("%.6g" % x for x in v), 90)
            fh.write("static const double %s[RN_LUNGCT_NFEAT] = {\n%s};\n" % (
                name, "\n".join("    " + b for b in body)))
        fh.write("#define FP_BIAS %.6g\n#define FP_THRESHOLD %.4f\n" % (w[0], thr))
    os.makedirs(os.path.dirname(args.summary), exist_ok=True)
    with open(args.summary, "w") as fh:
        fh.write("\n".join(out) + "\n")
    print("wrote %s and %s" % (args.out, args.summary))


if __name__ == "__main__":
    main()
