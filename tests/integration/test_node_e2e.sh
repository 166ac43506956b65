#!/bin/bash
# The whole node path with real peers (issue 4 "Must show"):
#   Orthanc (the PACS) pushes a study to radnode through its REST API
#   (/modalities/radnode/store); radnode stores it, waits for the quiet period,
#   routes it to the built-in echo analyzer, builds SR + Secondary Capture +
#   encapsulated PDF + ORU^R01, and exports them: the DICOM objects arrive in
#   Orthanc in the same study; the ORU^R01 reaches a RIS built on python3-hl7,
#   which was DOWN while the results were made and is started afterwards
#   (peer outage: delivered once it is back, exactly once).
#   A second push of the same study re-runs the analysis: Orthanc still holds
#   one copy of each result (UIDs derived from the inputs), no duplicates.
. "$(dirname "$0")/net_lib.sh"
command -v curl >/dev/null || skip "curl not installed"
/usr/bin/python3 -c "import hl7, pydicom" 2>/dev/null || skip "python3-hl7 / python3-pydicom missing"
[ -f "$PYDICOM_FILES/CT_small.dcm" ] || skip "pydicom test files not installed"

PORT=$(free_port)
HTTP=$(free_port)
start_orthanc RADNODE "$PORT"

# A study with an accession number (so the RIS can attach the result).
mkdir -p "$WORK/study"
/usr/bin/python3 - "$PYDICOM_FILES/CT_small.dcm" "$WORK/study/ct.dcm" <<'PY'
import sys, pydicom
ds = pydicom.dcmread(sys.argv[1])
ds.AccessionNumber = "ACC20260001"
ds.PatientID = "P-E2E-1"
ds.save_as(sys.argv[2])
PY
curl -sf -X POST "http://127.0.0.1:$ORTHANC_HTTP/instances" --data-binary @"$WORK/study/ct.dcm" \
    >"$WORK/upload.json" || fail "upload to Orthanc failed"
STUDY=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["ParentStudy"])' "$WORK/upload.json")

RIS_PORT=$(free_port)
cat >"$WORK/radnode.conf" <<CONF
[node]
dicom_port = $PORT
http_port = $HTTP
data_dir = $WORK/data
quiet_period = 1
retry_base = 1
retry_max = 2
max_attempts = 100
[route echo-everything]
analyzer = echo
level = study
when = Modality present
[destination orthanc]
type = dicom
host = 127.0.0.1
port = $ORTHANC_DICOM
ae_title = ORTHANC
[destination ris]
type = hl7
host = 127.0.0.1
port = $RIS_PORT
[http]
# /status is polled by this test without a login
public_status = yes
CONF
"$RADNODE" serve --config "$WORK/radnode.conf" >"$WORK/node.log" 2>&1 &
PIDS+=($!)
wait_port "$PORT" || fail "radnode serve did not start: $(cat "$WORK/node.log")"
# The RIS is down at start: one clear message naming the configuration line of its section.
line=$(grep -n '^\[destination ris\]' "$WORK/radnode.conf" | cut -d: -f1)
for i in $(seq 1 50); do grep -q "radnode.conf:$line: destination ris" "$WORK/node.log" && break; sleep 0.1; done
grep -q "radnode.conf:$line: destination ris (127.0.0.1:$RIS_PORT) cannot be reached now" "$WORK/node.log" ||
    fail "no start-up message naming the unreachable RIS and its line $line: $(head "$WORK/node.log")"

curl -sf -X POST "http://127.0.0.1:$ORTHANC_HTTP/modalities/radnode/store" -d "$STUDY" \
    >/dev/null || fail "Orthanc could not push the study to radnode"

count_results() {
    orthanc_get "/studies/$STUDY/instances" | python3 -c '
import json, sys
print(sum(1 for i in json.load(sys.stdin) if i["MainDicomTags"].get("SOPInstanceUID", "").startswith("2.25.")))'
}
n=0
for i in $(seq 1 240); do
    n=$(count_results)
    [ "$n" -ge 3 ] && break
    sleep 0.5
done
[ "$n" = 3 ] || fail "expected SR+SC+PDF in the study in Orthanc, found $n; log: $(tail -20 "$WORK/node.log")"
mods=$(orthanc_get "/studies/$STUDY/series" | python3 -c '
import json, sys
print(" ".join(sorted(s["MainDicomTags"].get("Modality", "") for s in json.load(sys.stdin))))')
echo "Orthanc study series modalities: $mods"
for m in SR DOC; do
    echo "$mods" | grep -qw "$m" || fail "no $m series in the study"
done

# The RIS was down: the HL7 export must be failing and retrying, not lost.
sleep 2
grep -q "export .* to ris failed" "$WORK/node.log" || fail "no failed HL7 attempt logged while the RIS was down"
mkdir -p "$WORK/ris"
/usr/bin/python3 "$(dirname "$0")/hl7_ris_server.py" --port-file "$WORK/ris.port" \
    --out-dir "$WORK/ris" --mode AA >"$WORK/ris.log" 2>&1 &
RIS_PID=$!
PIDS+=($RIS_PID)
# hl7_ris_server.py binds port 0; restart the node's destination on its port by SIGHUP.
for i in $(seq 1 50); do [ -s "$WORK/ris.port" ] && break; sleep 0.1; done
sed -i "s/^port = $RIS_PORT\$/port = $(cat "$WORK/ris.port")/" "$WORK/radnode.conf"
kill -HUP "${PIDS[-2]}"
for i in $(seq 1 120); do
    ls "$WORK/ris"/*.hl7 >/dev/null 2>&1 && break
    sleep 0.5
done
ls "$WORK/ris"/*.hl7 >/dev/null 2>&1 || fail "the RIS never received the ORU^R01; log: $(tail -20 "$WORK/node.log")"
sleep 3
nmsg=$(ls "$WORK/ris"/*.hl7 | wc -l)
[ "$nmsg" = 1 ] || fail "the RIS received $nmsg messages, expected exactly 1"
/usr/bin/python3 - "$WORK/ris"/*.hl7 <<'PY' || fail "ORU^R01 content check failed"
import sys, hl7
msg = hl7.parse(open(sys.argv[1], "rb").read().decode("utf-8"))
assert str(msg.segment("MSH")[9]).startswith("ORU^R01"), msg.segment("MSH")[9]
assert "P-E2E-1" in str(msg.segment("PID")[3]), msg.segment("PID")
assert "ACC20260001" in str(msg.segment("OBR")), msg.segment("OBR")
obx = [s for s in msg if str(s[0]) == "OBX"]
assert obx, "no OBX"
assert all(str(s[11]) == "P" for s in obx), "OBX-11 must be P (preliminary)"
print("RIS: ORU^R01 parsed by python3-hl7 with", len(obx), "OBX segments")
PY

# Orthanc stores every result object and renders the Secondary Capture: its
# /instances/{id}/preview is a PNG of the SC's own Rows x Columns.
/usr/bin/python3 - "$ORTHANC_HTTP" "$STUDY" <<'PY' || fail "Orthanc preview of the Secondary Capture failed"
import json, struct, sys, urllib.request
base = "http://127.0.0.1:%s" % sys.argv[1]
classes = {}
for i in json.load(urllib.request.urlopen(base + "/studies/%s/instances" % sys.argv[2])):
    tags = json.load(urllib.request.urlopen(base + "/instances/%s/simplified-tags" % i["ID"]))
    if tags.get("SOPInstanceUID", "").startswith("2.25."):
        classes[tags["SOPClassUID"]] = (i["ID"], tags)
want = {"1.2.840.10008.5.1.4.1.1.88.34": "SR", "1.2.840.10008.5.1.4.1.1.7": "SC",
        "1.2.840.10008.5.1.4.1.1.104.1": "PDF"}
missing = [n for c, n in want.items() if c not in classes]
assert not missing, "Orthanc lacks result objects: %s" % missing
sid, tags = classes["1.2.840.10008.5.1.4.1.1.7"]
png = urllib.request.urlopen(base + "/instances/%s/preview" % sid).read()
assert png[:8] == b"\x89PNG\r\n\x1a\n", "the preview is not a PNG"
w, h = struct.unpack(">II", png[16:24])
assert (w, h) == (int(tags["Columns"]), int(tags["Rows"])), (w, h, tags["Columns"], tags["Rows"])
print("Orthanc: SR, SC and PDF stored; SC preview rendered %dx%d" % (w, h))
PY

# Re-push: a new generation is analysed again; results replace, never duplicate.
curl -sf -X POST "http://127.0.0.1:$ORTHANC_HTTP/modalities/radnode/store" -d "$STUDY" >/dev/null
for i in $(seq 1 120); do
    c=$(curl -sf "http://127.0.0.1:$HTTP/status" | python3 -c 'import json,sys; j=json.load(sys.stdin)["jobs"]; print(j["done"])')
    [ "$c" -ge 6 ] && break
    sleep 0.5
done
[ "$c" -ge 6 ] || fail "the second push was not analysed and exported (done jobs: $c)"
n=$(count_results)
[ "$n" = 3 ] || fail "after a re-run Orthanc holds $n result instances, expected the same 3"
echo "ok: Orthanc -> radnode -> SR+SC+PDF back in the same study and ORU^R01 to the RIS after its outage; re-run makes no duplicates"
