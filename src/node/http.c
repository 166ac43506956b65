/*
 * The node's status API over HTTP (libmicrohttpd), bound to the loopback
 * address unless configured otherwise:
 *   GET /health   200 "ok" while the node runs
 *   GET /status   JSON: version, AE title, ports, uptime, instance count,
 *                 jobs by state, SCP counters
 * It exposes counts only, never patient names or IDs. Authentication and
 * TLS for this API are the security issue's work (issue 9).
 */
#include "node/node_internal.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <microhttpd.h>
#include <string.h>

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *type,
                             const char *body)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", type);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static char *status_json(Node *n)
{
    json_t *o = json_object();
    json_object_set_new(o, "version", json_string(RN_VERSION));
    json_object_set_new(o, "ae_title", json_string(n->cfg.ae_title));
    json_object_set_new(o, "dicom_port", json_integer(rn_scp_port(n->scp)));
    json_object_set_new(o, "uptime_s", json_real(rn_time_now() - n->started));
    int64_t count = 0;
    rn_store_instance_count(n->store, NULL, &count, NULL);
    json_object_set_new(o, "instances", json_integer(count));
    json_t *jobs = json_object();
    for (int s = RN_JOB_QUEUED; s <= RN_JOB_DEAD; s++) {
        int64_t c = 0;
        rn_store_job_count(n->store, (RnJobState)s, &c, NULL);
        json_object_set_new(jobs, rn_job_state_name((RnJobState)s), json_integer(c));
    }
    json_object_set_new(o, "jobs", jobs);
    RnScpStats st;
    rn_scp_stats(n->scp, &st);
    json_t *scp = json_object();
    json_object_set_new(scp, "associations", json_integer((json_int_t)st.associations));
    json_object_set_new(scp, "rejected", json_integer((json_int_t)st.rejected));
    json_object_set_new(scp, "stored", json_integer((json_int_t)st.stored));
    json_object_set_new(scp, "store_failures", json_integer((json_int_t)st.store_failures));
    json_object_set_new(scp, "active", json_integer(st.active));
    json_object_set_new(o, "dicom", scp);
    json_object_set_new(o, "disk_ok", json_boolean(rn_store_has_space(n->store)));
    char *s = json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS);
    json_decref(o);
    return s;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **con_cls)
{
    (void)version;
    (void)upload;
    (void)con_cls;
    Node *n = cls;
    if (*upload_size != 0)
        return reply(c, 413, "text/plain", "no request bodies\n");
    if (strcmp(method, "GET") != 0)
        return reply(c, 405, "text/plain", "method not allowed\n");
    if (!strcmp(url, "/health"))
        return reply(c, 200, "text/plain", "ok\n");
    if (!strcmp(url, "/status")) {
        char *s = status_json(n);
        if (!s)
            return reply(c, 500, "text/plain", "error\n");
        enum MHD_Result r = reply(c, 200, "application/json", s);
        free(s);
        return r;
    }
    return reply(c, 404, "text/plain", "not found\n");
}

int node_http_start(Node *n, RnError *err)
{
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)n->cfg.http_port);
    if (inet_pton(AF_INET, n->cfg.http_bind, &addr.sin_addr) != 1)
        return rn_error_set(err, RN_ERR_INVALID, "http_bind \"%s\" is not an IPv4 address",
                            n->cfg.http_bind);
    n->started = rn_time_now();
    n->http = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG,
                               (uint16_t)n->cfg.http_port, NULL, NULL, handle, n,
                               MHD_OPTION_SOCK_ADDR, &addr, MHD_OPTION_CONNECTION_LIMIT, 64u,
                               MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_END);
    if (!n->http)
        return rn_error_set(err, RN_ERR_NET, "cannot start the HTTP API on %s:%d",
                            n->cfg.http_bind, n->cfg.http_port);
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(n->http, MHD_DAEMON_INFO_BIND_PORT);
    n->http_port = info ? info->port : n->cfg.http_port;
    return 0;
}

void node_http_stop(Node *n)
{
    if (n->http)
        MHD_stop_daemon(n->http);
    n->http = NULL;
}
