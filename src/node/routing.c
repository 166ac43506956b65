/*
 * Routing rules: a route matches a series when every one of its conditions
 * holds on the attributes the index keeps for it (Modality, Body Part
 * Examined, Series/Study Description, Slice Thickness, SOP Class UID, the
 * calling AE title). Text comparisons ignore case and surrounding spaces, as
 * modalities fill these attributes inconsistently.
 */
#include "radnode/node.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *attribute_text(const RnInstanceInfo *info, const char *attr, bool *known)
{
    *known = true;
    if (!strcasecmp(attr, "Modality"))
        return info->modality;
    if (!strcasecmp(attr, "BodyPartExamined"))
        return info->body_part;
    if (!strcasecmp(attr, "SeriesDescription"))
        return info->series_description;
    if (!strcasecmp(attr, "StudyDescription"))
        return info->study_description;
    if (!strcasecmp(attr, "SOPClassUID"))
        return info->sop_class_uid;
    if (!strcasecmp(attr, "CallingAE"))
        return info->calling_ae;
    if (!strcasecmp(attr, "PatientSex"))
        return info->patient_sex;
    if (!strcasecmp(attr, "TransferSyntaxUID"))
        return info->transfer_syntax;
    *known = false;
    return "";
}

static bool contains_ci(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    if (n == 0)
        return true;
    for (; *hay; hay++)
        if (!strncasecmp(hay, needle, n))
            return true;
    return false;
}

static bool in_list(const char *v, const char *list)
{
    const char *p = list;
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        while (len > 0 && isspace((unsigned char)*p)) {
            p++;
            len--;
        }
        while (len > 0 && isspace((unsigned char)p[len - 1]))
            len--;
        if (len == strlen(v) && !strncasecmp(p, v, len))
            return true;
        if (!comma)
            break;
        p = comma + 1;
    }
    return false;
}

static bool condition_holds(const RnRouteCondition *c, const RnInstanceInfo *info)
{
    bool known;
    if (!strcasecmp(c->attribute, "SliceThickness")) {
        double v = info->slice_thickness;
        if (c->op == RN_OP_PRESENT)
            return v > 0;
        if (v <= 0)
            return false; /* absent thickness never satisfies a numeric rule */
        double x = strtod(c->value, NULL);
        switch (c->op) {
        case RN_OP_LT: return v < x;
        case RN_OP_LE: return v <= x;
        case RN_OP_GT: return v > x;
        case RN_OP_GE: return v >= x;
        case RN_OP_EQ: return v == x;
        case RN_OP_NE: return v != x;
        default: return false;
        }
    }
    const char *v = attribute_text(info, c->attribute, &known);
    if (!known)
        return false;
    switch (c->op) {
    case RN_OP_EQ: return !strcasecmp(v, c->value);
    case RN_OP_NE: return strcasecmp(v, c->value) != 0;
    case RN_OP_IN: return in_list(v, c->value);
    case RN_OP_CONTAINS: return contains_ci(v, c->value);
    case RN_OP_PRESENT: return v[0] != '\0';
    default: {
        /* Numeric comparison of a text attribute. */
        char *end;
        double a = strtod(v, &end);
        if (end == v)
            return false;
        double x = strtod(c->value, NULL);
        return c->op == RN_OP_LT ? a < x : c->op == RN_OP_LE ? a <= x : c->op == RN_OP_GT ? a > x
                                                                                        : a >= x;
    }
    }
}

bool rn_route_matches(const RnRoute *route, const RnInstanceInfo *info)
{
    for (int i = 0; i < route->condition_count; i++)
        if (!condition_holds(&route->conditions[i], info))
            return false;
    return true;
}
