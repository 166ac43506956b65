/*
 * Value Representations (PS3.5 6.2, Table 6.2-1) and the properties the
 * encoder and decoder need: which VRs exist, which use the explicit VR header
 * with a 2-byte reserved field and a 32-bit length (PS3.5 7.1.2, Table 7.1-1),
 * which are character strings subject to the Specific Character Set (PS3.5
 * 6.1.2.3), and the size of one binary value (for byte swapping and VM).
 */
#include "radnode/dicom.h"

enum {
    VR_LONG = 1 << 0, /* 32-bit length in explicit VR (PS3.5 Table 7.1-1) */
    VR_TEXT = 1 << 1, /* bytes go through the Specific Character Set */
};

typedef struct VrInfo {
    RnVR vr;
    unsigned char flags;
    unsigned char value_size;
} VrInfo;

/*
 * Character strings: AE AS CS DA DS DT IS LO LT PN SH ST TM UC UI UR UT. Of
 * those, PS3.5 6.1.2.3 lets only SH, LO, ST, LT, PN, UC and UT carry
 * characters outside the default repertoire, so only these seven are decoded
 * through (0008,0005) Specific Character Set (VR_TEXT). The others are
 * restricted to ISO 646 (AE, CS: upper case, digits, space, '_'; DA, DT, TM,
 * DS, IS, AS, UI: digits and punctuation; UR: RFC 3986 characters), whatever
 * the character set says.
 *
 * value_size: bytes of one value for binary VRs; 1 for OB and UN (byte
 * streams, never swapped); 0 for strings and SQ.
 */
/* clang-format off */
static const VrInfo vr_table[] = {
    {RN_VR_AE, 0, 0},
    {RN_VR_AS, 0, 0},
    {RN_VR_AT, 0, 4},
    {RN_VR_CS, 0, 0},
    {RN_VR_DA, 0, 0},
    {RN_VR_DS, 0, 0},
    {RN_VR_DT, 0, 0},
    {RN_VR_FD, 0, 8},
    {RN_VR_FL, 0, 4},
    {RN_VR_IS, 0, 0},
    {RN_VR_LO, VR_TEXT, 0},
    {RN_VR_LT, VR_TEXT, 0},
    {RN_VR_OB, VR_LONG, 1},
    {RN_VR_OD, VR_LONG, 8},
    {RN_VR_OF, VR_LONG, 4},
    {RN_VR_OL, VR_LONG, 4},
    {RN_VR_OV, VR_LONG, 8},
    {RN_VR_OW, VR_LONG, 2},
    {RN_VR_PN, VR_TEXT, 0},
    {RN_VR_SH, VR_TEXT, 0},
    {RN_VR_SL, 0, 4},
    {RN_VR_SQ, VR_LONG, 0},
    {RN_VR_SS, 0, 2},
    {RN_VR_ST, VR_TEXT, 0},
    {RN_VR_SV, VR_LONG, 8},
    {RN_VR_TM, 0, 0},
    {RN_VR_UC, VR_LONG | VR_TEXT, 0},
    {RN_VR_UI, 0, 0},
    {RN_VR_UL, 0, 4},
    {RN_VR_UN, VR_LONG, 1},
    {RN_VR_UR, VR_LONG, 0},
    {RN_VR_US, 0, 2},
    {RN_VR_UT, VR_LONG | VR_TEXT, 0},
    {RN_VR_UV, VR_LONG, 8},
};
/* clang-format on */

static const VrInfo *vr_info(RnVR vr)
{
    /* The table is sorted by code: binary search over 34 entries. */
    size_t lo = 0, hi = sizeof vr_table / sizeof vr_table[0];
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (vr_table[mid].vr == vr)
            return &vr_table[mid];
        if (vr_table[mid].vr < vr)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

bool rn_vr_is_valid(RnVR vr)
{
    return vr_info(vr) != NULL;
}

bool rn_vr_has_long_length(RnVR vr)
{
    const VrInfo *v = vr_info(vr);
    return v && (v->flags & VR_LONG);
}

bool rn_vr_is_text(RnVR vr)
{
    const VrInfo *v = vr_info(vr);
    return v && (v->flags & VR_TEXT);
}

unsigned rn_vr_value_size(RnVR vr)
{
    const VrInfo *v = vr_info(vr);
    return v ? v->value_size : 0;
}

const char *rn_vr_str(RnVR vr, char out[3])
{
    char a = (char)(vr >> 8), b = (char)(vr & 0xFF);
    /* Any two printable ASCII characters are shown as read (a file may carry
     * an unknown VR); anything else, including 0, as "??". */
    if (a < 0x20 || a > 0x7E || b < 0x20 || b > 0x7E)
        a = b = '?';
    out[0] = a;
    out[1] = b;
    out[2] = '\0';
    return out;
}
