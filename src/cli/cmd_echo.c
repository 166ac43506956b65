/*
 * `radnode echo HOST PORT`: verifies a DICOM peer with C-ECHO (PS3.4 Annex A
 * Verification SOP class, PS3.7 9.1.5) over a fresh association.
 */
#include "cli/commands.h"
#include "radnode/net_cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(void)
{
    printf("usage: radnode echo [options] HOST PORT\n\n"
           "Sends C-ECHO to a DICOM peer and prints the status.\n\n"
           "options:\n  --repeat N          echoes on the same association (default 1)\n%s",
           rn_net_cli_usage());
}

int rn_cmd_echo(int argc, char **argv)
{
    RnNetCliOptions o;
    rn_net_cli_init(&o);
    RnError err = {0};
    const char *pos[2];
    int npos = 0, repeat = 1;
    for (int i = 1; i < argc; i++) {
        int r = rn_net_cli_option(&o, argc, argv, &i, &err);
        if (r < 0) {
            fprintf(stderr, "radnode echo: %s\n", err.message);
            return 2;
        }
        if (r)
            continue;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage();
            return 0;
        }
        if (!strcmp(argv[i], "--repeat") && i + 1 < argc) {
            repeat = atoi(argv[++i]);
            if (repeat < 1)
                repeat = 1;
            continue;
        }
        if (argv[i][0] == '-' || npos == 2) {
            usage();
            return 2;
        }
        pos[npos++] = argv[i];
    }
    int port;
    if (npos != 2 || rn_net_cli_port(pos[1], false, &port)) {
        usage();
        return 2;
    }
    RnTlsContext *tls = rn_net_cli_tls(&o, false, &err);
    if (!tls && o.tls) {
        fprintf(stderr, "radnode echo: %s\n", err.message);
        return 1;
    }
    RnScuOptions so;
    rn_net_cli_scu(&o, pos[0], port, tls, &so);
    RnAssocParams p = {0};
    const char *ts[] = {RN_UID_EXPLICIT_VR_LE, RN_UID_IMPLICIT_VR_LE};
    rn_assoc_params_add_context(&p, RN_UID_VERIFICATION, ts, 2, NULL);
    RnAssoc *a = rn_assoc_request(&so, &p, NULL, &err);
    rn_assoc_params_clear(&p);
    int rc = 1;
    if (!a) {
        fprintf(stderr, "radnode echo: %s\n", err.message);
        goto out;
    }
    for (int i = 0; i < repeat; i++) {
        uint16_t status = 0;
        double t0 = rn_time_now();
        if (rn_scu_echo(a, &status, &err)) {
            fprintf(stderr, "radnode echo: %s\n", err.message);
            rn_assoc_abort(a);
            a = NULL;
            goto out;
        }
        printf("C-ECHO %s:%d %s -> %s: status 0x%04X (%s) in %.1f ms\n", pos[0], port, o.aet,
               o.aec, status, rn_dimse_status_category(status), (rn_time_now() - t0) * 1000);
        if (status != RN_STATUS_SUCCESS) {
            rn_assoc_release(a, NULL);
            a = NULL;
            goto out;
        }
    }
    rc = rn_assoc_release(a, &err) ? 1 : 0;
    if (rc)
        fprintf(stderr, "radnode echo: release: %s\n", err.message);
out:
    rn_tls_context_destroy(tls);
    return rc;
}
