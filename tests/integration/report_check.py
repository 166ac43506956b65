#!/usr/bin/python3
"""Checks of radnode's result objects with independent readers, for
test_report_objects.sh.

  report_check.py sc FILE.dcm               pydicom decodes the Secondary Capture
  report_check.py hl7 FILE.hl7 MIN_OBX      python3-hl7 parses the ORU^R01
  report_check.py compare GOT.png REF.png   pixel comparison with a tolerance
  report_check.py topng FILE.dcm OUT.png    the SC's pixels as PNG (to review)

compare: the images must have the same size; the mean absolute difference
must be <= 3 grey levels and at most 1 % of the pixels may differ by more than
64 (font hinting and anti-aliasing differ slightly between cairo/freetype
builds; a missing overlay, legend line or a wrong layout exceeds this).
"""
import sys

import numpy as np


def sc(path):
    import pydicom
    ds = pydicom.dcmread(path)
    a = ds.pixel_array
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.7", ds.SOPClassUID
    assert ds.BurnedInAnnotation == "YES"
    assert ds.PhotometricInterpretation == "RGB" and a.ndim == 3 and a.shape[2] == 3, a.shape
    assert ds.ConversionType == "WSD"
    src = ds.SourceImageSequence[0].ReferencedSOPInstanceUID
    print(f"SC {a.shape[1]}x{a.shape[0]} RGB, source {src}, mean {a.mean():.1f}")


def hl7msg(path, min_obx):
    import hl7
    text = open(path, "rb").read().decode("utf-8")
    m = hl7.parse(text)
    assert str(m.segment("MSH")[9]) == "ORU^R01^ORU_R01", str(m.segment("MSH")[9])
    assert str(m.segment("MSH")[12]) == "2.5.1"
    obr = m.segment("OBR")
    assert str(obr[25]) == "P", str(obr[25])
    obx = m.segments("OBX")
    assert len(obx) >= min_obx, len(obx)
    for o in obx:
        assert str(o[11]) == "P"
    print(f"ORU^R01 with {len(obx)} OBX, PID-3 {m.segment('PID')[3]}, OBR-18 {obr[18]}")


def compare(got, ref):
    from PIL import Image
    a = np.asarray(Image.open(got).convert("L"), dtype=np.int16)
    b = np.asarray(Image.open(ref).convert("L"), dtype=np.int16)
    if a.shape != b.shape:
        print(f"size differs: {a.shape} vs reference {b.shape}")
        return 1
    d = np.abs(a - b)
    mad, frac = d.mean(), (d > 64).mean()
    print(f"{got}: mean abs diff {mad:.2f}, {100 * frac:.2f} % pixels off by > 64")
    return 0 if mad <= 3.0 and frac <= 0.01 else 1


def topng(path, out):
    import pydicom
    from PIL import Image
    Image.fromarray(pydicom.dcmread(path).pixel_array).save(out)


def main():
    cmd = sys.argv[1]
    if cmd == "sc":
        sc(sys.argv[2])
    elif cmd == "hl7":
        hl7msg(sys.argv[2], int(sys.argv[3]))
    elif cmd == "compare":
        return compare(sys.argv[2], sys.argv[3])
    elif cmd == "topng":
        topng(sys.argv[2], sys.argv[3])
    return 0


if __name__ == "__main__":
    sys.exit(main())
