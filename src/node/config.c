/*
 * The node's configuration: one INI-style file ("key = value" lines under
 * [section] headers, '#' comments), read over built-in defaults that work for
 * a first run. Sections: [node], [access], [http] (the operator API's TLS and
 * limits), [audit] (the PS3.15 A.5 trail), [route NAME] (one per routing
 * rule), [destination NAME] (a PACS or a RIS), [user NAME] and [token NAME]
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
    "retention_days = 0\n"
    "# Keep instances that no route matches.\n"
    "keep_unrouted = yes\n"
    "log_level = info\n"
    "\n"
    "[access]\n"
    "# Comma-separated calling AE titles and source addresses allowed to connect\n"
    "# (empty = anyone; set both in production).\n"
    "allowed_calling_aes =\n"
    "allowed_hosts =\n"
    "\n"
    "[http]\n"
    "# The operator API (http_bind/http_port above). /health and /ready never ask\n"
    "# for a login; /status (counts only, no patient data) does not either while\n"
    "# public_status = yes. Everything else needs an account below.\n"
    "public_status = yes\n"
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
    "# Accounts of the operator API. Roles: service (/metrics, /status), viewer\n"
    "# (read-only: studies, jobs, exports), operator (viewer + retries and the\n"
    "# effective configuration). Only salted hashes are stored; `radnode passwd`\n"
    "# prints them.\n"
    "# [user admin]\n"
    "# role = operator\n"
    "# password_hash = scrypt$16384$8$1$<salt>$<hash>\n"
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
    if (!strcmp(k, "retention_days"))
        return parse_int(v, 0, 36500, &i) ? -1 : (c->retention_days = (int)i, 0);
    if (!strcmp(k, "keep_unrouted"))
        return parse_bool(v, &b) ? -1 : (c->keep_unrouted = b, 0);
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
                                    "[http], [audit], [route NAME], [destination NAME], "
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
        case SEC_ACCOUNT:
            rc = account_key(account, key, val);
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
                                                  : "scrypt$N$r$p$<salt hex>$<64 hex digits>");
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
    return 0;
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
