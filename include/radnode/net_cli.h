/*
 * Command-line options shared by the network subcommands of radnode (echo,
 * send, find, move, get, storescp): AE titles, timeouts, maximum PDU length
 * and DICOM TLS (PS3.15 B.12) settings, parsed the same way everywhere.
 */
#ifndef RADNODE_NET_CLI_H
#define RADNODE_NET_CLI_H

#include "radnode/net.h"

typedef struct RnNetCliOptions {
    const char *aet;         /* our AE title (--aet) */
    const char *aec;         /* the peer's AE title (--aec) */
    RnAssocTimeouts timeouts;
    uint32_t max_pdu;
    bool tls;
    RnTlsConfig tls_cfg;
    bool verbose;
} RnNetCliOptions;

void rn_net_cli_init(RnNetCliOptions *o);
/* Consumes a shared option at argv[*i] (and its value, advancing *i): returns
 * 1 when consumed, 0 when not a shared option, negative on a bad value. */
int rn_net_cli_option(RnNetCliOptions *o, int argc, char **argv, int *i, RnError *err);
/* Help text for the shared options. */
const char *rn_net_cli_usage(void);
/* The TLS context the options ask for, or NULL without error when TLS is off
 * (check err->code). */
RnTlsContext *rn_net_cli_tls(const RnNetCliOptions *o, bool server, RnError *err);
void rn_net_cli_scu(const RnNetCliOptions *o, const char *host, int port, RnTlsContext *tls,
                    RnScuOptions *out);
/* Parses a TCP port (1..65535; 0 allowed when allow_zero). */
int rn_net_cli_port(const char *s, bool allow_zero, int *out);

/* Query identifiers for C-FIND/C-MOVE/C-GET (PS3.4 C.4): level (PATIENT,
 * STUDY, SERIES, IMAGE) and keys "Keyword=value", "gggg,eeee=value" or a bare
 * keyword (a return key), encoded in transfer syntax ts. */
int rn_net_cli_identifier(const char *level, char *const *keys, size_t nkeys, const char *ts,
                          RnBuf *out, RnError *err);
/* Consumes an argument every query/retrieve command shares: --patient or
 * --study (information model), -L/--level LEVEL, -k/--key KEY=VALUE (appended
 * to keys, which has room for argc entries) and the positional HOST PORT
 * (into pos[2]). Returns true when argv[*i] was one of them (*i advanced past
 * a value it took). */
bool rn_net_cli_query_arg(int argc, char **argv, int *i, const char *pos[2], int *npos,
                          const char **level, bool *patient_root, char **keys, size_t *nkeys);
/* The common start of find, move and get: requests an association proposing
 * the contexts of p (the model's first), checks the model was accepted and
 * encodes the identifier in its transfer syntax. Errors are printed as
 * "radnode CMD: ..."; returns NULL then. *pc gets the model's context. */
RnAssoc *rn_net_cli_open_query(const char *cmd, const RnScuOptions *so, RnAssocParams *p,
                               const char *model, const char *level, char *const *keys,
                               size_t nkeys, uint8_t *pc, RnBuf *id);
/* Prints an identifier, one "  Keyword (gggg,eeee): value" line per element. */
int rn_net_cli_print_identifier(const uint8_t *data, size_t len, const char *ts, RnError *err);

#endif
