/* layout.c - section sizes, header writing and the header/table validation every decoder relies on. */
#include "layout.h"

static const enec_dtype_info dtype_table[4] = {
    {ENEC_DTYPE_OTHER, 0, 0, 0}, /* never coded */
    {ENEC_DTYPE_BF16, 8, 8, 2},
    {ENEC_DTYPE_FP16, 5, 11, 2},
    {ENEC_DTYPE_FP32, 8, 24, 4},
};

const enec_dtype_info *enec_dtype_lookup(enec_dtype d)
{
    return (d >= ENEC_DTYPE_BF16 && d <= ENEC_DTYPE_FP32) ? &dtype_table[d] : NULL;
}

int enec_params_valid(const enec_params *p, const enec_dtype_info *di)
{
    return di && p->b < (1u << di->ebits) && p->n >= 1 && p->n <= di->ebits + 1 && p->m <= p->n &&
           (p->L == 16 || p->L == 32 || p->L == 64);
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

void enec_layout_init(enec_layout *l, const enec_dtype_info *di, const enec_params *p,
                      uint64_t count, uint32_t ndim, uint32_t descr_len)
{
    memset(l, 0, sizeof *l);
    l->di = di;
    l->p = *p;
    l->count = count;
    l->nblocks = (count + ENEC_BLOCK - 1) / ENEC_BLOCK;
    l->last_valid = (uint32_t)(count - (l->nblocks - 1) * ENEC_BLOCK);
    l->last_B = (l->last_valid + p->L - 1) / p->L * p->L;
    l->table_off = enec_header_bytes(ndim, descr_len);
    l->header_size = l->table_off + ENEC_TABLE_ENTRY * l->nblocks + 4;

    uint64_t full = l->nblocks - 1, B = l->last_B, G = B / p->L;
    l->raw_block = (uint64_t)ENEC_BLOCK * di->rawbits / 8;
    l->low_block = (uint64_t)ENEC_BLOCK * p->m / 8;
    l->mask_block = (uint64_t)ENEC_BLOCK / p->L / 8;
    uint64_t raw = full * l->raw_block + B * di->rawbits / 8;
    uint64_t low = full * l->low_block + B * p->m / 8;
    uint64_t mask = full * l->mask_block + (G + 7) / 8;
    l->raw_off = l->header_size;
    l->low_off = l->raw_off + raw;
    l->mask_off = l->low_off + low;
    l->high_off = l->mask_off + mask;
    l->fixed_size = raw + low + mask;
}

size_t enec_write_header(uint8_t *dst, const enec_tensor *t, uint32_t mode, const enec_params *p,
                         uint64_t count, uint64_t payload_size, uint32_t data_crc)
{
    uint8_t *q = dst;
    memcpy(q, ENEC_MAGIC, 4);
    enec_store16(q + 4, ENEC_FORMAT_VERSION);
    q[6] = (uint8_t)mode;
    q[7] = (uint8_t)t->dtype;
    enec_store32(q + 8, t->itemsize);
    q[12] = (uint8_t)t->ndim;
    q[13] = (uint8_t)t->descr_len;
    q[14] = mode ? p->b : 0;
    q[15] = mode ? p->n : 0;
    q[16] = mode ? p->m : 0;
    q[17] = mode ? p->L : 0;
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
    ENEC_CHECK(enec_load16(src + 4) == ENEC_FORMAT_VERSION);
    uint32_t mode = src[6], dtype = src[7], ndim = src[12], descr_len = src[13];
    ENEC_CHECK(mode <= 1 && dtype <= ENEC_DTYPE_FP32 && ndim <= ENEC_MAX_NDIM);
    uint64_t hs = enec_header_bytes(ndim, descr_len);
    ENEC_CHECK(src_size >= hs);
    ENEC_CHECK(enec_load32(src + hs - 4) == enec_crc32c(0, src, (size_t)hs - 4));
    /* From here on the header bytes are what the encoder wrote, barring a
     * CRC collision; the checks below still guard against a hostile writer. */
    ENEC_CHECK(enec_load16(src + 18) == 0 && enec_load32(src + 20) == ENEC_BLOCK);

    enec_tensor *t = &h->tensor;
    t->dtype = (enec_dtype)dtype;
    t->itemsize = enec_load32(src + 8);
    t->ndim = ndim;
    for (uint32_t i = 0; i < ndim; i++) t->shape[i] = enec_load64(src + ENEC_HEADER_FIXED + 8 * i);
    t->descr_len = descr_len;
    t->descr = descr_len ? (const char *)src + ENEC_HEADER_FIXED + 8 * ndim : NULL;
    const enec_dtype_info *di = enec_dtype_lookup(t->dtype);
    ENEC_CHECK(di ? t->itemsize == di->itemsize : t->itemsize >= 1);

    h->version = ENEC_FORMAT_VERSION;
    h->mode = mode;
    h->count = enec_load64(src + 24);
    h->payload_size = enec_load64(src + 32);
    int overflow;
    ENEC_CHECK(enec_shape_count(t->shape, ndim, &overflow) == h->count && !overflow);
    ENEC_CHECK(h->count <= UINT64_MAX / t->itemsize && h->count * t->itemsize <= SIZE_MAX);
    h->original_size = h->count * t->itemsize;
    enec_params *p = &h->params;
    p->b = src[14], p->n = src[15], p->m = src[16], p->L = src[17];

    if (mode == 0) {
        ENEC_CHECK(p->b == 0 && p->n == 0 && p->m == 0 && p->L == 0);
        ENEC_CHECK(h->payload_size == h->original_size);
        ENEC_CHECK(h->payload_size <= src_size - hs);
        h->header_size = hs;
        h->stream_size = hs + h->payload_size;
        return (size_t)hs;
    }

    /* Coded: the RAW section alone holds at least one byte per element, so
     * count is bounded by the input before any size is computed from it. */
    ENEC_CHECK(di && enec_params_valid(p, di) && enec_load32(src + 40) == 0);
    ENEC_CHECK(h->count >= 1 && h->count <= src_size);
    enec_layout l;
    enec_layout_init(&l, di, p, h->count, ndim, descr_len);
    ENEC_CHECK(l.header_size <= src_size);
    const uint8_t *table = src + l.table_off;
    size_t tbytes = (size_t)(ENEC_TABLE_ENTRY * l.nblocks);
    ENEC_CHECK(enec_load32(table + tbytes) == enec_crc32c(0, table, tbytes));
    uint64_t gbytes = enec_high_group_bytes(p), high = 0;
    for (uint64_t i = 0; i < l.nblocks; i++) {
        uint64_t hsz = enec_load32(table + ENEC_TABLE_ENTRY * i + 4);
        uint64_t groups = enec_block_B(&l, i) / p->L;
        ENEC_CHECK(gbytes ? (hsz % gbytes == 0 && hsz / gbytes <= groups) : hsz == 0);
        high += hsz;
    }
    ENEC_CHECK(h->payload_size == l.fixed_size + high);
    ENEC_CHECK(h->payload_size <= src_size - l.header_size);
    h->nblocks = l.nblocks;
    p->bits = 0; /* the prediction is not stored; only the encoder knows it */
    h->header_size = l.header_size;
    h->stream_size = l.header_size + h->payload_size;
    return (size_t)l.header_size;
}
