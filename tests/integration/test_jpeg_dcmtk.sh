#!/bin/bash
# JPEG Lossless SV1 encoder against DCMTK (PS3.5 A.4.1, transfer syntax
# 1.2.840.10008.1.2.4.70): the JPEG unit test writes its round-trip streams
# (8/12/16-bit, 2..16-bit precision, 1 and 3 samples, signed and unsigned) to
# a folder; each is wrapped in a DICOM file with pydicom and decoded by DCMTK's
# dcmdjpeg, whose pixel data must equal the frame radnode encoded, byte for
# byte. Exit 77 (skip) without dcmdjpeg, pydicom or the unit test binary.
set -u
BUILD=${RN_BUILD_DIR:-build}
SRC=${RN_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
UNIT=$BUILD/unit_codec_test_jpeg
command -v dcmdjpeg >/dev/null || { echo "skip: dcmdjpeg not installed"; exit 77; }
/usr/bin/python3 -c "import pydicom" 2>/dev/null || { echo "skip: no python3-pydicom"; exit 77; }
[ -x "$UNIT" ] || { echo "skip: $UNIT not built"; exit 77; }
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
if ! RN_JPEG_DUMP_DIR=$WORK RN_SOURCE_DIR=$SRC "$UNIT" >"$WORK/unit.log" 2>&1; then
    cat "$WORK/unit.log"
    echo "FAIL: unit_codec_test_jpeg"
    exit 1
fi
/usr/bin/python3 - "$WORK" <<'PY'
import glob, os, subprocess, sys
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import generate_uid

work = sys.argv[1]
cases = sorted(glob.glob(os.path.join(work, "*.jpg")))
if len(cases) < 20:
    sys.exit("FAIL: only %d streams were written" % len(cases))
bad = 0
for jpg in cases:
    base = jpg[:-4]
    rows, cols, spp, ba, bs, pr = map(int, open(base + ".txt").read().split())
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.70"
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.Rows, ds.Columns, ds.SamplesPerPixel = rows, cols, spp
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = ba, bs, bs - 1, pr
    ds.PhotometricInterpretation = "RGB" if spp == 3 else "MONOCHROME2"
    if spp == 3:
        ds.PlanarConfiguration = 0
    ds.PixelData = encapsulate([open(jpg, "rb").read()])
    ds["PixelData"].VR = "OB"
    ds.is_little_endian, ds.is_implicit_VR = True, False
    enc, dec = base + ".dcm", base + "_d.dcm"
    ds.save_as(enc, write_like_original=False)
    r = subprocess.run(["dcmdjpeg", enc, dec], capture_output=True, text=True)
    name = os.path.basename(base)
    if r.returncode != 0:
        print("FAIL %s: dcmdjpeg: %s" % (name, r.stderr.strip()))
        bad += 1
        continue
    got = bytes(pydicom.dcmread(dec).PixelData)
    want = open(base + ".raw", "rb").read()
    if got[:len(want)] != want:
        diff = sum(1 for a, b in zip(got, want) if a != b)
        print("FAIL %s: dcmdjpeg output differs in %d bytes" % (name, diff))
        bad += 1
print("%d radnode SV1 streams decoded by dcmdjpeg, %d mismatches" % (len(cases), bad))
sys.exit(1 if bad else 0)
PY
