/* decode.c - the decoder driver (validation, block scheduling, CRC checks) and the portable reference block kernel. */
#include <stdlib.h>
#include "../common/threads.h"
#include "elements.h"
#include "kernels.h"
#include "layout.h"
#include "pack.h"

typedef struct {
    const uint8_t *src;
    uint8_t *dst;
    const enec_layout *l;
    const enec_kernels *k;
    const uint64_t *high_at;  /* stream offset of each block's HIGH bytes */
} dec_ctx;

typedef struct {
    uint16_t low[ENEC_BLOCK], high[ENEC_BLOCK], r3[ENEC_BLOCK];
    uint16_t rank[ENEC_BLOCK / 16];
} dec_scratch;

void enec_decode_block_ref(const enec_dec_block *io, void *scratch)
{
    dec_scratch *s = (dec_scratch *)scratch;
    const enec_layout *l = io->l;
    const enec_params *p = &l->p;
    const unsigned b = p->b, n = p->n, m = p->m, L = p->L, E = l->di->ebits;
    const uint32_t B = io->B, valid = io->valid, G = B / L, F = io->F;
    const uint8_t *raw = io->raw, *mask = io->mask;
    uint8_t *out = io->out;

    /* An exclusive prefix sum over the flags gives each flagged column its
     * position among the HIGH values of a row. */
    for (uint32_t j = 0, r = 0; j < G; j++) {
        s->rank[j] = (uint16_t)r;
        r += (mask[j >> 3] >> (j & 7)) & 1;
    }
    enec_unpack(s->low, io->low, B, m);
    enec_unpack(s->high, io->high, (size_t)L * F, n - m);
    if (l->di->dtype == ENEC_DTYPE_FP16) enec_unpack(s->r3, raw + B, B, 3);

    for (uint32_t k = 0; k < L; k++) {
        for (uint32_t j = 0; j < G; j++) {
            uint32_t e = j + k * G;
            if (e >= valid) break; /* the rest of this row is padding of the last block */
            unsigned flag = (mask[j >> 3] >> (j & 7)) & 1;
            unsigned y = s->low[e] | (flag ? (unsigned)s->high[k * F + s->rank[j]] << m : 0u);
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
}

/* Checks shared by every backend: the mask's unused bits and its count of
 * flagged groups against the block table. Returns F, or -1 when corrupt. */
static int64_t check_mask(const enec_layout *l, const uint8_t *mask, uint32_t B, uint32_t high_size)
{
    const enec_params *p = &l->p;
    uint32_t G = B / p->L, F = 0, i = 0;
    /* Eight mask bytes at a time with a portable SWAR count: builds without
     * -mpopcnt turn __builtin_popcount into a libgcc call per byte. */
    for (; i + 8 <= G / 8; i += 8) F += enec_popcount64(enec_load64(mask + i));
    for (; i < G / 8; i++) F += enec_popcount64(mask[i]);
    if (G & 7) {
        uint8_t last = mask[G >> 3];
        if (last >> (G & 7)) return -1;
        F += enec_popcount64(last);
    }
    if ((uint64_t)F * enec_high_group_bytes(p) != high_size) return -1;
    if (F && p->m == p->n) return -1;
    return F;
}

static size_t decode_range(void *ctx, uint64_t begin, uint64_t end, int worker)
{
    (void)worker;
    const dec_ctx *c = (const dec_ctx *)ctx;
    const enec_layout *l = c->l;
    const uint32_t itemsize = l->di->itemsize;
    void *scratch = enec_thread_scratch(ENEC_SCRATCH_BYTES);
    if (!scratch) return ENEC_ERROR(NOMEM);
    size_t r = 0;
    for (uint64_t blk = begin; blk < end; blk++) {
        const uint8_t *entry = c->src + l->table_off + ENEC_TABLE_ENTRY * blk;
        enec_dec_block io;
        io.l = l;
        io.B = enec_block_B(l, blk);
        io.valid = enec_block_valid(l, blk);
        io.raw = c->src + l->raw_off + blk * l->raw_block;
        io.low = c->src + l->low_off + blk * l->low_block;
        io.mask = c->src + l->mask_off + blk * l->mask_block;
        io.high = c->src + c->high_at[blk];
        io.out = c->dst + blk * ENEC_BLOCK * itemsize;
        int64_t F = check_mask(l, io.mask, io.B, enec_load32(entry + 4));
        if (F < 0) {
            r = ENEC_ERROR(CORRUPT);
            break;
        }
        io.F = (uint32_t)F;
        c->k->decode_block(&io, scratch);
        if (enec_crc32c(0, io.out, (size_t)io.valid * itemsize) != enec_load32(entry)) {
            r = ENEC_ERROR(CORRUPT);
            break;
        }
    }
    return r;
}

size_t enec_decompress(void *dst, size_t cap, const void *src_, size_t src_size, const enec_options *opts)
{
    const uint8_t *src = (const uint8_t *)src_;
    enec_options o = {0};
    if (opts) o = *opts;
    const enec_kernels *k = enec_kernels_get(o.backend);
    if (!k) return ENEC_ERROR(BACKEND);
    enec_header h;
    if (!src || (!dst && cap)) return ENEC_ERROR(BAD_ARGUMENT);
    size_t r = enec_read_header(src, src_size, &h);
    if (enec_is_error(r)) return r;
    ENEC_CHECK(src_size == h.stream_size);
    /* Both limits are checked before anything is allocated or written. */
    if (o.max_output_size && h.original_size > o.max_output_size) return ENEC_ERROR(TOO_LARGE);
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
    dec_ctx c = {src, (uint8_t *)dst, &l, k, high_at};
    r = enec_parallel_for(enec_resolve_threads(o.threads, l.nblocks), l.nblocks, decode_range, &c);
    free(high_at);
    return enec_is_error(r) ? r : (size_t)h.original_size;
}
