#!/usr/bin/python3
"""Builds the JPEG decoder fixtures in tests/data/jpeg/.

For every case it writes NAME.jpg (one raw ISO 10918-1 stream, the frame as
stored in the DICOM Pixel Data) and NAME.ref.gz (the reference native frame,
little-endian, interleaved), and one line in manifest.txt:

    NAME rows columns samples bits_allocated bits_stored pixel_representation
         photometric_in photometric_out tolerance

References come from DCMTK's dcmdjpeg (the peer radnode must agree with) or,
for the streams made here, from the source image itself after checking that
dcmdjpeg decodes the stream to exactly that image. Sources:
  * pydicom's test files (Debian python3-pydicom): JPEG baseline, 12-bit
    extended and lossless SV1 frames;
  * dcmcjpeg output for pydicom's uncompressed images (lossless with every
    selection value, point transform, 8-bit lossless, 12-bit extended
    grey and YCbCr 4:2:2, baseline and progressive 8-bit);
  * a small independent lossless encoder below, for what dcmcjpeg cannot
    make: restart intervals, non-interleaved scans, 2-bit precision.

Needs: dcmtk, python3-pydicom, python3-numpy. Run from anywhere:
    /usr/bin/python3 tools/extract_jpeg_fixtures.py
"""
import gzip
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate, generate_pixel_data_frame
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

TEST_FILES = "/usr/lib/python3/dist-packages/pydicom/data/test_files"
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "jpeg")
TMP = tempfile.mkdtemp(prefix="rn_jpeg_fix_")
manifest = []


def run(*args):
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL)


def first_frame(ds):
    return next(generate_pixel_data_frame(ds.PixelData, int(getattr(ds, "NumberOfFrames", 1))))


def frame_bytes(ds):
    """Native frame 1 as little-endian bytes."""
    n = int(ds.Rows) * int(ds.Columns) * int(ds.SamplesPerPixel) * (int(ds.BitsAllocated) // 8)
    return bytes(ds.PixelData[:n])


def add(name, jpeg, ref, ds, photometric_out, tol):
    assert len(jpeg) < 20000, (name, len(jpeg))
    with open(os.path.join(OUT, name + ".jpg"), "wb") as f:
        f.write(jpeg)
    with open(os.path.join(OUT, name + ".ref.gz"), "wb") as f:
        f.write(gzip.compress(ref, mtime=0))
    manifest.append("%s %d %d %d %d %d %d %s %s %d" % (
        name, ds.Rows, ds.Columns, ds.SamplesPerPixel, ds.BitsAllocated, ds.BitsStored,
        ds.PixelRepresentation, ds.PhotometricInterpretation, photometric_out, tol))


def dcmtk_ref(path):
    """dcmdjpeg's decoding of frame 1 of a JPEG DICOM file, and its photometric."""
    out = os.path.join(TMP, "dec.dcm")
    run("dcmdjpeg", path, out)
    d = pydicom.dcmread(out)
    return frame_bytes(d), str(d.PhotometricInterpretation)


def from_dicom(name, path, tol):
    ds = pydicom.dcmread(path)
    ref, pi = dcmtk_ref(path)
    add(name, first_frame(ds), ref, ds, pi, tol)


def save_native(ds, path):
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.save_as(path, write_like_original=False)


def from_dcmcjpeg(name, src_ds, opts, tol):
    src = os.path.join(TMP, name + "_src.dcm")
    enc = os.path.join(TMP, name + "_enc.dcm")
    save_native(src_ds, src)
    run("dcmcjpeg", *opts, src, enc)
    from_dicom(name, enc, tol)


# ---- a small independent lossless (process 14) encoder --------------------

def bits_of(d):
    return 0 if d == 0 else int(abs(d)).bit_length()


class Writer:
    def __init__(self):
        self.out = bytearray()
        self.acc = 0
        self.n = 0

    def put(self, v, n):
        for i in range(n - 1, -1, -1):
            self.acc = (self.acc << 1) | ((v >> i) & 1)
            self.n += 1
            if self.n == 8:
                self.out.append(self.acc)
                if self.acc == 0xFF:
                    self.out.append(0)
                self.acc = self.n = 0

    def flush(self):
        while self.n:
            self.put(1, 1)


def seg(marker, body):
    return bytes([0xFF, marker]) + (len(body) + 2).to_bytes(2, "big") + bytes(body)


def lossless_encode(img, P, sel, pt, restart=0, interleaved=True):
    """img: (rows, cols, comps) array of P-bit unsigned values (low pt bits dropped)."""
    rows, cols, nc = img.shape
    x = (img.astype(np.int64) >> pt)
    # every symbol 0..16 gets a 5-bit code: simple and valid (Table H.2 has 17 categories)
    code = {s: s for s in range(17)}
    out = bytearray(b"\xff\xd8")
    body = [P] + list(rows.to_bytes(2, "big")) + list(cols.to_bytes(2, "big")) + [nc]
    for c in range(nc):
        body += [c + 1, 0x11, 0]
    out += seg(0xC3, body)
    out += seg(0xC4, [0x00] + [0, 0, 0, 0, 17] + [0] * 11 + list(range(17)))
    if restart:
        out += seg(0xDD, list(restart.to_bytes(2, "big")))
    scans = [list(range(nc))] if interleaved else [[c] for c in range(nc)]
    init = 1 << (P - pt - 1)
    for comps in scans:
        out += seg(0xDA, [len(comps)] + sum([[c + 1, 0x00] for c in comps], []) + [sel, 0, pt])
        w = Writer()
        left, rst, first_line_rows = restart, 0, {0}
        reset_at = (0, 0)
        for r in range(rows):
            for col in range(cols):
                for c in comps:
                    a = x[r, col - 1, c] if col else 0
                    b = x[r - 1, col, c] if r else 0
                    cc = x[r - 1, col - 1, c] if r and col else 0
                    if (r, col) == reset_at:
                        px = init
                    elif r in first_line_rows:
                        px = a
                    elif col == 0:
                        px = b
                    else:
                        px = {1: a, 2: b, 3: cc, 4: a + b - cc, 5: a + ((b - cc) >> 1),
                              6: b + ((a - cc) >> 1), 7: (a + b) >> 1}[sel]
                    d = (int(x[r, col, c]) - int(px)) & 0xFFFF
                    if d >= 32768:
                        d -= 65536
                    s = 16 if d == -32768 else bits_of(d)
                    w.put(code[s], 5)
                    if 0 < s < 16:
                        w.put(d if d > 0 else d - 1 + (1 << s), s)
                if restart:
                    left -= 1
                    last = r == rows - 1 and col == cols - 1
                    if left == 0 and not last:
                        w.flush()
                        w.out += bytes([0xFF, 0xD0 + (rst & 7)])
                        rst += 1
                        left = restart
                        nr, nc2 = (r, col + 1) if col + 1 < cols else (r + 1, 0)
                        reset_at = (nr, nc2)
                        first_line_rows = {nr}
        w.flush()
        out += w.out
    out += b"\xff\xd9"
    return bytes(out)


def wrap_lossless(img, bits_alloc, bits_stored, jpeg, photometric):
    """A JPEG Lossless DICOM file around one stream, for dcmdjpeg."""
    rows, cols, nc = img.shape
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.57"
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.Rows, ds.Columns, ds.SamplesPerPixel = rows, cols, nc
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = bits_alloc, bits_stored, bits_stored - 1
    ds.PixelRepresentation = 0
    ds.PhotometricInterpretation = photometric
    if nc == 3:
        ds.PlanarConfiguration = 0
    ds.PixelData = encapsulate([jpeg])
    ds["PixelData"].VR = "OB"
    ds.is_little_endian, ds.is_implicit_VR = True, False
    return ds


def own_lossless(name, img, bits_alloc, P, sel, pt, restart=0, interleaved=True):
    rows, cols, nc = img.shape
    photometric = "RGB" if nc == 3 else "MONOCHROME2"
    jpeg = lossless_encode(img, P, sel, pt, restart, interleaved)
    ds = wrap_lossless(img, bits_alloc, P, jpeg, photometric)
    path = os.path.join(TMP, name + ".dcm")
    ds.save_as(path, write_like_original=False)
    ref, _ = dcmtk_ref(path)
    dt = "<u1" if bits_alloc == 8 else "<u2"
    expect = ((img.astype(np.int64) >> pt) << pt).astype(dt).tobytes()
    if ref != expect:
        sys.exit("dcmdjpeg disagrees with the fixture encoder on " + name)
    add(name, jpeg, expect, ds, photometric, 0)


def main():
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        if f.endswith((".jpg", ".ref.gz")) or f == "manifest.txt":
            os.remove(os.path.join(OUT, f))
    T = TEST_FILES
    # pydicom's compressed files, reference = dcmdjpeg
    from_dicom("py_lossless_rgb8", T + "/SC_rgb_jpeg_gdcm.dcm", 0)
    from_dicom("py_extended12", T + "/JPGExtended.dcm", 1)
    for tag, f in [("s2", "+eb+cy+s2"), ("s4", "+eb+cy+s4"), ("n1", "+eb+cy+n1"),
                   ("n2", "+eb+cy+n2"), ("np", "+eb+cy+np"), ("cr", "+eb+cr")]:
        from_dicom("py_baseline_" + tag, T + "/SC_rgb_dcmtk_%s.dcm" % f, 1)
    from_dicom("py_baseline_rgb_notransform", T + "/SC_jpeg_no_color_transform.dcm", 1)
    from_dicom("py_baseline_app14", T + "/SC_rgb_jpeg_app14_dcmd.dcm", 1)
    from_dicom("py_baseline_odd3x3", T + "/SC_rgb_small_odd_jpeg.dcm", 1)
    from_dicom("py_baseline_gdcm", T + "/SC_rgb_jpeg_lossy_gdcm.dcm", 1)

    # dcmcjpeg on pydicom's native images
    mr = pydicom.dcmread(T + "/MR_small.dcm")  # 64x64, 16-bit signed
    for sv in range(1, 8):
        from_dcmcjpeg("dc_lossless16_sv%d" % sv, mr, ["+el", "+sv", str(sv)], 0)
    from_dcmcjpeg("dc_lossless16_sv1_pt3", mr, ["+el", "+sv", "1", "+pt", "3"], 0)
    ct = pydicom.dcmread(T + "/CT_small.dcm")  # 128x128, 16-bit signed
    ct12 = pydicom.dcmread(T + "/CT_small.dcm")
    a = np.frombuffer(ct.PixelData, "<i2").astype(np.int32)
    a = np.clip(a + 1024, 0, 4095).reshape(128, 128)[32:96, 32:96]
    ct12.Rows = ct12.Columns = 64
    ct12.BitsStored, ct12.HighBit, ct12.PixelRepresentation = 12, 11, 0
    ct12.RescaleIntercept = -1024
    ct12.PixelData = a.astype("<u2").tobytes()
    from_dcmcjpeg("dc_extended12_gray", ct12, ["+ee"], 1)
    from_dcmcjpeg("dc_lossless12_sv7", ct12, ["+el", "+sv", "7"], 0)
    mr8 = pydicom.dcmread(T + "/MR_small.dcm")
    b = np.frombuffer(mr.PixelData, "<i2").astype(np.int32)
    b = (b - b.min()) * 255 // max(1, b.max() - b.min())
    mr8.BitsAllocated, mr8.BitsStored, mr8.HighBit, mr8.PixelRepresentation = 8, 8, 7, 0
    mr8.PixelData = b.astype("u1").tobytes()
    from_dcmcjpeg("dc_lossless8_sv1", mr8, ["+e1"], 0)
    from_dcmcjpeg("dc_baseline8_gray", mr8, ["+eb"], 1)
    from_dcmcjpeg("dc_progressive8_gray", mr8, ["+ep"], 1)
    from_dcmcjpeg("dc_extended8_gray", mr8, ["+ee"], 1)
    rgb = pydicom.dcmread(T + "/ExplVR_BigEnd.dcm")  # 60x80 RGB, big endian
    rgb.PixelData = rgb.pixel_array.astype("u1").tobytes()
    rgb.PlanarConfiguration = 0
    rgb.is_little_endian = True
    from_dcmcjpeg("dc_lossless_rgb8", rgb, ["+e1"], 0)
    from_dcmcjpeg("dc_extended12_ybr422", rgb, ["+ee", "+bt", "+s2"], 1)
    from_dcmcjpeg("dc_extended12_ybr444", rgb, ["+ee", "+bt", "+s4"], 1)

    # the small encoder above: restarts, non-interleaved scans, odd precisions
    rng = np.random.default_rng(1)
    g = (np.add.outer(np.arange(24) * 700, np.arange(20) * 300) % 65536).astype(np.int64)
    own_lossless("own_p16_sv4_restart_rows", g[:, :, None], 16, 16, 4, 0, restart=20)
    own_lossless("own_p16_sv5_restart_2rows", g[:, :, None], 16, 16, 5, 0, restart=40)
    n12 = rng.integers(0, 4096, (17, 13, 3))
    own_lossless("own_p12_rgb_noninterleaved_sv6", n12, 16, 12, 6, 0, interleaved=False)
    own_lossless("own_p12_rgb_interleaved_sv7_pt2", n12, 16, 12, 7, 2, restart=13)
    n2 = rng.integers(0, 4, (9, 11, 1))
    own_lossless("own_p2_sv2", n2, 8, 2, 2, 0)
    n8 = rng.integers(0, 256, (10, 10, 3))
    own_lossless("own_p8_rgb_sv3_restart", n8, 8, 8, 3, 0, restart=10, interleaved=False)

    with open(os.path.join(OUT, "manifest.txt"), "w") as f:
        f.write("# name rows columns samples bits_allocated bits_stored pixel_representation "
                "photometric_in photometric_out tolerance (made by tools/extract_jpeg_fixtures.py)\n")
        f.write("\n".join(manifest) + "\n")
    print("%d fixtures in %s" % (len(manifest), os.path.normpath(OUT)))


if __name__ == "__main__":
    try:
        main()
    finally:
        shutil.rmtree(TMP, ignore_errors=True)
