#!/bin/bash
# Follow-up through the node (issues 4 and 8): DCMTK storescu sends the phantom patient's
# earlier chest CT to `radnode serve`, then the current one; the lungct route runs on each; for
# the current study the node finds the prior in its own store (same PatientID, CT, earlier
# StudyDate) and hands it to the analyzer, whose findings (the job's findings.jsonl) must name the
# prior study and give volume doubling times for matched nodules. The first study, which has no
# prior, is analysed without one.
. "$(dirname "$0")/net_lib.sh"
SRC=${RN_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
command -v storescu >/dev/null || skip "storescu (dcmtk) not installed"
command -v curl >/dev/null || skip "curl not installed"
/usr/bin/python3 -c 'import numpy, pydicom' 2>/dev/null || skip "python3 numpy/pydicom missing"

P="$SRC/tools/phantom/make_ct_phantom.py"
/usr/bin/python3 "$P" "$WORK/prior" --prior --days 180 --thickness 2.5 --size 160 >/dev/null || fail "phantom"
/usr/bin/python3 "$P" "$WORK/cur" --thickness 2.5 --size 160 >/dev/null || fail "phantom"
mv "$WORK/prior/truth.json" "$WORK/prior-truth.json"
mv "$WORK/cur/truth.json" "$WORK/cur-truth.json"

PORT=$(free_port)
HTTP=$(free_port)
cat >"$WORK/radnode.conf" <<CONF
[node]
dicom_port = $PORT
http_port = $HTTP
data_dir = $WORK/data
models_dir = $SRC/models
quiet_period = 1
[route chest-ct]
analyzer = lungct
level = series
when = Modality = CT
[http]
# /status is polled by this test without a login
public_status = yes
CONF
"$RADNODE" serve --config "$WORK/radnode.conf" >"$WORK/node.log" 2>&1 &
PIDS+=($!)
wait_port "$PORT" || fail "radnode serve did not start: $(cat "$WORK/node.log")"

jobs_done() {
    curl -sf "http://127.0.0.1:$HTTP/status" | python3 -c 'import json,sys; print(json.load(sys.stdin)["jobs"]["done"])'
}
wait_done() { # count
    for i in $(seq 1 240); do
        [ "$(jobs_done)" -ge "$1" ] && return 0
        sleep 0.5
    done
    fail "expected $1 finished analyses, have $(jobs_done); log: $(tail -20 "$WORK/node.log")"
}
storescu -aec RADNODE 127.0.0.1 "$PORT" "$WORK"/prior/*.dcm || fail "storescu (prior) failed"
wait_done 1
storescu -aec RADNODE 127.0.0.1 "$PORT" "$WORK"/cur/*.dcm || fail "storescu (current) failed"
wait_done 2
grep -q "priors: study" "$WORK/node.log" || fail "the node did not look up a prior: $(tail "$WORK/node.log")"

/usr/bin/python3 - "$WORK/data" "$WORK/cur-truth.json" <<'PY' || fail "follow-up findings check failed"
import glob, json, sys
rows = []
for p in glob.glob(sys.argv[1] + "/jobs/*/findings.jsonl"):
    for ln in open(p):
        if ln.strip():
            f = json.loads(ln)
            rows.append(f[0] if isinstance(f, list) else f)
truth = json.load(open(sys.argv[2]))
assert len(rows) == 2, "expected 2 findings, got %d" % len(rows)
fu = [f for f in rows if f.get("details", {}).get("prior")]
first = [f for f in rows if not f.get("details", {}).get("prior")]
assert len(fu) == 1 and len(first) == 1, "exactly one study must have been compared with a prior"
f = fu[0]
assert f["status"] == "ok", f.get("error")
pr = f["details"]["prior"]
assert pr["study_uid"] != f.get("study_uid"), "the prior is the current study"
vdts = [n["vdt_days"] for n in f["nodules"] if n.get("status") == "matched" and n.get("vdt_days")]
assert len(vdts) >= 4, "too few matched nodules with a VDT: %s" % vdts
print("node follow-up: prior study %s, %d matched nodules with VDT (days): %s"
      % (pr["study_uid"], len(vdts), sorted(round(v) for v in vdts)[:8]))
PY
echo "ok: the node found the prior CT in its store and the lungct findings compare against it"
