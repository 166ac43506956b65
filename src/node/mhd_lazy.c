/* Binding of libmicrohttpd.so.12 on first use (see node/mhd_lazy.h). */
#define RN_NODE_MHD_LAZY_H_IMPL
#include "node/mhd_lazy.h"

RnMhdApi rn_mhd;

#define RN_LAZY_NAME(f) #f,
static const char *const names[] = {RN_MHD_FUNCS(RN_LAZY_NAME)};
#undef RN_LAZY_NAME
#define RN_LAZY_ADDR(f) &rn_mhd.f,
static void *const slots[] = {RN_MHD_FUNCS(RN_LAZY_ADDR)};
#undef RN_LAZY_ADDR

static RnLazyLib lib = {"libmicrohttpd.so.12", names, slots, sizeof names / sizeof names[0], false, false, ""};

int rn_mhd_load(RnError *err)
{
    return rn_lazy_bind(&lib, err);
}
