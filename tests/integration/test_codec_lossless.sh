#!/bin/bash
# Lossless pixel decoding, bit for bit, against real peers (PS3.5 8.2 and
# Annexes A.4, G). Reference images are compressed here with DCMTK (dcmcrle,
# dcmcjpls in every interleave mode) and taken from pydicom's compressed test
# files with uncompressed twins; `radnode decode --raw` must give exactly the
# uncompressed Pixel Data bytes (little-endian, interleaved), checked with cmp.
# Near-lossless JPEG-LS must equal DCMTK's dcmdjpls and stay within NEAR.
# radnode's RLE encoder output, wrapped into a file by pydicom, must decode
# with DCMTK's dcmdrle to exactly the original bytes.
# Exit 77 (skipped) when radnode decode or the peers are not available.
set -u
SRC=${RN_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${RN_BUILD_DIR:-$SRC/build}
RADNODE=${RADNODE:-$BUILD/radnode}
PY=/usr/bin/python3
export PYTHONWARNINGS=ignore
TF=/usr/lib/python3/dist-packages/pydicom/data/test_files

skip() { echo "SKIP: $*"; exit 77; }
[ -x "$RADNODE" ] || skip "no radnode at $RADNODE"
for t in dcmcrle dcmdrle dcmcjpls dcmdjpls; do command -v $t >/dev/null || skip "$t not installed"; done
$PY -c "import pydicom, numpy" 2>/dev/null || skip "pydicom/numpy not installed"
[ -d "$TF" ] || skip "pydicom test files not installed"
"$RADNODE" decode 2>&1 | grep -qi "usage" || skip "radnode decode not built"

WORK=$(mktemp -d /tmp/rn_codec_lossless.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
cd "$WORK" || exit 1
fail=0
pass=0

# native bytes (LE, interleaved, all frames) of an uncompressed file, by pydicom
ref() {
    $PY - "$1" "$2" <<'EOF'
import sys, numpy as np, pydicom
ds = pydicom.dcmread(sys.argv[1])
if ds.BitsAllocated == 1:
    data = bytes(ds.PixelData)
    n = int(getattr(ds, "NumberOfFrames", 1) or 1) * ds.Rows * ds.Columns
    data = data[:(n + 7) // 8]
else:
    a = np.ascontiguousarray(ds.pixel_array)
    data = a.astype(a.dtype.newbyteorder("<")).tobytes()
open(sys.argv[2], "wb").write(data)
EOF
}

check() { # label compressed-file reference-raw
    if ! "$RADNODE" decode "$2" --raw "$WORK/out.raw" 2>"$WORK/err.txt"; then
        echo "FAIL $1: radnode decode: $(cat "$WORK/err.txt")"
        fail=$((fail + 1))
    elif cmp -s "$WORK/out.raw" "$3"; then
        echo "ok   $1"
        pass=$((pass + 1))
    else
        echo "FAIL $1: $(cmp "$WORK/out.raw" "$3" 2>&1 | head -1)"
        fail=$((fail + 1))
    fi
}

# ---- synthetic sources (signed 12-bit, odd sizes, planar RGB, 16-bit RGB, 2 frames)
$PY - <<'EOF'
import numpy as np, pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid
rng = np.random.default_rng(5)
def make(path, arr, pm, stored=None, signed=False, planar=0, frames=1):
    m = FileMetaDataset()
    m.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    m.MediaStorageSOPInstanceUID = generate_uid()
    m.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset(); ds.file_meta = m; ds.is_little_endian = True; ds.is_implicit_VR = False
    ds.SOPClassUID = m.MediaStorageSOPClassUID; ds.SOPInstanceUID = m.MediaStorageSOPInstanceUID
    ds.Modality = "OT"; ds.PatientName = "Codec^Test"
    shape = arr.shape[1:] if frames > 1 else arr.shape
    ds.Rows, ds.Columns = shape[0], shape[1]
    ds.SamplesPerPixel = 1 if len(shape) == 2 else shape[2]
    if frames > 1: ds.NumberOfFrames = frames
    ds.PhotometricInterpretation = pm
    if ds.SamplesPerPixel > 1: ds.PlanarConfiguration = planar
    ds.BitsAllocated = arr.dtype.itemsize * 8
    ds.BitsStored = stored or ds.BitsAllocated; ds.HighBit = ds.BitsStored - 1
    ds.PixelRepresentation = 1 if signed else 0
    data = arr
    if planar: data = np.ascontiguousarray(np.moveaxis(arr, -1, -3))
    ds.PixelData = data.astype(arr.dtype.newbyteorder("<")).tobytes()
    ds.save_as(path, write_like_original=False)
ct = rng.normal(0, 700, (61, 75)).clip(-2048, 2047).astype("<i2")
make("ct12.dcm", ct, "MONOCHROME2", 12, True)
make("odd8.dcm", rng.integers(0, 256, (17, 33), dtype=np.uint8), "MONOCHROME2")
rgb = rng.integers(0, 256, (21, 31, 3), dtype=np.uint8); rgb[4:12, 3:20] = (9, 200, 77)
make("rgb.dcm", rgb, "RGB")
make("rgbp.dcm", rgb, "RGB", planar=1)
make("rgb16.dcm", rng.integers(0, 4096, (13, 20, 3), dtype=np.uint16), "RGB", 12)
make("two16.dcm", rng.integers(0, 65536, (2, 19, 23), dtype=np.uint16), "MONOCHROME2", frames=2)
EOF

SOURCES="ct12.dcm odd8.dcm rgb.dcm rgbp.dcm rgb16.dcm two16.dcm $TF/MR_small.dcm $TF/CT_small.dcm
 $TF/SC_rgb_small_odd.dcm $TF/rtdose.dcm $TF/SC_rgb_jpeg_dcmd.dcm"
for s in $SOURCES; do
    b=$(basename "$s" .dcm)
    ref "$s" "$b.ref"
    check "native $b" "$s" "$b.ref"
    dcmcrle -q "$s" "$b.rle.dcm" && check "dcmcrle $b" "$b.rle.dcm" "$b.ref"
    for il in il is in; do
        if dcmcjpls -q +el +$il "$s" "$b.$il.jls.dcm" 2>/dev/null; then
            check "dcmcjpls +$il $b" "$b.$il.jls.dcm" "$b.ref"
        else
            echo "note dcmcjpls +$il cannot encode $b (skipped)"
        fi
    done
done

# ---- pydicom's compressed / big-endian files with uncompressed twins
while read -r comp twin; do
    ref "$TF/$twin" "twin.ref"
    check "pydicom $comp" "$TF/$comp" "twin.ref"
done <<'EOF'
MR_small_RLE.dcm MR_small.dcm
MR_small_jpeg_ls_lossless.dcm MR_small.dcm
MR_small_jp2klossless.dcm MR_small.dcm
MR_small_bigendian.dcm MR_small.dcm
MR_small_expb.dcm MR_small.dcm
rtdose_rle.dcm rtdose.dcm
rtdose_rle_1frame.dcm rtdose_1frame.dcm
rtdose_expb.dcm rtdose.dcm
liver_expb_1frame.dcm liver_1frame.dcm
EOF
# pydicom's RLE files without a twin: pydicom's own RLE decoder is the reference
for f in SC_rgb_rle SC_rgb_rle_16bit SC_rgb_rle_32bit SC_rgb_rle_2frame SC_rgb_rle_16bit_2frame SC_rgb_rle_32bit_2frame; do
    ref "$TF/$f.dcm" "$f.ref" && check "pydicom $f" "$TF/$f.dcm" "$f.ref"
done

# ---- near-lossless JPEG-LS: exactly DCMTK's decode, within NEAR of the original
for s in odd8.dcm rgb.dcm two16.dcm; do
    b=$(basename "$s" .dcm)
    dcmcjpls -q +en +md 3 +un "$s" "$b.nl.dcm" && dcmdjpls -q "$b.nl.dcm" "$b.nl.dec.dcm" || { echo "FAIL dcmcjpls near $b"; fail=$((fail+1)); continue; }
    ref "$b.nl.dec.dcm" "$b.nl.ref"
    check "near-lossless $b = dcmdjpls" "$b.nl.dcm" "$b.nl.ref"
    if $PY - "$WORK/out.raw" "$b.ref" "$s" <<'EOF'
import sys, numpy as np, pydicom
ds = pydicom.dcmread(sys.argv[3]); dt = "<u2" if ds.BitsAllocated == 16 else "u1"
a = np.fromfile(sys.argv[1], dtype=dt).astype(int); b = np.fromfile(sys.argv[2], dtype=dt).astype(int)
sys.exit(0 if a.size == b.size and np.abs(a - b).max() <= 3 else 1)
EOF
    then echo "ok   near-lossless $b within NEAR 3"; pass=$((pass+1)); else echo "FAIL near-lossless $b deviates more than 3"; fail=$((fail+1)); fi
done

# ---- radnode's RLE encoder, decoded by DCMTK's dcmdrle
cat > rle_encode.c <<'EOF'
/* Encodes every frame of a native LE raw file with rn_codec_encode_frame
 * (RLE) and writes them as u32 length + bytes, for pydicom to wrap. */
#include "radnode/codec.h"
#include <stdio.h>
#include <stdlib.h>
int main(int argc, char **argv)
{
    if (argc != 8)
        return 2;
    RnImageInfo info = {0};
    info.rows = (uint32_t)atoi(argv[1]);
    info.columns = (uint32_t)atoi(argv[2]);
    info.samples_per_pixel = (uint32_t)atoi(argv[3]);
    info.bits_allocated = info.bits_stored = (uint32_t)atoi(argv[4]);
    info.high_bit = info.bits_stored - 1;
    info.number_of_frames = 1;
    unsigned frames = (unsigned)atoi(argv[5]);
    RnError err = {0};
    size_t len = 0;
    uint8_t *raw = rn_file_read_all(argv[6], (size_t)1 << 30, &len, &err);
    size_t fsize = rn_image_frame_size(&info);
    if (!raw || len < fsize * frames)
        return 3;
    FILE *out = fopen(argv[7], "wb");
    for (unsigned k = 0; k < frames; k++) {
        RnBuf enc = {0};
        if (rn_codec_encode_frame(RN_UID_RLE_LOSSLESS, &info, raw + k * fsize, fsize, &enc, &err)) {
            fprintf(stderr, "%s\n", err.message);
            return 4;
        }
        uint8_t n[4];
        rn_wr32le(n, (uint32_t)enc.len);
        fwrite(n, 1, 4, out);
        fwrite(enc.data, 1, enc.len, out);
        rn_buf_free(&enc);
    }
    fclose(out);
    free(raw);
    return 0;
}
EOF
LIBS="$(pkg-config --libs libturbojpeg libjpeg libopenjp2 zlib openssl sqlite3 libmicrohttpd jansson openblas cairo libpng 2>/dev/null) -lcharls -lpthread -lm"
# The library of a sanitizer build needs the sanitizer runtimes at link time.
grep -q '^RN_SANITIZE:BOOL=ON' "$BUILD/CMakeCache.txt" 2>/dev/null && LIBS="-fsanitize=address,undefined $LIBS"
if [ -f "$BUILD/librn.a" ] && cc -std=c11 -D_GNU_SOURCE -I"$SRC/include" rle_encode.c "$BUILD/librn.a" $LIBS -o rle_encode 2>cc.txt; then
    for s in $SOURCES; do
        b=$(basename "$s" .dcm)
        read -r rows cols spp bits frames < <($PY -c "
import pydicom; d = pydicom.dcmread('$s', stop_before_pixels=True)
print(d.Rows, d.Columns, d.SamplesPerPixel, d.BitsAllocated, int(getattr(d, 'NumberOfFrames', 1) or 1))")
        if ! ./rle_encode "$rows" "$cols" "$spp" "$bits" "$frames" "$b.ref" "$b.enc"; then
            echo "FAIL radnode RLE encode $b"; fail=$((fail + 1)); continue
        fi
        $PY - "$s" "$b.enc" "$b.mine.rle.dcm" <<'EOF'
import sys, struct, pydicom
from pydicom.encaps import encapsulate
from pydicom.uid import RLELossless
ds = pydicom.dcmread(sys.argv[1])
blob = open(sys.argv[2], "rb").read(); frames = []; i = 0
while i < len(blob):
    n = struct.unpack_from("<I", blob, i)[0]; frames.append(blob[i + 4:i + 4 + n]); i += 4 + n
ds.PixelData = encapsulate(frames)
ds["PixelData"].VR = "OB"
ds["PixelData"].is_undefined_length = True
if ds.SamplesPerPixel > 1: ds.PlanarConfiguration = 0
ds.file_meta.TransferSyntaxUID = RLELossless
ds.is_little_endian = True; ds.is_implicit_VR = False
ds.save_as(sys.argv[3], write_like_original=False)
EOF
        if dcmdrle -q "$b.mine.rle.dcm" "$b.dcmdrle.dcm" && ref "$b.dcmdrle.dcm" "$b.dcmdrle.raw" &&
            cmp -s "$b.dcmdrle.raw" "$b.ref"; then
            echo "ok   dcmdrle decodes radnode RLE of $b"; pass=$((pass + 1))
        else
            echo "FAIL dcmdrle on radnode RLE of $b"; fail=$((fail + 1))
        fi
        check "radnode decodes its own RLE of $b" "$b.mine.rle.dcm" "$b.ref"
    done
else
    echo "FAIL cannot build the RLE encoder helper against $BUILD/librn.a: $(head -3 cc.txt)"
    fail=$((fail + 1))
fi

echo "codec lossless: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
