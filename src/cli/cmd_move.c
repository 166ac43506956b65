/*
 * `radnode move HOST PORT --dest AE -k KEY...`: C-MOVE SCU (PS3.4 C.4.2) in the
 * Patient Root or Study Root Query/Retrieve information model: the peer sends
 * the matching instances to AE --dest with C-STORE sub-operations; prints the
 * sub-operation counts of each response.
 */
#include "cli/commands.h"
#include "radnode/net_cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct MoveState {
    RnDimseCommand last;
} MoveState;

static int on_response(void *user, const RnDimseCommand *rsp, const uint8_t *id, size_t len,
                       const char *ts)
{
    MoveState *s = user;
    (void)id, (void)len, (void)ts;
    s->last = *rsp;
    printf("C-MOVE-RSP status 0x%04X: %u remaining, %u completed, %u failed, %u warning\n",
           rsp->status, rsp->remaining, rsp->completed, rsp->failed, rsp->warning);
    return 0;
}

static void usage(void)
{
    printf("usage: radnode move [options] HOST PORT --dest AE -k KEY=VALUE...\n\n"
           "C-MOVE retrieve of the matching instances to AE (known to the peer).\n\n"
           "options:\n"
           "  --patient           Patient Root model (default Study Root)\n"
           "  -L, --level LEVEL   PATIENT, STUDY (default), SERIES or IMAGE\n"
           "  -k, --key KEY=VAL   matching key (repeatable)\n"
           "  --dest AE           move destination AE title (required)\n%s",
           rn_net_cli_usage());
}

int rn_cmd_move(int argc, char **argv)
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
    MoveState st = {0};
    const char *dest = NULL;
    if (!keys)
        return 1;
    for (int i = 1; i < argc; i++) {
        int r = rn_net_cli_option(&o, argc, argv, &i, &err);
        if (r < 0) {
            fprintf(stderr, "radnode move: %s\n", err.message);
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
        } else if (!strcmp(a, "--dest") && v) {
            dest = v;
            i++;
        } else {
            fprintf(stderr, "radnode move: bad argument '%s'\n", a);
            free(keys);
            return 2;
        }
    }
    int port;
    if (npos != 2 || rn_net_cli_port(pos[1], false, &port) || !dest) {
        usage();
        free(keys);
        return 2;
    }
    const char *model = patient_root ? RN_UID_PATIENT_ROOT_MOVE : RN_UID_STUDY_ROOT_MOVE;
    RnTlsContext *tls = rn_net_cli_tls(&o, false, &err);
    int rc = 1;
    RnAssoc *a = NULL;
    RnBuf id = {0};
    if (!tls && o.tls) {
        fprintf(stderr, "radnode move: %s\n", err.message);
        goto out;
    }
    RnScuOptions so;
    rn_net_cli_scu(&o, pos[0], port, tls, &so);
    RnAssocParams p = {0};
    const char *ts[] = {RN_UID_EXPLICIT_VR_LE, RN_UID_IMPLICIT_VR_LE};
    rn_assoc_params_add_context(&p, model, ts, 2, NULL);
    uint8_t pc = 0;
    a = rn_net_cli_open_query("move", &so, &p, model, level, keys, nkeys, &pc, &id);
    rn_assoc_params_clear(&p);
    if (!a)
        goto out;
    uint16_t status = 0;
    if (rn_scu_move(a, model, dest, id.data, id.len, NULL, on_response, &st, &status, &err)) {
        fprintf(stderr, "radnode move: %s\n", err.message);
        goto out;
    }
    printf("C-MOVE to %s: final status 0x%04X (%s), %u completed, %u failed, %u warning\n", dest,
           status, rn_dimse_status_category(status), st.last.completed, st.last.failed,
           st.last.warning);
    rc = status == RN_STATUS_SUCCESS ? 0 : 1;
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
