#!/usr/bin/python3
"""Builds the codec test fixtures and fuzz seed corpora from public reference data.

Sources: pydicom's test files (compressed images with uncompressed twins, and
files that pydicom itself decodes with its own RLE decoder or Pillow/OpenJPEG),
plus small synthetic images compressed here with DCMTK (dcmcrle, dcmcjpls
lossless and near-lossless in every interleave mode) and Pillow (JPEG 2000).

Writes
  tests/data/codec/*.{rle,jls,j2k,raw}  one compressed frame each, and raw
                                         native references (little-endian,
                                         interleaved) where small enough
  tests/data/codec/manifest.txt         one line per fixture (see its header)
  tests/fuzz/corpus/fuzz_{rle,jpegls,j2k}/seed_*  8-byte image header + stream
                                         (the layout fuzz_*.c parse), each < 20 KB

The reference for each fixture is either the uncompressed twin or an
independent decoder's output, stored as a .raw file (<= 16 KB) or as
crc32:length. Run from the repository root: /usr/bin/python3 tools/extract_codec_fixtures.py
"""
import os
import struct
import subprocess
import sys
import tempfile
import zlib

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import generate_pixel_data_frame
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

TEST_FILES = "/usr/lib/python3/dist-packages/pydicom/data/test_files"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "data", "codec")
CORPUS = os.path.join(ROOT, "tests", "fuzz", "corpus")
RAW_LIMIT = 16 * 1024
SEED_LIMIT = 20 * 1024

manifest = []


def tf(name):
    return os.path.join(TEST_FILES, name)


def native_bytes(ds):
    """Little-endian interleaved native bytes of an uncompressed dataset."""
    arr = ds.pixel_array
    spp = int(ds.SamplesPerPixel)
    if ds.BitsAllocated == 1:
        return bytes(ds.PixelData)
    arr = np.ascontiguousarray(arr)
    dt = arr.dtype.newbyteorder("<")
    return arr.astype(dt).tobytes()


def frames_of(ds):
    n = int(getattr(ds, "NumberOfFrames", 1) or 1)
    return list(generate_pixel_data_frame(ds.PixelData, n))


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def ref_field(name, data):
    if len(data) <= RAW_LIMIT:
        write(os.path.join(OUT, name + ".raw"), data)
        return name + ".raw"
    return "crc32:%08x:%d" % (zlib.crc32(data) & 0xFFFFFFFF, len(data))


def image_header(ds):
    return struct.pack("<HHBBBB", int(ds.Rows), int(ds.Columns), int(ds.SamplesPerPixel),
                       int(ds.BitsAllocated), int(ds.BitsStored),
                       int(ds.PixelRepresentation) | (int(getattr(ds, "PlanarConfiguration", 0) or 0) << 1))


def add(codec, name, ds, frame, ref_bytes, out_photometric=None, orig=None, maxdev=0, seed=True):
    ext = {"rle": "rle", "jpegls": "jls", "j2k": "j2k"}[codec]
    fname = "%s.%s" % (name, ext)
    write(os.path.join(OUT, fname), frame)
    ref = ref_field(name + "_ref", ref_bytes)
    orig_field = "-"
    if orig is not None:
        orig_field = ref_field(name + "_orig", orig)
        if not orig_field.endswith(".raw"):
            sys.exit("original of %s too large for a tolerance check" % name)
    pm = str(ds.PhotometricInterpretation)
    manifest.append(" ".join(str(x) for x in [
        codec, fname, ds.Rows, ds.Columns, ds.SamplesPerPixel, ds.BitsAllocated, ds.BitsStored,
        ds.HighBit, ds.PixelRepresentation, int(getattr(ds, "PlanarConfiguration", 0) or 0),
        pm, out_photometric or pm, ref, orig_field, maxdev]))
    if seed and len(frame) + 8 <= SEED_LIMIT:
        d = os.path.join(CORPUS, "fuzz_" + codec)
        os.makedirs(d, exist_ok=True)
        write(os.path.join(d, "seed_" + name), image_header(ds) + frame)


def make_dicom(path, arr, photometric, bits_stored=None, signed=False, planar=0):
    """Secondary Capture, Explicit VR Little Endian, from a (rows, cols[, spp]) array."""
    arr = np.ascontiguousarray(arr)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.is_little_endian = True
    ds.is_implicit_VR = False
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.PatientName = "Codec^Fixture"
    ds.Modality = "OT"
    ds.Rows, ds.Columns = arr.shape[0], arr.shape[1]
    ds.SamplesPerPixel = 1 if arr.ndim == 2 else arr.shape[2]
    ds.PhotometricInterpretation = photometric
    if ds.SamplesPerPixel > 1:
        ds.PlanarConfiguration = planar
    ds.BitsAllocated = arr.dtype.itemsize * 8
    ds.BitsStored = bits_stored or ds.BitsAllocated
    ds.HighBit = ds.BitsStored - 1
    ds.PixelRepresentation = 1 if signed else 0
    data = arr
    if planar and arr.ndim == 3:
        data = np.ascontiguousarray(arr.transpose(2, 0, 1))
    ds.PixelData = data.astype(arr.dtype.newbyteorder("<")).tobytes()
    ds.save_as(path, write_like_original=False)
    return path


def dcmtk(tool, args, src, dst):
    subprocess.run([tool, "-q"] + args + [src, dst], check=True)
    return pydicom.dcmread(dst)


def main():
    os.makedirs(OUT, exist_ok=True)
    for name in os.listdir(OUT):
        os.remove(os.path.join(OUT, name))
    for c in ("rle", "jpegls", "j2k"):
        d = os.path.join(CORPUS, "fuzz_" + c)
        if os.path.isdir(d):
            for name in os.listdir(d):
                if name.startswith("seed_"):
                    os.remove(os.path.join(d, name))
    tmp = tempfile.mkdtemp(prefix="rn_codec_fixtures_")
    rng = np.random.default_rng(20240501)

    mr = pydicom.dcmread(tf("MR_small.dcm"))
    mr_raw = native_bytes(mr)

    # ---- RLE: pydicom's compressed files --------------------------------
    rle = pydicom.dcmread(tf("MR_small_RLE.dcm"))
    add("rle", "mr_small", rle, frames_of(rle)[0], mr_raw)
    dose = pydicom.dcmread(tf("rtdose.dcm"))
    dose_rle = pydicom.dcmread(tf("rtdose_rle.dcm"))
    dose_raw = native_bytes(dose)
    fsz = len(dose_raw) // int(dose.NumberOfFrames)
    for k in (0, 7):
        add("rle", "rtdose_f%d" % k, dose_rle, frames_of(dose_rle)[k],
            dose_raw[k * fsz:(k + 1) * fsz])
    for name in ("SC_rgb_rle", "SC_rgb_rle_16bit", "SC_rgb_rle_32bit", "SC_rgb_rle_2frame"):
        ds = pydicom.dcmread(tf(name + ".dcm"))
        ref = native_bytes(ds)  # pydicom's own (numpy) RLE decoder
        frames = frames_of(ds)
        step = len(ref) // len(frames)
        for k, fr in enumerate(frames):
            add("rle", "%s_f%d" % (name.lower(), k), ds, fr, ref[k * step:(k + 1) * step],
                seed=(k == 0))

    # ---- synthetic images for DCMTK ---------------------------------------
    ct = (rng.normal(0, 600, (48, 64)).clip(-2048, 2047)).astype("<i2")
    ct[0:8, :] = -2048
    ct[10, 5:40] = 2047
    src_ct12 = make_dicom(os.path.join(tmp, "ct12.dcm"), ct, "MONOCHROME2", 12, True)
    odd8 = rng.integers(0, 256, (17, 33), dtype=np.uint8)
    odd8[3:9, :] = 77  # runs for RLE
    src_odd8 = make_dicom(os.path.join(tmp, "odd8.dcm"), odd8, "MONOCHROME2")
    rgb = rng.integers(0, 256, (21, 31, 3), dtype=np.uint8)
    rgb[5:15, 4:20, :] = (200, 30, 90)
    src_rgb = make_dicom(os.path.join(tmp, "rgb.dcm"), rgb, "RGB")
    src_rgbp = make_dicom(os.path.join(tmp, "rgbp.dcm"), rgb, "RGB", planar=1)
    rgb16 = rng.integers(0, 4096, (13, 20, 3), dtype=np.uint16)
    src_rgb16 = make_dicom(os.path.join(tmp, "rgb16.dcm"), rgb16.astype("<u2"), "RGB", 12)
    gray16 = (np.add.outer(np.arange(40), np.arange(52)) * 1000 % 65536).astype("<u2")
    src_gray16 = make_dicom(os.path.join(tmp, "gray16.dcm"), gray16, "MONOCHROME2")

    def twin(path):
        return native_bytes(pydicom.dcmread(path))

    for label, path in (("ct12", src_ct12), ("odd8", src_odd8), ("rgb", src_rgb),
                        ("rgb_planar", src_rgbp), ("rgb16", src_rgb16), ("gray16", src_gray16),
                        ("ct_small", tf("CT_small.dcm")), ("sc_odd", tf("SC_rgb_small_odd.dcm"))):
        ds = dcmtk("dcmcrle", [], path, os.path.join(tmp, label + "_rle.dcm"))
        add("rle", "dcmtk_" + label, ds, frames_of(ds)[0], twin(path),
            seed=label in ("odd8", "rgb", "sc_odd"))

    # ---- JPEG-LS -------------------------------------------------------------
    jls = pydicom.dcmread(tf("MR_small_jpeg_ls_lossless.dcm"))
    add("jpegls", "mr_small", jls, frames_of(jls)[0], mr_raw)
    for label, path in (("ct12", src_ct12), ("odd8", src_odd8), ("gray16", src_gray16),
                        ("sc_odd", tf("SC_rgb_small_odd.dcm")), ("rgb16", src_rgb16)):
        ds = dcmtk("dcmcjpls", ["+el"], path, os.path.join(tmp, label + "_jls.dcm"))
        add("jpegls", "dcmtk_" + label, ds, frames_of(ds)[0], twin(path),
            seed=label in ("odd8", "sc_odd"))
    for mode in ("il", "is", "in"):
        ds = dcmtk("dcmcjpls", ["+el", "+" + mode], src_rgb, os.path.join(tmp, "rgb_%s.dcm" % mode))
        add("jpegls", "dcmtk_rgb_" + mode, ds, frames_of(ds)[0], twin(src_rgb), seed=(mode == "in"))
    # near-lossless: exactly DCMTK's decode, and within NEAR of the original
    for label, path, near in (("gray16", src_gray16, 3), ("odd8", src_odd8, 2),
                              ("rgb", src_rgb, 4)):
        enc = os.path.join(tmp, label + "_nl.dcm")
        ds = dcmtk("dcmcjpls", ["+en", "+md", str(near), "+un"], path, enc)
        dec = dcmtk("dcmdjpls", [], enc, os.path.join(tmp, label + "_nl_dec.dcm"))
        add("jpegls", "dcmtk_near_" + label, ds, frames_of(ds)[0], native_bytes(dec),
            orig=twin(path), maxdev=near, seed=(label == "odd8"))

    # ---- JPEG 2000 -----------------------------------------------------------
    j2k = pydicom.dcmread(tf("MR_small_jp2klossless.dcm"))
    add("j2k", "mr_small", j2k, frames_of(j2k)[0], mr_raw)
    # lossy: pydicom's decode through Pillow (OpenJPEG), same library, so exact
    for name in ("693_J2KI", "JPEG2000", "SC_rgb_gdcm_KY"):
        ds = pydicom.dcmread(tf(name + ".dcm"))
        ref = native_bytes(ds)
        add("j2k", name.lower(), ds, frames_of(ds)[0], ref)
    # lossless streams made with Pillow's OpenJPEG encoder from synthetic images
    from PIL import Image
    import io
    for label, arr, photometric, kw in (
            ("pil_gray8", odd8, "MONOCHROME2", {}),
            ("pil_rgb", rgb, "RGB", {}),
            ("pil_rgb_mct", rgb, "YBR_RCT", {"mct": 1}),
            ("pil_gray16", gray16, "MONOCHROME2", {}),
            ("pil_gray8_jp2", odd8, "MONOCHROME2", {"no_jp2": False})):
        img = Image.fromarray(arr if arr.dtype == np.uint8 else arr.astype(np.uint16),
                              mode=None if arr.dtype == np.uint8 else "I;16")
        buf = io.BytesIO()
        opts = {"irreversible": False, "no_jp2": True}
        opts.update(kw)
        img.save(buf, format="JPEG2000", **opts)
        src = make_dicom(os.path.join(tmp, label + ".dcm"), arr, photometric)
        ds = pydicom.dcmread(src)
        add("j2k", label, ds, buf.getvalue(), twin(src),
            out_photometric="RGB" if photometric == "YBR_RCT" else None,
            seed=label in ("pil_gray8", "pil_rgb_mct"))

    with open(os.path.join(OUT, "manifest.txt"), "w") as f:
        f.write("# Generated by tools/extract_codec_fixtures.py. One compressed frame per line:\n"
                "# codec file rows columns samples bits_allocated bits_stored high_bit "
                "pixel_representation planar photometric out_photometric reference "
                "original max_deviation\n"
                "# reference: the exact expected decode (file.raw or crc32:hex:length);\n"
                "# original (or -): the image before lossy coding, within max_deviation.\n")
        for line in manifest:
            f.write(line + "\n")
    print("%d fixtures in %s" % (len(manifest), OUT))


if __name__ == "__main__":
    main()
