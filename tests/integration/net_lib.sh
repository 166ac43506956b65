# Helpers shared by the network integration tests (sourced, not run by CTest:
# CTest runs only test_*.sh). Every peer is started on 127.0.0.1 on a free port
# and stopped by the EXIT trap.
set -u
# DCMTK tools disable Nagle only when asked to.
export TCP_NODELAY=1
RADNODE=${RADNODE:-$(pwd)/radnode}
PYDICOM_FILES=${PYDICOM_FILES:-/usr/lib/python3/dist-packages/pydicom/data/test_files}
WORK=$(mktemp -d /tmp/rn_net_test.XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]:-}"; do
        [ -n "$p" ] && kill "$p" 2>/dev/null
    done
    for p in "${PIDS[@]:-}"; do
        [ -n "$p" ] && wait "$p" 2>/dev/null
    done
    rm -rf "$WORK"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
skip() { echo "SKIP: $*" >&2; exit 77; }

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

wait_port() { # port [seconds]
    local i
    for i in $(seq 1 $((${2:-10} * 10))); do
        if python3 -c "import socket,sys; s=socket.socket(); s.settimeout(0.2); sys.exit(s.connect_ex(('127.0.0.1',$1)))" 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    return 1
}

# Starts `radnode storescp` in the background: rn_storescp DIR [options]; sets RN_PORT, RN_PID.
rn_storescp() {
    local dir=$1; shift
    RN_PORT=$(free_port)
    "$RADNODE" storescp --port "$RN_PORT" --dir "$dir" "$@" >"$WORK/storescp.$RN_PORT.log" 2>&1 &
    RN_PID=$!
    PIDS+=("$RN_PID")
    wait_port "$RN_PORT" || fail "radnode storescp did not start: $(cat "$WORK/storescp.$RN_PORT.log")"
}

# The data set of a DICOM file as dcmdump prints it (long values shortened),
# without the meta header and without what a sender may legitimately
# re-encode: group lengths, explicit vs undefined sequence/item lengths and
# their delimiters, trailing padding.
dataset_dump() {
    dcmdump -q -Un +U8 "$1" 2>/dev/null | sed -n '/^# Dicom-Data-Set/,$p' |
        grep -v -e '^# Used TransferSyntax' -e '^ *([0-9a-f]\{4\},0000) UL' \
            -e 'ItemDelimitationItem' -e 'SequenceDelimitationItem' -e '^ *(fffc,fffc)' |
        sed -e 's/(Sequence with [a-z]* length/(Sequence/' -e 's/(Item with [a-z]* length/(Item/' \
            -e 's/# *[0-9u/l]*,/#/' -e 's/  */ /g'
}

transfer_syntax_of() {
    dcmdump -q -Un +P 0002,0010 "$1" 2>/dev/null | sed -n 's/.*\[\(.*\)\].*/\1/p' | tr -d '\0' | head -1
}

sop_instance_of() {
    dcmdump -q +P 0008,0018 "$1" 2>/dev/null | sed -n 's/.*\[\(.*\)\].*/\1/p' | head -1
}

# storescu option proposing exactly one transfer syntax, empty when it cannot.
storescu_flag_for() {
    case "$1" in
    1.2.840.10008.1.2) echo -xi ;;
    1.2.840.10008.1.2.1) echo -xe ;;
    1.2.840.10008.1.2.2) echo -xb ;;
    1.2.840.10008.1.2.1.99) echo -xd ;;
    1.2.840.10008.1.2.4.50) echo -xy ;;
    1.2.840.10008.1.2.4.51) echo -xx ;;
    1.2.840.10008.1.2.4.70) echo -xs ;;
    1.2.840.10008.1.2.4.80) echo -xt ;;
    1.2.840.10008.1.2.4.81) echo -xu ;;
    1.2.840.10008.1.2.4.90) echo -xv ;;
    1.2.840.10008.1.2.4.91) echo -xw ;;
    1.2.840.10008.1.2.5) echo -xr ;;
    *) echo "" ;;
    esac
}

# Starts Orthanc with a generated configuration: start_orthanc [MOVE_AE MOVE_PORT];
# sets ORTHANC_DICOM, ORTHANC_HTTP.
start_orthanc() {
    command -v Orthanc >/dev/null || skip "Orthanc not installed"
    ORTHANC_DICOM=$(free_port)
    ORTHANC_HTTP=$(free_port)
    local d=$WORK/orthanc modalities=""
    mkdir -p "$d/db"
    if [ $# -ge 2 ]; then
        modalities="\"radnode\": [\"$1\", \"127.0.0.1\", $2]"
    fi
    cat >"$d/config.json" <<JSON
{
  "Name": "radnode-test",
  "StorageDirectory": "$d/db",
  "IndexDirectory": "$d/db",
  "HttpPort": $ORTHANC_HTTP,
  "DicomPort": $ORTHANC_DICOM,
  "DicomAet": "ORTHANC",
  "RemoteAccessAllowed": false,
  "AuthenticationEnabled": false,
  "DicomCheckCalledAet": false,
  "UnknownSopClassAccepted": true,
  "DicomAlwaysAllowEcho": true,
  "DicomAlwaysAllowStore": true,
  "DicomAlwaysAllowFind": true,
  "DicomAlwaysAllowGet": true,
  "DicomAlwaysAllowMove": true,
  "DicomModalities": { $modalities },
  "Plugins": []
}
JSON
    Orthanc "$d/config.json" >"$d/log" 2>&1 &
    PIDS+=($!)
    wait_port "$ORTHANC_HTTP" 30 || fail "Orthanc did not start: $(tail -5 "$d/log")"
    wait_port "$ORTHANC_DICOM" 10 || fail "Orthanc DICOM port did not open"
}

orthanc_get() { curl -sf "http://127.0.0.1:$ORTHANC_HTTP$1"; }

# storescu_acked LOG...: the files `storescu -v` reported acknowledged ("Sending file: F" followed
# by "Received Store Response (Success)"), one per line.
storescu_acked() {
    /usr/bin/python3 - "$@" <<'PY'
import re, sys
for log in sys.argv[1:]:
    cur = None
    for ln in open(log, errors="replace"):
        m = re.search(r"Sending file: (\S+)", ln)
        if m:
            cur = m.group(1)
        elif "Received Store Response (Success)" in ln and cur:
            print(cur)
            cur = None
PY
}

# check_stored LIST DATA_DIR: every file named in LIST is in the node's store under DATA_DIR
# (instances/<study>/<series>/<sop>.dcm) with an identical data set (pydicom equality, pixel data
# included; Data Set Trailing Padding, which carries no data, aside). Prints a summary line.
check_stored() {
    /usr/bin/python3 - "$1" "$2" <<'PY'
import os, sys, pydicom
bad = 0
paths = [l.strip() for l in open(sys.argv[1]) if l.strip()]
for p in paths:
    a = pydicom.dcmread(p)
    f = os.path.join(sys.argv[2], "instances", a.StudyInstanceUID, a.SeriesInstanceUID,
                     a.SOPInstanceUID + ".dcm")
    b = pydicom.dcmread(f) if os.path.exists(f) else None
    for ds in (a, b):
        if ds is not None and 0xFFFCFFFC in ds:
            del ds[0xFFFCFFFC]
    if b is None or a != b:
        diff = [] if b is None else [str(e.tag) for e in a if e.tag not in b or b[e.tag].value != e.value]
        print("missing" if b is None else "differs (%s)" % ", ".join(diff[:5]), p)
        bad += 1
print("%d acknowledged instances checked: %d missing or different" % (len(paths), bad))
sys.exit(1 if bad else 0)
PY
}

# make_ct_studies DIR STUDIES PER TAG: STUDIES studies of PER CT instances each (pydicom's
# CT_small.dcm with fresh UIDs) as DIR/s<i>/i<kkk>.dcm, PatientID P-<TAG>-<i>, accession <TAG><i>.
make_ct_studies() {
    /usr/bin/python3 - "$PYDICOM_FILES/CT_small.dcm" "$@" <<'PY'
import os, sys, pydicom
from pydicom.uid import generate_uid
src = pydicom.dcmread(sys.argv[1])
out, studies, per, tag = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
for st in range(studies):
    study, series = generate_uid(), generate_uid()
    d = os.path.join(out, "s%d" % st)
    os.makedirs(d)
    for k in range(per):
        ds = src.copy()
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.PatientID = "P-%s-%d" % (tag, st)
        ds.AccessionNumber = "%s%d" % (tag, st)
        ds.InstanceNumber = k + 1
        ds.save_as(os.path.join(d, "i%03d.dcm" % k))
PY
}

# orthanc_results STUDY_UID: how many of radnode's result instances (2.25 UIDs) Orthanc holds in
# that study (0 when the study is unknown or Orthanc does not answer).
orthanc_results() {
    /usr/bin/python3 - "$ORTHANC_HTTP" "$1" <<'PY'
import json, sys, urllib.request
base = "http://127.0.0.1:%s" % sys.argv[1]
req = urllib.request.Request(base + "/tools/find", data=json.dumps(
    {"Level": "Study", "Query": {"StudyInstanceUID": sys.argv[2]}}).encode(), method="POST")
n = 0
try:
    for sid in json.load(urllib.request.urlopen(req)):
        for i in json.load(urllib.request.urlopen(base + "/studies/%s/instances" % sid)):
            n += i["MainDicomTags"].get("SOPInstanceUID", "").startswith("2.25.")
except Exception:
    pass
print(n)
PY
}

# study_uid_of FILE: its StudyInstanceUID.
study_uid_of() {
    /usr/bin/python3 -c 'import sys, pydicom; print(pydicom.dcmread(sys.argv[1], stop_before_pixels=True).StudyInstanceUID)' "$1"
}

# test_ca DIR NAME SUBJECT: a self-signed test CA, DIR/NAME.key and DIR/NAME.pem.
test_ca() {
    mkdir -p "$1"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$1/$2.key" -subj "/CN=$3" -days 2 \
        -out "$1/$2.pem" 2>/dev/null || fail "cannot make the test CA $2"
}
# test_cert DIR NAME SUBJECT [CA [EXTFILE]]: a key and a certificate signed by the test CA
# DIR/CA (default "ca"), DIR/NAME.key and DIR/NAME.pem; EXTFILE adds extensions (subjectAltName).
test_cert() {
    openssl req -new -newkey rsa:2048 -nodes -keyout "$1/$2.key" -subj "/CN=$3" \
        -out "$1/$2.csr" 2>/dev/null || fail "cannot make a request for $2"
    openssl x509 -req -in "$1/$2.csr" -CA "$1/${4:-ca}.pem" -CAkey "$1/${4:-ca}.key" \
        -CAcreateserial -days 2 ${5:+-extfile "$5"} -out "$1/$2.pem" 2>/dev/null ||
        fail "cannot sign $2"
}
