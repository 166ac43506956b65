/*
 * The node's configuration: one INI-style file ("key = value" lines under
 * [section] headers, '#' comments), read over built-in defaults that work for
 * a first run. Sections: [node], [access], [http] (the operator API's TLS and
 * limits), [audit] (the PS3.15 A.5 trail), [research] (de-identified research
 * exports), [priors] (fetching priors from the PACS), [route NAME] (one per routing rule), [destination NAME] (a PACS or a RIS), [user NAME] and [token NAME]
 * (accounts of the operator API, holding only salted hashes). Every error
 * names the file and line; unknown keys are errors, so a typo never silently
 * falls back to a default.
 */
#include "radnode/audit.h"
#include "radnode/node.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static const char SAMPLE[] =
    "# radnode configuration. Every value shown is the built-in default.\n"
    "\n"
    "[node]\n"
    "# DICOM Application Entity title and port that the PACS sends to.\n"
    "ae_title = RADNODE\n"
    "dicom_port = 11112\n"
    "bind = 0.0.0.0\n"
    "# Status API (HTTP). Bound to the loopback address until configured otherwise.\n"
    "http_bind = 127.0.0.1\n"
    "http_port = 8480\n"
    "# HL7 MLLP listener (0 = off).\n"
    "hl7_port = 0\n"
    "# Where instances, the index (SQLite) and job folders live.\n"
    "data_dir = ./radnode-data\n"
    "models_dir = ./models\n"
    "max_associations = 32\n"
    "# A study is analysed after this many seconds without a new instance.\n"
    "quiet_period = 30\n"
    "# Analysis workers, and the limits of each analysis process.\n"
    "workers = 2\n"
    "job_timeout = 600\n"
    "job_memory_mb = 4096\n"
    "# Failed jobs and exports are retried with exponential back-off, then marked dead.\n"
    "max_attempts = 10\n"
    "retry_base = 10\n"
    "retry_max = 3600\n"
    "# Report language: en or zh.\n"
    "language = en\n"
    "# New instances are refused (DICOM status A700) below this free space.\n"
    "min_free_mb = 1024\n"
    "# A re-sent instance: replace, keep_first or reject.\n"
    "duplicates = replace\n"
    "# Delete inputs this many days after their results were delivered (0 = never).\n"
    "# Or `retention = 30d` (units s, m, h, d; fractions allowed).\n"
    "retention_days = 0\n"
    "# Keep instances that no route matches.\n"
    "keep_unrouted = yes\n"
    "log_level = info\n"
    "# Started as root, the node binds its ports and then runs as this user (and\n"
    "# group; empty = the user's own) before it opens the store. Without a user a\n"
    "# node started as root stays root: allow_root = warn says so loudly at start,\n"
    "# no refuses to start, yes accepts it quietly (containers).\n"
    "user =\n"
    "group =\n"
    "allow_root = warn\n"
    "\n"
    "[access]\n"
    "# Comma-separated calling AE titles and source addresses allowed to connect\n"
    "# (empty = anyone; set both in production).\n"
    "allowed_calling_aes =\n"
    "allowed_hosts =\n"
    "\n"
    "[priors]\n"
    "# Earlier studies an analyzer asks for (lungct: the patient's last CT) are\n"
    "# taken from the store; with fetch = yes, when the store has none, the node\n"
    "# asks the PACS (C-FIND, then C-MOVE to this node's AE title, which the PACS\n"
    "# must know) before the analysis. source: a [destination] of type dicom, or\n"
    "# host, port and ae_title of the PACS. timeout: seconds for the query and for\n"
    "# each retrieve. If it fails the analysis runs without the prior.\n"
    "fetch = no\n"
    "source =\n"
    "host =\n"
    "port = 0\n"
    "ae_title =\n"
    "move_destination =\n"
    "timeout = 120\n"
    "\n"
    "[http]\n"
    "# The operator API (http_bind/http_port above). /health and /ready never ask\n"
    "# for a login; /status (counts only, no patient data) does not either when\n"
    "# public_status = yes (e.g. for a monitoring system without a token).\n"
    "# Everything else needs an account below.\n"
    "public_status = no\n"
    "# HTTPS: a PEM certificate (chain) and its key; with both set the API speaks\n"
    "# only HTTPS.\n"
    "tls_cert =\n"
    "tls_key =\n"
    "# Seconds a login session (POST /api/login) lives.\n"
    "session_ttl = 900\n"
    "# Largest request body accepted.\n"
    "max_body_kb = 64\n"
    "# After this many failed logins from one address or for one user, every\n"
    "# further attempt must wait twice as long as the previous one (429), up to\n"
    "# backoff_max seconds; a success clears it.\n"
    "backoff_after = 5\n"
    "backoff_max = 300\n"
    "threads = 4\n"
    "\n"
    "[audit]\n"
    "# PS3.15 A.5 audit log (append-only, mode 0600); empty = <data_dir>/audit.log.\n"
    "log =\n"
    "# Also send it to the hospital's audit repository: none, udp (RFC 5426) or\n"
    "# tls (RFC 5425, needs ca_file; cert_file/key_file for mutual authentication).\n"
    "transport = none\n"
    "host =\n"
    "port = 0\n"
    "ca_file =\n"
    "cert_file =\n"
    "key_file =\n"
    "site_id =\n"
    "\n"
    "[security]\n"
    "# default: works without configuration. production: unknown calling AE titles\n"
    "# and addresses refused ([access] lists must be set), the called AE title must\n"
    "# be ae_title, the DICOM listener speaks only TLS with mutual authentication\n"
    "# (tls_cert, tls_key, tls_ca) and every DICOM destination needs tls = yes.\n"
    "profile = default\n"
    "# DICOM TLS (PS3.15 B.12): the node's PEM certificate (chain) and key; set =\n"
    "# the DICOM port speaks only TLS. tls_ca: trust anchors; set = peers must\n"
    "# present a certificate it signed (also checked on destinations with tls = yes).\n"
    "tls_cert =\n"
    "tls_key =\n"
    "tls_ca =\n"
    "\n"
    "[research]\n"
    "# De-identified research exports (`radnode research-export`, POST\n"
    "# /api/research-exports): written only below export_root, a folder inside the\n"
    "# hospital (absolute; empty = research exports disabled). secret_file holds\n"
    "# the hospital's de-identification key (>= 16 bytes, mode 0600), the same\n"
    "# one `radnode deid --secret` uses, so pseudonyms agree.\n"
    "export_root =\n"
    "secret_file =\n"
    "# PS3.15 Annex E: basic, research (Basic + Retain Patient Characteristics +\n"
    "# Retain Longitudinal Modified Dates + Clean Descriptors + Clean Structured\n"
    "# Content) or teaching (research without dates). Single options may be\n"
    "# switched on or off over the profile: retain_patient_characteristics,\n"
    "# retain_modified_dates, clean_descriptors, clean_structured_content,\n"
    "# retain_device_identity = yes|no.\n"
    "profile = research\n"
    "# Burned-in annotation: blank = x,y,width,height (repeatable) blanks that\n"
    "# region; without regions flagged images are left out of the export.\n"
    "refuse_burned_in = no\n"
    "\n"
    "# Accounts of the operator API. Roles: service (/metrics, /status), viewer\n"
    "# (read-only: studies, jobs, exports), operator (viewer + retries and the\n"
    "# effective configuration). Only salted hashes are stored; `radnode passwd`\n"
    "# prints them.\n"
    "# [user admin]\n"
    "# role = operator\n"
    "# password_hash = $argon2id$v=19$m=65536,t=2,p=1$<salt>$<hash>\n"
    "#\n"
    "# [token prometheus]\n"
    "# role = service\n"
    "# hash = sha256$<hash of the token>\n"
    "# expires = 2027-01-01\n"
    "\n"
    "# Routing rules: every 'when' line must hold. Operators: = != in ~ (contains) < <= > >=\n"
    "# and 'present'. Attributes: Modality, BodyPartExamined, SeriesDescription,\n"
    "# StudyDescription, SliceThickness, SOPClassUID, CallingAE.\n"
    "[route hand-bone-age]\n"
    "analyzer = boneage\n"
    "level = series\n"
    "when = Modality in DX,CR,SC\n"
    "when = BodyPartExamined in HAND,WRIST\n"
    "\n"
    "[route chest-ct-nodules]\n"
    "analyzer = lungct\n"
    "level = series\n"
    "when = Modality = CT\n"
    "when = SliceThickness <= 2.5\n"
    "\n"
    "# Destinations: where results go. Uncomment and adapt.\n"
    "# [destination pacs]\n"
    "# type = dicom\n"
    "# host = 10.0.0.5\n"
    "# port = 104\n"
    "# ae_title = PACS\n"
    "#\n"
    "# [destination ris]\n"
    "# type = hl7\n"
    "# host = 10.0.0.6\n"
    "# port = 2575\n"
    "# receiving_application = RIS\n"
    "# receiving_facility = HOSPITAL\n";

const char *rn_node_config_sample(void) { return SAMPLE; }

void rn_node_config_defaults(RnNodeConfig *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    /* The sample text is the single source of the defaults. */
    if (rn_node_config_parse(SAMPLE, "(built-in defaults)", cfg, NULL) != 0)
        abort(); /* a broken built-in default is a programming error */
    cfg->path[0] = '\0';
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

static int parse_int(const char *v, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || *trim(end) || x < lo || x > hi)
        return -1;
    *out = x;
    return 0;
}

static int parse_double(const char *v, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || end == v || *trim(end) || x < lo || x > hi)
        return -1;
    *out = x;
    return 0;
}

static int parse_bool(const char *v, bool *out)
{
    if (!strcasecmp(v, "yes") || !strcasecmp(v, "true") || !strcmp(v, "1") ||
        !strcasecmp(v, "on")) {
        *out = true;
        return 0;
    }
    if (!strcasecmp(v, "no") || !strcasecmp(v, "false") || !strcmp(v, "0") ||
        !strcasecmp(v, "off")) {
        *out = false;
        return 0;
    }
    return -1;
}

static int copy_str(char *dst, size_t size, const char *v)
{
    if (strlen(v) >= size)
        return -1;
    memcpy(dst, v, strlen(v) + 1);
    return 0;
}

/* Splits a comma-separated list into a fixed array of strings. */
static int parse_list(const char *v, char *arr, size_t item_size, int max, int *count)
{
    *count = 0;
    char tmp[2048];
    if (copy_str(tmp, sizeof tmp, v))
        return -1;
    char *save = NULL;
    for (char *tok = strtok_r(tmp, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *t = trim(tok);
        if (!*t)
            continue;
        if (*count >= max || copy_str(arr + (size_t)*count * item_size, item_size, t))
            return -1;
        (*count)++;
    }
    return 0;
}

int rn_route_condition_parse(const char *text, RnRouteCondition *out, RnError *err)
{
    memset(out, 0, sizeof *out);
    char buf[400];
    if (copy_str(buf, sizeof buf, text))
        return rn_error_set(err, RN_ERR_PARSE, "condition too long");
    char *s = trim(buf);
    size_t n = 0;
    while (s[n] && (isalnum((unsigned char)s[n]) || s[n] == '_'))
        n++;
    if (n == 0 || n >= sizeof out->attribute)
        return rn_error_set(err, RN_ERR_PARSE, "condition \"%s\": expected an attribute name", text);
    memcpy(out->attribute, s, n);
    char *rest = trim(s + n);
    static const struct {
        const char *tok;
        RnRouteOp op;
    } ops[] = {{"!=", RN_OP_NE}, {"<=", RN_OP_LE}, {">=", RN_OP_GE}, {"=", RN_OP_EQ},
               {"<", RN_OP_LT},  {">", RN_OP_GT},  {"~", RN_OP_CONTAINS}};
    bool found = false;
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        size_t l = strlen(ops[i].tok);
        if (!strncmp(rest, ops[i].tok, l)) {
            out->op = ops[i].op;
            rest = trim(rest + l);
            found = true;
            break;
        }
    }
    if (!found && !strncasecmp(rest, "in", 2) && (isspace((unsigned char)rest[2]))) {
        out->op = RN_OP_IN;
        rest = trim(rest + 2);
        found = true;
    }
    if (!found && !strcasecmp(rest, "present")) {
        out->op = RN_OP_PRESENT;
        return 0;
    }
    if (!found)
        return rn_error_set(err, RN_ERR_PARSE,
                            "condition \"%s\": expected one of = != in ~ < <= > >= present", text);
    if (copy_str(out->value, sizeof out->value, rest))
        return rn_error_set(err, RN_ERR_PARSE, "condition \"%s\": value too long", text);
    if (out->op >= RN_OP_LT && out->op <= RN_OP_GE) {
        double d;
        if (parse_double(out->value, -1e300, 1e300, &d))
            return rn_error_set(err, RN_ERR_PARSE, "condition \"%s\": \"%s\" is not a number",
                                text, out->value);
    }
    return 0;
}

typedef enum Section {
    SEC_NONE,
    SEC_NODE,
    SEC_ACCESS,
    SEC_ROUTE,
    SEC_DEST,
    SEC_HTTP,
    SEC_AUDIT,
    SEC_PRIORS,
    SEC_SECURITY,
    SEC_RESEARCH,
    SEC_ACCOUNT
} Section;

const char *rn_http_role_name(RnHttpRole role)
{
    switch (role) {
    case RN_ROLE_SERVICE:
        return "service";
    case RN_ROLE_VIEWER:
        return "viewer";
    case RN_ROLE_OPERATOR:
        return "operator";
    default:
        return "none";
    }
}

RnHttpRole rn_http_role_parse(const char *name)
{
    for (int r = RN_ROLE_SERVICE; r <= RN_ROLE_OPERATOR; r++)
        if (!strcmp(name, rn_http_role_name((RnHttpRole)r)))
            return (RnHttpRole)r;
    return RN_ROLE_NONE;
}

static int http_key(RnHttpConfig *h, const char *k, const char *v)
{
    long i;
    bool b;
    if (!strcmp(k, "public_status"))
        return parse_bool(v, &b) ? -1 : (h->public_status = b, 0);
    if (!strcmp(k, "tls_cert"))
        return copy_str(h->tls_cert, sizeof h->tls_cert, v);
    if (!strcmp(k, "tls_key"))
        return copy_str(h->tls_key, sizeof h->tls_key, v);
    if (!strcmp(k, "session_ttl"))
        return parse_int(v, 1, 7 * 86400, &i) ? -1 : (h->session_ttl = (int)i, 0);
    if (!strcmp(k, "max_body_kb"))
        return parse_int(v, 1, 16384, &i) ? -1 : (h->max_body = (int)i * 1024, 0);
    if (!strcmp(k, "backoff_after"))
        return parse_int(v, 1, 1000, &i) ? -1 : (h->backoff_after = (int)i, 0);
    if (!strcmp(k, "backoff_max"))
        return parse_int(v, 1, 86400, &i) ? -1 : (h->backoff_max = (int)i, 0);
    if (!strcmp(k, "threads"))
        return parse_int(v, 1, 64, &i) ? -1 : (h->threads = (int)i, 0);
    return -2;
}

static int audit_key(RnNodeAuditConfig *a, const char *k, const char *v)
{
    long i;
    if (!strcmp(k, "log"))
        return copy_str(a->log_path, sizeof a->log_path, v);
    if (!strcmp(k, "transport")) {
        if (!strcmp(v, "none"))
            a->transport = RN_AUDIT_TRANSPORT_NONE;
        else if (!strcmp(v, "udp"))
            a->transport = RN_AUDIT_TRANSPORT_UDP;
        else if (!strcmp(v, "tls"))
            a->transport = RN_AUDIT_TRANSPORT_TLS;
        else
            return -1;
        return 0;
    }
    if (!strcmp(k, "host"))
        return copy_str(a->host, sizeof a->host, v);
    if (!strcmp(k, "port"))
        return parse_int(v, 0, 65535, &i) ? -1 : (a->port = (int)i, 0);
    if (!strcmp(k, "ca_file"))
        return copy_str(a->ca_file, sizeof a->ca_file, v);
    if (!strcmp(k, "cert_file"))
        return copy_str(a->cert_file, sizeof a->cert_file, v);
    if (!strcmp(k, "key_file"))
        return copy_str(a->key_file, sizeof a->key_file, v);
    if (!strcmp(k, "site_id"))
        return copy_str(a->site_id, sizeof a->site_id, v);
    return -2;
}

/* True if a path has a ".." component. */
static bool has_dotdot(const char *path)
{
    for (const char *c = path; (c = strstr(c, "..")) != NULL; c += 2)
        if ((c == path || c[-1] == '/') && (c[2] == '\0' || c[2] == '/'))
            return true;
    return false;
}

static int research_key(RnResearchConfig *r, const char *k, const char *v)
{
    static const char *const opts[] = {"retain_patient_characteristics", "retain_modified_dates",
                                       "clean_descriptors", "clean_structured_content",
                                       "retain_device_identity"};
    int *slots[] = {&r->retain_patient_characteristics, &r->retain_modified_dates,
                    &r->clean_descriptors, &r->clean_structured_content,
                    &r->retain_device_identity};
    bool b;
    if (!strcmp(k, "export_root"))
        return copy_str(r->export_root, sizeof r->export_root, v);
    if (!strcmp(k, "secret_file"))
        return copy_str(r->secret_file, sizeof r->secret_file, v);
    if (!strcmp(k, "profile"))
        return rn_deid_profile_parse(v, &r->profile, NULL) ? -1 : 0;
    if (!strcmp(k, "refuse_burned_in"))
        return parse_bool(v, &r->refuse_burned_in);
    for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++)
        if (!strcmp(k, opts[i]))
            return parse_bool(v, &b) ? -1 : (*slots[i] = b ? 1 : -1, 0);
    if (!strcmp(k, "blank")) {
        unsigned x, y, w, h;
        char extra;
        if (r->region_count >= RN_DEID_MAX_REGIONS ||
            sscanf(v, "%u,%u,%u,%u%c", &x, &y, &w, &h, &extra) != 4 || !w || !h)
            return -1;
        r->regions[r->region_count++] = (RnDeidRegion){x, y, w, h};
        return 0;
    }
    return -2;
}

static int security_key(RnNodeSecurityConfig *c, const char *k, const char *v, int lineno)
{
    if (!strcmp(k, "profile")) {
        if (strcmp(v, "default") && strcmp(v, "production"))
            return -1;
        c->production = !strcmp(v, "production");
        c->profile_line = lineno;
        return 0;
    }
    if (!strcmp(k, "tls_cert"))
        return copy_str(c->tls_cert, sizeof c->tls_cert, v);
    if (!strcmp(k, "tls_key"))
        return copy_str(c->tls_key, sizeof c->tls_key, v);
    if (!strcmp(k, "tls_ca"))
        return copy_str(c->tls_ca, sizeof c->tls_ca, v);
    return -2;
}

/* profile = production (issue 9): what it requires, checked once the whole
 * file is read; the message names the profile line (or the destination's). */
static int check_production(const RnNodeConfig *cfg, const char *origin, RnError *err)
{
    const RnNodeSecurityConfig *s = &cfg->security;
    const char *need = NULL;
    if (!s->production)
        need = NULL;
    else if (!cfg->allowed_calling_ae_count)
        need = "[access] allowed_calling_aes (unknown calling AE titles are refused)";
    else if (!cfg->allowed_host_count)
        need = "[access] allowed_hosts (unknown addresses are refused)";
    else if (!s->tls_cert[0] || !s->tls_key[0])
        need = "[security] tls_cert and tls_key (the DICOM listener speaks only TLS)";
    else if (!s->tls_ca[0])
        need = "[security] tls_ca (peers must authenticate with a certificate)";
    if (need)
        return rn_error_set(err, RN_ERR_PARSE, "%s:%d: profile = production needs %s", origin,
                            s->profile_line, need);
    for (int i = 0; i < cfg->destination_count; i++) {
        const RnDestination *d = &cfg->destinations[i];
        if (d->type != RN_DEST_DICOM)
            continue;
        if (s->production && !d->tls)
            return rn_error_set(err, RN_ERR_PARSE,
                                "%s:%d: profile = production (line %d) needs tls = yes for "
                                "DICOM destination \"%s\"",
                                origin, d->line, s->profile_line, d->name);
        /* Any profile: a TLS destination's certificate is checked against tls_ca. */
        if (d->tls && !s->tls_ca[0])
            return rn_error_set(err, RN_ERR_PARSE,
                                "%s:%d: destination \"%s\" has tls = yes but [security] tls_ca "
                                "is empty (its certificate could not be checked)",
                                origin, d->line, d->name);
    }
    return 0;
}

/* "YYYY-MM-DD" (end of that day, UTC) or seconds since the epoch. */
static int parse_expiry(const char *v, int64_t *out)
{
    int y, m, d;
    char tail;
    if (sscanf(v, "%4d-%2d-%2d%c", &y, &m, &d, &tail) == 3) {
        if (y < 1970 || m < 1 || m > 12 || d < 1 || d > 31)
            return -1;
        struct tm tm = {.tm_year = y - 1900, .tm_mon = m - 1, .tm_mday = d, .tm_hour = 23,
                        .tm_min = 59, .tm_sec = 59};
        time_t t = timegm(&tm);
        if (t == (time_t)-1)
            return -1;
        *out = (int64_t)t;
        return 0;
    }
    long i;
    if (parse_int(v, 0, 1L << 40, &i))
        return -1;
    *out = i;
    return 0;
}

static int account_key(RnHttpAccount *a, const char *k, const char *v)
{
    if (!strcmp(k, "role")) {
        a->role = rn_http_role_parse(v);
        return a->role == RN_ROLE_NONE ? -1 : 0;
    }
    if ((!a->is_token && !strcmp(k, "password_hash")) || (a->is_token && !strcmp(k, "hash"))) {
        if (!rn_http_secret_hash_valid(v, a->is_token))
            return -1;
        return copy_str(a->secret_hash, sizeof a->secret_hash, v);
    }
    if (a->is_token && !strcmp(k, "expires"))
        return parse_expiry(v, &a->expires);
    return -2;
}

/* A POSIX portable user or group name ([A-Za-z0-9._-], not starting with '-'), or empty. */
static int copy_account_name(char *dst, size_t size, const char *v)
{
    if (*v == '-')
        return -1;
    for (const char *p = v; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '.' && *p != '_' && *p != '-')
            return -1;
    return copy_str(dst, size, v);
}

/* A period: a number with an optional unit s, m, h or d (default d), e.g. "7d", "1.5h". */
static int parse_period(const char *v, double *out)
{
    char buf[64];
    if (copy_str(buf, sizeof buf, v) || !buf[0])
        return -1;
    size_t n = strlen(buf);
    double unit = 86400;
    static const char units[] = "smhd";
    static const double secs[] = {1, 60, 3600, 86400};
    const char *u = isalpha((unsigned char)buf[n - 1]) ? strchr(units, buf[n - 1]) : NULL;
    if (isalpha((unsigned char)buf[n - 1]) && !u)
        return -1;
    if (u) {
        unit = secs[u - units];
        buf[n - 1] = '\0';
    }
    double x;
    if (parse_double(trim(buf), 0, 36500.0 * 86400 / unit, &x))
        return -1;
    *out = x * unit;
    return 0;
}

static int priors_key(RnPriorsConfig *p, const char *k, const char *v)
{
    long i;
    bool b;
    if (!strcmp(k, "fetch"))
        return parse_bool(v, &b) ? -1 : (p->fetch = b, 0);
    if (!strcmp(k, "source"))
        return copy_str(p->source, sizeof p->source, v);
    if (!strcmp(k, "host"))
        return copy_str(p->host, sizeof p->host, v);
    if (!strcmp(k, "port"))
        return parse_int(v, 0, 65535, &i) ? -1 : (p->port = (int)i, 0);
    if (!strcmp(k, "ae_title"))
        return strlen(v) <= 16 ? copy_str(p->ae_title, sizeof p->ae_title, v) : -1;
    if (!strcmp(k, "move_destination"))
        return strlen(v) <= 16 ? copy_str(p->move_destination, sizeof p->move_destination, v)
                               : -1;
    if (!strcmp(k, "timeout"))
        return parse_int(v, 1, 86400, &i) ? -1 : (p->timeout = (int)i, 0);
    return -2;
}

static int node_key(RnNodeConfig *c, const char *k, const char *v)
{
    long i;
    double d;
    bool b;
    if (!strcmp(k, "ae_title")) {
        if (!*v || strlen(v) > 16)
            return -1;
        return copy_str(c->ae_title, sizeof c->ae_title, v);
    }
    if (!strcmp(k, "dicom_port"))
        return parse_int(v, 0, 65535, &i) ? -1 : (c->dicom_port = (int)i, 0);
    if (!strcmp(k, "bind"))
        return copy_str(c->bind_address, sizeof c->bind_address, v);
    if (!strcmp(k, "http_bind"))
        return copy_str(c->http_bind, sizeof c->http_bind, v);
    if (!strcmp(k, "http_port"))
        return parse_int(v, 0, 65535, &i) ? -1 : (c->http_port = (int)i, 0);
    if (!strcmp(k, "hl7_port"))
        return parse_int(v, 0, 65535, &i) ? -1 : (c->hl7_port = (int)i, 0);
    if (!strcmp(k, "data_dir"))
        return *v ? copy_str(c->data_dir, sizeof c->data_dir, v) : -1;
    if (!strcmp(k, "models_dir"))
        return *v ? copy_str(c->models_dir, sizeof c->models_dir, v) : -1;
    if (!strcmp(k, "max_associations"))
        return parse_int(v, 1, 1024, &i) ? -1 : (c->max_associations = (int)i, 0);
    if (!strcmp(k, "quiet_period"))
        return parse_double(v, 0, 86400, &d) ? -1 : (c->quiet_period = d, 0);
    if (!strcmp(k, "workers"))
        return parse_int(v, 1, 64, &i) ? -1 : (c->workers = (int)i, 0);
    if (!strcmp(k, "job_timeout"))
        return parse_int(v, 1, 86400, &i) ? -1 : (c->job_timeout = (int)i, 0);
    if (!strcmp(k, "job_memory_mb"))
        return parse_int(v, 64, 1 << 20, &i) ? -1 : (c->job_memory_mb = (int)i, 0);
    if (!strcmp(k, "max_attempts"))
        return parse_int(v, 1, 1000, &i) ? -1 : (c->max_attempts = (int)i, 0);
    if (!strcmp(k, "retry_base"))
        return parse_double(v, 0, 86400, &d) ? -1 : (c->retry_base = d, 0);
    if (!strcmp(k, "retry_max"))
        return parse_double(v, 0, 7 * 86400, &d) ? -1 : (c->retry_max = d, 0);
    if (!strcmp(k, "language")) {
        if (strcmp(v, "en") && strcmp(v, "zh"))
            return -1;
        return copy_str(c->language, sizeof c->language, v);
    }
    if (!strcmp(k, "min_free_mb"))
        return parse_int(v, 0, 1L << 40, &i) ? -1 : (c->min_free_bytes = (uint64_t)i << 20, 0);
    if (!strcmp(k, "duplicates")) {
        if (!strcmp(v, "replace"))
            c->duplicates = RN_DUP_REPLACE;
        else if (!strcmp(v, "keep_first"))
            c->duplicates = RN_DUP_KEEP_FIRST;
        else if (!strcmp(v, "reject"))
            c->duplicates = RN_DUP_REJECT;
        else
            return -1;
        return 0;
    }
    if (!strcmp(k, "retention_days")) {
        if (parse_double(v, 0, 36500, &d))
            return -1;
        c->retention_days = (int)d;
        c->retention_seconds = d * 86400;
        return 0;
    }
    if (!strcmp(k, "retention")) {
        if (parse_period(v, &c->retention_seconds))
            return -1;
        c->retention_days = (int)(c->retention_seconds / 86400);
        return 0;
    }
    if (!strcmp(k, "keep_unrouted"))
        return parse_bool(v, &b) ? -1 : (c->keep_unrouted = b, 0);
    if (!strcmp(k, "user"))
        return copy_account_name(c->user, sizeof c->user, v);
    if (!strcmp(k, "group"))
        return copy_account_name(c->group, sizeof c->group, v);
    if (!strcmp(k, "allow_root")) {
        if (!strcmp(v, "warn"))
            c->allow_root = RN_ALLOW_ROOT_WARN;
        else if (!parse_bool(v, &b))
            c->allow_root = b ? RN_ALLOW_ROOT_YES : RN_ALLOW_ROOT_NO;
        else
            return -1;
        return 0;
    }
    if (!strcmp(k, "log_level")) {
        if (strcmp(v, "debug") && strcmp(v, "info") && strcmp(v, "warn") && strcmp(v, "error"))
            return -1;
        return copy_str(c->log_level, sizeof c->log_level, v);
    }
    return -2;
}

static int dest_key(RnDestination *d, const char *k, const char *v)
{
    long i;
    bool b;
    if (!strcmp(k, "type")) {
        if (!strcmp(v, "dicom"))
            d->type = RN_DEST_DICOM;
        else if (!strcmp(v, "hl7"))
            d->type = RN_DEST_HL7;
        else
            return -1;
        return 0;
    }
    if (!strcmp(k, "host"))
        return *v ? copy_str(d->host, sizeof d->host, v) : -1;
    if (!strcmp(k, "port"))
        return parse_int(v, 1, 65535, &i) ? -1 : (d->port = (int)i, 0);
    if (!strcmp(k, "ae_title"))
        return (*v && strlen(v) <= 16) ? copy_str(d->ae_title, sizeof d->ae_title, v) : -1;
    if (!strcmp(k, "calling_ae"))
        return (*v && strlen(v) <= 16) ? copy_str(d->calling_ae, sizeof d->calling_ae, v) : -1;
    if (!strcmp(k, "receiving_application"))
        return copy_str(d->receiving_application, sizeof d->receiving_application, v);
    if (!strcmp(k, "receiving_facility"))
        return copy_str(d->receiving_facility, sizeof d->receiving_facility, v);
    if (!strcmp(k, "tls"))
        return parse_bool(v, &b) ? -1 : (d->tls = b, 0);
    return -2;
}

int rn_node_config_parse(const char *text, const char *origin, RnNodeConfig *cfg, RnError *err)
{
    Section sec = SEC_NONE;
    RnRoute *route = NULL;
    RnDestination *dest = NULL;
    RnHttpAccount *account = NULL;
    int lineno = 0;
    const char *p = text;
    while (*p) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        lineno++;
        char line[1024];
        if (len >= sizeof line)
            return rn_error_set(err, RN_ERR_PARSE, "%s:%d: line too long", origin, lineno);
        memcpy(line, p, len);
        line[len] = '\0';
        p += len + (eol ? 1 : 0);
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        char *s = trim(line);
        if (!*s)
            continue;
        if (*s == '[') {
            char *close = strchr(s, ']');
            if (!close || *trim(close + 1))
                return rn_error_set(err, RN_ERR_PARSE, "%s:%d: malformed section header", origin,
                                    lineno);
            *close = '\0';
            char *name = trim(s + 1);
            char *arg = strchr(name, ' ');
            if (arg) {
                *arg++ = '\0';
                arg = trim(arg);
            }
            if (!strcmp(name, "node") && !arg) {
                sec = SEC_NODE;
            } else if (!strcmp(name, "access") && !arg) {
                sec = SEC_ACCESS;
            } else if (!strcmp(name, "http") && !arg) {
                sec = SEC_HTTP;
            } else if (!strcmp(name, "audit") && !arg) {
                sec = SEC_AUDIT;
            } else if (!strcmp(name, "priors") && !arg) {
                sec = SEC_PRIORS;
            } else if (!strcmp(name, "security") && !arg) {
                sec = SEC_SECURITY;
            } else if (!strcmp(name, "research") && !arg) {
                sec = SEC_RESEARCH;
            } else if ((!strcmp(name, "user") || !strcmp(name, "token")) && arg && *arg) {
                bool is_token = !strcmp(name, "token");
                for (int i = 0; i < cfg->http.account_count; i++)
                    if (!strcmp(cfg->http.accounts[i].name, arg))
                        return rn_error_set(err, RN_ERR_PARSE,
                                            "%s:%d: account \"%s\" is defined twice", origin,
                                            lineno, arg);
                if (cfg->http.account_count >= RN_NODE_MAX_ACCOUNTS)
                    return rn_error_set(err, RN_ERR_LIMIT, "%s:%d: more than %d accounts",
                                        origin, lineno, RN_NODE_MAX_ACCOUNTS);
                /* Names appear in audit records and Basic credentials: no ':' or controls. */
                for (const char *c = arg; *c; c++)
                    if (*c == ':' || (unsigned char)*c < 0x21 || *c == 0x7f)
                        return rn_error_set(err, RN_ERR_PARSE,
                                            "%s:%d: account name \"%s\" may not contain ':', "
                                            "spaces or control characters",
                                            origin, lineno, arg);
                account = &cfg->http.accounts[cfg->http.account_count++];
                memset(account, 0, sizeof *account);
                account->is_token = is_token;
                if (copy_str(account->name, sizeof account->name, arg))
                    return rn_error_set(err, RN_ERR_PARSE, "%s:%d: account name too long",
                                        origin, lineno);
                sec = SEC_ACCOUNT;
            } else if (!strcmp(name, "route") && arg && *arg) {
                if (cfg->route_count >= RN_NODE_MAX_ROUTES)
                    return rn_error_set(err, RN_ERR_LIMIT, "%s:%d: more than %d routes", origin,
                                        lineno, RN_NODE_MAX_ROUTES);
                /* A route of the same name (a user's file over the defaults) replaces it. */
                route = NULL;
                for (int i = 0; i < cfg->route_count; i++)
                    if (!strcmp(cfg->routes[i].name, arg))
                        route = &cfg->routes[i];
                if (!route)
                    route = &cfg->routes[cfg->route_count++];
                memset(route, 0, sizeof *route);
                if (copy_str(route->name, sizeof route->name, arg))
                    return rn_error_set(err, RN_ERR_PARSE, "%s:%d: route name too long", origin,
                                        lineno);
                sec = SEC_ROUTE;
            } else if (!strcmp(name, "destination") && arg && *arg) {
                if (cfg->destination_count >= RN_NODE_MAX_DESTINATIONS)
                    return rn_error_set(err, RN_ERR_LIMIT, "%s:%d: more than %d destinations",
                                        origin, lineno, RN_NODE_MAX_DESTINATIONS);
                dest = &cfg->destinations[cfg->destination_count++];
                memset(dest, 0, sizeof *dest);
                if (copy_str(dest->name, sizeof dest->name, arg))
                    return rn_error_set(err, RN_ERR_PARSE, "%s:%d: destination name too long",
                                        origin, lineno);
                dest->port = 0;
                dest->line = lineno;
                sec = SEC_DEST;
            } else {
                return rn_error_set(err, RN_ERR_PARSE,
                                    "%s:%d: unknown section [%s%s%s] (expected [node], [access], "
                                    "[http], [audit], [security], [research], [priors], [route NAME], [destination NAME], "
                                    "[user NAME], [token NAME])",
                                    origin, lineno, name, arg ? " " : "", arg ? arg : "");
            }
            continue;
        }
        char *eq = strchr(s, '=');
        if (!eq)
            return rn_error_set(err, RN_ERR_PARSE, "%s:%d: expected key = value", origin, lineno);
        *eq = '\0';
        char *key = trim(s), *val = trim(eq + 1);
        int rc = -2;
        switch (sec) {
        case SEC_NONE:
            return rn_error_set(err, RN_ERR_PARSE, "%s:%d: \"%s\" outside a section", origin,
                                lineno, key);
        case SEC_NODE:
            rc = node_key(cfg, key, val);
            break;
        case SEC_ACCESS:
            if (!strcmp(key, "allowed_calling_aes"))
                rc = parse_list(val, &cfg->allowed_calling_aes[0][0], 17, RN_NODE_MAX_LIST,
                                &cfg->allowed_calling_ae_count);
            else if (!strcmp(key, "allowed_hosts"))
                rc = parse_list(val, &cfg->allowed_hosts[0][0], 64, RN_NODE_MAX_LIST,
                                &cfg->allowed_host_count);
            break;
        case SEC_ROUTE:
            if (!strcmp(key, "analyzer")) {
                rc = copy_str(route->analyzer, sizeof route->analyzer, val);
            } else if (!strcmp(key, "level")) {
                rc = 0;
                if (!strcmp(val, "series"))
                    route->series_level = true;
                else if (!strcmp(val, "study"))
                    route->series_level = false;
                else
                    rc = -1;
            } else if (!strcmp(key, "when")) {
                if (route->condition_count >= RN_NODE_MAX_CONDITIONS)
                    return rn_error_set(err, RN_ERR_LIMIT, "%s:%d: too many conditions", origin,
                                        lineno);
                RnError cerr = {0};
                if (rn_route_condition_parse(val, &route->conditions[route->condition_count],
                                             &cerr))
                    return rn_error_set(err, RN_ERR_PARSE, "%s:%d: %s", origin, lineno,
                                        cerr.message);
                route->condition_count++;
                rc = 0;
            }
            break;
        case SEC_DEST:
            rc = dest_key(dest, key, val);
            break;
        case SEC_HTTP:
            rc = http_key(&cfg->http, key, val);
            break;
        case SEC_AUDIT:
            rc = audit_key(&cfg->audit, key, val);
            break;
        case SEC_SECURITY:
            rc = security_key(&cfg->security, key, val, lineno);
            break;
        case SEC_RESEARCH:
            rc = research_key(&cfg->research, key, val);
            break;
        case SEC_ACCOUNT:
            rc = account_key(account, key, val);
            break;
        case SEC_PRIORS:
            rc = priors_key(&cfg->priors, key, val);
            break;
        }
        if (rc == -2)
            return rn_error_set(err, RN_ERR_PARSE, "%s:%d: unknown key \"%s\"", origin, lineno,
                                key);
        /* A secret's value is never echoed into a message that may reach a log. */
        if (rc && sec == SEC_ACCOUNT && strcmp(key, "role") && strcmp(key, "expires"))
            return rn_error_set(err, RN_ERR_PARSE,
                                "%s:%d: invalid %s (expected %s; `radnode passwd` prints one)",
                                origin, lineno, key,
                                account->is_token ? "sha256$<64 hex digits>"
                                                  : "$argon2id$v=19$m=KiB,t=N,p=1$salt$hash");
        if (rc)
            return rn_error_set(err, RN_ERR_PARSE, "%s:%d: invalid value \"%s\" for %s", origin,
                                lineno, val, key);
    }
    for (int i = 0; i < cfg->http.account_count; i++) {
        const RnHttpAccount *a = &cfg->http.accounts[i];
        if (!a->secret_hash[0] || a->role == RN_ROLE_NONE)
            return rn_error_set(err, RN_ERR_PARSE, "%s: %s \"%s\" needs role and %s", origin,
                                a->is_token ? "token" : "user", a->name,
                                a->is_token ? "hash" : "password_hash");
    }
    if (!cfg->http.tls_cert[0] != !cfg->http.tls_key[0])
        return rn_error_set(err, RN_ERR_PARSE, "%s: [http] needs both tls_cert and tls_key",
                            origin);
    if (cfg->audit.transport != RN_AUDIT_TRANSPORT_NONE && !cfg->audit.host[0])
        return rn_error_set(err, RN_ERR_PARSE, "%s: [audit] transport needs a host", origin);
    if (cfg->audit.transport == RN_AUDIT_TRANSPORT_TLS && !cfg->audit.ca_file[0])
        return rn_error_set(err, RN_ERR_PARSE, "%s: [audit] transport = tls needs ca_file",
                            origin);
    if (!cfg->security.tls_cert[0] != !cfg->security.tls_key[0])
        return rn_error_set(err, RN_ERR_PARSE, "%s: [security] needs both tls_cert and tls_key",
                            origin);
    /* The export root must be a plain absolute path: no ".." to climb out of it. */
    const char *er = cfg->research.export_root;
    if (er[0] && (er[0] != '/' || has_dotdot(er)))
        return rn_error_set(err, RN_ERR_PARSE,
                            "%s: [research] export_root must be an absolute path without \"..\"",
                            origin);
    if (er[0] && !cfg->research.secret_file[0])
        return rn_error_set(err, RN_ERR_PARSE, "%s: [research] export_root needs secret_file",
                            origin);
    for (int i = 0; i < cfg->route_count; i++)
        if (!cfg->routes[i].analyzer[0])
            return rn_error_set(err, RN_ERR_PARSE, "%s: route \"%s\" names no analyzer", origin,
                                cfg->routes[i].name);
    for (int i = 0; i < cfg->destination_count; i++) {
        RnDestination *d = &cfg->destinations[i];
        if (!d->host[0] || !d->port)
            return rn_error_set(err, RN_ERR_PARSE, "%s: destination \"%s\" needs host and port",
                                origin, d->name);
        if (d->type == RN_DEST_DICOM && !d->ae_title[0])
            return rn_error_set(err, RN_ERR_PARSE, "%s: DICOM destination \"%s\" needs ae_title",
                                origin, d->name);
    }
    const RnPriorsConfig *pr = &cfg->priors;
    if (pr->fetch && pr->source[0]) {
        const RnDestination *pd = NULL;
        for (int i = 0; i < cfg->destination_count; i++)
            if (!strcmp(cfg->destinations[i].name, pr->source))
                pd = &cfg->destinations[i];
        if (!pd || pd->type != RN_DEST_DICOM)
            return rn_error_set(err, RN_ERR_PARSE,
                                "%s: [priors] source \"%s\" is not a [destination] of type dicom",
                                origin, pr->source);
    } else if (pr->fetch && (!pr->host[0] || !pr->port || !pr->ae_title[0])) {
        return rn_error_set(err, RN_ERR_PARSE,
                            "%s: [priors] fetch = yes needs source (a DICOM destination) or "
                            "host, port and ae_title of the PACS",
                            origin);
    }
    return check_production(cfg, origin, err);
}

int rn_node_config_load(const char *path, RnNodeConfig *cfg, RnError *err)
{
    rn_node_config_defaults(cfg);
    size_t len;
    char *text = (char *)rn_file_read_all(path, 1 << 20, &len, err);
    if (!text)
        return err ? err->code : RN_ERR_IO;
    int rc = rn_node_config_parse(text, path, cfg, err);
    free(text);
    if (rc == 0)
        snprintf(cfg->path, sizeof cfg->path, "%s", path);
    return rc;
}
