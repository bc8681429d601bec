/* mode_fast.c - ENEC_MODE_FAST, the ENEC fixed-length exponent code: its parameters, sections and per-block driver. */
#include "frame.h"
#include "search.h"

int enec_params_valid(const enec_params *p, const enec_dtype_info *di)
{
    return di && p->b < (1u << di->ebits) && p->n >= 1 && p->n <= di->ebits + 1 && p->m <= p->n &&
           (p->L == 16 || p->L == 32 || p->L == 64);
}

static void fast_layout(enec_layout *l)
{
    const enec_dtype_info *di = l->di;
    const enec_params *p = &l->p;
    l->last_B = (l->last_valid + p->L - 1) / p->L * p->L;
    uint64_t full = l->nblocks - 1, B = l->last_B, G = B / p->L;
    l->raw_block = enec_raw_bytes(di, ENEC_BLOCK);
    l->low_block = (uint64_t)ENEC_BLOCK * p->m / 8;
    l->mask_block = (uint64_t)ENEC_BLOCK / p->L / 8;
    uint64_t raw = full * l->raw_block + enec_raw_bytes(di, B);
    uint64_t low = full * l->low_block + B * p->m / 8;
    uint64_t mask = full * l->mask_block + (G + 7) / 8;
    l->raw_off = l->header_size;
    l->low_off = l->raw_off + raw;
    l->mask_off = l->low_off + low;
    l->high_off = l->mask_off + mask;
    l->fixed_size = raw + low + mask;
}

void enec_layout_init(enec_layout *l, const enec_dtype_info *di, const enec_params *p, uint64_t count, uint32_t ndim,
                      uint32_t descr_len)
{
    memset(l, 0, sizeof *l);
    l->di = di;
    l->mode = ENEC_MODE_FAST;
    l->p = *p;
    l->count = count;
    l->nblocks = (count + ENEC_BLOCK - 1) / ENEC_BLOCK;
    l->last_valid = (uint32_t)(count - (l->nblocks - 1) * ENEC_BLOCK);
    l->table_off = enec_header_bytes(ndim, descr_len);
    l->header_size = l->table_off + ENEC_TABLE_ENTRY * l->nblocks + 4;
    fast_layout(l);
}

static size_t fast_choose(const enec_layout *l, const uint8_t *src, const enec_options *o, const enec_block_kernels *k,
                          enec_params *p)
{
    const enec_dtype_info *di = l->di;
    uint64_t hist[ENEC_HIST_BINS];
    size_t r = enec_histogram_parallel(k, o->threads, src, l->count, di, hist);
    if (enec_is_error(r)) return r;
    if (!o->params) {
        enec_params_from_histogram(hist, di->ebits, p);
        return 0;
    }
    *p = *o->params;
    p->bits = 0;
    if (!enec_params_valid(p, di)) return ENEC_ERROR(BAD_ARGUMENT);
    return enec_params_cover(p, hist, di->ebits) ? 0 : ENEC_ERROR(PARAMS);
}

static uint64_t fast_var_max(const enec_layout *l, uint64_t i)
{
    return enec_block_B(l, i) / l->p.L * enec_high_group_bytes(&l->p);
}

static int fast_var_size_ok(const enec_layout *l, uint64_t i, uint64_t size)
{
    uint64_t gbytes = enec_high_group_bytes(&l->p);
    return gbytes ? size % gbytes == 0 && size <= fast_var_max(l, i) : size == 0;
}

/* The mask's unused bits are zero and its count of flagged groups matches
 * the block's HIGH size. Returns F, or -1 when corrupt. */
static int64_t fast_check_block(const enec_layout *l, const uint8_t *stream, uint64_t blk, uint32_t high_size)
{
    const enec_params *p = &l->p;
    const uint8_t *mask = stream + l->mask_off + blk * l->mask_block;
    uint32_t G = enec_block_B(l, blk) / p->L, F = 0, i = 0;
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

/* The vector kernels take whole-vector blocks; anything else (the short
 * last block of a tensor, at most one) runs the reference. */
static const enec_block_kernels *kernels_for(const enec_block_kernels *k, const enec_layout *l, uint64_t i)
{
    uint32_t B = enec_block_B(l, i);
    return enec_block_valid(l, i) == B && (B / l->p.L) % k->lanes == 0 ? k : &enec_kernels_ref;
}

static uint32_t fast_encode_block(const enec_block_kernels *k, const enec_layout *l, uint64_t i, const uint8_t *src,
                                  uint8_t *dst, uint8_t *var, void *scratch)
{
    k = kernels_for(k, l, i);
    uint16_t *y = (uint16_t *)scratch;
    void *ks = y + ENEC_BLOCK;
    const uint32_t B = enec_block_B(l, i);
    enec_split_for(k, l->di->dtype)(l, src + i * ENEC_BLOCK * l->di->itemsize, enec_block_valid(l, i), B, y,
                                    dst + l->raw_off + i * l->raw_block, ks);
    uint32_t F = k->fast_encode(l, y, B, dst + l->low_off + i * l->low_block, dst + l->mask_off + i * l->mask_block,
                                var, ks);
    return (uint32_t)(F * enec_high_group_bytes(&l->p));
}

static void fast_decode_block(const enec_block_kernels *k, const enec_layout *l, uint64_t i, const uint8_t *stream,
                              const uint8_t *var, int64_t F, uint8_t *out, void *scratch)
{
    k = kernels_for(k, l, i);
    uint16_t *y = (uint16_t *)scratch;
    void *ks = y + ENEC_BLOCK;
    const uint32_t B = enec_block_B(l, i);
    const uint8_t *low = stream + l->low_off + i * l->low_block, *mask = stream + l->mask_off + i * l->mask_block;
    const uint8_t *raw = stream + l->raw_off + i * l->raw_block;
    out += i * ENEC_BLOCK * l->di->itemsize;
    if (k->fast_decode_join[l->di->dtype]) {
        k->fast_decode_join[l->di->dtype](l, low, mask, var, raw, B, (uint32_t)F, out, y, ks);
        return;
    }
    k->fast_decode(l, low, mask, var, B, (uint32_t)F, y, ks);
    enec_join_for(k, l->di->dtype)(l, y, raw, enec_block_valid(l, i), B, out, ks);
}

const enec_mode_ops enec_mode_fast = {
    ENEC_MODE_FAST,   "fast",           fast_choose,       enec_params_valid, fast_layout,
    fast_var_max,     fast_var_size_ok, fast_check_block,  fast_encode_block, fast_decode_block,
};
