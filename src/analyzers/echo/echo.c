/*
 * The `echo` analyzer: a trivial, non-clinical analyzer that reports what it
 * received (number of instances and series, modality, the SOP classes), so
 * that the whole path (ingest, routing, jobs, report objects, exports to the
 * PACS and the RIS) can be tested end to end without a clinical model. Its
 * results say plainly that they carry no clinical finding.
 */
#include "radnode/analyzer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_t *echo_run(const RnAnalysisInput *in, RnError *err)
{
    json_t *sources = json_array();
    json_t *series = json_object();
    char modality[17] = "";
    for (size_t i = 0; i < in->count; i++) {
        RnReadOptions ro = {.stop_before = RN_TAG_PixelData};
        RnError e = {0};
        RnDicomFile *f = rn_dicom_read_file(in->paths[i], &ro, &e);
        if (!f)
            continue; /* not DICOM: not counted */
        RnDataset *ds = rn_dicom_file_dataset(f);
        char sop_class[RN_UID_MAX + 1] = "", sop[RN_UID_MAX + 1] = "", ser[RN_UID_MAX + 1] = "";
        rn_dataset_get_string(ds, RN_TAG_SOPClassUID, 0, sop_class, sizeof sop_class, NULL);
        rn_dataset_get_string(ds, RN_TAG_SOPInstanceUID, 0, sop, sizeof sop, NULL);
        rn_dataset_get_string(ds, RN_TAG_SeriesInstanceUID, 0, ser, sizeof ser, NULL);
        if (!modality[0])
            rn_dataset_get_string(ds, RN_TAG_Modality, 0, modality, sizeof modality, NULL);
        json_array_append_new(sources, json_pack("{s:s, s:s, s:s, s:s}", "path", in->paths[i],
                                                 "sop_class_uid", sop_class, "sop_instance_uid",
                                                 sop, "series_uid", ser));
        json_object_set_new(series, ser, json_true());
        rn_dicom_file_destroy(f);
    }
    size_t n = json_array_size(sources);
    if (n == 0) {
        json_decref(sources);
        json_decref(series);
        rn_error_set(err, RN_ERR_INVALID, "echo: no readable DICOM instance among %zu inputs",
                     in->count);
        return NULL;
    }
    size_t nseries = json_object_size(series);
    json_decref(series);
    char en[200], zh[200];
    snprintf(en, sizeof en, "Echo: received %zu instance%s in %zu series (modality %s).", n,
             n == 1 ? "" : "s", nseries, modality[0] ? modality : "unknown");
    snprintf(zh, sizeof zh, "回显：收到 %zu 个实例，%zu 个序列（模态 %s）。", n, nseries,
             modality[0] ? modality : "未知");
    json_t *f = json_pack(
        "{s:s, s:s, s:{s:s, s:s, s:s}, s:s, s:n, s:s?, s:o, s:[{s:s, s:{s:s, s:s, s:s}, s:I, "
        "s:{s:s, s:s}, s:i}], s:[], s:[], s:{s:[s, s], s:[s, s]}, s:s, s:[s]}",
        "analyzer", "echo", "analyzer_version", "1.0.0", "algorithm", "name", "radnode echo",
        "version", "1.0.0", "manufacturer", "radnode", "status", "ok", "refusal_reason",
        "study_uid", in->study_uid, "sources", sources, "measurements", "group", "Echo",
        "concept", "scheme", "99RADNODE", "value", "ECHO-N", "meaning", "Instances received",
        "value", (json_int_t)n, "unit", "ucum", "{instances}", "meaning", "instances",
        "source_index", 0, "codes", "overlays", "text", "en", en,
        "Test analyzer: no clinical finding.", "zh", zh, "测试分析器：不含临床结论。",
        "confidence", "high", "notes", "Non-clinical test result (echo analyzer).");
    if (!f)
        rn_error_set(err, RN_ERR_NOMEM, "echo: cannot build findings");
    return f;
}

const RnAnalyzer rn_analyzer_echo = {
    .name = "echo",
    .version = "1.0.0",
    .description = "test analyzer: reports the instances it received (non-clinical)",
    .run = echo_run,
};
