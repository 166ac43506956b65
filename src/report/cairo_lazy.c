/* Binding of libcairo.so.2 on first use (see report/cairo_lazy.h). */
#define RN_REPORT_CAIRO_LAZY_H_IMPL
#include "report/cairo_lazy.h"

RnCairoApi rn_cairo;

#define RN_LAZY_NAME(f) #f,
static const char *const names[] = {RN_CAIRO_FUNCS(RN_LAZY_NAME)};
#undef RN_LAZY_NAME
#define RN_LAZY_ADDR(f) &rn_cairo.f,
static void *const slots[] = {RN_CAIRO_FUNCS(RN_LAZY_ADDR)};
#undef RN_LAZY_ADDR

static RnLazyLib lib = {"libcairo.so.2", names, slots, sizeof names / sizeof names[0], false, false, ""};

int rn_cairo_load(RnError *err)
{
    return rn_lazy_bind(&lib, err);
}
