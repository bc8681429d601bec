/* pack.c - hierarchical halving bit-packing: only contiguous halves, shifts and ORs, as FORMAT.md spells it. */
#include <string.h>
#include "pack.h"

size_t enec_pack(uint8_t *out, uint16_t *v, size_t n, unsigned w)
{
    uint8_t *o = out;
    while (w > 0) {
        /* Fold the upper half onto the lower half until a lane fills a byte. */
        while (w < 8) {
            n >>= 1;
            for (size_t i = 0; i < n; i++) v[i] = (uint16_t)(v[i] | (v[i + n] << w));
            w <<= 1;
        }
        for (size_t i = 0; i < n; i++) *o++ = (uint8_t)v[i];
        for (size_t i = 0; i < n; i++) v[i] >>= 8;
        w -= 8;
    }
    return (size_t)(o - out);
}

void enec_unpack(uint16_t *v, const uint8_t *in, size_t n, unsigned w)
{
    if (w == 0) {
        memset(v, 0, n * sizeof *v);
        return;
    }
    unsigned k = 0;
    while ((w << k) < 8) k++;
    size_t nn = n >> k;
    unsigned W = w << k;
    /* The pack emitted nn low bytes first, then (if W > 8) the rest of
     * the bits as a stream of width W - 8 over the same nn lanes. */
    if (W == 8) {
        for (size_t i = 0; i < nn; i++) v[i] = in[i];
    } else {
        enec_unpack(v, in + nn, nn, W - 8);
        for (size_t i = 0; i < nn; i++) v[i] = (uint16_t)((v[i] << 8) | in[i]);
    }
    for (int s = (int)k - 1; s >= 0; s--) {
        size_t half = n >> (s + 1);
        unsigned ws = w << s;
        uint16_t mask = (uint16_t)((1u << ws) - 1);
        for (size_t i = 0; i < half; i++) {
            v[i + half] = (uint16_t)(v[i] >> ws);
            v[i] &= mask;
        }
    }
}
