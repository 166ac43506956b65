/*
 * `radnode find HOST PORT -k KEY...`: C-FIND SCU (PS3.4 C.4.1) in the
 * Patient Root or Study Root Query/Retrieve information model, at any level;
 * prints each pending response's identifier.
 */
#include "cli/commands.h"
#include "radnode/net_cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct FindState {
    size_t matches;
    size_t limit;
} FindState;

static int on_response(void *user, const RnDimseCommand *rsp, const uint8_t *id, size_t len,
                       const char *ts)
{
    FindState *s = user;
    if (rsp->status != RN_STATUS_PENDING && rsp->status != RN_STATUS_PENDING_WARNING)
        return 0;
    s->matches++;
    printf("match %zu\n", s->matches);
    RnError err = {0};
    if (id && rn_net_cli_print_identifier(id, len, ts, &err))
        printf("  (unreadable identifier: %s)\n", err.message);
    return s->limit && s->matches >= s->limit; /* nonzero: C-CANCEL */
}

static void usage(void)
{
    printf("usage: radnode find [options] HOST PORT -k KEY[=VALUE]...\n\n"
           "C-FIND query. KEY is a keyword or gggg,eeee; without =VALUE a return key.\n\n"
           "options:\n"
           "  --patient           Patient Root model (default Study Root)\n"
           "  -L, --level LEVEL   PATIENT, STUDY (default), SERIES or IMAGE\n"
           "  -k, --key KEY=VAL   matching or return key (repeatable)\n"
           "  --limit N           cancel (C-CANCEL) after N matches\n%s",
           rn_net_cli_usage());
}

int rn_cmd_find(int argc, char **argv)
{
    RnNetCliOptions o;
    rn_net_cli_init(&o);
    RnError err = {0};
    const char *pos[2];
    int npos = 0;
    const char *level = "STUDY";
    bool patient_root = false;
    char **keys = rn_calloc((size_t)argc, sizeof *keys);
    size_t nkeys = 0;
    FindState st = {0};
    if (!keys)
        return 1;
    for (int i = 1; i < argc; i++) {
        int r = rn_net_cli_option(&o, argc, argv, &i, &err);
        if (r < 0) {
            fprintf(stderr, "radnode find: %s\n", err.message);
            free(keys);
            return 2;
        }
        if (r)
            continue;
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage();
            free(keys);
            return 0;
        } else if (rn_net_cli_query_arg(argc, argv, &i, pos, &npos, &level, &patient_root, keys,
                                        &nkeys)) {
            continue;
        } else if (!strcmp(a, "--limit") && v) {
            st.limit = (size_t)atol(v);
            i++;
        } else {
            fprintf(stderr, "radnode find: bad argument '%s'\n", a);
            free(keys);
            return 2;
        }
    }
    int port;
    if (npos != 2 || rn_net_cli_port(pos[1], false, &port)) {
        usage();
        free(keys);
        return 2;
    }
    const char *model = patient_root ? RN_UID_PATIENT_ROOT_FIND : RN_UID_STUDY_ROOT_FIND;
    RnTlsContext *tls = rn_net_cli_tls(&o, false, &err);
    int rc = 1;
    RnAssoc *a = NULL;
    RnBuf id = {0};
    if (!tls && o.tls) {
        fprintf(stderr, "radnode find: %s\n", err.message);
        goto out;
    }
    RnScuOptions so;
    rn_net_cli_scu(&o, pos[0], port, tls, &so);
    RnAssocParams p = {0};
    const char *ts[] = {RN_UID_EXPLICIT_VR_LE, RN_UID_IMPLICIT_VR_LE};
    rn_assoc_params_add_context(&p, model, ts, 2, NULL);
    uint8_t pc = 0;
    a = rn_net_cli_open_query("find", &so, &p, model, level, keys, nkeys, &pc, &id);
    rn_assoc_params_clear(&p);
    if (!a)
        goto out;
    uint16_t status = 0;
    if (rn_scu_find(a, model, id.data, id.len, NULL, on_response, &st, &status, &err)) {
        fprintf(stderr, "radnode find: %s\n", err.message);
        goto out;
    }
    printf("C-FIND: %zu matches, final status 0x%04X (%s)\n", st.matches, status,
           rn_dimse_status_category(status));
    rc = (status == RN_STATUS_SUCCESS || status == RN_STATUS_CANCEL) ? 0 : 1;
    rn_assoc_release(a, NULL);
    a = NULL;
out:
    if (a)
        rn_assoc_abort(a);
    rn_buf_free(&id);
    rn_tls_context_destroy(tls);
    free(keys);
    return rc;
}
