#!/bin/bash
# The result objects of `radnode analyze --findings` checked by independent
# peers: dciodvfy (dicom3tools) finds no error in any object kind (SR,
# Secondary Capture, Encapsulated PDF, Key Object Selection; warnings are
# listed), DCMTK's dsrdump reads the SRs and KOS and shows the measurement
# values, dcm2pdf + pdftotext find the patient ID, the measurements and (zh)
# the Chinese text, dcm2pnm and pydicom decode the Secondary Capture,
# python3-hl7 parses the ORU^R01, a second run gives the same UIDs, and the
# Secondary Capture and PDF renderings match the reviewed references in
# tests/data/report/ref_*.png within report_check.py's stated tolerance.
set -u
HERE="$RN_SOURCE_DIR/tests/integration"
DATA="$RN_SOURCE_DIR/tests/data/report"
PY=/usr/bin/python3
for t in dciodvfy dsrdump dcm2pdf dcm2pnm dcmdump pdftotext pdftoppm; do
    command -v $t >/dev/null || { echo "SKIP: $t not installed (dicom3tools, dcmtk, poppler-utils)"; exit 77; }
done
$PY -c "import pydicom, numpy, PIL, hl7" 2>/dev/null || { echo "SKIP: python3-pydicom/numpy/pil/hl7 missing"; exit 77; }

W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
fail=0
bad() { echo "FAIL: $*"; fail=1; }

PNG=$(ls "${RN_SHARED_DATA:-/nonexistent}"/boneage-rsna-fullres/*.png 2>/dev/null | head -1)
$PY "$HERE/report_make_image.py" "$W/hand.dcm" dx $PNG || exit 1
$PY "$HERE/report_make_image.py" "$W/gradient.dcm" dx || exit 1
$PY "$HERE/report_make_image.py" "$W/hand_zh.dcm" dx $PNG --zh || exit 1
$PY "$HERE/report_make_image.py" "$W/gradient_zh.dcm" dx --zh || exit 1
$PY "$HERE/report_make_image.py" "$W/chest.dcm" ct || exit 1

run() { # out-dir input findings [extra args]
    local out=$1 in=$2 f=$3
    shift 3
    "$RADNODE" analyze "$W/$in" --findings "$DATA/$f" --out "$W/$out" --objects all \
        --datetime 20240512120000 "$@" 2>"$W/$out.log" || { cat "$W/$out.log"; bad "analyze $f"; }
}
run boneage hand.dcm boneage.json
run lungct chest.dcm lungct.json
run zh hand_zh.dcm boneage_zh.json --lang zh
run refused hand.dcm refused.json
run gb hand_zh.dcm boneage_zh.json --lang zh --charset GB18030
run ref gradient.dcm boneage.json
run boneage2 hand.dcm boneage.json
run refzh gradient_zh.dcm boneage_zh.json --lang zh

echo "== dciodvfy"
for f in "$W"/{boneage,lungct,zh,refused,gb}/*.dcm; do
    out=$(dciodvfy "$f" 2>&1)
    errors=$(grep -c '^Error' <<<"$out")
    warnings=$(grep '^Warning' <<<"$out" | sort | uniq -c | sed 's/^ */    /')
    echo "$(basename "$(dirname "$f")")/$(basename "$f"): $(head -1 <<<"$out"), $errors error(s)"
    [ -n "$warnings" ] && echo "$warnings"
    [ "$errors" = 0 ] || { grep '^Error' <<<"$out"; bad "dciodvfy errors in $f"; }
done

echo "== dsrdump"
expect_sr() { # dir pattern...
    local d=$1
    shift
    local sr=$(ls "$W/$d"/SR_*.dcm)
    local dump
    dump=$(dsrdump -Ec +Pl "$sr" 2>&1) || { echo "$dump"; bad "dsrdump $d"; return; }
    for p in "$@"; do
        grep -qF -- "$p" <<<"$dump" || bad "dsrdump $d: '$p' not found"
    done
}
expect_sr boneage '"XR Bone age")="126.4" (mo,UCUM,"months")' '(NORMAL,99RADNODE,' \
    'Procedure reported' 'Device Observer UID' 'Tracking Unique Identifier' '"Algorithm Version")="1.0.0"' \
    '"+/-, range of measurement uncertainty")="5.1"' 'PRELIMINARY'
expect_sr lungct '"Volume")="312.5" (mm3,UCUM' '"Diameter")="8.4" (mm,UCUM' '"Volume doubling time")="412" (d,UCUM' \
    '"Volume")="41" (mm3,UCUM' '(24627-2,LN,"CT Chest")' '(LR-4A,99RADNODE,'
expect_sr zh '"Tracking Identifier")="骨龄"' '(zh-CN,RFC5646,' '126.4'
expect_sr refused 'not a hand radiograph'
for d in boneage lungct; do
    dsrdump -Ec "$W/$d"/KO_*.dcm >"$W/ko.txt" 2>&1 || bad "dsrdump KOS $d"
    grep -q 'Of Interest' "$W/ko.txt" && grep -q 'contains IMAGE' "$W/ko.txt" || bad "KOS $d content"
done

echo "== PDF"
expect_pdf() { # dir pattern...
    local d=$1
    shift
    dcm2pdf "$W/$d"/PDF_*.dcm "$W/$d.pdf" || { bad "dcm2pdf $d"; return; }
    pdftotext -layout "$W/$d.pdf" "$W/$d.txt" || { bad "pdftotext $d"; return; }
    [ "$(pdfinfo "$W/$d.pdf" 2>/dev/null | awk '/^Pages:/{print $2}')" = 1 ] || bad "PDF $d is not one page"
    for p in "$@"; do
        grep -qF -- "$p" "$W/$d.txt" || bad "PDF $d: '$p' not found"
    done
}
expect_pdf boneage RN-TEST-0042 ACC20240512 '126.4 mo' '± 5.10 mo' 'LN 85151-9' 'Within normal limits' \
    'PRELIMINARY - to be reviewed by a radiologist' 'boneage-v1' '3f1c9a7e5b2d4c6e' '1.2.826.0.1.3680043.10.1078.99.1.1.1'
expect_pdf lungct '312.5 mm3' '8.40 mm' '412 d' 'Lung-RADS 4A' 'Nodule 2'
expect_pdf zh RN-TEST-0042 '骨龄' '初步结果' '需经放射科医师审核' '王' '10岁6个月'
expect_pdf refused 'not a hand radiograph'

echo "== Secondary Capture"
for d in boneage lungct zh; do
    dcm2pnm +on "$W/$d"/SC_*.dcm "$W/$d-sc.png" >/dev/null 2>&1 || bad "dcm2pnm SC $d"
    $PY "$HERE/report_check.py" sc "$W/$d"/SC_*.dcm || bad "pydicom SC $d"
done

echo "== HL7"
$PY "$HERE/report_check.py" hl7 "$W/boneage"/ORU_*.hl7 4 || bad "ORU boneage"
$PY "$HERE/report_check.py" hl7 "$W/lungct"/ORU_*.hl7 8 || bad "ORU lungct"
$PY "$HERE/report_check.py" hl7 "$W/zh"/ORU_*.hl7 4 || bad "ORU zh"
grep -q '骨龄' "$W/zh"/ORU_*.hl7 || bad "ORU zh text"

echo "== determinism"
a=$(cd "$W/boneage" && ls) b=$(cd "$W/boneage2" && ls)
[ "$a" = "$b" ] || bad "second run gave other files: $a / $b"
for f in "$W/boneage"/*.dcm; do
    u1=$(dcmdump +P SOPInstanceUID "$f") u2=$(dcmdump +P SOPInstanceUID "$W/boneage2/$(basename "$f")")
    s1=$(dcmdump +P SeriesInstanceUID "$f") s2=$(dcmdump +P SeriesInstanceUID "$W/boneage2/$(basename "$f")")
    [ -n "$u1" ] && [ "$u1" = "$u2" ] && [ "$s1" = "$s2" ] || bad "UIDs differ for $(basename "$f")"
done
[ "$(ls "$W/zh" | sort)" = "$(ls "$W/gb" | sort)" ] || bad "charset changed the UIDs"
echo "same UIDs on a second run: $(ls "$W/boneage" | tr '\n' ' ')"

echo "== renderings against the reviewed references"
$PY "$HERE/report_check.py" topng "$W/ref"/SC_*.dcm "$W/ref-sc.png"
$PY "$HERE/report_check.py" compare "$W/ref-sc.png" "$DATA/ref_sc_boneage.png" || bad "SC rendering"
dcm2pdf "$W/ref"/PDF_*.dcm "$W/ref.pdf" && pdftoppm -r 50 -gray -png -singlefile "$W/ref.pdf" "$W/ref-pdf"
$PY "$HERE/report_check.py" compare "$W/ref-pdf.png" "$DATA/ref_pdf_boneage.png" || bad "PDF rendering"
dcm2pdf "$W/refzh"/PDF_*.dcm "$W/refzh.pdf" && pdftoppm -r 50 -gray -png -singlefile "$W/refzh.pdf" "$W/refzh-pdf"
$PY "$HERE/report_check.py" compare "$W/refzh-pdf.png" "$DATA/ref_pdf_boneage_zh.png" || bad "PDF zh rendering"
$PY "$HERE/report_check.py" topng "$W/refzh"/SC_*.dcm "$W/refzh-sc.png"
$PY "$HERE/report_check.py" compare "$W/refzh-sc.png" "$DATA/ref_sc_boneage_zh.png" || bad "SC zh rendering"
if [ -n "${RN_REPORT_KEEP:-}" ]; then
    mkdir -p "$RN_REPORT_KEEP" && cp -r "$W"/. "$RN_REPORT_KEEP"/
fi

[ $fail = 0 ] && echo "PASS" || echo "FAILED"
exit $fail
