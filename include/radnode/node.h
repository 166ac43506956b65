/*
 * The node: configuration, routing rules, and the serve loop that ties the
 * DICOM SCP, the durable store, study assembly, the job workers (analyzers
 * in child processes with limits) and the exporters (DICOM C-STORE to the
 * PACS, HL7 ORU^R01 over MLLP to the RIS) together.
 */
#ifndef RADNODE_NODE_H
#define RADNODE_NODE_H

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
    char secret_hash[256]; /* user: "scrypt$N$r$p$salt$hash"; token: "sha256$hex" */
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
    bool keep_unrouted;   /* keep instances no route matches */
    char log_level[8];
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

/* Account secrets of the operator API. Passwords: scrypt (RFC 7914, OpenSSL's
 * EVP_PBE_scrypt) with a random 16-byte salt, stored as
 * "scrypt$N$r$p$<salt hex>$<32-byte hash hex>"; API tokens: 32 random bytes
 * ("rnt_" + 64 hex digits) stored as "sha256$<hex>" (a token has full entropy,
 * so a fast hash suffices). Comparisons are constant-time. */
#define RN_HTTP_SCRYPT_N_DEFAULT 16384
bool rn_http_secret_hash_valid(const char *hash, bool is_token);
/* n: scrypt cost (a power of two, 1024..1048576; 0 = the default). */
int rn_http_password_hash(const char *password, uint64_t n, char *out, size_t size, RnError *err);
/* True if password matches; false for a malformed hash. */
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
