/*
 * The node: configuration, routing rules, and the serve loop that ties the
 * DICOM SCP, the durable store, study assembly, the job workers (analyzers
 * in child processes with limits) and the exporters (DICOM C-STORE to the
 * PACS, HL7 ORU^R01 over MLLP to the RIS) together.
 */
#ifndef RADNODE_NODE_H
#define RADNODE_NODE_H

#include "radnode/deid.h"
#include "radnode/store.h"

#define RN_NODE_MAX_ROUTES 32
#define RN_NODE_MAX_CONDITIONS 16
#define RN_NODE_MAX_DESTINATIONS 16
#define RN_NODE_MAX_LIST 32

typedef enum RnRouteOp {
    RN_OP_EQ,       /* =  : equal (case-insensitive for text) */
    RN_OP_NE,       /* != */
    RN_OP_IN,       /* in : one of a comma-separated list */
    RN_OP_CONTAINS, /* ~  : contains, case-insensitive */
    RN_OP_LT, RN_OP_LE, RN_OP_GT, RN_OP_GE, /* numeric */
    RN_OP_PRESENT,  /* exists (non-empty) */
} RnRouteOp;

typedef struct RnRouteCondition {
    char attribute[40]; /* Modality, BodyPartExamined, SeriesDescription, StudyDescription,
                           SliceThickness, SOPClassUID, CallingAE, ... */
    RnRouteOp op;
    char value[256];
} RnRouteCondition;

typedef struct RnRoute {
    char name[64];
    char analyzer[32];
    bool series_level; /* analyse each matching series (else the whole study) */
    RnRouteCondition conditions[RN_NODE_MAX_CONDITIONS];
    int condition_count;
} RnRoute;

typedef enum RnDestinationType { RN_DEST_DICOM, RN_DEST_HL7 } RnDestinationType;

typedef struct RnDestination {
    char name[64];
    RnDestinationType type;
    char host[256];
    int port;
    char ae_title[17];      /* DICOM: called AE */
    char calling_ae[17];    /* DICOM: our AE toward it (default node AE) */
    char receiving_application[64]; /* HL7 MSH-5 */
    char receiving_facility[64];    /* HL7 MSH-6 */
    bool tls;
    int line; /* line of its [destination] section in the configuration file (0: none) */
} RnDestination;

/* ---- Operator HTTP API: accounts, TLS, limits, audit (issue 9) ------------ */
#define RN_NODE_MAX_ACCOUNTS 32

/* Roles, each including the rights of the ones before it. */
typedef enum RnHttpRole {
    RN_ROLE_NONE = 0,
    RN_ROLE_SERVICE,  /* a monitoring service: /metrics and /status, no patient data */
    RN_ROLE_VIEWER,   /* read-only (e.g. a radiologist): studies, jobs, exports */
    RN_ROLE_OPERATOR, /* the PACS administrator: + retries, the effective configuration */
} RnHttpRole;

/* A [user NAME] (password) or [token NAME] (bearer API token) section. */
typedef struct RnHttpAccount {
    char name[64];
    bool is_token;
    char secret_hash[256]; /* user: "$argon2id$v=19$m=..,t=..,p=..$salt$hash" (or the
                              legacy "scrypt$N$r$p$salt$hash"); token: "sha256$hex" */
    RnHttpRole role;
    int64_t expires;       /* tokens: unix time after which it is refused; 0 = never */
} RnHttpAccount;

typedef struct RnHttpConfig {
    bool public_status;      /* /status (counts only) without authentication */
    char tls_cert[400];      /* PEM; both set = HTTPS only */
    char tls_key[400];
    int session_ttl;         /* seconds a login session lives */
    int max_body;            /* bytes of a request body */
    int backoff_after;       /* failed logins from one address or for one user before back-off */
    int backoff_max;         /* longest back-off, seconds */
    int threads;             /* request threads */
    RnHttpAccount accounts[RN_NODE_MAX_ACCOUNTS];
    int account_count;
} RnHttpConfig;

/* [audit]: the PS3.15 A.5 audit trail (see radnode/audit.h). */
typedef struct RnNodeAuditConfig {
    char log_path[400];      /* "" = data_dir/audit.log */
    int transport;           /* RnAuditTransport */
    char host[256];
    int port;
    char ca_file[400], cert_file[400], key_file[400];
    char site_id[64];
} RnNodeAuditConfig;

/* [research]: de-identified research exports (src/node/research.c). */
typedef struct RnResearchConfig {
    char export_root[400];   /* exports are written only below this folder; "" = disabled */
    char secret_file[400];   /* the de-identification secret (mode 0600) */
    RnDeidProfile profile;   /* research (default), teaching or basic */
    /* Option overrides over the profile: 0 = as the profile, 1 = on, -1 = off. */
    int retain_patient_characteristics, retain_modified_dates, clean_descriptors,
        clean_structured_content, retain_device_identity;
    bool refuse_burned_in;
    RnDeidRegion regions[RN_DEID_MAX_REGIONS]; /* burned-in annotation to blank */
    int region_count;
} RnResearchConfig;

enum { RN_ALLOW_ROOT_WARN = 0, RN_ALLOW_ROOT_YES, RN_ALLOW_ROOT_NO };

/* [security] (issue 9): the DICOM security profile and DICOM TLS (PS3.15
 * B.12) of the listener and of the associations to destinations with tls = yes. */
typedef struct RnNodeSecurityConfig {
    bool production;         /* profile = production: allow-lists, TLS and mutual auth required */
    int profile_line;        /* line of the profile key (0: default) */
    char tls_cert[400];      /* PEM certificate (chain) of the node: DICOM listener speaks TLS */
    char tls_key[400];
    char tls_ca[400];        /* trust anchors for peers; set = peers must present a certificate */
} RnNodeSecurityConfig;

/* [priors]: fetching the earlier studies an analyzer asks for (RnPriorRule in
 * radnode/analyzer.h) from the PACS by C-FIND and C-MOVE when the store has none. */
typedef struct RnPriorsConfig {
    bool fetch;                /* ask the PACS (else priors come from the store only) */
    char source[64];           /* a [destination] of type dicom, or: */
    char host[256];            /* the PACS's address, */
    int port;                  /* port */
    char ae_title[17];         /* and called AE title */
    char move_destination[17]; /* AE the PACS sends to ("" = the node's ae_title) */
    int timeout;               /* seconds for the query and for each retrieve */
} RnPriorsConfig;

typedef struct RnNodeConfig {
    char ae_title[17];
    char bind_address[64];
    int dicom_port;
    char http_bind[64];
    int http_port; /* 0 = no HTTP API */
    int hl7_port;  /* 0 = no HL7 listener */
    char data_dir[400];
    char models_dir[400];
    int max_associations;
    double quiet_period;  /* seconds without a new instance before a study is stable */
    int workers;          /* analysis job workers */
    int job_timeout;      /* seconds per analysis job */
    int job_memory_mb;    /* address-space limit of an analysis process */
    int max_attempts;     /* before a job is dead */
    double retry_base;    /* first retry delay, seconds */
    double retry_max;     /* longest retry delay */
    char language[8];     /* "en" or "zh" */
    uint64_t min_free_bytes;
    RnDuplicatePolicy duplicates;
    int retention_days;   /* delete inputs N days after results delivered; 0 = keep */
    double retention_seconds; /* the same period in seconds (retention = 7d, 12h, 30s) */
    RnPriorsConfig priors;
    bool keep_unrouted;   /* keep instances no route matches */
    char log_level[8];
    char user[64];        /* started as root: drop to this user once the ports are bound */
    char group[64];       /* its group ("" = the user's primary group) */
    int allow_root;       /* root without `user`: RN_ALLOW_ROOT_WARN (default), _YES, _NO */
    char allowed_calling_aes[RN_NODE_MAX_LIST][17];
    int allowed_calling_ae_count;
    char allowed_hosts[RN_NODE_MAX_LIST][64];
    int allowed_host_count;
    RnRoute routes[RN_NODE_MAX_ROUTES];
    int route_count;
    RnDestination destinations[RN_NODE_MAX_DESTINATIONS];
    int destination_count;
    RnHttpConfig http;
    RnNodeAuditConfig audit;
    RnNodeSecurityConfig security;
    RnResearchConfig research;
    char path[400]; /* the file it was read from ("" = built-in defaults) */
} RnNodeConfig;

/* The built-in defaults (work for a first run: ./radnode-data, AE RADNODE, port 11112). */
void rn_node_config_defaults(RnNodeConfig *cfg);
/* Reads an INI-style file over the defaults. Errors name the file and line. */
int rn_node_config_load(const char *path, RnNodeConfig *cfg, RnError *err);
/* Parses configuration text (for tests and reload). */
int rn_node_config_parse(const char *text, const char *origin, RnNodeConfig *cfg, RnError *err);
/* The commented default configuration file text. */
const char *rn_node_config_sample(void);

const char *rn_http_role_name(RnHttpRole role);
/* "service", "viewer", "operator" -> role; RN_ROLE_NONE if unknown. */
RnHttpRole rn_http_role_parse(const char *name);

/* Account secrets of the operator API. Passwords: Argon2id (RFC 9106, libsodium's
 * crypto_pwhash_str) with a random 16-byte salt, stored in the PHC string form
 * "$argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt b64>$<hash b64>"; hashes of
 * the older form "scrypt$N$r$p$<salt hex>$<32-byte hash hex>" (RFC 7914) still
 * verify. API tokens: 32 random bytes ("rnt_" + 64 hex digits) stored as
 * "sha256$<hex>" (a token has full entropy, so a fast hash suffices).
 * Comparisons are constant-time. */
#define RN_HTTP_ARGON2_OPS_DEFAULT 2          /* libsodium's OPSLIMIT_INTERACTIVE */
#define RN_HTTP_ARGON2_MEM_KIB_DEFAULT 65536  /* MEMLIMIT_INTERACTIVE, 64 MiB */
#define RN_HTTP_ARGON2_OPS_MAX 16
#define RN_HTTP_ARGON2_MEM_KIB_MAX (1u << 20) /* 1 GiB: a configured hash cannot ask more */
bool rn_http_secret_hash_valid(const char *hash, bool is_token);
/* True for a password hash in the legacy scrypt form (verifies, but should be re-made). */
bool rn_http_password_hash_is_legacy(const char *hash);
/* Argon2id. ops: passes (1..16), mem_kib: memory (8..1 GiB); 0 = the default. */
int rn_http_password_hash(const char *password, unsigned ops, unsigned mem_kib, char *out,
                          size_t size, RnError *err);
/* True if password matches (Argon2id or legacy scrypt); false for a malformed hash. */
bool rn_http_password_verify(const char *password, const char *hash);
/* A new random token and its stored form. */
int rn_http_token_create(char *token, size_t token_size, char *hash, size_t hash_size,
                         RnError *err);
/* "sha256$<hex>" of a presented token. */
void rn_http_token_hash(const char *token, char *out, size_t size);
bool rn_http_token_verify(const char *token, const char *hash);

/* Routing: the attributes of one series as seen by the rules. */
typedef struct RnRouteSubject {
    const RnInstanceInfo *instance; /* a representative instance of the series */
} RnRouteSubject;
bool rn_route_matches(const RnRoute *route, const RnInstanceInfo *info);
/* Reads a route condition "Attribute op value" (e.g. "Modality in DX,CR"). */
int rn_route_condition_parse(const char *text, RnRouteCondition *out, RnError *err);

/* Runs the node until SIGTERM/SIGINT; SIGHUP reloads routes and destinations. */
int rn_node_serve(const RnNodeConfig *cfg, RnError *err);

#endif
