/*
 * The node's audit trail and DICOM security (issue 9), implemented in
 * audit_dicom.c: what serve.c calls. The node owns one PS3.15 A.5 audit trail
 * (Node.audit) whether or not the HTTP API runs; the API borrows it. DICOM
 * events reach it through the SCP's event hook (RnScpConfig.on_event) and a
 * few calls from the ingest, query/retrieve and export paths. Every call only
 * appends to the local audit log: none waits on the audit repository.
 */
#ifndef RN_NODE_AUDIT_H
#define RN_NODE_AUDIT_H

#include "node/node_internal.h"

/* Creates n->audit from [audit] and records Application Start (A.5.3.1). */
int node_audit_open(Node *n, RnError *err);
/* Records Application Stop and destroys the trail (undelivered messages stay in the log). */
void node_audit_close(Node *n);

/* Creates the DICOM TLS contexts of [security] (n->tls_server for the
 * listener, n->tls_client for destinations with tls = yes) and logs the profile. */
int node_security_open(Node *n, RnError *err);
void node_security_close(Node *n);
/* Fills the SCP configuration's TLS, called-AE check and event hook. */
void node_security_scp_config(Node *n, RnScpConfig *scp);

/* An instance of an association stored (ingest_end, after rn_store_put):
 * counted per study for that association's DICOM Instances Transferred. */
void node_audit_stored(Node *n, void *assoc, const RnInstanceInfo *info);
/* A C-FIND received: Query (A.5.3.12) with the identifier as received. */
void node_audit_query(Node *n, const RnQrRequest *rq);
/* C-MOVE/C-GET: each instance to send, then Begin Transferring (A.5.3.2)
 * once the list is complete; Instances Transferred follows when the SCP
 * reports the sub-operations done. */
void node_audit_retrieve_add(Node *n, void *assoc, const RnInstanceInfo *info);
void node_audit_retrieve_begin(Node *n, const RnQrRequest *rq);
/* Results delivered by an export job (job_dir: the job's result folder):
 * DICOM -> Instances Transferred; HL7 ORU -> Export. */
void node_audit_export(Node *n, const RnDestination *d, const char *study_uid, const char *job_dir);

#endif
