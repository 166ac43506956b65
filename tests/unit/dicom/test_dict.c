/*
 * Unit tests for the PS3.6 data dictionary (dict.c over dict_generated.c) and
 * the VR helpers of PS3.5 6.2 / 7.1.2 (vr.c): exact, retired, repeating-group,
 * range, private creator and group length lookups; every generated entry's
 * tag and keyword round-trip through both hash tables.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "radnode/dicom.h"

/* The generated table (dict_generated.c), walked to check every entry. */
extern const RnDictEntry rn_dict_gen_entries[];
extern const size_t rn_dict_gen_entry_count;

static const RnDictEntry *expect_tag(RnTag tag, const char *keyword)
{
    const RnDictEntry *e = rn_dict_find_tag(tag);
    assert_non_null(e);
    assert_string_equal(e->keyword, keyword);
    return e;
}

static void test_ordinary(void **state)
{
    (void)state;
    const RnDictEntry *e = expect_tag(RN_TAG_PatientName, "PatientName");
    assert_int_equal(e->tag, RN_TAG_PatientName);
    assert_int_equal(e->mask, 0xFFFFFFFFu);
    assert_int_equal(e->vr, RN_VR_PN);
    assert_int_equal(e->vr_alt, RN_VR_UNKNOWN);
    assert_string_equal(e->name, "Patient's Name");
    assert_string_equal(e->vm, "1");
    assert_false(e->retired);

    e = expect_tag(RN_TAG_ImageType, "ImageType");
    assert_int_equal(e->vr, RN_VR_CS);
    assert_string_equal(e->vm, "2-n");

    e = expect_tag(RN_TAG_PixelData, "PixelData");
    assert_int_equal(e->vr, RN_VR_OB);
    assert_int_equal(e->vr_alt, RN_VR_OW);

    e = expect_tag(RN_TAG(0x0028, 0x0106), "SmallestImagePixelValue");
    assert_int_equal(e->vr, RN_VR_US);
    assert_int_equal(e->vr_alt, RN_VR_SS);

    e = expect_tag(RN_TAG_TransferSyntaxUID, "TransferSyntaxUID");
    assert_int_equal(e->vr, RN_VR_UI);
    e = expect_tag(RN_TAG(0x0000, 0x0100), "CommandField");
    assert_int_equal(e->vr, RN_VR_US);
    e = expect_tag(RN_TAG_ITEM, "Item");
    assert_int_equal(e->vr, RN_VR_UNKNOWN);
}

static void test_newest_vrs(void **state)
{
    (void)state;
    assert_int_equal(expect_tag(RN_TAG_ExtendedOffsetTable, "ExtendedOffsetTable")->vr, RN_VR_OV);
    assert_int_equal(expect_tag(RN_TAG(0x0072, 0x0082), "SelectorSVValue")->vr, RN_VR_SV);
    assert_int_equal(expect_tag(RN_TAG(0x0072, 0x0083), "SelectorUVValue")->vr, RN_VR_UV);
    assert_int_equal(expect_tag(RN_TAG(0x0040, 0xA160), "TextValue")->vr, RN_VR_UT);
    assert_int_equal(expect_tag(RN_TAG(0x0008, 0x0120), "URNCodeValue")->vr, RN_VR_UR);
    assert_int_equal(expect_tag(RN_TAG(0x0008, 0x0119), "LongCodeValue")->vr, RN_VR_UC);
}

static void test_retired(void **state)
{
    (void)state;
    const RnDictEntry *e = expect_tag(RN_TAG(0x0008, 0x0040), "DataSetType");
    assert_true(e->retired);
    e = expect_tag(RN_TAG(0x0000, 0x0001), "CommandLengthToEnd");
    assert_true(e->retired);
    assert_int_equal(e->vr, RN_VR_UL);
    /* PS3.6 lists three VRs here; the first two are kept. */
    e = expect_tag(RN_TAG(0x0028, 0x1200), "GrayLookupTableData");
    assert_true(e->retired);
    assert_int_equal(e->vr, RN_VR_US);
    assert_int_equal(e->vr_alt, RN_VR_SS);
}

static void test_repeating_groups(void **state)
{
    (void)state;
    const RnDictEntry *e = expect_tag(RN_TAG(0x6000, 0x3000), "OverlayData");
    assert_int_equal(e->tag, RN_TAG(0x6000, 0x3000));
    assert_int_equal(e->vr, RN_VR_OB);
    assert_int_equal(e->vr_alt, RN_VR_OW);
    assert_false(e->retired);
    assert_ptr_equal(rn_dict_find_tag(RN_TAG(0x6002, 0x3000)), e);
    assert_ptr_equal(rn_dict_find_tag(RN_TAG(0x601E, 0x3000)), e);
    assert_ptr_equal(rn_dict_find_tag(RN_TAG(0x60FE, 0x3000)), e);
    expect_tag(RN_TAG(0x6010, 0x0010), "OverlayRows");
    expect_tag(RN_TAG(0x6004, 0x0050), "OverlayOrigin");
    /* Odd groups are private (PS3.5 7.8.1), never overlays: (6001,3000) is a
     * private data element, unknown without its creator. */
    assert_null(rn_dict_find_tag(RN_TAG(0x6001, 0x3000)));
    expect_tag(RN_TAG(0x6001, 0x0010), "PrivateCreator");

    e = expect_tag(RN_TAG(0x5002, 0x0010), "NumberOfPoints");
    assert_true(e->retired);
    assert_int_equal(e->vr, RN_VR_US);
    expect_tag(RN_TAG(0x5000, 0x3000), "CurveData");
    e = expect_tag(RN_TAG(0x7F02, 0x0010), "VariablePixelData");
    assert_true(e->retired);
    /* An exact entry wins over a repeating one: (7FE0,0010) is Pixel Data. */
    expect_tag(RN_TAG_PixelData, "PixelData");
    expect_tag(RN_TAG(0x7FE0, 0x0001), "ExtendedOffsetTable");
}

static void test_element_ranges(void **state)
{
    (void)state;
    const RnDictEntry *e = expect_tag(RN_TAG(0x0020, 0x3100), "SourceImageIDs");
    assert_ptr_equal(rn_dict_find_tag(RN_TAG(0x0020, 0x31FF)), e);
    assert_ptr_equal(rn_dict_find_tag(RN_TAG(0x0020, 0x3142)), e);
    expect_tag(RN_TAG(0x0028, 0x0410), "RowsForNthOrderCoefficients");
    expect_tag(RN_TAG(0x0028, 0x04F2), "CoefficientCoding");
    expect_tag(RN_TAG(0x0028, 0x0808), "ImageDataLocation");
    expect_tag(RN_TAG(0x1000, 0x0153), "HuffmanTableTriplet");
    expect_tag(RN_TAG(0x1010, 0x1234), "ZonalMap");
}

static void test_private_and_group_length(void **state)
{
    (void)state;
    const RnDictEntry *pc = expect_tag(RN_TAG(0x0009, 0x0010), "PrivateCreator");
    assert_int_equal(pc->vr, RN_VR_LO);
    assert_string_equal(pc->vm, "1");
    assert_ptr_equal(rn_dict_find_tag(RN_TAG(0x0029, 0x00FF)), pc);
    assert_ptr_equal(rn_dict_find_tag(RN_TAG(0x7FE1, 0x0010)), pc);
    /* Private data elements, the reserved elements below 0010 and the
     * odd groups that are not private (0001-0007, FFFF) are unknown. */
    assert_null(rn_dict_find_tag(RN_TAG(0x0009, 0x1010)));
    assert_null(rn_dict_find_tag(RN_TAG(0x0009, 0x0100)));
    assert_null(rn_dict_find_tag(RN_TAG(0x0009, 0x000F)));
    assert_null(rn_dict_find_tag(RN_TAG(0x0001, 0x0010)));
    assert_null(rn_dict_find_tag(RN_TAG(0x0007, 0x0010)));
    assert_null(rn_dict_find_tag(RN_TAG(0xFFFF, 0x0010)));

    const RnDictEntry *gl = expect_tag(RN_TAG(0x0008, 0x0000), "GenericGroupLength");
    assert_int_equal(gl->vr, RN_VR_UL);
    assert_ptr_equal(rn_dict_find_tag(RN_TAG(0x0009, 0x0000)), gl);
    assert_ptr_equal(rn_dict_find_tag(RN_TAG(0x6000, 0x0000)), gl);
    /* Element 0000 is a group length even where a range would match. */
    assert_ptr_equal(rn_dict_find_tag(RN_TAG(0x1010, 0x0000)), gl);
    assert_ptr_equal(rn_dict_find_tag(RN_TAG(0x1000, 0x0000)), gl);
    expect_tag(RN_TAG(0x0002, 0x0000), "FileMetaInformationGroupLength");
    expect_tag(RN_TAG(0x0000, 0x0000), "CommandGroupLength");

    assert_ptr_equal(rn_dict_find_keyword("PrivateCreator"), pc);
    assert_ptr_equal(rn_dict_find_keyword("GenericGroupLength"), gl);
}

static void test_unknown(void **state)
{
    (void)state;
    assert_null(rn_dict_find_tag(RN_TAG(0x0008, 0x0003)));
    assert_null(rn_dict_find_tag(RN_TAG(0x0010, 0xFFFF)));
    assert_null(rn_dict_find_tag(RN_TAG(0x6100, 0x3000)));
    assert_null(rn_dict_find_keyword(NULL));
    assert_null(rn_dict_find_keyword(""));
    assert_null(rn_dict_find_keyword("patientname"));
    assert_null(rn_dict_find_keyword("PatientName "));
    assert_null(rn_dict_find_keyword("NoSuchKeywordAnywhere"));
    /* DCMTK's "RETIRED_" prefix is not part of the standard keyword. */
    assert_null(rn_dict_find_keyword("RETIRED_DataSetType"));
}

static void test_keywords(void **state)
{
    (void)state;
    const RnDictEntry *e = rn_dict_find_keyword("PatientName");
    assert_non_null(e);
    assert_int_equal(e->tag, RN_TAG_PatientName);
    e = rn_dict_find_keyword("OverlayData");
    assert_non_null(e);
    assert_int_equal(e->tag, RN_TAG(0x6000, 0x3000));
    assert_int_equal(e->mask, 0xFF01FFFFu);
    e = rn_dict_find_keyword("NumberOfPoints");
    assert_non_null(e);
    assert_int_equal(e->tag, RN_TAG(0x5000, 0x0010));
    e = rn_dict_find_keyword("DataSetType");
    assert_non_null(e);
    assert_true(e->retired);
}

/* A member of a masked entry's range with some varying bits set. */
static RnTag member_of(const RnDictEntry *e)
{
    return e->tag | (~e->mask & 0x00020020u);
}

static void test_every_entry_round_trips(void **state)
{
    (void)state;
    size_t n = rn_dict_count();
    assert_int_equal(n, rn_dict_gen_entry_count);
    assert_true(n > 4900);
    size_t masked = 0, retired = 0;
    for (size_t i = 0; i < n; i++) {
        const RnDictEntry *e = &rn_dict_gen_entries[i];
        if (i > 0) {
            const RnDictEntry *prev = &rn_dict_gen_entries[i - 1];
            assert_true(prev->tag < e->tag || (prev->tag == e->tag && prev->mask < e->mask));
        }
        assert_int_equal(e->tag & e->mask, e->tag);
        assert_true(e->keyword[0] != '\0');
        assert_true(e->name[0] != '\0');
        assert_true(e->vm[0] != '\0');
        assert_true(e->vr == RN_VR_UNKNOWN || rn_vr_is_valid(e->vr));
        assert_true(e->vr_alt == RN_VR_UNKNOWN || rn_vr_is_valid(e->vr_alt));
        if (e->vr == RN_VR_UNKNOWN) /* only items and delimiters have no VR */
            assert_int_equal(RN_TAG_GROUP(e->tag), 0xFFFE);
        if (rn_dict_find_keyword(e->keyword) != e)
            fail_msg("keyword %s does not find its entry", e->keyword);
        RnTag probe = e->mask == 0xFFFFFFFFu ? e->tag : member_of(e);
        if (e->mask != 0xFFFFFFFFu)
            masked++;
        if (e->retired)
            retired++;
        if (rn_dict_find_tag(probe) != e)
            fail_msg("tag %08X does not find %s", (unsigned)probe, e->keyword);
    }
    assert_true(masked >= 80);
    assert_true(retired >= 450);
}

static void test_vr_helpers(void **state)
{
    (void)state;
    static const char *const all =
        "AE AS AT CS DA DS DT FD FL IS LO LT OB OD OF OL OV OW PN SH SL SQ SS ST SV TM UC UI UL "
        "UN UR US UT UV";
    static const char *const long_length = "OB OD OF OL OV OW SQ SV UC UN UR UT UV";
    static const char *const text = "SH LO ST LT PN UC UT";
    unsigned valid = 0;
    for (unsigned code = 0; code <= 0xFFFF; code++) {
        RnVR vr = (RnVR)code;
        char s[3];
        rn_vr_str(vr, s);
        bool listed = rn_vr_is_valid(vr);
        if (listed) {
            valid++;
            assert_non_null(strstr(all, s));
        }
        bool in_long = listed && strstr(long_length, s) != NULL;
        bool in_text = listed && strstr(text, s) != NULL;
        assert_int_equal(rn_vr_has_long_length(vr), in_long);
        assert_int_equal(rn_vr_is_text(vr), in_text);
    }
    assert_int_equal(valid, 34);

    assert_int_equal(rn_vr_value_size(RN_VR_US), 2);
    assert_int_equal(rn_vr_value_size(RN_VR_SS), 2);
    assert_int_equal(rn_vr_value_size(RN_VR_OW), 2);
    assert_int_equal(rn_vr_value_size(RN_VR_UL), 4);
    assert_int_equal(rn_vr_value_size(RN_VR_SL), 4);
    assert_int_equal(rn_vr_value_size(RN_VR_FL), 4);
    assert_int_equal(rn_vr_value_size(RN_VR_OF), 4);
    assert_int_equal(rn_vr_value_size(RN_VR_OL), 4);
    assert_int_equal(rn_vr_value_size(RN_VR_AT), 4);
    assert_int_equal(rn_vr_value_size(RN_VR_FD), 8);
    assert_int_equal(rn_vr_value_size(RN_VR_OD), 8);
    assert_int_equal(rn_vr_value_size(RN_VR_OV), 8);
    assert_int_equal(rn_vr_value_size(RN_VR_SV), 8);
    assert_int_equal(rn_vr_value_size(RN_VR_UV), 8);
    assert_int_equal(rn_vr_value_size(RN_VR_OB), 1);
    assert_int_equal(rn_vr_value_size(RN_VR_UN), 1);
    assert_int_equal(rn_vr_value_size(RN_VR_PN), 0);
    assert_int_equal(rn_vr_value_size(RN_VR_SQ), 0);
    assert_int_equal(rn_vr_value_size(RN_VR_UI), 0);
    assert_int_equal(rn_vr_value_size(RN_VR_UNKNOWN), 0);

    char s[3];
    assert_string_equal(rn_vr_str(RN_VR_PN, s), "PN");
    assert_ptr_equal(rn_vr_str(RN_VR_UV, s), s);
    assert_string_equal(s, "UV");
    assert_string_equal(rn_vr_str(RN_VR_UNKNOWN, s), "??");
    assert_string_equal(rn_vr_str(RN_VR_CODE('Z', 'Z'), s), "ZZ");
    assert_false(rn_vr_is_valid(RN_VR_CODE('Z', 'Z')));
    assert_string_equal(rn_vr_str(RN_VR_CODE(0x01, 'A'), s), "??");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ordinary),
        cmocka_unit_test(test_newest_vrs),
        cmocka_unit_test(test_retired),
        cmocka_unit_test(test_repeating_groups),
        cmocka_unit_test(test_element_ranges),
        cmocka_unit_test(test_private_and_group_length),
        cmocka_unit_test(test_unknown),
        cmocka_unit_test(test_keywords),
        cmocka_unit_test(test_every_entry_round_trips),
        cmocka_unit_test(test_vr_helpers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
