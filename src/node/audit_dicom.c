/*
 * The node's audit trail and DICOM security (issue 9): the PS3.15 A.5.3
 * messages of the DICOM side, and the [security] profile's TLS contexts.
 *
 * The node owns one audit trail (radnode/audit.h) for its whole life; the
 * HTTP API borrows it. Events and their messages:
 *   start / stop of `radnode serve`    Application Activity (A.5.3.1)
 *   association refused (address, AE   Security Alert (A.5.3.11), type Node
 *     titles, TLS handshake, protocol)   Authentication (110126), minor failure
 *   instances received (C-STORE)       DICOM Instances Transferred (A.5.3.5),
 *                                        action C, one message per study with
 *                                        its instance count, when the
 *                                        association ends
 *   C-FIND                             Query (A.5.3.12): the identifier as
 *                                        received, base64, with its SOP class
 *                                        and transfer syntax
 *   C-MOVE / C-GET                     Begin Transferring (A.5.3.2) when the
 *                                        instances are known, then DICOM
 *                                        Instances Transferred, action R, when
 *                                        the sub-operations are done (one per
 *                                        study, outcome from their counts)
 *   results exported to a PACS         DICOM Instances Transferred, action R,
 *                                        the destination as participant
 *   ORU^R01 acknowledged by the RIS    Export (A.5.3.6), action R, the RIS as
 *                                        Destination Role ID participant (an
 *                                        HL7 report is not a DICOM instance)
 *
 * Per-association state (the studies received or being retrieved) lives in
 * an AuditAssoc that the SCP hands back on that association's own thread
 * (RnScpEvent.assoc_user, RnStoreRequest.assoc_user), so it needs no lock.
 * Recording only appends to the local log; the audit repository is never
 * waited on by a clinical path.
 */
#include "node/node_audit.h"

#include <dirent.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- Recording ------------------------------------------------------------------ */

static void record(Node *n, const RnAuditEvent *ev)
{
    if (!n->audit)
        return;
    RnError err = {0};
    if (rn_audit_trail_record(n->audit, ev, &err))
        rn_errorlog("audit: record lost: %s", err.message);
}

/* This node as an active participant. */
static RnAuditParticipant self_participant(const Node *n, RnAuditRole role, bool requestor)
{
    return (RnAuditParticipant){.user_id = n->cfg.ae_title,
                                .alt_user_id = "radnode",
                                .is_requestor = requestor,
                                .role = role};
}

static void application_activity(Node *n, RnAuditEventKind kind)
{
    char pid[24];
    snprintf(pid, sizeof pid, "%ld", (long)getpid());
    char user[64] = "radnode";
    struct passwd pw, *res = NULL;
    char buf[1024];
    if (getpwuid_r(geteuid(), &pw, buf, sizeof buf, &res) == 0 && res)
        snprintf(user, sizeof user, "%s", res->pw_name);
    RnAuditEvent ev = {.kind = kind, .outcome = RN_AUDIT_SUCCESS};
    ev.participants[ev.participant_count++] = (RnAuditParticipant){
        .user_id = n->cfg.ae_title, .alt_user_id = pid, .role = RN_AUDIT_ROLE_APPLICATION};
    ev.participants[ev.participant_count++] = (RnAuditParticipant){
        .user_id = user, .is_requestor = true, .role = RN_AUDIT_ROLE_APPLICATION_LAUNCHER};
    record(n, &ev);
}

int node_audit_open(Node *n, RnError *err)
{
    const RnNodeConfig *cfg = &n->cfg;
    char path[512];
    if (cfg->audit.log_path[0])
        snprintf(path, sizeof path, "%s", cfg->audit.log_path);
    else
        snprintf(path, sizeof path, "%s/audit.log", cfg->data_dir);
    RnAuditConfig ac = {
        .log_path = path,
        .transport = (RnAuditTransport)cfg->audit.transport,
        .host = cfg->audit.host[0] ? cfg->audit.host : NULL,
        .port = (unsigned)cfg->audit.port,
        .ca_file = cfg->audit.ca_file[0] ? cfg->audit.ca_file : NULL,
        .cert_file = cfg->audit.cert_file[0] ? cfg->audit.cert_file : NULL,
        .key_file = cfg->audit.key_file[0] ? cfg->audit.key_file : NULL,
        .source_id = cfg->ae_title,
        .site_id = cfg->audit.site_id[0] ? cfg->audit.site_id : NULL,
    };
    if (rn_mkdirs(cfg->data_dir, err))
        return err ? err->code : RN_ERR_IO;
    n->audit = rn_audit_trail_create(&ac, err);
    if (!n->audit) {
        rn_error_prefix(err, "[audit]: ");
        return err ? err->code : RN_ERR_IO;
    }
    application_activity(n, RN_AUDIT_APPLICATION_START);
    return 0;
}

void node_audit_close(Node *n)
{
    if (!n->audit)
        return;
    application_activity(n, RN_AUDIT_APPLICATION_STOP);
    /* A short grace for the stop message to reach the repository; what does
     * not stays in the log and goes at the next start. */
    if (n->cfg.audit.transport != RN_AUDIT_TRANSPORT_NONE)
        rn_audit_trail_flush(n->audit, 2.0, NULL);
    rn_audit_trail_destroy(n->audit);
    n->audit = NULL;
}

/* ---- Per-association state --------------------------------------------------------- */

#define AUDIT_SOP_CLASSES 4 /* SOP classes itemised per study (more are counted in the last) */

typedef struct AuditStudy {
    char study_uid[RN_UID_MAX + 1];
    char accession[17];
    char patient_id[65];
    char patient_name[200];
    char sop_class[AUDIT_SOP_CLASSES][RN_UID_MAX + 1];
    unsigned count[AUDIT_SOP_CLASSES];
    int classes;
} AuditStudy;

typedef struct AuditStudies {
    AuditStudy *items;
    size_t n, cap;
    bool truncated; /* out of memory: some instances not itemised */
} AuditStudies;

typedef struct AuditAssoc {
    char calling_ae[RN_AE_MAX + 1], called_ae[RN_AE_MAX + 1], peer_address[64];
    AuditStudies received;
    AuditStudies retrieving;
} AuditAssoc;

static void studies_add(AuditStudies *l, const RnInstanceInfo *info)
{
    AuditStudy *s = NULL;
    for (size_t i = 0; i < l->n && !s; i++)
        if (!strcmp(l->items[i].study_uid, info->study_uid))
            s = &l->items[i];
    if (!s) {
        if (l->n == l->cap) {
            size_t cap = l->cap ? l->cap * 2 : 4;
            AuditStudy *p = rn_realloc(l->items, cap * sizeof *p);
            if (!p) {
                l->truncated = true;
                return;
            }
            l->items = p;
            l->cap = cap;
        }
        s = &l->items[l->n++];
        memset(s, 0, sizeof *s);
        snprintf(s->study_uid, sizeof s->study_uid, "%s", info->study_uid);
        snprintf(s->accession, sizeof s->accession, "%s", info->accession_number);
        snprintf(s->patient_id, sizeof s->patient_id, "%s", info->patient_id);
        snprintf(s->patient_name, sizeof s->patient_name, "%s", info->patient_name);
    }
    int k = 0;
    while (k < s->classes && strcmp(s->sop_class[k], info->sop_class_uid))
        k++;
    if (k == s->classes) {
        if (s->classes < AUDIT_SOP_CLASSES)
            snprintf(s->sop_class[s->classes++], RN_UID_MAX + 1, "%s", info->sop_class_uid);
        else
            k = AUDIT_SOP_CLASSES - 1;
    }
    s->count[k]++;
}

static void studies_clear(AuditStudies *l)
{
    free(l->items);
    memset(l, 0, sizeof *l);
}

static unsigned study_total(const AuditStudy *s)
{
    unsigned t = 0;
    for (int k = 0; k < s->classes; k++)
        t += s->count[k];
    return t;
}

/* Puts one study (its SOP classes as consecutive entries of the same UID,
 * which rn_audit_message_xml merges into one participant object) and its
 * patient into ev. */
static void event_study(RnAuditEvent *ev, const AuditStudy *s)
{
    for (int k = 0; k < s->classes && ev->study_count < RN_AUDIT_MAX_STUDIES; k++)
        ev->studies[ev->study_count++] = (RnAuditStudy){.study_uid = s->study_uid,
                                                        .accession = s->accession,
                                                        .sop_class_uid = s->sop_class[k],
                                                        .instances = s->count[k]};
    if (s->classes == 0)
        ev->studies[ev->study_count++] =
            (RnAuditStudy){.study_uid = s->study_uid, .accession = s->accession};
    ev->patient_id = s->patient_id;
    ev->patient_name = s->patient_name;
}

/* ---- The SCP's events -------------------------------------------------------------- */

static void audit_refused(Node *n, const RnScpEvent *e)
{
    char subject[128];
    snprintf(subject, sizeof subject, "%s@%s",
             e->calling_ae && e->calling_ae[0] ? e->calling_ae : "-",
             e->peer_address ? e->peer_address : "?");
    char why[400];
    snprintf(why, sizeof why,
             "DICOM association refused (calling AE \"%s\", called AE \"%s\"%s): %s",
             e->calling_ae ? e->calling_ae : "", e->called_ae ? e->called_ae : "",
             e->tls ? ", TLS" : "", e->reason ? e->reason : "refused");
    RnAuditEvent ev = {.kind = RN_AUDIT_SECURITY_ALERT,
                       .outcome = RN_AUDIT_MINOR_FAILURE,
                       .outcome_description = why,
                       .alert_code = "110126",
                       .alert_meaning = "Node Authentication",
                       .alert_object = subject};
    ev.participants[ev.participant_count++] = (RnAuditParticipant){
        .user_id = e->calling_ae && e->calling_ae[0] ? e->calling_ae : "(unknown AE)",
        .network_address = e->peer_address,
        .is_requestor = true};
    ev.participants[ev.participant_count++] = self_participant(n, RN_AUDIT_ROLE_APPLICATION, false);
    record(n, &ev);
}

/* A.5.3.5, action C: what this association stored, one message per study. */
static void audit_received(Node *n, AuditAssoc *a, bool aborted)
{
    for (size_t i = 0; i < a->received.n; i++) {
        const AuditStudy *s = &a->received.items[i];
        char why[160];
        snprintf(why, sizeof why, "%u instance%s received%s%s", study_total(s),
                 study_total(s) == 1 ? "" : "s", aborted ? "; the association was aborted" : "",
                 a->received.truncated ? "; out of memory, some not itemised" : "");
        RnAuditEvent ev = {.kind = RN_AUDIT_INSTANCES_TRANSFERRED,
                           .action = 'C',
                           .outcome = RN_AUDIT_SUCCESS,
                           .outcome_description = why};
        ev.participants[ev.participant_count++] =
            (RnAuditParticipant){.user_id = a->calling_ae,
                                 .network_address = a->peer_address,
                                 .is_requestor = true,
                                 .role = RN_AUDIT_ROLE_SOURCE};
        ev.participants[ev.participant_count++] =
            self_participant(n, RN_AUDIT_ROLE_DESTINATION, false);
        event_study(&ev, s);
        record(n, &ev);
    }
}

/* A.5.3.5, action R: the C-MOVE/C-GET sub-operations are over. */
static void audit_retrieved(Node *n, AuditAssoc *a, const RnScpEvent *e)
{
    bool move = e->command_field == RN_DIMSE_C_MOVE_RQ;
    int outcome = e->failed == 0 && !e->cancelled ? RN_AUDIT_SUCCESS
                  : e->completed == 0             ? RN_AUDIT_SERIOUS_FAILURE
                                                  : RN_AUDIT_MINOR_FAILURE;
    char why[200];
    snprintf(why, sizeof why,
             "%s: %u completed, %u failed, %u warning%s (counts for the whole "
             "request)",
             move ? "C-MOVE" : "C-GET", e->completed, e->failed, e->warning,
             e->cancelled ? ", cancelled" : "");
    for (size_t i = 0; i < a->retrieving.n; i++) {
        RnAuditEvent ev = {.kind = RN_AUDIT_INSTANCES_TRANSFERRED,
                           .action = 'R',
                           .outcome = outcome,
                           .outcome_description = why};
        ev.participants[ev.participant_count++] = self_participant(n, RN_AUDIT_ROLE_SOURCE, false);
        ev.participants[ev.participant_count++] =
            (RnAuditParticipant){.user_id = move ? e->move_destination : a->calling_ae,
                                 .network_address = move ? e->destination_address : a->peer_address,
                                 .is_requestor = !move,
                                 .role = RN_AUDIT_ROLE_DESTINATION};
        if (move)
            ev.participants[ev.participant_count++] = (RnAuditParticipant){
                .user_id = a->calling_ae, .network_address = a->peer_address, .is_requestor = true};
        event_study(&ev, &a->retrieving.items[i]);
        record(n, &ev);
    }
    studies_clear(&a->retrieving);
}

static void *on_scp_event(void *user, const RnScpEvent *e)
{
    Node *n = user;
    AuditAssoc *a = e->assoc_user;
    switch (e->kind) {
    case RN_SCP_EVENT_ACCEPTED:
        a = rn_calloc(1, sizeof *a);
        if (!a) {
            rn_errorlog("audit: out of memory; the association from %s is not itemised", e->peer);
            return NULL;
        }
        snprintf(a->calling_ae, sizeof a->calling_ae, "%s", e->calling_ae);
        snprintf(a->called_ae, sizeof a->called_ae, "%s", e->called_ae);
        snprintf(a->peer_address, sizeof a->peer_address, "%s", e->peer_address);
        return a;
    case RN_SCP_EVENT_REFUSED:
        audit_refused(n, e);
        return NULL;
    case RN_SCP_EVENT_RETRIEVE_DONE:
        if (a)
            audit_retrieved(n, a, e);
        return NULL;
    case RN_SCP_EVENT_ENDED:
        if (a) {
            audit_received(n, a, e->aborted);
            studies_clear(&a->received);
            studies_clear(&a->retrieving);
            free(a);
        }
        return NULL;
    }
    return NULL;
}

void node_audit_stored(Node *n, void *assoc, const RnInstanceInfo *info)
{
    (void)n;
    AuditAssoc *a = assoc;
    if (a)
        studies_add(&a->received, info);
}

void node_audit_query(Node *n, const RnQrRequest *rq)
{
    AuditAssoc *a = rq->assoc_user;
    RnAuditEvent ev = {.kind = RN_AUDIT_QUERY,
                       .outcome = RN_AUDIT_SUCCESS,
                       .query = rq->identifier_bytes,
                       .query_len = rq->identifier_len,
                       .query_sop_class = rq->sop_class,
                       .query_transfer_syntax = rq->transfer_syntax};
    ev.participants[ev.participant_count++] =
        (RnAuditParticipant){.user_id = rq->calling_ae,
                             .network_address = a ? a->peer_address : NULL,
                             .is_requestor = true,
                             .role = RN_AUDIT_ROLE_SOURCE};
    ev.participants[ev.participant_count++] = self_participant(n, RN_AUDIT_ROLE_DESTINATION, false);
    record(n, &ev);
}

void node_audit_retrieve_add(Node *n, void *assoc, const RnInstanceInfo *info)
{
    (void)n;
    AuditAssoc *a = assoc;
    if (a)
        studies_add(&a->retrieving, info);
}

void node_audit_retrieve_begin(Node *n, const RnQrRequest *rq)
{
    AuditAssoc *a = rq->assoc_user;
    if (!a)
        return;
    bool move = rq->command_field == RN_DIMSE_C_MOVE_RQ;
    for (size_t i = 0; i < a->retrieving.n; i++) {
        RnAuditEvent ev = {.kind = RN_AUDIT_BEGIN_TRANSFERRING, .outcome = RN_AUDIT_SUCCESS};
        ev.participants[ev.participant_count++] = self_participant(n, RN_AUDIT_ROLE_SOURCE, false);
        ev.participants[ev.participant_count++] = (RnAuditParticipant){
            .user_id = move && rq->move_destination ? rq->move_destination : a->calling_ae,
            .network_address = move ? NULL : a->peer_address,
            .is_requestor = !move,
            .role = RN_AUDIT_ROLE_DESTINATION};
        if (move)
            ev.participants[ev.participant_count++] = (RnAuditParticipant){
                .user_id = a->calling_ae, .network_address = a->peer_address, .is_requestor = true};
        event_study(&ev, &a->retrieving.items[i]);
        record(n, &ev);
    }
}

/* ---- Exports ------------------------------------------------------------------------ */

static int first_instance(const RnInstanceInfo *info, void *user)
{
    *(RnInstanceInfo *)user = *info;
    return 1;
}

void node_audit_export(Node *n, const RnDestination *d, const char *study_uid, const char *job_dir)
{
    if (!n->audit)
        return;
    AuditStudies l = {0};
    RnInstanceInfo info;
    memset(&info, 0, sizeof info);
    rn_store_study_instances(n->store, study_uid, first_instance, &info, NULL);
    snprintf(info.study_uid, sizeof info.study_uid, "%s", study_uid);
    unsigned objects = 0;
    bool hl7 = d->type == RN_DEST_HL7;
    DIR *dir = opendir(job_dir);
    struct dirent *e;
    while (dir && (e = readdir(dir))) {
        size_t len = strlen(e->d_name);
        const char *suffix = hl7 ? ".hl7" : ".dcm";
        if (e->d_name[0] == '.' || len < 4 || strcmp(e->d_name + len - 4, suffix))
            continue;
        objects++;
        if (hl7)
            continue;
        char path[1400];
        RnFileProbe probe;
        snprintf(path, sizeof path, "%s/%s", job_dir, e->d_name);
        RnInstanceInfo one = info;
        if (rn_net_probe_file(path, &probe, NULL) == 0)
            snprintf(one.sop_class_uid, sizeof one.sop_class_uid, "%s", probe.sop_class);
        studies_add(&l, &one);
    }
    if (dir)
        closedir(dir);
    if (hl7)
        studies_add(&l, &info); /* the study the report is about; no SOP class */
    if (l.n == 0)
        return;
    AuditStudy *s = &l.items[0];
    if (hl7) {
        s->classes = 0;
    }
    char why[200];
    snprintf(why, sizeof why, "%u %s delivered to destination %s", objects,
             hl7 ? (objects == 1 ? "ORU^R01 message" : "ORU^R01 messages")
                 : (objects == 1 ? "result object" : "result objects"),
             d->name);
    RnAuditEvent ev = {.kind = hl7 ? RN_AUDIT_EXPORT : RN_AUDIT_INSTANCES_TRANSFERRED,
                       .action = 'R',
                       .outcome = RN_AUDIT_SUCCESS,
                       .outcome_description = why};
    ev.participants[ev.participant_count++] = self_participant(n, RN_AUDIT_ROLE_SOURCE, true);
    ev.participants[ev.participant_count++] = (RnAuditParticipant){
        .user_id =
            hl7 ? (d->receiving_application[0] ? d->receiving_application : d->name) : d->ae_title,
        .alt_user_id = d->name,
        .network_address = d->host,
        .role = RN_AUDIT_ROLE_DESTINATION};
    event_study(&ev, s);
    record(n, &ev);
    studies_clear(&l);
}

/* ---- [security]: DICOM TLS and the SCP's policy ------------------------------------ */

int node_security_open(Node *n, RnError *err)
{
    const RnNodeSecurityConfig *s = &n->cfg.security;
    const char *ca = s->tls_ca[0] ? s->tls_ca : NULL;
    if (s->tls_cert[0]) {
        RnTlsConfig tc = {.cert_file = s->tls_cert,
                          .key_file = s->tls_key,
                          .ca_file = ca,
                          .verify_peer = ca != NULL};
        n->tls_server = rn_tls_context_create(&tc, true, err);
        if (!n->tls_server) {
            rn_error_prefix(err, "[security] tls_cert/tls_key/tls_ca: ");
            return err ? err->code : RN_ERR_INVALID;
        }
    }
    /* Destinations with tls = yes (config.c requires tls_ca for them); made
     * whenever tls_ca is set so that one added by a SIGHUP reload finds it. */
    if (ca) {
        RnTlsConfig tc = {.cert_file = s->tls_cert[0] ? s->tls_cert : NULL,
                          .key_file = s->tls_key[0] ? s->tls_key : NULL,
                          .ca_file = ca,
                          .verify_peer = true};
        n->tls_client = rn_tls_context_create(&tc, false, err);
        if (!n->tls_client) {
            rn_error_prefix(err, "[security] (TLS toward destinations): ");
            return err ? err->code : RN_ERR_INVALID;
        }
    }
    if (s->production)
        rn_info("security: production profile: calling AE titles and addresses must be listed, "
                "called AE must be %s, DICOM over TLS with mutual authentication",
                n->cfg.ae_title);
    else if (!n->cfg.allowed_calling_ae_count || !n->cfg.allowed_host_count)
        rn_info("security: default profile: associations from %s%s%s are accepted "
                "(set [security] profile = production for a hospital network)",
                n->cfg.allowed_calling_ae_count ? "" : "any calling AE title",
                !n->cfg.allowed_calling_ae_count && !n->cfg.allowed_host_count ? " and " : "",
                n->cfg.allowed_host_count ? "" : "any address");
    return 0;
}

void node_security_close(Node *n)
{
    rn_tls_context_destroy(n->tls_server);
    rn_tls_context_destroy(n->tls_client);
    n->tls_server = n->tls_client = NULL;
}

void node_security_scp_config(Node *n, RnScpConfig *scp)
{
    scp->tls = n->tls_server;
    if (n->cfg.security.production)
        scp->require_called_ae = true;
    scp->on_event = on_scp_event;
    scp->event_user = n;
}
