#!/bin/bash
# DICOM TLS (PS3.15 B.12) with mutual authentication against DCMTK (issue 3):
# a test CA, server and client certificates made here with openssl; DCMTK
# echoscu/storescu +tls -> radnode storescp --tls, radnode send/echo --tls ->
# DCMTK storescp +tls -rc; and refusals: a client without a certificate, and a
# client whose certificate is not signed by the trusted CA.
. "$(dirname "$0")/net_lib.sh"
[ -x "$RADNODE" ] || skip "radnode not built"
command -v openssl >/dev/null || skip "openssl not installed"
storescu --help 2>&1 | grep -q -- '+tls' || skip "DCMTK without TLS"
T=$PYDICOM_FILES
C=$WORK/certs
test_ca "$C" ca "radnode test CA"
test_ca "$C" rogue "rogue CA"
test_cert "$C" server localhost
test_cert "$C" client radnode-client
test_cert "$C" intruder intruder rogue

# 1. DCMTK -> radnode storescp (mutual authentication).
OUT=$WORK/out
rn_storescp "$OUT" --aet RNTLS --tls-cert "$C/server.pem" --tls-key "$C/server.key" --tls-ca "$C/ca.pem"
echoscu +tls "$C/client.key" "$C/client.pem" +cf "$C/ca.pem" -aec RNTLS 127.0.0.1 "$RN_PORT" ||
    fail "echoscu +tls -> radnode"
storescu +tls "$C/client.key" "$C/client.pem" +cf "$C/ca.pem" -aec RNTLS 127.0.0.1 "$RN_PORT" \
    "$T/CT_small.dcm" "$T/MR_small.dcm" || fail "storescu +tls -> radnode"
for f in CT_small MR_small; do
    uid=$(sop_instance_of "$T/$f.dcm")
    [ -f "$OUT/$uid.dcm" ] || fail "$f not stored over TLS"
    diff <(dataset_dump "$T/$f.dcm") <(dataset_dump "$OUT/$uid.dcm") >/dev/null || fail "$f differs"
done
echo "DCMTK -> radnode over TLS: OK"
# No client certificate: the handshake must fail.
if "$RADNODE" echo --tls --tls-ca "$C/ca.pem" --aec RNTLS 127.0.0.1 "$RN_PORT" >/dev/null 2>&1; then
    fail "a client without certificate was accepted"
fi
if "$RADNODE" echo --tls-cert "$C/intruder.pem" --tls-key "$C/intruder.key" --tls-ca "$C/ca.pem" \
    --aec RNTLS 127.0.0.1 "$RN_PORT" >/dev/null 2>&1; then
    fail "a client with an untrusted certificate was accepted"
fi
# Plain TCP to the TLS port must fail too.
if "$RADNODE" echo --timeout 3 --aec RNTLS 127.0.0.1 "$RN_PORT" >/dev/null 2>&1; then
    fail "plain TCP accepted on the TLS port"
fi
"$RADNODE" echo --tls-cert "$C/client.pem" --tls-key "$C/client.key" --tls-ca "$C/ca.pem" \
    --aec RNTLS 127.0.0.1 "$RN_PORT" || fail "radnode echo --tls -> radnode storescp --tls"
echo "refusals: OK"

# 2. radnode -> DCMTK storescp +tls, peer certificate required (-rc).
P=$(free_port)
mkdir -p "$WORK/dcmtk"
storescp +tls "$C/server.key" "$C/server.pem" +cf "$C/ca.pem" -rc -od "$WORK/dcmtk" "$P" \
    >"$WORK/dcmtk.log" 2>&1 &
PIDS+=($!)
wait_port "$P" || fail "DCMTK storescp +tls did not start"
TLSOPT=(--tls-cert "$C/client.pem" --tls-key "$C/client.key" --tls-ca "$C/ca.pem")
"$RADNODE" echo "${TLSOPT[@]}" 127.0.0.1 "$P" || fail "radnode echo --tls -> storescp +tls"
"$RADNODE" send "${TLSOPT[@]}" 127.0.0.1 "$P" "$T/CT_small.dcm" "$T/MR_small.dcm" ||
    fail "radnode send --tls -> storescp +tls"
[ "$(ls "$WORK/dcmtk" | wc -l)" = 2 ] || fail "DCMTK storescp got $(ls "$WORK/dcmtk" | wc -l) files"
# The server's certificate must be checked: a rogue trust anchor refuses it.
if "$RADNODE" echo --tls-cert "$C/client.pem" --tls-key "$C/client.key" --tls-ca "$C/rogue.pem" \
    127.0.0.1 "$P" >/dev/null 2>&1; then
    fail "radnode accepted a server certificate from an untrusted CA"
fi
echo "radnode -> DCMTK over TLS: OK"
echo PASS
