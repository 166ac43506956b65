/*
 * libFuzzer target for the Upper Layer (PS3.8 9.3) and DIMSE parsers and the
 * state machine (9.2): the first byte selects a mode.
 *   0: the input is the byte stream a peer sends to the SCP: it is written
 *      into a socketpair and a whole association is served from it
 *      (rn_scp_serve_conn: ARTIM, A-ASSOCIATE-RQ parsing and negotiation,
 *      P-DATA reassembly, DIMSE commands, C-ECHO, C-STORE streamed to a
 *      discarding handler, C-FIND through a hook, release and abort);
 *   1: A-ASSOCIATE-RQ/AC body parsers, re-encoding what parsed;
 *   2: P-DATA-TF PDV iteration and the command-set decoder;
 *   3: state machine event sequences.
 * Everything must hold for arbitrary bytes: no crash, no leak, no hang.
 */
#include "radnode/net.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int sink_begin(void *user, const RnStoreRequest *rq, void **inst, RnError *err)
{
    (void)user, (void)rq, (void)err;
    *inst = NULL;
    return 0;
}

static int sink_data(void *inst, const uint8_t *d, size_t n, RnError *err)
{
    (void)inst, (void)d, (void)n, (void)err;
    return 0;
}

static uint16_t sink_end(void *inst, bool complete, char *comment, size_t size)
{
    (void)inst, (void)comment, (void)size;
    return complete ? RN_STATUS_SUCCESS : RN_STATUS_OUT_OF_RESOURCES;
}

static uint16_t find_hook(void *user, const RnFindRequest *rq, RnFindResponder *r)
{
    (void)user;
    rn_scp_find_respond(r, rq->identifier, rq->identifier_len, NULL);
    return RN_STATUS_SUCCESS;
}

static void serve_bytes(const uint8_t *data, size_t size)
{
    int sv[2];
    if (size > (1u << 20) || socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
        return;
    int big = 4 << 20;
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
    setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
    setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
    fcntl(sv[0], F_SETFL, O_NONBLOCK);
    size_t off = 0;
    while (off < size) {
        ssize_t n = write(sv[0], data + off, size - off);
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    shutdown(sv[0], SHUT_WR);
    RnScpConfig cfg = {0};
    cfg.ae_title = "FUZZ";
    cfg.max_pdu_length = 16384;
    cfg.timeouts.artim_ms = 50;
    cfg.timeouts.dimse_ms = 50;
    cfg.timeouts.network_ms = 50;
    cfg.store = (RnStoreHandler){sink_begin, sink_data, sink_end, NULL};
    cfg.find = find_hook;
    RnConn *c = rn_conn_accept_take(sv[1], NULL, 50, NULL);
    if (c)
        rn_scp_serve_conn(&cfg, c, NULL);
    close(sv[0]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t mode = data[0] & 3;
    data++;
    size--;
    if (mode == 0) {
        serve_bytes(data, size);
    } else if (mode == 1) {
        for (uint8_t type = RN_PDU_ASSOCIATE_RQ; type <= RN_PDU_ASSOCIATE_AC; type++) {
            RnAssocParams p;
            if (rn_pdu_parse_associate(type, data, size, &p, NULL) == 0) {
                RnBuf b = {0};
                if (rn_pdu_encode_associate(type, &p, &b, NULL) == 0 && b.len >= 6) {
                    RnAssocParams q;
                    if (rn_pdu_parse_associate(type, b.data + 6, b.len - 6, &q, NULL) != 0)
                        abort(); /* what we encode we must be able to parse */
                    rn_assoc_params_clear(&q);
                }
                rn_buf_free(&b);
                rn_assoc_params_clear(&p);
            }
        }
        RnAssocReject rj;
        RnAbort ab;
        rn_pdu_parse_reject(data, size, &rj, NULL);
        rn_pdu_parse_abort(data, size, &ab, NULL);
    } else if (mode == 2) {
        size_t pos = 0;
        RnPdv pdv;
        while (rn_pdu_next_pdv(data, size, &pos, &pdv, NULL) == 1) {
            RnDimseCommand c;
            if (pdv.command && rn_dimse_command_decode(pdv.data, pdv.len, &c, NULL) == 0) {
                RnBuf b = {0};
                rn_dimse_command_encode(&c, &b, NULL);
                rn_buf_free(&b);
            }
        }
    } else {
        RnUlFsm fsm;
        rn_ul_fsm_init(&fsm, data[0] & 1, 1.0);
        for (size_t i = 0; i < size; i++) {
            RnUlEvent ev = (RnUlEvent)(1 + data[i] % 19);
            rn_ul_fsm_step(&fsm, ev, (data[i] & 0x80) != 0);
            if (fsm.state < RN_STA1 || fsm.state > RN_STA13)
                abort();
        }
    }
    return 0;
}
