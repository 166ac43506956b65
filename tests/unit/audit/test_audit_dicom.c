/*
 * The DICOM-side audit messages of issue 9 at the message level (the node's
 * events themselves are driven by tests/integration/test_audit_rsyslog.sh):
 * a study received with two SOP classes is one participant object with two
 * SOPClass entries and their counts; a Query carries the identifier bytes in
 * ParticipantObjectQuery and its transfer syntax as ParticipantObjectDetail;
 * a refused association is a Security Alert of type Node Authentication.
 * Every message validates against the A.5.1 schema with xmllint.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "radnode/audit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static bool have_xmllint(const char **rng_out)
{
    static char rng[512];
    const char *src = getenv("RN_SOURCE_DIR");
    snprintf(rng, sizeof rng, "%s/tests/unit/audit/dicom_audit_message.rng", src ? src : "..");
    *rng_out = rng;
    return system("command -v xmllint >/dev/null 2>&1") == 0 && access(rng, R_OK) == 0;
}

/* Builds the message, checks it against the schema (when xmllint is there)
 * and returns it (NUL-terminated, caller frees). */
static char *build_valid(const RnAuditEvent *ev)
{
    RnBuf b = {0};
    RnError err = {0};
    assert_int_equal(rn_audit_message_xml(ev, "RADNODE", "SITE", 1.7e9, &b, &err), 0);
    assert_int_equal(rn_buf_append_byte(&b, 0), 0);
    const char *rng;
    if (have_xmllint(&rng)) {
        char path[] = "/tmp/rn_audit_dicom_XXXXXX";
        int fd = mkstemp(path);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, b.data, b.len - 1), (ssize_t)(b.len - 1));
        close(fd);
        char cmd[1200];
        snprintf(cmd, sizeof cmd, "xmllint --noout --relaxng '%s' '%s' 2>&1", rng, path);
        int rc = system(cmd);
        unlink(path);
        if (rc != 0)
            fail_msg("invalid against the A.5.1 schema: %s", (char *)b.data);
    }
    return (char *)b.data;
}

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

static void test_study_with_two_sop_classes_is_one_object(void **state)
{
    (void)state;
    RnAuditEvent ev = {.kind = RN_AUDIT_INSTANCES_TRANSFERRED,
                       .action = 'C',
                       .patient_id = "P1",
                       .patient_name = "Doe^Jane"};
    ev.participants[ev.participant_count++] = (RnAuditParticipant){.user_id = "MODALITY",
                                                                   .network_address = "10.0.0.9",
                                                                   .is_requestor = true,
                                                                   .role = RN_AUDIT_ROLE_SOURCE};
    ev.participants[ev.participant_count++] =
        (RnAuditParticipant){.user_id = "RADNODE", .role = RN_AUDIT_ROLE_DESTINATION};
    ev.studies[ev.study_count++] = (RnAuditStudy){"1.2.3", "ACC1", "1.2.840.10008.5.1.4.1.1.2", 7};
    ev.studies[ev.study_count++] = (RnAuditStudy){"1.2.3", "ACC1", "1.2.840.10008.5.1.4.1.1.7", 1};
    ev.studies[ev.study_count++] = (RnAuditStudy){"1.2.4", NULL, "1.2.840.10008.5.1.4.1.1.4", 2};
    char *x = build_valid(&ev);
    assert_int_equal(count(x, "ParticipantObjectID=\"1.2.3\""), 1);
    assert_int_equal(count(x, "ParticipantObjectID=\"1.2.4\""), 1);
    assert_non_null(strstr(x, "EventActionCode=\"C\""));
    assert_non_null(
        strstr(x, "<Accession Number=\"ACC1\"/><SOPClass UID=\"1.2.840.10008.5.1.4.1.1.2\" "
                  "NumberOfInstances=\"7\"/><SOPClass UID=\"1.2.840.10008.5.1.4.1.1.7\" "
                  "NumberOfInstances=\"1\"/></ParticipantObjectDescription>"));
    assert_int_equal(count(x, "<Accession "), 1);
    free(x);
}

static void test_query_carries_identifier_and_transfer_syntax(void **state)
{
    (void)state;
    static const uint8_t id[] = {0x08, 0x00, 0x52, 0x00, 0x06, 0x00, 0x00,
                                 0x00, 'S',  'T',  'U',  'D',  'Y',  ' '};
    RnAuditEvent ev = {.kind = RN_AUDIT_QUERY,
                       .query = id,
                       .query_len = sizeof id,
                       .query_sop_class = "1.2.840.10008.5.1.4.1.2.2.1",
                       .query_transfer_syntax = "1.2.840.10008.1.2"};
    ev.participants[ev.participant_count++] =
        (RnAuditParticipant){.user_id = "FINDSCU", .is_requestor = true};
    char *x = build_valid(&ev);
    /* base64 of the 14 bytes above, and of "1.2.840.10008.1.2". */
    assert_non_null(
        strstr(x, "<ParticipantObjectQuery>CABSAAYAAABTVFVEWSA=</ParticipantObjectQuery>"));
    assert_non_null(strstr(x, "<ParticipantObjectDetail type=\"TransferSyntax\" "
                              "value=\"MS4yLjg0MC4xMDAwOC4xLjI=\"/>"));
    assert_non_null(strstr(x, "ParticipantObjectID=\"1.2.840.10008.5.1.4.1.2.2.1\""));
    free(x);
}

static void test_refused_association_alert(void **state)
{
    (void)state;
    RnAuditEvent ev = {.kind = RN_AUDIT_SECURITY_ALERT,
                       .outcome = RN_AUDIT_MINOR_FAILURE,
                       .outcome_description = "calling AE title \"X<&>\" not recognized",
                       .alert_code = "110126",
                       .alert_meaning = "Node Authentication",
                       .alert_object = "X<&>@10.0.0.1"};
    ev.participants[ev.participant_count++] = (RnAuditParticipant){
        .user_id = "X<&>", .network_address = "10.0.0.1", .is_requestor = true};
    ev.participants[ev.participant_count++] =
        (RnAuditParticipant){.user_id = "RADNODE", .role = RN_AUDIT_ROLE_APPLICATION};
    char *x = build_valid(&ev);
    assert_non_null(strstr(x, "csd-code=\"110113\""));
    assert_non_null(strstr(x, "<EventTypeCode csd-code=\"110126\""));
    assert_non_null(strstr(x, "EventOutcomeIndicator=\"4\""));
    assert_non_null(strstr(x, "UserID=\"X&lt;&amp;&gt;\""));
    free(x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_study_with_two_sop_classes_is_one_object),
        cmocka_unit_test(test_query_carries_identifier_and_transfer_syntax),
        cmocka_unit_test(test_refused_association_alert),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
