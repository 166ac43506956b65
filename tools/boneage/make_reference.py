#!/usr/bin/python3
"""Write a tiny parity reference for radnode's C bone-age pipeline into tests/data/boneage/.

    /usr/bin/python3 tools/boneage/make_reference.py [--model models/boneage-v2.onnx]

For two validation images (one female, one male; fixed ids below) it writes (.npy, version 1.0,
little-endian, C order):
  source_u8.npy     uint8   [2, 299, 299]   the decoded 299 px JPEGs (PIL/libjpeg), input of step 2
  resized_u8.npy    uint8   [2, 256, 256]   after the bilinear resize + rounding (steps 2-3)
  input_f32.npy     float32 [2, 1, 256, 256] the network input (step 4)
  male_f32.npy      float32 [2, 1]
  expected_f32.npy  float32 [2, 1]          boneage_months from the ONNX graph (plain)
  expected_tta_f32.npy float32 [2, 5]       predictions for the 5 tta shifts (evaluate.SHIFTS order)
and reference.json (ids, labels, model sha256, tolerances). Total well under 1 MB.
"""
import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
import evaluate  # noqa: E402

IDS = ["7035", "7034"]          # validation ids that are also the full-resolution samples (F, M)
OUT = os.path.join(common.REPO, "tests", "data", "boneage")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=os.path.join(common.MODELS, "boneage-v2.onnx"))
    ap.add_argument("--out", default=OUT)
    args = ap.parse_args()
    import onnx_check
    split = common.read_split()
    labels = {r[0]: r for r in common.read_labels()}
    for i in IDS:
        if split[i] != "val":
            raise SystemExit("reference id %s is not in the validation split" % i)
    src = np.stack([common.load_gray(os.path.join(common.DATA, "images", i + ".jpg")) for i in IDS])
    u8 = common.resize_u8(src)
    x = common.normalise(u8)[:, None]
    male = np.array([[labels[i][2]] for i in IDS], dtype=np.float32)
    r = onnx_check.OnnxRunner(args.model)
    y = r.run({"image": x, "male": male})["boneage_months"].astype(np.float32)
    tta = np.stack([r.run({"image": xi, "male": male})["boneage_months"][:, 0]
                    for xi in evaluate.tta_inputs(u8)], 1).astype(np.float32)
    os.makedirs(args.out, exist_ok=True)
    for name, a in [("source_u8", src), ("resized_u8", u8), ("input_f32", x.astype(np.float32)),
                    ("male_f32", male), ("expected_f32", y), ("expected_tta_f32", tta)]:
        np.save(os.path.join(args.out, name + ".npy"), np.ascontiguousarray(a))
    meta = {
        "model": os.path.basename(args.model), "model_sha256": evaluate.sha256(args.model),
        "ids": IDS, "label_months": [labels[i][1] for i in IDS], "male": [labels[i][2] for i in IDS],
        "expected_boneage_months": [round(float(v), 4) for v in y[:, 0]],
        "tta_shifts_dx_dy": evaluate.SHIFTS,
        "preprocessing": "see tools/boneage/common.py and docs/boneage-model.md",
        "tolerance": {"resized_u8": "exact (0 differing pixels expected; at most a few off by 1 "
                                    "if the C code rounds in float instead of double)",
                      "input_f32": "1e-6 absolute", "boneage_months": "0.05 months absolute"},
        "generator": "tools/boneage/make_reference.py",
    }
    with open(os.path.join(args.out, "reference.json"), "w") as f:
        json.dump(meta, f, indent=1)
        f.write("\n")
    tot = sum(os.path.getsize(os.path.join(args.out, n)) for n in os.listdir(args.out))
    print("wrote", args.out, "%d bytes" % tot, meta["expected_boneage_months"], tta.tolist())


if __name__ == "__main__":
    main()
