/*
 * Transfer syntaxes (PS3.5 Section 10 and Annex A; UIDs from PS3.6 Annex A):
 * for each one, how the dataset is encoded (implicit or explicit VR, byte
 * order, deflated per PS3.5 A.5) and how Pixel Data is held (native, or
 * encapsulated in fragments per PS3.5 A.4), and whether the compression may be
 * irreversible ("lossy": JPEG 2000 (.91) and HTJ2K (.203) may also carry
 * reversible streams; the flag means the transfer syntax admits loss).
 *
 * The JPIP referenced and SMPTE ST 2110 (DICOM-RTV) syntaxes of PS3.5 Annex A
 * carry no Pixel Data in the dataset, so they are not encapsulated. Deflated
 * Image Frame Compression (PS3.5 A.4.13) deflates each frame into fragments;
 * its dataset is not deflated. The retired non-dataset encodings (RFC 2557
 * MIME, XML) are left out.
 */
#include "radnode/dicom.h"

#include <string.h>

/* clang-format off */
#define TS(uid, name, explicit_vr, big_endian, deflated, encapsulated, lossy)                       \
    {uid, name, explicit_vr, big_endian, deflated, encapsulated, lossy}

/* Most used first: rn_transfer_syntax_find scans in order. */
static const RnTransferSyntax ts_table[] = {
    /*  uid, name,                                                   explicit big defl encap lossy */
    TS(RN_UID_EXPLICIT_VR_LE, "Explicit VR Little Endian", true, false, false, false, false),
    TS(RN_UID_IMPLICIT_VR_LE, "Implicit VR Little Endian", false, false, false, false, false),
    TS(RN_UID_JPEG_BASELINE, "JPEG Baseline (Process 1)", true, false, false, true, true),
    TS(RN_UID_JPEG_LOSSLESS_SV1,
       "JPEG Lossless, Non-Hierarchical, First-Order Prediction (Process 14 [Selection Value 1])",
       true, false, false, true, false),
    TS(RN_UID_JPEG2000_LOSSLESS, "JPEG 2000 Image Compression (Lossless Only)", true, false, false,
       true, false),
    TS(RN_UID_JPEG2000, "JPEG 2000 Image Compression", true, false, false, true, true),
    TS(RN_UID_RLE_LOSSLESS, "RLE Lossless", true, false, false, true, false),
    TS(RN_UID_JPEG_LS_LOSSLESS, "JPEG-LS Lossless Image Compression", true, false, false, true,
       false),
    TS(RN_UID_JPEG_LS_NEAR_LOSSLESS, "JPEG-LS Lossy (Near-Lossless) Image Compression", true,
       false, false, true, true),
    TS(RN_UID_JPEG_EXTENDED, "JPEG Extended (Process 2 and 4)", true, false, false, true, true),
    TS(RN_UID_JPEG_LOSSLESS, "JPEG Lossless, Non-Hierarchical (Process 14)", true, false, false,
       true, false),
    TS(RN_UID_DEFLATED_EXPLICIT_VR_LE, "Deflated Explicit VR Little Endian", true, false, true,
       false, false),
    TS(RN_UID_EXPLICIT_VR_BE, "Explicit VR Big Endian (Retired)", true, true, false, false, false),
    TS("1.2.840.10008.1.2.1.98", "Encapsulated Uncompressed Explicit VR Little Endian", true,
       false, false, true, false),
    /* Retired JPEG processes (PS3.5 A.4.1, PS3.6 Annex A). */
    TS("1.2.840.10008.1.2.4.52", "JPEG Extended (Process 3 and 5) (Retired)", true, false, false,
       true, true),
    TS("1.2.840.10008.1.2.4.53",
       "JPEG Spectral Selection, Non-Hierarchical (Process 6 and 8) (Retired)", true, false, false,
       true, true),
    TS("1.2.840.10008.1.2.4.54",
       "JPEG Spectral Selection, Non-Hierarchical (Process 7 and 9) (Retired)", true, false, false,
       true, true),
    TS("1.2.840.10008.1.2.4.55",
       "JPEG Full Progression, Non-Hierarchical (Process 10 and 12) (Retired)", true, false, false,
       true, true),
    TS("1.2.840.10008.1.2.4.56",
       "JPEG Full Progression, Non-Hierarchical (Process 11 and 13) (Retired)", true, false, false,
       true, true),
    TS("1.2.840.10008.1.2.4.58", "JPEG Lossless, Non-Hierarchical (Process 15) (Retired)", true,
       false, false, true, false),
    TS("1.2.840.10008.1.2.4.59", "JPEG Extended, Hierarchical (Process 16 and 18) (Retired)", true,
       false, false, true, true),
    TS("1.2.840.10008.1.2.4.60", "JPEG Extended, Hierarchical (Process 17 and 19) (Retired)", true,
       false, false, true, true),
    TS("1.2.840.10008.1.2.4.61",
       "JPEG Spectral Selection, Hierarchical (Process 20 and 22) (Retired)", true, false, false,
       true, true),
    TS("1.2.840.10008.1.2.4.62",
       "JPEG Spectral Selection, Hierarchical (Process 21 and 23) (Retired)", true, false, false,
       true, true),
    TS("1.2.840.10008.1.2.4.63",
       "JPEG Full Progression, Hierarchical (Process 24 and 26) (Retired)", true, false, false,
       true, true),
    TS("1.2.840.10008.1.2.4.64",
       "JPEG Full Progression, Hierarchical (Process 25 and 27) (Retired)", true, false, false,
       true, true),
    TS("1.2.840.10008.1.2.4.65", "JPEG Lossless, Hierarchical (Process 28) (Retired)", true, false,
       false, true, false),
    TS("1.2.840.10008.1.2.4.66", "JPEG Lossless, Hierarchical (Process 29) (Retired)", true, false,
       false, true, false),
    /* JPEG 2000 Part 2 multi-component. */
    TS("1.2.840.10008.1.2.4.92",
       "JPEG 2000 Part 2 Multi-component Image Compression (Lossless Only)", true, false, false,
       true, false),
    TS("1.2.840.10008.1.2.4.93", "JPEG 2000 Part 2 Multi-component Image Compression", true,
       false, false, true, true),
    /* JPIP: a Pixel Data Provider URL instead of Pixel Data. */
    TS("1.2.840.10008.1.2.4.94", "JPIP Referenced", true, false, false, false, true),
    TS("1.2.840.10008.1.2.4.95", "JPIP Referenced Deflate", true, false, true, false, true),
    /* MPEG-2, MPEG-4 AVC/H.264 and HEVC/H.265 video: one stream split into fragments. */
    TS("1.2.840.10008.1.2.4.100", "MPEG2 Main Profile / Main Level", true, false, false, true,
       true),
    TS("1.2.840.10008.1.2.4.101", "MPEG2 Main Profile / High Level", true, false, false, true,
       true),
    TS("1.2.840.10008.1.2.4.102", "MPEG-4 AVC/H.264 High Profile / Level 4.1", true, false, false,
       true, true),
    TS("1.2.840.10008.1.2.4.103", "MPEG-4 AVC/H.264 BD-compatible High Profile / Level 4.1", true,
       false, false, true, true),
    TS("1.2.840.10008.1.2.4.104", "MPEG-4 AVC/H.264 High Profile / Level 4.2 For 2D Video", true,
       false, false, true, true),
    TS("1.2.840.10008.1.2.4.105", "MPEG-4 AVC/H.264 High Profile / Level 4.2 For 3D Video", true,
       false, false, true, true),
    TS("1.2.840.10008.1.2.4.106", "MPEG-4 AVC/H.264 Stereo High Profile / Level 4.2", true, false,
       false, true, true),
    TS("1.2.840.10008.1.2.4.107", "HEVC/H.265 Main Profile / Level 5.1", true, false, false, true,
       true),
    TS("1.2.840.10008.1.2.4.108", "HEVC/H.265 Main 10 Profile / Level 5.1", true, false, false,
       true, true),
    /* JPEG XL: the JPEG recompression is lossless, but of a lossy JPEG. */
    TS("1.2.840.10008.1.2.4.110", "JPEG XL Lossless", true, false, false, true, false),
    TS("1.2.840.10008.1.2.4.111", "JPEG XL JPEG Recompression", true, false, false, true, true),
    TS("1.2.840.10008.1.2.4.112", "JPEG XL", true, false, false, true, true),
    /* High-Throughput JPEG 2000 and its JPIP forms. */
    TS("1.2.840.10008.1.2.4.201", "High-Throughput JPEG 2000 Image Compression (Lossless Only)",
       true, false, false, true, false),
    TS("1.2.840.10008.1.2.4.202",
       "High-Throughput JPEG 2000 with RPCL Options Image Compression (Lossless Only)", true,
       false, false, true, false),
    TS("1.2.840.10008.1.2.4.203", "High-Throughput JPEG 2000 Image Compression", true, false,
       false, true, true),
    TS("1.2.840.10008.1.2.4.204", "JPIP HTJ2K Referenced", true, false, false, false, true),
    TS("1.2.840.10008.1.2.4.205", "JPIP HTJ2K Referenced Deflate", true, false, true, false, true),
    /* SMPTE ST 2110 (DICOM-RTV): the essence travels outside the dataset. */
    TS("1.2.840.10008.1.2.7.1", "SMPTE ST 2110-20 Uncompressed Progressive Active Video", true,
       false, false, false, false),
    TS("1.2.840.10008.1.2.7.2", "SMPTE ST 2110-20 Uncompressed Interlaced Active Video", true,
       false, false, false, false),
    TS("1.2.840.10008.1.2.7.3", "SMPTE ST 2110-30 PCM Digital Audio", true, false, false, false,
       false),
    TS("1.2.840.10008.1.2.8.1", "Deflated Image Frame Compression", true, false, false, true,
       false),
    /* Retired, still met in old archives (PS3.6 Annex A, retired 2015c). */
    TS("1.2.840.10008.1.20", "Papyrus 3 Implicit VR Little Endian (Retired)", false, false, false,
       false, false),
};

const RnTransferSyntax *rn_transfer_syntax_find(const char *uid)
{
    if (!uid)
        return NULL;
    for (size_t i = 0; i < sizeof ts_table / sizeof ts_table[0]; i++)
        if (strcmp(ts_table[i].uid, uid) == 0)
            return &ts_table[i];
    return NULL;
}

const RnTransferSyntax *rn_transfer_syntax_implicit_le(void)
{
    return &ts_table[1];
}

const RnTransferSyntax *rn_transfer_syntax_explicit_le(void)
{
    return &ts_table[0];
}
