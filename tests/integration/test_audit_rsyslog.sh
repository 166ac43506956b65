#!/bin/bash
# The node's PS3.15 A.5 audit trail delivered to a real audit repository
# (issue 9): Debian's rsyslogd with its OpenSSL stream driver receives RFC 5425
# (syslog over TLS, octet-counted) on 127.0.0.1 and writes every raw message
# to a file. The node runs with [audit] transport = tls toward it, and real
# DICOM traffic from DCMTK drives the DICOM-side events:
#   echoscu; storescu of a 3-instance study (DICOM Instances Transferred,
#   action C, NumberOfInstances 3); findscu (Query with the identifier in
#   ParticipantObjectQuery); movescu to a DCMTK storescp (Begin Transferring,
#   then Instances Transferred, action R, destination PACS); echoscu from an
#   unknown calling AE (refused: Security Alert, Node Authentication); the
#   echo analyzer's results exported to the storescp (Instances Transferred
#   to destination "pacs") and its ORU^R01 to a python3-hl7 RIS (Export).
# Every message rsyslog received must validate against the A.5.1 schema
# (tests/unit/audit/dicom_audit_message.rng) with xmllint.
# Outage: rsyslogd is stopped, N more refused associations happen, the node
# still answers C-ECHO and C-STORE (the clinical path does not wait on the
# repository) and has the N alerts in its local log; rsyslogd is started
# again on the same port and all N arrive. Delivery is at-least-once
# (radnode/audit.h): duplicates are counted and reported, losses fail.
. "$(dirname "$0")/net_lib.sh"
for t in echoscu storescu findscu movescu storescp xmllint openssl; do
    command -v $t >/dev/null || skip "$t not installed"
done
RSYSLOGD=$(command -v rsyslogd || echo /usr/sbin/rsyslogd)
[ -x "$RSYSLOGD" ] || skip "rsyslogd not installed"
[ -f /usr/lib/x86_64-linux-gnu/rsyslog/lmnsd_ossl.so ] || ls /usr/lib/*/rsyslog/lmnsd_ossl.so \
    >/dev/null 2>&1 || skip "rsyslog-openssl (lmnsd_ossl) not installed"
/usr/bin/python3 -c "import hl7, pydicom" 2>/dev/null || skip "python3-hl7 / python3-pydicom missing"
[ -f "$PYDICOM_FILES/CT_small.dcm" ] || skip "pydicom test files not installed"
RNG=${RN_SOURCE_DIR:-$(dirname "$0")/../..}/tests/unit/audit/dicom_audit_message.rng
[ -f "$RNG" ] || fail "schema $RNG missing"

# ---- certificates: a test CA and the repository's server certificate ------------------------------
C=$WORK/certs
test_ca "$C" ca "radnode audit test CA"
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$C/ext"
test_cert "$C" rs localhost ca "$C/ext"

# ---- rsyslogd: TLS input only (no system sockets), raw messages to a file -------------------------
RS_PORT=$(free_port)
mkdir -p "$WORK/rs"
cat >"$WORK/rs/rsyslog.conf" <<CONF
global(workDirectory="$WORK/rs" maxMessageSize="256k"
       DefaultNetstreamDriver="ossl"
       DefaultNetstreamDriverCAFile="$C/ca.pem"
       DefaultNetstreamDriverCertFile="$C/rs.pem"
       DefaultNetstreamDriverKeyFile="$C/rs.key")
module(load="imtcp" StreamDriver.Name="ossl" StreamDriver.Mode="1" StreamDriver.AuthMode="anon")
input(type="imtcp" port="$RS_PORT" address="127.0.0.1")
template(name="raw" type="string" string="%rawmsg%\n")
action(type="omfile" file="$WORK/rs/received.log" template="raw")
CONF
RS_PID=
start_rsyslog() {
    "$RSYSLOGD" -n -f "$WORK/rs/rsyslog.conf" -i "$WORK/rs/rsyslogd.pid" >>"$WORK/rs/rsyslogd.out" 2>&1 &
    RS_PID=$!
    PIDS+=("$RS_PID")
    wait_port "$RS_PORT" 20 || fail "rsyslogd did not start: $(cat "$WORK/rs/rsyslogd.out")"
}
stop_rsyslog() {
    kill "$RS_PID" 2>/dev/null
    wait "$RS_PID" 2>/dev/null
    ! kill -0 "$RS_PID" 2>/dev/null || fail "rsyslogd did not stop"
}
start_rsyslog

# ---- peers: a DICOM archive (DCMTK storescp, AE PACS) and a RIS (python3-hl7) ----------------------
PACS_PORT=$(free_port)
mkdir -p "$WORK/pacs"
storescp -aet PACS -od "$WORK/pacs" "$PACS_PORT" >"$WORK/pacs.log" 2>&1 &
PIDS+=($!)
wait_port "$PACS_PORT" || fail "storescp did not start"
/usr/bin/python3 "$(dirname "$0")/hl7_ris_server.py" --port-file "$WORK/ris.port" \
    --out-dir "$WORK/ris" --mode AA >"$WORK/ris.log" 2>&1 &
PIDS+=($!)
for i in $(seq 1 100); do [ -s "$WORK/ris.port" ] && break; sleep 0.1; done
[ -s "$WORK/ris.port" ] || fail "RIS did not start: $(cat "$WORK/ris.log")"

# ---- the node --------------------------------------------------------------------------------------
PORT=$(free_port)
DATA=$WORK/data
cat >"$WORK/radnode.conf" <<CONF
[node]
ae_title = RADNODE
dicom_port = $PORT
http_port = 0
data_dir = $DATA
quiet_period = 1
min_free_mb = 1
retry_base = 1
retry_max = 2
[access]
allowed_calling_aes = ECHOSCU, STORESCU, FINDSCU, MOVESCU, PACS
[audit]
transport = tls
host = localhost
port = $RS_PORT
ca_file = $C/ca.pem
site_id = TESTSITE
[route echo-everything]
analyzer = echo
level = study
when = Modality present
[destination pacs]
type = dicom
host = 127.0.0.1
port = $PACS_PORT
ae_title = PACS
[destination ris]
type = hl7
host = 127.0.0.1
port = $(cat "$WORK/ris.port")
receiving_application = RIS
CONF
"$RADNODE" serve --config "$WORK/radnode.conf" >"$WORK/node.log" 2>&1 &
NODE_PID=$!
PIDS+=("$NODE_PID")
wait_port "$PORT" || fail "radnode serve did not start: $(cat "$WORK/node.log")"

RCV=$WORK/rs/received.log
# received_count PATTERN: unique received messages matching an extended regex.
received_count() { cat "$RCV" "$WORK/rs/received2.log" 2>/dev/null | sort -u | grep -cE "$1"; }
# wait_received PATTERN WHAT [seconds]: polls (no timing asserted; a generous bound on waiting).
wait_received() {
    local i
    for i in $(seq 1 $((${3:-90} * 5))); do
        [ "$(received_count "$1")" -ge 1 ] && return 0
        sleep 0.2
    done
    fail "$2 never reached rsyslog; received: $(wc -l <"$RCV" 2>/dev/null) lines; node log: $(tail -5 "$WORK/node.log")"
}

# ---- DICOM traffic ----------------------------------------------------------------------------------
make_ct_studies "$WORK/in" 1 3 AUD
STUDY=$(study_uid_of "$WORK/in/s0/i000.dcm")
echoscu -aet ECHOSCU -aec RADNODE 127.0.0.1 "$PORT" || fail "C-ECHO failed"
storescu -aet STORESCU -aec RADNODE 127.0.0.1 "$PORT" "$WORK/in/s0"/*.dcm >"$WORK/store.log" 2>&1 ||
    fail "C-STORE failed: $(cat "$WORK/store.log")"
findscu -S -aet FINDSCU -aec RADNODE 127.0.0.1 "$PORT" -k QueryRetrieveLevel=STUDY \
    -k PatientID=P-AUD-0 -k StudyInstanceUID >"$WORK/find.log" 2>&1 || fail "C-FIND failed: $(cat "$WORK/find.log")"
grep -q "$STUDY" "$WORK/find.log" || fail "C-FIND did not find the study: $(cat "$WORK/find.log")"
movescu -S -aet MOVESCU -aec RADNODE -aem PACS 127.0.0.1 "$PORT" -k QueryRetrieveLevel=STUDY \
    -k StudyInstanceUID="$STUDY" >"$WORK/move.log" 2>&1 || fail "C-MOVE failed: $(cat "$WORK/move.log")"
echoscu -aet INTRUDER -aec RADNODE 127.0.0.1 "$PORT" >"$WORK/intruder.log" 2>&1 &&
    fail "an unknown calling AE was accepted"
grep -q 'association refused: peer 127.0.0.1:[0-9]*, calling AE "INTRUDER", called AE "RADNODE": calling AE title not recognized' \
    "$WORK/node.log" || fail "the refusal is not logged in one line: $(grep -i refused "$WORK/node.log")"

# ---- what the repository received -----------------------------------------------------------------
wait_received 'csd-code="110100".*csd-code="110120"' "Application Start"
wait_received 'csd-code="110113".*csd-code="110126".*UserID="INTRUDER"' "the refused association's Security Alert"
wait_received 'EventActionCode="C".*csd-code="110104".*UserID="STORESCU".*ParticipantObjectID="'"$STUDY"'".*NumberOfInstances="3"' \
    "Instances Transferred (C-STORE, 3 instances)"
wait_received 'csd-code="110112".*UserID="FINDSCU".*ParticipantObjectQuery>[A-Za-z0-9+/=]+<.*type="TransferSyntax"' \
    "the Query with its identifier"
wait_received 'csd-code="110102".*UserID="PACS".*'"$STUDY" "Begin Transferring (C-MOVE)"
wait_received 'EventActionCode="R".*csd-code="110104".*UserID="PACS".*UserID="MOVESCU".*'"$STUDY" \
    "Instances Transferred (C-MOVE, action R)"
wait_received 'EventActionCode="R".*csd-code="110104".*AlternativeUserID="pacs".*'"$STUDY" \
    "Instances Transferred (results exported to the PACS)" 180
wait_received 'csd-code="110106".*UserID="RIS".*'"$STUDY" "Export (ORU^R01 to the RIS)" 180
# The query in the message is the identifier findscu sent: PatientID P-AUD-0 in it.
/usr/bin/python3 - "$RCV" <<'PY' || fail "the Query's ParticipantObjectQuery is not the identifier"
import base64, re, sys
qs = [m.group(1) for l in open(sys.argv[1], errors="replace")
      for m in [re.search(r"<ParticipantObjectQuery>([^<]*)<", l)] if m]
assert qs and any(b"P-AUD-0" in base64.b64decode(q) for q in qs), qs
PY

# Every message rsyslog received is a valid A.5.1 audit message.
validate_all() {
    local i=0 line
    while IFS= read -r line; do
        i=$((i + 1))
        case "$line" in *$'\xef\xbb\xbf<?xml'*) ;; *) fail "message $i is not a DICOM audit message: ${line:0:200}" ;; esac
        printf '%s' "${line#*$'\xef\xbb\xbf'}" >"$WORK/msg.xml"
        xmllint --noout --relaxng "$RNG" "$WORK/msg.xml" 2>"$WORK/xmllint.log" ||
            fail "message $i invalid: $(cat "$WORK/xmllint.log"): ${line:0:300}"
    done < <(cat "$RCV" "$WORK/rs/received2.log" 2>/dev/null)
    echo "$i"
}
N1=$(validate_all) || exit 1
echo "ok: $N1 messages received by rsyslogd over TLS, all valid against the A.5.1 schema;" \
    "start, refusal, C-STORE, C-FIND, C-MOVE, DICOM export and HL7 export audited"

# ---- outage: the repository is down ------------------------------------------------------------------
stop_rsyslog
N=5
for k in $(seq 1 $N); do
    echoscu -aet "OUTAGE$k" -aec RADNODE 127.0.0.1 "$PORT" >/dev/null 2>&1 &&
        fail "OUTAGE$k was accepted"
done
# The clinical path does not wait on the audit repository.
echoscu -aet ECHOSCU -aec RADNODE 127.0.0.1 "$PORT" || fail "C-ECHO failed while rsyslogd is down"
make_ct_studies "$WORK/in2" 1 1 OUT
storescu -aet STORESCU -aec RADNODE 127.0.0.1 "$PORT" "$WORK/in2/s0/i000.dcm" >"$WORK/store2.log" 2>&1 ||
    fail "C-STORE failed while rsyslogd is down: $(cat "$WORK/store2.log")"
for k in $(seq 1 $N); do
    grep -q "UserID=\"OUTAGE$k\"" "$DATA/audit.log" || fail "OUTAGE$k not in the node's local audit log"
done
for k in $(seq 1 $N); do
    [ "$(received_count "UserID=\"OUTAGE$k\"")" = 0 ] || fail "OUTAGE$k reached a stopped rsyslogd?"
done
sed -i "s|received.log|received2.log|" "$WORK/rs/rsyslog.conf"
start_rsyslog
for k in $(seq 1 $N); do
    wait_received "csd-code=\"110113\".*UserID=\"OUTAGE$k\"" "OUTAGE$k (recorded during the outage)" 120
done
wait_received "EventActionCode=\"C\".*csd-code=\"110104\".*NumberOfInstances=\"1\".*P-OUT-0" \
    "the C-STORE made during the outage"

# ---- the node stops: Application Stop -------------------------------------------------------------
kill "$NODE_PID"
wait "$NODE_PID" 2>/dev/null
wait_received 'csd-code="110100".*csd-code="110121"' "Application Stop" 60
N2=$(validate_all) || exit 1
DUPS=$(($(cat "$RCV" "$WORK/rs/received2.log" | wc -l) - $(cat "$RCV" "$WORK/rs/received2.log" | sort -u | wc -l)))
echo "ok: outage: $N refusals recorded while rsyslogd was down, C-ECHO and C-STORE answered;" \
    "after its restart all $N arrived ($N2 messages in all, all valid; $DUPS duplicates, at-least-once)"
