/*
 * Private state of a running node, shared by serve.c (ingest, assembly,
 * workers, exporters) and http.c (the status API).
 */
#ifndef RN_NODE_INTERNAL_H
#define RN_NODE_INTERNAL_H

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
} Node;

void node_sleep(Node *n, double seconds);
int node_http_start(Node *n, RnError *err);
void node_http_stop(Node *n);

#endif
