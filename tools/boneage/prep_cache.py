#!/usr/bin/python3
"""Write tools/boneage/split.csv and decode every 299x299 JPEG once into a uint8 cache
(tools/boneage/cache/res<RES>.npz: ids, images [N,RES,RES], ages, male), resized exactly
as the inference preprocessing does (common.resize_u8). Usage: prep_cache.py [RES]"""
import os
import sys
import time

import numpy as np

import common


def main():
    res = int(sys.argv[1]) if len(sys.argv) > 1 else common.RES
    os.makedirs(common.CACHE, exist_ok=True)
    if not os.path.exists(common.SPLIT_CSV):
        common.write_split()
    rows = common.read_labels()
    t0 = time.time()
    imgs = np.empty((len(rows), res, res), dtype=np.uint8)
    for k, (i, _, _) in enumerate(rows):
        g = common.load_gray(os.path.join(common.DATA, "images", i + ".jpg"))
        if g.shape != (299, 299):
            sys.exit("unexpected size %s for %s" % (g.shape, i))
        imgs[k] = common.resize_u8(g, res)
        if k % 2000 == 0:
            print(k, "%.1fs" % (time.time() - t0), flush=True)
    out = os.path.join(common.CACHE, "res%d.npz" % res)
    np.savez(out, ids=np.array([r[0] for r in rows]), images=imgs,
             ages=np.array([r[1] for r in rows], dtype=np.float32),
             male=np.array([r[2] for r in rows], dtype=np.float32))
    print("wrote", out, imgs.shape, "%.1fs" % (time.time() - t0))


if __name__ == "__main__":
    main()
