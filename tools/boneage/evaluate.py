#!/usr/bin/python3
"""Evaluate models/boneage-v2.onnx on the validation split only (tools/boneage/split.csv).

Re-runnable by anyone:  /usr/bin/python3 tools/boneage/evaluate.py [--model PATH]
Reads the 299 px JPEGs themselves (not the training cache), applies the documented preprocessing
(common.py), runs the exported ONNX graph with an independent runner (onnx_check.OnnxRunner,
torch.nn.functional kernels), and writes models/boneage-v2.metrics.json and .metrics.md.

Two variants are reported:
  plain: one forward pass on the preprocessed image (what the model card's headline figures use
         unless stated otherwise);
  tta5:  mean over 5 inputs: the preprocessed image and the same image translated by SHIFT px
         right, left, down, up (integer shift of the 256x256 uint8 image, vacated pixels = 0,
         i.e. black, before the x/255 normalisation); the standard deviation of the 5 predictions
         (population SD, divide by 5) is the uncertainty estimate.
"""
import argparse
import hashlib
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

SHIFT = 8
SHIFTS = [(0, 0), (SHIFT, 0), (-SHIFT, 0), (0, SHIFT), (0, -SHIFT)]   # (dx, dy), +dx = right
BANDS = [("0-5y", 0, 60), ("5-10y", 60, 120), ("10-15y", 120, 180), ("15-19y", 180, 229)]


def shift_u8(u8, dx, dy):
    """Integer translation of uint8 [..., H, W]; out[y, x] = in[y - dy, x - dx], else 0."""
    out = np.zeros_like(u8)
    h, w = u8.shape[-2:]
    ys, yd = (slice(0, h - dy), slice(dy, h)) if dy >= 0 else (slice(-dy, h), slice(0, h + dy))
    xs, xd = (slice(0, w - dx), slice(dx, w)) if dx >= 0 else (slice(-dx, w), slice(0, w + dx))
    out[..., yd, xd] = u8[..., ys, xs]
    return out


def tta_inputs(u8):
    """u8 [N,R,R] -> list of 5 float32 [N,1,R,R] inputs (SHIFTS order)."""
    return [common.normalise(shift_u8(u8, dx, dy))[:, None] for dx, dy in SHIFTS]


def stats(err):
    err = np.asarray(err, dtype=np.float64)
    if len(err) == 0:
        return {"n": 0, "mae": None, "rmse": None, "bias": None}
    return {"n": int(len(err)), "mae": round(float(np.abs(err).mean()), 3),
            "rmse": round(float(np.sqrt((err ** 2).mean())), 3),
            "bias": round(float(err.mean()), 3)}


def breakdown(pred, y, male):
    err = pred - y
    out = {"overall": stats(err),
           "female": stats(err[male == 0]), "male": stats(err[male == 1]), "bands": {}}
    for name, lo, hi in BANDS:
        m = (y >= lo) & (y < hi)
        out["bands"][name] = stats(err[m])
    return out


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()


def md_table(res):
    lines = ["| subset | n | MAE plain (mo) | RMSE plain (mo) | bias plain (mo) | MAE tta5 (mo) | RMSE tta5 (mo) |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    p, t = res["plain"], res["tta5"]
    rows = [("all", p["overall"], t["overall"]), ("female", p["female"], t["female"]),
            ("male", p["male"], t["male"])]
    rows += [("age " + k, p["bands"][k], t["bands"][k]) for k, _, _ in BANDS]
    for name, a, b in rows:
        f = (lambda v: "-" if v is None else "%.2f" % v)
        lines.append("| %s | %d | %s | %s | %s | %s | %s |" % (
            name, a["n"], f(a["mae"]), f(a["rmse"]), f(a["bias"]), f(b["mae"]), f(b["rmse"])))
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=os.path.join(common.MODELS, "boneage-v2.onnx"))
    ap.add_argument("--out", default=None, help="metrics JSON path (default: next to the model)")
    ap.add_argument("--limit", type=int, default=0, help="debug: first N validation images")
    args = ap.parse_args()
    out = args.out or os.path.splitext(args.model)[0] + ".metrics.json"

    import torch
    torch.set_num_threads(2)
    import onnx_check
    runner = onnx_check.OnnxRunner(args.model)
    split = common.read_split()
    rows = [r for r in common.read_labels() if split[r[0]] == "val"]
    if args.limit:
        rows = rows[:args.limit]
    t0 = time.time()
    ids = [r[0] for r in rows]
    y = np.array([r[1] for r in rows])
    male = np.array([r[2] for r in rows], dtype=np.float32)
    u8 = np.stack([common.resize_u8(common.load_gray(
        os.path.join(common.DATA, "images", i + ".jpg"))) for i in ids])
    preds = np.zeros((len(ids), len(SHIFTS)))
    bs = 32
    for s in range(0, len(ids), bs):
        ins = tta_inputs(u8[s:s + bs])
        for k, x in enumerate(ins):
            preds[s:s + bs, k] = runner.run({"image": x, "male": male[s:s + bs, None]})[
                "boneage_months"][:, 0]
    plain = preds[:, 0]
    tta = preds.mean(1)
    spread = preds.std(1)
    abserr = np.abs(tta - y)
    q = np.quantile(spread, [0.5, 0.9])
    res = {
        "model": os.path.basename(args.model), "sha256": sha256(args.model),
        "split": "tools/boneage/split.csv fold=val", "n_val": len(ids),
        "preprocessing": "299px 8-bit -> bilinear half-pixel resize to %d (double), round to "
                         "uint8, x/255, (x-%.2f)/%.2f" % (common.RES, common.PIXEL_MEAN, common.PIXEL_STD),
        "bands_months": {k: [lo, hi] for k, lo, hi in BANDS},
        "plain": breakdown(plain, y, male),
        "tta5": breakdown(tta, y, male),
        "tta5_definition": "mean of predictions on the image and its integer shifts by %d px "
                           "(right, left, down, up; vacated pixels 0 before normalisation)" % SHIFT,
        "uncertainty": {
            "definition": "population SD of the 5 tta predictions, months",
            "mean": round(float(spread.mean()), 3), "median": round(float(q[0]), 3),
            "p90": round(float(q[1]), 3),
            "corr_with_abs_error": round(float(np.corrcoef(spread, abserr)[0, 1]), 3),
            "mae_when_spread_above_p90": round(float(abserr[spread > q[1]].mean()), 3),
            "mae_when_spread_below_median": round(float(abserr[spread <= q[0]].mean()), 3),
        },
        "within_12_months_fraction_plain": round(float((np.abs(plain - y) <= 12).mean()), 4),
        "eval_seconds": round(time.time() - t0, 1),
    }
    fr = sorted(common.fullres_ids() & set(ids), key=int)
    res["fullres_ids_on_299px"] = [
        {"id": i, "label_months": float(y[ids.index(i)]), "male": int(male[ids.index(i)]),
         "plain": round(float(plain[ids.index(i)]), 2), "tta5": round(float(tta[ids.index(i)]), 2),
         "spread": round(float(spread[ids.index(i)]), 2)} for i in fr]
    with open(out, "w") as f:
        json.dump(res, f, indent=1)
        f.write("\n")
    md = os.path.splitext(out)[0] + ".md"
    with open(md, "w") as f:
        f.write("# Validation metrics: %s\n\n" % res["model"])
        f.write("sha256 `%s`; validation split of tools/boneage/split.csv, n = %d; "
                "written by tools/boneage/evaluate.py.\n\n" % (res["sha256"], len(ids)))
        f.write(md_table(res) + "\n\n")
        u = res["uncertainty"]
        f.write("Bias = mean(predicted - reference). tta5 = %s. Uncertainty (SD over the 5): "
                "mean %.2f, median %.2f, p90 %.2f months; correlation with |error| %.2f; MAE %.2f "
                "where SD > p90, %.2f where SD <= median. Fraction within 12 months (plain): %.3f.\n"
                % (res["tta5_definition"], u["mean"], u["median"], u["p90"],
                   u["corr_with_abs_error"], u["mae_when_spread_above_p90"],
                   u["mae_when_spread_below_median"], res["within_12_months_fraction_plain"]))
    print(md_table(res))
    print(json.dumps(res["uncertainty"]), "eval_seconds", res["eval_seconds"])
    print("wrote", out, md)


if __name__ == "__main__":
    main()
