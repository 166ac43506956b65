#!/bin/bash
# Ground glass in a blurrier image: the random phantom pairs of seeds 3 and 4 at 1.25 mm written
# with an in-plane blur of sigma 0.8 mm (make_ct_phantom.py --psf 0.8, a smooth kernel; every
# threshold of radnode was set on the default 0.5 mm), scored by tools/phantom/eval_lungct.py.
# A ground-glass nodule's level is read 1.4 mm deep; the 0.8 mm blur still reaches there, the
# level reads 2-19 HU low and every partial-volume weight high. Until session 14 seed 3's
# 16.6 mm N12 read +1.3 / +2.0 % (scan / prior) and seed 4's 7.5 mm N02 +2.7 / +4.4 %; the
# depth now follows the nodule's own edge width. Each free ground-glass nodule >= 7 mm must be
# found, matched with its prior, read within 1.5 % in both scans, and, where it grew >= 25 %,
# have its VDT within 10 %. Skips (77) without /usr/bin/python3 + numpy + pydicom.
# shellcheck source=tests/integration/lungct_lib.sh
. "$(dirname "$0")/lungct_lib.sh"
lungct_eval --thickness 1.25 --psf 0.8 --seeds 3,4 --json "$tmp/blur.json" || exit 1
/usr/bin/python3 "$RN_SOURCE_DIR/tests/integration/lungct_rows_check.py" "$tmp/blur.json" \
    --attachment free --type ground-glass --min-mm 7 --vol-tol 0.015 --min-rows 3
