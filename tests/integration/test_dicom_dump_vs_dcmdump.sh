#!/bin/bash
# Every file of Debian's python3-pydicom test data is read by `radnode dump`
# with the same top-level elements as DCMTK's dcmdump finds, or rejected by
# both with a clear message (see dump_expected_rejections.txt for the files
# where radnode reads more than dcmdump, with the reason).
set -u
TF=/usr/lib/python3/dist-packages/pydicom/data/test_files
command -v dcmdump >/dev/null || { echo "SKIP: dcmdump (dcmtk) not installed"; exit 77; }
[ -d "$TF" ] || { echo "SKIP: $TF (python3-pydicom) not installed"; exit 77; }
files=$(find "$TF" -type f ! -name '*.py' ! -name '*.pyc' | sort)
exec /usr/bin/python3 "$RN_SOURCE_DIR/tests/integration/compare_dump.py" "$RADNODE" \
    "$RN_SOURCE_DIR/tests/integration/dump_expected_rejections.txt" $files
