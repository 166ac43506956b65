#!/bin/bash
# Query/Retrieve SCP of `radnode serve` against DCMTK's findscu, movescu and
# getscu (PS3.4 C.4): a small archive of two patients, three studies, five
# series and ten instances (generated, with known attributes) is stored with
# storescu, then
# - C-FIND at PATIENT (Patient Root), STUDY, SERIES and IMAGE level (Study
#   Root) with single value, wildcard (* and ?, PN without regard to case),
#   date and time ranges, UID lists and universal matching; the computed
#   attributes (Modalities in Study, numbers of related instances); every
#   response set is compared with the expected one;
# - hostile identifiers: missing or unknown Query/Retrieve Level, PATIENT
#   level in Study Root, a malformed date range: the right failure status and
#   the node keeps serving;
# - C-CANCEL of a running C-FIND;
# - C-MOVE of a study to a DCMTK storescp (a configured destination) and to
#   an unknown AE (A801); C-GET of a series and of a patient into a folder:
#   the received SOP Instance UIDs are exactly the expected ones.
. "$(dirname "$0")/net_lib.sh"
for t in storescu findscu movescu getscu storescp echoscu dcmdump; do
    command -v $t >/dev/null || skip "$t (dcmtk) not installed"
done

DATA=$WORK/data
PORT=$(free_port)
MOVE_PORT=$(free_port)
cat >"$WORK/radnode.conf" <<CONF
[node]
dicom_port = $PORT
http_port = 0
data_dir = $DATA
quiet_period = 3600
min_free_mb = 1

[destination viewer]
type = dicom
host = 127.0.0.1
port = $MOVE_PORT
ae_title = MOVEDEST
CONF
"$RADNODE" serve --config "$WORK/radnode.conf" >"$WORK/node.log" 2>&1 &
NODE_PID=$!
PIDS+=("$NODE_PID")
wait_port "$PORT" || fail "radnode serve did not start: $(cat "$WORK/node.log")"

# ---- the archive ------------------------------------------------------------------------
# One line per instance: patient id, name, birth date, study, date, time,
# accession, series, modality, series number, instance number.
python3 - "$WORK/in" <<'PY'
import os, struct, sys
out = sys.argv[1]
os.makedirs(out)
R = '1.2.826.0.1.3680043.10.1078.77'
rows = [
    # pid      name          birth      study date       time      acc     series mod  sn  in
    ('PAT-A', 'Alpha^Anna', '19700101', 1, '20200115', '101500', 'ACC1', 1, 'CT', 1, 1),
    ('PAT-A', 'Alpha^Anna', '19700101', 1, '20200115', '101500', 'ACC1', 1, 'CT', 1, 2),
    ('PAT-A', 'Alpha^Anna', '19700101', 1, '20200115', '101500', 'ACC1', 1, 'CT', 1, 3),
    ('PAT-A', 'Alpha^Anna', '19700101', 1, '20200115', '101500', 'ACC1', 2, 'SR', 2, 1),
    ('PAT-A', 'Alpha^Anna', '19700101', 2, '20210301', '153000', 'ACC2', 3, 'MR', 1, 1),
    ('PAT-A', 'Alpha^Anna', '19700101', 2, '20210301', '153000', 'ACC2', 3, 'MR', 1, 2),
    ('PAT-B', 'Beta^Bob',   '19800202', 3, '20200620', '083000', 'BCC9', 4, 'CT', 1, 1),
    ('PAT-B', 'Beta^Bob',   '19800202', 3, '20200620', '083000', 'BCC9', 4, 'CT', 1, 2),
    ('PAT-B', 'Beta^Bob',   '19800202', 3, '20200620', '083000', 'BCC9', 5, 'CT', 2, 1),
    ('PAT-B', 'Beta^Bob',   '19800202', 3, '20200620', '083000', 'BCC9', 5, 'CT', 2, 2),
]
def el(g, e, vr, v):
    if isinstance(v, str): v = v.encode()
    if len(v) % 2: v += b'\0' if vr == b'UI' else b' '
    if vr in (b'OB', b'OW', b'SQ', b'UN', b'UT'):
        return struct.pack('<HH', g, e) + vr + b'\0\0' + struct.pack('<I', len(v)) + v
    return struct.pack('<HH', g, e) + vr + struct.pack('<H', len(v)) + v
with open(os.path.join(out, 'index.txt'), 'w') as idx:
    for k, (pid, name, birth, st, date, time, acc, se, mod, sn, inum) in enumerate(rows):
        study, series, sop = '%s.1.%d' % (R, st), '%s.2.%d' % (R, se), '%s.3.%d' % (R, k + 1)
        cls = '1.2.840.10008.5.1.4.1.1.2' if mod == 'CT' else '1.2.840.10008.5.1.4.1.1.4' \
            if mod == 'MR' else '1.2.840.10008.5.1.4.1.1.7'
        meta = el(2, 1, b'OB', b'\0\1') + el(2, 2, b'UI', cls) + el(2, 3, b'UI', sop) + \
            el(2, 0x10, b'UI', '1.2.840.10008.1.2.1')
        meta = el(2, 0, b'UL', struct.pack('<I', len(meta))) + meta
        ds = el(8, 0x16, b'UI', cls) + el(8, 0x18, b'UI', sop) + el(8, 0x20, b'DA', date) + \
            el(8, 0x30, b'TM', time) + el(8, 0x50, b'SH', acc) + el(8, 0x60, b'CS', mod) + \
            el(0x10, 0x10, b'PN', name) + el(0x10, 0x20, b'LO', pid) + \
            el(0x10, 0x30, b'DA', birth) + el(0x20, 0xd, b'UI', study) + \
            el(0x20, 0xe, b'UI', series) + el(0x20, 0x11, b'IS', str(sn)) + \
            el(0x20, 0x13, b'IS', str(inum)) + \
            el(0x28, 2, b'US', struct.pack('<H', 1)) + el(0x28, 4, b'CS', 'MONOCHROME2') + \
            el(0x28, 0x10, b'US', struct.pack('<H', 4)) + el(0x28, 0x11, b'US', struct.pack('<H', 4)) + \
            el(0x28, 0x100, b'US', struct.pack('<H', 8)) + el(0x28, 0x101, b'US', struct.pack('<H', 8)) + \
            el(0x28, 0x102, b'US', struct.pack('<H', 7)) + el(0x28, 0x103, b'US', struct.pack('<H', 0)) + \
            el(0x7fe0, 0x10, b'OW', bytes(range(16)))
        open(os.path.join(out, '%02d.dcm' % k), 'wb').write(b'\0' * 128 + b'DICM' + meta + ds)
        idx.write('%s %s %s %s\n' % (study, series, sop, pid))
PY
R=1.2.826.0.1.3680043.10.1078.77
ST1=$R.1.1 ST2=$R.1.2 ST3=$R.1.3
SE1=$R.2.1 SE2=$R.2.2 SE3=$R.2.3 SE4=$R.2.4 SE5=$R.2.5
storescu -aec RADNODE 127.0.0.1 "$PORT" "$WORK"/in/*.dcm >"$WORK/storescu.log" 2>&1 ||
    fail "storescu failed: $(cat "$WORK/storescu.log")"

# ---- helpers ------------------------------------------------------------------------------
# query NAME MODEL_FLAG KEYS... : runs findscu, keeps the responses in $WORK/q/NAME/,
# the final status line in $WORK/q/NAME.log.
query() {
    local name=$1 model=$2
    shift 2
    local args=() k
    for k in "$@"; do args+=(-k "$k"); done
    rm -rf "$WORK/q/$name"
    mkdir -p "$WORK/q/$name"
    (cd "$WORK/q/$name" && findscu -v "$model" -aec RADNODE -X "${args[@]}" 127.0.0.1 "$PORT") \
        >"$WORK/q/$name.log" 2>&1
}
# values NAME TAG : the sorted values of TAG over the responses of query NAME.
values() {
    local f
    for f in "$WORK/q/$1"/rsp*.dcm; do
        [ -f "$f" ] || continue
        dcmdump -q +P "$2" "$f" 2>/dev/null | sed -n 's/.*\[\(.*\)\].*/\1/p' | head -1
    done | sort | tr '\n' ' ' | sed 's/ $//'
}
count() { ls "$WORK/q/$1"/rsp*.dcm 2>/dev/null | wc -l; }
expect() { # NAME TAG EXPECTED (space-separated, sorted)
    local got
    got=$(values "$1" "$2")
    [ "$got" = "$3" ] || fail "query $1: $2 = [$got], expected [$3] ($(tail -3 "$WORK/q/$1.log"))"
    grep -aq "Received Final Find Response (Success)" "$WORK/q/$1.log" ||
        fail "query $1: final status not success: $(grep -a Final "$WORK/q/$1.log")"
}
expect_status() { # NAME TEXT
    grep -aq "Received Final Find Response ($2" "$WORK/q/$1.log" ||
        fail "query $1: expected final status $2, got: $(grep -a 'Final\|E:' "$WORK/q/$1.log" | head -3)"
    [ "$(count "$1")" = 0 ] || fail "query $1: a failed query returned matches"
}
sorted() { printf '%s\n' "$@" | sort | tr '\n' ' ' | sed 's/ $//'; }

# ---- C-FIND ---------------------------------------------------------------------------------
query st_pid -S QueryRetrieveLevel=STUDY StudyInstanceUID PatientID=PAT-A
expect st_pid 0020,000d "$(sorted $ST1 $ST2)"
query st_name -S QueryRetrieveLevel=STUDY StudyInstanceUID "PatientName=alpha*"
expect st_name 0020,000d "$(sorted $ST1 $ST2)"
query st_q -S QueryRetrieveLevel=STUDY StudyInstanceUID "PatientName=B?ta^B*"
expect st_q 0020,000d "$ST3"
query st_range -S QueryRetrieveLevel=STUDY StudyInstanceUID StudyDate=20200101-20201231
expect st_range 0020,000d "$(sorted $ST1 $ST3)"
query st_upto -S QueryRetrieveLevel=STUDY StudyInstanceUID StudyDate=-20200131
expect st_upto 0020,000d "$ST1"
query st_from -S QueryRetrieveLevel=STUDY StudyInstanceUID StudyDate=20210101-
expect st_from 0020,000d "$ST2"
query st_time -S QueryRetrieveLevel=STUDY StudyInstanceUID StudyTime=1000-1100
expect st_time 0020,000d "$ST1"
query st_list -S QueryRetrieveLevel=STUDY "StudyInstanceUID=$ST1\\$ST3"
expect st_list 0020,000d "$(sorted $ST1 $ST3)"
query st_acc -S QueryRetrieveLevel=STUDY StudyInstanceUID "AccessionNumber=ACC*"
expect st_acc 0020,000d "$(sorted $ST1 $ST2)"
query st_mod -S QueryRetrieveLevel=STUDY StudyInstanceUID ModalitiesInStudy=MR
expect st_mod 0020,000d "$ST2"
query st_all -S QueryRetrieveLevel=STUDY StudyInstanceUID PatientName StudyDate ModalitiesInStudy \
    NumberOfStudyRelatedInstances NumberOfStudyRelatedSeries
expect st_all 0020,000d "$(sorted $ST1 $ST2 $ST3)"
expect st_all 0020,1208 "2 4 4"
expect st_all 0020,1206 "1 2 2"
expect st_all 0008,0061 'CT CT\SR MR'
expect st_all 0010,0010 "Alpha^Anna Alpha^Anna Beta^Bob"
expect st_all 0008,0020 "20200115 20200620 20210301"
query st_none -S QueryRetrieveLevel=STUDY StudyInstanceUID PatientID=NOBODY
expect st_none 0020,000d ""
echo "ok: STUDY level: single value, wildcards, ranges, UID list, computed keys, universal"

query pat_all -P QueryRetrieveLevel=PATIENT PatientID PatientName PatientBirthDate \
    NumberOfPatientRelatedStudies NumberOfPatientRelatedInstances
expect pat_all 0010,0020 "PAT-A PAT-B"
expect pat_all 0010,0030 "19700101 19800202"
expect pat_all 0020,1200 "1 2"
expect pat_all 0020,1204 "4 6"
query pat_b -P QueryRetrieveLevel=PATIENT PatientID "PatientName=*bob"
expect pat_b 0010,0020 "PAT-B"
query pat_st -P QueryRetrieveLevel=STUDY PatientID=PAT-B StudyInstanceUID
expect pat_st 0020,000d "$ST3"
echo "ok: PATIENT level (Patient Root) and STUDY level under a patient"

query se_st1 -S QueryRetrieveLevel=SERIES StudyInstanceUID=$ST1 SeriesInstanceUID Modality \
    SeriesNumber NumberOfSeriesRelatedInstances
expect se_st1 0020,000e "$(sorted $SE1 $SE2)"
expect se_st1 0008,0060 "CT SR"
expect se_st1 0020,1209 "1 3"
query se_mod -S QueryRetrieveLevel=SERIES StudyInstanceUID=$ST3 SeriesInstanceUID SeriesNumber=2
expect se_mod 0020,000e "$SE5"
query se_ct -S QueryRetrieveLevel=SERIES StudyInstanceUID SeriesInstanceUID Modality=CT
expect se_ct 0020,000e "$(sorted $SE1 $SE4 $SE5)"
echo "ok: SERIES level"

query im_se1 -S QueryRetrieveLevel=IMAGE StudyInstanceUID=$ST1 SeriesInstanceUID=$SE1 \
    SOPInstanceUID InstanceNumber SOPClassUID
expect im_se1 0008,0018 "$(sorted $R.3.1 $R.3.2 $R.3.3)"
expect im_se1 0020,0013 "1 2 3"
query im_num -S QueryRetrieveLevel=IMAGE StudyInstanceUID=$ST3 SeriesInstanceUID=$SE4 \
    SOPInstanceUID InstanceNumber=2
expect im_num 0008,0018 "$R.3.8"
query im_uid -S QueryRetrieveLevel=IMAGE StudyInstanceUID SeriesInstanceUID "SOPInstanceUID=$R.3.5\\$R.3.10"
expect im_uid 0008,0018 "$(sorted $R.3.5 $R.3.10)"
echo "ok: IMAGE level"

# ---- hostile identifiers ---------------------------------------------------------------------
query bad_nolevel -S StudyInstanceUID PatientID=PAT-A
expect_status bad_nolevel "Error: DataSetDoesNotMatchSOPClass"
query bad_level -S QueryRetrieveLevel=FOO StudyInstanceUID
expect_status bad_level "Error: DataSetDoesNotMatchSOPClass"
query bad_patient -S QueryRetrieveLevel=PATIENT PatientID
expect_status bad_patient "Error: DataSetDoesNotMatchSOPClass"
query bad_range -S QueryRetrieveLevel=STUDY StudyInstanceUID StudyDate=2020-01-2021
expect_status bad_range "Error: DataSetDoesNotMatchSOPClass"
query bad_uid -S QueryRetrieveLevel=STUDY "StudyInstanceUID=1.2.*"
expect_status bad_uid "Error: DataSetDoesNotMatchSOPClass"
echo "ok: missing/unknown level, PATIENT in Study Root, bad range, wildcard UID -> A900"

# ---- C-CANCEL ------------------------------------------------------------------------------------
(cd "$WORK" && findscu -v -S -aec RADNODE --cancel 1 -k QueryRetrieveLevel=IMAGE -k SOPInstanceUID \
    127.0.0.1 "$PORT") >"$WORK/cancel.log" 2>&1
grep -aq "Sending Cancel Request" "$WORK/cancel.log" || fail "findscu sent no C-CANCEL: $(cat "$WORK/cancel.log")"
grep -aq "Received Final Find Response (\(Cancel\|Success\)" "$WORK/cancel.log" ||
    fail "no final response after C-CANCEL: $(grep -a 'Final\|E:' "$WORK/cancel.log")"
echo "ok: C-CANCEL during C-FIND ($(grep -a -c 'Find Response:.*Pending' "$WORK/cancel.log") of 10 pending responses, $(grep -a -o 'Final Find Response ([A-Za-z]*' "$WORK/cancel.log" | sed 's/.*(//'))"
echoscu -aec RADNODE 127.0.0.1 "$PORT" || fail "node does not answer C-ECHO after the hostile queries"
kill -0 "$NODE_PID" 2>/dev/null || fail "radnode serve died"

# ---- C-MOVE --------------------------------------------------------------------------------------
received_uids() { # folder
    local f
    for f in "$1"/*; do [ -f "$f" ] && sop_instance_of "$f"; done | sort | tr '\n' ' ' | sed 's/ $//'
}
mkdir -p "$WORK/moved"
storescp -aet MOVEDEST -od "$WORK/moved" "$MOVE_PORT" >"$WORK/storescp.log" 2>&1 &
PIDS+=($!)
wait_port "$MOVE_PORT" || fail "storescp did not start"
movescu -d -S -aec RADNODE -aem MOVEDEST -k QueryRetrieveLevel=STUDY -k StudyInstanceUID=$ST1 \
    127.0.0.1 "$PORT" >"$WORK/move.log" 2>&1 || fail "movescu failed: $(tail -5 "$WORK/move.log")"
grep -aq "DIMSE Status *: 0x0000" "$WORK/move.log" ||
    fail "C-MOVE not successful: $(grep -a 'Status\|E:\|W:' "$WORK/move.log")"
grep -aq "Completed Suboperations *: 4" "$WORK/move.log" ||
    fail "C-MOVE did not report 4 completed sub-operations: $(grep -a Suboperations "$WORK/move.log" | tail -4)"
[ "$(grep -a -c 'DIMSE Status *: 0xff00' "$WORK/move.log")" = 3 ] ||
    fail "expected 3 pending C-MOVE responses: $(grep -a 'DIMSE Status' "$WORK/move.log")"
got=$(received_uids "$WORK/moved")
[ "$got" = "$(sorted $R.3.1 $R.3.2 $R.3.3 $R.3.4)" ] || fail "C-MOVE delivered [$got]"
echo "ok: C-MOVE of a study to storescp: 4 instances, pending responses with counts"
rm -f "$WORK/moved"/*
movescu -d -P -aec RADNODE -aem MOVEDEST -k QueryRetrieveLevel=SERIES -k PatientID=PAT-B \
    -k StudyInstanceUID=$ST3 -k SeriesInstanceUID=$SE5 127.0.0.1 "$PORT" >"$WORK/move2.log" 2>&1
got=$(received_uids "$WORK/moved")
[ "$got" = "$(sorted $R.3.9 $R.3.10)" ] || fail "Patient Root C-MOVE of a series delivered [$got]"
movescu -d -S -aec RADNODE -aem NOSUCHAE -k QueryRetrieveLevel=STUDY -k StudyInstanceUID=$ST1 \
    127.0.0.1 "$PORT" >"$WORK/move3.log" 2>&1
grep -aq "DIMSE Status *: 0xa801" "$WORK/move3.log" ||
    fail "unknown move destination not refused with A801: $(grep -a 'Status\|E:\|W:' "$WORK/move3.log")"
movescu -d -S -aec RADNODE -aem MOVEDEST -k QueryRetrieveLevel=STUDY -k StudyInstanceUID \
    127.0.0.1 "$PORT" >"$WORK/move4.log" 2>&1
grep -aq "DIMSE Status *: 0xa900" "$WORK/move4.log" ||
    fail "C-MOVE without a study UID not refused: $(grep -a 'Status\|E:\|W:' "$WORK/move4.log")"
echo "ok: Patient Root C-MOVE of a series; unknown destination -> A801; no unique key -> A900"

# A destination that is down: every sub-operation fails, the UIDs are listed.
kill "${PIDS[-1]}"; wait "${PIDS[-1]}" 2>/dev/null
movescu -d -S -aec RADNODE -aem MOVEDEST -k QueryRetrieveLevel=SERIES -k StudyInstanceUID=$ST2 \
    -k SeriesInstanceUID=$SE3 127.0.0.1 "$PORT" >"$WORK/move5.log" 2>&1
grep -aq "Failed Suboperations *: 2" "$WORK/move5.log" ||
    fail "C-MOVE to a stopped destination: $(grep -a 'Status\|Suboperations\|E:\|W:' "$WORK/move5.log")"
grep -aq "$R.3.5" "$WORK/move5.log" && grep -aq "$R.3.6" "$WORK/move5.log" ||
    fail "Failed SOP Instance UID List missing: $(grep -a -A6 'Final Move' "$WORK/move5.log")"
echo "ok: C-MOVE to a destination that is down: 2 failed, Failed SOP Instance UID List"

# ---- C-GET -----------------------------------------------------------------------------------------
mkdir -p "$WORK/got1" "$WORK/got2"
getscu -v -S -aec RADNODE -od "$WORK/got1" -k QueryRetrieveLevel=SERIES -k StudyInstanceUID=$ST3 \
    -k SeriesInstanceUID=$SE4 127.0.0.1 "$PORT" >"$WORK/get1.log" 2>&1 ||
    fail "getscu failed: $(tail -5 "$WORK/get1.log")"
got=$(received_uids "$WORK/got1")
[ "$got" = "$(sorted $R.3.7 $R.3.8)" ] || fail "C-GET of a series delivered [$got]"
grep -aq "Number of Completed Suboperations : 2" "$WORK/get1.log" ||
    fail "C-GET counts: $(grep -a Suboperations "$WORK/get1.log" | tail -4)"
getscu -v -P -aec RADNODE -od "$WORK/got2" -k QueryRetrieveLevel=PATIENT -k PatientID=PAT-A \
    127.0.0.1 "$PORT" >"$WORK/get2.log" 2>&1 || fail "getscu failed: $(tail -5 "$WORK/get2.log")"
got=$(received_uids "$WORK/got2")
[ "$got" = "$(sorted $R.3.1 $R.3.2 $R.3.3 $R.3.4 $R.3.5 $R.3.6)" ] ||
    fail "Patient Root C-GET of a patient delivered [$got]"
cmp -s <(dataset_dump "$WORK/in/07.dcm") <(dataset_dump "$WORK/got1/$(ls "$WORK/got1" | sort | tail -1)") ||
    cmp -s <(dataset_dump "$WORK/in/06.dcm") <(dataset_dump "$WORK/got1/$(ls "$WORK/got1" | sort | tail -1)") ||
    fail "C-GET delivered a data set different from the one stored"
echo "ok: C-GET of a series (Study Root) and of a patient (Patient Root), data sets intact"

kill -0 "$NODE_PID" 2>/dev/null || fail "radnode serve died"
kill -TERM "$NODE_PID"
wait "$NODE_PID" || fail "radnode serve did not stop cleanly"
echo "ok: node stopped cleanly"
