/*
 * `radnode dump FILE...`: one element per line, `(gggg,eeee) VR Keyword value`,
 * nested items indented, in the spirit of DCMTK's dcmdump. Values are shown
 * decoded (text as UTF-8 through the Specific Character Set, numbers per VR);
 * long binary values are abbreviated. A file that cannot be read is reported
 * with the reason and makes the exit status non-zero.
 */
#include "cli/commands.h"
#include "radnode/dicom.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct DumpOpts {
    bool full;     /* do not abbreviate long values */
    bool no_meta;  /* skip file meta */
} DumpOpts;

static void print_value(const RnDataset *ds, const RnElement *el, const DumpOpts *o)
{
    RnVR vr = rn_element_vr(el);
    size_t len;
    const uint8_t *v = rn_element_value(el, &len);
    switch (vr) {
    case RN_VR_OB: case RN_VR_OW: case RN_VR_OD: case RN_VR_OF: case RN_VR_OL: case RN_VR_OV:
    case RN_VR_UN: case RN_VR_UNKNOWN: {
        size_t show = len < 16 || o->full ? len : 16;
        for (size_t i = 0; i < show; i++)
            printf("%s%02x", i ? "\\" : "", v[i]);
        if (show < len)
            printf("\\...");
        printf(" # %zu bytes%s", len, rn_element_is_deferred(el) ? ", loaded lazily" : "");
        return;
    }
    default:
        break;
    }
    RnError err = {0};
    char *s = rn_dataset_get_string_all(ds, rn_element_tag(el), &err);
    if (!s) {
        printf("(unreadable: %s)", err.message);
        return;
    }
    size_t n = strlen(s);
    bool text = !(vr == RN_VR_US || vr == RN_VR_SS || vr == RN_VR_UL || vr == RN_VR_SL ||
                  vr == RN_VR_FL || vr == RN_VR_FD || vr == RN_VR_AT || vr == RN_VR_SV ||
                  vr == RN_VR_UV);
    size_t limit = o->full ? n : 200;
    /* Control characters (LT/UT line breaks) are shown escaped to keep one line per element. */
    if (text)
        putchar('[');
    for (size_t i = 0; i < n && i < limit; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\n')
            fputs("\\n", stdout);
        else if (c == '\r')
            fputs("\\r", stdout);
        else if (c < 0x20)
            printf("\\x%02x", c);
        else
            putchar(c);
    }
    if (n > limit)
        fputs("...", stdout);
    if (text)
        putchar(']');
    free(s);
}

static void dump_dataset(const RnDataset *ds, int depth, const DumpOpts *o)
{
    for (size_t i = 0; i < rn_dataset_count(ds); i++) {
        const RnElement *el = rn_dataset_at(ds, i);
        RnTag tag = rn_element_tag(el);
        RnVR vr = rn_element_vr(el);
        const RnDictEntry *e = rn_dict_find_tag(tag);
        char vrs[3];
        const char *kw = e && e->keyword && e->keyword[0] ? e->keyword
                         : (RN_TAG_GROUP(tag) & 1) ? "PrivateTag" : "UnknownTag";
        printf("%*s(%04X,%04X) %s %s ", depth * 2, "", RN_TAG_GROUP(tag), RN_TAG_ELEMENT(tag),
               vr ? rn_vr_str(vr, vrs) : "??", kw);
        if (vr == RN_VR_SQ) {
            size_t n = rn_element_item_count(el);
            printf("(Sequence with %zu item%s%s)\n", n, n == 1 ? "" : "s",
                   rn_element_length(el) == RN_UNDEFINED_LENGTH ? ", undefined length" : "");
            for (size_t k = 0; k < n; k++) {
                printf("%*s(FFFE,E000) na Item #%zu\n", depth * 2 + 2, "", k + 1);
                dump_dataset(rn_element_item(el, k), depth + 2, o);
            }
            continue;
        }
        if (rn_element_is_encapsulated(el)) {
            size_t n = rn_element_fragment_count(el);
            printf("(Encapsulated, %zu item%s incl. offset table)\n", n, n == 1 ? "" : "s");
            for (size_t k = 0; k < n; k++) {
                size_t fl;
                rn_element_fragment(el, k, &fl);
                printf("%*s(FFFE,E000) pi %s # %zu bytes\n", depth * 2 + 2, "",
                       k == 0 ? "BasicOffsetTable" : "Fragment", fl);
            }
            continue;
        }
        print_value(ds, el, o);
        putchar('\n');
    }
}

int rn_cmd_dump(int argc, char **argv)
{
    DumpOpts o = {0};
    int files = 0, failed = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--full")) {
            o.full = true;
            continue;
        }
        if (!strcmp(argv[i], "--no-meta")) {
            o.no_meta = true;
            continue;
        }
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf("usage: radnode dump [--full] [--no-meta] FILE...\n");
            return 0;
        }
        files++;
        RnError err = {0};
        RnDicomFile *f = rn_dicom_read_file(argv[i], NULL, &err);
        if (!f) {
            fprintf(stderr, "radnode dump: %s\n", err.message);
            failed++;
            continue;
        }
        if (files > 1 || argc > 3)
            printf("# %s\n", argv[i]);
        if (!o.no_meta && rn_dataset_count(rn_dicom_file_meta(f))) {
            printf("# File Meta Information (transfer syntax %s)\n",
                   rn_dicom_file_transfer_syntax(f));
            dump_dataset(rn_dicom_file_meta(f), 0, &o);
            printf("# Dataset\n");
        }
        dump_dataset(rn_dicom_file_dataset(f), 0, &o);
        rn_dicom_file_destroy(f);
    }
    if (files == 0) {
        fprintf(stderr, "usage: radnode dump [--full] [--no-meta] FILE...\n");
        return 2;
    }
    return failed ? 1 : 0;
}
