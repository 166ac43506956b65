#!/usr/bin/python3
"""Writes the seed corpus of the Part 10 fuzz target (tests/fuzz/corpus/fuzz_part10):
small synthetic files made with pydicom in every uncompressed transfer syntax,
with nested sequences, private tags, multi-valued and binary VRs, encapsulated
pixel data with and without offset tables, and a few truncated copies.
Synthetic data only: no third-party files are copied into the repo."""
import io
import os
import sys

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import (ExplicitVRLittleEndian, ImplicitVRLittleEndian, ExplicitVRBigEndian,
                         DeflatedExplicitVRLittleEndian, JPEGBaseline8Bit, RLELossless)

out = sys.argv[1] if len(sys.argv) > 1 else "tests/fuzz/corpus/fuzz_part10"
os.makedirs(out, exist_ok=True)


def base():
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    ds.SOPInstanceUID = "1.2.826.0.1.3680043.10.1078.99.1"
    ds.PatientName = "Müller^Jürgen"
    ds.PatientID = "ID1"
    ds.StudyDate = "20260101"
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    ds.PixelSpacing = [0.5, 0.5]
    ds.add_new(0x00091010, "LO", "radnode test")
    ds.add_new(0x00091001, "UL", 123456)
    ds.add_new(0x00181310, "US", [0, 4, 4, 0])
    ds.add_new(0x0018605A, "FL", [1.5, 2.5])
    ref = Dataset()
    ref.ReferencedSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    ref.ReferencedSOPInstanceUID = "1.2.3.4"
    inner = Dataset()
    inner.CodeValue = "121322"
    inner.CodingSchemeDesignator = "DCM"
    inner.CodeMeaning = "Source image for image processing operation"
    ref.PurposeOfReferenceCodeSequence = Sequence([inner])
    ds.SourceImageSequence = Sequence([ref, Dataset()])
    ds.Rows = 4
    ds.Columns = 4
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.PixelData = bytes(range(32))
    return ds


def write(name, ds, ts):
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = ts
    ds.preamble = b"\0" * 128
    bio = io.BytesIO()
    try:
        ds.save_as(bio, enforce_file_format=True)
    except TypeError:
        ds.is_little_endian = ts != ExplicitVRBigEndian
        ds.is_implicit_VR = ts == ImplicitVRLittleEndian
        ds.save_as(bio, write_like_original=False)
    data = bio.getvalue()
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)
    return data


for name, ts in [("implicit.dcm", ImplicitVRLittleEndian), ("explicit.dcm", ExplicitVRLittleEndian),
                 ("bigendian.dcm", ExplicitVRBigEndian),
                 ("deflated.dcm", DeflatedExplicitVRLittleEndian)]:
    data = write(name, base(), ts)
    for cut in (200, len(data) // 2, len(data) - 3):
        with open(os.path.join(out, f"trunc{cut}_{name}"), "wb") as f:
            f.write(data[:cut])

# Encapsulated: 2 frames, basic offset table; and 1 frame split into 2 fragments without table.
from pydicom.encaps import encapsulate
ds = base()
ds.NumberOfFrames = 2
ds.PixelData = encapsulate([b"\xff\xd8\xff\xd9" * 3, b"\xff\xd8\x00\x01\xff\xd9"], has_bot=True)
ds["PixelData"].VR = "OB"
write("encaps_bot.dcm", ds, JPEGBaseline8Bit)
ds = base()
ds.PixelData = encapsulate([b"\x00" * 64 + b"\x01" * 66], fragments_per_frame=2, has_bot=False)
ds["PixelData"].VR = "OB"
write("encaps_frag.dcm", ds, RLELossless)
print("seeds in", out, len(os.listdir(out)))
