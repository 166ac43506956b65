#!/bin/bash
# Nodules on vessels across a follow-up: the random phantom pair of seed 5 at 1.25 mm
# (tools/phantom/make_ct_phantom.py), scored by tools/phantom/eval_lungct.py against its truth.
# Its 5.8 mm solid nodule lies on a 2.8 mm vessel that runs along it; in the prior (5.1 mm) it
# is only 1.06 times as thick as that vessel. Before session 10 the current scan read +16.5 %
# (the vessel under the nodule's ellipsoid was counted) and the prior was taken for a piece of
# the vessel, so the nodule was called new. Each nodule on a vessel >= 5 mm must be found,
# matched with its prior, read within 8 % in both scans, and, where it grew >= 25 %, have its
# VDT within 10 %. Skips (77) without /usr/bin/python3 + numpy + pydicom.
# shellcheck source=tests/integration/lungct_lib.sh
. "$(dirname "$0")/lungct_lib.sh"
lungct_eval --thickness 1.25 --seeds 5 --json "$tmp/vessel.json" || exit 1
/usr/bin/python3 "$RN_SOURCE_DIR/tests/integration/lungct_rows_check.py" "$tmp/vessel.json" \
    --attachment vessel --min-mm 5 --vol-tol 0.08 || exit 1
