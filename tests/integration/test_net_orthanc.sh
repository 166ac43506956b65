#!/bin/bash
# radnode SCU against Orthanc (issue 3): echo; `radnode send` of the pydicom
# test files (everything Orthanc accepts must arrive, checked through its REST
# API); `radnode find` at patient and study level in both models with the
# right matches; `radnode get` and `radnode move` (to a radnode storescp)
# storing the retrieved instances.
. "$(dirname "$0")/net_lib.sh"
[ -x "$RADNODE" ] || skip "radnode not built"
command -v curl >/dev/null || skip "curl not installed"
[ -d "$PYDICOM_FILES" ] || skip "pydicom test files not installed"
T=$PYDICOM_FILES

MOVE_DIR=$WORK/move
rn_storescp "$MOVE_DIR" --aet RNMOVE
start_orthanc RNMOVE "$RN_PORT"
O="--aec ORTHANC 127.0.0.1 $ORTHANC_DICOM"

"$RADNODE" echo $O || fail "echo -> Orthanc"

FILES=("$T/CT_small.dcm" "$T/MR_small.dcm" "$T/JPEG2000.dcm" "$T/rtplan.dcm" "$T/MR_small_RLE.dcm"
       "$T/SC_rgb.dcm" "$T/emri_small.dcm" "$T/ExplVR_BigEnd.dcm" "$T/MR_small_implicit.dcm")
present=()
for f in "${FILES[@]}"; do [ -f "$f" ] && present+=("$f"); done
"$RADNODE" send --associations 2 $O "${present[@]}" >"$WORK/send.log" 2>&1 ||
    fail "send -> Orthanc: $(cat "$WORK/send.log")"
for f in "${present[@]}"; do
    uid=$(sop_instance_of "$f")
    n=$(curl -sf -X POST -d "{\"Level\":\"Instance\",\"Query\":{\"SOPInstanceUID\":\"$uid\"}}" \
        "http://127.0.0.1:$ORTHANC_HTTP/tools/find" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
    [ "$n" = 1 ] || fail "$f ($uid) not in Orthanc"
done
echo "send: ${#present[@]} instances in Orthanc"

# Every readable file of the folder, two associations: no failure.
"$RADNODE" send --associations 2 --dimse-timeout 5 $O "$T" >"$WORK/sendall.log" 2>&1
tail -1 "$WORK/sendall.log"

"$RADNODE" find $O -L STUDY -k PatientID=1CT1 -k StudyInstanceUID -k PatientName >"$WORK/f1" ||
    fail "find study: $(cat "$WORK/f1")"
grep -q 'C-FIND: 1 matches' "$WORK/f1" || fail "study find: $(cat "$WORK/f1")"
grep -q 'StudyInstanceUID (0020,000D): 1.3.6.1.4.1.5962.1.2.1.20040119072730.12322' "$WORK/f1" ||
    fail "study find: wrong study"
"$RADNODE" find --patient $O -L PATIENT -k 'PatientName=CompressedSamples^MR1' -k PatientID >"$WORK/f2" ||
    fail "find patient"
grep -q 'PatientID (0010,0020): 4MR1' "$WORK/f2" || fail "patient find: $(cat "$WORK/f2")"
"$RADNODE" find $O -L SERIES -k StudyInstanceUID=1.3.6.1.4.1.5962.1.2.1.20040119072730.12322 \
    -k SeriesInstanceUID -k Modality >"$WORK/f3" || fail "series find"
grep -q 'Modality (0008,0060): CT' "$WORK/f3" || fail "series find: $(cat "$WORK/f3")"
"$RADNODE" find $O -L IMAGE -k StudyInstanceUID=1.3.6.1.4.1.5962.1.2.1.20040119072730.12322 \
    -k SeriesInstanceUID=1.3.6.1.4.1.5962.1.3.1.1.20040119072730.12322 -k SOPInstanceUID >"$WORK/f4" ||
    fail "image find"
grep -q 'SOPInstanceUID (0008,0018): 1.3.6.1.4.1.5962.1.1.1.1.1.20040119072730.12322' "$WORK/f4" ||
    fail "image find: $(cat "$WORK/f4")"
nostudy=$("$RADNODE" find $O -L STUDY -k PatientID=NOSUCHPATIENT | tail -1)
[ "$nostudy" = "C-FIND: 0 matches, final status 0x0000 (success)" ] || fail "empty find: $nostudy"
echo "find: patient/study/series/image levels OK"

GET_DIR=$WORK/get
"$RADNODE" get $O --dir "$GET_DIR" -L STUDY -k StudyInstanceUID=1.3.6.1.4.1.5962.1.2.1.20040119072730.12322 \
    >"$WORK/g" || fail "get: $(cat "$WORK/g")"
[ -f "$GET_DIR/1.3.6.1.4.1.5962.1.1.1.1.1.20040119072730.12322.dcm" ] || fail "get: instance not stored"
diff <(dataset_dump "$T/CT_small.dcm" | grep -v '^(0002') \
     <(dataset_dump "$GET_DIR/1.3.6.1.4.1.5962.1.1.1.1.1.20040119072730.12322.dcm") >/dev/null ||
    echo "note: retrieved CT differs from the file sent (Orthanc may re-encode)"
echo "get: OK"

"$RADNODE" move $O --dest RNMOVE --patient -L PATIENT -k PatientID=4MR1 >"$WORK/m" || fail "move: $(cat "$WORK/m")"
uid=$(sop_instance_of "$T/MR_small.dcm")
[ -f "$MOVE_DIR/$uid.dcm" ] || fail "move: $uid not stored ($(cat "$WORK/m"))"
echo "move: OK"
echo PASS
