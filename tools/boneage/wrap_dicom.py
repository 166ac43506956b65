#!/usr/bin/python3
"""Wrap a hand radiograph (PNG/JPEG) into a DX, CR or SC DICOM file for tests of radnode's
bone-age analyzer. Test helper only: write into temporary folders, never commit the images or
the DICOM made from them (RSNA data: research and education use).

    /usr/bin/python3 tools/boneage/wrap_dicom.py IMAGE OUT.dcm [--modality DX|CR|SC]
        [--sex M|F|''] [--birth YYYYMMDD] [--study-date YYYYMMDD] [--age 010Y]
        [--monochrome1] [--bits 8|12] [--rotate 0|90|180|270] [--mirror] [--twice]
        [--laterality L|R] [--series-description TEXT] [--patient-id ID]
        [--study-uid UID] [--series-uid UID] [--gradient]

--monochrome1 stores 255 - v (maxval - v) with MONOCHROME1, so the rendered image is unchanged;
--bits 12 stores v * 16 + 8 in 16-bit words with a window that maps it back to about v;
--rotate turns clockwise; --mirror flips left-right (after the rotation); --twice puts two copies
side by side (two hands); --gradient ignores IMAGE and writes a smooth chest-like gradient
(not a hand).
"""
import argparse
import datetime

import numpy as np
from PIL import Image
import pydicom
from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

SOP = {"DX": "1.2.840.10008.5.1.4.1.1.1.1",   # Digital X-Ray Image Storage - For Presentation
       "CR": "1.2.840.10008.5.1.4.1.1.1",     # Computed Radiography Image Storage
       "SC": "1.2.840.10008.5.1.4.1.1.7"}     # Secondary Capture Image Storage


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("image")
    ap.add_argument("out")
    ap.add_argument("--modality", default="DX", choices=sorted(SOP))
    ap.add_argument("--sex", default="")
    ap.add_argument("--birth", default="")
    ap.add_argument("--study-date", default="20240115")
    ap.add_argument("--age", default="")
    ap.add_argument("--monochrome1", action="store_true")
    ap.add_argument("--bits", type=int, default=8, choices=(8, 12))
    ap.add_argument("--rotate", type=int, default=0, choices=(0, 90, 180, 270))
    ap.add_argument("--mirror", action="store_true")
    ap.add_argument("--twice", action="store_true")
    ap.add_argument("--gradient", action="store_true")
    ap.add_argument("--laterality", default="")
    ap.add_argument("--series-description", default="")
    ap.add_argument("--patient-id", default="BA-TEST")
    ap.add_argument("--study-uid", default="")
    ap.add_argument("--series-uid", default="")
    a = ap.parse_args()

    if a.gradient:
        y, x = np.mgrid[0:1200, 0:1000]
        img = (40 + 150 * np.exp(-(((x - 500) / 420.0) ** 2 + ((y - 650) / 520.0) ** 2))).astype(np.uint8)
    else:
        with Image.open(a.image) as im:
            img = np.asarray(im.convert("L"), dtype=np.uint8)
    if a.twice:
        img = np.hstack([img, img])
    img = np.rot90(img, k=-(a.rotate // 90))       # numpy rot90 is counter-clockwise
    if a.mirror:
        img = img[:, ::-1]
    img = np.ascontiguousarray(img)

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SOP[a.modality]
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(a.out, Dataset(), file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = SOP[a.modality]
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = a.study_uid or generate_uid()
    ds.SeriesInstanceUID = a.series_uid or generate_uid()
    ds.Modality = "OT" if a.modality == "SC" else a.modality
    if a.modality == "SC":
        ds.ConversionType = "WSD"
    ds.PatientName = "TEST^BONEAGE"
    ds.PatientID = a.patient_id
    ds.PatientSex = a.sex
    ds.PatientBirthDate = a.birth
    if a.age:
        ds.PatientAge = a.age
    ds.StudyDate = a.study_date
    ds.StudyTime = "101500"
    ds.AccessionNumber = "BA1"
    ds.StudyID = "1"
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    ds.BodyPartExamined = "HAND"
    if a.laterality:
        ds.ImageLaterality = a.laterality
    if a.series_description:
        ds.SeriesDescription = a.series_description
    ds.ContentDate = datetime.date.today().strftime("%Y%m%d")
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME1" if a.monochrome1 else "MONOCHROME2"
    ds.Rows, ds.Columns = img.shape
    ds.PixelRepresentation = 0
    if a.modality == "DX":
        ds.ImageType = ["ORIGINAL", "PRIMARY"]
        ds.PresentationIntentType = "FOR PRESENTATION"
    if a.bits == 8:
        v = img.astype(np.uint8)
        if a.monochrome1:
            v = (255 - v).astype(np.uint8)
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
    else:
        v = img.astype(np.uint16) * 16 + 8
        if a.monochrome1:
            v = (4095 - v).astype(np.uint16)
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 12, 11
        ds.WindowCenter, ds.WindowWidth = 2048, 4096
        ds.RescaleIntercept, ds.RescaleSlope = 0, 1
    ds.PixelData = v.tobytes()
    ds.is_little_endian, ds.is_implicit_VR = True, False
    ds.save_as(a.out, write_like_original=False)


if __name__ == "__main__":
    main()
