/* Binding of libcharls.so.2 on first use (see codec/charls_lazy.h). */
#define RN_CODEC_CHARLS_LAZY_H_IMPL
#include "codec/charls_lazy.h"

RnCharlsApi rn_charls;

#define RN_LAZY_NAME(f) #f,
static const char *const names[] = {RN_CHARLS_FUNCS(RN_LAZY_NAME)};
#undef RN_LAZY_NAME
#define RN_LAZY_ADDR(f) &rn_charls.f,
static void *const slots[] = {RN_CHARLS_FUNCS(RN_LAZY_ADDR)};
#undef RN_LAZY_ADDR

static RnLazyLib lib = {"libcharls.so.2", names, slots, sizeof names / sizeof names[0], false, false, ""};

int rn_charls_load(RnError *err)
{
    return rn_lazy_bind(&lib, err);
}
