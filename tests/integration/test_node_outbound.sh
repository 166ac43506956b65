#!/bin/bash
# Outbound connections of the node (issue 9 "Must show": while the node runs
# the whole pipeline, only the configured peers are contacted).
#
# `radnode serve` runs under `strace -f -e trace=connect,sendto,sendmsg`
# (children included: the analyses run as `radnode analyze` processes) through
# the whole pipeline: ingest from DCMTK's storescu, the echo analysis, the
# export of SR + SC + PDF to Orthanc (the PACS) and of ORU^R01 to a RIS built on
# python3-hl7, and PS3.15 audit messages (operator API calls) sent over UDP
# (RFC 5426) to rsyslog as the audit repository. Every connect/sendto/sendmsg
# of the node and its children to an AF_INET/AF_INET6 address must go to
# 127.0.0.1 at one of those three ports; AF_UNIX destinations are listed and
# allowed only as local sockets, AF_NETLINK (the kernel) likewise; anything
# else fails the test, DNS (port 53) included. The checker must also have
# seen the node reach Orthanc, the RIS and the audit repository, so an empty
# trace cannot pass.
#
# Self-check (so the test can fail): the same checker, with the same allowed
# peers, is run on a trace of `radnode echo` to a port that is not
# configured, and on a synthetic DNS line; both must be reported.
. "$(dirname "$0")/net_lib.sh"
PY=/usr/bin/python3
command -v strace >/dev/null || skip "strace not installed"
command -v storescu >/dev/null || skip "DCMTK storescu not installed"
command -v rsyslogd >/dev/null || skip "rsyslog not installed"
command -v curl >/dev/null || skip "curl not installed"
$PY -c "import hl7, pydicom" 2>/dev/null || skip "python3-hl7 / python3-pydicom missing"
[ -f "$PYDICOM_FILES/CT_small.dcm" ] || skip "pydicom test files not installed"
strace -f -e trace=connect -o /dev/null true 2>/dev/null || skip "strace cannot trace here (ptrace not permitted)"

PORT=$(free_port)
HTTP=$(free_port)
start_orthanc

# The RIS (python3-hl7), on a port of its own choosing.
mkdir -p "$WORK/ris"
$PY "$(dirname "$0")/hl7_ris_server.py" --port-file "$WORK/ris.port" --out-dir "$WORK/ris" \
    --mode AA >"$WORK/ris.log" 2>&1 &
PIDS+=($!)
for i in $(seq 1 50); do [ -s "$WORK/ris.port" ] && break; sleep 0.1; done
RIS_PORT=$(cat "$WORK/ris.port")
[ -n "$RIS_PORT" ] || fail "the RIS did not start: $(cat "$WORK/ris.log")"

# The audit repository: rsyslog receiving RFC 5426 UDP on loopback.
AUDIT_PORT=$(free_port)
mkdir -p "$WORK/rsyslog"
cat >"$WORK/rsyslog/rsyslog.conf" <<CONF
global(workDirectory="$WORK/rsyslog")
module(load="imudp")
input(type="imudp" address="127.0.0.1" port="$AUDIT_PORT")
*.* action(type="omfile" file="$WORK/rsyslog/audit.log")
CONF
rsyslogd -n -f "$WORK/rsyslog/rsyslog.conf" -i "$WORK/rsyslog/pid" >"$WORK/rsyslog/out" 2>&1 &
PIDS+=($!)
sleep 1
kill -0 "${PIDS[-1]}" 2>/dev/null || fail "rsyslogd did not start: $(cat "$WORK/rsyslog/out")"

TOKEN=rnt_$(openssl rand -hex 32)
cat >"$WORK/radnode.conf" <<CONF
[node]
dicom_port = $PORT
http_port = $HTTP
data_dir = $WORK/data
quiet_period = 1
retry_base = 1
retry_max = 2
min_free_mb = 1
[audit]
transport = udp
host = 127.0.0.1
port = $AUDIT_PORT
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
[token op]
role = operator
hash = sha256\$$(printf %s "$TOKEN" | sha256sum | cut -d' ' -f1)
CONF

TRACE=$WORK/node.trace
# LeakSanitizer cannot run under ptrace: in the sanitizer build the traced
# processes run without leak checking (ASan's other checks stay on).
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
strace -f -qq -s 32 -e trace=connect,sendto,sendmsg -o "$TRACE" \
    "$RADNODE" serve --config "$WORK/radnode.conf" >"$WORK/node.log" 2>&1 &
STRACE_PID=$!
PIDS+=($STRACE_PID)
wait_port "$PORT" 30 || fail "radnode serve did not start: $(cat "$WORK/node.log")"
wait_port "$HTTP" 30 || fail "HTTP API did not start: $(cat "$WORK/node.log")"

# The pipeline: storescu -> node -> echo analysis -> Orthanc + RIS.
mkdir -p "$WORK/in"
$PY - "$PYDICOM_FILES/CT_small.dcm" "$WORK/in/ct.dcm" <<'PY'
import sys, pydicom
from pydicom.uid import generate_uid
ds = pydicom.dcmread(sys.argv[1])
ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID = generate_uid(), generate_uid(), generate_uid()
ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
ds.AccessionNumber = "OUTB0001"
ds.PatientID = "P-OUTBOUND-1"
ds.save_as(sys.argv[2])
PY
STUDY=$(study_uid_of "$WORK/in/ct.dcm")
storescu -aec RADNODE 127.0.0.1 "$PORT" "$WORK/in/ct.dcm" >"$WORK/storescu.log" 2>&1 ||
    fail "storescu failed: $(cat "$WORK/storescu.log")"
n=0
for i in $(seq 1 240); do
    n=$(orthanc_results "$STUDY")
    [ "$n" -ge 3 ] && ls "$WORK/ris"/*.hl7 >/dev/null 2>&1 && break
    sleep 0.5
done
[ "$n" -ge 3 ] || fail "results did not reach Orthanc ($n); log: $(tail -20 "$WORK/node.log")"
ls "$WORK/ris"/*.hl7 >/dev/null 2>&1 || fail "the ORU^R01 did not reach the RIS; log: $(tail -20 "$WORK/node.log")"
# Operator API calls: audited, so the audit trail sends to the repository.
curl -sf -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$HTTP/api/config" >/dev/null ||
    fail "GET /api/config failed"
curl -sf -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$HTTP/api/studies" >/dev/null ||
    fail "GET /api/studies failed"
for i in $(seq 1 100); do
    grep -q '110112\|110132' "$WORK/rsyslog/audit.log" 2>/dev/null && break
    sleep 0.1
done
grep -q '110112\|110132' "$WORK/rsyslog/audit.log" 2>/dev/null ||
    fail "the audit repository received no audit message"
echo "ok: pipeline ran: $n result objects in Orthanc, ORU^R01 at the RIS, audit messages at rsyslog"

# Stop the node (strace's child) and let strace finish its file.
NODE_PID=$(ps -o pid= --ppid "$STRACE_PID" | tr -d ' ' | head -1)
[ -n "$NODE_PID" ] || fail "no radnode process under strace"
kill "$NODE_PID"
wait "$STRACE_PID" 2>/dev/null

cat >"$WORK/check_trace.py" <<'PY'
"""Checks an strace log (-f, connect/sendto/sendmsg) against the allowed peers.

Usage: check_trace.py TRACE ALLOWED_PORT... [--need PORT...]
Exit 0 when every AF_INET/AF_INET6 destination is 127.0.0.1 (or ::1) at an
allowed port and every --need port was contacted; 1 otherwise, listing each
offending call."""
import re, sys
args = sys.argv[2:]
need = set()
if "--need" in args:
    i = args.index("--need")
    need = {int(p) for p in args[i + 1:]}
    args = args[:i]
allowed = {int(p) for p in args}
call = re.compile(r"^(?:\d+\s+)?(?:<\.\.\. )?(connect|sendto|sendmsg)\b")
inet = re.compile(r'sa_family=AF_INET, sin_port=htons\((\d+)\), sin_addr=inet_addr\("([^"]+)"\)')
inet6 = re.compile(r'sa_family=AF_INET6, sin6_port=htons\((\d+)\).*?inet_pton\(AF_INET6, "([^"]+)"')
family = re.compile(r"sa_family=(AF_[A-Z0-9]+)")
unix = re.compile(r'sa_family=AF_UNIX, sun_path=(@?"[^"]*")')
bad, seen, local = [], set(), {}
for line in open(sys.argv[1], errors="replace"):
    m = call.match(line)
    if not m:
        continue
    fams = family.findall(line)
    if not fams:
        continue  # sendto/sendmsg on a connected socket: its connect() was checked
    for fam in fams:
        if fam == "AF_INET" or fam == "AF_INET6":
            a = (inet if fam == "AF_INET" else inet6).search(line)
            if not a:
                bad.append("unparsed %s destination: %s" % (fam, line.strip()))
                continue
            port, addr = int(a.group(1)), a.group(2)
            if fam == "AF_INET" and port == 0 and addr == "0.0.0.0":
                continue  # connect(AF_UNSPEC-like) resets; not a destination
            if port == 53:
                bad.append("DNS query to %s:%d: %s" % (addr, port, line.strip()))
            elif addr not in ("127.0.0.1", "::1", "::ffff:127.0.0.1") or port not in allowed:
                bad.append("%s:%d is not a configured peer: %s" % (addr, port, line.strip()))
            else:
                seen.add(port)
        elif fam == "AF_UNIX":
            u = unix.search(line)
            local.setdefault("AF_UNIX " + (u.group(1) if u else "?"), 0)
            local["AF_UNIX " + (u.group(1) if u else "?")] += 1
        elif fam in ("AF_NETLINK", "AF_UNSPEC"):
            local.setdefault(fam, 0)
            local[fam] += 1
        else:
            bad.append("unexpected address family %s: %s" % (fam, line.strip()))
for k, v in sorted(local.items()):
    print("local (allowed): %s x%d" % (k, v))
print("configured peers contacted: %s" % (", ".join("127.0.0.1:%d" % p for p in sorted(seen)) or "none"))
for p in sorted(need - seen):
    bad.append("configured peer port %d was never contacted (is the trace complete?)" % p)
for b in bad:
    print("NOT ALLOWED:", b)
sys.exit(1 if bad else 0)
PY

$PY "$WORK/check_trace.py" "$TRACE" "$ORTHANC_DICOM" "$RIS_PORT" "$AUDIT_PORT" \
    --need "$ORTHANC_DICOM" "$RIS_PORT" "$AUDIT_PORT" >"$WORK/check.out" 2>&1
rc=$?
cat "$WORK/check.out"
[ $rc = 0 ] || fail "the node contacted something other than its configured peers (trace: $(wc -l <"$TRACE") lines)"
echo "ok: $(grep -cE 'connect|sendto|sendmsg' "$TRACE") traced calls; only Orthanc, the RIS and the audit repository were contacted"

# Self-check: an extra connection to an unconfigured port must be caught.
EXTRA=$(free_port)
strace -f -qq -e trace=connect,sendto,sendmsg -o "$WORK/extra.trace" \
    "$RADNODE" echo 127.0.0.1 "$EXTRA" >/dev/null 2>&1
cat "$TRACE" "$WORK/extra.trace" >"$WORK/combined.trace"
if $PY "$WORK/check_trace.py" "$WORK/combined.trace" "$ORTHANC_DICOM" "$RIS_PORT" "$AUDIT_PORT" \
    >"$WORK/self.out" 2>&1; then
    fail "self-check: a connect to unconfigured port $EXTRA was not caught"
fi
grep -q "127.0.0.1:$EXTRA is not a configured peer" "$WORK/self.out" ||
    fail "self-check: the report does not name port $EXTRA: $(cat "$WORK/self.out")"
printf '999 sendto(7, "x", 1, 0, {sa_family=AF_INET, sin_port=htons(53), sin_addr=inet_addr("127.0.0.53")}, 16) = 1\n' \
    >"$WORK/dns.trace"
if $PY "$WORK/check_trace.py" "$WORK/dns.trace" 53 >"$WORK/dns.out" 2>&1; then
    fail "self-check: a DNS query was not caught"
fi
grep -q "DNS query" "$WORK/dns.out" || fail "self-check: DNS not named: $(cat "$WORK/dns.out")"
: >"$WORK/empty.trace"
if $PY "$WORK/check_trace.py" "$WORK/empty.trace" 1 --need 1 >/dev/null 2>&1; then
    fail "self-check: an empty trace passed"
fi
echo "ok: self-check: an unconfigured port ($EXTRA), a DNS query and an empty trace are all caught"
echo "ok: outbound connections"
