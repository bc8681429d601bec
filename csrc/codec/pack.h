/* pack.h - hierarchical halving bit-packing (FORMAT.md section 4), the reference for every backend. */
#ifndef ENEC_PACK_H
#define ENEC_PACK_H
#include <stddef.h>
#include <stdint.h>

/* Pack n lanes (n % 8 == 0) of w <= 9 bits into n*w/8 bytes. Clobbers v.
 * @return bytes written. */
size_t enec_pack(uint8_t *out, uint16_t *v, size_t n, unsigned w);

/* Inverse of enec_pack: read n*w/8 bytes, write n lanes of w bits. */
void enec_unpack(uint16_t *v, const uint8_t *in, size_t n, unsigned w);

#endif
