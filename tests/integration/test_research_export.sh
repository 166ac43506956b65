#!/bin/bash
# Research export from the node (issue 9 item 4): `radnode serve` receives three
# studies of two patients from DCMTK's storescu, the echo analyzer runs on each;
# then
#   - `radnode research-export` (stopped-node style, beside the running node)
#     with --patient-id + --modality exports exactly the one matching study;
#   - POST /api/research-exports: a viewer is refused (403), an operator's
#     {"modality": "CT"} exports the two CT studies and not the MR one;
#   - no identifying value of any input (names, IDs, birth dates, study dates,
#     accession, institution, referring physician, original UIDs, private tag
#     values) is in any output byte (DICOM files and manifests);
#   - pseudonyms and pseudonymous Study UIDs equal `radnode deid` with the same
#     secret and profile; the manifest's age (from birth date vs study date),
#     sex, modality and findings (echo: instances received) are right;
#   - dcmdump reads every output; dciodvfy reports no error its input (the
#     stored instance, or radnode's own SR) did not have;
#   - an export name with "..", a name planted as a symlink leading out of the
#     export root, an existing name, an export_root with ".." and an empty
#     query are refused, and nothing is written outside the root;
#   - each export is a PS3.15 Export (110106) event in the node's audit log.
. "$(dirname "$0")/net_lib.sh"
PY=/usr/bin/python3
command -v curl >/dev/null || skip "curl not installed"
command -v storescu >/dev/null || skip "DCMTK storescu not installed"
command -v dcmdump >/dev/null || skip "DCMTK dcmdump not installed"
$PY -c "import pydicom" 2>/dev/null || skip "python3-pydicom missing"
[ -f "$PYDICOM_FILES/CT_small.dcm" ] || skip "pydicom test files not installed"

PORT=$(free_port)
HTTP=$(free_port)
DATA=$WORK/data
EXPORTS=$WORK/exports
CONF=$WORK/radnode.conf
mkdir -p "$EXPORTS" "$WORK/outside" "$WORK/in"
# A fixed secret: the date shift (1-10 years back, keyed by the secret) would,
# with a random one, now and then move one study's date onto another input's real
# date (1 run in ~1000), and the leak search below would call that a leak.
# With this secret no shifted date meets an input date (checked when it was set).
echo "rn-research-export-test-secret-4b1f0e9c2d7a8536e1f0c4b9a2d7e813" >"$WORK/secret"
chmod 600 "$WORK/secret"
OP_TOKEN=rnt_$(openssl rand -hex 32)
VIEW_TOKEN=rnt_$(openssl rand -hex 32)
hash_of() { printf 'sha256$%s' "$(printf %s "$1" | sha256sum | cut -d' ' -f1)"; }

# Inputs: A = CT of patient 1 (2 instances, private tags), B = MR of patient 1,
# C = CT of patient 2. Every identifying value is distinctive, so a leak shows.
$PY - "$PYDICOM_FILES" "$WORK/in" <<'PY' || fail "making the inputs failed"
import os, sys, pydicom
from pydicom.uid import generate_uid
src, out = sys.argv[1], sys.argv[2]
def make(study_dir, base, n, pid, name, birth, sex, date, acc, inst, ref):
    study, series = generate_uid(), generate_uid()
    os.makedirs(os.path.join(out, study_dir))
    for k in range(n):
        ds = pydicom.dcmread(os.path.join(src, base))
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.PatientID, ds.PatientName, ds.PatientBirthDate, ds.PatientSex = pid, name, birth, sex
        if "PatientAge" in ds:
            del ds.PatientAge
        for kw in ("StudyDate", "SeriesDate", "AcquisitionDate", "ContentDate"):
            setattr(ds, kw, date)
        ds.AccessionNumber, ds.InstitutionName, ds.ReferringPhysicianName = acc, inst, ref
        ds.StudyID = "SID" + acc[-4:]
        ds.InstanceNumber = k + 1
        blk = ds.private_block(0x0011, "RNTEST PRIVATE", create=True)
        blk.add_new(0x01, "LO", "PRIVATE-SECRET-%s" % acc)
        ds.save_as(os.path.join(out, study_dir, "i%d.dcm" % k))
make("A", "CT_small.dcm", 2, "P-RES-0001", "Resdoe^Janina^Q", "19800115", "F", "20200310",
     "RESACC0001", "Saint Quillon Research Hospital", "Refdoc^Harold")
make("B", "MR_small.dcm", 1, "P-RES-0001", "Resdoe^Janina^Q", "19800115", "F", "20210102",
     "RESACC0002", "Saint Quillon Research Hospital", "Refdoc^Harold")
make("C", "CT_small.dcm", 1, "P-RES-0002", "Otherby^Marten", "19500505", "M", "20190707",
     "RESACC0003", "Villeneuve Clinic Annex", "Refdoc^Imelda")
PY

# Optional: a hand radiograph (../shared/data) for the bone-age analyzer, so
# the manifest's findings hold a bone age; skipped where the data or model is absent.
SRC=${RN_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
SHARED=${RN_SHARED_DATA:-$SRC/../shared/data}
BONEAGE=no
MODEL=$(ls "$SRC"/models/boneage-v*.onnx 2>/dev/null | tail -1)
if [ -r "$SHARED/boneage-rsna-fullres/7034.png" ] && [ -n "$MODEL" ] && $PY -c "import PIL" 2>/dev/null; then
    mkdir -p "$WORK/in/D"
    $PY "$SRC/tools/boneage/wrap_dicom.py" "$SHARED/boneage-rsna-fullres/7034.png" "$WORK/in/D/i0.dcm" \
        --modality DX --sex M --birth 20120110 --study-date 20240115 --patient-id P-RES-0003 \
        >/dev/null || fail "could not wrap the radiograph"
    $PY - "$WORK/in/D/i0.dcm" <<'PY' || fail "could not set the radiograph's attributes"
import sys, pydicom
ds = pydicom.dcmread(sys.argv[1])
ds.AccessionNumber, ds.BodyPartExamined, ds.PatientName = "RESACC0004", "HAND", "Handley^Oswin"
ds.InstitutionName = "Saint Quillon Research Hospital"
ds.save_as(sys.argv[1])
PY
    BONEAGE=yes
else
    echo "skip (part): no bone-age radiograph or model; the bone-age export is not checked"
fi

write_conf() { # EXPORT_ROOT
    cat >"$CONF" <<CONF
[node]
dicom_port = $PORT
http_port = $HTTP
data_dir = $DATA
quiet_period = 1
workers = 1
min_free_mb = 1
models_dir = $SRC/models
[http]
public_status = no
[research]
export_root = $1
secret_file = $WORK/secret
profile = research
[route echo-all]
analyzer = echo
level = study
when = Modality present
[route hand-bone-age]
analyzer = boneage
level = series
when = Modality in DX,CR
when = BodyPartExamined in HAND,WRIST
[token op]
role = operator
hash = $(hash_of "$OP_TOKEN")
[token view]
role = viewer
hash = $(hash_of "$VIEW_TOKEN")
CONF
}
write_conf "$EXPORTS"
"$RADNODE" serve --config "$CONF" >"$WORK/node.log" 2>&1 &
PIDS+=($!)
wait_port "$PORT" 20 || fail "radnode serve did not start: $(cat "$WORK/node.log")"
wait_port "$HTTP" 20 || fail "HTTP API did not start: $(cat "$WORK/node.log")"
STUDIES="A B C"
[ $BONEAGE = yes ] && STUDIES="A B C D"
NJOBS=$([ $BONEAGE = yes ] && echo 5 || echo 3)
for s in $STUDIES; do
    storescu -aec RADNODE 127.0.0.1 "$PORT" "$WORK/in/$s"/*.dcm >"$WORK/storescu.$s.log" 2>&1 ||
        fail "storescu of study $s failed: $(cat "$WORK/storescu.$s.log")"
done
done_jobs() {
    $PY -c 'import sqlite3, sys
db = sqlite3.connect("file:%s/index.sqlite?mode=ro" % sys.argv[1], uri=True)
print(db.execute("SELECT COUNT(*) FROM jobs WHERE kind=\"analyze\" AND state=2").fetchone()[0])' "$DATA"
}
for i in $(seq 1 240); do
    [ "$(done_jobs)" -ge $NJOBS ] && break
    sleep 0.5
done
[ "$(done_jobs)" -ge $NJOBS ] || fail "the studies were not analysed: $(tail -20 "$WORK/node.log")"
echo "ok: studies $STUDIES stored by storescu and analysed ($NJOBS analyses)"

# 1. CLI: patient 1's CT only.
"$RADNODE" research-export --config "$CONF" --name cli1 --patient-id P-RES-0001 --modality CT \
    >"$WORK/cli1.out" 2>"$WORK/cli1.err" || fail "research-export failed: $(cat "$WORK/cli1.err")"
[ "$(cat "$WORK/cli1.out")" = "$(realpath "$EXPORTS")/cli1" ] || fail "printed path: $(cat "$WORK/cli1.out")"
[ -f "$EXPORTS/cli1/manifest.csv" ] && [ -f "$EXPORTS/cli1/manifest.json" ] || fail "no manifests in cli1"
ls -a "$EXPORTS" | grep -q '^\.tmp-' && fail "a temporary folder was left in the export root"
echo "ok: CLI export: $(cat "$WORK/cli1.err")"

# 2. HTTP: a viewer is refused, an operator exports the CT studies.
req() { # TOKEN BODY -> $CODE, body in $WORK/body
    CODE=$(curl -s -o "$WORK/body" -w '%{http_code}' -X POST -H "Authorization: Bearer $1" \
        -H 'Content-Type: application/json' --data "$2" "http://127.0.0.1:$HTTP/api/research-exports")
}
req "$VIEW_TOKEN" '{"name": "viewer1", "modality": "CT"}'
[ "$CODE" = 403 ] || fail "a viewer's research export: HTTP $CODE $(cat "$WORK/body")"
[ ! -e "$EXPORTS/viewer1" ] || fail "the viewer's export was written"
req "$OP_TOKEN" '{"name": "http1", "modality": "CT"}'
[ "$CODE" = 201 ] || fail "an operator's research export: HTTP $CODE $(cat "$WORK/body")"
echo "ok: HTTP: viewer 403, operator 201 $(cat "$WORK/body")"
curl -sf -H "Authorization: Bearer $OP_TOKEN" "http://127.0.0.1:$HTTP/api/config" >"$WORK/config.json" ||
    fail "GET /api/config failed"
$PY - "$WORK/config.json" "$EXPORTS" <<'PY' || fail "/api/config does not show [research] with the key redacted"
import json, sys
r = json.load(open(sys.argv[1]))["research"]
assert r["export_root"] == sys.argv[2] and r["secret_file"] == "<redacted>" and r["profile"] == "research", r
PY

if [ $BONEAGE = yes ]; then
    "$RADNODE" research-export --config "$CONF" --name boneage1 --analyzer boneage \
        >/dev/null 2>"$WORK/ba.err" || fail "bone-age research export failed: $(cat "$WORK/ba.err")"
    $PY - "$EXPORTS/boneage1/manifest.json" <<'PY' || fail "bone-age manifest check failed"
import json, sys
js = json.load(open(sys.argv[1]))
assert len(js["studies"]) == 1, "expected only the radiograph's study: %d" % len(js["studies"])
s = js["studies"][0]
assert s["age"] in ("012Y", "144M") and (s["sex"], s["modality"]) == ("M", "DX"), s
ba = [f for f in s["findings"] if f["analyzer"] == "boneage"]
assert ba and ba[0]["status"] == "ok", s["findings"]
m = {x["meaning"]: x for x in ba[0]["measurements"]}
assert m["Bone age"]["unit"] == "mo" and 60 < m["Bone age"]["value"] < 240, m.get("Bone age")
print("bone-age export: 1 study, bone age %.1f months, findings %s" % (
    m["Bone age"]["value"], ", ".join(sorted(m))))
PY
    echo "ok: --analyzer boneage exports only the radiograph, with its bone age in the manifest"
fi

# Expected pseudonyms and study UIDs from `radnode deid` with the same secret.
for s in A B C; do
    "$RADNODE" deid "$WORK/in/$s/i0.dcm" "$WORK/deid-$s.dcm" --secret "$WORK/secret" \
        --profile research --manifest "$WORK/deid-$s.csv" 2>/dev/null || fail "radnode deid of $s failed"
done
$PY - "$WORK" "$EXPORTS" <<'PY' || fail "manifest check failed"
import csv, json, re, sys
w, ex = sys.argv[1], sys.argv[2]
want = {}
for s in "ABC":
    row = list(csv.DictReader(open(f"{w}/deid-{s}.csv")))[0]
    want[s] = (row["pseudonym"], row["study_uid"])
def check(name, studies):
    js = json.load(open(f"{ex}/{name}/manifest.json"))
    rows = list(csv.DictReader(open(f"{ex}/{name}/manifest.csv")))
    got = sorted((s["pseudonym"], s["study_uid"]) for s in js["studies"])
    exp = sorted(want[s] for s in studies)
    assert got == exp, f"{name}: studies {got} != expected {exp}"
    assert sorted((r["pseudonym"], r["study_uid"]) for r in rows) == exp, f"{name}: CSV rows differ"
    for s in js["studies"]:
        key = [k for k in studies if want[k][1] == s["study_uid"]][0]
        age, sex = {"A": ("040Y", "F"), "C": ("069Y", "M"), "B": ("040Y", "F")}[key]
        assert s["age"] == age and s["sex"] == sex, f"{name}/{key}: age/sex {s['age']} {s['sex']}"
        assert s["modality"] == "CT", s["modality"]
        n = {"A": 2, "C": 1}[key]
        assert s["instances"] == n, s
        echo = [f for f in s["findings"] if f["analyzer"] == "echo"]
        assert echo and echo[0]["status"] == "ok", s["findings"]
        vals = [m["value"] for m in echo[0]["measurements"] if m["meaning"] == "Instances received"]
        assert vals == [n], f"echo finding {vals}, expected [{n}]"
        assert s["results"] >= 1, "no result object (SR) exported"
        reasons = " ".join(r["reason"] for r in s["left_out_reasons"])
        assert "encapsulated document" in reasons, f"PDF not reported as left out: {reasons}"
        row = [r for r in rows if r["study_uid"] == s["study_uid"]][0]
        assert row["age"] == age and row["sex"] == sex and re.search(r"echo: Instances received[^;=]* = %d\b" % n, row["findings"]), row
    print(f"{name}: {len(got)} studies as expected; age, sex, modality, findings right")
check("cli1", "A")
check("http1", "AC")
PY
echo "ok: only the matching studies, pseudonyms = radnode deid, manifest fields right"

# 3. No identifying value of any input in any output byte.
$PY - "$WORK/in" "$EXPORTS" <<'PY' || fail "identifying values found in the export"
import os, sys, pydicom
DEFINITION = {"SOPClassUID", "MediaStorageSOPClassUID", "TransferSyntaxUID",
              "ImplementationClassUID", "ReferencedSOPClassUID", "CodingSchemeUID"}
IDS = {"PatientID", "AccessionNumber", "InstitutionName", "StudyID", "ReferringPhysicianName",
       "PatientName", "OtherPatientIDs", "StationName", "InstitutionAddress"}
idents = set()
def walk(ds):
    for el in ds:
        if el.VR == "SQ":
            for it in el.value:
                walk(it)
            continue
        vals = el.value if isinstance(el.value, (list, pydicom.multival.MultiValue)) else [el.value]
        for v in vals:
            s = str(v).strip()
            # Placeholders such as "000000000" identify nobody (and occur in any number).
            if el.keyword in DEFINITION or len(s) < 6 or not s.strip("0.:- "):
                continue
            text = el.VR in ("LO", "SH", "LT", "ST", "UT", "CS", "PN", "UN")
            if el.VR in ("PN", "DA", "DT", "UI") or el.keyword in IDS or (el.tag.is_private and text):
                idents.add(s)
for root, _, files in os.walk(sys.argv[1]):
    for f in files:
        ds = pydicom.dcmread(os.path.join(root, f))
        walk(ds.file_meta)
        walk(ds)
idents.discard("")
outs = []
for root, _, files in os.walk(sys.argv[2]):
    outs += [os.path.join(root, f) for f in files]
bad = 0
for p in outs:
    data = open(p, "rb").read()
    for v in idents:
        if v.encode() in data:
            print("LEAK:", repr(v), "in", os.path.relpath(p, sys.argv[2]))
            bad += 1
# Names are also searched by their components (a PN may be re-encoded).
for v in [x for x in idents if "^" in x]:
    for part in v.split("^"):
        if len(part) >= 5:
            for p in outs:
                if part.encode() in open(p, "rb").read():
                    print("LEAK: name part", repr(part), "in", p)
                    bad += 1
print(f"{len(idents)} identifying values searched in {len(outs)} output files: {bad} found")
sys.exit(1 if bad or len(outs) < 8 else 0)
PY
echo "ok: no identifying value in any output byte"

# 4. dcmdump reads every output; dciodvfy: no new error.
n=0
while IFS= read -r f; do
    dcmdump -q "$f" >/dev/null 2>&1 || fail "dcmdump cannot read $f"
    n=$((n + 1))
done < <(find "$EXPORTS" -name '*.dcm')
echo "ok: dcmdump reads all $n exported DICOM files"
if command -v dciodvfy >/dev/null; then
    norm() { dciodvfy "$1" 2>&1 | grep '^Error' | sed -E 's/[0-9][0-9.]*[0-9]/N/g' | sort -u; }
    sop_of() { dcmdump -Un +P SOPClassUID "$1" 2>/dev/null | awk '{print $3}'; }
    ct_in=$WORK/in/A/i0.dcm
    ct_out=$(grep -l . $(find "$EXPORTS/cli1" -name '*.dcm') | while read -r f; do
        [ "$(sop_of "$f")" = "$(sop_of "$ct_in")" ] && echo "$f"; done | head -1)
    sr_in=$(find "$DATA/jobs" -path '*/out/*' -name '*.dcm' | while read -r f; do
        sop_of "$f" | grep -q '^\[1.2.840.10008.5.1.4.1.1.88' && echo "$f"; done | head -1)
    sr_out=$(find "$EXPORTS/cli1" -name '*.dcm' | while read -r f; do
        sop_of "$f" | grep -q '^\[1.2.840.10008.5.1.4.1.1.88' && echo "$f"; done | head -1)
    [ -n "$ct_out" ] && [ -n "$sr_in" ] && [ -n "$sr_out" ] || fail "CT or SR output not found for dciodvfy"
    for pair in "$ct_in $ct_out" "$sr_in $sr_out"; do
        set -- $pair
        new=$(comm -13 <(norm "$1") <(norm "$2"))
        [ -z "$new" ] || fail "dciodvfy: new errors in $(basename "$2"): $new"
    done
    echo "ok: dciodvfy reports no error the inputs (stored CT, radnode's SR) did not have"
else
    echo "skip: dciodvfy not installed"
fi

# 5. Refusals: no escape from the export root, no overwrite, no unfiltered export.
refused() { # NAME EXPECTED-TEXT ARGS...
    local what=$1 text=$2
    shift 2
    "$RADNODE" research-export --config "$CONF" "$@" >"$WORK/r.out" 2>"$WORK/r.err" &&
        fail "$what: not refused"
    grep -q -- "$text" "$WORK/r.err" || fail "$what: message '$(cat "$WORK/r.err")' lacks '$text'"
    echo "ok: $what refused: $(head -1 "$WORK/r.err")"
}
refused "name with .." "export name" --name ../escape --modality CT
ln -s "$WORK/outside" "$EXPORTS/planted"
refused "name planted as a symlink out of the root" "exists already" --name planted --modality CT
refused "existing export name" "exists already" --name cli1 --modality CT
refused "query without a filter" "give at least one filter" --name all1
refused "query matching nothing" "no study" --name none1 --patient-id NOBODY
[ -z "$(ls -A "$WORK/outside")" ] || fail "something was written outside the export root"
[ ! -e "$WORK/escape" ] || fail "../escape was created"
req "$OP_TOKEN" '{"name": "../http-escape", "modality": "CT"}'
[ "$CODE" = 400 ] || fail "HTTP name with ..: HTTP $CODE"
req "$OP_TOKEN" '{"name": "x1", "modality": "CT", "patient_name": "Resdoe*"}'
[ "$CODE" = 400 ] || fail "HTTP unknown key: HTTP $CODE"
cp "$CONF" "$WORK/escape.conf"
sed -i "s|^export_root = .*|export_root = $EXPORTS/../outside|" "$WORK/escape.conf"
"$RADNODE" research-export --config "$WORK/escape.conf" --name e1 --modality CT 2>"$WORK/r.err" &&
    fail "export_root with .. accepted"
grep -q 'export_root must be an absolute path without ".."' "$WORK/r.err" ||
    fail "export_root with ..: $(cat "$WORK/r.err")"
[ -z "$(ls -A "$WORK/outside")" ] || fail "something was written outside the export root"
ls -a "$EXPORTS" | grep -q '^\.tmp-' && fail "a temporary folder was left in the export root"
echo "ok: HTTP '..' name and unknown keys 400; export_root with '..' refused; nothing outside the root"

# 6. Audit: one Export event per export (CLI and HTTP), in the node's log.
n=$(grep -c '110106' "$DATA/audit.log")
[ "$n" -ge 2 ] || fail "expected >= 2 Export (110106) audit events, found $n"
echo "ok: $n Export audit events (110106)"
echo "ok: research export"
