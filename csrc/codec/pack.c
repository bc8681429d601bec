/* pack.c - hierarchical halving bit-packing: only contiguous halves, shifts and ORs, as FORMAT.md spells it. */
#include <string.h>
#include "pack.h"

/* The order of stages is the format; the stages themselves are each
 * backend's. These drivers are the one place that order is written. */
size_t enec_pack_by(const enec_pack_stages *st, uint8_t *out, uint16_t *v, size_t n, unsigned w)
{
    uint8_t *o = out;
    while (w > 0) {
        /* Fold the upper half onto the lower half until a lane fills a byte. */
        while (w < 8) {
            n >>= 1;
            st->fold(v, n, w);
            w <<= 1;
        }
        st->emit(o, v, n, w > 8);
        o += n;
        w -= 8;
    }
    return (size_t)(o - out);
}

void enec_unpack_by(const enec_pack_stages *st, uint16_t *v, const uint8_t *in, size_t n, unsigned w)
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
        st->load(v, in, nn, 0);
    } else {
        enec_unpack_by(st, v, in + nn, nn, W - 8);
        st->load(v, in, nn, 1);
    }
    for (int s = (int)k - 1; s >= 0; s--) st->unfold(v, n >> (s + 1), w << s);
}

/* ---- the portable stages ---- */

static void fold(uint16_t *v, size_t n, unsigned w)
{
    for (size_t i = 0; i < n; i++) v[i] = (uint16_t)(v[i] | (v[i + n] << w));
}

static void emit(uint8_t *out, uint16_t *v, size_t n, int shift)
{
    for (size_t i = 0; i < n; i++) out[i] = (uint8_t)v[i];
    if (shift)
        for (size_t i = 0; i < n; i++) v[i] >>= 8;
}

static void unfold(uint16_t *v, size_t half, unsigned w)
{
    const uint16_t mask = (uint16_t)((1u << w) - 1);
    for (size_t i = 0; i < half; i++) {
        v[i + half] = (uint16_t)(v[i] >> w);
        v[i] &= mask;
    }
}

static void load(uint16_t *v, const uint8_t *in, size_t n, int hi)
{
    for (size_t i = 0; i < n; i++) v[i] = (uint16_t)((hi ? v[i] << 8 : 0) | in[i]);
}

static const enec_pack_stages portable = {fold, emit, unfold, load};

size_t enec_pack(uint8_t *out, uint16_t *v, size_t n, unsigned w) { return enec_pack_by(&portable, out, v, n, w); }

void enec_unpack(uint16_t *v, const uint8_t *in, size_t n, unsigned w) { enec_unpack_by(&portable, v, in, n, w); }
