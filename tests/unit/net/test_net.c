/*
 * Unit tests of the network module: PDU encode/parse round trips and hostile
 * inputs (PS3.8 9.3), the state table (PS3.8 Table 9-10), the DIMSE command
 * codec (PS3.7 Annex E), and an in-process SCP/SCU pair on loopback: C-ECHO,
 * C-STORE streamed to a Part 10 file, access control, release.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "radnode/net.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void test_associate_roundtrip(void **state)
{
    (void)state;
    RnAssocParams p = {0};
    const char *ts[] = {RN_UID_EXPLICIT_VR_LE, RN_UID_IMPLICIT_VR_LE};
    assert_int_equal(rn_assoc_params_add_context(&p, RN_UID_VERIFICATION, ts, 2, NULL), 1);
    assert_int_equal(rn_assoc_params_add_context(&p, "1.2.840.10008.5.1.4.1.1.2", ts, 1, NULL), 3);
    assert_int_equal(rn_assoc_params_add_role(&p, "1.2.840.10008.5.1.4.1.1.2", false, true, NULL), 0);
    strcpy(p.calling_ae, "CALLING");
    strcpy(p.called_ae, "CALLED");
    p.max_pdu_length = 32768;
    p.has_async_window = true;
    p.max_ops_invoked = 3;
    p.max_ops_performed = 2;
    p.has_identity = true;
    p.identity_type = RN_IDENTITY_USERNAME_PASSCODE;
    p.identity_primary = (uint8_t *)strdup("user");
    p.identity_primary_len = 4;
    p.identity_secondary = (uint8_t *)strdup("secret");
    p.identity_secondary_len = 6;
    RnBuf b = {0};
    assert_int_equal(rn_pdu_encode_associate(RN_PDU_ASSOCIATE_RQ, &p, &b, NULL), 0);
    assert_int_equal(b.data[0], RN_PDU_ASSOCIATE_RQ);
    assert_int_equal(rn_rd32be(b.data + 2), b.len - 6);
    RnAssocParams q;
    RnError err = {0};
    assert_int_equal(rn_pdu_parse_associate(RN_PDU_ASSOCIATE_RQ, b.data + 6, b.len - 6, &q, &err), 0);
    assert_string_equal(q.calling_ae, "CALLING");
    assert_string_equal(q.called_ae, "CALLED");
    assert_string_equal(q.application_context, RN_UID_APPLICATION_CONTEXT);
    assert_int_equal(q.context_count, 2);
    assert_int_equal(q.contexts[0].ts_count, 2);
    assert_string_equal(q.contexts[1].abstract_syntax, "1.2.840.10008.5.1.4.1.1.2");
    assert_int_equal(q.max_pdu_length, 32768);
    assert_string_equal(q.implementation_class_uid, RN_IMPLEMENTATION_CLASS_UID);
    assert_string_equal(q.implementation_version, RN_IMPLEMENTATION_VERSION_NAME);
    assert_true(q.has_async_window);
    assert_int_equal(q.max_ops_invoked, 3);
    assert_int_equal(q.role_count, 1);
    assert_int_equal(q.roles[0].scp_role, 1);
    assert_true(q.has_identity);
    assert_int_equal(q.identity_secondary_len, 6);
    assert_memory_equal(q.identity_secondary, "secret", 6);
    /* Every truncation of the body is rejected or parsed without reading past it. */
    for (size_t n = 0; n < b.len - 6; n++) {
        uint8_t *copy = malloc(n ? n : 1);
        memcpy(copy, b.data + 6, n);
        RnAssocParams t;
        if (rn_pdu_parse_associate(RN_PDU_ASSOCIATE_RQ, copy, n, &t, NULL) == 0)
            rn_assoc_params_clear(&t);
        free(copy);
    }
    rn_assoc_params_clear(&q);
    rn_assoc_params_clear(&p);
    rn_buf_free(&b);
}

static void test_fixed_pdus(void **state)
{
    (void)state;
    RnBuf b = {0};
    RnAssocReject rj = {2, 3, 1}, rj2;
    assert_int_equal(rn_pdu_encode_reject(&rj, &b, NULL), 0);
    assert_int_equal(b.len, 10);
    assert_int_equal(rn_pdu_parse_reject(b.data + 6, 4, &rj2, NULL), 0);
    assert_int_equal(rj2.result, 2);
    assert_int_equal(rj2.source, 3);
    assert_int_equal(rj2.reason, 1);
    b.len = 0;
    RnAbort ab = {2, 6}, ab2;
    assert_int_equal(rn_pdu_encode_abort(&ab, &b, NULL), 0);
    assert_int_equal(rn_pdu_parse_abort(b.data + 6, 4, &ab2, NULL), 0);
    assert_int_equal(ab2.reason, 6);
    assert_true(rn_pdu_parse_abort(b.data + 6, 3, &ab2, NULL) < 0);
    rn_buf_free(&b);
}

static void test_pdv_iteration(void **state)
{
    (void)state;
    uint8_t body[] = {0, 0, 0, 4, 1, 3, 'a', 'b', 0, 0, 0, 2, 3, 0};
    size_t pos = 0;
    RnPdv pdv;
    assert_int_equal(rn_pdu_next_pdv(body, sizeof body, &pos, &pdv, NULL), 1);
    assert_int_equal(pdv.pc_id, 1);
    assert_true(pdv.command && pdv.last);
    assert_int_equal(pdv.len, 2);
    assert_int_equal(rn_pdu_next_pdv(body, sizeof body, &pos, &pdv, NULL), 1);
    assert_int_equal(pdv.len, 0);
    assert_false(pdv.command);
    assert_int_equal(rn_pdu_next_pdv(body, sizeof body, &pos, &pdv, NULL), 0);
    uint8_t lie[] = {0, 0, 0, 9, 1, 3, 'a'};
    pos = 0;
    assert_true(rn_pdu_next_pdv(lie, sizeof lie, &pos, &pdv, NULL) < 0);
    uint8_t zero[] = {0, 0, 0, 0, 1, 3};
    pos = 0;
    assert_true(rn_pdu_next_pdv(zero, sizeof zero, &pos, &pdv, NULL) < 0);
}

static void test_state_table(void **state)
{
    (void)state;
    /* Spot checks against PS3.8 Table 9-10. */
    assert_int_equal(rn_ul_fsm_lookup(RN_STA1, RN_EVT1), RN_AE1);
    assert_int_equal(rn_ul_fsm_lookup(RN_STA1, RN_EVT5), RN_AE5);
    assert_int_equal(rn_ul_fsm_lookup(RN_STA2, RN_EVT6), RN_AE6);
    assert_int_equal(rn_ul_fsm_lookup(RN_STA2, RN_EVT18), RN_AA2);
    assert_int_equal(rn_ul_fsm_lookup(RN_STA5, RN_EVT3), RN_AE3);
    assert_int_equal(rn_ul_fsm_lookup(RN_STA6, RN_EVT10), RN_DT2);
    assert_int_equal(rn_ul_fsm_lookup(RN_STA6, RN_EVT12), RN_AR2);
    assert_int_equal(rn_ul_fsm_lookup(RN_STA7, RN_EVT12), RN_AR8);
    assert_int_equal(rn_ul_fsm_lookup(RN_STA7, RN_EVT13), RN_AR3);
    assert_int_equal(rn_ul_fsm_lookup(RN_STA13, RN_EVT17), RN_AR5);
    assert_int_equal(rn_ul_fsm_lookup(RN_STA13, RN_EVT6), RN_AA7);
    assert_int_equal(rn_ul_fsm_lookup(RN_STA1, RN_EVT3), RN_ACT_INVALID);
    /* Release collision, requestor side: Sta7 -> 9 -> 11 -> 1. */
    RnUlFsm f;
    rn_ul_fsm_init(&f, true, 1);
    f.state = RN_STA7;
    assert_int_equal(rn_ul_fsm_step(&f, RN_EVT12, false), RN_AR8);
    assert_int_equal(f.state, RN_STA9);
    assert_int_equal(rn_ul_fsm_step(&f, RN_EVT14, false), RN_AR9);
    assert_int_equal(f.state, RN_STA11);
    assert_int_equal(rn_ul_fsm_step(&f, RN_EVT13, false), RN_AR3);
    assert_int_equal(f.state, RN_STA1);
    /* Acceptor: AE-5 starts ARTIM, AE-6 stops it. */
    rn_ul_fsm_init(&f, false, 1);
    rn_ul_fsm_step(&f, RN_EVT5, false);
    assert_true(f.artim_running);
    rn_ul_fsm_step(&f, RN_EVT6, true);
    assert_false(f.artim_running);
    assert_int_equal(f.state, RN_STA3);
}

static void test_command_codec(void **state)
{
    (void)state;
    RnDimseCommand c = {0}, d;
    c.command_field = RN_DIMSE_C_MOVE_RSP;
    c.present = RN_CMD_AFFECTED_SOP_CLASS | RN_CMD_MESSAGE_ID_RESPONDED | RN_CMD_STATUS |
                RN_CMD_SUBOP_COUNTS | RN_CMD_ERROR_COMMENT;
    strcpy(c.affected_sop_class, RN_UID_STUDY_ROOT_MOVE);
    c.message_id_responded = 7;
    c.status = RN_STATUS_PENDING;
    c.remaining = 3;
    c.completed = 2;
    c.failed = 1;
    c.data_set_type = RN_DIMSE_NO_DATASET;
    strcpy(c.error_comment, "odd");
    RnBuf b = {0};
    assert_int_equal(rn_dimse_command_encode(&c, &b, NULL), 0);
    /* Group length, then ascending tags, all values even-length. */
    assert_int_equal(rn_rd32le(b.data + 8), b.len - 12);
    assert_int_equal(rn_dimse_command_decode(b.data, b.len, &d, NULL), 0);
    assert_int_equal(d.command_field, RN_DIMSE_C_MOVE_RSP);
    assert_string_equal(d.affected_sop_class, RN_UID_STUDY_ROOT_MOVE);
    assert_int_equal(d.remaining, 3);
    assert_int_equal(d.failed, 1);
    assert_string_equal(d.error_comment, "odd");
    assert_false(rn_dimse_has_dataset(&d));
    /* A truncated command set is refused. */
    assert_true(rn_dimse_command_decode(b.data, b.len - 1, &d, NULL) < 0);
    /* A non-group-0000 element is refused. */
    b.data[12] = 8;
    assert_true(rn_dimse_command_decode(b.data, b.len, &d, NULL) < 0);
    rn_buf_free(&b);
    assert_string_equal(rn_dimse_status_category(0xB000), "warning");
    assert_string_equal(rn_dimse_status_category(0xA700), "failure");
    assert_string_equal(rn_dimse_status_category(0xFF01), "pending");
}

/* A minimal Part 10 file: meta + two elements in explicit VR LE. */
static void write_file(const char *path, const char *sop_class, const char *inst)
{
    RnBuf b = {0};
    assert_int_equal(rn_net_part10_header(sop_class, inst, RN_UID_EXPLICIT_VR_LE, "T", &b, NULL), 0);
    char cls[66], ins[66];
    size_t cl = strlen(sop_class), il = strlen(inst);
    memcpy(cls, sop_class, cl + 1);
    memcpy(ins, inst, il + 1);
    if (cl & 1)
        cls[cl++] = 0;
    if (il & 1)
        ins[il++] = 0;
    rn_buf_append_u16le(&b, 8);
    rn_buf_append_u16le(&b, 0x16);
    rn_buf_append(&b, "UI", 2);
    rn_buf_append_u16le(&b, (uint16_t)cl);
    rn_buf_append(&b, cls, cl);
    rn_buf_append_u16le(&b, 8);
    rn_buf_append_u16le(&b, 0x18);
    rn_buf_append(&b, "UI", 2);
    rn_buf_append_u16le(&b, (uint16_t)il);
    rn_buf_append(&b, ins, il);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b.data, 1, b.len, f), b.len);
    fclose(f);
    rn_buf_free(&b);
}

static void test_scp_scu_loopback(void **state)
{
    (void)state;
    char dir[] = "/tmp/rn_net_unit.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char out[300], in[300];
    snprintf(out, sizeof out, "%s/out", dir);
    snprintf(in, sizeof in, "%s/in.dcm", dir);
    const char *ct = "1.2.840.10008.5.1.4.1.1.2";
    write_file(in, ct, "1.2.3.4.5.6.7");
    RnError err = {0};
    RnStoreDir *sd = rn_store_dir_create(out, "UNIT", true, &err);
    assert_non_null(sd);
    static const char *const allowed[] = {"GOOD", NULL};
    RnScpConfig cfg = {0};
    cfg.ae_title = "UNIT";
    cfg.bind_address = "127.0.0.1";
    cfg.max_associations = 4;
    cfg.allowed_calling_aes = allowed;
    cfg.store = rn_store_dir_handler(sd);
    cfg.max_pdu_length = 4096; /* forces fragmentation of everything */
    RnScp *scp = rn_scp_start(&cfg, &err);
    assert_non_null(scp);

    RnScuOptions o = {.host = "127.0.0.1", .port = rn_scp_port(scp), .calling_ae = "GOOD",
                      .called_ae = "UNIT", .max_pdu_length = 4096};
    RnAssocParams p = {0};
    const char *ts[] = {RN_UID_IMPLICIT_VR_LE, RN_UID_EXPLICIT_VR_LE};
    rn_assoc_params_add_context(&p, RN_UID_VERIFICATION, ts, 2, NULL);
    rn_assoc_params_add_context(&p, ct, ts, 2, NULL);
    rn_assoc_params_add_context(&p, "1.2.3.999", ts, 2, NULL); /* unknown: refused */
    RnAssoc *a = rn_assoc_request(&o, &p, NULL, &err);
    assert_non_null(a);
    /* Our preference (explicit first) wins over the proposal order. */
    assert_string_equal(rn_assoc_context_ts(a, 1), RN_UID_EXPLICIT_VR_LE);
    assert_null(rn_assoc_context_ts(a, 5));
    assert_int_equal(rn_assoc_params_context(rn_assoc_accepted_params(a), 5)->result,
                     RN_PC_ABSTRACT_SYNTAX_NOT_SUPPORTED);
    uint16_t status = 0xFFFF;
    assert_int_equal(rn_scu_echo(a, &status, &err), 0);
    assert_int_equal(status, 0);
    assert_int_equal(rn_scu_store_file(a, in, NULL, 0, &status, &err), 0);
    assert_int_equal(status, 0);
    assert_int_equal(rn_assoc_release(a, &err), 0);

    char stored[400];
    snprintf(stored, sizeof stored, "%s/1.2.3.4.5.6.7.dcm", out);
    RnFileProbe pr;
    assert_int_equal(rn_net_probe_file(stored, &pr, &err), 0);
    assert_string_equal(pr.sop_class, ct);
    assert_string_equal(pr.transfer_syntax, RN_UID_EXPLICIT_VR_LE);

    /* Calling AE not allowed: A-ASSOCIATE-RJ, permanent, reason 3. */
    o.calling_ae = "EVIL";
    RnAssocReject rj;
    assert_null(rn_assoc_request(&o, &p, &rj, &err));
    assert_int_equal(rj.result, 1);
    assert_int_equal(rj.reason, 3);
    rn_assoc_params_clear(&p);

    RnScpStats st;
    rn_scp_stats(scp, &st);
    assert_int_equal(st.stored, 1);
    assert_int_equal(st.echoes, 1);
    assert_int_equal(st.rejected, 1);
    rn_scp_stop(scp);
    rn_store_dir_destroy(sd);
    unlink(stored);
    unlink(in);
    rmdir(out);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_associate_roundtrip), cmocka_unit_test(test_fixed_pdus),
        cmocka_unit_test(test_pdv_iteration),       cmocka_unit_test(test_state_table),
        cmocka_unit_test(test_command_codec),       cmocka_unit_test(test_scp_scu_loopback),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
