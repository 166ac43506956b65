#!/usr/bin/python3
"""Checks, with python3-hl7's parser, that a file holds radnode's sample ORU^R01
(tests/unit/hl7/hl7_sample.h) with the fields docs/hl7.md promises a RIS:
MSH-9/11/12/18, PID-3 with its assigning authority, PID-5, ORC/OBR order
numbers, OBR-18 accession number, OBR-25 and every OBX-11 result status P,
the OBX values, units and codes, the TX report lines (escapes decoded) and
the NTE preliminary statement. Usage: hl7_check_oru.py FILE CONTROL_ID
Prints one line per failed check and exits 1 if any failed.
"""
import sys

import hl7


def main():
    path, control_id = sys.argv[1], sys.argv[2]
    raw = open(path, "rb").read()
    msg = hl7.parse(raw.decode("utf-8"))
    failures = []

    def check(what, got, want):
        if got != want:
            failures.append("%s: got %r, want %r" % (what, got, want))

    def field(key):
        return msg.unescape(str(msg[key]))

    check("segments", [str(s[0]) for s in msg],
          ["MSH", "PID", "ORC", "OBR", "NTE", "NTE"] + ["OBX"] * 6)
    check("MSH-3", field("MSH.F3"), "RADNODE")
    check("MSH-5", field("MSH.F5"), "RIS")
    check("MSH-6", field("MSH.F6"), "RADIOLOGY")
    check("MSH-9", str(msg.segment("MSH")[9]), "ORU^R01^ORU_R01")
    check("MSH-10", field("MSH.F10"), control_id)
    check("MSH-11", field("MSH.F11"), "P")
    check("MSH-12", field("MSH.F12"), "2.5.1")
    check("MSH-18", field("MSH.F18"), "UNICODE UTF-8")
    check("PID-3-1", field("PID.F3.R1.C1"), "PAT-0042")
    check("PID-3-4", field("PID.F3.R1.C4"), "HOSP")
    check("PID-3-5", field("PID.F3.R1.C5"), "MR")
    check("PID-5", str(msg.segment("PID")[5]), "\u5f20^\u4f1f")
    check("PID-7", field("PID.F7"), "20130301")
    check("PID-8", field("PID.F8"), "M")
    check("ORC-1", field("ORC.F1"), "RE")
    check("ORC-2-1", field("ORC.F2.R1.C1"), "PL-1001")
    check("ORC-3-1", field("ORC.F3.R1.C1"), "FL-2002")
    check("OBR-2-1", field("OBR.F2.R1.C1"), "PL-1001")
    check("OBR-3-1", field("OBR.F3.R1.C1"), "FL-2002")
    check("OBR-4", str(msg.segment("OBR")[4]), "RN-XR-HAND^XR hand left for bone age^99RADNODE")
    check("OBR-18 accession", field("OBR.F18"), "ACC123456")
    check("OBR-25 result status", field("OBR.F25"), "P")
    nte = msg.segments("NTE")
    check("NTE-3", msg.unescape(str(nte[0][3])),
          "Preliminary result produced by software (radnode); to be reviewed by a radiologist.")

    obx = msg.segments("OBX")
    expected = [
        ("NM", "RN-BA-001", "126.0", "mo^month^UCUM"),
        ("NM", "RN-BA-002", "132.0", "mo^month^UCUM"),
        ("NM", "RN-BA-003", "-0.83", ""),
        ("CWE", "RN-BA-004", "RN-A-02^Bone age within normal range^99RADNODE", ""),
        ("TX", "RN-RPT-001", None, ""),
        ("ST", "RN-ALG-001", "radnode boneage 0.1.0 (model 2024-03)", ""),
    ]
    for i, (vt, code, value, units) in enumerate(expected):
        o = obx[i]
        n = i + 1
        check("OBX[%d]-1" % n, str(o[1]), str(n))
        check("OBX[%d]-2" % n, str(o[2]), vt)
        check("OBX[%d]-3-1" % n, str(o[3][0][0]), code)
        if value is not None:
            check("OBX[%d]-5" % n, str(o[5]), value)
        check("OBX[%d]-6" % n, str(o[6]), units)
        check("OBX[%d]-11 result status" % n, str(o[11]), "P")
    lines = [msg.unescape(str(r)) for r in obx[4][5]]
    check("OBX[5]-5 TX lines", lines, [
        "Bone age: 10 years 6 months (Greulich-Pyle).",
        "Chronological age 11 years | SDS -0.83 & within range ~ 2 SD.",
    ])
    for f in failures:
        print("FAIL " + f)
    if failures:
        return 1
    print("OK ORU^R01 %s: %d segments checked with python3-hl7 %s" %
          (control_id, len(msg), hl7.__version__))
    return 0


if __name__ == "__main__":
    sys.exit(main())
