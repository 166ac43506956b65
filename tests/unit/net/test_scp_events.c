/*
 * The SCP's event hook (RnScpConfig.on_event, issue 9): an accepted
 * association is reported with its peer and AE titles, its per-association
 * value reaches the store handler (RnStoreRequest.assoc_user) and comes back
 * in ENDED with that association's own counts; refusals (calling AE not
 * allowed, called AE wrong, address not allowed) are reported with the AE
 * titles of the A-ASSOCIATE-RQ and the reason, and answered with an
 * A-ASSOCIATE-RJ. The SCP and the SCU are radnode's own, over loopback.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "radnode/net.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_EVENTS 16

typedef struct Seen {
    RnScpEventKind kind;
    char calling[17], called[17], address[64], reason[128];
    void *assoc_user;
    uint64_t echoes, stored;
    bool aborted;
} Seen;

typedef struct Log {
    pthread_mutex_t lock;
    Seen ev[MAX_EVENTS];
    int n;
    int token; /* its address is the per-association value */
    int store_begins_with_token;
} Log;

static void *on_event(void *user, const RnScpEvent *e)
{
    Log *l = user;
    pthread_mutex_lock(&l->lock);
    if (l->n < MAX_EVENTS) {
        Seen *s = &l->ev[l->n++];
        s->kind = e->kind;
        snprintf(s->calling, sizeof s->calling, "%s", e->calling_ae ? e->calling_ae : "");
        snprintf(s->called, sizeof s->called, "%s", e->called_ae ? e->called_ae : "");
        snprintf(s->address, sizeof s->address, "%s", e->peer_address ? e->peer_address : "");
        snprintf(s->reason, sizeof s->reason, "%s", e->reason ? e->reason : "");
        s->assoc_user = e->assoc_user;
        s->echoes = e->echoes;
        s->stored = e->stored;
        s->aborted = e->aborted;
    }
    pthread_mutex_unlock(&l->lock);
    return e->kind == RN_SCP_EVENT_ACCEPTED ? &l->token : NULL;
}

static int store_begin(void *user, const RnStoreRequest *rq, void **instance, RnError *err)
{
    Log *l = user;
    (void)err;
    pthread_mutex_lock(&l->lock);
    l->store_begins_with_token += rq->assoc_user == &l->token;
    pthread_mutex_unlock(&l->lock);
    *instance = NULL;
    return 0;
}
static int store_data(void *instance, const uint8_t *d, size_t n, RnError *err)
{
    (void)instance, (void)d, (void)n, (void)err;
    return 0;
}
static uint16_t store_end(void *instance, bool complete, char *c, size_t cs)
{
    (void)instance, (void)c, (void)cs;
    return complete ? RN_STATUS_SUCCESS : RN_STATUS_OUT_OF_RESOURCES;
}

static RnAssoc *associate(int port, const char *calling, const char *called, RnAssocReject *rj)
{
    RnScuOptions o = {
        .host = "127.0.0.1", .port = port, .calling_ae = calling, .called_ae = called};
    RnAssocParams p = {0};
    const char *ts[] = {RN_UID_EXPLICIT_VR_LE, RN_UID_IMPLICIT_VR_LE};
    rn_assoc_params_add_context(&p, RN_UID_VERIFICATION, ts, 2, NULL);
    rn_assoc_params_add_context(&p, "1.2.840.10008.5.1.4.1.1.7", ts, 2, NULL);
    RnError err = {0};
    RnAssoc *a = rn_assoc_request(&o, &p, rj, &err);
    rn_assoc_params_clear(&p);
    return a;
}

static RnScp *start(Log *l, const char *const *hosts)
{
    static const char *const allowed[] = {"GOOD", NULL};
    RnScpConfig cfg = {0};
    cfg.ae_title = "UNIT";
    cfg.bind_address = "127.0.0.1";
    cfg.max_associations = 2;
    cfg.require_called_ae = true;
    cfg.allowed_calling_aes = allowed;
    cfg.allowed_hosts = hosts;
    cfg.store = (RnStoreHandler){store_begin, store_data, store_end, l};
    cfg.on_event = on_event;
    cfg.event_user = l;
    RnError err = {0};
    RnScp *s = rn_scp_start(&cfg, &err);
    assert_non_null(s);
    return s;
}

/* A small Secondary Capture data set (explicit VR LE) for one C-STORE. */
static int store_one(RnAssoc *a)
{
    uint8_t pc = rn_assoc_find_context(a, "1.2.840.10008.5.1.4.1.1.7", NULL);
    if (!pc)
        return -1;
    RnDimseCommand c = {0};
    c.command_field = RN_DIMSE_C_STORE_RQ;
    c.present = RN_CMD_AFFECTED_SOP_CLASS | RN_CMD_AFFECTED_SOP_INSTANCE | RN_CMD_MESSAGE_ID |
                RN_CMD_PRIORITY;
    strcpy(c.affected_sop_class, "1.2.840.10008.5.1.4.1.1.7");
    strcpy(c.affected_sop_instance, "1.2.3.4.5");
    c.message_id = rn_assoc_next_message_id(a);
    c.data_set_type = 0;
    static const uint8_t ds[] = {0x10, 0x00, 0x20, 0x00, 'L', 'O', 2, 0, 'P', '1'};
    RnError err = {0};
    if (rn_dimse_send_command(a, pc, &c, &err) || rn_dimse_send_dataset(a, pc, ds, sizeof ds, &err))
        return -1;
    RnDimseCommand rsp;
    uint8_t rpc;
    if (rn_dimse_recv_command(a, &rsp, &rpc, 10000, &err))
        return -1;
    return rsp.status;
}

static const Seen *find(Log *l, RnScpEventKind kind, const char *calling)
{
    for (int i = 0; i < l->n; i++)
        if (l->ev[i].kind == kind && !strcmp(l->ev[i].calling, calling))
            return &l->ev[i];
    return NULL;
}

static void test_accepted_and_ended(void **state)
{
    (void)state;
    Log l = {.lock = PTHREAD_MUTEX_INITIALIZER};
    RnScp *s = start(&l, NULL);
    RnAssocReject rj;
    RnAssoc *a = associate(rn_scp_port(s), "GOOD", "UNIT", &rj);
    assert_non_null(a);
    uint16_t st = 0xFFFF;
    assert_int_equal(rn_scu_echo(a, &st, NULL), 0);
    assert_int_equal(rn_scu_echo(a, &st, NULL), 0);
    assert_int_equal(store_one(a), 0);
    assert_int_equal(rn_assoc_release(a, NULL), 0);
    rn_scp_stop(s); /* joins the worker: ENDED has been reported */
    const Seen *acc = find(&l, RN_SCP_EVENT_ACCEPTED, "GOOD");
    const Seen *end = find(&l, RN_SCP_EVENT_ENDED, "GOOD");
    assert_non_null(acc);
    assert_non_null(end);
    assert_string_equal(acc->called, "UNIT");
    assert_string_equal(acc->address, "127.0.0.1");
    assert_ptr_equal(end->assoc_user, &l.token);
    assert_int_equal(end->echoes, 2);
    assert_int_equal(end->stored, 1);
    assert_false(end->aborted);
    assert_int_equal(l.store_begins_with_token, 1);
}

static void test_refusals_reported(void **state)
{
    (void)state;
    Log l = {.lock = PTHREAD_MUTEX_INITIALIZER};
    RnScp *s = start(&l, NULL);
    RnAssocReject rj = {0};
    assert_null(associate(rn_scp_port(s), "EVIL", "UNIT", &rj));
    assert_int_equal(rj.reason, 3); /* calling AE title not recognized */
    assert_null(associate(rn_scp_port(s), "GOOD", "ELSEWHERE", &rj));
    assert_int_equal(rj.reason, 7); /* called AE title not recognized */
    rn_scp_stop(s);
    const Seen *r1 = find(&l, RN_SCP_EVENT_REFUSED, "EVIL");
    assert_non_null(r1);
    assert_string_equal(r1->called, "UNIT");
    assert_non_null(strstr(r1->reason, "calling AE"));
    const Seen *r2 = find(&l, RN_SCP_EVENT_REFUSED, "GOOD");
    assert_non_null(r2);
    assert_string_equal(r2->called, "ELSEWHERE");
    assert_non_null(strstr(r2->reason, "called AE"));
    assert_null(find(&l, RN_SCP_EVENT_ACCEPTED, "GOOD"));

    /* An address not allowed: the RQ is read, refused with its AE titles. */
    static const char *const hosts[] = {"192.0.2.1", NULL};
    Log l2 = {.lock = PTHREAD_MUTEX_INITIALIZER};
    s = start(&l2, hosts);
    assert_null(associate(rn_scp_port(s), "GOOD", "UNIT", &rj));
    assert_int_equal(rj.result, 1);
    rn_scp_stop(s);
    const Seen *r3 = find(&l2, RN_SCP_EVENT_REFUSED, "GOOD");
    assert_non_null(r3);
    assert_string_equal(r3->reason, "address not allowed");
    assert_string_equal(r3->address, "127.0.0.1");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accepted_and_ended),
        cmocka_unit_test(test_refusals_reported),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
