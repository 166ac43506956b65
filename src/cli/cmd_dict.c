/*
 * `radnode dict TAG|KEYWORD|UID...`: looks each argument up in the PS3.6 data
 * dictionary or UID registry (Annex A) and prints one line per argument:
 *
 *   (0010,0010) PN PatientName "Patient's Name" VM 1
 *   (60xx,3000) OB/OW OverlayData "Overlay Data" VM 1
 *   1.2.840.10008.1.2.1 ExplicitVRLittleEndian "Explicit VR Little Endian" Transfer Syntax
 *
 * A tag is written (gggg,eeee), gggg,eeee or ggggeeee (hex). A keyword is
 * tried as an element keyword, then as a UID keyword. Exit status 0 if every
 * argument was found, 1 if any was unknown, 2 for a usage error.
 */
#include "cli/commands.h"
#include "radnode/dicom.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f, "usage: radnode dict TAG|KEYWORD|UID...\n"
               "  TAG as (gggg,eeee), gggg,eeee or ggggeeee in hex; KEYWORD as in PS3.6\n"
               "  (PatientName, CTImageStorage); UID in dotted decimal.\n");
}

static int hex4(const char *s, uint16_t *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        int c = (unsigned char)s[i];
        if (!isxdigit(c))
            return -1;
        v = (v << 4) | (unsigned)(isdigit(c) ? c - '0' : (tolower(c) - 'a' + 10));
    }
    *out = (uint16_t)v;
    return 0;
}

/* 0 and *tag set if arg is written as a tag. */
static int parse_tag(const char *arg, RnTag *tag)
{
    size_t len = strlen(arg);
    uint16_t g, e;
    if (len == 11 && arg[0] == '(' && arg[5] == ',' && arg[10] == ')' && !hex4(arg + 1, &g) &&
        !hex4(arg + 6, &e)) {
        *tag = RN_TAG(g, e);
        return 0;
    }
    if (len == 9 && arg[4] == ',' && !hex4(arg, &g) && !hex4(arg + 5, &e)) {
        *tag = RN_TAG(g, e);
        return 0;
    }
    if (len == 8 && !hex4(arg, &g) && !hex4(arg + 4, &e)) {
        *tag = RN_TAG(g, e);
        return 0;
    }
    return -1;
}

static bool looks_like_uid(const char *arg)
{
    if (!strchr(arg, '.'))
        return false;
    for (const char *p = arg; *p; p++)
        if (!isdigit((unsigned char)*p) && *p != '.')
            return false;
    return true;
}

/* "(60xx,3000)": digits whose mask nibble is not 0xF vary. */
static void format_pattern(const RnDictEntry *e, char out[12])
{
    static const char hex[] = "0123456789ABCDEF";
    char digits[8];
    for (int i = 0; i < 8; i++) {
        unsigned shift = (unsigned)(28 - 4 * i);
        digits[i] = ((e->mask >> shift) & 0xF) == 0xF ? hex[(e->tag >> shift) & 0xF] : 'x';
    }
    snprintf(out, 12, "(%.4s,%.4s)", digits, digits + 4);
}

static void print_entry(const RnDictEntry *e, const RnTag *queried)
{
    char tagbuf[12], vr1[3], vr2[3];
    if (queried)
        snprintf(tagbuf, sizeof tagbuf, "(%04X,%04X)", RN_TAG_GROUP(*queried),
                 RN_TAG_ELEMENT(*queried));
    else
        format_pattern(e, tagbuf);
    const char *vr = e->vr ? rn_vr_str(e->vr, vr1) : "-";
    printf("%s %s%s%s %s \"%s\" VM %s%s\n", tagbuf, vr, e->vr_alt ? "/" : "",
           e->vr_alt ? rn_vr_str(e->vr_alt, vr2) : "", e->keyword, e->name, e->vm,
           e->retired ? " (retired)" : "");
}

static void print_uid(const RnUidEntry *u)
{
    printf("%s %s \"%s\" %s", u->uid, *u->keyword ? u->keyword : "-", u->name, u->type);
    const RnTransferSyntax *ts = rn_transfer_syntax_find(u->uid);
    if (ts)
        printf(" (%s VR, %s endian%s%s%s)", ts->explicit_vr ? "explicit" : "implicit",
               ts->big_endian ? "big" : "little", ts->deflated ? ", deflated" : "",
               ts->encapsulated ? ", encapsulated" : "", ts->lossy ? ", lossy" : "");
    printf("\n");
}

int rn_cmd_dict(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        usage(stdout);
        return 0;
    }
    int status = 0;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        RnTag tag;
        if (parse_tag(arg, &tag) == 0) {
            const RnDictEntry *e = rn_dict_find_tag(tag);
            if (e) {
                print_entry(e, &tag);
                continue;
            }
        } else if (looks_like_uid(arg)) {
            const RnUidEntry *u = rn_uid_find(arg);
            if (u) {
                print_uid(u);
                continue;
            }
        } else {
            const RnDictEntry *e = rn_dict_find_keyword(arg);
            if (e) {
                print_entry(e, NULL);
                continue;
            }
            const RnUidEntry *u = rn_uid_find_keyword(arg);
            if (u) {
                print_uid(u);
                continue;
            }
        }
        fprintf(stderr, "radnode dict: unknown tag, keyword or UID '%s'\n", arg);
        status = 1;
    }
    return status;
}
