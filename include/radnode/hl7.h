/*
 * radnode HL7 v2 module: the message model (HL7 v2.5.1 chapter 2, "Control":
 * 2.5 message construction rules, 2.7 escape sequences), original-mode
 * acknowledgments (2.9.2, MSH/MSA/ERR), the ORU^R01 unsolicited observation
 * message (chapter 7, 7.3.1) that radnode sends to a RIS, and the Minimal
 * Lower Layer Protocol transport (HL7 MLLP release 2, "Transport
 * Specification: MLLP", framing 0x0B ... 0x1C 0x0D).
 *
 * Ownership: rn_hl7_*_create / rn_hl7_parse / rn_hl7_*_build return objects
 * the caller releases with the matching _destroy (destroy(NULL) is a no-op).
 * Getters return borrowed pointers valid until the message is modified or
 * destroyed. ACK codes are data (RnHl7AckCode), never errors: a function that
 * received an ACK returns 0 whatever the code.
 */
#ifndef RADNODE_HL7_H
#define RADNODE_HL7_H

#include "radnode/core.h"

/* ---- Limits --------------------------------------------------------------- */
/* Defaults; every parser entry point takes an RnHl7Limits (NULL = these). */
#define RN_HL7_DEFAULT_MAX_MESSAGE_BYTES (4u * 1024u * 1024u)
#define RN_HL7_DEFAULT_MAX_SEGMENTS 10000u
#define RN_HL7_DEFAULT_MAX_FIELDS 1000u /* fields in one segment */
/* HL7 v2.5.1 2.14.9.10: MSH-10 Message Control ID is an ST of at most 20 characters. */
#define RN_HL7_MAX_CONTROL_ID 20u

typedef struct RnHl7Limits {
    size_t max_message_bytes; /* 0 = default */
    size_t max_segments;      /* 0 = default */
    size_t max_fields;        /* 0 = default */
} RnHl7Limits;

/* ---- Encoding characters (MSH-1, MSH-2) ------------------------------------ */
typedef struct RnHl7Encoding {
    char field;        /* MSH-1, usually '|' */
    char component;    /* MSH-2[0], '^' */
    char repetition;   /* MSH-2[1], '~' */
    char escape;       /* MSH-2[2], '\\' */
    char subcomponent; /* MSH-2[3], '&' */
} RnHl7Encoding;

/* The recommended delimiters |^~\& (2.5.4). */
void rn_hl7_encoding_default(RnHl7Encoding *enc);

/* ---- Message model --------------------------------------------------------- */
typedef struct RnHl7Message RnHl7Message;

/*
 * Parses one message. Segments end with CR (2.5.3); LF and CRLF are tolerated,
 * as are empty lines. The first segment must be MSH; MSH-1 and MSH-2 give the
 * delimiters (4 encoding characters; a 5th, the v2.7 truncation character, is
 * accepted and kept). Fields are kept in their encoded form; escapes are
 * decoded by the getters. Batches (FHS/BHS) are not supported.
 * Errors: RN_ERR_PARSE (malformed, with position), RN_ERR_LIMIT (size, segment
 * or field count), RN_ERR_NOMEM.
 */
RnHl7Message *rn_hl7_parse(const uint8_t *data, size_t len, const RnHl7Limits *limits,
                           RnError *err);

/* A new message holding only MSH-1 and MSH-2 (enc NULL = |^~\&). */
RnHl7Message *rn_hl7_message_create(const RnHl7Encoding *enc, RnError *err);
void rn_hl7_message_destroy(RnHl7Message *msg);
const RnHl7Encoding *rn_hl7_message_encoding(const RnHl7Message *msg);

/* Segments, by index in message order (0 = MSH). */
size_t rn_hl7_segment_count(const RnHl7Message *msg);
/* The 3-character segment ID, or NULL when index is out of range. */
const char *rn_hl7_segment_name(const RnHl7Message *msg, size_t index);
/* Number of fields after the segment ID (for MSH, MSH-1 counts as field 1). */
size_t rn_hl7_segment_field_count(const RnHl7Message *msg, size_t index);
/* The field's encoded text (all repetitions, escapes not decoded); "" when the
 * field is beyond the segment's end, NULL when index is out of range. */
const char *rn_hl7_segment_field_raw(const RnHl7Message *msg, size_t index, size_t field);
/* How many segments named `name` the message holds. */
size_t rn_hl7_segment_occurrences(const RnHl7Message *msg, const char *name);

/*
 * Appends a segment (name: 3 characters, A-Z and 0-9) and returns its
 * occurrence number among segments of that name (1 for the first), or a
 * negative error. MSH cannot be added twice.
 */
int rn_hl7_add_segment(RnHl7Message *msg, const char *name, RnError *err);

/*
 * Paths: "SEG[-F[-C[-S]]]" with an optional 1-based occurrence on the segment
 * and repetition on the field: "PID-5-1", "OBX[2]-5", "PID-3[2]-4-1".
 * Omitted occurrence, repetition, component and subcomponent mean 1 (as in
 * HAPI's Terser). MSH-1 and MSH-2 are the delimiters themselves.
 */
typedef struct RnHl7Path {
    char segment[4];
    size_t occurrence;   /* >= 1 */
    size_t field;        /* >= 1 */
    size_t repetition;   /* >= 1 */
    size_t component;    /* >= 1 */
    size_t subcomponent; /* >= 1 */
} RnHl7Path;
int rn_hl7_path_parse(const char *text, RnHl7Path *path, RnError *err);

/*
 * Copies the decoded value at path into out (always NUL-terminated when cap > 0)
 * and returns its length. An absent field, component or subcomponent reads as
 * "" (HL7 makes no difference between absent and empty); an absent segment is
 * RN_ERR_NOT_FOUND; a value longer than cap - 1 is RN_ERR_LIMIT. Escapes
 * \F\ \S\ \T\ \R\ \E\ and \Xhh..\ are decoded, \H\ and \N\ dropped, other
 * escapes (\.br\, \Cxxyy\, \Zxx\ ...) passed through unchanged.
 */
int rn_hl7_get(const RnHl7Message *msg, const char *path, char *out, size_t cap, RnError *err);
/* Same, returning a new string the caller frees (NULL with err on failure). */
char *rn_hl7_get_dup(const RnHl7Message *msg, const char *path, RnError *err);
/* Number of repetitions of the field at path (0 when empty or absent). */
size_t rn_hl7_repetition_count(const RnHl7Message *msg, const char *path);

/*
 * Stores value (plain text, escaped here: delimiters, the escape character and
 * control characters become escape sequences) at path, padding with empty repetitions,
 * components and subcomponents as needed. The segment must exist.
 * MSH-1 and MSH-2 cannot be set.
 */
int rn_hl7_set(RnHl7Message *msg, const char *path, const char *value, RnError *err);
/* Stores already-encoded text as the whole field (path names segment and field;
 * repetition, component and subcomponent must be omitted). The text may hold
 * component/repetition delimiters and escapes but no field separator, CR or LF. */
int rn_hl7_set_raw(RnHl7Message *msg, const char *path, const char *encoded, RnError *err);

/* Escapes text for one subcomponent into out (appended). */
int rn_hl7_escape(const RnHl7Encoding *enc, const char *text, size_t len, RnBuf *out, RnError *err);
/* Decodes one subcomponent's encoded text into out (appended). */
int rn_hl7_unescape(const RnHl7Encoding *enc, const char *text, size_t len, RnBuf *out,
                    RnError *err);

/* Serialises: segments each terminated by CR (2.5.3), no MLLP framing. */
int rn_hl7_serialize(const RnHl7Message *msg, RnBuf *out, RnError *err);

/* ---- Time stamps and control IDs --------------------------------------------- */
/* Current local time as an HL7 DTM "YYYYMMDDHHMMSS+ZZZZ" (cap >= 20). */
int rn_hl7_timestamp_now(char *out, size_t cap, RnError *err);
/* True for a valid DTM/TS value: YYYY[MM[DD[HH[MM[SS[.S[S[S[S]]]]]]]]][+/-ZZZZ]. */
bool rn_hl7_timestamp_valid(const char *ts);
/* A new random message control ID of 20 characters ("RN" + 18 hex digits). */
int rn_hl7_control_id_generate(char *out, size_t cap, RnError *err);

/* ---- Acknowledgments (2.9.2, table 0008) ------------------------------------ */
typedef enum RnHl7AckCode {
    RN_HL7_ACK_AA = 0, /* application accept */
    RN_HL7_ACK_AE,     /* application error */
    RN_HL7_ACK_AR,     /* application reject */
    RN_HL7_ACK_CA,     /* enhanced mode: commit accept */
    RN_HL7_ACK_CE,     /* enhanced mode: commit error */
    RN_HL7_ACK_CR,     /* enhanced mode: commit reject */
} RnHl7AckCode;
const char *rn_hl7_ack_code_name(RnHl7AckCode code);
/* Parses "AA", "AE", ... Returns 0, or RN_ERR_PARSE for anything else. */
int rn_hl7_ack_code_parse(const char *text, RnHl7AckCode *code, RnError *err);
/* AA and CA: the receiver has taken responsibility for the message. */
bool rn_hl7_ack_code_accepted(RnHl7AckCode code);

/* HL7 table 0357 error condition codes used in ERR-3. */
enum {
    RN_HL7_ERRC_SEGMENT_SEQUENCE = 100,
    RN_HL7_ERRC_REQUIRED_FIELD_MISSING = 101,
    RN_HL7_ERRC_DATA_TYPE = 102,
    RN_HL7_ERRC_TABLE_VALUE = 103,
    RN_HL7_ERRC_UNSUPPORTED_MESSAGE_TYPE = 200,
    RN_HL7_ERRC_UNSUPPORTED_EVENT = 201,
    RN_HL7_ERRC_UNSUPPORTED_PROCESSING_ID = 202,
    RN_HL7_ERRC_UNSUPPORTED_VERSION = 203,
    RN_HL7_ERRC_APPLICATION_INTERNAL = 207,
};

typedef struct RnHl7AckOptions {
    const char *control_id;  /* MSH-10 of the ACK; NULL = generated */
    const char *timestamp;   /* MSH-7; NULL = now */
    const char *application; /* MSH-3; NULL = original MSH-5 */
    const char *facility;    /* MSH-4; NULL = original MSH-6 */
    const char *text;        /* MSA-3 and ERR-8 (error text); NULL = none */
    int error_condition;     /* ERR-3 (table 0357) for AE/AR/CE/CR; 0 = 207 */
} RnHl7AckOptions;

/*
 * Builds the acknowledgment of `original` (2.9.2): MSH-3/4 <- original MSH-5/6,
 * MSH-5/6 <- original MSH-3/4, MSH-9 = ACK^<original trigger>^ACK, MSH-11 and
 * MSH-12 copied (2.5.1 when absent), MSH-18 copied; MSA-1 = code, MSA-2 =
 * original MSH-10; for codes other than AA/CA an ERR segment (ERR-3 from
 * table 0357, ERR-4 severity E, ERR-8 text). opts may be NULL.
 */
RnHl7Message *rn_hl7_ack_build(const RnHl7Message *original, RnHl7AckCode code,
                               const RnHl7AckOptions *opts, RnError *err);

/*
 * Best-effort acknowledgment of bytes that did not parse as a message: MSA-2
 * is the MSH-10 found by a lenient scan ("" if none). Used by the listener to
 * answer AR to garbage instead of leaving the sender waiting.
 */
RnHl7Message *rn_hl7_ack_build_unparsed(const uint8_t *data, size_t len, RnHl7AckCode code,
                                        const RnHl7AckOptions *opts, RnError *err);

/* An acknowledgment as received: all strings decoded and truncated to fit. */
typedef struct RnHl7Ack {
    RnHl7AckCode code;                              /* MSA-1 */
    char control_id[RN_HL7_MAX_CONTROL_ID + 1];     /* MSA-2: the acknowledged MSH-10 */
    char ack_control_id[RN_HL7_MAX_CONTROL_ID + 1]; /* the ACK's own MSH-10 */
    int error_condition;                            /* ERR-3-1 as a number, 0 if none */
    char text[256];                                 /* MSA-3, else ERR-8, else ERR-3-2 */
} RnHl7Ack;

/*
 * Interprets an acknowledgment message: MSH then MSA with a table 0008 code.
 * Returns 0 whatever the code (the code is data); RN_ERR_PARSE when the bytes
 * are not an acknowledgment.
 */
int rn_hl7_ack_parse(const uint8_t *data, size_t len, RnHl7Ack *ack, RnError *err);
int rn_hl7_ack_from_message(const RnHl7Message *msg, RnHl7Ack *ack, RnError *err);

/* ---- ORU^R01 (v2.5.1 chapter 7, 7.3.1) ------------------------------------- */
/* A coded element (CWE, 2.A.13): identifier ^ text ^ name of coding system. */
typedef struct RnHl7Coded {
    const char *code;
    const char *text;
    const char *system; /* "LN" (LOINC), "UCUM", "SCT", "99RADNODE" ... */
} RnHl7Coded;

typedef struct RnHl7OruHeader {
    const char *sending_application;   /* MSH-3; NULL = "RADNODE" */
    const char *sending_facility;      /* MSH-4; may be NULL */
    const char *receiving_application; /* MSH-5 */
    const char *receiving_facility;    /* MSH-6 */
    const char *timestamp;             /* MSH-7; NULL = now */
    const char *control_id;            /* MSH-10; NULL = generated */
    const char *processing_id;         /* MSH-11; NULL = "P" (production) */
} RnHl7OruHeader;

typedef struct RnHl7Patient {
    const char *id;           /* PID-3-1, required */
    const char *id_authority; /* PID-3-4 (assigning authority namespace ID) */
    const char *id_type;      /* PID-3-5; NULL = "MR" (medical record number) */
    const char *family_name;  /* PID-5-1 */
    const char *given_name;   /* PID-5-2 */
    const char *middle_name;  /* PID-5-3 */
    const char *birth_date;   /* PID-7, YYYYMMDD */
    const char *sex;          /* PID-8, table 0001: F M O U A N */
} RnHl7Patient;

typedef struct RnHl7Order {
    const char *placer_order_number;  /* ORC-2 / OBR-2 (EI-1) */
    const char *placer_namespace;     /* EI-2 */
    const char *filler_order_number;  /* ORC-3 / OBR-3 (EI-1) */
    const char *filler_namespace;     /* EI-2 */
    const char *accession_number;     /* OBR-18 (IHE Radiology: placer field 1) */
    RnHl7Coded service;               /* OBR-4 universal service ID, required */
    const char *observation_datetime; /* OBR-7, required */
    const char *result_datetime;      /* OBR-22; NULL = message time */
    const char *diagnostic_service;   /* OBR-24; NULL = "RAD" */
    const char *result_status;        /* OBR-25; NULL = "P" (preliminary) */
} RnHl7Order;

typedef enum RnHl7ValueType {
    RN_HL7_VALUE_NM = 0, /* numeric, with units */
    RN_HL7_VALUE_CWE,    /* coded value */
    RN_HL7_VALUE_ST,     /* one line of text */
    RN_HL7_VALUE_TX,     /* text; line breaks become repetitions of OBX-5 */
    RN_HL7_VALUE_FT,     /* formatted text; line breaks become \.br\ */
} RnHl7ValueType;

typedef struct RnHl7Observation {
    RnHl7ValueType type;              /* OBX-2 */
    RnHl7Coded identifier;            /* OBX-3, required */
    const char *sub_id;               /* OBX-4 */
    double number;                    /* NM: OBX-5 */
    int decimals;                     /* NM: digits after the point, 0..9 */
    RnHl7Coded coded;                 /* CWE: OBX-5 */
    const char *text;                 /* ST/TX/FT: OBX-5 (UTF-8) */
    RnHl7Coded units;                 /* OBX-6 (UCUM: code "mo", system "UCUM") */
    const char *reference_range;      /* OBX-7 */
    const char *abnormal_flags;       /* OBX-8 */
    const char *result_status;        /* OBX-11; NULL = "P" */
    const char *observation_datetime; /* OBX-14 */
    const char *equipment;            /* OBX-18-1: algorithm name and version */
    RnHl7Coded site;                  /* OBX-20 observation site (anatomy); empty = none */
} RnHl7Observation;

/* The statement every radnode result carries (an NTE after the OBR). */
#define RN_HL7_PRELIMINARY_NOTE                                                                    \
    "Preliminary result produced by software (radnode); to be reviewed by a radiologist."

typedef struct RnHl7Oru {
    RnHl7OruHeader header;
    RnHl7Patient patient;
    RnHl7Order order;
    const RnHl7Observation *observations;
    size_t observation_count;
    const char *const *notes; /* extra NTE lines after the preliminary statement */
    size_t note_count;
} RnHl7Oru;

/*
 * Builds an ORU^R01 (HL7 v2.5.1): MSH, PID, ORC, OBR, NTE (the preliminary
 * statement, then notes), OBX per observation. MSH-9 ORU^R01^ORU_R01, MSH-12
 * 2.5.1, MSH-18 "UNICODE UTF-8". Input is validated (required fields, table
 * 0001 sex, time stamps, finite numbers, single-line ST); RN_ERR_INVALID names
 * the offending field.
 */
RnHl7Message *rn_hl7_oru_build(const RnHl7Oru *oru, RnError *err);

/* ---- MLLP (release 2) ------------------------------------------------------ */
#define RN_HL7_MLLP_START 0x0B
#define RN_HL7_MLLP_END 0x1C
#define RN_HL7_MLLP_CR 0x0D

/* Appends 0x0B payload 0x1C 0x0D. */
int rn_hl7_mllp_frame(const uint8_t *payload, size_t len, RnBuf *out, RnError *err);

/*
 * Looks for one complete frame at the start of buf. CR and LF before the start
 * block are skipped (some senders put them between frames). Returns 1 and
 * sets payload, payload_len and consumed when a frame is complete, 0 when more
 * bytes are needed, RN_ERR_PARSE on bytes outside a frame or a missing CR
 * after the end block, RN_ERR_LIMIT when the payload exceeds max_payload.
 */
int rn_hl7_mllp_deframe(const uint8_t *buf, size_t len, size_t max_payload, const uint8_t **payload,
                        size_t *payload_len, size_t *consumed, RnError *err);

typedef struct RnHl7ClientOptions {
    int connect_timeout_ms; /* 0 = 10000 */
    int ack_timeout_ms;     /* time from the last byte sent to the complete ACK; 0 = 30000 */
    size_t max_ack_bytes;   /* 0 = 1 MiB */
} RnHl7ClientOptions;

/*
 * Sends one message (serialised, unframed) over a new connection and waits
 * for its acknowledgment. Returns 0 when an ACK for this message (MSA-2 equal
 * to the message's MSH-10) came back, whatever its code; the code is in *ack.
 * Errors are for the caller's retry logic: RN_ERR_NET (resolve, connect,
 * send, receive, peer closed), RN_ERR_TIMEOUT, RN_ERR_PARSE (no valid ACK, or
 * an ACK for another message), RN_ERR_INVALID (message has no MSH-10).
 */
int rn_hl7_mllp_send(const char *host, uint16_t port, const uint8_t *message, size_t len,
                     const RnHl7ClientOptions *opts, RnHl7Ack *ack, RnError *err);

/*
 * Handler for a received message. Called from a listener thread (several may
 * run at once); it must return only once the message is durable. Return 0 to
 * have the listener answer AA; RN_ERR_PARSE, RN_ERR_INVALID or
 * RN_ERR_NOT_FOUND give AE (error in the message content); RN_ERR_UNSUPPORTED
 * gives AR with ERR-3 200; any other error (I/O, no memory, disk full) gives
 * AR with ERR-3 207, so the sender retries later. err's message becomes the
 * ACK text.
 */
typedef int (*RnHl7Handler)(void *user, const RnHl7Message *msg, const uint8_t *raw, size_t raw_len,
                            RnError *err);

typedef struct RnHl7ListenerOptions {
    const char *bind_address; /* NULL = "0.0.0.0" */
    uint16_t port;            /* 0 = any free port (see rn_hl7_listener_port) */
    size_t max_connections;   /* worker threads, one connection each; 0 = 8 */
    int idle_timeout_ms;      /* between messages and between reads; 0 = 60000 */
    int message_timeout_ms;   /* from start block to end block; 0 = 120000 */
    size_t max_message_bytes; /* 0 = RN_HL7_DEFAULT_MAX_MESSAGE_BYTES */
    const char *application;  /* ACK MSH-3; NULL = received MSH-5 */
    const char *facility;     /* ACK MSH-4; NULL = received MSH-6 */
    RnHl7Handler handler;     /* required */
    void *user;
} RnHl7ListenerOptions;

typedef struct RnHl7Listener RnHl7Listener;

/* Binds, listens and starts the worker threads. */
RnHl7Listener *rn_hl7_listener_start(const RnHl7ListenerOptions *opts, RnError *err);
/* The bound port (useful with port 0). */
uint16_t rn_hl7_listener_port(const RnHl7Listener *listener);
/* Stops accepting, interrupts open connections, joins the threads and frees.
 * A handler already running finishes, but its ACK is lost with the connection,
 * so the sender sends that message again: handlers must tolerate a repeated
 * MSH-10 (the same holds for any ACK lost on the network). NULL is a no-op. */
void rn_hl7_listener_stop(RnHl7Listener *listener);

typedef struct RnHl7ListenerStats {
    uint64_t connections;
    uint64_t messages;
    uint64_t accepted; /* answered AA (counted as the ACK is sent) */
    uint64_t errors;   /* answered AE */
    uint64_t rejected; /* answered AR */
} RnHl7ListenerStats;
void rn_hl7_listener_stats(RnHl7Listener *listener, RnHl7ListenerStats *stats);

#endif
