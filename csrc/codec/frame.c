/* frame.c - the frame layer (FORMAT.md sections 1, 3, 6, 8): header, block table, stored streams, CRCs, size limits, the parallel block loop. */
#include <stdlib.h>
#include "../common/threads.h"
#include "frame.h"

extern const enec_mode_ops enec_mode_fast, enec_mode_max;

/* The coded modes, by their stream code. */
static const enec_mode_ops *const modes[ENEC_MODE_COUNT] = {[ENEC_MODE_FAST] = &enec_mode_fast,
                                                             [ENEC_MODE_MAX] = &enec_mode_max};

const enec_mode_ops *enec_mode_lookup(int mode)
{
    return mode > ENEC_MODE_STORED && mode < ENEC_MODE_COUNT ? modes[mode] : NULL;
}

uint64_t enec_shape_count(const uint64_t *shape, uint32_t ndim, int *overflow)
{
    uint64_t c = 1;
    *overflow = 0;
    for (uint32_t i = 0; i < ndim; i++) {
        if (shape[i] && c > UINT64_MAX / shape[i]) *overflow = 1;
        c *= shape[i];
    }
    return *overflow ? 0 : c;
}

int enec_tensor_check(const enec_tensor *t, uint64_t *count, uint64_t *nbytes)
{
    if (!t || (unsigned)t->dtype >= ENEC_DTYPE_COUNT || t->ndim > ENEC_MAX_NDIM || t->descr_len > ENEC_MAX_DESCR ||
        (t->descr_len && !t->descr) || t->itemsize == 0)
        return 0;
    const enec_dtype_info *di = enec_dtype_lookup(t->dtype);
    if (di && t->itemsize != di->itemsize) return 0;
    int overflow;
    *count = enec_shape_count(t->shape, t->ndim, &overflow);
    if (overflow || *count > UINT64_MAX / t->itemsize) return 0;
    *nbytes = *count * t->itemsize;
    return *nbytes <= SIZE_MAX - enec_header_bytes(t->ndim, t->descr_len);
}

/* The version a writer puts in the header: the oldest that reads the stream.
 * Only mode max's layout changed in version 2 (per-block plane kinds), so a
 * stored or fast stream is still version 1, byte for byte what 0.1 wrote. */
uint32_t enec_frame_version(enec_mode mode) { return mode == ENEC_MODE_MAX ? 2u : 1u; }

void enec_frame_layout(enec_layout *l, const enec_mode_ops *mo, const enec_dtype_info *di, uint32_t itemsize,
                       const enec_params *p, uint64_t count, uint32_t ndim, uint32_t descr_len)
{
    memset(l, 0, sizeof *l);
    l->di = di;
    l->itemsize = itemsize;
    l->mode = mo ? mo->mode : ENEC_MODE_STORED;
    l->version = enec_frame_version(l->mode);
    l->p = *p;
    l->count = count;
    l->nblocks = (count + ENEC_BLOCK - 1) / ENEC_BLOCK;
    l->last_valid = (uint32_t)(count - (l->nblocks - 1) * ENEC_BLOCK);
    l->table_off = enec_header_bytes(ndim, descr_len);
    l->header_size = l->table_off + ENEC_TABLE_ENTRY * l->nblocks + 4;
    if (mo) mo->layout(l);
}

/* ---- header ---------------------------------------------------------------------- */

static size_t write_header(uint8_t *dst, const enec_tensor *t, enec_mode mode, const enec_params *p, uint64_t count,
                           uint64_t payload_size, uint32_t data_crc)
{
    uint8_t *q = dst;
    const int coded = mode != ENEC_MODE_STORED;
    memcpy(q, ENEC_MAGIC, 4);
    enec_store16(q + 4, (uint16_t)enec_frame_version(mode));
    q[6] = (uint8_t)mode;
    q[7] = (uint8_t)t->dtype;
    enec_store32(q + 8, t->itemsize);
    q[12] = (uint8_t)t->ndim;
    q[13] = (uint8_t)t->descr_len;
    q[14] = coded ? p->b : 0;
    q[15] = coded ? p->n : 0;
    q[16] = coded ? p->m : 0;
    q[17] = coded ? p->L : 0;
    enec_store16(q + 18, 0);
    enec_store32(q + 20, ENEC_BLOCK);
    enec_store64(q + 24, count);
    enec_store64(q + 32, payload_size);
    enec_store32(q + 40, data_crc);
    q += ENEC_HEADER_FIXED;
    for (uint32_t i = 0; i < t->ndim; i++, q += 8) enec_store64(q, t->shape[i]);
    if (t->descr_len) memcpy(q, t->descr, t->descr_len);
    q += t->descr_len;
    enec_store32(q, enec_crc32c(0, dst, (size_t)(q - dst)));
    return (size_t)(q + 4 - dst);
}

size_t enec_read_header(const void *src_, size_t src_size, enec_header *h)
{
    const uint8_t *src = (const uint8_t *)src_;
    if (!src || !h) return ENEC_ERROR(BAD_ARGUMENT);
    memset(h, 0, sizeof *h);
    ENEC_CHECK(src_size >= enec_header_bytes(0, 0));
    ENEC_CHECK(memcmp(src, ENEC_MAGIC, 4) == 0);
    /* What a newer writer may change is named before anything is checked
     * against this version's rules, so the caller can say what it met. */
    h->version = enec_load16(src + 4);
    h->mode = src[6];
    h->tensor.dtype = (enec_dtype)src[7];
    ENEC_CHECK(h->version >= ENEC_FORMAT_VERSION_MIN);
    if (h->version > ENEC_FORMAT_VERSION) return ENEC_ERROR(UNSUPPORTED);
    uint32_t mode = src[6], dtype = src[7], ndim = src[12], descr_len = src[13];
    ENEC_CHECK(ndim <= ENEC_MAX_NDIM);
    uint64_t hs = enec_header_bytes(ndim, descr_len);
    ENEC_CHECK(src_size >= hs);
    ENEC_CHECK(enec_load32(src + hs - 4) == enec_crc32c(0, src, (size_t)hs - 4));
    /* From here on the header bytes are what the encoder wrote, barring a
     * CRC collision; the checks below still guard against a hostile writer.
     * A mode or dtype code this build does not know was written by a newer one. */
    if (mode >= ENEC_MODE_COUNT || dtype >= ENEC_DTYPE_COUNT) return ENEC_ERROR(UNSUPPORTED);
    ENEC_CHECK(enec_load16(src + 18) == 0 && enec_load32(src + 20) == ENEC_BLOCK);

    enec_tensor *t = &h->tensor;
    t->itemsize = enec_load32(src + 8);
    t->ndim = ndim;
    for (uint32_t i = 0; i < ndim; i++) t->shape[i] = enec_load64(src + ENEC_HEADER_FIXED + 8 * i);
    t->descr_len = descr_len;
    t->descr = descr_len ? (const char *)src + ENEC_HEADER_FIXED + 8 * ndim : NULL;
    const enec_dtype_info *di = enec_dtype_lookup(t->dtype);
    ENEC_CHECK(di ? t->itemsize == di->itemsize : t->itemsize >= 1);

    h->count = enec_load64(src + 24);
    h->payload_size = enec_load64(src + 32);
    int overflow;
    ENEC_CHECK(enec_shape_count(t->shape, ndim, &overflow) == h->count && !overflow);
    ENEC_CHECK(h->count <= UINT64_MAX / t->itemsize && h->count * t->itemsize <= SIZE_MAX);
    h->original_size = h->count * t->itemsize;
    enec_params *p = &h->params;
    p->b = src[14], p->n = src[15], p->m = src[16], p->L = src[17];

    if (mode == ENEC_MODE_STORED) {
        ENEC_CHECK(p->b == 0 && p->n == 0 && p->m == 0 && p->L == 0);
        ENEC_CHECK(h->payload_size == h->original_size);
        ENEC_CHECK(h->payload_size <= src_size - hs);
        h->header_size = hs;
        h->stream_size = hs + h->payload_size;
        return (size_t)hs;
    }

    /* Coded: the mode bounds count by the input before any size is computed from it. */
    const enec_mode_ops *mo = enec_mode_lookup((int)mode);
    ENEC_CHECK(mo->params_valid(p, di, t->itemsize) && enec_load32(src + 40) == 0);
    enec_layout l;
    l.count = h->count, l.di = di, l.itemsize = t->itemsize, l.p = *p;
    ENEC_CHECK(h->count >= 1 && h->count / ENEC_BLOCK <= src_size / ENEC_TABLE_ENTRY &&
               (!mo->count_ok || mo->count_ok(&l, src_size)));
    enec_frame_layout(&l, mo, di, t->itemsize, p, h->count, ndim, descr_len);
    l.version = h->version;
    ENEC_CHECK(l.header_size <= src_size);
    const uint8_t *table = src + l.table_off;
    size_t tbytes = (size_t)(ENEC_TABLE_ENTRY * l.nblocks);
    ENEC_CHECK(enec_load32(table + tbytes) == enec_crc32c(0, table, tbytes));
    uint64_t var = 0;
    for (uint64_t i = 0; i < l.nblocks; i++) {
        uint64_t size = enec_load32(table + ENEC_TABLE_ENTRY * i + 4);
        ENEC_CHECK(mo->var_size_ok(&l, i, size));
        var += size;
    }
    ENEC_CHECK(h->payload_size == l.fixed_size + var);
    ENEC_CHECK(h->payload_size <= src_size - l.header_size);
    h->nblocks = l.nblocks;
    p->bits = 0; /* the prediction is not stored; only the encoder knows it */
    h->header_size = l.header_size;
    h->stream_size = l.header_size + h->payload_size;
    return (size_t)l.header_size;
}

/* ---- compression ------------------------------------------------------------------ */

size_t enec_compress_bound(const enec_tensor *t)
{
    uint64_t count, nbytes;
    if (!enec_tensor_check(t, &count, &nbytes)) return ENEC_ERROR(BAD_ARGUMENT);
    return (size_t)(enec_header_bytes(t->ndim, t->descr_len) + nbytes);
}

static size_t write_stored(uint8_t *dst, const uint8_t *src, const enec_tensor *t, uint64_t count, uint64_t nbytes)
{
    uint32_t crc = enec_crc32c(0, src, (size_t)nbytes);
    size_t hs = write_header(dst, t, ENEC_MODE_STORED, NULL, count, nbytes, crc);
    if (nbytes) memcpy(dst + hs, src, (size_t)nbytes);
    return hs + (size_t)nbytes;
}

typedef struct {
    uint8_t *buf; /* this worker's variable-length bytes, in block order */
    size_t len, cap;
} var_buf;

typedef struct {
    const uint8_t *src;
    uint8_t *dst;
    const enec_layout *l;
    const enec_mode_ops *mo;
    const enec_block_kernels *k;
    var_buf vb[ENEC_MAX_THREADS];
    /* Worker 0 codes the first blocks, whose variable parts start the
     * section: it writes them in place in dst, up to `room` bytes, and only
     * what would not fit goes to its buffer. With one thread nothing is
     * staged, copied or faulted in (a coded stream that pays is smaller
     * than the stored one, so `room` reaches the stored stream's end). */
    size_t direct, room;
} enc_ctx;

static size_t var_reserve(var_buf *vb, uint64_t more)
{
    if (vb->len + more <= vb->cap) return 0;
    size_t cap = vb->cap ? vb->cap : 65536;
    while (cap < vb->len + more) cap *= 2;
    uint8_t *p = (uint8_t *)realloc(vb->buf, cap);
    if (!p) return ENEC_ERROR(NOMEM);
    vb->buf = p;
    vb->cap = cap;
    return 0;
}

static void table_entry(uint8_t *dst, const enec_layout *l, uint64_t i, const uint8_t *src, uint32_t var_size)
{
    const uint32_t isz = l->itemsize;
    uint8_t *entry = dst + l->table_off + ENEC_TABLE_ENTRY * i;
    enec_store32(entry, enec_crc32c(0, src + i * ENEC_BLOCK * isz, (size_t)enec_block_valid(l, i) * isz));
    enec_store32(entry + 4, var_size);
}

static size_t encode_range(void *ctx, uint64_t begin, uint64_t end, int worker)
{
    enc_ctx *c = (enc_ctx *)ctx;
    const enec_layout *l = c->l;
    var_buf *vb = &c->vb[worker];
    void *scratch = enec_thread_scratch(ENEC_SCRATCH_BYTES);
    if (!scratch) return ENEC_ERROR(NOMEM);
    for (uint64_t i = begin; i < end; i++) {
        const uint64_t need = c->mo->var_max(l, i);
        const int in_place = worker == 0 && vb->len == 0 && c->room - c->direct >= need;
        if (!in_place) {
            size_t r = var_reserve(vb, need);
            if (r) return r;
        }
        uint8_t *out = in_place ? c->dst + l->high_off + c->direct : vb->buf + vb->len;
        uint32_t size = c->mo->encode_block(c->k, l, i, c->src, c->dst, out, scratch);
        if (in_place) c->direct += size;
        else vb->len += size;
        table_entry(c->dst, l, i, c->src, size);
    }
    return 0;
}

/* Code every block on the worker threads; *var gets the variable-length total. */
static size_t encode_blocks(const enec_block_kernels *k, const enec_mode_ops *mo, const enec_layout *l, int threads,
                            const uint8_t *src, uint8_t *dst, uint64_t stored, uint64_t *var)
{
    enc_ctx *c = (enc_ctx *)calloc(1, sizeof *c);
    if (!c) return ENEC_ERROR(NOMEM);
    c->src = src, c->dst = dst, c->l = l, c->mo = mo, c->k = k;
    c->room = stored > l->high_off ? (size_t)(stored - l->high_off) : 0;
    int t = enec_resolve_threads(threads, l->nblocks);
    size_t r = enec_parallel_for(t, l->nblocks, encode_range, c);
    *var = c->direct;
    for (int w = 0; w < t; w++) *var += c->vb[w].len;
    /* Only a stream that pays gets its staged variable parts copied in. */
    if (!enec_is_error(r) && l->header_size + l->fixed_size + *var < stored) {
        uint8_t *q = dst + l->high_off + c->direct;
        for (int w = 0; w < t; w++) {
            if (c->vb[w].len) memcpy(q, c->vb[w].buf, c->vb[w].len);
            q += c->vb[w].len;
        }
    }
    for (int w = 0; w < t; w++) free(c->vb[w].buf);
    free(c);
    return r;
}

/* A tensor backend codes the blocks; the frame writes the table. */
static size_t encode_tensor(const enec_tensor_backend *tb, void *ctx, const enec_layout *l, const uint8_t *src,
                            uint8_t *dst, uint64_t stored, uint64_t *var)
{
    uint32_t *size = (uint32_t *)calloc(l->nblocks, sizeof *size);
    if (!size) return ENEC_ERROR(NOMEM);
    size_t r = tb->encode(ctx, l, src, dst, size);
    *var = 0;
    for (uint64_t i = 0; i < l->nblocks; i++) *var += size[i];
    if (!enec_is_error(r) && l->header_size + l->fixed_size + *var < stored) {
        r = tb->place(ctx, l, dst, size);
        for (uint64_t i = 0; !enec_is_error(r) && i < l->nblocks; i++) table_entry(dst, l, i, src, size[i]);
    }
    free(size);
    return r;
}

size_t enec_frame_compress(void *dst_, size_t cap, const void *src_, const enec_tensor *t, const enec_options *opts,
                           const enec_tensor_backend *tb, void *ctx)
{
    uint8_t *dst = (uint8_t *)dst_;
    const uint8_t *src = (const uint8_t *)src_;
    uint64_t count, nbytes;
    if (!enec_tensor_check(t, &count, &nbytes) || !dst || (!src && nbytes)) return ENEC_ERROR(BAD_ARGUMENT);
    const uint64_t stored = enec_header_bytes(t->ndim, t->descr_len) + nbytes;
    if (cap < stored) return ENEC_ERROR(DST_TOO_SMALL);
    enec_options o = {0};
    if (opts) o = *opts;
    const enec_block_kernels *k = tb ? &enec_kernels_ref : enec_kernels_get(o.backend);
    if (!k) return ENEC_ERROR(BACKEND);
    const enec_mode_ops *mo = enec_mode_lookup(o.mode ? o.mode : ENEC_MODE_FAST);
    if (!mo) return ENEC_ERROR(BAD_ARGUMENT);
    const enec_dtype_info *di = enec_dtype_lookup(t->dtype);
    if (!mo->supports(di, t->itemsize) || o.force_stored || count == 0) return write_stored(dst, src, t, count, nbytes);
    if (tb && !tb->supports(ctx, di, mo->mode)) return ENEC_ERROR(BACKEND);

    /* The parameters need the frame's part of the layout only; the mode's part needs them. */
    enec_layout l;
    enec_params p = {0, 1, 0, 16, 0};
    void *state = NULL;
    enec_frame_layout(&l, NULL, di, t->itemsize, &p, count, t->ndim, t->descr_len);
    size_t r = mo->choose(&l, src, &o, k, &p, &state);
    if (enec_is_error(r)) return r;
    enec_frame_layout(&l, mo, di, t->itemsize, &p, count, t->ndim, t->descr_len);
    l.state = state;
    uint64_t var = 0;
    if (l.header_size + l.fixed_size < stored)
        r = tb ? encode_tensor(tb, ctx, &l, src, dst, stored, &var)
               : encode_blocks(k, mo, &l, o.threads, src, dst, stored, &var);
    if (mo->release) mo->release(state);
    if (enec_is_error(r)) return r;
    /* Coding did not pay: the stored stream is never larger. */
    if (l.header_size + l.fixed_size + var >= stored) return write_stored(dst, src, t, count, nbytes);
    size_t tbytes = (size_t)(ENEC_TABLE_ENTRY * l.nblocks);
    enec_store32(dst + l.table_off + tbytes, enec_crc32c(0, dst + l.table_off, tbytes));
    write_header(dst, t, mo->mode, &p, count, l.fixed_size + var, 0);
    return (size_t)(l.header_size + l.fixed_size + var);
}

size_t enec_compress(void *dst, size_t cap, const void *src, const enec_tensor *t, const enec_options *opts)
{
    return enec_frame_compress(dst, cap, src, t, opts, NULL, NULL);
}

/* ---- decompression ---------------------------------------------------------------- */

typedef struct {
    const uint8_t *src;
    uint8_t *dst;
    const enec_layout *l;
    const enec_mode_ops *mo;
    const enec_block_kernels *k;
} dec_ctx;

static int block_crc_ok(const uint8_t *src, const uint8_t *dst, const enec_layout *l, uint64_t i)
{
    const uint32_t isz = l->itemsize;
    return enec_crc32c(0, dst + i * ENEC_BLOCK * isz, (size_t)enec_block_valid(l, i) * isz) ==
           enec_load32(src + l->table_off + ENEC_TABLE_ENTRY * i);
}

static size_t decode_range(void *ctx, uint64_t begin, uint64_t end, int worker)
{
    (void)worker;
    const dec_ctx *c = (const dec_ctx *)ctx;
    const enec_layout *l = c->l;
    void *scratch = enec_thread_scratch(ENEC_SCRATCH_BYTES);
    if (!scratch) return ENEC_ERROR(NOMEM);
    if (c->mo->decode_blocks) {
        const uint64_t batch = c->mo->batch(l);
        for (uint64_t i = begin; i < end; i += batch) {
            unsigned count = (unsigned)(end - i < batch ? end - i : batch);
            ENEC_CHECK(c->mo->decode_blocks(c->k, l, i, count, c->src, c->dst, scratch) == 0);
            for (unsigned j = 0; j < count; j++) ENEC_CHECK(block_crc_ok(c->src, c->dst, l, i + j));
        }
        return 0;
    }
    for (uint64_t i = begin; i < end; i++) {
        uint32_t size = enec_load32(c->src + l->table_off + ENEC_TABLE_ENTRY * i + 4);
        int64_t aux = c->mo->check_block ? c->mo->check_block(l, c->src, i, size) : 0;
        ENEC_CHECK(aux >= 0);
        ENEC_CHECK(c->mo->decode_block(c->k, l, i, c->src, c->src + l->var_at[i], aux, c->dst, scratch) == 0);
        ENEC_CHECK(block_crc_ok(c->src, c->dst, l, i));
    }
    return 0;
}

/* A tensor backend decodes every block; the frame checks them before and after. */
static size_t decode_tensor(const enec_tensor_backend *tb, void *ctx, const enec_layout *l, const enec_mode_ops *mo,
                            const uint8_t *src, uint8_t *dst)
{
    uint32_t *size = (uint32_t *)calloc(l->nblocks, sizeof *size);
    int64_t *aux = (int64_t *)calloc(l->nblocks, sizeof *aux);
    size_t r = size && aux ? 0 : ENEC_ERROR(NOMEM);
    for (uint64_t i = 0; !r && i < l->nblocks; i++) {
        size[i] = enec_load32(src + l->table_off + ENEC_TABLE_ENTRY * i + 4);
        aux[i] = mo->check_block ? mo->check_block(l, src, i, size[i]) : 0;
        if (aux[i] < 0) r = ENEC_ERROR(CORRUPT);
    }
    if (!r) r = tb->decode(ctx, l, src, dst, size, aux);
    for (uint64_t i = 0; !enec_is_error(r) && i < l->nblocks; i++)
        if (!block_crc_ok(src, dst, l, i)) r = ENEC_ERROR(CORRUPT);
    free(size);
    free(aux);
    return r;
}

size_t enec_frame_decompress(void *dst, size_t cap, const void *src_, size_t src_size, const enec_options *opts,
                             const enec_tensor_backend *tb, void *ctx)
{
    const uint8_t *src = (const uint8_t *)src_;
    enec_options o = {0};
    if (opts) o = *opts;
    const enec_block_kernels *k = tb ? NULL : enec_kernels_get(o.backend);
    if (!tb && !k) return ENEC_ERROR(BACKEND);
    if (!src || (!dst && cap)) return ENEC_ERROR(BAD_ARGUMENT);
    enec_header h;
    size_t r = enec_read_header(src, src_size, &h);
    if (enec_is_error(r)) return r;
    ENEC_CHECK(src_size == h.stream_size);
    /* Both limits are checked before anything is allocated or written. */
    if (o.max_output_size && h.original_size > o.max_output_size) return ENEC_ERROR(TOO_LARGE);
    if (cap < h.original_size) return ENEC_ERROR(DST_TOO_SMALL);

    if (h.mode == ENEC_MODE_STORED) {
        const uint8_t *payload = src + h.header_size;
        ENEC_CHECK(enec_crc32c(0, payload, (size_t)h.payload_size) == enec_load32(src + 40));
        if (h.payload_size) memcpy(dst, payload, (size_t)h.payload_size);
        return (size_t)h.original_size;
    }

    const enec_mode_ops *mo = enec_mode_lookup((int)h.mode);
    const enec_dtype_info *di = enec_dtype_lookup(h.tensor.dtype);
    if (tb && !tb->supports(ctx, di, mo->mode)) return ENEC_ERROR(BACKEND);
    enec_layout l;
    enec_frame_layout(&l, mo, di, h.tensor.itemsize, &h.params, h.count, h.tensor.ndim, h.tensor.descr_len);
    l.version = h.version;
    if (tb) {
        r = decode_tensor(tb, ctx, &l, mo, src, (uint8_t *)dst);
        return enec_is_error(r) ? r : (size_t)h.original_size;
    }
    uint64_t *var_at = (uint64_t *)malloc(sizeof(uint64_t) * l.nblocks);
    if (!var_at) return ENEC_ERROR(NOMEM);
    uint64_t at = l.high_off;
    for (uint64_t i = 0; i < l.nblocks; i++) {
        var_at[i] = at;
        at += enec_load32(src + l.table_off + ENEC_TABLE_ENTRY * i + 4);
    }
    l.var_at = var_at;
    dec_ctx c = {src, (uint8_t *)dst, &l, mo, k};
    const int t = enec_resolve_threads(o.threads, l.nblocks);
    r = enec_parallel_for_dynamic(t, l.nblocks, enec_turn_size(t, l.nblocks, mo->decode_blocks ? mo->batch(&l) : 1),
                                  decode_range, &c);
    free(var_at);
    return enec_is_error(r) ? r : (size_t)h.original_size;
}

size_t enec_decompress(void *dst, size_t cap, const void *src, size_t src_size, const enec_options *opts)
{
    return enec_frame_decompress(dst, cap, src, src_size, opts, NULL, NULL);
}
