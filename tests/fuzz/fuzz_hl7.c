/*
 * libFuzzer target for the HL7 v2 parser (HL7 v2.5.1 chapter 2: 2.5 message
 * construction, 2.7 escapes), the acknowledgment builder and interpreter
 * (2.9.2) and the MLLP deframer. Any byte string is parsed; if it parses,
 * every field of every segment is read through the path getters, the message
 * is serialised and re-parsed (the second serialisation must equal the first),
 * acknowledged with AA and AE, and its ACK read back. The raw bytes also go
 * through the unparsed-ACK builder, the ACK interpreter and the deframer.
 * Must never crash, hang or leak, whatever the input.
 */
#include "radnode/hl7.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_ack(RnHl7Message *ack, const char *expected_control)
{
    if (!ack)
        return;
    RnBuf b = {0};
    if (rn_hl7_serialize(ack, &b, NULL) == 0) {
        RnHl7Ack a;
        if (rn_hl7_ack_parse(b.data, b.len, &a, NULL) != 0)
            abort(); /* an ACK we built must read back */
        if (expected_control && strncmp(a.control_id, expected_control, RN_HL7_MAX_CONTROL_ID))
            abort();
    }
    rn_buf_free(&b);
    rn_hl7_message_destroy(ack);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    RnHl7Limits lim = {.max_message_bytes = 1 << 20, .max_segments = 2000, .max_fields = 300};
    RnHl7Message *m = rn_hl7_parse(data, size, &lim, NULL);
    if (m) {
        char path[64], buf[256];
        size_t nseg = rn_hl7_segment_count(m);
        for (size_t i = 0; i < nseg && i < 200; i++) {
            const char *name = rn_hl7_segment_name(m, i);
            size_t occ = 0;
            for (size_t k = 0; k <= i; k++)
                if (strcmp(rn_hl7_segment_name(m, k), name) == 0)
                    occ++;
            size_t nf = rn_hl7_segment_field_count(m, i);
            for (size_t f = 1; f <= nf + 1 && f < 60; f++) {
                snprintf(path, sizeof path, "%s[%zu]-%zu[2]-3-2", name, occ, f);
                rn_hl7_get(m, path, buf, sizeof buf, NULL);
                snprintf(path, sizeof path, "%s[%zu]-%zu", name, occ, f);
                rn_hl7_get(m, path, buf, sizeof buf, NULL);
                free(rn_hl7_get_dup(m, path, NULL));
                rn_hl7_repetition_count(m, path);
            }
        }
        RnBuf a = {0}, b = {0};
        if (rn_hl7_serialize(m, &a, NULL) == 0) {
            RnHl7Message *m2 = rn_hl7_parse(a.data, a.len, &lim, NULL);
            if (!m2)
                abort(); /* what we serialise must parse */
            if (rn_hl7_serialize(m2, &b, NULL) != 0 || a.len != b.len ||
                memcmp(a.data, b.data, a.len) != 0)
                abort();
            rn_hl7_message_destroy(m2);
        }
        rn_buf_free(&a);
        rn_buf_free(&b);
        /* Setting with escaping must keep the message parseable. */
        if (rn_hl7_set(m, "MSH-3", "A|B^C~D\\E&F\r", NULL) == 0) {
            RnBuf c = {0};
            if (rn_hl7_serialize(m, &c, NULL) == 0) {
                RnHl7Message *m3 = rn_hl7_parse(c.data, c.len, &lim, NULL);
                char v[64];
                if (!m3 || rn_hl7_get(m3, "MSH-3", v, sizeof v, NULL) < 0 ||
                    strcmp(v, "A|B^C~D\\E&F\r") != 0)
                    abort();
                rn_hl7_message_destroy(m3);
            }
            rn_buf_free(&c);
        }
        RnHl7AckOptions o = {.control_id = "FUZZ", .timestamp = "20240101", .text = "x"};
        check_ack(rn_hl7_ack_build(m, RN_HL7_ACK_AA, &o, NULL), NULL);
        check_ack(rn_hl7_ack_build(m, RN_HL7_ACK_AE, &o, NULL), NULL);
        RnHl7Ack ack;
        rn_hl7_ack_from_message(m, &ack, NULL);
        rn_hl7_message_destroy(m);
    }
    RnHl7AckOptions o = {.control_id = "FUZZ", .timestamp = "20240101"};
    check_ack(rn_hl7_ack_build_unparsed(data, size, RN_HL7_ACK_AR, &o, NULL), NULL);
    RnHl7Ack ack;
    rn_hl7_ack_parse(data, size, &ack, NULL);

    const uint8_t *p = data;
    size_t left = size;
    for (int i = 0; i < 64; i++) {
        const uint8_t *payload;
        size_t plen, used;
        if (rn_hl7_mllp_deframe(p, left, 4096, &payload, &plen, &used, NULL) != 1)
            break;
        if (used > left || plen > used)
            abort();
        p += used;
        left -= used;
    }
    return 0;
}
