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

/* The four stages a backend vectorises; enec_pack_by / enec_unpack_by run
 * them in the format's order, so every backend writes the same bytes. */
typedef struct {
    void (*fold)(uint16_t *v, size_t n, unsigned w);               /* v[i] |= v[i + n] << w, i < n */
    void (*emit)(uint8_t *out, uint16_t *v, size_t n, int shift);  /* out[i] = low byte of v[i]; then v[i] >>= 8 if shift */
    void (*unfold)(uint16_t *v, size_t half, unsigned w);          /* v[i + half] = v[i] >> w, v[i] &= 2^w - 1 */
    void (*load)(uint16_t *v, const uint8_t *in, size_t n, int hi); /* v[i] = (hi ? v[i] << 8 : 0) | in[i] */
} enec_pack_stages;

size_t enec_pack_by(const enec_pack_stages *st, uint8_t *out, uint16_t *v, size_t n, unsigned w);
void enec_unpack_by(const enec_pack_stages *st, uint16_t *v, const uint8_t *in, size_t n, unsigned w);

#endif
