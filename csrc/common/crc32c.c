/* crc32c.c - CRC-32C (Castagnoli): SSE4.2 instruction where the CPU has it, slice-by-8 tables otherwise. */
#include <pthread.h>
#include <stdlib.h>
#include "internal.h"

static uint32_t crc_table[8][256];

static void crc_init_tables(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1)));
        crc_table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++)
            crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^ crc_table[0][crc_table[t - 1][i] & 0xFF];
}

static uint32_t crc_portable(uint32_t c, const uint8_t *p, size_t len)
{
    while (len >= 8) {
        uint32_t lo = c ^ enec_load32(p), hi = enec_load32(p + 4);
        c = crc_table[7][lo & 0xFF] ^ crc_table[6][(lo >> 8) & 0xFF] ^ crc_table[5][(lo >> 16) & 0xFF] ^
            crc_table[4][lo >> 24] ^ crc_table[3][hi & 0xFF] ^ crc_table[2][(hi >> 8) & 0xFF] ^
            crc_table[1][(hi >> 16) & 0xFF] ^ crc_table[0][hi >> 24];
        p += 8;
        len -= 8;
    }
    while (len--) c = (c >> 8) ^ crc_table[0][(c ^ *p++) & 0xFF];
    return c;
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <nmmintrin.h>
/* One dependent chain of crc32 instructions: about 8 bytes per 3 cycles,
 * several GB/s, which keeps checksumming a small share of decoding. */
__attribute__((target("sse4.2"))) static uint32_t crc_sse42(uint32_t c, const uint8_t *p, size_t len)
{
    uint64_t c64 = c;
    while (len >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        c64 = _mm_crc32_u64(c64, v);
        p += 8;
        len -= 8;
    }
    c = (uint32_t)c64;
    while (len--) c = _mm_crc32_u8(c, *p++);
    return c;
}
#endif

typedef uint32_t (*crc_fn)(uint32_t, const uint8_t *, size_t);
static crc_fn crc_impl;
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_pick(void)
{
    crc_init_tables();
    crc_impl = crc_portable;
#if defined(__x86_64__) && defined(__GNUC__)
    /* ENEC_NO_SSE42 lets tests run the portable path on any machine. */
    const char *off = getenv("ENEC_NO_SSE42");
    __builtin_cpu_init();
    if (__builtin_cpu_supports("sse4.2") && !(off && *off && *off != '0')) crc_impl = crc_sse42;
#endif
}

uint32_t enec_crc32c(uint32_t crc, const void *data, size_t len)
{
    pthread_once(&crc_once, crc_pick);
    return ~crc_impl(~crc, (const uint8_t *)data, len);
}
