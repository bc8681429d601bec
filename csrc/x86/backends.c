/* backends.c - the x86-64 rows of the backend registry, fastest first. */
#include "cpu.h"
#include "../codec/kernels.h"

#if ENEC_X86
extern const enec_block_kernels enec_kernels_avx2;
#endif
#if ENEC_X86 || defined(ENEC_AVX512_EMULATE)
extern const enec_block_kernels enec_kernels_avx512;
#endif

const enec_backend_row enec_backends_x86[] = {
#if ENEC_X86 || defined(ENEC_AVX512_EMULATE)
    {ENEC_BACKEND_AVX512, "avx512", enec_cpu_has_avx512, &enec_kernels_avx512, NULL},
#endif
#if ENEC_X86
    {ENEC_BACKEND_AVX2, "avx2", enec_cpu_has_avx2, &enec_kernels_avx2, NULL},
#endif
    {0, NULL, NULL, NULL, NULL},
};
