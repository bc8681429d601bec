/* v0.c - variant V0 of the ablation (table transform, per-group widths, sequential scan): its host side and container. */
#include <stdlib.h>
#include <string.h>
#include "../codec/layout.h"
#include "host.h"

/* The V0 container (docs/NPU.md, "V0 container"). Little-endian:
 *   0  "ENV0"            magic: distinct from the standard "ENEC"
 *   4  u8 version (2), u8 dtype, u8 ndim, u8 b, u8 n, u8 L, u16 0
 *  12  u64 count, u64 payload bytes (all blocks)
 *  28  u64 shape[ndim]
 *      block table: per block u32 CRC-32C of its original bytes, u32 payload
 *      bytes, n x u16 groups of width w = 1..n (version 1, the earlier V0, stored
 *      bit planes and counted groups per plane: no longer read)
 *      u32 CRC-32C of everything above
 *      the payloads, in block order. */
#define V0_MAGIC "ENV0"
#define V0_FIXED 28u
#define V0_VERSION 2

static uint64_t v0_header(uint32_t ndim) { return V0_FIXED + 8ull * ndim; }
static uint64_t v0_entry(unsigned n) { return 8ull + 2ull * n; }

/* A full block's largest payload: L = 16 (most widths), every group n bits wide. */
static uint64_t v0_block_max(const enec_dtype_info *di, unsigned L, unsigned n)
{
    uint64_t B = ENEC_BLOCK;
    return B / L / 2 + B * di->rawbits / 8 + (uint64_t)n * B / 8;
}

size_t enec_npu_v0_bound(const enec_tensor *t)
{
    const enec_dtype_info *di = t ? enec_dtype_lookup(t->dtype) : NULL;
    if (!enec_npu_dtype_ok(di) || t->ndim > ENEC_MAX_NDIM) return 0;
    int ovf;
    uint64_t count = enec_shape_count(t->shape, t->ndim, &ovf);
    if (ovf || count > UINT64_MAX / 8) return 0;
    uint64_t nb = (count + ENEC_BLOCK - 1) / ENEC_BLOCK, n = di->ebits + 1;
    return (size_t)(v0_header(t->ndim) + nb * (v0_entry((unsigned)n) + v0_block_max(di, 16, (unsigned)n)) + 4);
}

size_t enec_npu_v0_info(const void *src_, size_t size, enec_tensor *t, uint64_t *count)
{
    const uint8_t *s = (const uint8_t *)src_;
    if (!s || size < V0_FIXED + 4 || memcmp(s, V0_MAGIC, 4) || s[4] != V0_VERSION) return ENEC_ERROR(CORRUPT);
    memset(t, 0, sizeof *t);
    t->dtype = (enec_dtype)s[5];
    const enec_dtype_info *di = enec_dtype_lookup(t->dtype);
    enec_params p;
    memset(&p, 0, sizeof p);
    p.b = s[7], p.n = s[8], p.L = s[9];
    if (!enec_npu_dtype_ok(di) || s[6] > ENEC_MAX_NDIM || !enec_params_valid(&p, di) || s[10] || s[11])
        return ENEC_ERROR(CORRUPT);
    t->itemsize = di->itemsize, t->ndim = s[6];
    uint64_t hdr = v0_header(t->ndim);
    if (size < hdr + 4) return ENEC_ERROR(CORRUPT);
    for (uint32_t i = 0; i < t->ndim; i++) t->shape[i] = enec_load64(s + V0_FIXED + 8 * i);
    int ovf;
    uint64_t c = enec_shape_count(t->shape, t->ndim, &ovf), payload = enec_load64(s + 20);
    if (ovf || c == 0 || c != enec_load64(s + 12) || c > UINT64_MAX / 8) return ENEC_ERROR(CORRUPT);
    uint64_t nb = (c + ENEC_BLOCK - 1) / ENEC_BLOCK, tbl = nb * v0_entry(p.n);
    /* sizes first (no overflow: each term is bounded by size), then the CRC */
    if (tbl > size || hdr + tbl + 4 > size || payload != size - hdr - tbl - 4) return ENEC_ERROR(CORRUPT);
    if (enec_crc32c(0, s, (size_t)(hdr + tbl)) != enec_load32(s + hdr + tbl)) return ENEC_ERROR(CORRUPT);
    *count = c;
    return 0;
}

/* The layout's block sizes with V0's padding of the last block. */
static void v0_layout(enec_layout *l, const enec_dtype_info *di, const enec_params *p, uint64_t count, uint32_t ndim)
{
    enec_layout_init(l, di, p, count, ndim, 0);
    l->last_B = enec_npu_v0_B(l->last_valid, p->L);
}

size_t enec_npu_v0_compress(npu_device *d, npu_report *r, void *dst_, size_t cap, const uint8_t *src,
                            const enec_tensor *t, uint64_t count, const enec_params *p)
{
    uint8_t *dst = (uint8_t *)dst_;
    const enec_dtype_info *di = enec_dtype_lookup(t->dtype);
    enec_layout l;
    v0_layout(&l, di, p, count, t->ndim);
    const uint64_t nb = l.nblocks, hdr = v0_header(t->ndim), tbl = nb * v0_entry(p->n), base = hdr + tbl + 4;
    if (cap < base) return ENEC_ERROR(DST_TOO_SMALL);
    r->nblocks = nb;
    const uint64_t stage_block = (v0_block_max(di, p->L, p->n) + 31) / 32 * 32;
    uint8_t *stage = (uint8_t *)malloc(stage_block * nb);
    uint32_t *F = (uint32_t *)calloc(nb, sizeof(uint32_t));
    uint64_t *at = (uint64_t *)calloc(nb, sizeof(uint64_t));
    uint16_t *Fw = (uint16_t *)calloc(nb * NPU_V0_CLASSES, sizeof(uint16_t));
    uint8_t tables[1536];
    size_t result = ENEC_ERROR(NOMEM);
    if (!stage || !F || !at || !Fw) goto done;
    enec_npu_fill_tables(tables, p, di->ebits);
    npu_job j;
    memset(&j, 0, sizeof j);
    j.d = d, j.l = &l, j.variant = 0, j.F = F, j.Fw = Fw, j.stage_block = stage_block;
    result = ENEC_ERROR(GENERIC); /* the caller reports the device's error */
    if (enec_npu_gm_place(d, &j.src, (void *)src, count * di->itemsize) ||
        enec_npu_gm_place(d, &j.dst, dst, cap) || enec_npu_gm_place(d, &j.stage, stage, stage_block * nb) ||
        enec_npu_gm_place(d, &j.tables, tables, sizeof tables) || enec_npu_gm_place(d, &j.Fgm, F, nb * 4) ||
        enec_npu_gm_place(d, &j.Fwgm, Fw, nb * NPU_V0_CLASSES * 2))
        goto done;
    for (int c = 0; c < d->cfg.cores && !d->err; c++) enec_npu_encode_core(&j, c);
    if (d->err) goto done;
    r->slots = j.slots;
    enec_npu_end_phase(d, r, 0);
    uint64_t payload = 0;
    for (uint64_t i = 0; i < nb; i++) payload += F[i];
    if (base + payload > cap) {
        result = ENEC_ERROR(DST_TOO_SMALL);
        goto done;
    }
    /* Block offsets: the cross-core scan of payload sizes; then the move. */
    if (enec_npu_scan_sizes(d, r, F, nb, base, at) || enec_npu_move_payloads(d, r, &j, F, at)) goto done;
    /* Header and table: host work, as the standard format's block table. */
    memcpy(dst, V0_MAGIC, 4);
    dst[4] = V0_VERSION, dst[5] = (uint8_t)t->dtype, dst[6] = (uint8_t)t->ndim, dst[7] = p->b;
    dst[8] = p->n, dst[9] = p->L, dst[10] = 0, dst[11] = 0;
    enec_store64(dst + 12, count);
    enec_store64(dst + 20, payload);
    for (uint32_t i = 0; i < t->ndim; i++) enec_store64(dst + V0_FIXED + 8 * i, t->shape[i]);
    for (uint64_t i = 0; i < nb; i++) {
        uint8_t *e = dst + hdr + i * v0_entry(p->n);
        enec_store32(e, enec_crc32c(0, src + i * ENEC_BLOCK * di->itemsize,
                                    (size_t)enec_block_valid(&l, i) * di->itemsize));
        enec_store32(e + 4, F[i]);
        for (unsigned q = 0; q < p->n; q++) enec_store16(e + 8 + 2 * q, Fw[i * NPU_V0_CLASSES + q]);
    }
    enec_store32(dst + hdr + tbl, enec_crc32c(0, dst, (size_t)(hdr + tbl)));
    r->coded = 1;
    r->stream_bytes = base + payload;
    result = (size_t)(base + payload);
done:
    free(stage), free(F), free(at), free(Fw);
    return result;
}

size_t enec_npu_v0_decompress(npu_device *d, npu_report *r, void *dst_, size_t cap, const uint8_t *src,
                              size_t size)
{
    uint8_t *dst = (uint8_t *)dst_;
    enec_tensor t;
    uint64_t count;
    size_t e = enec_npu_v0_info(src, size, &t, &count);
    if (enec_is_error(e)) return e;
    const enec_dtype_info *di = enec_dtype_lookup(t.dtype);
    if (cap < count * di->itemsize) return ENEC_ERROR(DST_TOO_SMALL);
    enec_params p;
    memset(&p, 0, sizeof p);
    p.b = src[7], p.n = src[8], p.L = src[9];
    enec_layout l;
    v0_layout(&l, di, &p, count, t.ndim);
    const uint64_t nb = l.nblocks, hdr = v0_header(t.ndim), tbl = nb * v0_entry(p.n), base = hdr + tbl + 4;
    r->original_bytes = count * di->itemsize;
    r->stream_bytes = size;
    r->nblocks = nb;
    uint32_t *F = (uint32_t *)calloc(nb, sizeof(uint32_t));
    uint64_t *at = (uint64_t *)calloc(nb, sizeof(uint64_t));
    uint16_t *Fw = (uint16_t *)calloc(nb * NPU_V0_CLASSES, sizeof(uint16_t));
    uint8_t tables[1536];
    size_t result = ENEC_ERROR(NOMEM);
    if (!F || !at || !Fw) goto done;
    /* The host checks the table before launching: the class counts add up
     * to at most the block's groups, sizes match the counts and add up to the
     * payload. (The kernel checks the counts against the widths.) */
    result = ENEC_ERROR(CORRUPT);
    uint64_t sum = 0;
    for (uint64_t i = 0; i < nb; i++) {
        const uint8_t *en = src + hdr + i * v0_entry(p.n);
        uint32_t B = enec_block_B(&l, i), G = B / p.L;
        uint16_t *fw = Fw + i * NPU_V0_CLASSES;
        uint32_t groups = 0;
        for (unsigned q = 0; q < p.n; q++) {
            fw[q] = (uint16_t)(en[8 + 2 * q] | en[9 + 2 * q] << 8);
            groups += fw[q];
        }
        if (groups > G) goto done;
        F[i] = enec_load32(en + 4);
        if (F[i] != enec_npu_v0_payload(&l, B, fw)) goto done;
        sum += F[i];
    }
    if (sum != size - base) goto done;
    enec_npu_fill_tables(tables, &p, di->ebits);
    npu_job j;
    memset(&j, 0, sizeof j);
    j.d = d, j.l = &l, j.variant = 0, j.F = F, j.Fw = Fw, j.at = at;
    result = ENEC_ERROR(GENERIC);
    if (enec_npu_gm_place(d, &j.src, (void *)src, size) ||
        enec_npu_gm_place(d, &j.dst, dst, count * di->itemsize) ||
        enec_npu_gm_place(d, &j.tables, tables, sizeof tables))
        goto done;
    if (enec_npu_scan_sizes(d, r, F, nb, base, at)) goto done;
    for (int c = 0; c < d->cfg.cores && !d->err; c++) enec_npu_decode_core(&j, c);
    if (d->err) {
        if (d->err == NPU_ERR_CORRUPT) result = ENEC_ERROR(CORRUPT);
        goto done;
    }
    r->slots = j.slots;
    enec_npu_end_phase(d, r, 0);
    r->coded = 1;
    result = (size_t)(count * di->itemsize);
    for (uint64_t i = 0; i < nb; i++) {
        uint32_t isz = di->itemsize;
        if (enec_crc32c(0, dst + i * ENEC_BLOCK * isz, (size_t)enec_block_valid(&l, i) * isz) !=
            enec_load32(src + hdr + i * v0_entry(p.n))) {
            result = ENEC_ERROR(CORRUPT);
            break;
        }
    }
done:
    free(F), free(at), free(Fw);
    return result;
}
