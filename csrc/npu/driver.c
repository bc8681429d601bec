/* driver.c - the host driver of the simulated NPU: stream assembly around the kernels, the cross-core scan and merge, the report. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../codec/elements.h"
#include "../codec/frame.h"
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
            if (s->dma_done[p] > end) end = s->dma_done[p];
            r->pipe[p][c] += s->busy[p];
        }
        r->bank_extra += s->bank_extra;
        r->queue_stall += s->queue_stall;
        r->core_cycles[c] += end;
        if (end > span) span = end;
        r->bytes_in += s->bytes_in;
        r->bytes_out += s->bytes_out;
        for (int o = 0; o < OP_COUNT; o++) r->op_count[o] += s->op_count[o], r->op_cycles[o] += s->op_cycles[o];
    }
    r->phase_cycles[phase] += span;
    if (span > 0) r->phases_run++;
    memset(d->stats, 0, sizeof(npu_core_stats) * (size_t)d->cfg.cores);
    enec_npu_hbm_reset(d);
    if (d->ub_peak > r->ub_peak) r->ub_peak = d->ub_peak;
}

void enec_npu_finish_report(const npu_device *d, npu_report *r)
{
    /* One launch; its phases are separated by SyncAll barriers. */
    r->device_cycles = d->cfg.launch_cycles;
    if (r->phases_run > 1) r->device_cycles += (double)(r->phases_run - 1) * d->cfg.barrier_cycles;
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
 * phases with a barrier, every value through modelled memory: in part 1
 * each core copies a contiguous share of the size column (u32 in global
 * memory) into UB, sums it on the scalar unit and writes the share's total
 * (u64) to a global array; in part 2 each core copies that array in, adds
 * the totals of the shares before its own, and writes the offsets of its
 * share (u64) back to global memory through UB. */
int enec_npu_scan_sizes(npu_device *d, npu_report *r, uint32_t *sizes, uint64_t n, uint64_t base, uint64_t *at)
{
    const int C = d->cfg.cores;
    const uint32_t cap = 2048; /* sizes per piece */
    npu_gm gsz = {(uint8_t *)sizes, n * 4}, gat = {(uint8_t *)at, n * 8}, gtot;
    uint64_t *tot = (uint64_t *)calloc((size_t)C, sizeof(uint64_t));
    if (!tot) return enec_npu_fail(d, NPU_ERR_NOMEM, "out of host memory"), -1;
    gtot.base = (uint8_t *)tot, gtot.size = (uint64_t)C * 8;
    for (int pass = 0; pass < 2 && !d->err; pass++) {
        int rank = 0;
        for (int c = 0; c < C && !d->err; c++) {
            uint64_t lo = n * (uint64_t)c / (uint64_t)C, hi = n * (uint64_t)(c + 1) / (uint64_t)C;
            enec_npu_core_begin(d, c);
            if (hi == lo) continue; /* its total stays 0 */
            d->rank = rank++, d->active = n < (uint64_t)C ? (int)n : C;
            uint32_t in = enec_npu_ub_alloc(d, cap * 4), ob = enec_npu_ub_alloc(d, cap * 8);
            uint64_t acc = 0;
            if (pass == 1) {
                /* base is a kernel argument; the earlier shares' totals come from global memory */
                uint32_t tb = enec_npu_ub_alloc(d, (uint32_t)C * 8);
                double t = enec_npu_dma_in(d, tb, &gtot, 0, (uint64_t)C * 8, 1, 0);
                enec_npu_wait(d, PIPE_S, t);
                acc = base;
                for (int k = 0; k < c && !d->err; k++) {
                    acc += enec_npu_scalar_load(d, tb + 8u * (uint32_t)k, 8);
                    enec_npu_scalar(d, 1, 0, 0);
                }
            }
            for (uint64_t p = lo; p < hi && !d->err; p += cap) {
                uint32_t m = (uint32_t)(hi - p < cap ? hi - p : cap);
                /* the previous piece's offsets must have left before ob is rewritten */
                if (pass == 1) enec_npu_wait(d, PIPE_S, enec_npu_clock(d, PIPE_MTE3));
                double t = enec_npu_dma_in(d, in, &gsz, p * 4, (uint64_t)m * 4, 1, enec_npu_clock(d, PIPE_S));
                enec_npu_wait(d, PIPE_S, t);
                for (uint32_t i = 0; i < m && !d->err; i++) {
                    if (pass == 1) enec_npu_scalar_store(d, ob + 8 * i, acc, 8);
                    acc += enec_npu_scalar_load(d, in + 4 * i, 4);
                    enec_npu_scalar(d, 1, 0, 0);
                }
                if (pass == 1) enec_npu_dma_out(d, &gat, p * 8, ob, (uint64_t)m * 8, 1, enec_npu_clock(d, PIPE_S));
            }
            if (pass == 0) {
                enec_npu_scalar_store(d, ob, acc, 8);
                enec_npu_dma_out(d, &gtot, (uint64_t)c * 8, ob, 8, 1, enec_npu_clock(d, PIPE_S));
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
        d->active = j->l->nblocks < (uint64_t)C ? (int)j->l->nblocks : C;
        uint32_t cap = (uint32_t)j->stage_block;
        uint32_t buf[2] = {enec_npu_ub_alloc(d, cap ? cap : 32), enec_npu_ub_alloc(d, cap ? cap : 32)};
        double freed[2] = {0, 0};
        uint64_t i = 0;
        for (uint64_t blk = (uint64_t)c; blk < j->l->nblocks && !d->err; blk += (uint64_t)C, i++) {
            enec_npu_scalar(d, 1, 2, 0); /* the block's size and offset: scalar loads from global memory */
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

int enec_npu_dtype_ok(const enec_dtype_info *di)
{
    return di && (di->dtype == ENEC_DTYPE_BF16 || di->dtype == ENEC_DTYPE_FP16 || di->dtype == ENEC_DTYPE_FP32);
}

/* ---- V1..V3 as a tensor backend of the frame layer (frame.h) -------------------
 * The frame chooses the parameters, writes the header and block table,
 * computes and checks the CRCs and falls back to a stored stream; the
 * device runs the kernels, the cross-core scan and the HIGH moves. */
typedef struct {
    const npu_config *cfg;
    int variant;
    npu_report *rep;
    npu_device d;
    int live;                /* d is initialised */
    npu_job j;
    uint8_t *stage;
    uint32_t *F;
    uint64_t *at;
    uint8_t tables[1536];
} npu_run;

static int run_supports(void *ctx, const enec_dtype_info *di, enec_mode mode)
{
    (void)ctx;
    return mode == ENEC_MODE_FAST && enec_npu_dtype_ok(di); /* the NPU runs the fast mode only */
}

/* The device, set up before the frame runs so that a bad configuration is
 * reported whatever the data (0 or an error code). */
static size_t run_init(npu_run *u, const npu_config *cfg, int variant, npu_report *rep)
{
    memset(u, 0, sizeof *u);
    u->cfg = cfg, u->variant = variant, u->rep = rep, u->live = 1;
    return enec_npu_device_init(&u->d, cfg) ? device_error(&u->d, rep) : 0;
}

/* Host arrays for a launch over l. */
static size_t run_start(npu_run *u, const enec_layout *l)
{
    u->rep->nblocks = l->nblocks;
    u->F = (uint32_t *)calloc(l->nblocks, sizeof(uint32_t));
    u->at = (uint64_t *)calloc(l->nblocks, sizeof(uint64_t));
    if (!u->F || !u->at) return ENEC_ERROR(NOMEM);
    enec_npu_fill_tables(u->tables, &l->p, l->di->ebits);
    memset(&u->j, 0, sizeof u->j);
    u->j.d = &u->d, u->j.l = l, u->j.variant = u->variant, u->j.F = u->F, u->j.at = u->at;
    return 0;
}

static size_t run_encode(void *ctx, const enec_layout *l, const uint8_t *src, uint8_t *dst, uint32_t *var_size)
{
    npu_run *u = (npu_run *)ctx;
    size_t r = run_start(u, l);
    if (r) return r;
    const uint64_t nbytes = l->count * l->di->itemsize, stored = l->table_off + nbytes;
    u->j.stage_block = (uint64_t)ENEC_BLOCK * (l->p.n - l->p.m) / 8;
    u->stage = (uint8_t *)malloc(u->j.stage_block * l->nblocks + 1);
    if (!u->stage) return ENEC_ERROR(NOMEM);
    /* Global memory holds the tensor, the stream and the staging area. */
    if (enec_npu_gm_place(&u->d, &u->j.src, (void *)src, nbytes) || enec_npu_gm_place(&u->d, &u->j.dst, dst, stored) ||
        enec_npu_gm_place(&u->d, &u->j.stage, u->stage, u->j.stage_block * l->nblocks) ||
        enec_npu_gm_place(&u->d, &u->j.tables, u->tables, sizeof u->tables) ||
        enec_npu_gm_place(&u->d, &u->j.Fgm, u->F, l->nblocks * 4))
        return device_error(&u->d, u->rep);
    for (int c = 0; c < u->cfg->cores && !u->d.err; c++) enec_npu_encode_core(&u->j, c);
    if (u->d.err) return device_error(&u->d, u->rep);
    u->rep->slots = u->j.slots;
    enec_npu_end_phase(&u->d, u->rep, 0);
    const uint64_t gbytes = enec_high_group_bytes(&l->p);
    for (uint64_t i = 0; i < l->nblocks; i++) var_size[i] = (uint32_t)(u->F[i] * gbytes);
    return 0;
}

static size_t run_place(void *ctx, const enec_layout *l, uint8_t *dst, const uint32_t *var_size)
{
    npu_run *u = (npu_run *)ctx;
    (void)dst; /* j.dst is this stream */
    uint32_t *sizes = (uint32_t *)malloc(sizeof(uint32_t) * l->nblocks + 1);
    if (!sizes) return ENEC_ERROR(NOMEM);
    memcpy(sizes, var_size, sizeof(uint32_t) * l->nblocks);
    int bad = enec_npu_scan_sizes(&u->d, u->rep, sizes, l->nblocks, l->high_off, u->at) ||
              enec_npu_move_payloads(&u->d, u->rep, &u->j, sizes, u->at);
    free(sizes);
    if (bad) return device_error(&u->d, u->rep);
    u->rep->coded = 1;
    return 0;
}

static size_t run_decode(void *ctx, const enec_layout *l, const uint8_t *src, uint8_t *dst, const uint32_t *var_size,
                         const int64_t *aux)
{
    npu_run *u = (npu_run *)ctx;
    size_t r = run_start(u, l);
    if (r) return r;
    uint64_t var = 0;
    uint32_t *sizes = (uint32_t *)malloc(sizeof(uint32_t) * l->nblocks + 1);
    if (!sizes) return ENEC_ERROR(NOMEM);
    for (uint64_t i = 0; i < l->nblocks; i++) u->F[i] = (uint32_t)aux[i], sizes[i] = var_size[i], var += var_size[i];
    if (enec_npu_gm_place(&u->d, &u->j.src, (void *)src, l->high_off + var) ||
        enec_npu_gm_place(&u->d, &u->j.dst, dst, l->count * l->di->itemsize) ||
        enec_npu_gm_place(&u->d, &u->j.tables, u->tables, sizeof u->tables) ||
        enec_npu_scan_sizes(&u->d, u->rep, sizes, l->nblocks, l->high_off, u->at)) {
        free(sizes);
        return device_error(&u->d, u->rep);
    }
    free(sizes);
    /* the scan phases ran first; the main kernel is phase 0 in the report */
    for (int c = 0; c < u->cfg->cores && !u->d.err; c++) enec_npu_decode_core(&u->j, c);
    if (u->d.err) return device_error(&u->d, u->rep);
    u->rep->slots = u->j.slots;
    enec_npu_end_phase(&u->d, u->rep, 0);
    u->rep->coded = 1;
    return 0;
}

static const enec_tensor_backend npu_backend = {"npu", run_supports, run_encode, run_place, run_decode};

/* After a launch: the report's totals, and the device and host arrays freed. */
static size_t run_end(npu_run *u, size_t result)
{
    if (u->live) {
        if (!enec_is_error(result) && u->rep->bytes_in + u->rep->bytes_out) enec_npu_finish_report(&u->d, u->rep);
        enec_npu_device_free(&u->d);
    }
    free(u->stage), free(u->F), free(u->at);
    return result;
}

size_t enec_npu_compress(const npu_config *cfg, int variant, void *dst, size_t cap, const void *src,
                         const enec_tensor *t, const enec_params *forced, npu_report *rep)
{
    uint64_t count, nbytes;
    if (report_init(rep, cfg, variant)) return ENEC_ERROR(NOMEM);
    if (variant < 0 || variant >= NPU_VARIANTS || !enec_tensor_check(t, &count, &nbytes) || !dst || (!src && count))
        return ENEC_ERROR(BAD_ARGUMENT);
    rep->original_bytes = nbytes;
    enec_options o = {0};
    o.params = forced;
    if (variant == NPU_V0) {
        /* V0 writes its own container (docs/NPU.md), with the parameters the
         * fast mode would choose. */
        const enec_dtype_info *di = enec_dtype_lookup(t->dtype);
        if (!enec_npu_dtype_ok(di) || count == 0) return ENEC_ERROR(BAD_ARGUMENT);
        const enec_mode_ops *mo = enec_mode_lookup(ENEC_MODE_FAST);
        enec_layout l;
        enec_params p = {0, 1, 0, 16, 0};
        void *state = NULL;
        enec_frame_layout(&l, NULL, di, di->itemsize, &p, count, t->ndim, t->descr_len);
        size_t r = mo->choose(&l, (const uint8_t *)src, &o, &enec_kernels_ref, &p, &state);
        if (enec_is_error(r)) return r;
        npu_device d;
        if (enec_npu_device_init(&d, cfg)) {
            size_t e = device_error(&d, rep);
            enec_npu_device_free(&d);
            return e;
        }
        size_t rr = enec_npu_v0_compress(&d, rep, dst, cap, (const uint8_t *)src, t, count, &p);
        if (d.err) rr = device_error(&d, rep);
        else enec_npu_finish_report(&d, rep);
        enec_npu_device_free(&d);
        return rr;
    }
    npu_run u;
    size_t r = run_init(&u, cfg, variant, rep);
    if (!r) r = enec_frame_compress(dst, cap, src, t, &o, &npu_backend, &u);
    if (!enec_is_error(r)) rep->stream_bytes = r, rep->coded = ((const uint8_t *)dst)[6] != ENEC_MODE_STORED;
    return run_end(&u, r);
}

size_t enec_npu_decompress(const npu_config *cfg, int variant, void *dst, size_t cap, const void *src, size_t size,
                           npu_report *rep)
{
    if (report_init(rep, cfg, variant)) return ENEC_ERROR(NOMEM);
    if (variant < 0 || variant >= NPU_VARIANTS || !src || (!dst && cap)) return ENEC_ERROR(BAD_ARGUMENT);
    if (variant == NPU_V0) {
        npu_device d;
        if (enec_npu_device_init(&d, cfg)) {
            size_t e = device_error(&d, rep);
            enec_npu_device_free(&d);
            return e;
        }
        size_t rr = enec_npu_v0_decompress(&d, rep, dst, cap, (const uint8_t *)src, size);
        if (d.err && d.err != NPU_ERR_CORRUPT) rr = device_error(&d, rep);
        else if (!enec_is_error(rr)) enec_npu_finish_report(&d, rep);
        enec_npu_device_free(&d);
        return rr;
    }
    npu_run u;
    size_t r = run_init(&u, cfg, variant, rep);
    if (!r) r = enec_frame_decompress(dst, cap, src, size, NULL, &npu_backend, &u);
    if (!enec_is_error(r)) rep->original_bytes = r, rep->stream_bytes = size;
    return run_end(&u, r);
}

int enec_npu_probe(const npu_config *cfg, const char *name, int64_t arg, char *msg, size_t msgcap, double *vcycles)
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
        } else if (!strcmp(name, "race")) {
            /* a copy in, then an add reading it: with arg != 0 the add waits for the copy's flag */
            uint32_t buf = enec_npu_ub_alloc(&d, 1024);
            double t = enec_npu_dma_in(&d, buf, &g, 0, 512, 0, 0);
            if (arg) enec_npu_wait(&d, PIPE_V, t);
            v_add16(&d, buf + 512, buf, buf, 256);
        } else if (!strcmp(name, "bank_ww")) {
            /* one Duplicate repeat whose 8 blocks are arg blocks apart (the guide's write/write example) */
            uint32_t buf = enec_npu_ub_alloc(&d, 65536);
            uint32_t bs = (uint32_t)(arg < 1 ? 1 : arg > 200 ? 200 : arg);
            v_dup16_strided(&d, (buf + 511) / 512 * 512, 1, bs, 8 * bs, 1);
        } else if (!strcmp(name, "bank_rw")) {
            /* one 128-lane add repeat: sources at 0 and 256 bytes (all 16 groups read once), the
             * destination arg bytes after the first (the guide's read/write example) */
            uint32_t buf = enec_npu_ub_alloc(&d, 98304);
            uint32_t src = (buf + 511) / 512 * 512;
            uint32_t off = (uint32_t)(arg < 512 ? 512 : arg > 65536 ? 65536 : arg) & ~31u;
            v_add16(&d, src + off, src, src + 256, 128);
        } else {
            enec_npu_fail(&d, NPU_ERR_ARG, "unknown probe %s", name);
        }
    }
    if (vcycles) *vcycles = d.stats ? d.stats[0].busy[PIPE_V] : 0;
    int e = d.err;
    if (msg && msgcap) snprintf(msg, msgcap, "%s", e ? d.msg : "");
    enec_npu_device_free(&d);
    return e;
}
