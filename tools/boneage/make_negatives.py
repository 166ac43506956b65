#!/usr/bin/python3
"""Examples of what is NOT a hand radiograph, for the "not a hand" class of the orientation
check (tools/boneage/train_orient.py --negatives). Written as 64x64 uint8 images, the size the
check sees (the pipeline squashes whatever image it gets to a square).

Sources, all made here (no image is copied into the repo):
  - the chest CT of ../shared/data/ct-lung-pet-ct-dx-A0001 (one patient, see its SOURCE.md):
    digitally reconstructed radiographs (the CT summed along a ray direction rotated around the
    body axis: frontal, oblique and lateral chest "radiographs", also inverted as a wrong
    MONOCHROME1 rendering would show them, and zoomed crops), and axial, coronal and sagittal
    slices under lung, soft-tissue and bone windows;
  - synthetic images: smooth gradients, noise, blank or nearly blank films with a marker,
    rectangles and blobs.
Split (written down, so that validation kinds are never trained on): DRR angles on a 10-degree
grid train, the angles 5 degrees off it validate; axial slices of the lower 44 train, the upper
20 validate; coronal/sagittal slices with an even index train, odd validate; synthetic images
from different seeds. One CT patient is all there is: the validation figure says the check
refuses chest CT and chest-radiograph-like images it did not see, not that it knows every
body part.

Usage: /usr/bin/python3 tools/boneage/make_negatives.py [--out tools/boneage/cache/negatives64.npz]
"""
import argparse
import glob
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

S = 64
CT = os.path.join(common.REPO, "..", "shared", "data", "ct-lung-pet-ct-dx-A0001", "series-2")


def squash(img):
    """float [H, W] in 0..1 -> uint8 [64, 64] (area-averaged squash to a square)."""
    t = torch.from_numpy(np.ascontiguousarray(img, dtype=np.float32))[None, None]
    t = F.interpolate(t, size=(S, S), mode="area")
    return (t[0, 0].clamp(0, 1) * 255 + 0.5).to(torch.uint8).numpy()


def window(a, lo, hi):
    return np.clip((a - lo) / (hi - lo), 0, 1)


def load_ct():
    import pydicom
    files = sorted(glob.glob(os.path.join(CT, "*")))
    if not files:
        raise SystemExit("no CT under %s" % CT)
    ds = [pydicom.dcmread(f) for f in files]
    ds.sort(key=lambda d: float(d.ImagePositionPatient[2]))
    vol = np.stack([d.pixel_array * float(d.RescaleSlope) + float(d.RescaleIntercept) for d in ds])
    dz = abs(float(ds[1].ImagePositionPatient[2]) - float(ds[0].ImagePositionPatient[2]))
    return vol.astype(np.float32), dz, float(ds[0].PixelSpacing[0])


def drr(mu, angle_deg, dz, dxy):
    """mu: [Z, Y, X] attenuation; sum along a ray in the axial plane at angle_deg."""
    a = math.radians(angle_deg)
    th = torch.tensor([[math.cos(a), -math.sin(a), 0.0], [math.sin(a), math.cos(a), 0.0]])
    v = torch.from_numpy(mu)[:, None]  # Z as batch, [Z, 1, Y, X]
    grid = F.affine_grid(th[None].expand(v.shape[0], 2, 3), list(v.shape), align_corners=False)
    r = F.grid_sample(v, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    p = r[:, 0].sum(dim=1).numpy()[::-1]  # [Z, X], head up
    h = max(8, int(round(p.shape[0] * dz / dxy)))  # physical aspect
    t = F.interpolate(torch.from_numpy(p.copy())[None, None], size=(h, p.shape[1]), mode="bilinear",
                      align_corners=False)[0, 0].numpy()
    return t


def radiograph_look(p, rng):
    """Path length sums -> a radiograph-like display (bright bone), random exposure/gamma."""
    k = rng.uniform(0.5, 2.0) / max(p.max(), 1e-6)
    img = 1 - np.exp(-k * p * 3)
    lo, hi = np.percentile(img, [rng.uniform(0, 5), rng.uniform(95, 100)])
    img = window(img, lo, hi) ** rng.uniform(0.6, 1.6)
    return img


def crop(img, rng, min_frac=0.5):
    h, w = img.shape
    fh, fw = rng.uniform(min_frac, 1), rng.uniform(min_frac, 1)
    ch, cw = max(8, int(h * fh)), max(8, int(w * fw))
    y, x = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
    return img[y:y + ch, x:x + cw]


def synthetic(rng):
    kind = rng.integers(0, 6)
    yy, xx = np.mgrid[0:256, 0:256] / 255.0
    if kind == 0:  # smooth gradient
        a, b = rng.uniform(-1, 1, 2)
        img = a * xx + b * yy + rng.uniform(-0.3, 0.3) * np.sin(xx * rng.uniform(1, 6))
    elif kind == 1:  # noise
        img = rng.normal(0.5, rng.uniform(0.02, 0.3), (256, 256))
    elif kind == 2:  # blank film with a side marker
        img = np.full((256, 256), rng.uniform(0, 0.6)) + rng.normal(0, 0.02, (256, 256))
        y, x = rng.integers(10, 200, 2)
        img[y:y + 30, x:x + 20] = 1.0
    elif kind == 3:  # rectangles (an empty cassette, a film edge)
        img = np.full((256, 256), rng.uniform(0, 0.3))
        for _ in range(rng.integers(1, 4)):
            y0, x0 = rng.integers(0, 200, 2)
            img[y0:y0 + rng.integers(20, 200), x0:x0 + rng.integers(20, 200)] = rng.uniform(0.3, 1)
    elif kind == 4:  # blobs
        img = np.zeros((256, 256))
        for _ in range(rng.integers(1, 6)):
            cy, cx, r = rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0.05, 0.4)
            img += np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r)) * rng.uniform(0.3, 1)
    else:  # a long bone-like bar (a forearm or leg alone, no hand)
        img = np.full((256, 256), rng.uniform(0, 0.2))
        w = rng.integers(20, 70)
        c = rng.integers(60, 196)
        img[:, c - w // 2:c + w // 2] += rng.uniform(0.3, 0.6)
        img[:, c - w // 6:c + w // 6] += rng.uniform(0.2, 0.4)
    img = img - img.min()
    return img / max(img.max(), 1e-6)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(common.CACHE, "negatives64.npz"))
    ap.add_argument("--seed", type=int, default=5)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    vol, dz, dxy = load_ct()
    # a quarter of the in-plane resolution is plenty for 64 px outputs
    v = F.avg_pool2d(torch.from_numpy(vol), 4).numpy()
    dxy4 = dxy * 4
    mu = np.clip((v + 1000) / 1000, 0, None).astype(np.float32)
    out = {"train": [], "val": []}
    kinds = {"train": [], "val": []}

    def add(fold, img, kind):
        out[fold].append(squash(img))
        kinds[fold].append(kind)

    for ang in range(0, 360, 5):
        fold = "train" if ang % 10 == 0 else "val"
        p = drr(mu, ang, dz, dxy4)
        for rep in range(6 if fold == "train" else 3):
            img = radiograph_look(p, rng)
            if rng.random() < 0.3:
                img = 1 - img
            if rep >= 2:
                img = crop(img, rng)
            add(fold, img, "drr")
    z = vol.shape[0]
    for k in range(z):
        fold = "train" if k < 44 else "val"
        for lo, hi in ((-1000, 200), (-160, 240), (-200, 1200)):
            img = window(vol[k], lo, hi)
            add(fold, img if rng.random() < 0.8 else crop(img, rng), "axial")
    for k in range(0, v.shape[1], 2):
        fold = "train" if (k // 2) % 2 == 0 else "val"
        for name, sl in (("coronal", v[:, k, :]), ("sagittal", v[:, :, k])):
            sl = sl[::-1]
            h = max(8, int(round(sl.shape[0] * dz / dxy4)))
            sl = F.interpolate(torch.from_numpy(sl.copy())[None, None], size=(h, sl.shape[1]),
                               mode="bilinear", align_corners=False)[0, 0].numpy()
            lo, hi = ((-1000, 200), (-160, 240), (-200, 1200))[rng.integers(0, 3)]
            add(fold, window(sl, lo, hi), name)
    srng = {"train": np.random.default_rng(args.seed + 100), "val": np.random.default_rng(args.seed + 200)}
    for fold, n in (("train", 1200), ("val", 300)):
        for _ in range(n):
            add(fold, synthetic(srng[fold]), "synthetic")
    res = {}
    for fold in ("train", "val"):
        res[fold] = np.stack(out[fold])
        res[fold + "_kind"] = np.array(kinds[fold])
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    np.savez_compressed(args.out, **res)
    print("negatives: train %d val %d -> %s" % (len(res["train"]), len(res["val"]), args.out))
    for fold in ("train", "val"):
        u, c = np.unique(res[fold + "_kind"], return_counts=True)
        print(" ", fold, dict(zip(u.tolist(), c.tolist())))


if __name__ == "__main__":
    main()
