/*
 * radnode DICOM data layer: tags, VRs, the data dictionary, datasets and the
 * Part 10 file format (PS3.5 data structures and encoding, PS3.6 dictionary,
 * PS3.10 media storage file format).
 *
 * Ownership: rn_*_create returns an object the caller destroys with the matching
 * rn_*_destroy (destroy(NULL) is a no-op). Getters return borrowed pointers that
 * stay valid until the owning dataset is modified or destroyed.
 */
#ifndef RADNODE_DICOM_H
#define RADNODE_DICOM_H

#include "radnode/core.h"

/* ---- Tags ------------------------------------------------------------------ */
typedef uint32_t RnTag;
#define RN_TAG(g, e) ((RnTag)(((uint32_t)(g) << 16) | (uint32_t)(e)))
#define RN_TAG_GROUP(t) ((uint16_t)((t) >> 16))
#define RN_TAG_ELEMENT(t) ((uint16_t)((t)&0xFFFF))

#define RN_TAG_ITEM RN_TAG(0xFFFE, 0xE000)
#define RN_TAG_ITEM_DELIM RN_TAG(0xFFFE, 0xE00D)
#define RN_TAG_SEQ_DELIM RN_TAG(0xFFFE, 0xE0DD)
#define RN_UNDEFINED_LENGTH 0xFFFFFFFFu

/* Frequently used tags (the full set is in the dictionary). */
#define RN_TAG_FileMetaInformationGroupLength RN_TAG(0x0002, 0x0000)
#define RN_TAG_FileMetaInformationVersion RN_TAG(0x0002, 0x0001)
#define RN_TAG_MediaStorageSOPClassUID RN_TAG(0x0002, 0x0002)
#define RN_TAG_MediaStorageSOPInstanceUID RN_TAG(0x0002, 0x0003)
#define RN_TAG_TransferSyntaxUID RN_TAG(0x0002, 0x0010)
#define RN_TAG_ImplementationClassUID RN_TAG(0x0002, 0x0012)
#define RN_TAG_ImplementationVersionName RN_TAG(0x0002, 0x0013)
#define RN_TAG_SourceApplicationEntityTitle RN_TAG(0x0002, 0x0016)
#define RN_TAG_SpecificCharacterSet RN_TAG(0x0008, 0x0005)
#define RN_TAG_ImageType RN_TAG(0x0008, 0x0008)
#define RN_TAG_SOPClassUID RN_TAG(0x0008, 0x0016)
#define RN_TAG_SOPInstanceUID RN_TAG(0x0008, 0x0018)
#define RN_TAG_StudyDate RN_TAG(0x0008, 0x0020)
#define RN_TAG_SeriesDate RN_TAG(0x0008, 0x0021)
#define RN_TAG_ContentDate RN_TAG(0x0008, 0x0023)
#define RN_TAG_StudyTime RN_TAG(0x0008, 0x0030)
#define RN_TAG_ContentTime RN_TAG(0x0008, 0x0033)
#define RN_TAG_AccessionNumber RN_TAG(0x0008, 0x0050)
#define RN_TAG_QueryRetrieveLevel RN_TAG(0x0008, 0x0052)
#define RN_TAG_Modality RN_TAG(0x0008, 0x0060)
#define RN_TAG_Manufacturer RN_TAG(0x0008, 0x0070)
#define RN_TAG_ReferringPhysicianName RN_TAG(0x0008, 0x0090)
#define RN_TAG_StudyDescription RN_TAG(0x0008, 0x1030)
#define RN_TAG_SeriesDescription RN_TAG(0x0008, 0x103E)
#define RN_TAG_PatientName RN_TAG(0x0010, 0x0010)
#define RN_TAG_PatientID RN_TAG(0x0010, 0x0020)
#define RN_TAG_PatientBirthDate RN_TAG(0x0010, 0x0030)
#define RN_TAG_PatientSex RN_TAG(0x0010, 0x0040)
#define RN_TAG_PatientAge RN_TAG(0x0010, 0x1010)
#define RN_TAG_BodyPartExamined RN_TAG(0x0018, 0x0015)
#define RN_TAG_SliceThickness RN_TAG(0x0018, 0x0050)
#define RN_TAG_StudyInstanceUID RN_TAG(0x0020, 0x000D)
#define RN_TAG_SeriesInstanceUID RN_TAG(0x0020, 0x000E)
#define RN_TAG_StudyID RN_TAG(0x0020, 0x0010)
#define RN_TAG_SeriesNumber RN_TAG(0x0020, 0x0011)
#define RN_TAG_InstanceNumber RN_TAG(0x0020, 0x0013)
#define RN_TAG_ImagePositionPatient RN_TAG(0x0020, 0x0032)
#define RN_TAG_ImageOrientationPatient RN_TAG(0x0020, 0x0037)
#define RN_TAG_FrameOfReferenceUID RN_TAG(0x0020, 0x0052)
#define RN_TAG_SamplesPerPixel RN_TAG(0x0028, 0x0002)
#define RN_TAG_PhotometricInterpretation RN_TAG(0x0028, 0x0004)
#define RN_TAG_PlanarConfiguration RN_TAG(0x0028, 0x0006)
#define RN_TAG_NumberOfFrames RN_TAG(0x0028, 0x0008)
#define RN_TAG_Rows RN_TAG(0x0028, 0x0010)
#define RN_TAG_Columns RN_TAG(0x0028, 0x0011)
#define RN_TAG_PixelSpacing RN_TAG(0x0028, 0x0030)
#define RN_TAG_BitsAllocated RN_TAG(0x0028, 0x0100)
#define RN_TAG_BitsStored RN_TAG(0x0028, 0x0101)
#define RN_TAG_HighBit RN_TAG(0x0028, 0x0102)
#define RN_TAG_PixelRepresentation RN_TAG(0x0028, 0x0103)
#define RN_TAG_WindowCenter RN_TAG(0x0028, 0x1050)
#define RN_TAG_WindowWidth RN_TAG(0x0028, 0x1051)
#define RN_TAG_RescaleIntercept RN_TAG(0x0028, 0x1052)
#define RN_TAG_RescaleSlope RN_TAG(0x0028, 0x1053)
#define RN_TAG_VOILUTFunction RN_TAG(0x0028, 0x1056)
#define RN_TAG_RedPaletteColorLookupTableDescriptor RN_TAG(0x0028, 0x1101)
#define RN_TAG_GreenPaletteColorLookupTableDescriptor RN_TAG(0x0028, 0x1102)
#define RN_TAG_BluePaletteColorLookupTableDescriptor RN_TAG(0x0028, 0x1103)
#define RN_TAG_RedPaletteColorLookupTableData RN_TAG(0x0028, 0x1201)
#define RN_TAG_GreenPaletteColorLookupTableData RN_TAG(0x0028, 0x1202)
#define RN_TAG_BluePaletteColorLookupTableData RN_TAG(0x0028, 0x1203)
#define RN_TAG_SegmentedRedPaletteColorLookupTableData RN_TAG(0x0028, 0x1221)
#define RN_TAG_ModalityLUTSequence RN_TAG(0x0028, 0x3000)
#define RN_TAG_VOILUTSequence RN_TAG(0x0028, 0x3010)
#define RN_TAG_LUTDescriptor RN_TAG(0x0028, 0x3002)
#define RN_TAG_LUTData RN_TAG(0x0028, 0x3006)
#define RN_TAG_ExtendedOffsetTable RN_TAG(0x7FE0, 0x0001)
#define RN_TAG_ExtendedOffsetTableLengths RN_TAG(0x7FE0, 0x0002)
#define RN_TAG_FloatPixelData RN_TAG(0x7FE0, 0x0008)
#define RN_TAG_DoubleFloatPixelData RN_TAG(0x7FE0, 0x0009)
#define RN_TAG_PixelData RN_TAG(0x7FE0, 0x0010)

/* ---- Value representations (PS3.5 6.2) --------------------------------------
 * A VR is its two ASCII characters packed big-endian into 16 bits, so
 * RN_VR_AE == ('A' << 8 | 'E'); 0 means unknown. */
typedef uint16_t RnVR;
#define RN_VR_CODE(a, b) ((RnVR)(((unsigned)(a) << 8) | (unsigned)(b)))
enum {
    RN_VR_UNKNOWN = 0,
    RN_VR_AE = RN_VR_CODE('A', 'E'), RN_VR_AS = RN_VR_CODE('A', 'S'), RN_VR_AT = RN_VR_CODE('A', 'T'),
    RN_VR_CS = RN_VR_CODE('C', 'S'), RN_VR_DA = RN_VR_CODE('D', 'A'), RN_VR_DS = RN_VR_CODE('D', 'S'),
    RN_VR_DT = RN_VR_CODE('D', 'T'), RN_VR_FD = RN_VR_CODE('F', 'D'), RN_VR_FL = RN_VR_CODE('F', 'L'),
    RN_VR_IS = RN_VR_CODE('I', 'S'), RN_VR_LO = RN_VR_CODE('L', 'O'), RN_VR_LT = RN_VR_CODE('L', 'T'),
    RN_VR_OB = RN_VR_CODE('O', 'B'), RN_VR_OD = RN_VR_CODE('O', 'D'), RN_VR_OF = RN_VR_CODE('O', 'F'),
    RN_VR_OL = RN_VR_CODE('O', 'L'), RN_VR_OV = RN_VR_CODE('O', 'V'), RN_VR_OW = RN_VR_CODE('O', 'W'),
    RN_VR_PN = RN_VR_CODE('P', 'N'), RN_VR_SH = RN_VR_CODE('S', 'H'), RN_VR_SL = RN_VR_CODE('S', 'L'),
    RN_VR_SQ = RN_VR_CODE('S', 'Q'), RN_VR_SS = RN_VR_CODE('S', 'S'), RN_VR_ST = RN_VR_CODE('S', 'T'),
    RN_VR_SV = RN_VR_CODE('S', 'V'), RN_VR_TM = RN_VR_CODE('T', 'M'), RN_VR_UC = RN_VR_CODE('U', 'C'),
    RN_VR_UI = RN_VR_CODE('U', 'I'), RN_VR_UL = RN_VR_CODE('U', 'L'), RN_VR_UN = RN_VR_CODE('U', 'N'),
    RN_VR_UR = RN_VR_CODE('U', 'R'), RN_VR_US = RN_VR_CODE('U', 'S'), RN_VR_UT = RN_VR_CODE('U', 'T'),
    RN_VR_UV = RN_VR_CODE('U', 'V'),
};
/* True for the 34 VRs of the current standard (PS3.5 Table 6.2-1). */
bool rn_vr_is_valid(RnVR vr);
/* Explicit VR encoding uses a 2-byte reserved field + 32-bit length (PS3.5 7.1.2). */
bool rn_vr_has_long_length(RnVR vr);
/* Character string VRs whose bytes go through the Specific Character Set. */
bool rn_vr_is_text(RnVR vr);
/* Size of one binary value (2 for US, 4 for UL/FL/AT, 8 for FD/SV/UV/OD...), 0 for strings/SQ. */
unsigned rn_vr_value_size(RnVR vr);
/* Writes the 2 characters + NUL into out[3]. */
const char *rn_vr_str(RnVR vr, char out[3]);

/* ---- Data dictionary (PS3.6), generated from DCMTK's dicom.dic by tools/ ---- */
typedef struct RnDictEntry {
    RnTag tag;        /* for repeating groups: the tag with the varying digits as 0 */
    RnTag mask;       /* bits that must match: 0xFFFFFFFF for ordinary tags */
    RnVR vr;          /* the VR; for "US or SS" etc. the first listed */
    RnVR vr_alt;      /* second VR of a multi-VR entry (US/SS, OB/OW...), else 0 */
    const char *keyword;
    const char *name;
    const char *vm;   /* "1", "1-n", "2-2n", ... */
    bool retired;
} RnDictEntry;

/* O(1) lookups (hash tables). Repeating groups 50xx/60xx and private creator
 * elements (gggg,0010-00FF with odd gggg) are resolved. NULL if unknown. */
const RnDictEntry *rn_dict_find_tag(RnTag tag);
const RnDictEntry *rn_dict_find_keyword(const char *keyword);
size_t rn_dict_count(void);

typedef struct RnUidEntry {
    const char *uid;
    const char *name;    /* "CT Image Storage" */
    const char *keyword; /* "CTImageStorage" (may be empty) */
    const char *type;    /* "SOP Class", "Transfer Syntax", ... */
} RnUidEntry;
const RnUidEntry *rn_uid_find(const char *uid);
const RnUidEntry *rn_uid_find_keyword(const char *keyword);
/* Iterates the registry: returns NULL past the end. */
const RnUidEntry *rn_uid_at(size_t index);

/* ---- Transfer syntaxes (PS3.5 10 and Annex A) ------------------------------ */
#define RN_UID_IMPLICIT_VR_LE "1.2.840.10008.1.2"
#define RN_UID_EXPLICIT_VR_LE "1.2.840.10008.1.2.1"
#define RN_UID_DEFLATED_EXPLICIT_VR_LE "1.2.840.10008.1.2.1.99"
#define RN_UID_EXPLICIT_VR_BE "1.2.840.10008.1.2.2"
#define RN_UID_JPEG_BASELINE "1.2.840.10008.1.2.4.50"
#define RN_UID_JPEG_EXTENDED "1.2.840.10008.1.2.4.51"
#define RN_UID_JPEG_LOSSLESS "1.2.840.10008.1.2.4.57"
#define RN_UID_JPEG_LOSSLESS_SV1 "1.2.840.10008.1.2.4.70"
#define RN_UID_JPEG_LS_LOSSLESS "1.2.840.10008.1.2.4.80"
#define RN_UID_JPEG_LS_NEAR_LOSSLESS "1.2.840.10008.1.2.4.81"
#define RN_UID_JPEG2000_LOSSLESS "1.2.840.10008.1.2.4.90"
#define RN_UID_JPEG2000 "1.2.840.10008.1.2.4.91"
#define RN_UID_RLE_LOSSLESS "1.2.840.10008.1.2.5"
#define RN_UID_VERIFICATION "1.2.840.10008.1.1"

typedef struct RnTransferSyntax {
    const char *uid;
    const char *name;
    bool explicit_vr;
    bool big_endian;
    bool deflated;
    bool encapsulated; /* pixel data in fragments */
    bool lossy;
} RnTransferSyntax;
/* NULL for an unknown UID (the caller decides whether to treat it as encapsulated). */
const RnTransferSyntax *rn_transfer_syntax_find(const char *uid);
const RnTransferSyntax *rn_transfer_syntax_implicit_le(void);
const RnTransferSyntax *rn_transfer_syntax_explicit_le(void);

/* ---- Datasets -------------------------------------------------------------- */
typedef struct RnDataset RnDataset;
typedef struct RnElement RnElement;

RnDataset *rn_dataset_create(void);
void rn_dataset_destroy(RnDataset *ds);
RnDataset *rn_dataset_clone(const RnDataset *ds, RnError *err);
size_t rn_dataset_count(const RnDataset *ds);
/* Elements in dataset order (ascending tag for well-formed data). */
const RnElement *rn_dataset_at(const RnDataset *ds, size_t index);
const RnElement *rn_dataset_get(const RnDataset *ds, RnTag tag);
bool rn_dataset_has(const RnDataset *ds, RnTag tag);
int rn_dataset_remove(RnDataset *ds, RnTag tag);
/* Parent dataset of a sequence item, NULL at the top. */
const RnDataset *rn_dataset_parent(const RnDataset *ds);
/* The Specific Character Set in effect (inherited from parents), "" = default repertoire. */
const char *rn_dataset_charset(const RnDataset *ds);

RnTag rn_element_tag(const RnElement *el);
RnVR rn_element_vr(const RnElement *el);
/* Value length as encoded (RN_UNDEFINED_LENGTH for undefined-length SQ / encapsulated). */
uint32_t rn_element_length(const RnElement *el);
/* Raw value bytes in the byte order of the dataset's transfer syntax (see
 * rn_element_big_endian). NULL for SQ, encapsulated pixel data, or a value not
 * yet loaded (lazy); use rn_element_load for those. */
const uint8_t *rn_element_value(const RnElement *el, size_t *len);
bool rn_element_big_endian(const RnElement *el);
/* True if the value was left in the file by a lazy read. */
bool rn_element_is_deferred(const RnElement *el);
/* Sequences */
size_t rn_element_item_count(const RnElement *el);
const RnDataset *rn_element_item(const RnElement *el, size_t index);
RnDataset *rn_element_item_mut(RnElement *el, size_t index);
/* Encapsulated pixel data: fragment 0 is the basic offset table (may be empty). */
bool rn_element_is_encapsulated(const RnElement *el);
size_t rn_element_fragment_count(const RnElement *el);
const uint8_t *rn_element_fragment(const RnElement *el, size_t index, size_t *len);

/* Typed getters. `index` selects one value of a multi-valued element.
 * Strings come back as UTF-8 (decoded through the Specific Character Set),
 * without trailing/leading padding spaces; into buf (always NUL-terminated). */
int rn_dataset_get_string(const RnDataset *ds, RnTag tag, unsigned index, char *buf, size_t size,
                          RnError *err);
/* Whole value (all values joined by backslash) as newly allocated UTF-8. */
char *rn_dataset_get_string_all(const RnDataset *ds, RnTag tag, RnError *err);
int rn_dataset_get_int(const RnDataset *ds, RnTag tag, unsigned index, int64_t *out, RnError *err);
int rn_dataset_get_double(const RnDataset *ds, RnTag tag, unsigned index, double *out, RnError *err);
/* Number of values (VM) of an element as encoded. */
unsigned rn_element_vm(const RnElement *el);

/* Setters replace an existing element or insert in tag order. vr 0 = dictionary VR. */
int rn_dataset_set_string(RnDataset *ds, RnTag tag, RnVR vr, const char *utf8, RnError *err);
int rn_dataset_set_bytes(RnDataset *ds, RnTag tag, RnVR vr, const void *data, size_t len,
                         RnError *err);
/* Takes ownership of data (malloc'd) on success. */
int rn_dataset_set_bytes_take(RnDataset *ds, RnTag tag, RnVR vr, void *data, size_t len,
                              RnError *err);
int rn_dataset_set_uint(RnDataset *ds, RnTag tag, RnVR vr, uint64_t value, RnError *err);
int rn_dataset_set_int(RnDataset *ds, RnTag tag, RnVR vr, int64_t value, RnError *err);
int rn_dataset_set_double(RnDataset *ds, RnTag tag, RnVR vr, double value, RnError *err);
/* Creates (or reuses) a sequence element and appends a new empty item; returns it (borrowed). */
RnDataset *rn_dataset_add_item(RnDataset *ds, RnTag seq_tag, RnError *err);
/* Ensures an (empty) sequence element exists. */
int rn_dataset_set_sequence(RnDataset *ds, RnTag seq_tag, RnError *err);
/* Encapsulated pixel data: replaces (7FE0,0010) with an OB of undefined length,
 * an empty or given basic offset table and one fragment per frame (copied). */
int rn_dataset_set_encapsulated(RnDataset *ds, const uint8_t *const *frames, const size_t *lens,
                                size_t count, bool offset_table, RnError *err);

/* ---- Reading and writing --------------------------------------------------- */
typedef struct RnReadOptions {
    /* Values longer than this (bytes) are not loaded but remembered by offset
     * (lazy reading); 0 = load everything. Applies to top-level elements. */
    size_t defer_threshold;
    /* Stop after this tag (e.g. RN_TAG_PixelData to read only the header);
     * 0 = read everything. */
    RnTag stop_before;
    /* Upper bound on nesting depth (default 64 when 0). */
    unsigned max_depth;
} RnReadOptions;

typedef struct RnDicomFile RnDicomFile;

/* Part 10 file: preamble + "DICM" + file meta + dataset; or (if no preamble)
 * a bare dataset whose transfer syntax is guessed. */
RnDicomFile *rn_dicom_read_file(const char *path, const RnReadOptions *opt, RnError *err);
RnDicomFile *rn_dicom_read_memory(const uint8_t *data, size_t len, const RnReadOptions *opt,
                                  RnError *err);
void rn_dicom_file_destroy(RnDicomFile *f);
RnDataset *rn_dicom_file_meta(RnDicomFile *f);
RnDataset *rn_dicom_file_dataset(RnDicomFile *f);
/* Hands the dataset to the caller; the file keeps an empty one. */
RnDataset *rn_dicom_file_take_dataset(RnDicomFile *f);
const char *rn_dicom_file_transfer_syntax(const RnDicomFile *f);
bool rn_dicom_file_has_preamble(const RnDicomFile *f);
/* Loads a deferred value (lazy read) from the file. */
int rn_dicom_file_load(RnDicomFile *f, RnElement *el, RnError *err);
/* Loads every deferred value. */
int rn_dicom_file_load_all(RnDicomFile *f, RnError *err);

/* Parses a bare dataset in the given transfer syntax (as in a DIMSE P-DATA stream). */
RnDataset *rn_dataset_read(const uint8_t *data, size_t len, const char *ts_uid, RnError *err);
/* Encodes a bare dataset (no preamble, no meta) in the given transfer syntax. */
int rn_dataset_write(const RnDataset *ds, const char *ts_uid, RnBuf *out, RnError *err);

typedef struct RnWriteOptions {
    /* Transfer syntax for the dataset; NULL = keep the file's current one. */
    const char *transfer_syntax;
    /* Keep the file meta exactly as read (byte-exact round trip) instead of rebuilding it. */
    bool keep_meta;
} RnWriteOptions;
/* Writes a Part 10 stream: 128-byte preamble, DICM, meta (rebuilt unless keep_meta), dataset.
 * A re-encoding between uncompressed transfer syntaxes converts byte order and VRs. */
int rn_dicom_write_buffer(RnDicomFile *f, const RnWriteOptions *opt, RnBuf *out, RnError *err);
int rn_dicom_write_file(RnDicomFile *f, const char *path, const RnWriteOptions *opt, RnError *err);
/* Builds a Part 10 file object from a dataset (takes ownership of ds on success):
 * meta is generated from SOP Class/Instance UID and the given transfer syntax. */
RnDicomFile *rn_dicom_file_create_take(RnDataset *ds, const char *ts_uid, RnError *err);

/* ---- Frames ----------------------------------------------------------------- */
typedef struct RnImageInfo {
    uint32_t rows, columns;
    uint32_t samples_per_pixel;
    uint32_t bits_allocated, bits_stored, high_bit;
    uint32_t pixel_representation; /* 0 unsigned, 1 two's complement */
    uint32_t planar_configuration;
    uint32_t number_of_frames;
    char photometric[17]; /* "MONOCHROME2", "RGB", "YBR_FULL_422", ... */
} RnImageInfo;
int rn_image_info_from_dataset(const RnDataset *ds, RnImageInfo *info, RnError *err);
/* Bytes of one native frame (bits_allocated 1 handled: packed bits, rounded up at the end). */
size_t rn_image_frame_size(const RnImageInfo *info);
/* The bytes of frame `index` (0-based) as stored: a slice of native pixel data
 * or the compressed bitstream of one encapsulated frame (fragments joined per
 * the basic/extended offset table, or one fragment per frame). *owned tells
 * whether the caller must free *data. */
int rn_dicom_file_frame(RnDicomFile *f, uint32_t index, const uint8_t **data, size_t *len,
                        bool *owned, RnError *err);

/* ---- UIDs ------------------------------------------------------------------ */
#define RN_UID_MAX 64
/* New random UID under 2.25 (UUID-derived). */
void rn_uid_generate(char out[RN_UID_MAX + 1]);
/* Deterministic UID derived from a string (SHA-256 -> 2.25.<decimal>). */
void rn_uid_derive(const char *seed, char out[RN_UID_MAX + 1]);
bool rn_uid_is_valid(const char *uid);

#endif
