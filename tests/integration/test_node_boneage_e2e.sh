#!/bin/bash
# Bone age through the whole node with real peers (issue 7 "Must show", end to end):
#   a full-resolution RSNA hand radiograph (../shared/data/boneage-rsna-fullres, wrapped as a
#   DX instance with an accession number) is uploaded to Orthanc (the PACS), Orthanc pushes it to
#   radnode, the hand-radiograph route runs the boneage analyzer with the shipped model, and
#   radnode sends SR + Secondary Capture + encapsulated PDF back into the same study in Orthanc and
#   an ORU^R01 to a RIS built on python3-hl7. The SR is read back with dsrdump and must hold the
#   bone age; the ORU's OBX must hold the same value. Skips when ../shared/data or the model is
#   absent (a user's machine has no ../shared).
. "$(dirname "$0")/net_lib.sh"
SRC=${RN_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
DATA=${RN_SHARED_DATA:-$SRC/../shared/data}
FULL=$DATA/boneage-rsna-fullres
command -v curl >/dev/null || skip "curl not installed"
command -v dsrdump >/dev/null || skip "dsrdump (dcmtk) not installed"
/usr/bin/python3 -c "import hl7, pydicom, PIL" 2>/dev/null || skip "python3-hl7 / pydicom / PIL missing"
[ -r "$FULL/labels.csv" ] || skip "no $FULL (../shared/data is absent on this machine)"
MODEL=$(ls "$SRC"/models/boneage-v*.onnx 2>/dev/null | tail -1)
[ -n "$MODEL" ] || skip "no bone-age model under models/"

PORT=$(free_port)
HTTP=$(free_port)
start_orthanc RADNODE "$PORT"

ID=7034   # label 144 months, male
mkdir -p "$WORK/study"
/usr/bin/python3 "$SRC/tools/boneage/wrap_dicom.py" "$FULL/$ID.png" "$WORK/study/hand.dcm" \
    --modality DX --sex M --birth 20120110 --study-date 20240115 --patient-id "P-BA-$ID" \
    || fail "could not wrap the radiograph"
/usr/bin/python3 - "$WORK/study/hand.dcm" <<'PY' || fail "could not set the accession number"
import sys, pydicom
ds = pydicom.dcmread(sys.argv[1])
ds.AccessionNumber = "ACCBA0001"
ds.BodyPartExamined = "HAND"
ds.save_as(sys.argv[1])
PY
curl -sf -X POST "http://127.0.0.1:$ORTHANC_HTTP/instances" --data-binary @"$WORK/study/hand.dcm" \
    >"$WORK/upload.json" || fail "upload to Orthanc failed"
STUDY=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["ParentStudy"])' "$WORK/upload.json")

mkdir -p "$WORK/ris"
/usr/bin/python3 "$(dirname "$0")/hl7_ris_server.py" --port-file "$WORK/ris.port" \
    --out-dir "$WORK/ris" --mode AA >"$WORK/ris.log" 2>&1 &
PIDS+=($!)
for i in $(seq 1 50); do [ -s "$WORK/ris.port" ] && break; sleep 0.1; done
[ -s "$WORK/ris.port" ] || fail "the RIS did not start: $(cat "$WORK/ris.log")"

cat >"$WORK/radnode.conf" <<CONF
[node]
dicom_port = $PORT
http_port = $HTTP
data_dir = $WORK/data
models_dir = $SRC/models
quiet_period = 1
retry_base = 1
retry_max = 2
[route hand-bone-age]
analyzer = boneage
level = series
when = Modality in DX,CR,SC
when = BodyPartExamined in HAND,WRIST
[destination orthanc]
type = dicom
host = 127.0.0.1
port = $ORTHANC_DICOM
ae_title = ORTHANC
[destination ris]
type = hl7
host = 127.0.0.1
port = $(cat "$WORK/ris.port")
CONF
"$RADNODE" serve --config "$WORK/radnode.conf" >"$WORK/node.log" 2>&1 &
PIDS+=($!)
wait_port "$PORT" || fail "radnode serve did not start: $(cat "$WORK/node.log")"

curl -sf -X POST "http://127.0.0.1:$ORTHANC_HTTP/modalities/radnode/store" -d "$STUDY" \
    >/dev/null || fail "Orthanc could not push the study to radnode"

count_results() {
    orthanc_get "/studies/$STUDY/instances" | python3 -c '
import json, sys
print(sum(1 for i in json.load(sys.stdin) if i["MainDicomTags"].get("SOPInstanceUID", "").startswith("2.25.")))'
}
n=0
for i in $(seq 1 360); do
    n=$(count_results)
    [ "$n" -ge 3 ] && break
    sleep 0.5
done
[ "$n" = 3 ] || fail "expected SR+SC+PDF in the study in Orthanc, found $n; log: $(tail -20 "$WORK/node.log")"
mods=$(orthanc_get "/studies/$STUDY/series" | python3 -c '
import json, sys
print(" ".join(sorted(s["MainDicomTags"].get("Modality", "") for s in json.load(sys.stdin))))')
echo "Orthanc study series modalities: $mods"
for m in SR DOC OT DX; do
    echo "$mods" | grep -qw "$m" || fail "no $m series in the study"
done

# The SR, fetched back from Orthanc, read by DCMTK's dsrdump: it must carry the bone age.
SR=$(orthanc_get "/studies/$STUDY/instances" | python3 -c '
import json, sys
for i in json.load(sys.stdin):
    if i["MainDicomTags"].get("SOPInstanceUID", "").startswith("2.25."):
        print(i["ID"])' | while read -r id; do
    m=$(orthanc_get "/instances/$id/tags?simplify" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("Modality",""))')
    [ "$m" = SR ] && echo "$id"
done | head -1)
[ -n "$SR" ] || fail "no SR instance found in Orthanc"
curl -sf "http://127.0.0.1:$ORTHANC_HTTP/instances/$SR/file" -o "$WORK/sr.dcm" || fail "SR download failed"
dsrdump "$WORK/sr.dcm" >"$WORK/sr.txt" 2>&1 || fail "dsrdump could not read the SR: $(head "$WORK/sr.txt")"
grep -qi "bone age" "$WORK/sr.txt" || fail "the SR has no bone age item: $(head -40 "$WORK/sr.txt")"

for i in $(seq 1 120); do
    ls "$WORK/ris"/*.hl7 >/dev/null 2>&1 && break
    sleep 0.5
done
ls "$WORK/ris"/*.hl7 >/dev/null 2>&1 || fail "the RIS never received the ORU^R01; log: $(tail -20 "$WORK/node.log")"
/usr/bin/python3 - "$WORK/ris"/*.hl7 "$WORK/sr.txt" <<'PY' || fail "ORU^R01 content check failed"
import re, sys, hl7
msg = hl7.parse(open(sys.argv[1], "rb").read().decode("utf-8"))
assert str(msg.segment("MSH")[9]).startswith("ORU^R01"), msg.segment("MSH")[9]
assert "P-BA-7034" in str(msg.segment("PID")[3]), msg.segment("PID")
assert "ACCBA0001" in str(msg.segment("OBR")), msg.segment("OBR")
obx = [s for s in msg if str(s[0]) == "OBX"]
text = " | ".join(str(s) for s in obx)
assert re.search(r"bone age", text, re.I), text[:500]
nums = [float(str(s[5])) for s in obx if str(s[2]) == "NM" and re.search(r"bone age", str(s[3]), re.I)]
assert nums, "no numeric bone-age OBX: " + text[:500]
ba = nums[0]
# the label is 144 months; the model's validation MAE is well under 24 months
assert abs(ba - 144) < 36, "bone age %.1f months is far from the label 144" % ba
print("RIS: ORU^R01 with bone age %.1f months (label 144) in %d OBX segments" % (ba, len(obx)))
PY
echo "ok: Orthanc -> radnode boneage -> SR+SC+PDF in the same study (SR read by dsrdump) and ORU^R01 to the RIS"
