#!/bin/bash
# `[security] profile = production` of `radnode serve` (issue 9) with DCMTK as
# the peers and certificates made here with openssl:
# 1. start refused, one clear message naming the line, while the profile's
#    requirements are missing: empty allowed calling AEs, empty allowed
#    hosts, no tls_cert/tls_key, no tls_ca, a DICOM destination without
#    tls = yes (named by its own line);
# 2. a production node: DCMTK echoscu/storescu over TLS with a client
#    certificate from an allowed AE are served; refused, each with one log
#    line naming peer, AE titles and reason and a Security Alert (110113,
#    Node Authentication) in the audit log: plain TCP, TLS without a client
#    certificate, an unknown calling AE, a wrong called AE;
# 3. the echo analyzer's results go to a DCMTK storescp that requires TLS and
#    a client certificate (+tls -rc): exports use DICOM TLS (tls = yes), and
#    so does a C-MOVE to that destination (requested by `radnode move` over
#    TLS, as DCMTK's movescu has no TLS);
# 4. an address not in allowed_hosts: the A-ASSOCIATE-RQ is refused, the log
#    line and the audit message carry its AE titles.
# The default profile (no configuration) is covered by every other node test.
. "$(dirname "$0")/net_lib.sh"
for t in echoscu storescu storescp openssl; do
    command -v $t >/dev/null || skip "$t not installed"
done
storescu --help 2>&1 | grep -q -- '+tls' || skip "DCMTK without TLS"
[ -f "$PYDICOM_FILES/CT_small.dcm" ] || skip "pydicom test files not installed"

C=$WORK/certs
test_ca "$C" ca "radnode test CA"
test_cert "$C" node radnode
test_cert "$C" client modality
test_cert "$C" pacs pacs
TLS_CLIENT=(+tls "$C/client.key" "$C/client.pem" +cf "$C/ca.pem")

PORT=$(free_port)
PACS_PORT=$(free_port)
DATA=$WORK/data
# write_conf FILE: a complete production configuration; the callers then break one thing.
write_conf() {
    cat >"$1" <<CONF
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
allowed_calling_aes = MODALITY, MOVESCU
allowed_hosts = 127.0.0.1
[security]
profile = production
tls_cert = $C/node.pem
tls_key = $C/node.key
tls_ca = $C/ca.pem
[route echo-everything]
analyzer = echo
level = study
when = Modality present
[destination pacs]
type = dicom
host = 127.0.0.1
port = $PACS_PORT
ae_title = PACS
tls = yes
CONF
}

# ---- 1. what production requires ---------------------------------------------------------------
PROFILE_LINE=$(write_conf "$WORK/good.conf"; grep -n '^profile = production' "$WORK/good.conf" | cut -d: -f1)
refused_start() { # sed-expression expected-message-part
    write_conf "$WORK/bad.conf"
    sed -i "$1" "$WORK/bad.conf"
    if timeout 20 "$RADNODE" serve --config "$WORK/bad.conf" >"$WORK/bad.log" 2>&1; then
        fail "started although: $2"
    fi
    grep -qF "$2" "$WORK/bad.log" || fail "no clear message for '$2': $(cat "$WORK/bad.log")"
    [ "$(grep -c . "$WORK/bad.log")" -le 2 ] || fail "more than one message: $(cat "$WORK/bad.log")"
}
refused_start 's/^allowed_calling_aes = .*/allowed_calling_aes =/' \
    "bad.conf:$PROFILE_LINE: profile = production needs [access] allowed_calling_aes"
refused_start 's/^allowed_hosts = .*/allowed_hosts =/' "bad.conf:$PROFILE_LINE: profile = production needs [access] allowed_hosts"
refused_start 's/^tls_key = .*/tls_key =/;s/^tls_cert = .*/tls_cert =/' "bad.conf:$PROFILE_LINE: profile = production needs [security] tls_cert and tls_key"
refused_start 's/^tls_ca = .*/tls_ca =/' "bad.conf:$PROFILE_LINE: profile = production needs [security] tls_ca"
DEST_LINE=$(grep -n '^\[destination pacs\]' "$WORK/good.conf" | cut -d: -f1)
refused_start 's/^tls = yes/tls = no/' \
    "bad.conf:$DEST_LINE: profile = production (line $PROFILE_LINE) needs tls = yes for DICOM destination \"pacs\""
echo "ok: production refuses to start without allow-lists, TLS, mutual authentication or TLS destinations"

# ---- 2. a production node -------------------------------------------------------------------------
mkdir -p "$WORK/pacs"
storescp +tls "$C/pacs.key" "$C/pacs.pem" +cf "$C/ca.pem" -rc -aet PACS -od "$WORK/pacs" "$PACS_PORT" \
    >"$WORK/pacs.log" 2>&1 &
PIDS+=($!)
wait_port "$PACS_PORT" || fail "storescp +tls did not start"
"$RADNODE" serve --config "$WORK/good.conf" >"$WORK/node.log" 2>&1 &
NODE_PID=$!
PIDS+=("$NODE_PID")
wait_port "$PORT" || fail "radnode serve (production) did not start: $(cat "$WORK/node.log")"

echoscu "${TLS_CLIENT[@]}" -aet MODALITY -aec RADNODE 127.0.0.1 "$PORT" ||
    fail "C-ECHO over TLS from an allowed AE refused: $(tail -3 "$WORK/node.log")"
make_ct_studies "$WORK/in" 1 2 PRD
STUDY=$(study_uid_of "$WORK/in/s0/i000.dcm")
storescu "${TLS_CLIENT[@]}" -aet MODALITY -aec RADNODE 127.0.0.1 "$PORT" "$WORK/in/s0"/*.dcm \
    >"$WORK/store.log" 2>&1 || fail "C-STORE over TLS refused: $(cat "$WORK/store.log")"

# refusal PATTERN-IN-LOG: the one log line and the audit message.
expect_refusal() {
    local i
    for i in $(seq 1 50); do
        grep -qE "$1" "$WORK/node.log" && break
        sleep 0.1
    done
    grep -E "association refused: peer 127\.0\.0\.1(:[0-9]+)?, calling AE \"[^\"]*\", called AE \"[^\"]*\": " \
        "$WORK/node.log" | grep -qE "$1" || fail "no refusal line matching '$1': $(grep refused "$WORK/node.log")"
}
echoscu -to 5 -aet MODALITY -aec RADNODE 127.0.0.1 "$PORT" >/dev/null 2>&1 && fail "plain TCP accepted"
expect_refusal 'TLS handshake failed'
echoscu -to 5 +tla +cf "$C/ca.pem" -aet MODALITY -aec RADNODE 127.0.0.1 "$PORT" >/dev/null 2>&1 &&
    fail "TLS without a client certificate accepted"
[ "$(grep -c 'TLS handshake failed' "$WORK/node.log")" -ge 2 ] || fail "second handshake refusal not logged"
echoscu "${TLS_CLIENT[@]}" -aet STRANGER -aec RADNODE 127.0.0.1 "$PORT" >/dev/null 2>&1 &&
    fail "unknown calling AE accepted"
expect_refusal 'calling AE "STRANGER", called AE "RADNODE": calling AE title not recognized'
echoscu "${TLS_CLIENT[@]}" -aet MODALITY -aec OTHERNODE 127.0.0.1 "$PORT" >/dev/null 2>&1 &&
    fail "wrong called AE accepted"
expect_refusal 'calling AE "MODALITY", called AE "OTHERNODE": called AE title not recognized'
AUDIT=$DATA/audit.log
for who in STRANGER MODALITY; do
    grep 'csd-code="110113"' "$AUDIT" | grep 'csd-code="110126"' | grep -q "UserID=\"$who\"" ||
        fail "refusal of $who not audited"
done
[ "$(grep 'csd-code="110113"' "$AUDIT" | grep -c 'TLS handshake failed')" -ge 2 ] ||
    fail "TLS refusals not audited"
echo "ok: production node: TLS clients with certificates served; plain TCP, no client certificate," \
    "unknown calling AE, wrong called AE refused, each logged in one line and audited"

# ---- 3. exports and C-MOVE over TLS ----------------------------------------------------------------
for i in $(seq 1 600); do
    [ "$(find "$WORK/pacs" -type f | wc -l)" -ge 3 ] && break
    sleep 0.2
done
[ "$(find "$WORK/pacs" -type f | wc -l)" -ge 3 ] ||
    fail "results not exported over TLS: $(grep -i export "$WORK/node.log" | tail -3)"
rm -rf "$WORK/pacs"/*
# (DCMTK's movescu has no TLS: radnode's own C-MOVE SCU as the requestor.)
"$RADNODE" move --tls-cert "$C/client.pem" --tls-key "$C/client.key" --tls-ca "$C/ca.pem" \
    --aet MOVESCU --aec RADNODE --dest PACS -k StudyInstanceUID="$STUDY" 127.0.0.1 "$PORT" \
    >"$WORK/move.log" 2>&1 ||
    fail "C-MOVE over TLS failed: $(cat "$WORK/move.log")"
[ "$(find "$WORK/pacs" -type f | wc -l)" -ge 2 ] || fail "C-MOVE sub-operations did not arrive over TLS"
grep -q 'csd-code="110104".*UserID="PACS"' "$AUDIT" || fail "export/move to PACS not audited"
echo "ok: results exported and a C-MOVE sent to a storescp that requires TLS with a client certificate"

# ---- 4. an address not allowed ---------------------------------------------------------------------
kill "$NODE_PID"
wait "$NODE_PID" 2>/dev/null
sed -i 's/^allowed_hosts = .*/allowed_hosts = 192.0.2.1/' "$WORK/good.conf"
"$RADNODE" serve --config "$WORK/good.conf" >"$WORK/node.log" 2>&1 &
NODE_PID=$!
PIDS+=("$NODE_PID")
wait_port "$PORT" || fail "radnode serve did not restart: $(cat "$WORK/node.log")"
echoscu "${TLS_CLIENT[@]}" -aet MODALITY -aec RADNODE 127.0.0.1 "$PORT" >/dev/null 2>&1 &&
    fail "an address not allowed was accepted"
expect_refusal 'calling AE "MODALITY", called AE "RADNODE": address not allowed'
grep 'csd-code="110113"' "$AUDIT" | grep 'address not allowed' | grep -q 'UserID="MODALITY"' ||
    fail "address refusal not audited with the AE title"
echo "ok: an address not allowed is refused with its AE titles logged and audited"
