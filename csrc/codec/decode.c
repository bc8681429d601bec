/* decode.c - the portable reference decoder: validates everything, decodes blocks independently, checks CRCs. */
#include <stdlib.h>
#include "../common/threads.h"
#include "elements.h"
#include "layout.h"
#include "pack.h"

typedef struct {
    const uint8_t *src;
    uint8_t *dst;
    const enec_layout *l;
    const uint64_t *high_at;  /* stream offset of each block's HIGH bytes */
} dec_ctx;

typedef struct {
    uint16_t low[ENEC_BLOCK], high[ENEC_BLOCK], r3[ENEC_BLOCK];
    uint16_t rank[ENEC_BLOCK / 16];
    uint8_t flag[ENEC_BLOCK / 16];
} dec_scratch;

static size_t decode_block(const dec_ctx *c, dec_scratch *s, uint64_t blk)
{
    const enec_layout *l = c->l;
    const enec_params *p = &l->p;
    const unsigned b = p->b, n = p->n, m = p->m, L = p->L, E = l->di->ebits;
    const uint32_t B = enec_block_B(l, blk), valid = enec_block_valid(l, blk), G = B / L;
    const uint32_t itemsize = l->di->itemsize;
    const uint8_t *raw = c->src + l->raw_off + blk * l->raw_block;
    const uint8_t *low = c->src + l->low_off + blk * l->low_block;
    const uint8_t *mask = c->src + l->mask_off + blk * l->mask_block;
    const uint8_t *entry = c->src + l->table_off + ENEC_TABLE_ENTRY * blk;
    uint8_t *out = c->dst + blk * ENEC_BLOCK * itemsize;

    /* Mask to 0/1 flags, then an exclusive prefix sum gives each flagged
     * column its row position in the HIGH values. */
    uint32_t F = 0;
    for (uint32_t j = 0; j < G; j++) {
        s->flag[j] = (mask[j >> 3] >> (j & 7)) & 1;
        s->rank[j] = (uint16_t)F;
        F += s->flag[j];
    }
    if (G & 7) ENEC_CHECK((mask[G >> 3] >> (G & 7)) == 0);
    ENEC_CHECK((uint64_t)F * enec_high_group_bytes(p) == enec_load32(entry + 4));
    ENEC_CHECK(F == 0 || m < n);

    enec_unpack(s->low, low, B, m);
    enec_unpack(s->high, c->src + c->high_at[blk], (size_t)L * F, n - m);
    if (l->di->dtype == ENEC_DTYPE_FP16) enec_unpack(s->r3, raw + B, B, 3);

    for (uint32_t k = 0; k < L; k++) {
        for (uint32_t j = 0; j < G; j++) {
            uint32_t e = j + k * G;
            if (e >= valid) break; /* the rest of this row is padding of the last block */
            unsigned y = s->low[e] | (s->flag[j] ? (unsigned)s->high[k * F + s->rank[j]] << m : 0u);
            unsigned x = enec_uncode(b, y, n, E);
            switch (l->di->dtype) {
            case ENEC_DTYPE_BF16: enec_store16(out + 2 * e, bf16_join(x, raw[e])); break;
            case ENEC_DTYPE_FP16: enec_store16(out + 2 * e, fp16_join(x, raw[e], s->r3[e])); break;
            default:
                enec_store16(out + 4 * e + 2, bf16_join(x, raw[e]));
                enec_store16(out + 4 * e, enec_load16(raw + B + 2 * e));
                break;
            }
        }
    }
    ENEC_CHECK(enec_crc32c(0, out, (size_t)valid * itemsize) == enec_load32(entry));
    return 0;
}

static size_t decode_range(void *ctx, uint64_t begin, uint64_t end, int worker)
{
    (void)worker;
    dec_scratch *s = (dec_scratch *)malloc(sizeof *s);
    if (!s) return ENEC_ERROR(NOMEM);
    size_t r = 0;
    for (uint64_t blk = begin; blk < end && !r; blk++) r = decode_block((const dec_ctx *)ctx, s, blk);
    free(s);
    return r;
}

size_t enec_decompress(void *dst, size_t cap, const void *src_, size_t src_size, int threads)
{
    const uint8_t *src = (const uint8_t *)src_;
    enec_header h;
    if (!src || (!dst && cap)) return ENEC_ERROR(BAD_ARGUMENT);
    size_t r = enec_read_header(src, src_size, &h);
    if (enec_is_error(r)) return r;
    ENEC_CHECK(src_size == h.stream_size);
    if (cap < h.original_size) return ENEC_ERROR(DST_TOO_SMALL);

    if (h.mode == 0) {
        const uint8_t *payload = src + h.header_size;
        ENEC_CHECK(enec_crc32c(0, payload, (size_t)h.payload_size) == enec_load32(src + 40));
        if (h.payload_size) memcpy(dst, payload, (size_t)h.payload_size);
        return (size_t)h.original_size;
    }

    enec_layout l;
    enec_layout_init(&l, enec_dtype_lookup(h.tensor.dtype), &h.params, h.count, h.tensor.ndim,
                     h.tensor.descr_len);
    uint64_t *high_at = (uint64_t *)malloc(sizeof(uint64_t) * l.nblocks);
    if (!high_at) return ENEC_ERROR(NOMEM);
    uint64_t at = l.high_off;
    for (uint64_t i = 0; i < l.nblocks; i++) {
        high_at[i] = at;
        at += enec_load32(src + l.table_off + ENEC_TABLE_ENTRY * i + 4);
    }
    dec_ctx c = {src, (uint8_t *)dst, &l, high_at};
    r = enec_parallel_for(enec_resolve_threads(threads, l.nblocks), l.nblocks, decode_range, &c);
    free(high_at);
    return enec_is_error(r) ? r : (size_t)h.original_size;
}
