#!/bin/bash
# Metadata reading and pixel decoding, radnode against DCMTK on the same files
# in one run, printed as ratios (DCMTK time / radnode time: > 1 means radnode
# is faster). Inputs are made here from ../shared/data (the TCIA chest CT and
# an RSNA hand radiograph) with DCMTK's own compressors.
#   usage: bench/bench_dicom.sh [REPEAT]
set -eu
cd "$(dirname "$0")/.."
RADNODE=${RADNODE:-build/radnode}
SHARED=${RN_SHARED_DATA:-../shared/data}
REPEAT=${1:-3}
CT="$SHARED/ct-lung-pet-ct-dx-A0001/series-2"
HAND="$SHARED/boneage-rsna-fullres"
[ -x "$RADNODE" ] || { echo "build radnode first (make)"; exit 1; }
[ -d "$CT" ] || { echo "SKIP: $CT not present"; exit 0; }
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
mkdir -p "$W"/{ct,jpegll,jpegls,rle,j2k,base}
ls "$CT"/*.dcm 2>/dev/null | head -32 > "$W/list" || true
[ -s "$W/list" ] || find "$CT" -type f | head -32 > "$W/list"
i=0
while read -r f; do
    i=$((i+1)); n=$(printf %03d $i)
    cp "$f" "$W/ct/$n.dcm"
    dcmcjpeg +e1 "$f" "$W/jpegll/$n.dcm"    # JPEG lossless SV1
    dcmcjpls "$f" "$W/jpegls/$n.dcm"        # JPEG-LS lossless
    dcmcrle "$f" "$W/rle/$n.dcm"            # RLE lossless
done < "$W/list"
# JPEG baseline: the hand radiographs as 8-bit DX via img2dcm (JPEG passed through).
if [ -d "$HAND" ]; then
    for p in "$HAND"/*.png; do
        b=$(basename "$p" .png)
        /usr/bin/python3 -c "from PIL import Image; Image.open('$p').convert('L').save('$W/$b.jpg', quality=90)"
        img2dcm -q "$W/$b.jpg" "$W/base/$b.dcm"
    done
fi

now() { date +%s.%N; }
# time_cmd LABEL CMD... : runs CMD over every file of a folder REPEAT times; prints seconds
run_over() { # folder cmd-template(with {} for file, {o} for output)
    local dir=$1; shift
    local t0 t1
    t0=$(now)
    for r in $(seq "$REPEAT"); do
        for f in "$dir"/*.dcm; do
            local cmd=${*//\{\}/$f}
            cmd=${cmd//\{o\}/$W/out.bin}
            eval "$cmd" >/dev/null 2>&1 || { echo "failed: $cmd" >&2; return 1; }
        done
    done
    t1=$(now)
    echo "$t1 - $t0" | bc -l
}
report() { # label radnode_seconds dcmtk_seconds
    printf "%-34s radnode %7.3f s   DCMTK %7.3f s   ratio %5.2fx\n" "$1" "$2" "$3" \
        "$(echo "$3 / $2" | bc -l)"
}
nfiles=$(ls "$W/ct" | wc -l)
echo "files: $nfiles CT slices 512x512 16-bit, $(ls "$W/base" | wc -l) hand radiographs; repeat $REPEAT"
r=$(run_over "$W/ct" "$RADNODE dump {}"); d=$(run_over "$W/ct" "dcmdump {}")
report "header read (dump vs dcmdump)" "$r" "$d"
r=$(run_over "$W/jpegll" "$RADNODE decode {} --raw {o}"); d=$(run_over "$W/jpegll" "dcmdjpeg {} {o}")
report "JPEG lossless SV1 decode" "$r" "$d"
r=$(run_over "$W/jpegls" "$RADNODE decode {} --raw {o}"); d=$(run_over "$W/jpegls" "dcmdjpls {} {o}")
report "JPEG-LS lossless decode" "$r" "$d"
r=$(run_over "$W/rle" "$RADNODE decode {} --raw {o}"); d=$(run_over "$W/rle" "dcmdrle {} {o}")
report "RLE decode" "$r" "$d"
if ls "$W/base"/*.dcm >/dev/null 2>&1; then
    r=$(run_over "$W/base" "$RADNODE decode {} --raw {o}"); d=$(run_over "$W/base" "dcmdjpeg {} {o}")
    report "JPEG baseline decode (~1500x1900)" "$r" "$d"
fi
echo "note: each tool runs once per file (process start included), as an operator would run it"
