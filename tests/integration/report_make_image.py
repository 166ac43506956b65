#!/usr/bin/python3
"""Writes a small source image for the report tests, as a modality would:
a DX hand radiograph (from an RSNA bone age PNG when one is given, else a
generated gradient) or a CT chest slice (a synthetic phantom with two round
"nodules"). Explicit VR Little Endian, 16-bit MONOCHROME2.

usage: report_make_image.py OUT.dcm dx|ct [PNG] [--zh]
  --zh  a Chinese patient name (Specific Character Set ISO_IR 192)
"""
import sys

import numpy as np
import pydicom
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian

ROOT = "1.2.826.0.1.3680043.10.1078.99."


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    zh = "--zh" in sys.argv
    out, kind = args[0], args[1]
    png = args[2] if len(args) > 2 else None
    meta = FileMetaDataset()
    sop_class = "1.2.840.10008.5.1.4.1.1.1.1" if kind == "dx" else "1.2.840.10008.5.1.4.1.1.2"
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = ROOT + ("1.1.1" if kind == "dx" else "2.1.1")
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(out, {}, file_meta=meta, preamble=b"\0" * 128)
    if zh:
        ds.SpecificCharacterSet = "ISO_IR 192"
        ds.PatientName = "Wang^XiaoMing=王^小明"
    else:
        ds.PatientName = "Test^Child"
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.PatientID = "RN-TEST-0042"
    ds.PatientBirthDate = "20140301"
    ds.PatientSex = "M"
    ds.StudyInstanceUID = ROOT + ("1" if kind == "dx" else "2")
    ds.SeriesInstanceUID = ds.StudyInstanceUID + ".1"
    ds.StudyDate = "20240512"
    ds.StudyTime = "101500"
    ds.AccessionNumber = "ACC20240512"
    ds.ReferringPhysicianName = "Ref^Doctor"
    ds.StudyID = "S1"
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    ds.Manufacturer = "TestModality"
    ds.InstitutionName = "Test Children's Hospital"
    if kind == "dx":
        ds.Modality = "DX"
        ds.BodyPartExamined = "HAND"
        ds.StudyDescription = "XR hand left for bone age"
        ds.PresentationIntentType = "FOR PRESENTATION"
        ds.ImageType = ["ORIGINAL", "PRIMARY"]
        ds.PatientOrientation = ["A", "R"]
        if png:
            from PIL import Image
            img = Image.open(png).convert("L")
            img.thumbnail((256, 320))
            a = np.asarray(img, dtype=np.uint16) * 16
        else:
            y, x = np.mgrid[0:300, 0:240]
            a = ((x * 7 + y * 5) % 4096).astype(np.uint16)
        ds.PixelSpacing = [0.4, 0.4]
        ds.WindowCenter = 2048
        ds.WindowWidth = 4096
    else:
        ds.Modality = "CT"
        ds.BodyPartExamined = "CHEST"
        ds.StudyDescription = "CT chest low dose"
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        y, x = np.mgrid[0:256, 0:256]
        body = ((x - 128) ** 2 / 110.0 ** 2 + (y - 128) ** 2 / 90.0 ** 2) < 1
        a = np.where(body, 1000 - 800, 0).astype(np.int32)
        for cx, cy, r in ((90, 110, 12), (170, 150, 6)):
            a[(x - cx) ** 2 + (y - cy) ** 2 < r * r] = 1040
        a = a.astype(np.uint16)
        ds.PixelSpacing = [0.7, 0.7]
        ds.SliceThickness = 1.0
        ds.ImagePositionPatient = [-90, -90, -100]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.FrameOfReferenceUID = ds.StudyInstanceUID + ".9"
        ds.RescaleIntercept = -1024
        ds.RescaleSlope = 1
        ds.WindowCenter = -600
        ds.WindowWidth = 1500
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = a.shape
    ds.BitsAllocated = 16
    ds.BitsStored = 12 if kind == "ct" else 16
    ds.HighBit = ds.BitsStored - 1
    ds.PixelRepresentation = 0
    ds.PixelData = a.astype("<u2").tobytes()
    ds.is_little_endian = True
    ds.is_implicit_VR = False
    ds.save_as(out, write_like_original=False)


if __name__ == "__main__":
    main()
