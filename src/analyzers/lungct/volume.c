/*
 * CT volume assembly for the lung nodule analyzer. The files of the study are
 * grouped by series and the largest CT image series is taken. Its slices are
 * ordered by Image Position (Patient) projected on the slice normal (the
 * cross product of the two Image Orientation (Patient) directions, PS3.3
 * C.7.6.2.1.1), never by Instance Number. The series is refused, with the
 * reason, when the slices disagree in orientation, size or pixel spacing,
 * when the positions show missing, duplicated or non-uniformly spaced slices
 * or an irregular shear, when it is not axial, or when slices are thicker
 * than 5 mm (thicker than 2.5 mm: analysed with a warning; docs/lungct.md).
 * A gantry tilt (positions sheared along one line) is resampled: each slice
 * is shifted in-plane onto an orthogonal grid (resample_tilt). Pixel
 * values become HU through the Modality LUT (rescale or LUT sequence) of each
 * slice, and the scan protocol (thickness, kernel, kVp, tube current,
 * contrast, scanner, date) is kept for the comparison of two time points.
 */
#include "lungct_internal.h"

#include "radnode/codec.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TAG_ContrastBolusAgent RN_TAG(0x0018, 0x0010)
#define TAG_KVP RN_TAG(0x0018, 0x0060)
#define TAG_SpacingBetweenSlices RN_TAG(0x0018, 0x0088)
#define TAG_GantryDetectorTilt RN_TAG(0x0018, 0x1120)
#define TAG_XRayTubeCurrent RN_TAG(0x0018, 0x1151)
#define TAG_Exposure RN_TAG(0x0018, 0x1152)
#define TAG_ConvolutionKernel RN_TAG(0x0018, 0x1210)
#define TAG_CTDIvol RN_TAG(0x0018, 0x9345)
#define TAG_ManufacturerModelName RN_TAG(0x0008, 0x1090)
#define TAG_AcquisitionDate RN_TAG(0x0008, 0x0022)

#define MAX_POSITION_MM 1e6 /* a position beyond 1 km is no geometry (overflow guard) */
#define MAX_TILT_DEG 30.0 /* a larger shear is refused (the axial check limits it to ~18) */
#define TILT_MIN_DEG 0.5  /* below: rounding in the positions, no resampling */
#define TILT_LINE_PX 0.25 /* a slice's sideways offset off the tilt's line: irregular */
#define TILT_PAD_HU -1024.0 /* outside a shifted slice's reconstructed field */

typedef struct SliceHeader {
    const char *path;
    char sop[RN_UID_MAX + 1];
    char series[RN_UID_MAX + 1];
    double ipp[3], iop[6], ps[2];
    double pos;
    uint32_t rows, cols;
    bool usable; /* CT image with geometry */
} SliceHeader;

void rn_lungct_scan_warn(RnLungScan *scan, const char *msg)
{
    if (scan->nwarnings < LCT_MAX_WARNINGS)
        rn_format(scan->warnings[scan->nwarnings++], sizeof scan->warnings[0], "%s", msg);
}

static int refuse(RnLungScan *scan, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int refuse(RnLungScan *scan, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(scan->reason, sizeof scan->reason, fmt, ap);
    va_end(ap);
    scan->refused = true;
    return 0;
}

static void get_str(const RnDataset *ds, RnTag tag, char *buf, size_t size)
{
    buf[0] = 0;
    rn_dataset_get_string(ds, tag, 0, buf, size, NULL);
}

static double get_dbl(const RnDataset *ds, RnTag tag)
{
    double v = 0;
    if (rn_dataset_get_double(ds, tag, 0, &v, NULL) || !isfinite(v))
        return 0;
    return v;
}

static int read_header(const char *path, SliceHeader *h, char *modality, size_t msize)
{
    RnReadOptions ro = {.stop_before = RN_TAG_PixelData};
    RnDicomFile *f = rn_dicom_read_file(path, &ro, NULL);
    memset(h, 0, sizeof *h);
    h->path = path;
    if (!f)
        return -1;
    const RnDataset *ds = rn_dicom_file_dataset(f);
    get_str(ds, RN_TAG_SOPInstanceUID, h->sop, sizeof h->sop);
    get_str(ds, RN_TAG_SeriesInstanceUID, h->series, sizeof h->series);
    get_str(ds, RN_TAG_Modality, modality, msize);
    int ok = !strcmp(modality, "CT");
    for (unsigned i = 0; ok && i < 3; i++)
        ok = !rn_dataset_get_double(ds, RN_TAG_ImagePositionPatient, i, &h->ipp[i], NULL) &&
             isfinite(h->ipp[i]) && fabs(h->ipp[i]) < MAX_POSITION_MM;
    for (unsigned i = 0; ok && i < 6; i++)
        ok = !rn_dataset_get_double(ds, RN_TAG_ImageOrientationPatient, i, &h->iop[i], NULL) &&
             isfinite(h->iop[i]);
    for (unsigned i = 0; ok && i < 2; i++)
        ok = !rn_dataset_get_double(ds, RN_TAG_PixelSpacing, i, &h->ps[i], NULL) &&
             h->ps[i] > 0 && h->ps[i] < 100;
    int64_t r = 0, c = 0;
    ok = ok && !rn_dataset_get_int(ds, RN_TAG_Rows, 0, &r, NULL) &&
         !rn_dataset_get_int(ds, RN_TAG_Columns, 0, &c, NULL) && r > 0 && c > 0 && r <= 4096 &&
         c <= 4096;
    h->rows = (uint32_t)r;
    h->cols = (uint32_t)c;
    h->usable = ok;
    rn_dicom_file_destroy(f);
    return 0;
}

static void read_protocol(const char *path, RnLungScan *scan)
{
    RnReadOptions ro = {.stop_before = RN_TAG_PixelData};
    RnDicomFile *f = rn_dicom_read_file(path, &ro, NULL);
    if (!f)
        return;
    const RnDataset *ds = rn_dicom_file_dataset(f);
    RnLungProtocol *p = &scan->proto;
    p->slice_thickness = get_dbl(ds, RN_TAG_SliceThickness);
    p->kvp = get_dbl(ds, TAG_KVP);
    p->gantry_tilt = get_dbl(ds, TAG_GantryDetectorTilt); /* the positions tell the geometry */
    p->tube_current = get_dbl(ds, TAG_XRayTubeCurrent);
    p->exposure = get_dbl(ds, TAG_Exposure);
    p->ctdi_vol = get_dbl(ds, TAG_CTDIvol);
    get_str(ds, TAG_ConvolutionKernel, p->kernel, sizeof p->kernel);
    get_str(ds, TAG_ContrastBolusAgent, p->contrast, sizeof p->contrast);
    get_str(ds, RN_TAG_Manufacturer, p->manufacturer, sizeof p->manufacturer);
    get_str(ds, TAG_ManufacturerModelName, p->model, sizeof p->model);
    get_str(ds, RN_TAG_SeriesDescription, p->series_description, sizeof p->series_description);
    get_str(ds, RN_TAG_StudyDate, p->study_date, sizeof p->study_date);
    if (!p->study_date[0])
        get_str(ds, RN_TAG_SeriesDate, p->study_date, sizeof p->study_date);
    if (!p->study_date[0])
        get_str(ds, TAG_AcquisitionDate, p->study_date, sizeof p->study_date);
    get_str(ds, RN_TAG_StudyInstanceUID, scan->study_uid, sizeof scan->study_uid);
    get_str(ds, RN_TAG_SOPClassUID, scan->sop_class_uid, sizeof scan->sop_class_uid);
    rn_dicom_file_destroy(f);
}

static int cmp_pos(const void *a, const void *b)
{
    double x = ((const SliceHeader *)a)->pos, y = ((const SliceHeader *)b)->pos;
    return x < y ? -1 : x > y;
}

static int cmp_dbl(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

long rn_lungct_date_days(const char *s)
{
    int y, m, d;
    if (!s || strlen(s) < 8 || sscanf(s, "%4d%2d%2d", &y, &m, &d) != 3 || m < 1 || m > 12 ||
        d < 1 || d > 31 || y < 1900 || y > 9999)
        return -1;
    /* days from civil (Howard Hinnant's algorithm) */
    y -= m <= 2;
    long era = (y >= 0 ? y : y - 399) / 400;
    long yoe = y - era * 400;
    long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void rn_lungct_voxel_to_patient(const RnLungScan *scan, const double v[3], double p[3])
{
    const double *s = scan->hu->spacing;
    for (int k = 0; k < 3; k++)
        p[k] = scan->origin[k] + v[0] * s[0] * scan->axis[0][k] + v[1] * s[1] * scan->axis[1][k] +
               v[2] * s[2] * scan->axis[2][k];
}

void rn_lungct_patient_to_voxel(const RnLungScan *scan, const double p[3], double v[3])
{
    double d[3] = {p[0] - scan->origin[0], p[1] - scan->origin[1], p[2] - scan->origin[2]};
    /* the axes are orthonormal after assembly */
    for (int a = 0; a < 3; a++)
        v[a] = (d[0] * scan->axis[a][0] + d[1] * scan->axis[a][1] + d[2] * scan->axis[a][2]) /
               scan->hu->spacing[a];
}

/* How far slice b's position lies from slice a's along the in-plane direction ax (mm), beyond
 * what their distance along the normal nrm explains: the sideways step of a sheared series. */
static double sideways(const SliceHeader *a, const SliceHeader *b, const double nrm[3],
                       const double ax[3])
{
    double off = 0;
    for (int k = 0; k < 3; k++)
        off += (b->ipp[k] - a->ipp[k] - (b->pos - a->pos) * nrm[k]) * ax[k];
    return off;
}

static int check_geometry(RnLungScan *scan, SliceHeader *sl, size_t n, double *spacing)
{
    const SliceHeader *a = &sl[0];
    double r[3] = {a->iop[0], a->iop[1], a->iop[2]}, c[3] = {a->iop[3], a->iop[4], a->iop[5]};
    double nr = sqrt(r[0] * r[0] + r[1] * r[1] + r[2] * r[2]);
    double nc = sqrt(c[0] * c[0] + c[1] * c[1] + c[2] * c[2]);
    if (nr < 0.5 || nc < 0.5)
        return refuse(scan, "Image Orientation (Patient) is not a pair of unit vectors");
    for (int k = 0; k < 3; k++) {
        r[k] /= nr;
        c[k] /= nc;
    }
    if (fabs(r[0] * c[0] + r[1] * c[1] + r[2] * c[2]) > 1e-3)
        return refuse(scan, "Image Orientation (Patient) directions are not orthogonal");
    double nrm[3] = {r[1] * c[2] - r[2] * c[1], r[2] * c[0] - r[0] * c[2],
                     r[0] * c[1] - r[1] * c[0]};
    if (fabs(nrm[2]) < 0.95 && fabs(scan->proto.gantry_tilt) > 0.01)
        return refuse(scan, "gantry tilt of %.1f degrees: slice planes more than %.0f degrees "
                            "off axial are not analysed", scan->proto.gantry_tilt,
                      acos(0.95) * 180.0 / M_PI);
    if (fabs(nrm[2]) < 0.95)
        return refuse(scan, "not an axial series (slice normal %.2f %.2f %.2f): the analyzer "
                            "needs axial slices", nrm[0], nrm[1], nrm[2]);
    for (size_t i = 0; i < n; i++) {
        for (int k = 0; k < 6; k++)
            if (fabs(sl[i].iop[k] - a->iop[k]) > 1e-3)
                return refuse(scan, "slices differ in Image Orientation (Patient)");
        if (sl[i].rows != a->rows || sl[i].cols != a->cols)
            return refuse(scan, "slices differ in size (%ux%u and %ux%u)", a->cols, a->rows,
                          sl[i].cols, sl[i].rows);
        if (fabs(sl[i].ps[0] - a->ps[0]) > 1e-3 || fabs(sl[i].ps[1] - a->ps[1]) > 1e-3)
            return refuse(scan, "slices differ in Pixel Spacing");
        sl[i].pos = sl[i].ipp[0] * nrm[0] + sl[i].ipp[1] * nrm[1] + sl[i].ipp[2] * nrm[2];
    }
    qsort(sl, n, sizeof *sl, cmp_pos);
    double *gaps = malloc((n - 1) * sizeof *gaps);
    if (!gaps)
        return RN_ERR_NOMEM;
    for (size_t i = 0; i + 1 < n; i++) {
        gaps[i] = sl[i + 1].pos - sl[i].pos;
        if (gaps[i] < 0.01) {
            free(gaps);
            return refuse(scan, "duplicated slice position %.2f mm (%s and %s): more than one "
                                "acquisition or reconstruction in the series", sl[i].pos,
                          sl[i].sop, sl[i + 1].sop);
        }
        /* Gantry tilt: consecutive positions move sideways, not only along the normal. The
         * shear must be one straight line (a constant sideways step per mm along the normal)
         * up to MAX_TILT_DEG; the slices are then shifted in-plane onto the orthogonal grid
         * (resample_tilt). */
        double d[3];
        for (int k = 0; k < 3; k++)
            d[k] = sl[i + 1].ipp[k] - sl[i].ipp[k] - gaps[i] * nrm[k];
        double side = sqrt(d[0] * d[0] + d[1] * d[1] + d[2] * d[2]);
        double angle = atan2(side, gaps[i]) * 180.0 / M_PI;
        if (angle > MAX_TILT_DEG) {
            free(gaps);
            return refuse(scan, "gantry tilt: slice positions are sheared by %.1f degrees "
                                "(at most %.0f are resampled)", angle, MAX_TILT_DEG);
        }
    }
    /* The shear as a whole: the sideways offset of each slice from the first, along the rows
     * and the columns, must follow one line (none, or a single tilt), within TILT_LINE_PX
     * (positions written to 0.1 mm stay within it): a slice moved sideways on its own is
     * refused, tilted or not. */
    double tilt_step[2] = {0, 0}; /* sideways mm per mm along the normal (x, y) */
    double span = sl[n - 1].pos - sl[0].pos;
    for (int a2 = 0; a2 < 2; a2++)
        tilt_step[a2] = span > 0 ? sideways(&sl[0], &sl[n - 1], nrm, a2 ? c : r) / span : 0;
    for (size_t i = 0; i < n; i++)
        for (int a2 = 0; a2 < 2; a2++) {
            double dev = sideways(&sl[0], &sl[i], nrm, a2 ? c : r) -
                         tilt_step[a2] * (sl[i].pos - sl[0].pos);
            if (fabs(dev) > TILT_LINE_PX * sl[0].ps[a2 ? 0 : 1]) {
                free(gaps);
                return refuse(scan, "slice positions are sheared irregularly (%.2f mm off %s at "
                                    "slice %zu)", dev, fabs(tilt_step[0]) + fabs(tilt_step[1]) > 0
                                    ? "a single gantry tilt" : "the others' line", i);
            }
        }
    double tilt = atan(hypot(tilt_step[0], tilt_step[1])) * 180.0 / M_PI;
    if (tilt > TILT_MIN_DEG) {
        scan->tilt_deg = tilt;
        scan->tilt_step[0] = tilt_step[0];
        scan->tilt_step[1] = tilt_step[1];
    }
    double *sorted = malloc((n - 1) * sizeof *sorted);
    if (!sorted) {
        free(gaps);
        return RN_ERR_NOMEM;
    }
    memcpy(sorted, gaps, (n - 1) * sizeof *gaps);
    qsort(sorted, n - 1, sizeof *sorted, cmp_dbl);
    double med = sorted[(n - 1) / 2];
    free(sorted);
    for (size_t i = 0; i + 1 < n; i++) {
        if (gaps[i] > 1.5 * med) {
            double g = gaps[i];
            free(gaps);
            return refuse(scan, "missing slices: a gap of %.2f mm between positions %.2f and "
                                "%.2f where the spacing is %.2f mm", g, sl[i].pos,
                          sl[i + 1].pos, med);
        }
        if (fabs(gaps[i] - med) > 0.05 * med + 0.01) {
            double g = gaps[i];
            free(gaps);
            return refuse(scan, "non-uniform slice spacing (%.3f mm where the median is %.3f "
                                "mm)", g, med);
        }
    }
    free(gaps);
    *spacing = med;
    for (int k = 0; k < 3; k++) {
        scan->axis[0][k] = r[k];
        scan->axis[1][k] = c[k];
        scan->axis[2][k] = nrm[k];
        scan->origin[k] = sl[0].ipp[k];
    }
    return 0;
}

static int load_pixels(RnLungScan *scan, const SliceHeader *sl, size_t n, RnError *err)
{
    RnVolume *v = scan->hu;
    size_t plane = v->nx * v->ny;
    for (size_t i = 0; i < n; i++) {
        RnError e = {0};
        RnDicomFile *f = rn_dicom_read_file(sl[i].path, NULL, &e);
        RnImageInfo info;
        size_t len = 0;
        uint8_t *frame = f ? rn_pixel_decode_frame(f, 0, &info, &len, &e) : NULL;
        int rc = -1;
        if (frame && info.samples_per_pixel == 1 && info.rows == v->ny && info.columns == v->nx)
            rc = rn_pixel_modality(rn_dicom_file_dataset(f), &info, frame, len,
                                   v->data + i * plane, &e);
        free(frame);
        rn_dicom_file_destroy(f);
        if (rc) {
            if (e.code == RN_ERR_NOMEM)
                return rn_error_set(err, RN_ERR_NOMEM, "lungct: out of memory decoding %s",
                                    sl[i].path);
            return refuse(scan, "slice %s cannot be decoded: %s", sl[i].sop,
                          e.message[0] ? e.message : "not a monochrome frame of the series size");
        }
    }
    return 0;
}

/* A tilted gantry: slice i lies in its own plane, but shifted sideways by tilt_step x (its
 * distance from the first slice along the normal). Its pixels are moved by that shift
 * (bilinear, air outside the reconstructed field) so that the volume is an orthogonal grid on
 * the first slice's origin; each slice keeps its plane, so its SOP Instance stays the
 * reference, and shift_px says where its original pixels are. */
static int resample_tilt(RnLungScan *scan, const SliceHeader *sl, size_t n, RnError *err)
{
    RnVolume *v = scan->hu;
    size_t nx = v->nx, ny = v->ny, plane = nx * ny;
    scan->shift_px = calloc(n, sizeof *scan->shift_px);
    float *tmp = malloc(plane * sizeof *tmp);
    if (!scan->shift_px || !tmp) {
        free(tmp);
        return rn_error_set(err, RN_ERR_NOMEM, "lungct: tilt resampling");
    }
    for (size_t i = 0; i < n; i++) {
        double along = sl[i].pos - sl[0].pos;
        double ox = scan->tilt_step[0] * along / v->spacing[0];
        double oy = scan->tilt_step[1] * along / v->spacing[1];
        scan->shift_px[i][0] = ox;
        scan->shift_px[i][1] = oy;
        float *d = v->data + i * plane;
        memcpy(tmp, d, plane * sizeof *tmp);
        double fx = floor(ox), fy = floor(oy), wx = ox - fx, wy = oy - fy;
        for (size_t y = 0; y < ny; y++)
            for (size_t x = 0; x < nx; x++) {
                /* grid (x, y) is the slice's own pixel (x - ox, y - oy) */
                long x0 = (long)x - (long)fx - 1, y0 = (long)y - (long)fy - 1;
                double acc = 0;
                for (int b = 0; b < 2; b++)
                    for (int a = 0; a < 2; a++) {
                        long xx = x0 + a, yy = y0 + b;
                        double wgt = (a ? 1 - wx : wx) * (b ? 1 - wy : wy);
                        bool in = xx >= 0 && yy >= 0 && xx < (long)nx && yy < (long)ny;
                        acc += wgt * (in ? tmp[(size_t)yy * nx + (size_t)xx] : TILT_PAD_HU);
                    }
                d[y * nx + x] = (float)acc;
            }
    }
    free(tmp);
    char w[200];
    rn_format(w, sizeof w, "gantry tilt of %.1f degrees: slices shifted in-plane onto an "
                           "orthogonal grid (up to %.1f pixels)", scan->tilt_deg,
              fmax(hypot(scan->shift_px[0][0], scan->shift_px[0][1]),
                   hypot(scan->shift_px[n - 1][0], scan->shift_px[n - 1][1])));
    rn_lungct_scan_warn(scan, w);
    return 0;
}

int rn_lungct_scan_load(const char *const *paths, size_t count, RnLungScan *scan, RnError *err)
{
    memset(scan, 0, sizeof *scan);
    if (!count)
        return refuse(scan, "no input files");
    SliceHeader *hs = calloc(count, sizeof *hs);
    if (!hs)
        return rn_error_set(err, RN_ERR_NOMEM, "lungct: slice headers");
    size_t readable = 0;
    for (size_t i = 0; i < count; i++) {
        char modality[17];
        if (!read_header(paths[i], &hs[i], modality, sizeof modality))
            readable++;
    }
    if (!readable) {
        free(hs);
        return rn_error_set(err, RN_ERR_INVALID, "lungct: none of %zu inputs is DICOM", count);
    }
    /* The largest series of usable CT slices. */
    size_t best = SIZE_MAX, best_n = 0;
    for (size_t i = 0; i < count; i++) {
        if (!hs[i].usable)
            continue;
        size_t c = 0;
        for (size_t j = 0; j < count; j++)
            c += hs[j].usable && !strcmp(hs[j].series, hs[i].series);
        if (c > best_n) {
            best_n = c;
            best = i;
        }
        if (c == count)
            break;
    }
    if (best == SIZE_MAX) {
        free(hs);
        return refuse(scan, "no CT image slices with patient geometry among the inputs");
    }
    snprintf(scan->series_uid, sizeof scan->series_uid, "%s", hs[best].series);
    SliceHeader *sl = calloc(best_n, sizeof *sl);
    if (!sl) {
        free(hs);
        return rn_error_set(err, RN_ERR_NOMEM, "lungct: slices");
    }
    size_t n = 0;
    for (size_t i = 0; i < count; i++)
        if (hs[i].usable && !strcmp(hs[i].series, scan->series_uid)) {
            /* The same instance twice (sent twice) is kept once. */
            bool dup = false;
            for (size_t j = 0; j < n && !dup; j++)
                dup = !strcmp(sl[j].sop, hs[i].sop);
            if (!dup)
                sl[n++] = hs[i];
        }
    free(hs);
    int rc = 0;
    read_protocol(sl[0].path, scan);
    if (scan->refused)
        goto done;
    if (n < LCT_MIN_SLICES) {
        refuse(scan, "%zu slices: at least %d are needed for a volume", n, LCT_MIN_SLICES);
        goto done;
    }
    if (n > LCT_MAX_SLICES) {
        refuse(scan, "%zu slices: more than %d", n, LCT_MAX_SLICES);
        goto done;
    }
    double dz = 0;
    rc = check_geometry(scan, sl, n, &dz);
    if (rc || scan->refused)
        goto done;
    RnLungProtocol *p = &scan->proto;
    p->slice_spacing = dz;
    p->pixel_spacing[0] = sl[0].ps[0];
    p->pixel_spacing[1] = sl[0].ps[1];
    double thick = p->slice_thickness > 0 ? p->slice_thickness : dz;
    if (thick > LCT_THICKNESS_MAX_MM + 0.01) {
        refuse(scan, "slice thickness %.2f mm: nodule volumetry needs slices of at most %.1f mm "
                     "(intended: <= %.1f mm)", thick, LCT_THICKNESS_MAX_MM,
               LCT_THICKNESS_INTENDED_MM);
        goto done;
    }
    if (thick > LCT_THICKNESS_INTENDED_MM + 0.01) {
        char w[200];
        rn_format(w, sizeof w, "slice thickness %.2f mm is outside the intended range (<= %.1f "
                               "mm): small nodules may be missed and volumes are less exact",
                  thick, LCT_THICKNESS_INTENDED_MM);
        rn_lungct_scan_warn(scan, w);
    }
    if (dz > thick * 1.01 + 0.01) {
        char w[200];
        rn_format(w, sizeof w, "slice spacing %.2f mm exceeds the thickness %.2f mm (gaps "
                               "between slices)", dz, thick);
        rn_lungct_scan_warn(scan, w);
    }
    /* PixelSpacing is (row spacing = along y, column spacing = along x). */
    double spacing[3] = {sl[0].ps[1], sl[0].ps[0], dz};
    scan->hu = rn_volume_create(sl[0].cols, sl[0].rows, n, spacing, err);
    scan->sop_uids = calloc(n, sizeof *scan->sop_uids);
    scan->paths = calloc(n, sizeof *scan->paths);
    if (!scan->hu || !scan->sop_uids || !scan->paths) {
        rc = rn_error_set(err, RN_ERR_NOMEM, "lungct: volume of %u x %u x %zu", sl[0].cols,
                          sl[0].rows, n);
        goto done;
    }
    scan->nslices = n;
    for (size_t i = 0; i < n; i++) {
        snprintf(scan->sop_uids[i], sizeof scan->sop_uids[i], "%s", sl[i].sop);
        scan->paths[i] = sl[i].path;
    }
    rc = load_pixels(scan, sl, n, err);
    if (!rc && !scan->refused && scan->tilt_deg > 0)
        rc = resample_tilt(scan, sl, n, err);
done:
    free(sl);
    return rc;
}

void rn_lungct_scan_free(RnLungScan *scan)
{
    if (!scan)
        return;
    rn_volume_destroy(scan->hu);
    free(scan->shift_px);
    free(scan->sop_uids);
    free((void *)scan->paths);
    memset(scan, 0, sizeof *scan);
}
