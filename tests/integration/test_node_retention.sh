#!/bin/bash
# The retention policy (issue 4 item 2) with Orthanc as the PACS that receives the results and
# `retention = 3s` (the seconds unit exists for this test; production uses days):
# Results go to two destinations: Orthanc and an archive (`radnode storescp`, always up).
#   A: analysed (echo), results delivered to both          -> its inputs are deleted;
#   B: analysed while Orthanc is down: delivered to the archive, the export to Orthanc
#      dead-lettered (not delivered to every destination)  -> its inputs stay;
#   C: analysed and delivered after B's export died        -> deleted; since C's delivery is
#      later than B's last export attempt, the sweep that deletes C would have deleted B too
#      if a dead export did not protect it (so B's survival is not a matter of timing).
# Then: A's and C's files, folders and index rows are gone (radnode's C-FIND no longer finds
# them), B's are intact; the jobs and exports of A stay; /metrics counts the deletions; each
# deletion is logged with its Study Instance UID; a re-sent copy of A is stored but not
# analysed again, and Orthanc still holds exactly one copy of A's results.
. "$(dirname "$0")/net_lib.sh"
command -v storescu >/dev/null || skip "storescu (dcmtk) not installed"
command -v findscu >/dev/null || skip "findscu (dcmtk) not installed"
command -v curl >/dev/null || skip "curl not installed"
/usr/bin/python3 -c "import pydicom" 2>/dev/null || skip "python3-pydicom missing"
[ -f "$PYDICOM_FILES/CT_small.dcm" ] || skip "pydicom test files not installed"

make_ct_studies "$WORK/st" 3 2 RET || fail "make_ct_studies"
A=$(study_uid_of "$WORK/st/s0/i000.dcm")
B=$(study_uid_of "$WORK/st/s1/i000.dcm")
C=$(study_uid_of "$WORK/st/s2/i000.dcm")

PORT=$(free_port)
HTTP=$(free_port)
start_orthanc RADNODE "$PORT"
ORTHANC_PID=${PIDS[-1]}
mkdir -p "$WORK/archive"
rn_storescp "$WORK/archive"
TOKEN=rnt_$(python3 -c 'import secrets; print(secrets.token_hex(32))')
HASH=sha256\$$(printf '%s' "$TOKEN" | sha256sum | cut -d' ' -f1)
cat >"$WORK/radnode.conf" <<CONF
[node]
dicom_port = $PORT
http_port = $HTTP
data_dir = $WORK/data
quiet_period = 1
retry_base = 0.2
retry_max = 0.5
max_attempts = 2
retention = 3s
[route echo-everything]
analyzer = echo
level = study
when = Modality present
[destination orthanc]
type = dicom
host = 127.0.0.1
port = $ORTHANC_DICOM
ae_title = ORTHANC
[destination archive]
type = dicom
host = 127.0.0.1
port = $RN_PORT
ae_title = ARCHIVE
[token prom]
role = service
hash = $HASH
CONF
"$RADNODE" serve --config "$WORK/radnode.conf" >"$WORK/node.log" 2>&1 &
NODE_PID=$!
PIDS+=($NODE_PID)
wait_port "$PORT" || fail "radnode serve did not start: $(cat "$WORK/node.log")"

wait_log() { # pattern what
    for i in $(seq 1 600); do
        grep -q "$1" "$WORK/node.log" && return 0
        kill -0 "$NODE_PID" 2>/dev/null || fail "radnode exited while waiting for $2: $(tail -20 "$WORK/node.log")"
        sleep 0.5
    done
    fail "timed out waiting for $2; log: $(tail -20 "$WORK/node.log")"
}
send() { storescu -aec RADNODE 127.0.0.1 "$PORT" "$WORK/st/$1"/*.dcm || fail "storescu of $1 failed"; }
files_of() { ls "$WORK/data/instances/$1"/*/*.dcm 2>/dev/null | wc -l; }
cfind_count() { # study uid: how many studies radnode's C-FIND answers (responses extracted)
    rm -rf "$WORK/find" && mkdir -p "$WORK/find"
    findscu -S -aec RADNODE -X -od "$WORK/find" -k QueryRetrieveLevel=STUDY \
        -k StudyInstanceUID="$1" -k PatientID 127.0.0.1 "$PORT" >"$WORK/find.log" 2>&1 ||
        fail "findscu against radnode failed: $(cat "$WORK/find.log")"
    ls "$WORK/find" | wc -l
}

# A: delivered, then deleted.
send s0
wait_log "retention: study $A: 2 input instances" "the deletion of A's inputs"
[ "$(orthanc_results "$A")" = 3 ] || fail "A's results are not in Orthanc ($(orthanc_results "$A"))"

# B: Orthanc down; the export dies.
kill "$ORTHANC_PID"
wait "$ORTHANC_PID" 2>/dev/null
send s1
wait_log "export [0-9]* to orthanc is DEAD" "B's export to die"
# C: Orthanc back (same configuration and ports), delivered after B's export died, deleted.
Orthanc "$WORK/orthanc/config.json" >>"$WORK/orthanc/log" 2>&1 &
PIDS+=($!)
wait_port "$ORTHANC_DICOM" 30 || fail "Orthanc did not restart"
send s2
wait_log "retention: study $C: 2 input instances" "the deletion of C's inputs"

# Files and folders.
[ "$(files_of "$A")" = 0 ] && [ ! -e "$WORK/data/instances/$A" ] || fail "A's files are still in the store"
[ "$(files_of "$C")" = 0 ] || fail "C's files are still in the store"
[ "$(files_of "$B")" = 2 ] || fail "B's inputs were touched: $(files_of "$B") of 2 files left"
grep -q "retention: study $B" "$WORK/node.log" && fail "B (dead export) was deleted"
# Index: radnode's own C-FIND.
[ "$(cfind_count "$A")" = 0 ] || fail "radnode's C-FIND still finds A"
[ "$(cfind_count "$B")" = 1 ] || fail "radnode's C-FIND no longer finds B"
/usr/bin/python3 - "$WORK/data/index.sqlite" "$A" "$B" <<'PY' || fail "index check failed"
import sqlite3, sys
db = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True)
q = lambda sql, *a: db.execute(sql, a).fetchone()[0]
assert q("SELECT COUNT(*) FROM instances WHERE study_uid=?", sys.argv[2]) == 0, "A's index rows remain"
assert q("SELECT COUNT(*) FROM instances WHERE study_uid=?", sys.argv[3]) == 2, "B's index rows are gone"
jobs = q("SELECT COUNT(*) FROM jobs WHERE study_uid=? AND state=2", sys.argv[2])
assert jobs == 3, "A's job and export records: %d, expected 3 (analysis + 2 exports)" % jobs
dead = q("SELECT COUNT(*) FROM jobs WHERE study_uid=? AND state=4", sys.argv[3])
assert dead == 1, "B has %d dead exports, expected 1" % dead
done = q("SELECT COUNT(*) FROM jobs WHERE study_uid=? AND state=2 AND kind='export-dicom'", sys.argv[3])
assert done == 1, "B has %d delivered exports, expected 1 (the archive)" % done
print("index: A's rows gone, its analysis and export records kept; B intact with its dead export")
PY

# Metrics (service token).
curl -sf -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$HTTP/metrics" >"$WORK/metrics.txt" ||
    fail "/metrics failed"
grep -q '^radnode_retention_studies_deleted_total 2$' "$WORK/metrics.txt" ||
    fail "/metrics: $(grep retention "$WORK/metrics.txt")"
grep -q '^radnode_retention_instances_deleted_total 4$' "$WORK/metrics.txt" ||
    fail "/metrics: $(grep retention "$WORK/metrics.txt")"

# A re-sent copy of A: stored again, not analysed again, no duplicate result in Orthanc.
send s0
wait_log "study $A holds only instances already analysed" "the re-sent copy of A to be recognised"
n=$(/usr/bin/python3 -c 'import sqlite3,sys; print(sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True).execute("SELECT COUNT(*) FROM jobs WHERE study_uid=?", (sys.argv[2],)).fetchone()[0])' "$WORK/data/index.sqlite" "$A")
[ "$n" = 3 ] || fail "the re-sent copy of A made new jobs ($n jobs)"
[ "$(orthanc_results "$A")" = 3 ] || fail "Orthanc holds $(orthanc_results "$A") results for A, expected 3"
echo "ok: retention deleted the inputs of the delivered studies (A, C), kept the dead-lettered one (B), counted it in /metrics and did not re-analyse a re-sent copy"
