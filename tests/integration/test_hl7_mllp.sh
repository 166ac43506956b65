#!/bin/bash
# HL7 v2.5.1 over MLLP against python3-hl7 as the real peer, both directions.
#
# 1. radnode's MLLP client (unit_hl7_test_mllp_peer --send) delivers the sample
#    ORU^R01 to a RIS built on python3-hl7's MLLP server (hl7_ris_server.py);
#    the RIS's copy is checked with hl7.parse (hl7_check_oru.py: PID-3, OBR-3,
#    OBR-18, OBX values/units/codes, result status P, NTE) and is byte-identical
#    to what radnode built. Then the RIS answers AE and AR (reported as ACK
#    codes, exit 2), never answers (timeout error), drops the connection, or
#    is down (network errors, exit 1): the cases the exporter's retry logic
#    sees.
# 2. python3-hl7's mllp_send delivers messages to radnode's MLLP listener
#    (unit_hl7_test_mllp_peer --listen), which stores each one with
#    rn_file_write_atomic before answering AA; a message without PID gets AE.
set -u
PY=/usr/bin/python3
PEER="${RN_BUILD_DIR:-.}/unit_hl7_test_mllp_peer"
HERE="${RN_SOURCE_DIR:-.}/tests/integration"
$PY -c 'import hl7' 2>/dev/null || { echo "SKIP: python3-hl7 not installed (apt-get install python3-hl7)"; exit 77; }
command -v mllp_send >/dev/null || { echo "SKIP: mllp_send (python3-hl7) not found"; exit 77; }
[ -x "$PEER" ] || { echo "SKIP: $PEER not built"; exit 77; }

WORK=$(mktemp -d /tmp/rn_hl7_integ.XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    rm -rf "$WORK"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }
pass() { echo "ok: $*"; }

RIS_PID=
RIS_PORT=
start_ris() {
    rm -f "$WORK/port"
    $PY "$HERE/hl7_ris_server.py" --port-file "$WORK/port" --out-dir "$WORK/ris_$1" --mode "$1" &
    RIS_PID=$!
    PIDS+=("$RIS_PID")
    for _ in $(seq 100); do [ -s "$WORK/port" ] && break; sleep 0.1; done
    [ -s "$WORK/port" ] || fail "RIS ($1) did not start"
    RIS_PORT=$(cat "$WORK/port")
}
stop_ris() { kill "$RIS_PID" 2>/dev/null; wait "$RIS_PID" 2>/dev/null; }

# ---- 1. radnode client -> python3-hl7 RIS ---------------------------------------------
"$PEER" --oru "$WORK/oru1.hl7" ORU-INTEG-1 || fail "building the ORU^R01"

start_ris AA
out=$("$PEER" --send 127.0.0.1 "$RIS_PORT" "$WORK/oru1.hl7" 5000); rc=$?
[ $rc -eq 0 ] || fail "send to AA RIS: rc $rc: $out"
[[ "$out" == "ACK AA ORU-INTEG-1"* ]] || fail "unexpected answer: $out"
got=$(ls "$WORK"/ris_AA/*_ORU-INTEG-1.hl7 2>/dev/null | head -1)
[ -n "$got" ] || fail "the RIS stored no ORU-INTEG-1"
$PY "$HERE/hl7_check_oru.py" "$got" ORU-INTEG-1 || fail "python3-hl7 field checks"
cmp -s "$got" "$WORK/oru1.hl7" || fail "the RIS received other bytes than radnode built"
pass "ORU^R01 delivered, AA, fields verified by python3-hl7"
stop_ris

for code in AE AR; do
    "$PEER" --oru "$WORK/oru_$code.hl7" "ORU-$code" || fail "building"
    start_ris "$code"
    out=$("$PEER" --send 127.0.0.1 "$RIS_PORT" "$WORK/oru_$code.hl7" 5000); rc=$?
    [ $rc -eq 2 ] || fail "$code RIS: expected exit 2 (ACK code as data), got $rc: $out"
    [[ "$out" == "ACK $code ORU-$code rejected by test RIS"* ]] || fail "$code: $out"
    pass "$code reported as data: $out"
    stop_ris
done

start_ris silent
t0=$(date +%s)
out=$("$PEER" --send 127.0.0.1 "$RIS_PORT" "$WORK/oru1.hl7" 1000); rc=$?
[ $rc -eq 1 ] && [[ "$out" == "ERROR TIMEOUT"* ]] || fail "silent RIS: rc $rc: $out"
[ $(( $(date +%s) - t0 )) -le 5 ] || fail "timeout took too long"
pass "silent RIS: $out"
stop_ris

start_ris close
out=$("$PEER" --send 127.0.0.1 "$RIS_PORT" "$WORK/oru1.hl7" 5000); rc=$?
[ $rc -eq 1 ] && [[ "$out" == "ERROR NET"* ]] || fail "closing RIS: rc $rc: $out"
pass "RIS dropping the connection: $out"
stop_ris

out=$("$PEER" --send 127.0.0.1 "$RIS_PORT" "$WORK/oru1.hl7" 5000); rc=$?
[ $rc -eq 1 ] && [[ "$out" == "ERROR NET"* ]] || fail "RIS down: rc $rc: $out"
pass "RIS down: $out"

# ---- 2. python3-hl7 mllp_send -> radnode listener ---------------------------------------
"$PEER" --listen 127.0.0.1 0 "$WORK/store" > "$WORK/listen.out" &
LPID=$!
PIDS+=("$LPID")
for _ in $(seq 100); do grep -q LISTENING "$WORK/listen.out" 2>/dev/null && break; sleep 0.1; done
LPORT=$(awk '/LISTENING/ {print $2}' "$WORK/listen.out")
[ -n "$LPORT" ] || fail "listener did not start"

printf 'MSH|^~\\&|RIS|RAD|RADNODE|HOSP|20240101120000||ADT^A08^ADT_A01|PY-1|P|2.5.1\nPID|1||PYPAT^^^HOSP^MR||Li^Na\n' > "$WORK/in1.hl7"
ack=$(mllp_send --loose -f "$WORK/in1.hl7" -p "$LPORT" 127.0.0.1 | tr '\r' '\n')
echo "$ack" | grep -q '^MSA|AA|PY-1$' || fail "mllp_send got: $ack"
echo "$ack" | grep -q 'MSH|^~\\&|RADNODE|HOSP|RIS|RAD|.*|ACK^A08^ACK|' || fail "ACK header: $ack"
[ -f "$WORK/store/PY-1.hl7" ] || fail "acknowledged message not stored"
$PY -c 'import hl7, sys
m = hl7.parse(open(sys.argv[1], "rb").read().decode("utf-8"))
assert str(m["PID.F3.R1.C1"]) == "PYPAT", m' "$WORK/store/PY-1.hl7" || fail "stored message"
pass "mllp_send -> listener: AA after the message was stored"

# Two messages in one session, one without PID (AE), plus radnode's own ORU^R01.
printf 'MSH|^~\\&|RIS|RAD|RADNODE|HOSP|20240101120000||ORU^R01|PY-2|P|2.5.1\nOBR|1\nMSH|^~\\&|RIS|RAD|RADNODE|HOSP|20240101120000||ORU^R01|PY-3|P|2.5.1\nPID|1||X\n' > "$WORK/in2.hl7"
ack=$(mllp_send --loose -f "$WORK/in2.hl7" -p "$LPORT" 127.0.0.1 | tr '\r' '\n')
echo "$ack" | grep -q '^MSA|AE|PY-2' || fail "no AE for a message without PID: $ack"
echo "$ack" | grep -q '^ERR|||102^' || fail "AE without ERR segment: $ack"
echo "$ack" | grep -q '^MSA|AA|PY-3$' || fail "second message: $ack"
[ ! -e "$WORK/store/PY-2.hl7" ] || fail "a message answered AE was stored"
tr '\r' '\n' < "$WORK/oru1.hl7" > "$WORK/oru1_lf.hl7"
ack=$(mllp_send --loose -f "$WORK/oru1_lf.hl7" -p "$LPORT" 127.0.0.1 | tr '\r' '\n')
echo "$ack" | grep -q '^MSA|AA|ORU-INTEG-1$' || fail "ORU via mllp_send: $ack"
$PY "$HERE/hl7_check_oru.py" "$WORK/store/ORU-INTEG-1.hl7" ORU-INTEG-1 || fail "stored ORU"
pass "AE for content errors, AA and durable copies otherwise"

kill -TERM "$LPID"
wait "$LPID"; rc=$?
[ $rc -eq 0 ] || fail "listener exit status $rc"
grep -q 'STOPPED messages=4 accepted=3 errors=1 rejected=0' "$WORK/listen.out" ||
    fail "listener stats: $(cat "$WORK/listen.out")"
pass "listener stopped cleanly: $(tail -1 "$WORK/listen.out")"
echo "PASS"
