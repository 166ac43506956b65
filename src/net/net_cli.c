/*
 * Shared command-line options of the network subcommands (see net_cli.h):
 * AE titles (PS3.8 7.1.1.4), timeouts for ARTIM (PS3.8 9.1.5), DIMSE and the
 * network, the maximum PDU length (PS3.8 D.1), and DICOM TLS (PS3.15 B.12).
 */
#include "radnode/net_cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void rn_net_cli_init(RnNetCliOptions *o)
{
    memset(o, 0, sizeof *o);
    o->aet = "RADNODE";
    o->aec = "ANY-SCP";
}

static int parse_seconds(const char *s, int *ms)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || v < 0 || v > 86400)
        return -1;
    *ms = (int)(v * 1000);
    return 0;
}

int rn_net_cli_port(const char *s, bool allow_zero, int *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (end == s || *end || v < (allow_zero ? 0 : 1) || v > 65535)
        return -1;
    *out = (int)v;
    return 0;
}

int rn_net_cli_option(RnNetCliOptions *o, int argc, char **argv, int *i, RnError *err)
{
    const char *a = argv[*i];
    const char *v = *i + 1 < argc ? argv[*i + 1] : NULL;
#define NEED_VALUE()                                                                            \
    do {                                                                                        \
        if (!v)                                                                                 \
            return rn_error_set(err, RN_ERR_INVALID, "%s needs a value", a);                    \
        (*i)++;                                                                                 \
    } while (0)
    if (!strcmp(a, "--aet") || !strcmp(a, "-aet")) {
        NEED_VALUE();
        if (strlen(v) > RN_AE_MAX || !v[0])
            return rn_error_set(err, RN_ERR_INVALID, "AE title '%s' not 1-16 characters", v);
        o->aet = v;
    } else if (!strcmp(a, "--aec") || !strcmp(a, "-aec")) {
        NEED_VALUE();
        if (strlen(v) > RN_AE_MAX || !v[0])
            return rn_error_set(err, RN_ERR_INVALID, "AE title '%s' not 1-16 characters", v);
        o->aec = v;
    } else if (!strcmp(a, "--timeout")) {
        NEED_VALUE();
        if (parse_seconds(v, &o->timeouts.network_ms))
            return rn_error_set(err, RN_ERR_INVALID, "bad --timeout '%s'", v);
    } else if (!strcmp(a, "--dimse-timeout")) {
        NEED_VALUE();
        if (parse_seconds(v, &o->timeouts.dimse_ms))
            return rn_error_set(err, RN_ERR_INVALID, "bad --dimse-timeout '%s'", v);
        if (o->timeouts.dimse_ms == 0)
            o->timeouts.dimse_ms = -1; /* 0 on the command line: no timeout */
    } else if (!strcmp(a, "--artim-timeout")) {
        NEED_VALUE();
        if (parse_seconds(v, &o->timeouts.artim_ms))
            return rn_error_set(err, RN_ERR_INVALID, "bad --artim-timeout '%s'", v);
    } else if (!strcmp(a, "--max-pdu")) {
        NEED_VALUE();
        char *end;
        unsigned long n = strtoul(v, &end, 10);
        if (*end || n < RN_PDU_MIN || n > (1u << 24))
            return rn_error_set(err, RN_ERR_INVALID, "--max-pdu must be %d..16777216",
                                RN_PDU_MIN);
        o->max_pdu = (uint32_t)n;
    } else if (!strcmp(a, "--tls")) {
        o->tls = true;
    } else if (!strcmp(a, "--tls-cert")) {
        NEED_VALUE();
        o->tls = true;
        o->tls_cfg.cert_file = v;
    } else if (!strcmp(a, "--tls-key")) {
        NEED_VALUE();
        o->tls = true;
        o->tls_cfg.key_file = v;
    } else if (!strcmp(a, "--tls-ca")) {
        NEED_VALUE();
        o->tls = true;
        o->tls_cfg.ca_file = v;
        o->tls_cfg.verify_peer = true;
    } else if (!strcmp(a, "--tls-no-verify")) {
        o->tls_cfg.verify_peer = false;
    } else if (!strcmp(a, "--tls-ciphers")) {
        NEED_VALUE();
        o->tls_cfg.ciphers = v;
    } else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
        o->verbose = true;
        rn_log_set_level(RN_LOG_DEBUG);
    } else {
        return 0;
    }
#undef NEED_VALUE
    return 1;
}

const char *rn_net_cli_usage(void)
{
    return "  --aet AE            our AE title (default RADNODE)\n"
           "  --aec AE            the peer's AE title (default ANY-SCP)\n"
           "  --timeout S         connect/network timeout in seconds (default 30)\n"
           "  --dimse-timeout S   wait for a DIMSE message (default 60, 0 = forever)\n"
           "  --artim-timeout S   ARTIM timer (default 30)\n"
           "  --max-pdu N         maximum P-DATA-TF length we receive (default 262144)\n"
           "  --tls               DICOM TLS (PS3.15 B.12)\n"
           "  --tls-cert F --tls-key F   our certificate and key (PEM)\n"
           "  --tls-ca F          trust anchors; verifies the peer (mutual authentication)\n"
           "  --tls-no-verify     do not verify the peer's certificate\n"
           "  -v, --verbose       debug logging\n";
}

RnTlsContext *rn_net_cli_tls(const RnNetCliOptions *o, bool server, RnError *err)
{
    if (!o->tls)
        return NULL;
    return rn_tls_context_create(&o->tls_cfg, server, err);
}

bool rn_net_cli_query_arg(int argc, char **argv, int *i, const char *pos[2], int *npos,
                          const char **level, bool *patient_root, char **keys, size_t *nkeys)
{
    const char *a = argv[*i], *v = *i + 1 < argc ? argv[*i + 1] : NULL;
    if (!strcmp(a, "--patient") || !strcmp(a, "--study")) {
        *patient_root = !strcmp(a, "--patient");
    } else if ((!strcmp(a, "-L") || !strcmp(a, "--level")) && v) {
        *level = v;
        (*i)++;
    } else if ((!strcmp(a, "-k") || !strcmp(a, "--key")) && v) {
        keys[(*nkeys)++] = argv[++(*i)];
    } else if (a[0] != '-' && *npos < 2) {
        pos[(*npos)++] = a;
    } else {
        return false;
    }
    return true;
}

RnAssoc *rn_net_cli_open_query(const char *cmd, const RnScuOptions *so, RnAssocParams *p,
                               const char *model, const char *level, char *const *keys,
                               size_t nkeys, uint8_t *pc, RnBuf *id)
{
    RnError err = {0};
    RnAssoc *a = rn_assoc_request(so, p, NULL, &err);
    if (!a) {
        fprintf(stderr, "radnode %s: %s\n", cmd, err.message);
        return NULL;
    }
    *pc = rn_assoc_find_context(a, model, NULL);
    if (!*pc) {
        fprintf(stderr, "radnode %s: peer did not accept %s\n", cmd, model);
        rn_assoc_abort(a);
        return NULL;
    }
    if (rn_net_cli_identifier(level, keys, nkeys, rn_assoc_context_ts(a, *pc), id, &err)) {
        fprintf(stderr, "radnode %s: %s\n", cmd, err.message);
        rn_assoc_abort(a);
        return NULL;
    }
    return a;
}

void rn_net_cli_scu(const RnNetCliOptions *o, const char *host, int port, RnTlsContext *tls,
                    RnScuOptions *out)
{
    memset(out, 0, sizeof *out);
    out->host = host;
    out->port = port;
    out->calling_ae = o->aet;
    out->called_ae = o->aec;
    out->max_pdu_length = o->max_pdu;
    out->timeouts = o->timeouts;
    out->tls = tls;
}

static int parse_tag(const char *s, size_t n, RnTag *tag)
{
    unsigned g, e;
    char buf[16];
    if (n != 9 || n >= sizeof buf)
        return -1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    if (sscanf(buf, "%4x,%4x", &g, &e) != 2)
        return -1;
    *tag = RN_TAG(g, e);
    return 0;
}

int rn_net_cli_identifier(const char *level, char *const *keys, size_t nkeys, const char *ts,
                          RnBuf *out, RnError *err)
{
    RnDataset *ds = rn_dataset_create();
    if (!ds)
        return rn_error_set(err, RN_ERR_NOMEM, "out of memory");
    int rc = rn_dataset_set_string(ds, RN_TAG_QueryRetrieveLevel, RN_VR_CS, level, err);
    for (size_t i = 0; !rc && i < nkeys; i++) {
        const char *k = keys[i];
        const char *eq = strchr(k, '=');
        size_t n = eq ? (size_t)(eq - k) : strlen(k);
        RnTag tag;
        if (parse_tag(k, n, &tag) != 0) {
            char name[128];
            if (n >= sizeof name) {
                rc = rn_error_set(err, RN_ERR_INVALID, "bad key '%s'", k);
                break;
            }
            memcpy(name, k, n);
            name[n] = '\0';
            const RnDictEntry *de = rn_dict_find_keyword(name);
            if (!de) {
                rc = rn_error_set(err, RN_ERR_INVALID, "unknown keyword '%s'", name);
                break;
            }
            tag = de->tag;
        }
        const RnDictEntry *de = rn_dict_find_tag(tag);
        if (de && de->vr == RN_VR_SQ)
            rc = rn_dataset_set_sequence(ds, tag, err);
        else
            rc = rn_dataset_set_string(ds, tag, 0, eq ? eq + 1 : "", err);
    }
    if (!rc)
        rc = rn_dataset_write(ds, ts, out, err);
    rn_dataset_destroy(ds);
    return rc;
}

int rn_net_cli_print_identifier(const uint8_t *data, size_t len, const char *ts, RnError *err)
{
    RnDataset *ds = rn_dataset_read(data, len, ts, err);
    if (!ds)
        return err ? err->code : RN_ERR_PARSE;
    for (size_t i = 0; i < rn_dataset_count(ds); i++) {
        const RnElement *el = rn_dataset_at(ds, i);
        RnTag tag = rn_element_tag(el);
        const RnDictEntry *de = rn_dict_find_tag(tag);
        char *v = rn_element_vr(el) == RN_VR_SQ ? NULL : rn_dataset_get_string_all(ds, tag, NULL);
        printf("  %s (%04X,%04X): %s\n", de ? de->keyword : "?", RN_TAG_GROUP(tag),
               RN_TAG_ELEMENT(tag), v ? v : (rn_element_vr(el) == RN_VR_SQ ? "(sequence)" : ""));
        free(v);
    }
    rn_dataset_destroy(ds);
    return 0;
}
