/* device.c - the 910B2 model's state and costs: configuration defaults, UB arena, global memory, DMA, scalar unit, pipe clocks. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "device.h"

static const char *const opclass_names[OP_COUNT] = {
    "add", "mul16", "mul32", "logic", "shift", "dup", "ci", "cmp", "select", "conv",
    "gather", "gathermask", "transpose", "reduce", "cumsum"};

const char *enec_npu_opclass_name(int op) { return op >= 0 && op < OP_COUNT ? opclass_names[op] : "?"; }

void enec_npu_config_default(npu_config *c)
{
    memset(c, 0, sizeof *c);
    c->cores = 48;
    c->clock_ghz = 1.8;
    c->ub_bytes = 196608;
    c->gm_bytes = 64ull << 30;
    c->hbm_gbps = 1600.0;
    c->mte2_bytes_per_cycle = 87.0;
    c->mte3_bytes_per_cycle = 64.0;
    c->dma_read_latency = 320;
    c->dma_write_latency = 180;
    c->dma_unaligned_factor = 0.7;
    /* The one fitted parameter (benchmarks/npu_calibrate.py): an
     * instruction's latency from leaving the pipe to its result, fitted on V3
     * bf16 decompression against the paper's 213.8 GB/s; a priori 20 (pypto:
     * completion = issue + delay + 15). tests/test_npu.py redoes the fit. */
    c->vec_startup = 119;
    c->mask_cycles = 8;
    c->scalar_load = 6;
    c->scalar_store = 4;
    c->scalar_alu = 2;
    c->scalar_issue = 1;
    c->max_repeat = 255;
    c->dma_burst_bytes = 512; /* pypto: data moves in 512 B pieces */
    /* Free choices (no public figure; docs/NPU.md, sensitivity in benchmarks/npu_calibrate.py). */
    c->launch_cycles = 5400;  /* 3 us */
    c->barrier_cycles = 1800; /* 1 us per SyncAll */
    c->flag_cycles = 8;       /* like the other control-register writes (mask: 8) */
    c->queue_depth = 32;
    c->bank_conflicts = 1;
    c->race_check = 1;
    c->vec_overlap = 1;
    /* Cycles per 256-byte repeat (docs/NPU.md, "Cost table"). */
    double *t = c->cycles_per_repeat;
    t[OP_ADD] = 1;        /* add/sub/adds/max/min: 256 B per cycle */
    t[OP_MUL16] = 2;      /* int16 multiply: 128 B per cycle */
    t[OP_MUL32] = 2;
    t[OP_LOGIC] = 1;
    t[OP_SHIFT] = 1;
    t[OP_DUP] = 1;
    t[OP_CI] = 1;
    t[OP_CMP] = 1;
    t[OP_SEL] = 1;
    t[OP_CONV] = 1;
    t[OP_GATHER] = 8;     /* no published figure: our choice, one 32-byte block per cycle */
    t[OP_GATHERMASK] = 2; /* 128 B per cycle */
    t[OP_TRANSPOSE] = 2;
    t[OP_REDUCE] = 7;     /* cross-lane reductions: about 7x an add */
    t[OP_CUMSUM] = 7;
}

int enec_npu_fail(npu_device *d, int code, const char *fmt, ...)
{
    if (d->err) return 0;
    d->err = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->msg, sizeof d->msg, fmt, ap);
    va_end(ap);
    return 0;
}

int enec_npu_device_init(npu_device *d, const npu_config *cfg)
{
    memset(d, 0, sizeof *d);
    d->cfg = *cfg;
    if (cfg->cores < 1 || cfg->cores > 4096 || cfg->ub_bytes < 1024 || cfg->ub_bytes > (1u << 30) ||
        !(cfg->clock_ghz > 0) || !(cfg->hbm_gbps > 0) || !(cfg->mte2_bytes_per_cycle > 0) ||
        !(cfg->mte3_bytes_per_cycle > 0) || !(cfg->dma_unaligned_factor > 0) || cfg->max_repeat < 1 ||
        cfg->max_repeat > 255 || cfg->queue_depth < 1 || cfg->queue_depth > NPU_QUEUE_MAX ||
        cfg->dma_burst_bytes < 32 || cfg->dma_burst_bytes > (1u << 20)) {
        return enec_npu_fail(d, NPU_ERR_ARG, "device configuration out of range"), -1;
    }
    for (int i = 0; i < OP_COUNT; i++)
        if (!(cfg->cycles_per_repeat[i] >= 0)) return enec_npu_fail(d, NPU_ERR_ARG, "negative cost"), -1;
    d->ub = (uint8_t *)calloc(cfg->ub_bytes, 1);
    d->stats = (npu_core_stats *)calloc((size_t)cfg->cores, sizeof *d->stats);
    d->ready = (double *)calloc(cfg->ub_bytes / 32 + 1, sizeof(double));
    d->read_until = (double *)calloc(cfg->ub_bytes / 32 + 1, sizeof(double));
    d->vready = (double *)calloc(cfg->ub_bytes / 32 + 1, sizeof(double));
    if (!d->ub || !d->stats || !d->ready || !d->read_until || !d->vready) return enec_npu_fail(d, NPU_ERR_NOMEM, "out of host memory"), -1;
    return 0;
}

void enec_npu_device_free(npu_device *d)
{
    free(d->ub);
    free(d->stats);
    free(d->ready);
    free(d->read_until);
    free(d->vready);
    free(d->hbm_bins);
    d->ub = NULL;
    d->stats = NULL;
    d->ready = d->read_until = d->vready = d->hbm_bins = NULL;
}

int enec_npu_gm_place(npu_device *d, npu_gm *g, void *base, uint64_t size)
{
    g->base = (uint8_t *)base;
    g->size = size;
    /* Allocations on the device are 512-byte aligned, as the runtime's are. */
    uint64_t rounded = (size + 511) / 512 * 512;
    if (d->gm_used + rounded > d->cfg.gm_bytes)
        return enec_npu_fail(d, NPU_ERR_GM_OVERFLOW, "global memory full: %llu + %llu bytes > %llu",
                             (unsigned long long)d->gm_used, (unsigned long long)rounded,
                             (unsigned long long)d->cfg.gm_bytes), -1;
    d->gm_used += rounded;
    return 0;
}

void enec_npu_core_begin(npu_device *d, int core)
{
    d->core = core;
    d->rank = core, d->active = d->cfg.cores; /* the driver narrows these when fewer cores have work */
    d->ub_top = 32;
    /* Stale data from the previous core must not leak into this one's
     * results, as it could not on hardware: a fresh, zeroed arena. */
    memset(d->ub, 0, d->cfg.ub_bytes);
    memset(d->ready, 0, sizeof(double) * (d->cfg.ub_bytes / 32 + 1));
    memset(d->read_until, 0, sizeof(double) * (d->cfg.ub_bytes / 32 + 1));
    memset(d->vready, 0, sizeof(double) * (d->cfg.ub_bytes / 32 + 1));
    d->nvec = 0;
}

void enec_npu_hbm_reset(npu_device *d)
{
    if (d->hbm_bins) memset(d->hbm_bins, 0, sizeof(double) * d->hbm_nbins);
}

/* The race detector. Times are the cycles of the core now running; UB is
 * per core, so the arrays are reset with it. */
int enec_npu_ub_read(npu_device *d, uint32_t off, uint64_t bytes, double t, double until, const char *what)
{
    if (d->err || !d->cfg.race_check || !bytes) return 1;
    uint64_t b0 = off / 32, b1 = (off + bytes + 31) / 32;
    for (uint64_t b = b0; b < b1; b++) {
        if (d->ready[b] > t + 1e-9)
            return enec_npu_fail(d, NPU_ERR_RACE, "race: %s reads UB %llu at cycle %.0f but its data lands at %.0f "
                                 "(a missing wait for the DMA or instruction that writes it)", what,
                                 (unsigned long long)(b * 32), t, d->ready[b]);
        if (until > d->read_until[b]) d->read_until[b] = until;
    }
    return 1;
}

int enec_npu_ub_write(npu_device *d, uint32_t off, uint64_t bytes, double t, double end, const char *what)
{
    if (d->err || !d->cfg.race_check || !bytes) return 1;
    uint64_t b0 = off / 32, b1 = (off + bytes + 31) / 32;
    for (uint64_t b = b0; b < b1; b++) {
        if (d->read_until[b] > t + 1e-9)
            return enec_npu_fail(d, NPU_ERR_RACE, "race: %s overwrites UB %llu at cycle %.0f while a reader needs it "
                                 "until %.0f (a missing wait for the slot's release)", what,
                                 (unsigned long long)(b * 32), t, d->read_until[b]);
        if (d->ready[b] > t + 1e-9)
            return enec_npu_fail(d, NPU_ERR_RACE, "race: %s writes UB %llu at cycle %.0f before an earlier write "
                                 "lands at %.0f", what, (unsigned long long)(b * 32), t, d->ready[b]);
        d->ready[b] = end;
    }
    return 1;
}

uint32_t enec_npu_ub_alloc(npu_device *d, uint32_t bytes)
{
    if (d->err) return 0;
    uint64_t size = ((uint64_t)bytes + 31) / 32 * 32;
    if (d->ub_top + size > d->cfg.ub_bytes) {
        enec_npu_fail(d, NPU_ERR_UB_OVERFLOW, "Unified Buffer overflow: %u bytes in use, %llu more requested, "
                      "capacity %u", d->ub_top, (unsigned long long)size, d->cfg.ub_bytes);
        return 0;
    }
    uint32_t off = d->ub_top;
    d->ub_top += (uint32_t)size;
    if (d->ub_top > d->ub_peak) d->ub_peak = d->ub_top;
    return off;
}

int enec_npu_ub_check(npu_device *d, uint32_t off, uint64_t bytes, const char *what)
{
    if (d->err) return 0;
    if (off < 32 || (uint64_t)off + bytes > d->ub_top)
        return enec_npu_fail(d, NPU_ERR_BOUNDS, "%s: UB range [%u, %llu) outside the allocated buffer (top %u)",
                             what, off, (unsigned long long)off + bytes, d->ub_top);
    return 1;
}

/* Bytes a copy occupies the engine for: whole bursts, even for a padded copy. */
static double dma_moved(const npu_device *d, uint64_t bytes)
{
    uint64_t q = d->cfg.dma_burst_bytes;
    return (double)((bytes + q - 1) / q * q);
}

/* Move `bytes` from cycle t0 at up to `rate` bytes per cycle through the
 * shared HBM: all cores together cannot move more than hbm_gbps in any bin
 * of the timeline. Cores are simulated one after another (core 0 first), so
 * the k-th core with work may take at most an equal share of what the cores
 * before it left, (room) / (active - k): when every active core streams
 * each gets 1/active of the bandwidth, and what one leaves goes to the later ones.
 * Returns the cycle the last byte moves. */
static double hbm_transfer(npu_device *d, double t0, double bytes, double rate)
{
    const double W = NPU_HBM_BIN, cap = d->cfg.hbm_gbps / d->cfg.clock_ghz * W;
    double t = t0, left = bytes;
    while (left > 1e-9) {
        size_t b = (size_t)(t / W);
        if (b >= d->hbm_nbins) {
            size_t n = d->hbm_nbins ? d->hbm_nbins : 1024;
            while (n <= b) n *= 2;
            double *nb = (double *)realloc(d->hbm_bins, n * sizeof(double));
            if (!nb) return t + left / rate; /* out of host memory: unshared */
            memset(nb + d->hbm_nbins, 0, (n - d->hbm_nbins) * sizeof(double));
            d->hbm_bins = nb, d->hbm_nbins = n;
        }
        int left_cores = d->active - d->rank;
        double span = (double)(b + 1) * W - t, room = (cap - d->hbm_bins[b]) / (double)(left_cores > 0 ? left_cores : 1);
        double can = rate * span < room ? rate * span : room;
        if (can < 0) can = 0;
        if (can >= left) {
            d->hbm_bins[b] += left;
            return t + span * left / can;
        }
        d->hbm_bins[b] += can;
        left -= can;
        t = (double)(b + 1) * W;
    }
    return t;
}

static int dma_check(npu_device *d, uint32_t ub_off, const npu_gm *g, uint64_t gm_off, uint64_t bytes, int pad,
                     const char *what)
{
    if (d->err) return 0;
    if (ub_off % 32)
        return enec_npu_fail(d, NPU_ERR_ALIGN, "%s: UB address %u is not 32-byte aligned", what, ub_off);
    if (!pad && bytes % 32)
        return enec_npu_fail(d, NPU_ERR_ALIGN, "%s: DataCopy of %llu bytes is not a multiple of 32 "
                             "(use the padded copy)", what, (unsigned long long)bytes);
    if (!enec_npu_ub_check(d, ub_off, bytes, what)) return 0;
    if (gm_off > g->size || bytes > g->size - gm_off)
        return enec_npu_fail(d, NPU_ERR_BOUNDS, "%s: global memory range [%llu, +%llu) outside its region of %llu",
                             what, (unsigned long long)gm_off, (unsigned long long)bytes,
                             (unsigned long long)g->size);
    return 1;
}

/* One copy on MTE pipe `pipe`: the scalar unit queues it (and a WaitFlag
 * when it waits on an event), the engine starts when free and the event
 * has fired, moves the bytes through the shared HBM at the core's rate, and
 * the copy completes a latency later. The engine is free again when its
 * bytes have moved: latencies of successive copies overlap. */
static double dma(npu_device *d, int pipe, uint64_t gm_off, uint64_t bytes, double after, double *xfer_start,
                  double *xfer_end)
{
    npu_core_stats *s = &d->stats[d->core];
    const npu_config *c = &d->cfg;
    double issue = c->scalar_issue + (after > 0 ? c->flag_cycles : 0);
    s->clock[PIPE_S] += issue;
    s->busy[PIPE_S] += issue;
    double start = s->clock[pipe];
    if (after > start) start = after;
    if (s->clock[PIPE_S] > start) start = s->clock[PIPE_S];
    double rate = pipe == PIPE_MTE2 ? c->mte2_bytes_per_cycle : c->mte3_bytes_per_cycle;
    if (gm_off % 512) rate *= c->dma_unaligned_factor;
    uint32_t lat = pipe == PIPE_MTE2 ? c->dma_read_latency : c->dma_write_latency;
    double moved = dma_moved(d, bytes), done;
    if (pipe == PIPE_MTE2) {
        /* reads: the request travels, then the bytes stream from HBM */
        double end = hbm_transfer(d, start + lat, moved, rate);
        s->clock[pipe] = end - lat;
        done = end;
        *xfer_start = start + lat, *xfer_end = end;
    } else {
        /* writes: the bytes leave UB and stream to HBM, then land a latency later */
        double end = hbm_transfer(d, start, moved, rate);
        s->clock[pipe] = end;
        done = end + lat;
        *xfer_start = start, *xfer_end = end;
    }
    s->busy[pipe] += s->clock[pipe] - start;
    if (done > s->dma_done[pipe]) s->dma_done[pipe] = done;
    return done;
}

double enec_npu_dma_in(npu_device *d, uint32_t ub_off, const npu_gm *g, uint64_t gm_off, uint64_t bytes, int pad,
                       double after)
{
    npu_core_stats *s = &d->stats[d->core];
    if (!dma_check(d, ub_off, g, gm_off, bytes, pad, "dma_in")) return s->clock[PIPE_MTE2];
    if (bytes) memcpy(d->ub + ub_off, g->base + gm_off, (size_t)bytes);
    double x0, x1, done = dma(d, PIPE_MTE2, gm_off, bytes, after, &x0, &x1);
    enec_npu_ub_write(d, ub_off, bytes, x0, done, "dma_in");
    s->bytes_in += bytes;
    return done;
}

double enec_npu_dma_out(npu_device *d, const npu_gm *g, uint64_t gm_off, uint32_t ub_off, uint64_t bytes, int pad,
                        double after)
{
    npu_core_stats *s = &d->stats[d->core];
    if (!dma_check(d, ub_off, g, gm_off, bytes, pad, "dma_out")) return s->clock[PIPE_MTE3];
    if (bytes) memcpy(g->base + gm_off, d->ub + ub_off, (size_t)bytes);
    double x0, x1, done = dma(d, PIPE_MTE3, gm_off, bytes, after, &x0, &x1);
    enec_npu_ub_read(d, ub_off, bytes, x0, x1, "dma_out");
    s->bytes_out += bytes;
    return done;
}

void enec_npu_scalar(npu_device *d, uint32_t alu_ops, uint32_t loads, uint32_t stores)
{
    npu_core_stats *s = &d->stats[d->core];
    double c = (double)alu_ops * d->cfg.scalar_alu + (double)loads * d->cfg.scalar_load +
               (double)stores * d->cfg.scalar_store;
    s->clock[PIPE_S] += c;
    s->busy[PIPE_S] += c;
}

/* The scalar unit cannot see a vector result before the vector pipe has
 * finished: it stalls until then. */
static void scalar_sync(npu_device *d)
{
    npu_core_stats *s = &d->stats[d->core];
    if (s->clock[PIPE_V] > s->clock[PIPE_S]) s->clock[PIPE_S] = s->clock[PIPE_V];
}

uint32_t enec_npu_scalar_read_u16(npu_device *d, uint32_t ub_off)
{
    if (ub_off % 2 || !enec_npu_ub_check(d, ub_off, 2, "scalar load")) return 0;
    scalar_sync(d);
    enec_npu_scalar(d, 0, 1, 0);
    double t = d->stats[d->core].clock[PIPE_S];
    if (!enec_npu_ub_read(d, ub_off, 2, t, t, "scalar load")) return 0;
    return (uint32_t)d->ub[ub_off] | ((uint32_t)d->ub[ub_off + 1] << 8);
}

void enec_npu_scalar_write_u16(npu_device *d, uint32_t ub_off, uint16_t v)
{
    if (ub_off % 2 || !enec_npu_ub_check(d, ub_off, 2, "scalar store")) return;
    scalar_sync(d);
    enec_npu_scalar(d, 0, 0, 1);
    double t = d->stats[d->core].clock[PIPE_S];
    if (!enec_npu_ub_write(d, ub_off, 2, t, t, "scalar store")) return;
    d->ub[ub_off] = (uint8_t)v;
    d->ub[ub_off + 1] = (uint8_t)(v >> 8);
}

uint64_t enec_npu_scalar_load(npu_device *d, uint32_t ub_off, unsigned bytes)
{
    if (ub_off % bytes || !enec_npu_ub_check(d, ub_off, bytes, "scalar load")) return 0;
    scalar_sync(d);
    enec_npu_scalar(d, 0, 1, 0);
    double t = d->stats[d->core].clock[PIPE_S];
    if (!enec_npu_ub_read(d, ub_off, bytes, t, t, "scalar load")) return 0;
    uint64_t v = 0;
    for (unsigned i = 0; i < bytes; i++) v |= (uint64_t)d->ub[ub_off + i] << (8 * i);
    return v;
}

void enec_npu_scalar_store(npu_device *d, uint32_t ub_off, uint64_t v, unsigned bytes)
{
    if (ub_off % bytes || !enec_npu_ub_check(d, ub_off, bytes, "scalar store")) return;
    scalar_sync(d);
    enec_npu_scalar(d, 0, 0, 1);
    double t = d->stats[d->core].clock[PIPE_S];
    if (!enec_npu_ub_write(d, ub_off, bytes, t, t, "scalar store")) return;
    for (unsigned i = 0; i < bytes; i++) d->ub[ub_off + i] = (uint8_t)(v >> (8 * i));
}

uint32_t enec_npu_scalar_read_count(npu_device *d)
{
    scalar_sync(d);
    enec_npu_scalar(d, 0, 1, 0);
    return d->gm_cnt;
}

void enec_npu_wait(npu_device *d, int pipe, double t)
{
    npu_core_stats *s = &d->stats[d->core];
    /* A WaitFlag: the scalar unit issues it, the pipe holds until the event. */
    s->clock[PIPE_S] += d->cfg.flag_cycles;
    s->busy[PIPE_S] += d->cfg.flag_cycles;
    if (t > s->clock[pipe]) s->clock[pipe] = t;
    if (pipe == PIPE_V && t > s->vissue) s->vissue = t;
}

double enec_npu_vdep(const npu_device *d, uint32_t off, uint64_t bytes)
{
    double t = 0;
    uint64_t b1 = ((uint64_t)off + bytes + 31) / 32, lim = d->cfg.ub_bytes / 32 + 1;
    for (uint64_t b = off / 32; b < b1 && b < lim; b++)
        if (d->vready[b] > t) t = d->vready[b];
    return t;
}

void enec_npu_vdone(npu_device *d, uint32_t off, uint64_t bytes, double end)
{
    uint64_t b1 = ((uint64_t)off + bytes + 31) / 32, lim = d->cfg.ub_bytes / 32 + 1;
    for (uint64_t b = off / 32; b < b1 && b < lim; b++) d->vready[b] = end;
}

double enec_npu_charge_vector(npu_device *d, int op, uint64_t repeats, int masked, double bank_cycles, double dep,
                              double *end)
{
    npu_core_stats *s = &d->stats[d->core];
    const npu_config *c = &d->cfg;
    uint64_t instrs = repeats ? (repeats + c->max_repeat - 1) / c->max_repeat : 1;
    /* The scalar unit issues each instruction into a queue of queue_depth
     * entries: it stalls while the queue is full, i.e. until the
     * instruction queue_depth places earlier has started. */
    double issue = (double)instrs * c->scalar_issue + (masked ? c->mask_cycles : 0);
    s->clock[PIPE_S] += issue;
    s->busy[PIPE_S] += issue;
    if (d->nvec >= c->queue_depth) {
        double free_at = d->vstart[(d->nvec - c->queue_depth) % NPU_QUEUE_MAX];
        if (free_at > s->clock[PIPE_S]) {
            s->queue_stall += free_at - s->clock[PIPE_S];
            s->clock[PIPE_S] = free_at;
        }
    }
    double plain = (double)repeats * c->cycles_per_repeat[op];
    double work = bank_cycles > plain ? bank_cycles : plain;
    double start, cyc, done;
    if (c->vec_overlap) {
        /* pypto: an instruction occupies the pipe for its repeats and
         * completes vec_startup later; the next one may start as soon as the
         * pipe is free unless it reads or writes what an unfinished one
         * writes (in-order issue, a PipeBarrier on a dependency). */
        start = s->vissue > s->clock[PIPE_S] ? s->vissue : s->clock[PIPE_S];
        if (dep > start) start = dep;
        cyc = work + (double)(instrs - 1) * c->vec_startup;
        done = start + cyc + c->vec_startup;
        s->vissue = start + cyc;
        if (done > s->clock[PIPE_V]) s->clock[PIPE_V] = done;
    } else {
        /* every instruction pays its startup in series */
        start = s->clock[PIPE_V] > s->clock[PIPE_S] ? s->clock[PIPE_V] : s->clock[PIPE_S];
        cyc = (double)instrs * c->vec_startup + work;
        done = start + cyc;
        s->clock[PIPE_V] = s->vissue = done;
    }
    d->vstart[d->nvec % NPU_QUEUE_MAX] = start;
    d->nvec++;
    s->busy[PIPE_V] += cyc;
    s->bank_extra += work - plain;
    s->vec_instr += instrs;
    s->op_count[op] += instrs;
    s->op_cycles[op] += done - start;
    if (end) *end = done;
    return start;
}
