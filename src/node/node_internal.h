/*
 * Private state of a running node, shared by serve.c (ingest, assembly,
 * workers, exporters) and http.c (the status API).
 */
#ifndef RN_NODE_INTERNAL_H
#define RN_NODE_INTERNAL_H

#include "radnode/audit.h"
#include "radnode/net.h"
#include "radnode/node.h"

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>

struct NodeHttp;

typedef struct Node {
    RnNodeConfig cfg;          /* routes and destinations guarded by cfg_lock */
    pthread_mutex_t cfg_lock;
    RnStore *store;            /* thread-safe itself */
    RnScp *scp;
    atomic_bool stop;
    pthread_mutex_t wake_lock; /* with wake: lets sleeping threads see `stop` at once */
    pthread_cond_t wake;
    pthread_t assembler, exporter;
    pthread_t *workers;
    int worker_count;
    bool threads_started;
    char self_exe[PATH_MAX];
    struct NodeHttp *http; /* the operator API (http.c) */
    int http_port;
    double started;
    /* Issue 9 (audit_dicom.c): the node's PS3.15 A.5 audit trail, which the
     * HTTP API borrows, and the DICOM TLS contexts ([security]); set before
     * any thread starts, read-only after. */
    RnAuditTrail *audit;
    RnTlsContext *tls_server, *tls_client;
    double retention_last; /* retention.c: time of the last sweep (assembler thread only) */
} Node;

void node_sleep(Node *n, double seconds);
int node_http_start(Node *n, RnError *err);
void node_http_stop(Node *n);

/* Priors (priors.c): the prior an analysis job's analyzer asks for
 * (RnPriorRule), from the store or, with [priors] fetch, from the PACS; false
 * when there is none (the job runs without). out: the prior series folder. */
bool node_priors_for_job(Node *n, const RnJob *job, char *out, size_t size);
/* True (and logged) for a study the node fetched as a prior: it is not routed. */
bool node_priors_fetched(Node *n, const char *study_uid);

/* Retention (retention.c): one sweep when due (called by the assembler). */
void node_retention_tick(Node *n);
/* True (and logged) for a re-sent copy of a study whose inputs retention
 * deleted after its results were delivered: it is not analysed again. */
bool node_retention_resent(Node *n, const char *study_uid);

#endif
