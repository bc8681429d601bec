/* elements.h - splitting an element into exponent and raw parts and joining them back (FORMAT.md section 2). */
#ifndef ENEC_ELEMENTS_H
#define ENEC_ELEMENTS_H
#include <stdint.h>

/* bfloat16 and the high half of float32 share this split. */
static inline unsigned bf16_exp(uint16_t u) { return (u >> 7) & 0xFF; }
static inline uint8_t bf16_raw(uint16_t u) { return (uint8_t)(((u >> 8) & 0x80) | (u & 0x7F)); }
static inline uint16_t bf16_join(unsigned x, uint8_t r8)
{
    return (uint16_t)(((r8 & 0x80u) << 8) | (x << 7) | (r8 & 0x7Fu));
}

static inline unsigned fp16_exp(uint16_t u) { return (u >> 10) & 0x1F; }
static inline uint8_t fp16_raw8(uint16_t u) { return (uint8_t)u; }
static inline uint16_t fp16_raw3(uint16_t u) { return (uint16_t)(((u >> 13) & 4) | ((u >> 8) & 3)); }
static inline uint16_t fp16_join(unsigned x, uint8_t r8, unsigned r3)
{
    return (uint16_t)(((r3 & 4u) << 13) | (x << 10) | ((r3 & 3u) << 8) | r8);
}

/* y = (b - x) mod 2^n and its inverse x = (b - sext_n(y)) mod 2^E. */
static inline uint16_t enec_code(unsigned b, unsigned x, unsigned n)
{
    return (uint16_t)((b - x) & ((1u << n) - 1));
}
static inline unsigned enec_uncode(unsigned b, unsigned y, unsigned n, unsigned ebits)
{
    int s = (y >> (n - 1)) & 1 ? (int)y - (1 << n) : (int)y;
    return (unsigned)((int)b - s) & ((1u << ebits) - 1);
}
#endif
