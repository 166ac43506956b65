#!/bin/bash
# The node's ingest against DCMTK's storescu: "acknowledged means durable".
# 1. storescu sends a set of pydicom test files to `radnode serve`; right after
#    storescu reports success the node is killed with SIGKILL; after a restart
#    every acknowledged instance is on disk with the data set that was sent and
#    is in the index (status API count).
# 2. With the free-space floor above the disk's free space, new instances are
#    refused with a DICOM failure status and nothing stored before is touched.
# 3. SIGTERM stops the node cleanly.
. "$(dirname "$0")/net_lib.sh"
command -v storescu >/dev/null || skip "storescu (dcmtk) not installed"
[ -d "$PYDICOM_FILES" ] || skip "pydicom test files not installed"
command -v curl >/dev/null || skip "curl not installed"

DATA=$WORK/data
PORT=$(free_port)
HTTP=$(free_port)
write_conf() { # min_free_mb
    cat >"$WORK/radnode.conf" <<CONF
[node]
dicom_port = $PORT
http_port = $HTTP
data_dir = $DATA
quiet_period = 3600
min_free_mb = $1
[http]
# /status is polled by this test without a login
public_status = yes
CONF
}
start_node() {
    "$RADNODE" serve --config "$WORK/radnode.conf" >>"$WORK/node.log" 2>&1 &
    NODE_PID=$!
    PIDS+=("$NODE_PID")
    wait_port "$PORT" || fail "radnode serve did not start: $(cat "$WORK/node.log")"
}
status_instances() {
    curl -sf "http://127.0.0.1:$HTTP/status" | python3 -c 'import json,sys; print(json.load(sys.stdin)["instances"])'
}

FILES="CT_small.dcm MR_small.dcm MR_small_bigendian.dcm rtplan.dcm rtstruct.dcm ExplVR_BigEnd.dcm
SC_rgb.dcm emri_small.dcm image_dfl.dcm"
write_conf 1
start_node
sent=()
for f in $FILES; do
    [ -f "$PYDICOM_FILES/$f" ] && sent+=("$PYDICOM_FILES/$f")
done
[ ${#sent[@]} -ge 5 ] || skip "too few pydicom test files"
# Uncompressed files: storescu proposes the usual uncompressed transfer syntaxes.
storescu -aec RADNODE -R 127.0.0.1 "$PORT" "${sent[@]}" >"$WORK/storescu.log" 2>&1 ||
    fail "storescu failed: $(cat "$WORK/storescu.log")"
kill -9 "$NODE_PID"
wait "$NODE_PID" 2>/dev/null
echo "killed radnode with SIGKILL right after storescu's success"

start_node
# Two test files share a SOP Instance UID: the later replaces the earlier (default policy).
unique=$(for f in "${sent[@]}"; do sop_instance_of "$f"; done | sort -u | wc -l)
n=$(status_instances)
[ "$n" = "$unique" ] || fail "index holds $n instances after restart, $unique distinct were acknowledged"
for f in "${sent[@]}"; do
    uid=$(sop_instance_of "$f")
    # For a shared UID only the last one sent is expected.
    last=""
    for g in "${sent[@]}"; do [ "$(sop_instance_of "$g")" = "$uid" ] && last=$g; done
    [ "$last" = "$f" ] || continue
    stored=$(find "$DATA/instances" -name "$uid.dcm")
    [ -n "$stored" ] || fail "$f ($uid) acknowledged but not on disk"
    diff <(dataset_dump "$f") <(dataset_dump "$stored") >"$WORK/diff" ||
        fail "$f: stored data set differs: $(head -20 "$WORK/diff")"
done
echo "ok: $unique acknowledged instances survived kill -9 with identical data sets"

# Free-space floor: refuse with a failure status, keep what is stored.
kill "$NODE_PID"; wait "$NODE_PID" 2>/dev/null
write_conf 100000000000
start_node
storescu -v -aec RADNODE 127.0.0.1 "$PORT" "$PYDICOM_FILES/rtdose.dcm" >"$WORK/full.log" 2>&1 &&
    fail "storescu reported success although free space is below the floor"
grep -q "Refused: OutOfResources" "$WORK/full.log" ||
    fail "storescu did not report the A700 refusal: $(cat "$WORK/full.log")"
n=$(status_instances)
[ "$n" = "$unique" ] || fail "instance count changed to $n under the floor"
echo "ok: below the free-space floor new data is refused (status A700), $n stored instances intact"

kill -TERM "$NODE_PID"
wait "$NODE_PID"; rc=$?
[ $rc -eq 0 ] || fail "radnode serve exited $rc on SIGTERM"
grep -q "stopped cleanly" "$WORK/node.log" || fail "no clean shutdown message"
echo "ok: SIGTERM stops the node cleanly"
