"""Shared definitions of the bone-age recipe: data paths, the train/validation split,
and the exact preprocessing that turns a 299x299 8-bit image into the network input.

Everything in this file is the *specification* the C inference pipeline reproduces
(see docs/boneage-model.md and models/boneage-v2.md):

  1. decode the 299x299 8-bit grayscale image (values 0..255);
  2. resize to RES x RES (RES = 256) with plain bilinear interpolation, half-pixel
     centres, no antialiasing, computed in double precision:
         src = (dst + 0.5) * (in_size / out_size) - 0.5, clamped to >= 0
         i0 = floor(src), i1 = min(i0 + 1, in_size - 1), w = src - i0
     first along x then along y (separable; the value is the same as the 2-D formula
     up to rounding) and
  3. round to uint8: v = floor(v + 0.5), clamped to 0..255;
  4. x = v / 255, then (x - PIXEL_MEAN) / PIXEL_STD, float32, shape [1, 1, RES, RES].
"""
import csv
import hashlib
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
DATA = os.environ.get("BONEAGE_DATA",
                      os.path.abspath(os.path.join(REPO, "..", "shared", "data",
                                                   "boneage-rsna-299px")))
FULLRES = os.path.abspath(os.path.join(DATA, "..", "boneage-rsna-fullres"))
CACHE = os.path.join(HERE, "cache")
RUNS = os.environ.get("BONEAGE_RUNS", os.path.join(HERE, "runs"))
SPLIT_CSV = os.path.join(HERE, "split.csv")
MODELS = os.path.join(REPO, "models")

RES = 256                 # network input size (square)
PIXEL_MEAN = 0.5          # fixed constants, not estimated from data: x/255 -> (x-0.5)/0.25
PIXEL_STD = 0.25
AGE_MEAN = 127.0          # months; the network's last layer predicts (age - AGE_MEAN) / AGE_STD
AGE_STD = 41.0
VAL_PERCENT = 17          # sha256(id) bucket 0..99 < VAL_PERCENT -> validation


def read_labels(path=None):
    """Return a list of (id:str, boneage_months:float, male:int) in file order."""
    path = path or os.path.join(DATA, "labels.csv")
    rows = []
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            rows.append((r["id"].strip(), float(r["boneage_months"]), int(r["male"])))
    return rows


def fullres_ids():
    """Ids of the full-resolution end-to-end samples; they are forced into validation."""
    p = os.path.join(FULLRES, "labels.csv")
    if not os.path.exists(p):
        return set()
    return {r[0] for r in read_labels(p)}


def split_of(image_id, forced_val=()):
    """'val' or 'train'. Rule: bucket = int(sha256(id as ASCII decimal).hexdigest()[:8], 16) % 100;
    validation if bucket < VAL_PERCENT or the id is one of the full-resolution samples."""
    if image_id in forced_val:
        return "val"
    h = int(hashlib.sha256(image_id.encode("ascii")).hexdigest()[:8], 16) % 100
    return "val" if h < VAL_PERCENT else "train"


def write_split(path=SPLIT_CSV):
    rows = read_labels()
    forced = fullres_ids()
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["id", "fold"])
        for i, _, _ in sorted(rows, key=lambda r: int(r[0])):
            w.writerow([i, split_of(i, forced)])


def read_split(path=SPLIT_CSV):
    with open(path, newline="") as f:
        return {r["id"]: r["fold"] for r in csv.DictReader(f)}


def _axis_weights(n_in, n_out):
    scale = n_in / n_out
    src = (np.arange(n_out, dtype=np.float64) + 0.5) * scale - 0.5
    src = np.maximum(src, 0.0)
    i0 = np.floor(src).astype(np.int64)
    i0 = np.minimum(i0, n_in - 1)
    i1 = np.minimum(i0 + 1, n_in - 1)
    w = src - i0
    return i0, i1, w


def resize_u8(img, res=RES):
    """img: uint8 [H, W] (or [N, H, W]) -> uint8 [.., res, res]; steps 2 and 3 above."""
    a = np.asarray(img, dtype=np.float64)
    h, w_ = a.shape[-2], a.shape[-1]
    x0, x1, wx = _axis_weights(w_, res)
    y0, y1, wy = _axis_weights(h, res)
    t = a[..., :, x0] * (1.0 - wx) + a[..., :, x1] * wx          # along x
    t = t[..., y0, :] * (1.0 - wy)[:, None] + t[..., y1, :] * wy[:, None]   # along y
    return np.clip(np.floor(t + 0.5), 0, 255).astype(np.uint8)


def normalise(u8):
    """uint8 [..., res, res] -> float32 network input (step 4)."""
    x = np.asarray(u8, dtype=np.float32) / np.float32(255.0)
    return (x - np.float32(PIXEL_MEAN)) / np.float32(PIXEL_STD)


def load_gray(path):
    from PIL import Image
    with Image.open(path) as im:
        return np.asarray(im.convert("L"), dtype=np.uint8)


def preprocess_file(path, res=RES):
    """A 299x299 image file -> float32 [1, 1, res, res] network input."""
    return normalise(resize_u8(load_gray(path), res))[None, None]
