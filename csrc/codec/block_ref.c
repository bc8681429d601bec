/* block_ref.c - the portable reference block kernels: the table-driven element transform and the fast mode's coder. */
#include "elements.h"
#include "kernels.h"
#include "pack.h"
#include "search.h"

/* A lane per element for the packer, and the flagged columns of a block. */
typedef struct {
    uint16_t v[ENEC_BLOCK], w[ENEC_BLOCK];
    uint16_t cols[ENEC_BLOCK / 16];
} ref_scratch;

static inline uint32_t load_word(const uint8_t *p, uint32_t itemsize)
{
    return itemsize == 1 ? p[0] : itemsize == 2 ? enec_load16(p) : enec_load32(p);
}
static inline void store_word(uint8_t *p, uint32_t itemsize, uint32_t v)
{
    if (itemsize == 1) p[0] = (uint8_t)v;
    else if (itemsize == 2) enec_store16(p, (uint16_t)v);
    else enec_store32(p, v);
}

/* ---- element transform (FORMAT.md sections 2 and 4), any row of the dtype table ---- */

void enec_split_ref(const enec_layout *l, const uint8_t *in, uint32_t valid, uint32_t B, uint16_t *y, uint8_t *raw,
                      void *scratch)
{
    const enec_dtype_info *di = l->di;
    const uint32_t isz = di->itemsize, M = di->mbits, top = 8 * isz - 1;
    const unsigned b = l->p.b, n = l->p.n;
    uint16_t *v = ((ref_scratch *)scratch)->v;
    for (uint32_t i = 0; i < B; i++) {
        uint32_t u = i < valid ? load_word(in + (size_t)i * isz, isz) : 0, r = enec_raw_part(u, M, top);
        y[i] = i < valid ? enec_code(b, enec_exp_part(u, M, di->ebits), n) : 0;
        switch (di->raw) {
        case ENEC_RAW_BYTES: raw[i] = (uint8_t)r; break;
        case ENEC_RAW_BYTE_LOW: raw[i] = (uint8_t)r, v[i] = (uint16_t)(r >> 8); break;
        case ENEC_RAW_BYTE_HIGH: raw[i] = (uint8_t)(r >> 16), enec_store16(raw + B + 2 * i, (uint16_t)r); break;
        case ENEC_RAW_PACKED: v[i] = (uint16_t)r; break;
        }
    }
    if (di->raw == ENEC_RAW_BYTE_LOW) enec_pack(raw + B, v, B, di->rawbits - 8);
    if (di->raw == ENEC_RAW_PACKED) enec_pack(raw, v, B, di->rawbits);
}

void enec_join_ref(const enec_layout *l, const uint16_t *y, const uint8_t *raw, uint32_t valid, uint32_t B,
                     uint8_t *out, void *scratch)
{
    const enec_dtype_info *di = l->di;
    const uint32_t isz = di->itemsize, M = di->mbits, top = 8 * isz - 1;
    const unsigned b = l->p.b, n = l->p.n, E = di->ebits;
    uint16_t *v = ((ref_scratch *)scratch)->v;
    if (di->raw == ENEC_RAW_BYTE_LOW) enec_unpack(v, raw + B, B, di->rawbits - 8);
    if (di->raw == ENEC_RAW_PACKED) enec_unpack(v, raw, B, di->rawbits);
    for (uint32_t i = 0; i < valid; i++) {
        uint32_t r = 0;
        switch (di->raw) {
        case ENEC_RAW_BYTES: r = raw[i]; break;
        case ENEC_RAW_BYTE_LOW: r = raw[i] | (uint32_t)v[i] << 8; break;
        case ENEC_RAW_BYTE_HIGH: r = (uint32_t)raw[i] << 16 | enec_load16(raw + B + 2 * i); break;
        case ENEC_RAW_PACKED: r = v[i]; break;
        }
        store_word(out + (size_t)i * isz, isz, enec_join_parts(enec_uncode(b, y[i], n, E), r, M, top));
    }
}

/* ---- the fast mode's exponent coder (FORMAT.md section 4) ---- */

static uint32_t fast_encode_ref(const enec_layout *l, const uint16_t *y, uint32_t B, uint8_t *low, uint8_t *mask,
                                uint8_t *high, void *scratch)
{
    ref_scratch *s = (ref_scratch *)scratch;
    const unsigned n = l->p.n, m = l->p.m, L = l->p.L;
    const uint32_t G = B / L;
    uint16_t *v = s->v;
    for (uint32_t i = 0; i < B; i++) v[i] = (uint16_t)(y[i] & ((1u << m) - 1));
    enec_pack(low, v, B, m);

    /* Strided groups: column j holds elements j, j + G, j + 2G, ... */
    memset(mask, 0, (G + 7) / 8);
    uint32_t F = 0;
    for (uint32_t j = 0; j < G; j++) {
        unsigned acc = 0;
        for (uint32_t k = 0; k < L; k++) acc |= y[j + k * G];
        if (acc >> m) {
            mask[j >> 3] |= (uint8_t)(1u << (j & 7));
            s->cols[F++] = (uint16_t)j;
        }
    }
    if (F) {
        for (uint32_t k = 0; k < L; k++)
            for (uint32_t r = 0; r < F; r++) v[k * F + r] = (uint16_t)(y[s->cols[r] + k * G] >> m);
        enec_pack(high, v, (size_t)L * F, n - m);
    }
    return F;
}

static void fast_decode_ref(const enec_layout *l, const uint8_t *low, const uint8_t *mask, const uint8_t *high,
                            uint32_t B, uint32_t F, uint16_t *y, void *scratch)
{
    ref_scratch *s = (ref_scratch *)scratch;
    const unsigned n = l->p.n, m = l->p.m, L = l->p.L;
    const uint32_t G = B / L;
    enec_unpack(y, low, B, m);
    if (!F) return;
    enec_unpack(s->w, high, (size_t)L * F, n - m);
    /* An exclusive prefix sum over the flags gives each flagged column its
     * position among the HIGH values of a row. */
    for (uint32_t j = 0, r = 0; j < G; j++) {
        if (!((mask[j >> 3] >> (j & 7)) & 1)) continue;
        for (uint32_t k = 0; k < L; k++) y[j + k * G] |= (uint16_t)(s->w[k * F + r] << m);
        r++;
    }
}

const enec_block_kernels enec_kernels_ref = {
    .lanes = 1,
    .fast_encode = fast_encode_ref,
    .fast_decode = fast_decode_ref,
};
