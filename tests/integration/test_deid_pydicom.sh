#!/bin/bash
# radnode deid (PS3.15 Annex E) on pydicom's test files: no identifying value
# of an input (names, IDs, dates, instance UIDs, institution, private tags) is
# left anywhere in the output bytes; structure and pixels kept; dcmdump reads
# the outputs; dciodvfy reports no error the input did not have; dates of two
# studies of one patient keep their interval; UIDs referenced across files map
# alike; pseudonyms stable across runs and different under another secret;
# burned-in annotation blanked or refused; a group-readable secret refused.
set -u
RADNODE=${RADNODE:?}
PY=/usr/bin/python3
T=/usr/lib/python3/dist-packages/pydicom/data/test_files
[ -f "$T/CT_small.dcm" ] || { echo "pydicom test files missing"; exit 77; }
$PY -c 'import pydicom' 2>/dev/null || { echo "python3-pydicom missing"; exit 77; }
command -v dcmdump >/dev/null || { echo "dcmdump missing"; exit 77; }

W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
fail=0
check() { if [ "$1" != 0 ]; then echo "FAIL: $2"; fail=1; else echo "ok: $2"; fi; }

# Fixed secrets: with random ones the check was flaky. The research profile shifts each
# patient's dates by 366-3652 days, keyed by the secret, and one patient's shifted date can
# equal another input's original date (CT_small's 20040119 less 1070 days is test-SR's
# 20010213), which the scan below reports as a value left. Counting the shifts that collide
# with some input's date (7, 5, 8 and 4 of the 3287 per patient), random secrets failed 0.7 %
# of runs.
echo 'c2Vzc2lvbi0xMS10ZXN0LXNlY3JldC1vbmUtZm9yLWRlaWQtcHlkaWNvbS10ZXN0cw==' > "$W/secret"
echo 'c2Vzc2lvbi0xMS10ZXN0LXNlY3JldC10d28tZm9yLWRlaWQtcHlkaWNvbS10ZXN0cw==' > "$W/secret2"
chmod 600 "$W/secret" "$W/secret2"

# Inputs: the pydicom files, plus a second study of the CT patient 100 days
# later that references the first CT image, and a CT flagged with burned-in text.
mkdir -p "$W/in"
cp "$T/CT_small.dcm" "$T/MR_small.dcm" "$T/rtplan.dcm" "$T/test-SR.dcm" "$W/in/"
$PY - "$W" <<'EOF'
import sys, datetime, pydicom
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
w = sys.argv[1]
ct = pydicom.dcmread(f"{w}/in/CT_small.dcm")
d2 = pydicom.dcmread(f"{w}/in/CT_small.dcm")
def shift(v, n):
    return (datetime.date(int(v[:4]), int(v[4:6]), int(v[6:8])) + datetime.timedelta(days=n)).strftime("%Y%m%d")
for kw in ("StudyDate", "SeriesDate", "AcquisitionDate", "ContentDate"):
    if kw in d2 and d2.data_element(kw).value:
        setattr(d2, kw, shift(d2.data_element(kw).value, 100))
d2.StudyInstanceUID = "1.2.826.0.1.3680043.8.498.777.1"
d2.SeriesInstanceUID = "1.2.826.0.1.3680043.8.498.777.2"
d2.SOPInstanceUID = "1.2.826.0.1.3680043.8.498.777.3"
d2.file_meta.MediaStorageSOPInstanceUID = d2.SOPInstanceUID
ref = Dataset()
ref.ReferencedSOPClassUID = ct.SOPClassUID
ref.ReferencedSOPInstanceUID = ct.SOPInstanceUID
d2.ReferencedImageSequence = Sequence([ref])
d2.save_as(f"{w}/in/CT_followup.dcm")
b = pydicom.dcmread(f"{w}/in/CT_small.dcm")
b.BurnedInAnnotation = "YES"
b.save_as(f"{w}/burned.dcm")
EOF

# Identifying values of an input: every PN, DA, DT and instance UI value (at
# any depth, private tags included), IDs, institution and station strings.
# Long values are searched in the raw output bytes; short numeric ones (which
# random digits of new UIDs can contain by chance) are compared with every
# output element's value instead.
cat > "$W/scan.py" <<'PYEOF'
import sys, pydicom
DEFINITION_UIDS = {"SOPClassUID", "ReferencedSOPClassUID", "CodingSchemeUID", "ContextUID",
                   "MappingResourceUID", "RelatedGeneralSOPClassUID", "TransferSyntaxUID"}
KEPT = {"Manufacturer", "ManufacturerModelName", "SoftwareVersions"}
def values(el):
    v = el.value
    return v if isinstance(v, (list, pydicom.multival.MultiValue)) else [v]
def walk(ds, fn):
    for el in ds:
        if el.VR == "SQ":
            for item in el.value:
                walk(item, fn)
        elif el.tag.group != 0x0002:
            fn(el)
idents = set()
def collect(el):
    kw = el.keyword
    for v in values(el):
        s = str(v).strip()
        if len(s) < 4:
            continue
        if el.VR in ("PN", "DA", "DT"):
            idents.add(s)
        elif el.VR == "UI" and not s.startswith("1.2.840.10008.") and kw not in DEFINITION_UIDS:
            idents.add(s)
        elif kw in ("PatientID", "OtherPatientIDs", "AccessionNumber", "InstitutionName",
                    "InstitutionAddress", "StationName", "StudyID", "DeviceSerialNumber",
                    "PatientAddress", "InstitutionalDepartmentName", "OperatorsName"):
            idents.add(s)
        elif el.tag.is_private and el.VR in ("LO", "SH", "ST", "LT", "UT") and len(s) >= 6:
            idents.add(s)
walk(pydicom.dcmread(sys.argv[1]), collect)
# A value also held by an attribute the profile keeps (an institution named
# like the manufacturer) is checked element by element, not in the bytes.
kept_values = set()
walk(pydicom.dcmread(sys.argv[1]),
     lambda el: kept_values.update(str(v).strip() for v in values(el)) if el.keyword in KEPT else None)
raw = open(sys.argv[2], "rb").read()
out_values = set()
try:
    def put(el):
        if el.keyword not in KEPT:
            for v in values(el):
                out_values.add(str(v).strip())
    walk(pydicom.dcmread(sys.argv[2]), put)
except Exception:
    pass  # not DICOM (the manifest): bytes only
bad = 0
for s in sorted(idents):
    weak = (len(s) < 10 and all(c.isdigit() or c in ". " for c in s)) or any(s in k for k in kept_values)
    if (not weak and s.encode("latin-1", "replace") in raw) or s in out_values:
        print(f"  left: '{s}'")
        bad = 1
sys.exit(bad)
PYEOF

scan_clean() { # input output
    $PY "$W/scan.py" "$1" "$2"
}

for profile in basic research teaching; do
    out="$W/out-$profile"
    "$RADNODE" deid "$W/in" "$out" --secret "$W/secret" --profile "$profile" \
        --manifest "$W/manifest-$profile.csv" 2>"$W/err-$profile.txt"
    check $? "deid --profile $profile of the folder"
    n=$(tail -n +2 "$W/manifest-$profile.csv" | wc -l)
    [ "$n" = 5 ]; check $? "$profile: 5 instances in the manifest (got $n)"
    # Every output: readable by dcmdump, nothing identifying from any input.
    for o in $(find "$out" -name '*.dcm' | sort); do
        dcmdump "$o" >/dev/null 2>&1; check $? "$profile: dcmdump reads $(basename "$o")"
        for f in "$W"/in/*.dcm; do
            scan_clean "$f" "$o" ||
                { echo "FAIL: $profile: values of $(basename "$f") left in $(basename "$o")"; fail=1; }
        done
    done
    echo "ok: $profile: outputs scanned for every identifying value of every input"
    # Manifest: no original value at all.
    for f in "$W"/in/*.dcm; do
        scan_clean "$f" "$W/manifest-$profile.csv"; check $? "$profile: manifest free of $(basename "$f")"
    done
done

# Per-instance checks with pydicom on the research output.
$PY - "$W" <<'EOF'
import sys, glob, datetime, pydicom
w = sys.argv[1]
bad = 0
def ok(cond, msg):
    global bad
    print(("ok: " if cond else "FAIL: ") + msg)
    if not cond: bad = 1
ins = {pydicom.dcmread(f).SOPInstanceUID: f for f in glob.glob(f"{w}/in/*.dcm")}
outs = {}
for f in glob.glob(f"{w}/out-research/**/*.dcm", recursive=True):
    d = pydicom.dcmread(f)
    outs[d.SOPInstanceUID] = d
ok(len(outs) == len(ins), "research: one output per input")
# match inputs to outputs by content that survives: pixel data or SOP class + series number
def key(d):
    return (d.SOPClassUID, d.get("Modality"), d.get("InstanceNumber"), bytes(d.PixelData)[:64] if "PixelData" in d else b"", len(d.get("ReferencedImageSequence", [])))
pairs = []
for uid, f in ins.items():
    di = pydicom.dcmread(f)
    m = [o for o in outs.values() if key(o) == key(di)]
    ok(len(m) == 1, f"research: output of {f.split('/')[-1]} found")
    if len(m) == 1:
        pairs.append((f.split('/')[-1], di, m[0]))
for name, di, do in pairs:
    ok(do.PatientIdentityRemoved == "YES", f"{name}: PatientIdentityRemoved YES")
    codes = [c.CodeValue for c in do.DeidentificationMethodCodeSequence]
    ok(codes[:1] == ["113100"] and {"113107", "113108", "113105", "113104"} <= set(codes),
       f"{name}: method codes {codes}")
    ok(do.get("LongitudinalTemporalInformationModified") == "MODIFIED", f"{name}: dates MODIFIED")
    ok(str(do.PatientName).startswith("RN-") and do.PatientID == str(do.PatientName), f"{name}: pseudonym {do.PatientID}")
    ok(not any(e.tag.is_private for e in do.iterall()), f"{name}: no private tags")
    if "PixelData" in di:
        ok(do.PixelData == di.PixelData, f"{name}: pixel data unchanged")
    for e in di:
        if e.VR == "SQ" and e.keyword in do and e.keyword not in ("OtherPatientIDsSequence",):
            ok(len(do.data_element(e.keyword).value) in (len(e.value), 0),
               f"{name}: {e.keyword} items kept or emptied by the profile")
    if "PatientSex" in di:
        ok(do.PatientSex == di.PatientSex, f"{name}: sex kept")
    if di.get("PatientAge"):
        ok(do.PatientAge == di.PatientAge, f"{name}: age kept")
    for e in ("BeamSequence", "FractionGroupSequence", "ContentSequence"):
        if e in di:
            ok(len(do.data_element(e).value) == len(di.data_element(e).value), f"{name}: {e} item count kept")
p = {n: (di, do) for n, di, do in pairs}
def day(v):
    return datetime.date(int(v[:4]), int(v[4:6]), int(v[6:8]))
a_in, a_out = p["CT_small.dcm"]
b_in, b_out = p["CT_followup.dcm"]
ok(a_out.PatientID == b_out.PatientID, "same patient, same pseudonym in two studies")
ok(a_out.StudyInstanceUID != b_out.StudyInstanceUID, "two studies stay two studies")
din = (day(b_in.StudyDate) - day(a_in.StudyDate)).days
dout = (day(b_out.StudyDate) - day(a_out.StudyDate)).days
ok(din == dout == 100, f"interval between studies kept ({din} -> {dout} days)")
off = (day(a_out.StudyDate) - day(a_in.StudyDate)).days
ok(off < 0 and all((day(do.data_element(k).value) - day(di.data_element(k).value)).days == off
       for k in ("StudyDate", "SeriesDate", "AcquisitionDate", "ContentDate") for di, do in ((a_in, a_out), (b_in, b_out))
       if di.get(k)), f"every date of the patient shifted by the same {off} days")
ok(b_out.ReferencedImageSequence[0].ReferencedSOPInstanceUID == a_out.SOPInstanceUID,
   "reference in a sequence maps to the referenced file's new SOP Instance UID")
ok(b_out.FrameOfReferenceUID == a_out.FrameOfReferenceUID, "frame of reference maps alike")
m_in, m_out = p["MR_small.dcm"]
ok(m_out.PatientID != a_out.PatientID, "another patient, another pseudonym")
sys.exit(bad)
EOF
check $? "research: structure, dates, references"

# Stable across runs, different under another secret.
"$RADNODE" deid "$T/CT_small.dcm" "$W/a1.dcm" --secret "$W/secret" --profile research > "$W/m1.csv" 2>/dev/null
"$RADNODE" deid "$T/CT_small.dcm" "$W/a2.dcm" --secret "$W/secret" --profile research > "$W/m2.csv" 2>/dev/null
"$RADNODE" deid "$T/CT_small.dcm" "$W/a3.dcm" --secret "$W/secret2" --profile research > "$W/m3.csv" 2>/dev/null
cmp -s "$W/a1.dcm" "$W/a2.dcm"; check $? "same input, same secret: identical output"
p1=$(tail -1 "$W/m1.csv" | cut -d, -f1); p3=$(tail -1 "$W/m3.csv" | cut -d, -f1)
u1=$(tail -1 "$W/m1.csv" | cut -d, -f5); u3=$(tail -1 "$W/m3.csv" | cut -d, -f5)
[ -n "$p1" ] && [ "$p1" != "$p3" ] && [ "$u1" != "$u3" ]; check $? "another secret: other pseudonym ($p1 vs $p3) and UIDs"

# dciodvfy: no error the input did not have (UIDs and values normalised).
if command -v dciodvfy >/dev/null; then
    norm() { dciodvfy "$1" 2>&1 | grep '^Error' | sed -E 's/[0-9][0-9.]*[0-9]/N/g' | sort -u; }
    for f in CT_small MR_small rtplan test-SR; do
        o=$(find "$W/out-research" -name '*.dcm' -exec sh -c 'dcmdump +P SOPClassUID "$1" | grep -q "$2" && echo "$1"' _ {} \
            "$(dcmdump +P SOPClassUID "$W/in/$f.dcm" | awk '{print $3}')" \; | head -1)
        [ "$f" = CT_small ] && o="$W/a1.dcm"
        new=$(comm -13 <(norm "$W/in/$f.dcm") <(norm "$o"))
        [ -z "$new" ]; check $? "dciodvfy: no new errors for $f ${new:+($new)}"
    done
else
    echo "skip: dciodvfy not installed"
fi

# Burned-in annotation: refused by default, blanked with regions, refused by policy.
"$RADNODE" deid "$W/burned.dcm" "$W/b0.dcm" --secret "$W/secret" 2>"$W/b0.err"
[ $? = 1 ] && grep -q "Burned In Annotation is YES" "$W/b0.err" && [ ! -e "$W/b0.dcm" ]
check $? "burned-in image refused without regions ($(cat "$W/b0.err" | head -1))"
"$RADNODE" deid "$W/burned.dcm" "$W/b1.dcm" --secret "$W/secret" --blank 0,0,20,10 --blank 100,100,50,50 >/dev/null 2>&1
check $? "burned-in image with --blank"
$PY - "$W" <<'EOF'
import sys, numpy as np, pydicom
w = sys.argv[1]
i = pydicom.dcmread(f"{w}/burned.dcm").pixel_array
o = pydicom.dcmread(f"{w}/b1.dcm")
a = o.pixel_array
ok = (o.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1" and o.BurnedInAnnotation == "NO"
      and (a[0:10, 0:20] == 0).all() and (a[100:128, 100:128] == 0).all()
      and (a[10:100, 20:100] == i[10:100, 20:100]).all() and i[0:10, 0:20].any()
      and "113101" in [c.CodeValue for c in o.DeidentificationMethodCodeSequence])
print("blanked regions zero, rest unchanged, Explicit VR LE, 113101:", ok)
sys.exit(0 if ok else 1)
EOF
check $? "regions blanked"
"$RADNODE" deid "$W/burned.dcm" "$W/b2.dcm" --secret "$W/secret" --blank 0,0,20,10 --refuse-burned-in 2>/dev/null
[ $? = 1 ] && [ ! -e "$W/b2.dcm" ]; check $? "--refuse-burned-in refuses even with regions"

# The secret's file mode is checked.
chmod 644 "$W/secret"
"$RADNODE" deid "$T/CT_small.dcm" "$W/c.dcm" --secret "$W/secret" 2>"$W/c.err"
[ $? = 2 ] && grep -q "chmod 600" "$W/c.err"; check $? "group-readable secret refused"

exit $fail
