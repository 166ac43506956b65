/*
 * `radnode storescp --port P --dir D`: a plain Storage SCP (PS3.4 Annex B)
 * with Verification (Annex A). Every Storage SOP class of the UID registry is
 * accepted (plus any abstract syntax with --accept-any), in every transfer
 * syntax radnode knows; each instance is streamed to D/<SOPInstanceUID>.dcm
 * as a Part 10 file (PS3.10), fsync'ed before the C-STORE response. Runs
 * until SIGINT or SIGTERM, then shuts down gracefully.
 */
#include "cli/commands.h"
#include "radnode/net_cli.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(void)
{
    printf("usage: radnode storescp --port P --dir D [options]\n\n"
           "Receives DICOM instances and writes them as Part 10 files.\n\n"
           "options:\n"
           "  --port P              TCP port (0 = any free port, printed at start)\n"
           "  --dir D               output folder (created)\n"
           "  --bind ADDR           listen address (default 0.0.0.0)\n"
           "  --max-associations N  concurrent associations (default 32)\n"
           "  --accept-any          accept any abstract syntax (catch-all storage)\n"
           "  --require-called-ae   reject associations not addressed to --aet\n"
           "  --allow-aet AE        accept only these calling AE titles (repeatable)\n"
           "  --allow-host ADDR     accept only these peer addresses (repeatable)\n"
           "  --no-fsync            acknowledge before data reach the disk (unsafe)\n"
           "%s",
           rn_net_cli_usage());
}

#define LIST_MAX 64

int rn_cmd_storescp(int argc, char **argv)
{
    RnNetCliOptions o;
    rn_net_cli_init(&o);
    RnError err = {0};
    RnScpConfig cfg = {0};
    const char *dir = NULL;
    int port = -1;
    bool durable = true;
    const char *aets[LIST_MAX + 1] = {0}, *hosts[LIST_MAX + 1] = {0};
    int naets = 0, nhosts = 0;
    for (int i = 1; i < argc; i++) {
        int r = rn_net_cli_option(&o, argc, argv, &i, &err);
        if (r < 0) {
            fprintf(stderr, "radnode storescp: %s\n", err.message);
            return 2;
        }
        if (r)
            continue;
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage();
            return 0;
        } else if (!strcmp(a, "--port") && v) {
            if (rn_net_cli_port(v, true, &port)) {
                fprintf(stderr, "radnode storescp: bad port '%s'\n", v);
                return 2;
            }
            i++;
        } else if (!strcmp(a, "--dir") && v) {
            dir = v;
            i++;
        } else if (!strcmp(a, "--bind") && v) {
            cfg.bind_address = v;
            i++;
        } else if (!strcmp(a, "--max-associations") && v) {
            cfg.max_associations = atoi(v);
            if (cfg.max_associations < 1 || cfg.max_associations > 1024) {
                fprintf(stderr, "radnode storescp: --max-associations must be 1..1024\n");
                return 2;
            }
            i++;
        } else if (!strcmp(a, "--accept-any")) {
            cfg.accept_any_abstract = true;
        } else if (!strcmp(a, "--require-called-ae")) {
            cfg.require_called_ae = true;
        } else if (!strcmp(a, "--allow-aet") && v && naets < LIST_MAX) {
            aets[naets++] = v;
            i++;
        } else if (!strcmp(a, "--allow-host") && v && nhosts < LIST_MAX) {
            hosts[nhosts++] = v;
            i++;
        } else if (!strcmp(a, "--no-fsync")) {
            durable = false;
        } else {
            fprintf(stderr, "radnode storescp: unknown option '%s'\n", a);
            usage();
            return 2;
        }
    }
    if (port < 0 || !dir) {
        usage();
        return 2;
    }
    RnTlsContext *tls = rn_net_cli_tls(&o, true, &err);
    if (!tls && o.tls) {
        fprintf(stderr, "radnode storescp: %s\n", err.message);
        return 1;
    }
    RnStoreDir *sd = rn_store_dir_create(dir, o.aet, durable, &err);
    if (!sd) {
        fprintf(stderr, "radnode storescp: %s\n", err.message);
        rn_tls_context_destroy(tls);
        return 1;
    }
    cfg.ae_title = o.aet;
    cfg.port = port;
    cfg.max_pdu_length = o.max_pdu;
    cfg.timeouts = o.timeouts;
    cfg.allowed_calling_aes = naets ? aets : NULL;
    cfg.allowed_hosts = nhosts ? hosts : NULL;
    cfg.tls = tls;
    cfg.store = rn_store_dir_handler(sd);

    /* Signals are taken synchronously by this thread (sigwait), so no
     * handler and no global flag are needed; the pool threads inherit the mask. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    RnScp *scp = rn_scp_start(&cfg, &err);
    if (!scp) {
        fprintf(stderr, "radnode storescp: %s\n", err.message);
        rn_store_dir_destroy(sd);
        rn_tls_context_destroy(tls);
        return 1;
    }
    printf("radnode storescp: %s listening on port %d%s, writing to %s\n", o.aet,
           rn_scp_port(scp), tls ? " (TLS)" : "", dir);
    fflush(stdout);
    int sig = 0;
    sigwait(&set, &sig);
    rn_info("signal %d: shutting down", sig);
    RnScpStats st;
    rn_scp_stats(scp, &st);
    rn_scp_stop(scp);
    printf("radnode storescp: %llu associations, %llu stored, %llu failed, %llu rejected, "
           "%llu aborted\n",
           (unsigned long long)st.associations, (unsigned long long)st.stored,
           (unsigned long long)st.store_failures, (unsigned long long)st.rejected,
           (unsigned long long)st.aborted);
    rn_store_dir_destroy(sd);
    rn_tls_context_destroy(tls);
    return 0;
}
