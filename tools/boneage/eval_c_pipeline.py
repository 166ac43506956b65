#!/usr/bin/python3
"""Validation MAE of radnode's C pipeline itself (not the Python evaluation of the ONNX file):
every validation-fold 299 px JPEG is wrapped as a Secondary Capture DICOM (8-bit MONOCHROME2,
PatientSex from the labels) in a temporary folder, `radnode analyze --analyzer boneage --json`
runs over all of them, and the bone ages are compared with the labels. Also counts refusals and
how often the orientation check corrected the input (these images are upright left hands, so
every correction is a false alarm).

Usage: /usr/bin/python3 tools/boneage/eval_c_pipeline.py [--radnode build/radnode] [--limit N]
Writes models/boneage-v2.c-pipeline.json."""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402


def wrap(path, out, male, image_id):
    from PIL import Image
    from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid
    with Image.open(path) as im:
        img = np.asarray(im.convert("L"), dtype=np.uint8)
    sc = "1.2.840.10008.5.1.4.1.1.7"
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sc
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(out, Dataset(), file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID, ds.SOPInstanceUID = sc, meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.Modality, ds.ConversionType = "OT", "WSD"
    ds.PatientName, ds.PatientID = "VAL^" + image_id, image_id
    ds.PatientSex = "M" if male else "F"
    ds.StudyDate, ds.BodyPartExamined = "20240115", "HAND"
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.Rows, ds.Columns = img.shape
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PixelData = img.tobytes()
    ds.is_little_endian, ds.is_implicit_VR = True, False
    ds.save_as(out, write_like_original=False)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--radnode", default=os.path.join(common.REPO, "build", "radnode"))
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--out", default=os.path.join(common.MODELS, "boneage-v2.c-pipeline.json"))
    ap.add_argument("--results-out", default="",
                    help="also write every image's whole JSON result (one per line) here")
    ap.add_argument("--ids", default="", help="only these image IDs (comma-separated)")
    a = ap.parse_args()
    split = common.read_split()
    rows = [r for r in common.read_labels() if split[r[0]] == "val"]
    if a.ids:
        want = set(a.ids.split(","))
        rows = [r for r in rows if r[0] in want]
    if a.limit:
        rows = rows[:a.limit]
    label = {r[0]: r for r in rows}
    t0 = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        os.makedirs(tmp + "/in")
        for i, age, male in rows:
            wrap(os.path.join(common.DATA, "images", i + ".jpg"), "%s/in/%s.dcm" % (tmp, i), male, i)
        t1 = time.time()
        p = subprocess.run([a.radnode, "analyze", "--analyzer", "boneage", "--json", "--models",
                            common.MODELS, "--objects", "sr", "--out", tmp + "/out", tmp + "/in"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        t2 = time.time()
    err, refused, corrected, unsure, side_changed = [], [], 0, 0, 0
    all_results = []
    for ln in p.stdout.splitlines():
        j = json.loads(ln)
        for f in (j if isinstance(j, list) else [j]):
            i = f.get("patient_id")
            if a.results_out:
                all_results.append(f)
            if f.get("status") != "ok":
                refused.append((i, f.get("error") or f.get("refusal_reason")))
                continue
            err.append(f["bone_age_months"] - label[i][1])
            oc = f.get("details", {}).get("orientation_check", {})
            if oc.get("corrected"):
                corrected += 1
            if oc.get("used") and oc.get("probability", 1) < oc.get("threshold", 0.8):
                unsure += 1
            if f.get("details", {}).get("laterality", {}).get("mirrored"):
                side_changed += 1
    e = np.array(err)
    res = {"images": len(rows), "analysed": int(len(e)), "refused": len(refused),
           "refusals": refused,
           "refusal_reasons": {r: sum(1 for _, x in refused if x == r) for r in sorted({x for _, x in refused})},
           "mae_months": round(float(np.abs(e).mean()), 3) if len(e) else None,
           "rmse_months": round(float(np.sqrt((e ** 2).mean())), 3) if len(e) else None,
           "bias_months": round(float(e.mean()), 3) if len(e) else None,
           "orientation_corrected": corrected, "orientation_unsure": unsure,
           "read_as_right_hand_and_mirrored": side_changed,
           "radnode": a.radnode, "wrap_seconds": round(t1 - t0, 1),
           "analyze_seconds": round(t2 - t1, 1), "exit_status": p.returncode}
    with open(a.out, "w") as f:
        json.dump(res, f, indent=1)
    if a.results_out:
        with open(a.results_out, "w") as f:
            for d in all_results:
                f.write(json.dumps(d) + "\n")
    print(json.dumps(res))


if __name__ == "__main__":
    main()
