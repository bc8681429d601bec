/* encode.c - the portable reference encoder: parameter choice, block coding and stream assembly as in FORMAT.md. */
#include <stdlib.h>
#include "../common/threads.h"
#include "elements.h"
#include "layout.h"
#include "pack.h"
#include "kernels.h"
#include "search.h"

typedef struct {
    uint8_t *buf;  /* this worker's HIGH bytes, in block order */
    size_t len, cap;
} high_buf;

typedef struct {
    const uint8_t *src;
    uint8_t *dst;
    const enec_layout *l;
    const enec_kernels *k;
    high_buf hb[ENEC_MAX_THREADS];
} enc_ctx;

typedef struct {
    uint16_t y[ENEC_BLOCK], lanes[ENEC_BLOCK];
    uint16_t cols[ENEC_BLOCK / 16];
} enc_scratch;

static size_t high_reserve(high_buf *hb, size_t more)
{
    if (hb->len + more <= hb->cap) return 0;
    size_t cap = hb->cap ? hb->cap : 65536;
    while (cap < hb->len + more) cap *= 2;
    uint8_t *p = (uint8_t *)realloc(hb->buf, cap);
    if (!p) return ENEC_ERROR(NOMEM);
    hb->buf = p;
    hb->cap = cap;
    return 0;
}

uint32_t enec_encode_block_ref(const enec_enc_block *io, void *scratch)
{
    enc_scratch *s = (enc_scratch *)scratch;
    const enec_layout *l = io->l;
    const enec_params *p = &l->p;
    const unsigned b = p->b, n = p->n, m = p->m, L = p->L, h = n - m;
    const uint32_t B = io->B, valid = io->valid, G = B / L;
    const uint8_t *in = io->in;
    uint8_t *raw = io->raw, *mask = io->mask;
    uint16_t *y = s->y, *v = s->lanes;

    /* Split; padding elements get code 0 and raw 0. */
    switch (l->di->dtype) {
    case ENEC_DTYPE_BF16:
        for (uint32_t i = 0; i < valid; i++) {
            uint16_t u = enec_load16(in + 2 * i);
            y[i] = enec_code(b, bf16_exp(u), n);
            raw[i] = bf16_raw(u);
        }
        for (uint32_t i = valid; i < B; i++) y[i] = 0, raw[i] = 0;
        break;
    case ENEC_DTYPE_FP16:
        for (uint32_t i = 0; i < valid; i++) {
            uint16_t u = enec_load16(in + 2 * i);
            y[i] = enec_code(b, fp16_exp(u), n);
            raw[i] = fp16_raw8(u);
            v[i] = fp16_raw3(u);
        }
        for (uint32_t i = valid; i < B; i++) y[i] = 0, raw[i] = 0, v[i] = 0;
        enec_pack(raw + B, v, B, 3);
        break;
    default:
        for (uint32_t i = 0; i < valid; i++) {
            uint16_t hi = enec_load16(in + 4 * i + 2);
            y[i] = enec_code(b, bf16_exp(hi), n);
            raw[i] = bf16_raw(hi);
            enec_store16(raw + B + 2 * i, enec_load16(in + 4 * i));
        }
        for (uint32_t i = valid; i < B; i++) y[i] = 0, raw[i] = 0, enec_store16(raw + B + 2 * i, 0);
        break;
    }

    for (uint32_t i = 0; i < B; i++) v[i] = (uint16_t)(y[i] & ((1u << m) - 1));
    enec_pack(io->low, v, B, m);

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
        enec_pack(io->high, v, (size_t)L * F, h);
    }
    return F;
}

static size_t encode_range(void *ctx, uint64_t begin, uint64_t end, int worker)
{
    enc_ctx *c = (enc_ctx *)ctx;
    const enec_layout *l = c->l;
    high_buf *hb = &c->hb[worker];
    const uint32_t itemsize = l->di->itemsize;
    const uint64_t gbytes = enec_high_group_bytes(&l->p);
    void *scratch = enec_thread_scratch(ENEC_SCRATCH_BYTES);
    if (!scratch) return ENEC_ERROR(NOMEM);
    size_t r = 0;
    for (uint64_t blk = begin; blk < end && !r; blk++) {
        enec_enc_block io;
        io.l = l;
        io.B = enec_block_B(l, blk);
        io.valid = enec_block_valid(l, blk);
        io.in = c->src + blk * ENEC_BLOCK * itemsize;
        io.raw = c->dst + l->raw_off + blk * l->raw_block;
        io.low = c->dst + l->low_off + blk * l->low_block;
        io.mask = c->dst + l->mask_off + blk * l->mask_block;
        r = high_reserve(hb, (size_t)io.B * (l->p.n - l->p.m) / 8);
        if (r) break;
        io.high = hb->buf + hb->len;
        uint32_t F = c->k->encode_block(&io, scratch);
        hb->len += (size_t)(F * gbytes);
        uint8_t *entry = c->dst + l->table_off + ENEC_TABLE_ENTRY * blk;
        enec_store32(entry, enec_crc32c(0, io.in, (size_t)io.valid * itemsize));
        enec_store32(entry + 4, (uint32_t)(F * gbytes));
    }
    return r;
}

static int check_tensor(const enec_tensor *t, uint64_t *count, uint64_t *nbytes)
{
    if (!t || t->dtype > ENEC_DTYPE_FP32 || t->ndim > ENEC_MAX_NDIM || t->descr_len > ENEC_MAX_DESCR ||
        (t->descr_len && !t->descr) || t->itemsize == 0)
        return 0;
    const enec_dtype_info *di = enec_dtype_lookup(t->dtype);
    if (di && t->itemsize != di->itemsize) return 0;
    int overflow;
    *count = enec_shape_count(t->shape, t->ndim, &overflow);
    if (overflow || *count > UINT64_MAX / t->itemsize) return 0;
    *nbytes = *count * t->itemsize;
    uint64_t hs = enec_header_bytes(t->ndim, t->descr_len);
    return *nbytes <= SIZE_MAX - hs;
}

size_t enec_compress_bound(const enec_tensor *t)
{
    uint64_t count, nbytes;
    if (!check_tensor(t, &count, &nbytes)) return ENEC_ERROR(BAD_ARGUMENT);
    return (size_t)(enec_header_bytes(t->ndim, t->descr_len) + nbytes);
}

static size_t write_stored(uint8_t *dst, const uint8_t *src, const enec_tensor *t, uint64_t count,
                           uint64_t nbytes)
{
    uint32_t crc = enec_crc32c(0, src, (size_t)nbytes);
    size_t hs = enec_write_header(dst, t, 0, NULL, count, nbytes, crc);
    if (nbytes) memcpy(dst + hs, src, (size_t)nbytes);
    return hs + (size_t)nbytes;
}

/* Every exponent present must lie in b - 2^(n-1) .. b + 2^(n-1). */
static int params_cover(const enec_params *p, const uint64_t *hist, unsigned ebits)
{
    for (unsigned x = 0; x < (1u << ebits); x++) {
        int d = (int)p->b - (int)x;
        if (hist[x] && (d < -(1 << (p->n - 1)) || d > (1 << (p->n - 1)) - 1)) return 0;
    }
    return 1;
}

size_t enec_compress(void *dst_, size_t cap, const void *src_, const enec_tensor *t, const enec_options *opts)
{
    uint8_t *dst = (uint8_t *)dst_;
    const uint8_t *src = (const uint8_t *)src_;
    uint64_t count, nbytes;
    if (!check_tensor(t, &count, &nbytes) || !dst || (!src && nbytes)) return ENEC_ERROR(BAD_ARGUMENT);
    uint64_t stored = enec_header_bytes(t->ndim, t->descr_len) + nbytes;
    if (cap < stored) return ENEC_ERROR(DST_TOO_SMALL);
    enec_options o = {0};
    if (opts) o = *opts;
    const enec_kernels *k = enec_kernels_get(o.backend);
    if (!k) return ENEC_ERROR(BACKEND);
    const enec_dtype_info *di = enec_dtype_lookup(t->dtype);
    if (!di || o.force_stored || count == 0) return write_stored(dst, src, t, count, nbytes);

    uint64_t hist[ENEC_HIST_BINS];
    size_t hr = enec_histogram_parallel(k, o.threads, src, count, t->dtype, hist);
    if (enec_is_error(hr)) return hr;
    enec_params p;
    if (o.params) {
        p = *o.params;
        p.bits = 0;
        if (!enec_params_valid(&p, di)) return ENEC_ERROR(BAD_ARGUMENT);
        if (!params_cover(&p, hist, di->ebits)) return ENEC_ERROR(PARAMS);
    } else {
        enec_params_from_histogram(hist, di->ebits, &p);
    }

    enec_layout l;
    enec_layout_init(&l, di, &p, count, t->ndim, t->descr_len);
    if (l.header_size + l.fixed_size >= stored) return write_stored(dst, src, t, count, nbytes);

    enc_ctx *c = (enc_ctx *)calloc(1, sizeof *c);
    if (!c) return ENEC_ERROR(NOMEM);
    c->src = src, c->dst = dst, c->l = &l, c->k = k;
    int threads = enec_resolve_threads(o.threads, l.nblocks);
    size_t r = enec_parallel_for(threads, l.nblocks, encode_range, c);
    uint64_t high = 0;
    for (int w = 0; w < threads; w++) high += c->hb[w].len;
    if (!enec_is_error(r)) {
        if (l.header_size + l.fixed_size + high >= stored) {
            r = write_stored(dst, src, t, count, nbytes);
        } else {
            uint8_t *q = dst + l.high_off;
            for (int w = 0; w < threads; w++) {
                if (c->hb[w].len) memcpy(q, c->hb[w].buf, c->hb[w].len);
                q += c->hb[w].len;
            }
            size_t tbytes = (size_t)(ENEC_TABLE_ENTRY * l.nblocks);
            enec_store32(dst + l.table_off + tbytes, enec_crc32c(0, dst + l.table_off, tbytes));
            enec_write_header(dst, t, 1, &p, count, l.fixed_size + high, 0);
            r = (size_t)(l.header_size + l.fixed_size + high);
        }
    }
    for (int w = 0; w < threads; w++) free(c->hb[w].buf);
    free(c);
    return r;
}
