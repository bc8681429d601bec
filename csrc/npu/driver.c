/* driver.c - the host driver of the simulated NPU: stream assembly around the kernels, the cross-core scan and merge, the report. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../codec/elements.h"
#include "../codec/layout.h"
#include "../codec/search.h"
#include "isa.h"
#include "host.h"

void enec_npu_report_free(npu_report *r)
{
    free(r->core_cycles);
    for (int p = 0; p < PIPE_COUNT; p++) free(r->pipe[p]);
    memset(r, 0, sizeof *r);
}

static int report_init(npu_report *r, const npu_config *cfg, int variant)
{
    memset(r, 0, sizeof *r);
    r->cores = cfg->cores > 0 ? cfg->cores : 1;
    r->variant = variant;
    r->core_cycles = (double *)calloc((size_t)r->cores, sizeof(double));
    for (int p = 0; p < PIPE_COUNT; p++) r->pipe[p] = (double *)calloc((size_t)r->cores, sizeof(double));
    for (int p = 0; p < PIPE_COUNT; p++)
        if (!r->pipe[p]) return -1;
    return r->core_cycles ? 0 : -1;
}

/* A phase ends at a barrier: every core has finished. Fold its stats into the report. */
void enec_npu_end_phase(npu_device *d, npu_report *r, int phase)
{
    double span = 0;
    for (int c = 0; c < d->cfg.cores; c++) {
        npu_core_stats *s = &d->stats[c];
        double end = 0;
        for (int p = 0; p < PIPE_COUNT; p++) {
            if (s->clock[p] > end) end = s->clock[p];
            r->pipe[p][c] += s->busy[p];
        }
        r->core_cycles[c] += end;
        if (end > span) span = end;
        r->bytes_in += s->bytes_in;
        r->bytes_out += s->bytes_out;
        for (int o = 0; o < OP_COUNT; o++) r->op_count[o] += s->op_count[o], r->op_cycles[o] += s->op_cycles[o];
    }
    r->phase_cycles[phase] += span;
    memset(d->stats, 0, sizeof(npu_core_stats) * (size_t)d->cfg.cores);
    if (d->ub_peak > r->ub_peak) r->ub_peak = d->ub_peak;
}

void enec_npu_finish_report(const npu_device *d, npu_report *r)
{
    r->device_cycles = 0;
    for (int p = 0; p < 4; p++) r->device_cycles += r->phase_cycles[p];
    double bytes_per_cycle = d->cfg.hbm_gbps / d->cfg.clock_ghz;
    r->hbm_cycles = (double)(r->bytes_in + r->bytes_out) / bytes_per_cycle;
    r->kernel_cycles = r->device_cycles > r->hbm_cycles ? r->device_cycles : r->hbm_cycles;
}

static size_t device_error(npu_device *d, npu_report *r)
{
    r->npu_err = d->err ? d->err : NPU_ERR_ARG;
    snprintf(r->msg, sizeof r->msg, "%s", d->err ? d->msg : "device error");
    return ENEC_ERROR(GENERIC);
}

/* The cross-core scan of per-block sizes into stream offsets, as two
 * phases with a barrier: each core sums a contiguous share of the size
 * column, then each core adds the totals of the shares before its own and
 * writes the offsets of its share. Sizes travel as u32, offsets as u64. */
int enec_npu_scan_sizes(npu_device *d, npu_report *r, uint32_t *sizes, uint64_t n, uint64_t base, uint64_t *at)
{
    const int C = d->cfg.cores;
    npu_gm gsz = {(uint8_t *)sizes, n * 4};
    uint64_t *tot = (uint64_t *)calloc((size_t)C, sizeof(uint64_t));
    if (!tot) return enec_npu_fail(d, NPU_ERR_NOMEM, "out of host memory"), -1;
    for (int pass = 0; pass < 2 && !d->err; pass++) {
        for (int c = 0; c < C && !d->err; c++) {
            uint64_t lo = n * (uint64_t)c / (uint64_t)C, hi = n * (uint64_t)(c + 1) / (uint64_t)C;
            enec_npu_core_begin(d, c);
            if (hi == lo && pass == 0) continue;
            if (pass == 1) enec_npu_scalar(d, (uint32_t)c, (uint32_t)c, 0); /* the totals of earlier shares */
            /* Shares larger than the buffer go through it in pieces. */
            uint32_t cap = 4096, buf = enec_npu_ub_alloc(d, cap * 4);
            uint64_t acc = 0;
            if (pass == 1) {
                acc = base;
                for (int k = 0; k < c; k++) acc += tot[k];
            }
            for (uint64_t p = lo; p < hi && !d->err; p += cap) {
                uint64_t m = hi - p < cap ? hi - p : cap;
                double t = enec_npu_dma_in(d, buf, &gsz, p * 4, m * 4, 1, 0);
                enec_npu_wait(d, PIPE_S, t);
                enec_npu_scalar(d, (uint32_t)m, (uint32_t)m, pass ? (uint32_t)m : 0);
                for (uint64_t i = 0; i < m; i++) {
                    if (pass) at[p + i] = acc;
                    acc += sizes[p + i];
                }
            }
            if (pass == 0) {
                tot[c] = acc;
                enec_npu_scalar(d, 0, 0, 1);
            } else if (hi > lo) {
                /* the offsets of the share go back to global memory (counted, not re-read) */
                d->stats[c].bytes_out += (hi - lo) * 8;
                d->stats[c].busy[PIPE_MTE3] += d->cfg.dma_write_latency + (double)(hi - lo) * 8 / d->cfg.mte3_bytes_per_cycle;
                d->stats[c].clock[PIPE_MTE3] = d->stats[c].clock[PIPE_S] + d->cfg.dma_write_latency +
                                               (double)(hi - lo) * 8 / d->cfg.mte3_bytes_per_cycle;
            }
        }
        enec_npu_end_phase(d, r, 1 + pass);
    }
    free(tot);
    return d->err ? -1 : 0;
}

/* Each core moves its blocks' HIGH bytes from their staging slots to their
 * place in the stream, through two UB buffers. */
int enec_npu_move_payloads(npu_device *d, npu_report *r, npu_job *j, const uint32_t *hsz, const uint64_t *at)
{
    const int C = d->cfg.cores;
    npu_gm out = j->dst;
    for (int c = 0; c < C && !d->err; c++) {
        enec_npu_core_begin(d, c);
        uint32_t cap = (uint32_t)j->stage_block;
        uint32_t buf[2] = {enec_npu_ub_alloc(d, cap ? cap : 32), enec_npu_ub_alloc(d, cap ? cap : 32)};
        double freed[2] = {0, 0};
        uint64_t i = 0;
        for (uint64_t blk = (uint64_t)c; blk < j->l->nblocks && !d->err; blk += (uint64_t)C, i++) {
            if (!hsz[blk]) continue;
            int s = (int)(i & 1);
            double t = enec_npu_dma_in(d, buf[s], &j->stage, blk * j->stage_block, hsz[blk], 1, freed[s]);
            freed[s] = enec_npu_dma_out(d, &out, at[blk], buf[s], hsz[blk], 1, t);
        }
    }
    enec_npu_end_phase(d, r, 3);
    return d->err ? -1 : 0;
}

void enec_npu_fill_tables(uint8_t *tab, const enec_params *p, unsigned ebits)
{
    memset(tab, 0, 1536);
    for (unsigned x = 0; x < (1u << ebits); x++) enec_store16(tab + 2 * x, enec_code(p->b, x, p->n));
    for (unsigned y = 0; y < (1u << p->n); y++) enec_store16(tab + 512 + 2 * y, (uint16_t)enec_uncode(p->b, y, p->n, ebits));
}

static int params_cover(const enec_params *p, const uint64_t *hist, unsigned ebits)
{
    for (unsigned x = 0; x < (1u << ebits); x++) {
        int dd = (int)p->b - (int)x;
        if (hist[x] && (dd < -(1 << (p->n - 1)) || dd > (1 << (p->n - 1)) - 1)) return 0;
    }
    return 1;
}

static int tensor_ok(const enec_tensor *t, uint64_t *count)
{
    if (!t || t->dtype > ENEC_DTYPE_FP32 || t->ndim > ENEC_MAX_NDIM || t->descr_len > ENEC_MAX_DESCR ||
        (t->descr_len && !t->descr) || t->itemsize == 0)
        return 0;
    const enec_dtype_info *di = enec_dtype_lookup(t->dtype);
    if (di && t->itemsize != di->itemsize) return 0;
    int ovf;
    *count = enec_shape_count(t->shape, t->ndim, &ovf);
    return !ovf && *count <= (UINT64_MAX - 4096) / t->itemsize;
}

static size_t write_stored(uint8_t *dst, const uint8_t *src, const enec_tensor *t, uint64_t count)
{
    uint64_t nbytes = count * t->itemsize;
    size_t hs = enec_write_header(dst, t, 0, NULL, count, nbytes, enec_crc32c(0, src, (size_t)nbytes));
    if (nbytes) memcpy(dst + hs, src, (size_t)nbytes);
    return hs + (size_t)nbytes;
}


size_t enec_npu_compress(const npu_config *cfg, int variant, void *dst_, size_t cap, const void *src_,
                         const enec_tensor *t, const enec_params *forced, npu_report *rep)
{
    uint8_t *dst = (uint8_t *)dst_;
    const uint8_t *src = (const uint8_t *)src_;
    uint64_t count;
    if (report_init(rep, cfg, variant)) return ENEC_ERROR(NOMEM);
    if (variant < 0 || variant >= NPU_VARIANTS || !tensor_ok(t, &count) || !dst || (!src && count))
        return ENEC_ERROR(BAD_ARGUMENT);
    const uint64_t nbytes = count * t->itemsize;
    const uint64_t stored = enec_header_bytes(t->ndim, t->descr_len) + nbytes;
    const enec_dtype_info *di = enec_dtype_lookup(t->dtype);
    rep->original_bytes = nbytes;
    if (variant == NPU_V0 && (!di || count == 0)) return ENEC_ERROR(BAD_ARGUMENT);
    if (variant != NPU_V0 && cap < stored) return ENEC_ERROR(DST_TOO_SMALL);
    if (variant != NPU_V0 && (!di || count == 0)) return rep->stream_bytes = write_stored(dst, src, t, count);

    /* Parameters: the host's search (FORMAT.md section 5), as the CPU codec. */
    uint64_t hist[ENEC_HIST_BINS];
    enec_histogram_ref(src, count, t->dtype, hist);
    enec_params p;
    if (forced) {
        p = *forced;
        p.bits = 0;
        if (!enec_params_valid(&p, di)) return ENEC_ERROR(BAD_ARGUMENT);
        if (!params_cover(&p, hist, di->ebits)) return ENEC_ERROR(PARAMS);
    } else {
        enec_params_from_histogram(hist, di->ebits, &p);
    }

    npu_device d;
    if (enec_npu_device_init(&d, cfg)) {
        size_t e = device_error(&d, rep);
        enec_npu_device_free(&d);
        return e;
    }
    if (variant == NPU_V0) {
        size_t rr = enec_npu_v0_compress(&d, rep, dst, cap, src, t, count, &p);
        if (d.err) rr = device_error(&d, rep);
        else enec_npu_finish_report(&d, rep);
        enec_npu_device_free(&d);
        return rr;
    }

    enec_layout l;
    enec_layout_init(&l, di, &p, count, t->ndim, t->descr_len);
    if (l.header_size + l.fixed_size >= stored) {
        enec_npu_device_free(&d);
        return rep->stream_bytes = write_stored(dst, src, t, count);
    }
    rep->nblocks = l.nblocks;
    size_t result = 0;
    uint64_t stage_block = (uint64_t)ENEC_BLOCK * (p.n - p.m) / 8;
    uint8_t *stage = (uint8_t *)malloc(stage_block * l.nblocks + 1);
    uint32_t *F = (uint32_t *)calloc(l.nblocks, sizeof(uint32_t));
    uint32_t *hsz = (uint32_t *)calloc(l.nblocks, sizeof(uint32_t));
    uint64_t *at = (uint64_t *)calloc(l.nblocks, sizeof(uint64_t));
    uint8_t tables[1536];
    enec_npu_fill_tables(tables, &p, di->ebits);
    if (!stage || !F || !hsz || !at) {
        result = ENEC_ERROR(NOMEM);
        goto done;
    }
    npu_job j;
    memset(&j, 0, sizeof j);
    j.d = &d, j.l = &l, j.variant = variant, j.F = F, j.stage_block = stage_block;
    /* Global memory holds the tensor, the stream and the staging area. */
    if (enec_npu_gm_place(&d, &j.src, (void *)src, nbytes) || enec_npu_gm_place(&d, &j.dst, dst, stored) ||
        enec_npu_gm_place(&d, &j.stage, stage, stage_block * l.nblocks) ||
        enec_npu_gm_place(&d, &j.tables, tables, sizeof tables)) {
        result = device_error(&d, rep);
        goto done;
    }
    for (int c = 0; c < cfg->cores && !d.err; c++) enec_npu_encode_core(&j, c);
    if (d.err) {
        result = device_error(&d, rep);
        goto done;
    }
    rep->slots = j.slots;
    enec_npu_end_phase(&d, rep, 0);
    const uint64_t gbytes = enec_high_group_bytes(&p);
    uint64_t high = 0;
    for (uint64_t i = 0; i < l.nblocks; i++) hsz[i] = (uint32_t)(F[i] * gbytes), high += hsz[i];
    if (l.header_size + l.fixed_size + high >= stored) {
        /* Coding did not pay: the host writes a stored stream, as the CPU codec does. */
        enec_npu_finish_report(&d, rep);
        result = write_stored(dst, src, t, count);
    } else if (enec_npu_scan_sizes(&d, rep, hsz, l.nblocks, l.high_off, at) || enec_npu_move_payloads(&d, rep, &j, hsz, at)) {
        result = device_error(&d, rep);
        goto done;
    } else {
        /* The block table: CRCs are the host's (not part of the modelled kernels). */
        for (uint64_t i = 0; i < l.nblocks; i++) {
            uint8_t *e = dst + l.table_off + ENEC_TABLE_ENTRY * i;
            enec_store32(e, enec_crc32c(0, src + i * ENEC_BLOCK * t->itemsize,
                                        (size_t)enec_block_valid(&l, i) * t->itemsize));
            enec_store32(e + 4, hsz[i]);
        }
        size_t tb = (size_t)(ENEC_TABLE_ENTRY * l.nblocks);
        enec_store32(dst + l.table_off + tb, enec_crc32c(0, dst + l.table_off, tb));
        enec_write_header(dst, t, 1, &p, count, l.fixed_size + high, 0);
        enec_npu_finish_report(&d, rep);
        result = (size_t)(l.header_size + l.fixed_size + high);
        rep->coded = 1;
    }
    rep->stream_bytes = result;
done:
    free(stage);
    free(F);
    free(hsz);
    free(at);
    enec_npu_device_free(&d);
    return result;
}

/* The checks the CPU decoder makes on a block's mask before decoding. */
static int64_t mask_flags(const enec_layout *l, const uint8_t *mask, uint32_t B, uint32_t high_size)
{
    uint32_t G = B / l->p.L, F = 0;
    for (uint32_t i = 0; i < G / 8; i++) F += (uint32_t)__builtin_popcount(mask[i]);
    if (G & 7) {
        if (mask[G >> 3] >> (G & 7)) return -1;
        F += (uint32_t)__builtin_popcount(mask[G >> 3]);
    }
    if ((uint64_t)F * enec_high_group_bytes(&l->p) != high_size) return -1;
    if (F && l->p.m == l->p.n) return -1;
    return F;
}

size_t enec_npu_decompress(const npu_config *cfg, int variant, void *dst_, size_t cap, const void *src_,
                           size_t size, npu_report *rep)
{
    uint8_t *dst = (uint8_t *)dst_;
    const uint8_t *src = (const uint8_t *)src_;
    if (report_init(rep, cfg, variant)) return ENEC_ERROR(NOMEM);
    if (variant < 0 || variant >= NPU_VARIANTS || !src || (!dst && cap)) return ENEC_ERROR(BAD_ARGUMENT);
    npu_device d;
    if (variant == NPU_V0) {
        if (enec_npu_device_init(&d, cfg)) {
            size_t e = device_error(&d, rep);
            enec_npu_device_free(&d);
            return e;
        }
        size_t rr = enec_npu_v0_decompress(&d, rep, dst, cap, src, size);
        if (d.err && d.err != NPU_ERR_CORRUPT) rr = device_error(&d, rep);
        else if (!enec_is_error(rr)) enec_npu_finish_report(&d, rep);
        enec_npu_device_free(&d);
        return rr;
    }
    enec_header h;
    size_t r = enec_read_header(src, size, &h);
    if (enec_is_error(r)) return r;
    if (size != h.stream_size) return ENEC_ERROR(CORRUPT);
    if (cap < h.original_size) return ENEC_ERROR(DST_TOO_SMALL);
    rep->original_bytes = h.original_size;
    rep->stream_bytes = size;
    if (h.mode == 0) {
        const uint8_t *payload = src + h.header_size;
        if (enec_crc32c(0, payload, (size_t)h.payload_size) != enec_load32(src + 40)) return ENEC_ERROR(CORRUPT);
        if (h.payload_size) memcpy(dst, payload, (size_t)h.payload_size);
        return (size_t)h.original_size;
    }
    enec_layout l;
    const enec_dtype_info *di = enec_dtype_lookup(h.tensor.dtype);
    enec_layout_init(&l, di, &h.params, h.count, h.tensor.ndim, h.tensor.descr_len);
    rep->nblocks = l.nblocks;
    uint32_t *F = (uint32_t *)calloc(l.nblocks, sizeof(uint32_t));
    uint32_t *hsz = (uint32_t *)calloc(l.nblocks, sizeof(uint32_t));
    uint64_t *at = (uint64_t *)calloc(l.nblocks, sizeof(uint64_t));
    uint8_t tables[1536];
    size_t result = (size_t)h.original_size;
    if (!F || !hsz || !at) {
        free(F), free(hsz), free(at);
        return ENEC_ERROR(NOMEM);
    }
    /* The host validates what the CPU decoder validates, before launching. */
    const uint64_t gbytes = enec_high_group_bytes(&l.p);
    for (uint64_t i = 0; i < l.nblocks; i++) {
        hsz[i] = enec_load32(src + l.table_off + ENEC_TABLE_ENTRY * i + 4);
        int64_t f = mask_flags(&l, src + l.mask_off + i * l.mask_block, enec_block_B(&l, i), hsz[i]);
        if (f < 0) {
            result = ENEC_ERROR(CORRUPT);
            goto out;
        }
        F[i] = (uint32_t)f;
        (void)gbytes;
    }
    enec_npu_fill_tables(tables, &l.p, di->ebits);
    if (enec_npu_device_init(&d, cfg)) {
        result = device_error(&d, rep);
        goto outd;
    }
    npu_job j;
    memset(&j, 0, sizeof j);
    j.d = &d, j.l = &l, j.variant = variant, j.F = F, j.at = at;
    if (enec_npu_gm_place(&d, &j.src, (void *)src, size) ||
        enec_npu_gm_place(&d, &j.dst, dst, h.original_size) ||
        enec_npu_gm_place(&d, &j.tables, tables, sizeof tables)) {
        result = device_error(&d, rep);
        goto outd;
    }
    if (enec_npu_scan_sizes(&d, rep, hsz, l.nblocks, l.high_off, at)) {
        result = device_error(&d, rep);
        goto outd;
    }
    /* the scan phases ran first; the main kernel is phase 0 in the report */
    for (int c = 0; c < cfg->cores && !d.err; c++) enec_npu_decode_core(&j, c);
    if (d.err) {
        result = device_error(&d, rep);
        goto outd;
    }
    rep->slots = j.slots;
    enec_npu_end_phase(&d, rep, 0);
    enec_npu_finish_report(&d, rep);
    rep->coded = 1;
    for (uint64_t i = 0; i < l.nblocks; i++) {
        uint32_t isz = di->itemsize;
        if (enec_crc32c(0, dst + i * ENEC_BLOCK * isz, (size_t)enec_block_valid(&l, i) * isz) !=
            enec_load32(src + l.table_off + ENEC_TABLE_ENTRY * i)) {
            result = ENEC_ERROR(CORRUPT);
            break;
        }
    }
outd:
    enec_npu_device_free(&d);
out:
    free(F), free(hsz), free(at);
    return result;
}

int enec_npu_probe(const npu_config *cfg, const char *name, int64_t arg, char *msg, size_t msgcap)
{
    npu_device d;
    uint8_t gmbuf[4096] = {0};
    npu_gm g;
    if (enec_npu_device_init(&d, cfg) == 0) {
        enec_npu_core_begin(&d, 0);
        enec_npu_gm_place(&d, &g, gmbuf, sizeof gmbuf);
        if (!strcmp(name, "ub_alloc")) {
            enec_npu_ub_alloc(&d, (uint32_t)(arg < 0 ? 0 : arg > 0xFFFFFFFFll ? 0xFFFFFFFFll : arg));
        } else if (!strcmp(name, "segment")) {
            /* x[i + arg] = x[i + arg] + x[i] over 256 lanes: the scan a vector
             * unit cannot do in one instruction unless arg moves whole blocks clear. */
            uint32_t x = enec_npu_ub_alloc(&d, 2048);
            uint32_t off = (uint32_t)(arg < 0 ? 0 : arg > 512 ? 512 : arg);
            v_add16(&d, x + 2 * off, x + 2 * off, x, 256);
        } else if (!strcmp(name, "dma_align")) {
            uint32_t buf = enec_npu_ub_alloc(&d, 1024);
            enec_npu_dma_in(&d, buf + (uint32_t)(arg & 511), &g, 0, 256, 0, 0);
        } else if (!strcmp(name, "dma_len")) {
            uint32_t buf = enec_npu_ub_alloc(&d, 4096);
            enec_npu_dma_in(&d, buf, &g, 0, (uint64_t)(arg < 0 ? 0 : arg > 4000 ? 4000 : arg), 0, 0);
        } else {
            enec_npu_fail(&d, NPU_ERR_ARG, "unknown probe %s", name);
        }
    }
    int e = d.err;
    if (msg && msgcap) snprintf(msg, msgcap, "%s", e ? d.msg : "");
    enec_npu_device_free(&d);
    return e;
}
