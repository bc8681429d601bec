/* elements.h - splitting an element into exponent and raw parts and joining them back (FORMAT.md section 2). */
#ifndef ENEC_ELEMENTS_H
#define ENEC_ELEMENTS_H
#include <stdint.h>

/* An element is a little-endian word u of 8 x itemsize bits: the sign at
 * bit `top`, E exponent bits above M mantissa bits. The raw part is the
 * sign above the mantissa, r = sign << M | mantissa (M + 1 bits). */
static inline unsigned enec_exp_part(uint32_t u, unsigned M, unsigned E) { return (u >> M) & ((1u << E) - 1); }
static inline uint32_t enec_raw_part(uint32_t u, unsigned M, unsigned top)
{
    return ((u >> top) & 1u) << M | (u & ((1u << M) - 1));
}
static inline uint32_t enec_join_parts(unsigned x, uint32_t r, unsigned M, unsigned top)
{
    return (r >> M) << top | (uint32_t)x << M | (r & ((1u << M) - 1));
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
