#!/bin/bash
# `radnode serve` started as root gives root up (issue 9, item 5), checked from
# outside the process with /proc and with real peers (DCMTK's echoscu and
# storescu, curl):
#  1. user = a system account this test creates (useradd --system, removed at
#     the end; "nobody" where useradd is missing), DICOM on a port below 1024:
#     the port is bound, then every thread of the node has that account's
#     uid/gid (real, effective, saved, filesystem), no capability, no
#     supplementary root group and no_new_privs; C-ECHO and C-STORE work after
#     the drop; the data folder the node created is 0700 and every file in it
#     is the account's and neither group- nor other-readable;
#  2. the same with ports above 1024 (the switch made before anything else);
#  3. started as root without a user: a loud warning by default, a refusal
#     with allow_root = no; a configuration holding account hashes that its
#     group may write is refused, naming the file.
. "$(dirname "$0")/net_lib.sh"
[ "$(id -u)" = 0 ] || skip "needs root (starts the node as root to watch it drop privileges)"
command -v echoscu >/dev/null || skip "echoscu (dcmtk) not installed"
command -v storescu >/dev/null || skip "storescu (dcmtk) not installed"
command -v curl >/dev/null || skip "curl not installed"
[ -f "$PYDICOM_FILES/CT_small.dcm" ] || skip "pydicom test files not installed"

# The account the node runs as.
RN_USER=""
if command -v useradd >/dev/null && command -v userdel >/dev/null; then
    RN_USER=rnpd$$
    useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin \
        --user-group "$RN_USER" || fail "useradd $RN_USER failed"
    trap 'cleanup; userdel "$RN_USER" 2>/dev/null; getent group "$RN_USER" >/dev/null && groupdel "$RN_USER"' EXIT
else
    RN_USER=nobody
fi
RN_UID=$(id -u "$RN_USER")
RN_GID=$(id -g "$RN_USER")
echo "running the node as $RN_USER ($RN_UID:$RN_GID)"

chmod 711 "$WORK" # the account must reach its data folder inside
SRV=$WORK/srv
mkdir "$SRV"
chown "$RN_USER:" "$SRV"
HTTP=$(free_port)

# A free port below 1024 on the loopback address.
low_port() {
    python3 - <<'PY'
import socket
for p in range(1000, 600, -1):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(("127.0.0.1", p))
    except OSError:
        continue
    finally:
        s.close()
    print(p)
    break
PY
}

write_conf() { # port data [extra lines...]
    local port=$1 data=$2
    shift 2
    {
        cat <<CONF
[node]
dicom_port = $port
bind = 127.0.0.1
http_port = $HTTP
data_dir = $data
quiet_period = 3600
workers = 1
min_free_mb = 1
CONF
        printf '%s\n' "$@"
        # /status is polled by this test without a login
        printf '[http]\npublic_status = yes\n'
    } >"$WORK/radnode.conf"
}

start_node() { # port
    : >"$WORK/node.log"
    "$RADNODE" serve --config "$WORK/radnode.conf" >"$WORK/node.log" 2>&1 &
    NODE_PID=$!
    PIDS+=("$NODE_PID")
    wait_port "$1" 20 || fail "radnode serve did not start: $(cat "$WORK/node.log")"
    wait_port "$HTTP" 20 || fail "HTTP API did not start: $(cat "$WORK/node.log")"
}
stop_node() {
    kill "$NODE_PID" 2>/dev/null
    wait "$NODE_PID" 2>/dev/null
}

# Every thread: Uid/Gid lines "real effective saved fs" all the account's,
# no capability, no_new_privs, no group 0 among the supplementary groups.
check_ids() {
    local n=0 t
    for t in /proc/"$NODE_PID"/task/*; do
        n=$((n + 1))
        awk -v u="$RN_UID" -v g="$RN_GID" -v t="$t" '
            $1 == "Uid:" && !($2 == u && $3 == u && $4 == u && $5 == u) { print t ": " $0; bad = 1 }
            $1 == "Gid:" && !($2 == g && $3 == g && $4 == g && $5 == g) { print t ": " $0; bad = 1 }
            $1 == "Groups:" { for (i = 2; i <= NF; i++) if ($i == 0) { print t ": " $0; bad = 1 } }
            ($1 == "CapPrm:" || $1 == "CapEff:" || $1 == "CapAmb:") && $2 !~ /^0+$/ { print t ": " $0; bad = 1 }
            $1 == "NoNewPrivs:" && $2 != 1 { print t ": " $0; bad = 1 }
            END { exit bad }' "$t/status" || fail "thread not dropped (see above)"
    done
    [ "$n" -ge 3 ] || fail "only $n threads seen in /proc/$NODE_PID/task"
    echo "  $n threads: uid $RN_UID, gid $RN_GID (real/effective/saved/fs), no capabilities, no_new_privs"
}

check_peers() { # port
    echoscu -aec RADNODE 127.0.0.1 "$1" >"$WORK/echo.log" 2>&1 ||
        fail "C-ECHO after the drop failed: $(cat "$WORK/echo.log") $(tail -5 "$WORK/node.log")"
    storescu -aec RADNODE 127.0.0.1 "$1" "$PYDICOM_FILES/CT_small.dcm" >"$WORK/store.log" 2>&1 ||
        fail "C-STORE after the drop failed: $(cat "$WORK/store.log") $(tail -5 "$WORK/node.log")"
    curl -sf "http://127.0.0.1:$HTTP/health" >/dev/null || fail "/health after the drop"
    n=$(curl -sf "http://127.0.0.1:$HTTP/status" | python3 -c 'import json,sys; print(json.load(sys.stdin)["instances"])')
    [ "$n" = 1 ] || fail "the index holds $n instances after one C-STORE"
    echo "  C-ECHO, C-STORE and the HTTP API work after the drop"
}

check_files() { # data dir
    local d=$1
    [ "$(stat -c %a "$d")" = 700 ] || fail "data dir $d has mode $(stat -c %a "$d")"
    [ "$(find "$d" -type f | wc -l)" -ge 2 ] || fail "no files in $d: $(find "$d")"
    local loose
    loose=$(find "$d" -perm /077 -printf '%m %p\n')
    [ -z "$loose" ] || fail "group/other permissions in the data dir: $loose"
    loose=$(find "$d" ! -user "$RN_UID" -printf '%u %p\n')
    [ -z "$loose" ] || fail "files not owned by $RN_USER: $loose"
    find "$d" -name '*.dcm' | grep -q . || fail "no stored instance in $d"
    echo "  $d is 0700; its $(find "$d" | wc -l) entries are $RN_USER's, none group/other-accessible"
}

# ---- 1. A port below 1024: bound, then the switch -------------------------------------
LOW=$(low_port)
[ -n "$LOW" ] || fail "no free port below 1024"
write_conf "$LOW" "$SRV/data1" "user = $RN_USER"
start_node "$LOW"
echo "1. DICOM on port $LOW (below 1024), user = $RN_USER"
check_ids
grep -q "running as user $RN_USER" "$WORK/node.log" || fail "no log line about the switch"
check_peers "$LOW"
check_ids
check_files "$SRV/data1"
[ "$(stat -c %a "$SRV/data1/audit.log" 2>/dev/null)" = 600 ] || fail "audit log not 0600"
stop_node

# ---- 2. Ports above 1024: the switch before anything else ------------------------------
PORT=$(free_port)
write_conf "$PORT" "$SRV/data2" "user = $RN_USER" "group = $(id -gn "$RN_USER")"
start_node "$PORT"
echo "2. DICOM on port $PORT, user = $RN_USER, group = $(id -gn "$RN_USER")"
check_ids
check_peers "$PORT"
check_files "$SRV/data2"
stop_node

# ---- 3. Root without a user; a configuration file others may change -------------------
PORT=$(free_port)
write_conf "$PORT" "$WORK/data3"
start_node "$PORT"
grep -q "RUNNING AS ROOT" "$WORK/node.log" || fail "no warning when running as root: $(cat "$WORK/node.log")"
stop_node
echo "3. root without a user: warned ('RUNNING AS ROOT')"
write_conf "$PORT" "$WORK/data4" "allow_root = no"
"$RADNODE" serve --config "$WORK/radnode.conf" >"$WORK/refuse.log" 2>&1 &
pid=$!
PIDS+=("$pid")
wait "$pid"
rc=$?
[ "$rc" != 0 ] || fail "allow_root = no: the node ran as root"
grep -q "started as root" "$WORK/refuse.log" || fail "refusal without a clear message: $(cat "$WORK/refuse.log")"
echo "   allow_root = no: refused: $(grep -o 'started as root[^:]*' "$WORK/refuse.log" | head -1)"
write_conf "$PORT" "$WORK/data4" "user = $RN_USER" "[token prom]" "role = service" \
    "hash = sha256\$$(printf %s rnt_x | sha256sum | cut -d' ' -f1)"
chmod 664 "$WORK/radnode.conf"
"$RADNODE" serve --config "$WORK/radnode.conf" >"$WORK/refuse.log" 2>&1 &
pid=$!
PIDS+=("$pid")
wait "$pid"
rc=$?
[ "$rc" != 0 ] || fail "a group-writable configuration with account hashes was accepted"
grep -q "radnode.conf holds account password/token hashes and is writable by its group" \
    "$WORK/refuse.log" || fail "group-writable configuration: unclear message: $(cat "$WORK/refuse.log")"
[ -e "$WORK/data4" ] && fail "the store was opened before a refusal"
echo "   a group-writable configuration with account hashes: refused, naming the file"
echo "PASS"
