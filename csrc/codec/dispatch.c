/* dispatch.c - the named table of backends: which kernels exist, which this CPU runs, which "auto" picks. */
#include "../x86/cpu.h"
#include "kernels.h"
#include "search.h"

static const enec_kernels kernels_scalar = {"scalar", enec_histogram_ref, enec_encode_block_ref,
                                            enec_decode_block_ref};

#if ENEC_X86
extern const enec_kernels enec_kernels_avx2;
#endif
#if ENEC_X86 || defined(ENEC_AVX512_EMULATE)
extern const enec_kernels enec_kernels_avx512;
#endif

static const enec_kernels *lookup(int backend)
{
    switch (backend) {
    case ENEC_BACKEND_SCALAR: return &kernels_scalar;
#if ENEC_X86
    case ENEC_BACKEND_AVX2: return enec_cpu_has_avx2() ? &enec_kernels_avx2 : NULL;
#endif
#if ENEC_X86 || defined(ENEC_AVX512_EMULATE)
    case ENEC_BACKEND_AVX512: return enec_cpu_has_avx512() ? &enec_kernels_avx512 : NULL;
#endif
    default: return NULL;
    }
}

const enec_kernels *enec_kernels_get(int backend)
{
    if (backend != ENEC_BACKEND_AUTO) return lookup(backend);
    for (int b = ENEC_BACKEND_COUNT - 1; b > ENEC_BACKEND_AUTO; b--)
        if (lookup(b)) return lookup(b);
    return &kernels_scalar;
}

int enec_backend_available(int backend) { return enec_kernels_get(backend) != NULL; }

const char *enec_backend_name(int backend)
{
    static const char *names[ENEC_BACKEND_COUNT] = {NULL, "scalar", "avx2", "avx512"};
    if (backend == ENEC_BACKEND_AUTO) return enec_kernels_get(ENEC_BACKEND_AUTO)->name;
    return backend > 0 && backend < ENEC_BACKEND_COUNT ? names[backend] : NULL;
}
