/*
 * libmicrohttpd, opened on first use: only the operator HTTP API needs it,
 * and linking it (with GnuTLS and its dependencies) cost every radnode
 * process its load time (issue 2).
 * Every use in this module goes through rn_mhd, bound on first use by
 * rn_mhd_load() (src/core/lazylib.c); the module's entry points call it first.
 */
#ifndef RN_NODE_MHD_LAZY_H
#define RN_NODE_MHD_LAZY_H

#include "radnode/core.h"

#include <microhttpd.h>

#define RN_MHD_FUNCS(X) \
    X(MHD_add_response_header) \
    X(MHD_create_response_from_buffer) \
    X(MHD_destroy_response) \
    X(MHD_get_connection_info) \
    X(MHD_get_daemon_info) \
    X(MHD_is_feature_supported) \
    X(MHD_lookup_connection_value) \
    X(MHD_queue_response) \
    X(MHD_start_daemon) \
    X(MHD_stop_daemon)

typedef struct RnMhdApi {
#define RN_LAZY_SLOT(f) __typeof__(f) *f;
    RN_MHD_FUNCS(RN_LAZY_SLOT)
#undef RN_LAZY_SLOT
} RnMhdApi;
extern RnMhdApi rn_mhd;

/* Binds libmicrohttpd.so.12 (once); 0 when ready, else an error naming the problem. */
int rn_mhd_load(RnError *err);

#ifndef RN_NODE_MHD_LAZY_H_IMPL
#define MHD_add_response_header (rn_mhd.MHD_add_response_header)
#define MHD_create_response_from_buffer (rn_mhd.MHD_create_response_from_buffer)
#define MHD_destroy_response (rn_mhd.MHD_destroy_response)
#define MHD_get_connection_info (rn_mhd.MHD_get_connection_info)
#define MHD_get_daemon_info (rn_mhd.MHD_get_daemon_info)
#define MHD_is_feature_supported (rn_mhd.MHD_is_feature_supported)
#define MHD_lookup_connection_value (rn_mhd.MHD_lookup_connection_value)
#define MHD_queue_response (rn_mhd.MHD_queue_response)
#define MHD_start_daemon (rn_mhd.MHD_start_daemon)
#define MHD_stop_daemon (rn_mhd.MHD_stop_daemon)
#endif

#endif
