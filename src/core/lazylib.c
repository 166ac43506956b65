/*
 * Shared libraries opened on first use (dlopen) instead of at every start:
 * each library linked into radnode costs every process (`radnode dump` as much
 * as `radnode serve`) its load and symbol relocation time, and cairo (with X11,
 * fontconfig, freetype) and libmicrohttpd (with GnuTLS) were a large part of
 * the start-up that bench/bench_dicom.sh measures against DCMTK, as was CharLS
 * (with libstdc++). Only the report renderers, the HTTP API and the JPEG-LS
 * decoder need them.
 */
#include "radnode/core.h"

#include <dlfcn.h>
#include <pthread.h>
#include <string.h>

static pthread_mutex_t lazy_lock = PTHREAD_MUTEX_INITIALIZER;

int rn_lazy_bind(RnLazyLib *lib, RnError *err)
{
    pthread_mutex_lock(&lazy_lock);
    if (!lib->tried) {
        lib->tried = true;
        void *h = dlopen(lib->soname, RTLD_NOW | RTLD_LOCAL);
        if (!h) {
            const char *e = dlerror();
            rn_format(lib->problem, sizeof lib->problem, "cannot load %s: %s", lib->soname,
                      e ? e : "unknown error");
        }
        for (size_t i = 0; h && i < lib->count; i++) {
            void *sym = dlsym(h, lib->names[i]);
            if (!sym) {
                rn_format(lib->problem, sizeof lib->problem, "%s has no symbol %s", lib->soname,
                          lib->names[i]);
                break;
            }
            memcpy(lib->slots[i], &sym, sizeof sym);
        }
        lib->ready = h && !lib->problem[0];
    }
    bool ok = lib->ready;
    pthread_mutex_unlock(&lazy_lock);
    return ok ? 0 : rn_error_set(err, RN_ERR_UNSUPPORTED, "%s", lib->problem);
}
