/* cpu.h - x86-64 CPU feature detection for the dispatch table. */
#ifndef ENEC_X86_CPU_H
#define ENEC_X86_CPU_H

#if defined(__x86_64__) && defined(__GNUC__)
#define ENEC_X86 1
static inline int enec_cpu_has_avx2(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("bmi2") && __builtin_cpu_supports("popcnt");
}
/* The AVX-512 kernels need BW for 16-bit lanes and VBMI2 for vpcompressw /
 * vpexpandw (Ice Lake, Zen 4 and later); older AVX-512 parts run AVX2. */
static inline int enec_cpu_has_avx512(void)
{
#ifdef ENEC_AVX512_EMULATE
    return 1; /* test build: the kernels run on avx512_emu.h */
#else
    __builtin_cpu_init();
    return enec_cpu_has_avx2() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vbmi2");
#endif
}
#else
#define ENEC_X86 0
static inline int enec_cpu_has_avx2(void) { return 0; }
#ifdef ENEC_AVX512_EMULATE
static inline int enec_cpu_has_avx512(void) { return 1; }
#else
static inline int enec_cpu_has_avx512(void) { return 0; }
#endif
#endif

#endif
