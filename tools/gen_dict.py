#!/usr/bin/python3
"""Generate src/dicom/dict_generated.c: the PS3.6 data dictionary and UID registry.

radnode's dictionary (PS3.6 Section 6, Table 6-1 data elements, Table 7-1/8-1
command and file meta elements, Annex A UID registry) is compiled into constant
C tables so that a lookup by tag, by keyword or by UID string is a single probe
sequence in a precomputed open-addressing hash table, with no initialisation
code and no mutable global state at run time.

Sources (all shipped by Debian; nothing is downloaded):

  * DCMTK's /usr/share/libdcmtk17/dicom.dic (package libdcmtk17): tag, VR, VM,
    keyword and version of every element, including repeating groups written as
    ranges ("(6000-60FF,3000)": even groups only unless "-u-"), element ranges
    ("(0020,3100-31FF)"), dcmtk's pseudo-VRs ("xs", "ox", "lt", "px", "up",
    "na") and the non-private DICONDE/DICOS additions DCMTK merges in.
  * pydicom's _dicom_dict.py (package python3-pydicom): the same elements with
    the standard's names, its retired flag and the masked repeating entries
    ("60xx3000", "002804x0", "1000xxx0", "1010xxxx").
  * pydicom's _uid_dict.py: the UID registry (UID, name, type, retired, keyword),
    plus the few transfer syntax UIDs of PS3.6 editions newer than pydicom's
    listed in SUPPLEMENT_UIDS below.

The two element sources are merged on (tag, mask): pydicom supplies the
standard's keyword (DCMTK prefixes retired keywords with "RETIRED_"), name, VR,
VM and retired flag; DCMTK's entries that pydicom lacks are added with a name
derived from the keyword. Every disagreement between the two is listed on
stderr so that a newer source edition can be reviewed before committing.

Usage (from the repository root):

    /usr/bin/python3 tools/gen_dict.py > src/dicom/dict_generated.c

Optional arguments: --dcmtk PATH, --pydicom DIR (the pydicom package folder).
"""

import argparse
import importlib.util
import os
import re
import sys

DEFAULT_DCMTK = "/usr/share/libdcmtk17/dicom.dic"
DEFAULT_PYDICOM = "/usr/lib/python3/dist-packages/pydicom"

FULL_MASK = 0xFFFFFFFF

# Transfer syntaxes registered in PS3.6 after pydicom's 2022a registry:
# HTJ2K and JPIP HTJ2K (2023), JPEG XL and Deflated Image Frame Compression
# (2024). (uid, name, type, retired, keyword)
SUPPLEMENT_UIDS = [
    ("1.2.840.10008.1.2.4.110", "JPEG XL Lossless", "Transfer Syntax", False,
     "JPEGXLLossless"),
    ("1.2.840.10008.1.2.4.111", "JPEG XL JPEG Recompression", "Transfer Syntax", False,
     "JPEGXLJPEGRecompression"),
    ("1.2.840.10008.1.2.4.112", "JPEG XL", "Transfer Syntax", False, "JPEGXL"),
    ("1.2.840.10008.1.2.4.201", "High-Throughput JPEG 2000 Image Compression (Lossless Only)",
     "Transfer Syntax", False, "HTJ2KLossless"),
    ("1.2.840.10008.1.2.4.202",
     "High-Throughput JPEG 2000 with RPCL Options Image Compression (Lossless Only)",
     "Transfer Syntax", False, "HTJ2KLosslessRPCL"),
    ("1.2.840.10008.1.2.4.203", "High-Throughput JPEG 2000 Image Compression",
     "Transfer Syntax", False, "HTJ2K"),
    ("1.2.840.10008.1.2.4.204", "JPIP HTJ2K Referenced", "Transfer Syntax", False,
     "JPIPHTJ2KReferenced"),
    ("1.2.840.10008.1.2.4.205", "JPIP HTJ2K Referenced Deflate", "Transfer Syntax", False,
     "JPIPHTJ2KReferencedDeflate"),
    ("1.2.840.10008.1.2.8.1", "Deflated Image Frame Compression", "Transfer Syntax", False,
     "DeflatedImageFrameCompression"),
]

# DCMTK pseudo-VRs (dcmdata/dcvr.h) and the standard's VR lists they stand for.
DCMTK_PSEUDO_VR = {
    "xs": ["US", "SS"],        # US or SS, decided by Pixel Representation
    "ox": ["OB", "OW"],        # OB or OW
    "px": ["OB", "OW"],        # Pixel Data: OB or OW
    "lt": ["US", "OW"],        # LUT data: US or SS or OW (PS3.6 lists "US or OW" for LUTData)
    "up": ["UL"],              # unsigned 32-bit offset in a DICOMDIR: UL in PS3.6
    "na": [],                  # items and delimiters have no VR
}

VALID_VRS = set(
    "AE AS AT CS DA DS DT FD FL IS LO LT OB OD OF OL OV OW PN SH SL SQ SS ST SV TM UC UI UL UN "
    "UR US UT UV".split())


def warn(msg):
    print("gen_dict: " + msg, file=sys.stderr)


# ---- Hash functions: these must match src/dicom/dict.c exactly ----------------

def hash_tag(tag):
    """Fibonacci hashing of the 32-bit tag; the caller keeps the top bits."""
    return (tag * 2654435761) & 0xFFFFFFFF


def hash_str(s):
    """32-bit FNV-1a over the bytes of s."""
    h = 2166136261
    for b in s.encode("ascii"):
        h ^= b
        h = (h * 16777619) & 0xFFFFFFFF
    return h


def table_bits(n):
    """Smallest power of two that keeps the load factor at or below 1/2."""
    bits = 4
    while (1 << bits) < 2 * n:
        bits += 1
    return bits


def build_table(keys, bits, slot_of):
    """Open addressing with linear probing; slots hold index + 1, 0 = empty."""
    size = 1 << bits
    table = [0] * size
    longest = 0
    for index, key in enumerate(keys):
        if key is None:
            continue
        slot = slot_of(key)
        probes = 1
        while table[slot] != 0:
            slot = (slot + 1) & (size - 1)
            probes += 1
        table[slot] = index + 1
        longest = max(longest, probes)
    return table, longest


# ---- Parsing -------------------------------------------------------------------

def parse_range(text, is_group):
    """'6000-60FF' / '0009-o-FFFF' / '0010' -> (value, mask bits that must match)."""
    m = re.fullmatch(r"([0-9A-Fa-f]{4})(?:-([uo])?-?([0-9A-Fa-f]{4}))?", text)
    if not m:
        raise ValueError("bad tag part " + text)
    lo = int(m.group(1), 16)
    if m.group(3) is None:
        return lo, 0xFFFF
    hi = int(m.group(3), 16)
    parity = m.group(2)  # None: even only (DCMTK default), 'u': any, 'o': odd only
    vary = (1 << (lo ^ hi).bit_length()) - 1
    if lo & vary or (lo | vary) != hi:
        raise ValueError("range %s is not a hex-digit mask" % text)
    mask = 0xFFFF & ~vary
    if is_group and parity is None:
        mask |= 1  # even groups only: bit 0 must be 0 like lo's
    elif is_group and parity == "o":
        mask |= 1
        lo |= 1
    return lo, mask


def parse_dcmtk(path):
    entries = {}
    with open(path, encoding="latin-1") as f:
        for lineno, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line or line.startswith("#"):
                continue
            fields = line.split("\t")
            fields = [x for x in fields if x != ""]
            if len(fields) != 5:
                raise ValueError("%s:%d: expected 5 fields" % (path, lineno))
            tagtext, vr, keyword, vm, version = fields
            if version in ("PRIVATE", "ILLEGAL", "GENERIC"):
                continue  # private creators and group lengths are synthetic (dict.c)
            m = re.fullmatch(r"\(([^,]+),([^)]+)\)", tagtext)
            group, gmask = parse_range(m.group(1), True)
            elem, emask = parse_range(m.group(2), False)
            tag = (group << 16) | elem
            mask = (gmask << 16) | emask
            retired = version == "DICOM/retired"
            if keyword.startswith("RETIRED_"):
                keyword = keyword[len("RETIRED_"):]
            if vr in DCMTK_PSEUDO_VR:
                vrs = DCMTK_PSEUDO_VR[vr]
            else:
                vrs = [vr]
            entries[(tag, mask)] = {
                "tag": tag, "mask": mask, "vrs": vrs, "keyword": keyword, "vm": vm,
                "retired": retired, "name": None, "source": version,
            }
    return entries


def load_module(path, name):
    sys.dont_write_bytecode = True  # never write caches into the system's pydicom
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def parse_pydicom_vr(text):
    if text == "NONE":
        return []
    return [v.strip() for v in text.split(" or ")]


def parse_pydicom(pkgdir):
    mod = load_module(os.path.join(pkgdir, "_dicom_dict.py"), "rn_pydicom_dict")
    entries = {}
    skipped = []
    for tag, (vr, vm, name, retired, keyword) in mod.DicomDictionary.items():
        if not keyword:
            skipped.append(tag)
            continue
        entries[(tag, FULL_MASK)] = {
            "tag": tag, "mask": FULL_MASK, "vrs": parse_pydicom_vr(vr), "keyword": keyword,
            "vm": vm, "retired": retired == "Retired", "name": name, "source": "pydicom",
        }
    for pattern, (vr, vm, name, retired, keyword) in mod.RepeatersDictionary.items():
        tag = 0
        mask = 0
        for ch in pattern:
            tag <<= 4
            mask <<= 4
            if ch in "xX":
                continue
            tag |= int(ch, 16)
            mask |= 0xF
        if (mask >> 16) != 0xFFFF:
            mask |= 0x10000  # repeating groups (50xx, 60xx, 7Fxx) are even groups (PS3.5 7.6)
        entries[(tag, mask)] = {
            "tag": tag, "mask": mask, "vrs": parse_pydicom_vr(vr), "keyword": keyword,
            "vm": vm, "retired": retired == "Retired", "name": name, "source": "pydicom",
        }
    return entries, skipped


def name_from_keyword(keyword):
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", " ", keyword)
    return words


def merge(dcmtk, pyd):
    merged = dict(pyd)
    diffs = []
    masked = [e for e in pyd.values() if e["mask"] != FULL_MASK]
    represented = set()
    for key, d in sorted(dcmtk.items()):
        p = pyd.get(key)
        if p is None:
            # DCMTK lists some masked elements (0028,04x0), (1000,xxx0), (1010,xxxx)
            # by one representative tag: drop those in favour of pydicom's mask.
            rep = [m for m in masked if d["mask"] == FULL_MASK
                   and (d["tag"] & m["mask"]) == m["tag"] and m["keyword"] == d["keyword"]]
            if rep:
                represented.add((rep[0]["tag"], rep[0]["mask"]))
                continue
            e = dict(d)
            e["name"] = name_from_keyword(d["keyword"])
            merged[key] = e
            diffs.append("(%04X,%04X) %s only in DCMTK (%s)" % (
                d["tag"] >> 16, d["tag"] & 0xFFFF, d["keyword"], d["source"]))
            continue
        for field in ("keyword", "vm", "retired", "vrs"):
            if d[field] != p[field]:
                diffs.append("(%04X,%04X) %s: DCMTK %s=%r, pydicom %r" % (
                    d["tag"] >> 16, d["tag"] & 0xFFFF, p["keyword"], field, d[field], p[field]))
    for key, p in sorted(pyd.items()):
        if key not in dcmtk and key not in represented:
            diffs.append("(%04X,%04X) %s only in pydicom" % (
                p["tag"] >> 16, p["tag"] & 0xFFFF, p["keyword"]))
    return merged, diffs


def parse_uids(pkgdir):
    mod = load_module(os.path.join(pkgdir, "_uid_dict.py"), "rn_pydicom_uid_dict")
    uids = {}
    skipped = []
    for uid, (name, typ, _info, retired, keyword) in mod.UID_dictionary.items():
        if not name:
            skipped.append(uid)
            continue
        uids[uid] = {"uid": uid, "name": name, "type": typ, "retired": retired == "Retired",
                     "keyword": keyword}
    for uid, name, typ, retired, keyword in SUPPLEMENT_UIDS:
        if uid in uids:
            continue
        uids[uid] = {"uid": uid, "name": name, "type": typ, "retired": retired,
                     "keyword": keyword}
    return uids, skipped


def uid_sort_key(uid):
    return [int(c) for c in uid.split(".")]


# ---- Output --------------------------------------------------------------------

def c_string(s):
    out = ['"']
    for b in s.encode("utf-8"):
        c = chr(b)
        if c == '"' or c == "\\":
            out.append("\\" + c)
        elif 0x20 <= b < 0x7F:
            out.append(c)
        else:
            out.append("\\%03o" % b)
    out.append('"')
    return "".join(out)


def c_vr(v):
    return "RN_VR_" + v if v else "RN_VR_UNKNOWN"


def emit_index(out, name, table):
    out.append("const uint16_t %s[%d] = {" % (name, len(table)))
    for i in range(0, len(table), 16):
        out.append("    " + ", ".join(str(x) for x in table[i:i + 16]) + ",")
    out.append("};")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dcmtk", default=DEFAULT_DCMTK)
    ap.add_argument("--pydicom", default=DEFAULT_PYDICOM)
    args = ap.parse_args()

    dcmtk = parse_dcmtk(args.dcmtk)
    pyd, skipped_el = parse_pydicom(args.pydicom)
    merged, diffs = merge(dcmtk, pyd)
    for d in diffs:
        warn(d)
    for tag in skipped_el:
        warn("(%04X,%04X) has no keyword in pydicom (a retired placeholder): skipped" % (
            tag >> 16, tag & 0xFFFF))

    entries = sorted(merged.values(), key=lambda e: (e["tag"], e["mask"]))
    dropped_vr = []
    for e in entries:
        for v in e["vrs"]:
            if v not in VALID_VRS:
                raise SystemExit("gen_dict: (%08X) %s has unknown VR %s" % (
                    e["tag"], e["keyword"], v))
        if len(e["vrs"]) > 2:
            dropped_vr.append("%s (%s)" % (e["keyword"], " or ".join(e["vrs"])))
    kw_seen = {}
    for e in entries:
        if e["keyword"] in kw_seen:
            raise SystemExit("gen_dict: duplicate keyword " + e["keyword"])
        kw_seen[e["keyword"]] = e
    if len(entries) >= 0xFFFF:
        raise SystemExit("gen_dict: too many entries for 16-bit indexes")

    masks = sorted({e["mask"] for e in entries if e["mask"] != FULL_MASK})

    tbits = table_bits(len(entries))
    tsize = 1 << tbits
    tag_table, tag_probe = build_table([e["tag"] for e in entries], tbits,
                                       lambda t: hash_tag(t) >> (32 - tbits))
    kw_table, kw_probe = build_table([e["keyword"] for e in entries], tbits,
                                     lambda k: hash_str(k) & (tsize - 1))

    uids, skipped_uid = parse_uids(args.pydicom)
    for uid in skipped_uid:
        warn("UID %s has no name in pydicom (a retired placeholder): skipped" % uid)
    uid_list = sorted(uids.values(), key=lambda u: uid_sort_key(u["uid"]))
    ukw = {}
    for u in uid_list:
        if u["keyword"]:
            if u["keyword"] in ukw:
                raise SystemExit("gen_dict: duplicate UID keyword " + u["keyword"])
            ukw[u["keyword"]] = u
    ubits = table_bits(len(uid_list))
    usize = 1 << ubits
    uid_table, uid_probe = build_table([u["uid"] for u in uid_list], ubits,
                                       lambda k: hash_str(k) & (usize - 1))
    ukw_table, ukw_probe = build_table([u["keyword"] or None for u in uid_list], ubits,
                                       lambda k: hash_str(k) & (usize - 1))

    n_retired = sum(1 for e in entries if e["retired"])
    n_masked = sum(1 for e in entries if e["mask"] != FULL_MASK)
    n_dcmtk_only = sum(1 for e in entries if e["source"] != "pydicom")

    out = []
    out.append("/*")
    out.append(" * GENERATED FILE: do not edit. Regenerate from the repository root with")
    out.append(" *     /usr/bin/python3 tools/gen_dict.py > src/dicom/dict_generated.c")
    out.append(" *")
    out.append(" * The PS3.6 data dictionary (Section 6 and Sections 7-8: data, command and")
    out.append(" * file meta elements) and the PS3.6 Annex A UID registry, merged from")
    out.append(" *   %s (DCMTK, %s)" % (args.dcmtk, "DICOM PS3.6-2022b"))
    out.append(" *   %s/_dicom_dict.py and _uid_dict.py (pydicom)" % args.pydicom)
    out.append(" * plus %d newer transfer syntax UIDs listed in tools/gen_dict.py." %
               len(SUPPLEMENT_UIDS))
    out.append(" *")
    out.append(" * %d elements (%d retired, %d repeating-group or range entries, %d only in" % (
        len(entries), n_retired, n_masked, n_dcmtk_only))
    out.append(" * DCMTK's newer edition); %d UIDs." % len(uid_list))
    if dropped_vr:
        out.append(" * Entries with three VRs keep the first two in vr/vr_alt: %s." %
                   ", ".join(dropped_vr))
    out.append(" *")
    out.append(" * Lookup tables are open-addressing hash tables with linear probing; a slot")
    out.append(" * holds entry index + 1 (0 = empty). Tags hash as (tag * 2654435761) >> (32 -")
    out.append(" * bits), strings as 32-bit FNV-1a masked to the table size; dict.c uses the")
    out.append(" * same functions. Masked entries (50xx, 60xx, 7Fxx, 0020,31xx, ...) are")
    out.append(" * hashed by their tag with the varying bits zero and found by masking the")
    out.append(" * wanted tag with each of rn_dict_gen_masks.")
    out.append(" */")
    out.append('#include "radnode/dicom.h"')
    out.append("")
    out.append("const RnDictEntry rn_dict_gen_entries[%d] = {" % len(entries))
    for e in entries:
        vrs = e["vrs"] + ["", ""]
        out.append("    {0x%08X, 0x%08X, %s, %s, %s, %s, %s, %s}," % (
            e["tag"], e["mask"], c_vr(vrs[0]), c_vr(vrs[1]), c_string(e["keyword"]),
            c_string(e["name"]), c_string(e["vm"]), "true" if e["retired"] else "false"))
    out.append("};")
    out.append("const size_t rn_dict_gen_entry_count = %d;" % len(entries))
    out.append("")
    out.append("/* Masks of the repeating-group and range entries, tried in this order. */")
    out.append("const RnTag rn_dict_gen_masks[%d] = {%s};" % (
        len(masks), ", ".join("0x%08X" % m for m in masks)))
    out.append("const size_t rn_dict_gen_mask_count = %d;" % len(masks))
    out.append("")
    out.append("/* %d slots, longest probe %d */" % (tsize, tag_probe))
    out.append("const unsigned rn_dict_gen_tag_bits = %d;" % tbits)
    emit_index(out, "rn_dict_gen_tag_index", tag_table)
    out.append("")
    out.append("/* %d slots, longest probe %d */" % (tsize, kw_probe))
    emit_index(out, "rn_dict_gen_keyword_index", kw_table)
    out.append("")
    out.append("const RnUidEntry rn_dict_gen_uids[%d] = {" % len(uid_list))
    for u in uid_list:
        name = u["name"] + (" (Retired)" if u["retired"] else "")
        out.append("    {%s, %s, %s, %s}," % (c_string(u["uid"]), c_string(name),
                                             c_string(u["keyword"]), c_string(u["type"])))
    out.append("};")
    out.append("const size_t rn_dict_gen_uid_count = %d;" % len(uid_list))
    out.append("const unsigned rn_dict_gen_uid_bits = %d;" % ubits)
    out.append("")
    out.append("/* %d slots, longest probe %d */" % (usize, uid_probe))
    emit_index(out, "rn_dict_gen_uid_index", uid_table)
    out.append("")
    out.append("/* %d slots, longest probe %d */" % (usize, ukw_probe))
    emit_index(out, "rn_dict_gen_uid_keyword_index", ukw_table)
    sys.stdout.write("\n".join(out) + "\n")
    warn("%d elements, %d UIDs, %d differences listed above" % (
        len(entries), len(uid_list), len(diffs)))


if __name__ == "__main__":
    main()
