/* crc32c.c - CRC-32C (Castagnoli): three interleaved SSE4.2 crc32 chains where the CPU has them, slice-by-8 tables otherwise. */
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

/* Appending `len` zero bytes to a raw CRC is a linear map on its 32 bits;
 * these tables apply it a byte of the CRC at a time. They let three
 * independent streams run side by side and be merged afterwards. */
typedef uint32_t zeros_table[4][256];
static zeros_table zeros_long, zeros_short;
#define CRC_LONG 4096
#define CRC_SHORT 256

static uint32_t gf2_apply(const uint32_t *mat, uint32_t vec)
{
    uint32_t sum = 0;
    for (int i = 0; vec; i++, vec >>= 1)
        if (vec & 1) sum ^= mat[i];
    return sum;
}

/* The operator for appending len (a power of two) zero bytes. */
static void zeros_op(uint32_t *op, size_t len)
{
    uint32_t a[32], b[32];
    /* One zero byte: the table-driven byte step with a zero input byte. */
    for (int i = 0; i < 32; i++) {
        uint32_t c = 1u << i;
        a[i] = (c >> 8) ^ crc_table[0][c & 0xFF];
    }
    for (size_t n = 1; n < len; n <<= 1) {
        for (int i = 0; i < 32; i++) b[i] = gf2_apply(a, a[i]);
        memcpy(a, b, sizeof a);
    }
    memcpy(op, a, sizeof a);
}

static void zeros_init(zeros_table t, size_t len)
{
    uint32_t op[32];
    zeros_op(op, len);
    for (int k = 0; k < 4; k++)
        for (uint32_t v = 0; v < 256; v++) t[k][v] = gf2_apply(op, v << (8 * k));
}

static inline uint32_t crc_shift(const zeros_table t, uint32_t c)
{
    return t[0][c & 0xFF] ^ t[1][(c >> 8) & 0xFF] ^ t[2][(c >> 16) & 0xFF] ^ t[3][c >> 24];
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <nmmintrin.h>
/* Three chains of crc32 instructions hide its 3-cycle latency: about three
 * times the speed of one chain. */
__attribute__((target("sse4.2"))) static uint32_t crc_sse42(uint32_t c, const uint8_t *p, size_t len)
{
    uint64_t c0 = c;
    for (size_t chunk = CRC_LONG; chunk >= CRC_SHORT; chunk = chunk == CRC_LONG ? CRC_SHORT : 0) {
        const zeros_table *zt = chunk == CRC_LONG ? &zeros_long : &zeros_short;
        while (len >= 3 * chunk) {
            uint64_t c1 = 0, c2 = 0;
            const uint8_t *end = p + chunk;
            do {
                uint64_t v0, v1, v2;
                memcpy(&v0, p, 8);
                memcpy(&v1, p + chunk, 8);
                memcpy(&v2, p + 2 * chunk, 8);
                c0 = _mm_crc32_u64(c0, v0);
                c1 = _mm_crc32_u64(c1, v1);
                c2 = _mm_crc32_u64(c2, v2);
                p += 8;
            } while (p < end);
            c0 = crc_shift(*zt, (uint32_t)c0) ^ c1;
            c0 = crc_shift(*zt, (uint32_t)c0) ^ c2;
            p += 2 * chunk;
            len -= 3 * chunk;
        }
    }
    while (len >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        c0 = _mm_crc32_u64(c0, v);
        p += 8;
        len -= 8;
    }
    c = (uint32_t)c0;
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
    zeros_init(zeros_long, CRC_LONG);
    zeros_init(zeros_short, CRC_SHORT);
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
