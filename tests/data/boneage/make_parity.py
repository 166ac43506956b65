#!/usr/bin/python3
"""Parity fixtures for radnode's C bone-age preprocessing (tests/unit/boneage/test_preprocess.c).

    /usr/bin/python3 tests/data/boneage/make_parity.py

Source: a synthetic 8-bit image of 360 x 420 (w x h) with fine detail (the formula is repeated in
the C test): v = (x * 7 + y * 13 + (x * y) % 17 + ((x // 9 + y // 11) % 2) * 60) % 256.
Writes raw uint8 files (C order, no header):
  parity_pil299.u8    299 x 299  Pillow Image.resize((299, 299), BILINEAR) of the source: the
                                 framing the 299 px training images were made with;
  parity_spec256.u8   256 x 256  tools/boneage/common.resize_u8 of parity_pil299 (the spec);
  parity_input_row128.f32  256 float32 LE: common.normalise of row 128 of parity_spec256.
"""
import os
import sys

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "tools", "boneage"))
import common  # noqa: E402

W, H = 360, 420


def source():
    y, x = np.mgrid[0:H, 0:W].astype(np.int64)
    return ((x * 7 + y * 13 + (x * y) % 17 + ((x // 9 + y // 11) % 2) * 60) % 256).astype(np.uint8)


def main():
    src = source()
    pil = np.asarray(Image.fromarray(src).resize((299, 299), Image.BILINEAR), dtype=np.uint8)
    spec = common.resize_u8(pil)
    row = common.normalise(spec)[128].astype("<f4")
    pil.tofile(os.path.join(HERE, "parity_pil299.u8"))
    spec.tofile(os.path.join(HERE, "parity_spec256.u8"))
    row.tofile(os.path.join(HERE, "parity_input_row128.f32"))
    print("wrote parity fixtures", pil.shape, spec.shape, row[:4])


if __name__ == "__main__":
    main()
