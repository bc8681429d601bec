/* internal.h - helpers shared by every part of the codec: error codes, little-endian access, sizes. */
#ifndef ENEC_INTERNAL_H
#define ENEC_INTERNAL_H

#include <stdint.h>
#include <string.h>
#include "../enec.h"

/* Errors travel as (size_t)-code, as in zstd: no valid size comes near them. */
#define ENEC_ERROR(e) ((size_t) - (ptrdiff_t)(ENEC_ERR_##e))

/* Every decoder check goes through this: on failure the stream is corrupt. */
#define ENEC_CHECK(cond)                   \
    do {                                   \
        if (!(cond)) return ENEC_ERROR(CORRUPT); \
    } while (0)

static inline uint16_t enec_load16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static inline uint32_t enec_load32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static inline uint64_t enec_load64(const uint8_t *p)
{
    return (uint64_t)enec_load32(p) | ((uint64_t)enec_load32(p + 4) << 32);
}
/* Bits set in x, without relying on a popcnt instruction. */
static inline uint32_t enec_popcount64(uint64_t x)
{
    x -= (x >> 1) & 0x5555555555555555ull;
    x = (x & 0x3333333333333333ull) + ((x >> 2) & 0x3333333333333333ull);
    x = (x + (x >> 4)) & 0x0F0F0F0F0F0F0F0Full;
    return (uint32_t)((x * 0x0101010101010101ull) >> 56);
}
static inline void enec_store16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static inline void enec_store32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static inline void enec_store64(uint8_t *p, uint64_t v)
{
    enec_store32(p, (uint32_t)v);
    enec_store32(p + 4, (uint32_t)(v >> 32));
}

/* Number of CPU cores, at least 1. */
int enec_cpu_count(void);

/* 64-byte aligned scratch memory (kernels use aligned vector loads on it). */
void *enec_aligned_alloc(size_t size);
void enec_aligned_free(void *p);

/* This thread's scratch of at least size bytes (64-byte aligned), kept for
 * the thread's next call; NULL when out of memory. Do not free it. */
void *enec_thread_scratch(size_t size);

#endif
