/*
 * `radnode get HOST PORT --dir D -k KEY...`: C-GET SCU (PS3.4 C.4.3). The
 * association proposes the Get model plus Storage SOP classes with SCP/SCU
 * role selection (PS3.7 D.3.3.4) so that the peer's C-STORE sub-operations
 * come back on the same association; each instance is written to D as a
 * Part 10 file by the same streaming writer as `radnode storescp`.
 */
#include "cli/commands.h"
#include "radnode/net_cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct GetState {
    RnDimseCommand last;
} GetState;

static int on_response(void *user, const RnDimseCommand *rsp, const uint8_t *id, size_t len,
                       const char *ts)
{
    GetState *s = user;
    (void)id, (void)len, (void)ts;
    s->last = *rsp;
    printf("C-GET-RSP status 0x%04X: %u remaining, %u completed, %u failed, %u warning\n",
           rsp->status, rsp->remaining, rsp->completed, rsp->failed, rsp->warning);
    return 0;
}

/* Classes proposed first; the registry's other storage classes fill the rest
 * of the 128 contexts. */
static const char *const common_classes[] = {
    "1.2.840.10008.5.1.4.1.1.2",   "1.2.840.10008.5.1.4.1.1.2.1", "1.2.840.10008.5.1.4.1.1.4",
    "1.2.840.10008.5.1.4.1.1.4.1", "1.2.840.10008.5.1.4.1.1.7",   "1.2.840.10008.5.1.4.1.1.1",
    "1.2.840.10008.5.1.4.1.1.1.1", "1.2.840.10008.5.1.4.1.1.1.2", "1.2.840.10008.5.1.4.1.1.6.1",
    "1.2.840.10008.5.1.4.1.1.12.1", "1.2.840.10008.5.1.4.1.1.20", "1.2.840.10008.5.1.4.1.1.128",
    "1.2.840.10008.5.1.4.1.1.88.11", "1.2.840.10008.5.1.4.1.1.88.22",
    "1.2.840.10008.5.1.4.1.1.88.33", "1.2.840.10008.5.1.4.1.1.66.4",
    "1.2.840.10008.5.1.4.1.1.481.1", "1.2.840.10008.5.1.4.1.1.481.2",
    "1.2.840.10008.5.1.4.1.1.481.3", "1.2.840.10008.5.1.4.1.1.481.5",
    "1.2.840.10008.5.1.4.1.1.7.4",  "1.2.840.10008.5.1.4.1.1.104.1",
};

static bool proposed(const RnAssocParams *p, const char *uid)
{
    for (size_t i = 0; i < p->context_count; i++)
        if (!strcmp(p->contexts[i].abstract_syntax, uid))
            return true;
    return false;
}

static void add_storage(RnAssocParams *p, const char *uid)
{
    const char *ts[RN_PC_TS_MAX];
    size_t n = 0;
    const char *t;
    while (n < RN_PC_TS_MAX && (t = rn_net_transfer_syntax_at(n)) != NULL)
        ts[n++] = t;
    if (p->context_count < RN_PC_MAX && !proposed(p, uid) &&
        rn_assoc_params_add_context(p, uid, ts, n, NULL) > 0)
        rn_assoc_params_add_role(p, uid, false, true, NULL);
}

static void usage(void)
{
    printf("usage: radnode get [options] HOST PORT --dir D -k KEY=VALUE...\n\n"
           "C-GET retrieve; the instances are written to D as Part 10 files.\n\n"
           "options:\n"
           "  --patient           Patient Root model (default Study Root)\n"
           "  -L, --level LEVEL   PATIENT, STUDY (default), SERIES or IMAGE\n"
           "  -k, --key KEY=VAL   matching key (repeatable)\n"
           "  --dir D             output folder\n"
           "  --sop-class UID     also propose this storage class (repeatable)\n%s",
           rn_net_cli_usage());
}

int rn_cmd_get(int argc, char **argv)
{
    RnNetCliOptions o;
    rn_net_cli_init(&o);
    RnError err = {0};
    const char *pos[2];
    int npos = 0;
    const char *level = "STUDY", *dir = NULL;
    bool patient_root = false;
    char **keys = rn_calloc((size_t)argc, sizeof *keys);
    char **extra = rn_calloc((size_t)argc, sizeof *extra);
    size_t nkeys = 0, nextra = 0;
    GetState st = {0};
    if (!keys || !extra) {
        free(keys);
        free(extra);
        return 1;
    }
    int rc = 2;
    for (int i = 1; i < argc; i++) {
        int r = rn_net_cli_option(&o, argc, argv, &i, &err);
        if (r < 0) {
            fprintf(stderr, "radnode get: %s\n", err.message);
            goto done_args;
        }
        if (r)
            continue;
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage();
            rc = 0;
            goto done_args;
        } else if (rn_net_cli_query_arg(argc, argv, &i, pos, &npos, &level, &patient_root, keys,
                                        &nkeys)) {
            continue;
        } else if (!strcmp(a, "--dir") && v) {
            dir = v;
            i++;
        } else if (!strcmp(a, "--sop-class") && v) {
            extra[nextra++] = argv[++i];
        } else {
            fprintf(stderr, "radnode get: bad argument '%s'\n", a);
            goto done_args;
        }
    }
    int port;
    if (npos != 2 || rn_net_cli_port(pos[1], false, &port) || !dir) {
        usage();
        goto done_args;
    }
    rc = 1;
    const char *model = patient_root ? RN_UID_PATIENT_ROOT_GET : RN_UID_STUDY_ROOT_GET;
    RnTlsContext *tls = rn_net_cli_tls(&o, false, &err);
    RnAssoc *a = NULL;
    RnBuf id = {0};
    RnStoreDir *sd = NULL;
    if (!tls && o.tls) {
        fprintf(stderr, "radnode get: %s\n", err.message);
        goto out;
    }
    if (!(sd = rn_store_dir_create(dir, o.aet, true, &err))) {
        fprintf(stderr, "radnode get: %s\n", err.message);
        goto out;
    }
    RnScuOptions so;
    rn_net_cli_scu(&o, pos[0], port, tls, &so);
    RnAssocParams p = {0};
    const char *ts[] = {RN_UID_EXPLICIT_VR_LE, RN_UID_IMPLICIT_VR_LE};
    rn_assoc_params_add_context(&p, model, ts, 2, NULL);
    for (size_t i = 0; i < nextra; i++)
        add_storage(&p, extra[i]);
    for (size_t i = 0; i < sizeof common_classes / sizeof common_classes[0]; i++)
        add_storage(&p, common_classes[i]);
    const char *uid;
    for (size_t i = 0; p.context_count < RN_PC_MAX && (uid = rn_net_storage_class_at(i)); i++)
        add_storage(&p, uid);
    uint8_t pc = 0;
    a = rn_net_cli_open_query("get", &so, &p, model, level, keys, nkeys, &pc, &id);
    rn_assoc_params_clear(&p);
    if (!a)
        goto out;
    RnStoreHandler h = rn_store_dir_handler(sd);
    uint16_t status = 0;
    if (rn_scu_get(a, model, id.data, id.len, NULL, &h, on_response, &st, &status, &err)) {
        fprintf(stderr, "radnode get: %s\n", err.message);
        goto out;
    }
    printf("C-GET: final status 0x%04X (%s), %u completed, %u failed, %u warning\n", status,
           rn_dimse_status_category(status), st.last.completed, st.last.failed, st.last.warning);
    rc = status == RN_STATUS_SUCCESS ? 0 : 1;
    rn_assoc_release(a, NULL);
    a = NULL;
out:
    if (a)
        rn_assoc_abort(a);
    rn_buf_free(&id);
    rn_store_dir_destroy(sd);
    rn_tls_context_destroy(tls);
done_args:
    free(keys);
    free(extra);
    return rc;
}
