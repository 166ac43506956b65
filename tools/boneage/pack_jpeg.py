#!/usr/bin/python3
"""Pack the TRAINING fold of the 256 px cache as re-encoded JPEGs into one small file, so a
training run can travel to a lent GPU machine (whose transfers are limited to 64 MiB).
The validation fold is left out on purpose: it is evaluated here, on the original images,
by evaluate.py. JPEG quality 80 on the already-resized 256 px image; the loss this adds
is small next to the training augmentation (documented in the model card).
Usage: pack_jpeg.py OUT.npz [QUALITY]"""
import io
import os
import sys

import numpy as np
from PIL import Image

import common


def main():
    out = sys.argv[1]
    q = int(sys.argv[2]) if len(sys.argv) > 2 else 80
    d = dict(np.load(os.path.join(common.CACHE, "res%d.npz" % common.RES)))
    split = common.read_split()
    ids = [str(i) for i in d["ids"]]
    keep = [k for k, i in enumerate(ids) if split[i] == "train"]
    blobs, offs = [], [0]
    for k in keep:
        b = io.BytesIO()
        Image.fromarray(d["images"][k]).save(b, "JPEG", quality=q)
        blobs.append(b.getvalue())
        offs.append(offs[-1] + len(blobs[-1]))
    np.savez(out, ids=np.array([ids[k] for k in keep]),
             jpeg=np.frombuffer(b"".join(blobs), dtype=np.uint8),
             offsets=np.array(offs, dtype=np.int64),
             ages=d["ages"][keep], male=d["male"][keep], res=np.array(common.RES))
    print("packed %d training images, %d bytes" % (len(keep), offs[-1]))


if __name__ == "__main__":
    main()
