#!/bin/bash
# radnode storescp as the Storage SCP, DCMTK echoscu/storescu as the SCU
# (issue 3): C-ECHO; every pydicom test file that dcmdump can read, sent in
# its own transfer syntax (storescu -R with the one matching proposal), and
# the uncompressed ones also converted by storescu to each uncompressed
# transfer syntax: every instance must be stored with a data set equal (dcmdump)
# to the one sent, (sequence and group length encoding aside,
# which storescu may change).
. "$(dirname "$0")/net_lib.sh"
command -v storescu >/dev/null && command -v dcmdump >/dev/null || skip "DCMTK not installed"
[ -x "$RADNODE" ] || skip "radnode not built"
[ -d "$PYDICOM_FILES" ] || skip "pydicom test files not installed"

OUT=$WORK/out
rn_storescp "$OUT" --aet RNSCP
echoscu -aec RNSCP 127.0.0.1 "$RN_PORT" || fail "echoscu -> radnode"

sent=0 same=0 conv=0 skipped=0
for f in "$PYDICOM_FILES"/*.dcm; do
    dcmdump -q "$f" >/dev/null 2>&1 || { skipped=$((skipped + 1)); continue; }
    ts=$(transfer_syntax_of "$f")
    uid=$(sop_instance_of "$f")
    [ -n "$uid" ] || { skipped=$((skipped + 1)); continue; }
    flag=$(storescu_flag_for "$ts")
    [ -n "$flag" ] || { skipped=$((skipped + 1)); continue; }
    flags=("$flag")
    case "$ts" in 1.2.840.10008.1.2|1.2.840.10008.1.2.1|1.2.840.10008.1.2.2)
        flags=(-xi -xe -xb) ;;
    esac
    dataset_dump "$f" >"$WORK/orig.dump"
    for fl in "${flags[@]}"; do
        rm -f "$OUT/$uid.dcm"
        storescu -q -R $fl -aec RNSCP 127.0.0.1 "$RN_PORT" "$f" 2>"$WORK/su.err" ||
            fail "storescu $fl $f: $(cat "$WORK/su.err")"
        [ -f "$OUT/$uid.dcm" ] || fail "$f ($fl): not stored as $uid.dcm"
        sent=$((sent + 1))
        got_ts=$(transfer_syntax_of "$OUT/$uid.dcm")
        # When storescu converted between uncompressed syntaxes, Pixel Data
        # may change VR (OB/OW) and byte order: compared in the same-syntax runs.
        # Converted to implicit VR, unknown private elements lose their VR.
        pix=cat
        [ "$got_ts" = "$ts" ] || pix="grep -v -e ^(7fe0,0010) -e Unknown.Tag"
        if ! diff <($pix "$WORK/orig.dump") <(dataset_dump "$OUT/$uid.dcm" | $pix) >"$WORK/diff"; then
            head -c 3000 "$WORK/diff" >&2
            fail "$f ($fl): stored data set differs"
        fi
        if [ "$got_ts" = "$ts" ]; then same=$((same + 1)); else conv=$((conv + 1)); fi
    done
done
[ "$sent" -ge 40 ] || fail "only $sent instances sent"
# No temp file left behind.
ls -A "$OUT" | grep -q '^\.incoming' && fail "temporary files left in $OUT"
echo "stored $sent instances ($same in the file's own transfer syntax, $conv converted by storescu); skipped $skipped unreadable/unsupported files"
kill "$RN_PID"; wait "$RN_PID" 2>/dev/null
cat "$WORK/storescp.$RN_PORT.log" | tail -1
echo PASS
