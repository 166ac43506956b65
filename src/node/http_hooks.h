/*
 * What serve.c may call on the operator HTTP API besides node_http_start and
 * node_http_stop (node_internal.h). All are safe to call from any thread and
 * do nothing when the API is not running (http_port = 0).
 */
#ifndef RN_NODE_HTTP_HOOKS_H
#define RN_NODE_HTTP_HOOKS_H

#include "node/node_internal.h"
#include "radnode/audit.h"

/* The node's PS3.15 A.5 audit trail (Node.audit, owned by serve.c through
 * audit_dicom.c; the API borrows it for logins, refusals, config views and
 * retries). Kept for callers written before the node owned it; the same as
 * n->audit, also when the API is off. */
RnAuditTrail *node_http_audit_trail(Node *n);

/* "https" when the API runs with TLS, else "http" (for the start-up line). */
const char *node_http_scheme(Node *n);

/* One finished analysis attempt (worker_main, around run_analysis): feeds
 * radnode_analysis_duration_seconds{analyzer} in /metrics. */
void node_http_observe_analysis(Node *n, const char *analyzer, double seconds, bool ok);

#endif
