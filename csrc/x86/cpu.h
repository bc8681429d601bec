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
static inline int enec_cpu_has_avx512(void)
{
    __builtin_cpu_init();
    return enec_cpu_has_avx2() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl");
}
#else
#define ENEC_X86 0
static inline int enec_cpu_has_avx2(void) { return 0; }
static inline int enec_cpu_has_avx512(void) { return 0; }
#endif

#endif
