#!/bin/bash
# Priors from the PACS (issue 4 item 7, issue 8 item 5), with a real Orthanc as the PACS:
#   1. the phantom patient's earlier chest CT is stored in Orthanc only (storescu to Orthanc);
#      Orthanc knows radnode's AE title, host and port (DicomModalities) so it can C-MOVE to it;
#   2. the current CT is sent to `radnode serve` ([priors] fetch = yes, source = the Orthanc
#      destination); the lungct job finds no prior in the store, so the node asks Orthanc
#      (C-FIND, then C-MOVE to itself) and the analysis compares with the moved prior: the
#      findings name the prior study and give volume doubling times for matched nodules;
#   3. the prior study is in radnode's store afterwards (files and index: radnode answers a
#      C-FIND for it) but got no analysis job of its own;
#   4. with Orthanc stopped, a node with an empty store still analyses the current study,
#      without a prior, and its log says why.
. "$(dirname "$0")/net_lib.sh"
SRC=${RN_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
command -v storescu >/dev/null || skip "storescu (dcmtk) not installed"
command -v findscu >/dev/null || skip "findscu (dcmtk) not installed"
command -v curl >/dev/null || skip "curl not installed"
/usr/bin/python3 -c 'import numpy, pydicom' 2>/dev/null || skip "python3 numpy/pydicom missing"

P="$SRC/tools/phantom/make_ct_phantom.py"
/usr/bin/python3 "$P" "$WORK/prior" --prior --days 180 --thickness 2.5 --size 160 >/dev/null || fail "phantom"
/usr/bin/python3 "$P" "$WORK/cur" --thickness 2.5 --size 160 >/dev/null || fail "phantom"
rm -f "$WORK/prior/truth.json" "$WORK/cur/truth.json"
PRIOR=$(study_uid_of "$(ls "$WORK"/prior/*.dcm | head -1)")
CUR=$(study_uid_of "$(ls "$WORK"/cur/*.dcm | head -1)")
NPRIOR=$(ls "$WORK"/prior/*.dcm | wc -l)
[ "$PRIOR" != "$CUR" ] || fail "the phantom made one study UID for both time points"

PORT=$(free_port)
HTTP=$(free_port)
start_orthanc RADNODE "$PORT"
ORTHANC_PID=${PIDS[-1]}
storescu -aec ORTHANC 127.0.0.1 "$ORTHANC_DICOM" "$WORK"/prior/*.dcm || fail "storescu of the prior to Orthanc failed"
[ "$(orthanc_get /studies | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" = 1 ] ||
    fail "Orthanc does not hold the prior study"

write_conf() { # data_dir
    cat >"$WORK/radnode.conf" <<CONF
[node]
dicom_port = $PORT
http_port = $HTTP
data_dir = $1
models_dir = $SRC/models
quiet_period = 1
retry_base = 1
retry_max = 2
[route chest-ct]
analyzer = lungct
level = series
when = Modality = CT
[destination pacs]
type = dicom
host = 127.0.0.1
port = $ORTHANC_DICOM
ae_title = ORTHANC
[priors]
fetch = yes
source = pacs
timeout = 60
CONF
}
start_node() { # log
    "$RADNODE" serve --config "$WORK/radnode.conf" >"$1" 2>&1 &
    NODE_PID=$!
    PIDS+=($NODE_PID)
    wait_port "$PORT" || fail "radnode serve did not start: $(cat "$1")"
}
wait_log() { # file pattern what
    for i in $(seq 1 600); do
        grep -q "$2" "$1" && return 0
        kill -0 "$NODE_PID" 2>/dev/null || fail "radnode exited while waiting for $3: $(tail -20 "$1")"
        sleep 0.5
    done
    fail "timed out waiting for $3; log: $(tail -20 "$1")"
}
findings_of() { # data_dir: the findings of every job, one JSON object per line
    /usr/bin/python3 - "$1" <<'PY'
import glob, json, sys
for p in sorted(glob.glob(sys.argv[1] + "/jobs/*/findings.jsonl")):
    for ln in open(p):
        if ln.strip():
            f = json.loads(ln)
            print(json.dumps(f[0] if isinstance(f, list) else f))
PY
}

# ---- 1-3: the prior comes from Orthanc -------------------------------------------------
write_conf "$WORK/data"
start_node "$WORK/node.log"
storescu -aec RADNODE 127.0.0.1 "$PORT" "$WORK"/cur/*.dcm || fail "storescu (current) to radnode failed"
wait_log "$WORK/node.log" "job [0-9]*: done" "the lungct job"
# The moved prior is assembled like any study; the node must skip it, not analyse it.
wait_log "$WORK/node.log" "study $PRIOR was fetched from the PACS as a prior" "the prior's assembly"

grep -q "C-FIND on pacs (PatientID, StudyDate -[0-9]\{8\}, ModalitiesInStudy CT): 1 answer" "$WORK/node.log" ||
    fail "no C-FIND on Orthanc with one answer logged: $(grep priors "$WORK/node.log")"
grep -q "C-MOVE of study $PRIOR ([0-9]*) from pacs to RADNODE: status 0x0000, $NPRIOR completed, 0 failed" "$WORK/node.log" ||
    fail "no successful C-MOVE of the prior logged: $(grep priors "$WORK/node.log")"
n=$(ls "$WORK/data/instances/$PRIOR"/*/*.dcm 2>/dev/null | wc -l)
[ "$n" = "$NPRIOR" ] || fail "radnode's store holds $n files of the $NPRIOR prior instances"

# Index: radnode answers a C-FIND for the prior study.
findscu -S -aec RADNODE -k QueryRetrieveLevel=STUDY -k StudyInstanceUID="$PRIOR" -k PatientID \
    127.0.0.1 "$PORT" >"$WORK/find.log" 2>&1 || fail "findscu against radnode failed: $(cat "$WORK/find.log")"
grep -q "$PRIOR" "$WORK/find.log" || fail "radnode's C-FIND does not find the prior study: $(cat "$WORK/find.log")"

# The index: the prior's instances came from Orthanc's AE title (the C-MOVE's C-STORE
# sub-operations); no analysis job for the prior, exactly one for the current study.
/usr/bin/python3 - "$WORK/data/index.sqlite" "$PRIOR" "$CUR" "$NPRIOR" <<'PY' || fail "index check failed"
import sqlite3, sys
db = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True)
moved = db.execute("SELECT COUNT(*) FROM instances WHERE study_uid=? AND calling_ae='ORTHANC'",
                   (sys.argv[2],)).fetchone()[0]
assert moved == int(sys.argv[4]), "%d of %s prior instances indexed as sent by ORTHANC" % (moved, sys.argv[4])
prior = db.execute("SELECT COUNT(*) FROM jobs WHERE study_uid=?", (sys.argv[2],)).fetchone()[0]
cur = db.execute("SELECT COUNT(*) FROM jobs WHERE kind='analyze' AND study_uid=?", (sys.argv[3],)).fetchone()[0]
assert prior == 0, "the prior study got %d jobs" % prior
assert cur == 1, "the current study got %d analysis jobs" % cur
print("jobs: 0 for the prior study, 1 analysis for the current one")
PY

findings_of "$WORK/data" >"$WORK/findings1.jsonl"
/usr/bin/python3 - "$WORK/findings1.jsonl" "$PRIOR" "$CUR" <<'PY' || fail "follow-up findings check failed"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
assert len(rows) == 1, "expected the findings of one job, got %d" % len(rows)
f = rows[0]
assert f["status"] == "ok", f.get("error")
pr = f.get("details", {}).get("prior")
assert pr, "the findings were not compared with a prior: %s" % f.get("details", {}).get("prior_problem")
assert pr["study_uid"] == sys.argv[2], "compared with %s, not the PACS's prior %s" % (pr["study_uid"], sys.argv[2])
vdts = [n["vdt_days"] for n in f["nodules"] if n.get("status") == "matched" and n.get("vdt_days")]
assert len(vdts) >= 4, "too few matched nodules with a VDT: %s" % vdts
print("prior from Orthanc: study %s, %d matched nodules with VDT (days): %s"
      % (pr["study_uid"], len(vdts), sorted(round(v) for v in vdts)[:8]))
PY

# ---- 4: Orthanc down: the job still runs, without the prior, and the log says why --------
kill "$NODE_PID"
wait "$NODE_PID" 2>/dev/null
kill "$ORTHANC_PID"
wait "$ORTHANC_PID" 2>/dev/null
write_conf "$WORK/data2"
start_node "$WORK/node2.log"
storescu -aec RADNODE 127.0.0.1 "$PORT" "$WORK"/cur/*.dcm || fail "storescu (current, second node) failed"
wait_log "$WORK/node2.log" "job [0-9]*: done" "the lungct job with the PACS down"
grep -q "priors: study $CUR ([0-9]*): no prior from the PACS: association with pacs (127.0.0.1:$ORTHANC_DICOM) failed: .*; analysed without a prior" "$WORK/node2.log" ||
    fail "the log does not say why there is no prior: $(grep priors "$WORK/node2.log")"
findings_of "$WORK/data2" >"$WORK/findings2.jsonl"
/usr/bin/python3 - "$WORK/findings2.jsonl" <<'PY' || fail "findings without prior check failed"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
assert len(rows) == 1, "expected the findings of one job, got %d" % len(rows)
f = rows[0]
assert f["status"] == "ok", f.get("error")
assert not f.get("details", {}).get("prior"), "a prior was compared although the PACS was down"
print("PACS down: analysed without a prior, %d nodules" % len(f.get("nodules", [])))
PY
echo "ok: the node fetched the prior CT from Orthanc (C-FIND + C-MOVE to itself), compared with it, did not analyse the prior itself, and ran without a prior while Orthanc was down"
