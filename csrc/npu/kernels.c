/* kernels.c - ENEC's compress and decompress kernels written against the modelled vector ISA, V0..V3 of the paper's ablation. */
#include <string.h>
#include "isa.h"
#include "kernels.h"

static uint32_t r32(uint32_t v) { return (v + 31) / 32 * 32; }

int enec_npu_pack_runs(uint32_t n, unsigned w, uint32_t *len)
{
    int r = 0;
    while (w > 0) {
        while (w < 8) n >>= 1, w <<= 1;
        len[r++] = n;
        w -= 8;
    }
    return r;
}

/* UB bytes for the runs of a pack, each run on its own 32-byte boundary. */
static uint32_t runs_area(uint32_t n, unsigned w)
{
    uint32_t len[8], a = 0;
    int nr = enec_npu_pack_runs(n, w, len);
    for (int i = 0; i < nr; i++) a += r32(len[i]);
    return a;
}

/* A core's working set. Offsets are UB byte addresses. */
typedef struct {
    npu_device *d;
    const enec_layout *l;
    int variant, linear, decoupled;
    unsigned b, n, m, L, h, E;
    uint32_t slot[2], nslots, slot_bytes;
    uint32_t y, t, z;            /* B-lane 16-bit work arrays (z: float32 encode only) */
    uint32_t offs, tmp;          /* NPU_CH u32 offsets and u16 lanes */
    uint32_t bits;               /* a block's group mask, 128 bytes + slack */
    uint32_t f, T, rank, off, ob, one; /* the scan (decode) */
    uint32_t tab;                /* transform table (V0, V1) */
    uint32_t wd, mx;             /* V0: per-group widths, per-group max codes (G lanes) */
    uint32_t pbits;              /* V0: a second group pattern */
    uint32_t fword;              /* encode: a block's F on its way to global memory */
    double fword_free;
} kctx;

/* ---- halving pack / unpack (FORMAT.md section 4) on UB lanes ---------------- */

/* v[i] |= v[half + i] << w for i < half. When v + half is not on the 32-byte
 * grid the upper half is brought to an aligned scratch with a gather first. */
static void fold_or(kctx *k, uint32_t v, uint32_t half, unsigned w)
{
    npu_device *d = k->d;
    if (half % 16 == 0) {
        uint32_t up = v + 2 * half;
        if (w) v_shl16(d, up, up, w, half);
        v_or16(d, v, v, up, half);
        return;
    }
    for (uint32_t c0 = 0; c0 < half && !d->err; c0 += NPU_CH) {
        uint32_t cn = half - c0 < NPU_CH ? half - c0 : NPU_CH;
        v_ci32(d, k->offs, 2 * (half + c0), 2, 0, cn);
        v_gather16(d, k->tmp, v, k->offs, 0, cn);
        if (w) v_shl16(d, k->tmp, k->tmp, w, cn);
        v_or16(d, v + 2 * c0, v + 2 * c0, k->tmp, cn);
    }
}

/* Pack n lanes at v (clobbered) of w bits; run r goes to area + ..., its
 * UB address and length into ub[r], len[r]. Returns the number of runs. */
static int pack(kctx *k, uint32_t v, uint32_t n, unsigned w, uint32_t area, uint32_t *ub, uint32_t *len)
{
    npu_device *d = k->d;
    int r = 0;
    while (w > 0 && !d->err) {
        while (w < 8) {
            n >>= 1;
            fold_or(k, v, n, w);
            w <<= 1;
        }
        v_narrow8(d, area, v, n);
        ub[r] = area, len[r] = n, r++;
        area += r32(n);
        w -= 8;
        if (w) v_shr16(d, v, v, 8, 0, n);
    }
    return r;
}

/* Lanes [half, 2 half) of v = lanes [0, half) of v, for a half that is not on
 * the grid: masked gathers into aligned windows of the destination. */
static void copy_up(kctx *k, uint32_t v, uint32_t half)
{
    npu_device *d = k->d;
    for (uint32_t c0 = 0; c0 < half && !d->err; c0 += NPU_CH - 16) {
        uint32_t cn = half - c0 < NPU_CH - 16 ? half - c0 : NPU_CH - 16;
        uint32_t A = (half + c0) & ~15u, lo = half + c0 - A;
        v_ci32(d, k->offs, 2 * c0, 2, lo, lo + cn);
        v_gather16(d, v + 2 * A, v, k->offs, lo, lo + cn);
    }
}

/* Inverse of pack: runs at ub[0..] (already in UB) -> n lanes of w bits at v. */
static void unpack(kctx *k, uint32_t v, uint32_t n, unsigned w, const uint32_t *ub)
{
    npu_device *d = k->d;
    if (w == 0) {
        v_dup16(d, v, 0, 0, n);
        return;
    }
    unsigned s = 0;
    while ((w << s) < 8) s++;
    uint32_t nn = n >> s;
    unsigned W = w << s;
    if (W == 8) {
        v_widen8(d, v, ub[0], nn);
    } else {
        unpack(k, v, nn, W - 8, ub + 1);
        v_shl16(d, v, v, 8, nn);
        for (uint32_t c0 = 0; c0 < nn && !d->err; c0 += NPU_CH) {
            uint32_t cn = nn - c0 < NPU_CH ? nn - c0 : NPU_CH;
            v_widen8(d, k->tmp, ub[0] + c0, cn);
            v_or16(d, v + 2 * c0, v + 2 * c0, k->tmp, cn);
        }
    }
    for (int st = (int)s - 1; st >= 0; st--) {
        uint32_t half = n >> (st + 1);
        unsigned ws = w << st;
        uint16_t mask = (uint16_t)((1u << ws) - 1);
        if (half % 16 == 0) {
            v_shr16(d, v + 2 * half, v, ws, 0, half);
        } else {
            copy_up(k, v, half);
            v_shr16(d, v, v, ws, half, 2 * half);
        }
        v_ands16(d, v, v, mask, 0, half);
    }
}

/* ---- exponent transform ----------------------------------------------------- */

/* y = (b - x) mod 2^n in place: linear (subtract, negate, two shifts) or a
 * table gather (V0, V1). */
static void code(kctx *k, uint32_t y, uint32_t B)
{
    npu_device *d = k->d;
    if (k->linear) {
        v_adds16(d, y, y, (int16_t)-(int)k->b, B);
        v_muls16(d, y, y, -1, B);
        v_shl16(d, y, y, 16 - k->n, B);
        v_shr16(d, y, y, 16 - k->n, 0, B);
        return;
    }
    for (uint32_t c0 = 0; c0 < B && !d->err; c0 += NPU_CH) {
        uint32_t cn = B - c0 < NPU_CH ? B - c0 : NPU_CH;
        v_widen16(d, k->offs, y + 2 * c0, cn);
        v_shl32(d, k->offs, k->offs, 1, cn);
        v_gather16(d, y + 2 * c0, k->tab, k->offs, 0, cn);
    }
}

/* x = (b - sext_n(y)) mod 2^E in place. */
static void uncode(kctx *k, uint32_t y, uint32_t B)
{
    npu_device *d = k->d;
    if (k->linear) {
        v_shl16(d, y, y, 16 - k->n, B);
        v_sar16(d, y, y, 16 - k->n, B);
        v_muls16(d, y, y, -1, B);
        v_adds16(d, y, y, (int16_t)k->b, B);
        v_ands16(d, y, y, (uint16_t)((1u << k->E) - 1), 0, B);
        return;
    }
    for (uint32_t c0 = 0; c0 < B && !d->err; c0 += NPU_CH) {
        uint32_t cn = B - c0 < NPU_CH ? B - c0 : NPU_CH;
        v_widen16(d, k->offs, y + 2 * c0, cn);
        v_shl32(d, k->offs, k->offs, 1, cn);
        v_gather16(d, y + 2 * c0, k->tab, k->offs, 0, cn);
    }
}

/* ---- UB plan ---------------------------------------------------------------- */

/* Where a block's pieces sit in its slot (offsets from the slot start). */
typedef struct {
    uint32_t raw2;        /* r3 runs (float16) or r16 (float32) */
    uint32_t low, mask, high;
    uint32_t g;           /* decode: gathered HIGH lanes */
    uint32_t size;
} slot_plan;

static slot_plan plan_v0(const kctx *k, uint32_t B, int decode);

static slot_plan plan_slot(const kctx *k, uint32_t B, int decode)
{
    if (k->variant == NPU_V0) return plan_v0(k, B, decode);
    slot_plan p;
    memset(&p, 0, sizeof p);
    enec_dtype dt = k->l->di->dtype;
    uint32_t lowA = runs_area(B, k->m), highA = runs_area(B, k->h), maskA = r32((B / k->L + 7) / 8);
    uint32_t in = B * k->l->di->itemsize, size;
    if (!decode) {
        if (dt == ENEC_DTYPE_FP16) {
            /* r3 is packed while the input is still live, so it goes past it. */
            p.raw2 = 2 * B;
            p.low = r32(B);
            p.mask = p.low + lowA;
            p.high = 2 * B + runs_area(B, 3);
            if (p.mask + maskA > p.raw2) { /* small blocks: LOW and MASK after r3 too */
                p.low = p.high;
                p.mask = p.low + lowA;
                p.high = p.mask + maskA;
            }
            size = p.high + highA;
        } else {
            uint32_t raw_end = dt == ENEC_DTYPE_FP32 ? r32(B) + 2 * B : r32(B);
            p.raw2 = r32(B);
            p.low = raw_end;
            p.mask = p.low + lowA;
            p.high = p.mask + maskA;
            size = p.high + highA;
        }
        if (in > size) size = in;
    } else {
        uint32_t raw_end = r32(B);
        p.raw2 = r32(B);
        if (dt == ENEC_DTYPE_FP16) raw_end += runs_area(B, 3);
        if (dt == ENEC_DTYPE_FP32) raw_end += 2 * B;
        p.low = raw_end;
        p.mask = p.low + lowA;
        p.high = p.mask + maskA;
        p.g = raw_end;
        size = p.high + highA;
        if (p.g + 2 * B > size) size = p.g + 2 * B;
        if (in > size) size = in;
    }
    p.size = r32(size);
    return p;
}

static int setup(kctx *k, npu_job *j, int core, int decode)
{
    npu_device *d = j->d;
    memset(k, 0, sizeof *k);
    k->d = d;
    k->l = j->l;
    k->variant = j->variant;
    k->linear = j->variant >= NPU_V2;
    k->decoupled = j->variant >= NPU_V3;
    const enec_params *p = &j->l->p;
    k->b = p->b, k->n = p->n, k->m = p->m, k->L = p->L, k->h = p->n - p->m, k->E = j->l->di->ebits;
    enec_npu_core_begin(d, core);
    /* blocks are dealt round-robin: the first min(cores, nblocks) cores have work */
    d->active = j->l->nblocks < (uint64_t)d->cfg.cores ? (int)j->l->nblocks : d->cfg.cores;
    const uint32_t B = ENEC_BLOCK;
    slot_plan sp = plan_slot(k, B, decode);
    /* Fixed buffers first; then two slots if they fit, else one. */
    k->y = enec_npu_ub_alloc(d, 2 * B);
    k->t = enec_npu_ub_alloc(d, 2 * B);
    /* V0 gathers each width class into z, so it needs z for every dtype. */
    if (!decode && (j->l->di->dtype == ENEC_DTYPE_FP32 || j->variant == NPU_V0)) k->z = enec_npu_ub_alloc(d, 2 * B);
    k->offs = enec_npu_ub_alloc(d, 4 * NPU_CH);
    k->tmp = enec_npu_ub_alloc(d, 2 * NPU_CH);
    k->bits = enec_npu_ub_alloc(d, 256);
    if (!decode) k->fword = enec_npu_ub_alloc(d, 64); /* F, then (V0) the 16 class counts */
    if (!k->linear || j->variant == NPU_V0) k->tab = enec_npu_ub_alloc(d, 1024);
    if (decode) {
        uint32_t Gp = ENEC_BLOCK / 16; /* largest G, a multiple of 256 */
        k->f = enec_npu_ub_alloc(d, 2 * Gp);
        k->rank = enec_npu_ub_alloc(d, 2 * Gp);
        k->ob = enec_npu_ub_alloc(d, 4 * Gp);
        k->one = enec_npu_ub_alloc(d, 2 * Gp);
        if (k->decoupled) {
            k->T = enec_npu_ub_alloc(d, 2 * Gp);
            k->off = enec_npu_ub_alloc(d, 2 * (Gp / 16 < 16 ? 16 : Gp / 16));
        }
    }
    if (j->variant == NPU_V0) {
        uint32_t Gp = ENEC_BLOCK / 16;
        k->wd = enec_npu_ub_alloc(d, 2 * Gp);
        k->pbits = enec_npu_ub_alloc(d, 256);
        if (!decode) {
            k->mx = enec_npu_ub_alloc(d, 2 * Gp);
            k->f = enec_npu_ub_alloc(d, 2 * Gp);
            k->one = enec_npu_ub_alloc(d, 2 * Gp);
        }
    }
    if (d->err) return -1;
    uint32_t free_bytes = d->cfg.ub_bytes - d->ub_top;
    k->nslots = free_bytes >= 2 * sp.size ? 2 : 1;
    k->slot_bytes = sp.size;
    for (uint32_t s = 0; s < k->nslots; s++) k->slot[s] = enec_npu_ub_alloc(d, sp.size);
    if (d->err) return -1;
    j->slots = (int)k->nslots;
    if (k->tab) enec_npu_dma_in(d, k->tab, &j->tables, decode ? 512 : 0, decode ? 1024 : 512, 0, 0);
    if (k->one) v_dup16(d, k->one, 0x0001, 0, ENEC_BLOCK / 16); /* a flag: the half subnormal 2^-24 */
    return d->err ? -1 : 0;
}

/* ---- compress --------------------------------------------------------------- */

/* Split the input at slot S into codes (k->y) and raw parts, written to their
 * places in the slot; padding lanes [valid, B) get code 0 and raw 0. */
static void split(kctx *k, uint32_t S, const slot_plan *sp, uint32_t B, uint32_t valid, uint32_t *r3ub,
                  uint32_t *r3len, int *nr3)
{
    npu_device *d = k->d;
    uint32_t y = k->y, t = k->t, u = S;
    switch (k->l->di->dtype) {
    case ENEC_DTYPE_FP16:
        v_shr16(d, t, u, 13, 0, B);
        v_ands16(d, t, t, 4, 0, B);
        v_shr16(d, y, u, 8, 0, B);
        v_ands16(d, y, y, 3, 0, B);
        v_or16(d, t, t, y, B); /* r3 */
        v_shr16(d, y, u, 10, 0, B);
        v_ands16(d, y, y, 0x1F, 0, B);
        code(k, y, B);
        v_ands16(d, u, u, 0xFF, 0, B); /* r8 lanes, in place */
        if (valid < B) {
            v_dup16(d, y, 0, valid, B);
            v_dup16(d, t, 0, valid, B);
            v_dup16(d, u, 0, valid, B);
        }
        *nr3 = pack(k, t, B, 3, S + sp->raw2, r3ub, r3len);
        v_narrow8(d, t, u, B);
        v_ands16(d, S, t, 0xFFFF, 0, (B + 1) / 2); /* r8 bytes to the slot (the input is dead) */
        return;
    case ENEC_DTYPE_FP32:
        v_pick16(d, k->z, u, 1, B); /* high halves: a bfloat16 */
        v_pick16(d, t, u, 0, B);    /* low halves: r16, stored raw */
        if (valid < B) v_dup16(d, t, 0, valid, B);
        v_ands16(d, S + sp->raw2, t, 0xFFFF, 0, B);
        u = k->z;
        break;
    case ENEC_DTYPE_BF16: break;
    default: return; /* the driver launches bfloat16, float16 and float32 only (enec_npu_dtype_ok) */
    }
    v_shr16(d, y, u, 7, 0, B);
    v_ands16(d, y, y, 0xFF, 0, B);
    code(k, y, B);
    v_shr16(d, t, u, 8, 0, B);
    v_ands16(d, t, t, 0x80, 0, B);
    v_ands16(d, u, u, 0x7F, 0, B);
    v_or16(d, t, t, u, B);
    if (valid < B) {
        v_dup16(d, y, 0, valid, B);
        v_dup16(d, t, 0, valid, B);
    }
    v_narrow8(d, S, t, B);
}

/* Timeline events of one core: when each slot may be refilled. */
typedef struct {
    double slot_free[2];
} events;

static int v0_encode_block(kctx *k, npu_job *j, uint64_t blk, uint32_t S, double in_done, double *slot_free);
static double v0_decode_load(kctx *k, npu_job *j, uint64_t blk, uint32_t S, double after, uint32_t *wub,
                             uint32_t *r3ub);
static int v0_decode_block(kctx *k, npu_job *j, uint64_t blk, uint32_t S, const uint32_t *wub,
                           const uint32_t *r3ub, double in_done, double *slot_free);

static int encode_block(kctx *k, npu_job *j, uint64_t blk, uint32_t S, double in_done, double *slot_free)
{
    npu_device *d = k->d;
    const enec_layout *l = k->l;
    const uint32_t B = enec_block_B(l, blk), valid = enec_block_valid(l, blk), G = B / k->L;
    slot_plan sp = plan_slot(k, B, 0);
    uint32_t r3ub[4], r3len[4], lowub[4], lowlen[4], hiub[4], hilen[4];
    int nr3 = 0, nlow = 0, nhi = 0;
    if (!(d->cfg.fault & 1)) enec_npu_wait(d, PIPE_V, in_done);

    split(k, S, &sp, B, valid, r3ub, r3len, &nr3);
    const uint32_t y = k->y, t = k->t, maskub = S + sp.mask;

    /* Flagged groups: OR-fold the block in half until one lane per group
     * (groups are strided, so halves are whole groups), then compare. */
    uint32_t cnt = B;
    if ((B / 2) % 16 == 0 && B / 2 >= G) {
        v_or16(d, t, y, y + B, B / 2);
        cnt = B / 2;
    } else {
        v_ands16(d, t, y, 0xFFFF, 0, B);
    }
    while (cnt > G) {
        fold_or(k, t, cnt / 2, 0);
        cnt /= 2;
    }
    v_cmpgt_f16(d, maskub, t, (uint16_t)((1u << k->m) - 1), G);

    if (k->m) {
        v_ands16(d, t, y, (uint16_t)((1u << k->m) - 1), 0, B);
        nlow = pack(k, t, B, k->m, S + sp.low, lowub, lowlen);
    }
    uint32_t F = 0;
    if (k->h) {
        v_shr16(d, t, y, k->m, 0, B);
        v_gathermask16(d, y, t, maskub, G, B);
        /* The kept count decides the HIGH size: a scalar read of a vector result. */
        uint32_t kept = enec_npu_scalar_read_count(d);
        enec_npu_scalar(d, 1, 0, 0);
        F = kept / k->L;
        if (F) nhi = pack(k, y, k->L * F, k->h, S + sp.high, hiub, hilen);
    }
    if (d->err) return -1;
    double done = enec_npu_clock(d, PIPE_V);
    if (enec_npu_clock(d, PIPE_S) > done) done = enec_npu_clock(d, PIPE_S);

    /* Results out; the slot is free again when the last copy has left. */
    const npu_gm *o = &j->dst;
    uint64_t raw_at = l->raw_off + blk * l->raw_block;
    enec_npu_dma_out(d, o, raw_at, S, B, 1, done);
    if (l->di->dtype == ENEC_DTYPE_FP16) {
        uint64_t at = raw_at + B;
        for (int r = 0; r < nr3; r++) at = (enec_npu_dma_out(d, o, at, r3ub[r], r3len[r], 1, done), at + r3len[r]);
    } else if (l->di->dtype == ENEC_DTYPE_FP32) {
        enec_npu_dma_out(d, o, raw_at + B, S + sp.raw2, 2ull * B, 1, done);
    }
    uint64_t at = l->low_off + blk * l->low_block;
    for (int r = 0; r < nlow; r++) at = (enec_npu_dma_out(d, o, at, lowub[r], lowlen[r], 1, done), at + lowlen[r]);
    enec_npu_dma_out(d, o, l->mask_off + blk * l->mask_block, maskub, (G + 7) / 8, 1, done);
    at = blk * j->stage_block;
    for (int r = 0; r < nhi; r++)
        at = (enec_npu_dma_out(d, &j->stage, at, hiub[r], hilen[r], 1, done), at + hilen[r]);
    /* F to global memory through UB, for the frame's block table and the
     * merge: the word may be rewritten once the previous block's copy of it
     * has left (the race detector checks). */
    enec_npu_wait(d, PIPE_S, k->fword_free);
    enec_npu_scalar_store(d, k->fword, F, 4);
    enec_npu_dma_out(d, &j->Fgm, blk * 4, k->fword, 4, 1, enec_npu_clock(d, PIPE_S));
    k->fword_free = enec_npu_clock(d, PIPE_MTE3);
    *slot_free = enec_npu_clock(d, PIPE_MTE3);
    return d->err ? -1 : 0;
}

static double load_block_in(kctx *k, npu_job *j, uint64_t blk, uint32_t S, double after)
{
    const enec_layout *l = k->l;
    uint32_t isz = l->di->itemsize;
    return enec_npu_dma_in(k->d, S, &j->src, blk * ENEC_BLOCK * isz, (uint64_t)enec_block_valid(l, blk) * isz,
                           1, after);
}

int enec_npu_encode_core(npu_job *j, int core)
{
    kctx k;
    if (setup(&k, j, core, 0)) return -1;
    npu_device *d = j->d;
    const uint64_t step = (uint64_t)d->cfg.cores;
    double slot_free[2] = {0, 0}, in_done = 0;
    uint64_t blk = (uint64_t)core;
    if (blk < j->l->nblocks) in_done = load_block_in(&k, j, blk, k.slot[0], 0);
    for (uint64_t i = 0; blk < j->l->nblocks; blk += step, i++) {
        uint32_t s = (uint32_t)(i % k.nslots);
        double next_in = 0;
        /* Double buffering: the next block's input is requested before this
         * block is computed, into the other slot once that slot is free. */
        if (k.nslots == 2 && blk + step < j->l->nblocks)
            next_in = load_block_in(&k, j, blk + step, k.slot[1 - s], d->cfg.fault & 2 ? 0 : slot_free[1 - s]);
        int bad = k.variant == NPU_V0 ? v0_encode_block(&k, j, blk, k.slot[s], in_done, &slot_free[s])
                                      : encode_block(&k, j, blk, k.slot[s], in_done, &slot_free[s]);
        if (bad) return -1;
        if (k.nslots == 1 && blk + step < j->l->nblocks)
            next_in = load_block_in(&k, j, blk + step, k.slot[0], slot_free[0]);
        in_done = next_in;
    }
    return d->err ? -1 : 0;
}

/* ---- decompress ------------------------------------------------------------- */

/* Exclusive prefix sum of the G flags at k->f (half lanes, 0x0001 or 0) into
 * k->rank (integers; below 2048 a half pattern equals its count). */
static uint32_t scan(kctx *k, uint32_t G)
{
    npu_device *d = k->d;
    if (!k->decoupled) {
        /* Sequential: one scalar load, add and store per group. */
        uint32_t r = 0;
        for (uint32_t jg = 0; jg < G && !d->err; jg++) {
            uint32_t fl = enec_npu_scalar_read_u16(d, k->f + 2 * jg);
            enec_npu_scalar_write_u16(d, k->rank + 2 * jg, (uint16_t)r);
            enec_npu_scalar(d, 1, 0, 0);
            r += fl;
        }
        return r;
    }
    /* Dependency-decoupled: rows of 16 flags, transposed so that the scan
     * along a row becomes adds between different 32-byte segments; the row
     * totals (at most 64) are scanned by the scalar unit and added back. */
    uint32_t Gp = (G + 255) / 256 * 256, nt = Gp / 256, R = nt * 16;
    if (Gp > G) v_dup16(d, k->f, 0, G, Gp);
    uint32_t T = k->T, row = 2 * R;
    v_transpose16(d, T, row, 32, k->f, 32, 512, nt);
    for (uint32_t c = 1; c < 16; c++) v_addf16(d, T + c * row, T + c * row, T + (c - 1) * row, R);
    uint32_t acc = 0;
    for (uint32_t r = 0; r < R && !d->err; r++) {
        uint32_t tot = enec_npu_scalar_read_u16(d, T + 15 * row + 2 * r);
        enec_npu_scalar_write_u16(d, k->off + 2 * r, (uint16_t)acc);
        enec_npu_scalar(d, 1, 0, 0);
        acc += tot;
    }
    for (uint32_t c = 0; c < 16; c++) v_addf16(d, T + c * row, T + c * row, k->off, R);
    v_transpose16(d, k->rank, 32, 512, T, row, 32, nt);
    v_sub16(d, k->rank, k->rank, k->f, Gp);
    return acc;
}

/* HIGH lanes (unpacked at k->t, L rows of F) to every element of the block
 * at g: g[k G + j] = high[k F + rank j], zero where group j is not flagged. */
static void gather_high(kctx *k, uint32_t g, uint32_t G, uint32_t F, uint32_t B)
{
    npu_device *d = k->d;
    const uint32_t L = k->L;
    v_widen16(d, k->ob, k->rank, G);
    v_shl32(d, k->ob, k->ob, 1, G);
    if (G % 16 == 0) {
        /* Several rows per instruction: offsets for rows kk..kk+r-1 at once. */
        uint32_t r = NPU_CH / G ? NPU_CH / G : 1;
        if (r > L) r = L;
        uint32_t rowsz = G;
        if (r * G > NPU_CH) {
            /* G > NPU_CH: one row at a time, through the per-row offsets in ob */
            for (uint32_t kk = 0; kk < L && !d->err; kk++) {
                if (kk) v_adds32(d, k->ob, k->ob, (int32_t)(2 * F), 0, G);
                v_gather16(d, g + 2 * kk * G, k->t, k->ob, 0, G);
            }
        } else {
            for (uint32_t q = 0; q < r; q++) v_adds32(d, k->offs + 4 * q * rowsz, k->ob, (int32_t)(2 * q * F), 0, G);
            for (uint32_t kk = 0; kk < L && !d->err; kk += r) {
                if (kk) v_adds32(d, k->offs, k->offs, (int32_t)(2 * r * F), 0, r * G);
                v_gather16(d, g + 2 * kk * G, k->t, k->offs, 0, r * G);
            }
        }
    } else {
        /* A ragged last block (rows off the 32-byte grid): gather a piece of
         * a row to the scratch, then place it with a masked gather. */
        const uint32_t piece = NPU_CH - 16;
        for (uint32_t kk = 0; kk < L && !d->err; kk++) {
            if (kk) v_adds32(d, k->ob, k->ob, (int32_t)(2 * F), 0, G);
            for (uint32_t c0 = 0; c0 < G && !d->err; c0 += piece) {
                uint32_t cn = G - c0 < piece ? G - c0 : piece;
                v_gather16(d, k->tmp, k->t, k->ob + 4 * c0, 0, cn);
                uint32_t A = (kk * G + c0) & ~15u, lo = kk * G + c0 - A;
                v_ci32(d, k->offs, 0, 2, lo, lo + cn);
                v_gather16(d, g + 2 * A, k->tmp, k->offs, lo, lo + cn);
            }
        }
    }
    v_sels16(d, g, k->bits, G, g, 0, B);
}

/* Runs of a packed section laid out in UB from `area`, and their DMA in from `gm_at`. */
static int load_runs(kctx *k, const npu_gm *src, uint64_t gm_at, uint32_t n, unsigned w, uint32_t area, uint32_t *ub,
                     double after)
{
    uint32_t len[8];
    int nr = enec_npu_pack_runs(n, w, len);
    for (int r = 0; r < nr; r++) {
        ub[r] = area;
        enec_npu_dma_in(k->d, area, src, gm_at, len[r], 1, after);
        area += r32(len[r]);
        gm_at += len[r];
    }
    return nr;
}

typedef struct {
    uint32_t lowub[4], hiub[4], r3ub[4];
    uint32_t F;
} dec_in;

static double decode_load(kctx *k, npu_job *j, uint64_t blk, uint32_t S, double after, dec_in *in)
{
    if (k->variant == NPU_V0) return v0_decode_load(k, j, blk, S, after, in->lowub, in->r3ub);
    npu_device *d = k->d;
    const enec_layout *l = k->l;
    const uint32_t B = enec_block_B(l, blk), G = B / k->L;
    slot_plan sp = plan_slot(k, B, 1);
    /* The block's F comes from its table entry (checked by the host). */
    enec_npu_scalar(d, 2, 1, 0);
    in->F = j->F[blk];
    uint64_t raw_at = l->raw_off + blk * l->raw_block;
    enec_npu_dma_in(d, S, &j->src, raw_at, B, 1, after);
    if (l->di->dtype == ENEC_DTYPE_FP16) load_runs(k, &j->src, raw_at + B, B, 3, S + sp.raw2, in->r3ub, after);
    if (l->di->dtype == ENEC_DTYPE_FP32) enec_npu_dma_in(d, S + sp.raw2, &j->src, raw_at + B, 2ull * B, 1, after);
    load_runs(k, &j->src, l->low_off + blk * l->low_block, B, k->m, S + sp.low, in->lowub, after);
    enec_npu_dma_in(d, S + sp.mask, &j->src, l->mask_off + blk * l->mask_block, (G + 7) / 8, 1, after);
    if (in->F) load_runs(k, &j->src, j->at[blk], k->L * in->F, k->h, S + sp.high, in->hiub, after);
    return enec_npu_dma_done(d, PIPE_MTE2);
}

/* Codes at k->y (exponents after uncode) and the raw parts in the slot ->
 * the original elements at S. g is B lanes of scratch. */
static void recombine(kctx *k, uint32_t S, const slot_plan *sp, uint32_t g, const uint32_t *r3ub, uint32_t B)
{
    npu_device *d = k->d;
    const uint32_t y = k->y, t = k->t;
    switch (k->l->di->dtype) {
    case ENEC_DTYPE_FP16:
        unpack(k, t, B, 3, r3ub);
        v_widen8(d, g, S, B);
        v_shl16(d, y, y, 10, B);
        v_or16(d, y, y, g, B);
        v_ands16(d, g, t, 4, 0, B);
        v_shl16(d, g, g, 13, B);
        v_or16(d, y, y, g, B);
        v_ands16(d, t, t, 3, 0, B);
        v_shl16(d, t, t, 8, B);
        v_or16(d, S, y, t, B);
        break;
    case ENEC_DTYPE_BF16:
    case ENEC_DTYPE_FP32:
        /* sign and mantissa of r8 in place: sign-extend the byte, keep bit 15 and 6..0 */
        v_widen8(d, t, S, B);
        v_shl16(d, t, t, 8, B);
        v_sar16(d, t, t, 8, B);
        v_ands16(d, t, t, 0x807F, 0, B);
        v_shl16(d, y, y, 7, B);
        if (k->l->di->dtype == ENEC_DTYPE_BF16) {
            v_or16(d, S, y, t, B);
        } else { /* float32 */
            v_or16(d, y, y, t, B);
            v_ands16(d, t, S + sp->raw2, 0xFFFF, 0, B);
            v_zip16(d, S, t, y, B);
        }
        break;
    default: break; /* not launched (enec_npu_dtype_ok) */
    }
}

static int decode_block(kctx *k, npu_job *j, uint64_t blk, uint32_t S, const dec_in *in, double in_done,
                        double *slot_free)
{
    if (k->variant == NPU_V0) return v0_decode_block(k, j, blk, S, in->lowub, in->r3ub, in_done, slot_free);
    npu_device *d = k->d;
    const enec_layout *l = k->l;
    const uint32_t B = enec_block_B(l, blk), valid = enec_block_valid(l, blk), G = B / k->L, F = in->F;
    slot_plan sp = plan_slot(k, B, 1);
    const uint32_t y = k->y, t = k->t, g = S + sp.g;
    if (!(d->cfg.fault & 1)) enec_npu_wait(d, PIPE_V, in_done); /* fault bit 0: the test of the race detector */

    unpack(k, y, B, k->m, in->lowub);
    if (F) {
        v_ands16(d, k->bits, S + sp.mask, 0xFFFF, 0, r32((G + 7) / 8) / 2); /* the mask outlives its slot area */
        unpack(k, t, k->L * F, k->h, in->hiub);
        v_sels16(d, k->f, k->bits, G, k->one, 0, G);
        scan(k, G);
        gather_high(k, g, G, F, B);
        if (k->m) v_shl16(d, g, g, k->m, B);
        v_or16(d, y, y, g, B);
    }
    uncode(k, y, B);
    recombine(k, S, &sp, g, in->r3ub, B);
    if (d->err) return -1;
    double done = enec_npu_clock(d, PIPE_V);
    uint32_t isz = l->di->itemsize;
    enec_npu_dma_out(d, &j->dst, blk * ENEC_BLOCK * isz, S, (uint64_t)valid * isz, 1, done);
    *slot_free = enec_npu_clock(d, PIPE_MTE3);
    return d->err ? -1 : 0;
}

int enec_npu_decode_core(npu_job *j, int core)
{
    kctx k;
    if (setup(&k, j, core, 1)) return -1;
    npu_device *d = j->d;
    const uint64_t step = (uint64_t)d->cfg.cores;
    double slot_free[2] = {0, 0}, in_done = 0;
    dec_in in[2];
    uint64_t blk = (uint64_t)core;
    if (blk < j->l->nblocks) in_done = decode_load(&k, j, blk, k.slot[0], 0, &in[0]);
    for (uint64_t i = 0; blk < j->l->nblocks; blk += step, i++) {
        uint32_t s = (uint32_t)(i % k.nslots);
        double next_in = 0;
        /* fault bit 1 (tests only) drops the wait for the slot's release */
        double release = d->cfg.fault & 2 ? 0 : slot_free[1 - s];
        if (k.nslots == 2 && blk + step < j->l->nblocks)
            next_in = decode_load(&k, j, blk + step, k.slot[1 - s], release, &in[1 - s]);
        if (decode_block(&k, j, blk, k.slot[s], &in[s], in_done, &slot_free[s])) return -1;
        if (k.nslots == 1 && blk + step < j->l->nblocks)
            next_in = decode_load(&k, j, blk + step, k.slot[0], slot_free[0], &in[0]);
        in_done = next_in;
    }
    return d->err ? -1 : 0;
}

/* ---- V0: per-group max width, one section per width class, one sequential scan ----
 *
 * The ablation's baseline on the standard block layout: strided groups, the
 * table transform, the raw parts and the halving packer of V1..V3. Each group j
 * of L codes gets the width w_j = bit length of its largest code (a max fold
 * instead of V1's OR fold and 1-bit mask). Where V1 keeps two widths (m bits
 * for every code, n - m more for the flagged groups), V0 keeps n + 1 classes:
 * the codes of the groups of width w are kept by a gather-mask whose pattern is
 * "w_j = w" and halving-packed at w bits (V1's HIGH, once per class). Decoding
 * needs each group's rank among the earlier groups of its width: one
 * sequential scalar pass with a counter per class (the sequential prefix sum),
 * then one gather per class. docs/NPU.md gives the payload layout. */

uint64_t enec_npu_v0_payload(const enec_layout *l, uint32_t B, const uint16_t *Fw)
{
    uint64_t G = B / l->p.L, bytes = G / 2 + (uint64_t)B * l->di->rawbits / 8;
    for (unsigned w = 1; w <= l->p.n; w++) bytes += (uint64_t)l->p.L * Fw[w - 1] * w / 8;
    return bytes;
}

/* Slot: raw parts where V1..V3 keep them, then the packed widths (mask),
 * then the classes one after another from `high` (at most n B / 8 bytes and
 * three 32-byte paddings a class), then (decode) g. */
static slot_plan plan_v0(const kctx *k, uint32_t B, int decode)
{
    slot_plan p;
    memset(&p, 0, sizeof p);
    enec_dtype dt = k->l->di->dtype;
    uint32_t G = B / k->L, in = B * k->l->di->itemsize, raw_end = r32(B);
    /* encode packs r3 while the fp16 input is still live: past the input */
    p.raw2 = (dt == ENEC_DTYPE_FP16 && !decode) ? 2 * B : r32(B);
    if (dt == ENEC_DTYPE_FP16) raw_end = p.raw2 + runs_area(B, 3);
    if (dt == ENEC_DTYPE_FP32) raw_end = r32(B) + 2 * B;
    p.mask = raw_end;
    p.high = p.mask + runs_area(G, 4);
    uint32_t end = p.high + k->n * (B / 8 + 3 * 32);
    if (decode) {
        p.g = r32(end);
        end = p.g + 2 * B;
    }
    p.size = r32(end > in ? end : in);
    return p;
}

/* The UB runs of class w (its L Fw[w-1] lanes at w bits) when the classes
 * lie one after another from `area`: fills ub, returns the run count. */
static int v0_class_runs(const kctx *k, uint32_t area, const uint16_t *Fw, unsigned w, uint32_t *ub)
{
    for (unsigned v = 1; v < w; v++)
        if (Fw[v - 1]) area += runs_area(k->L * Fw[v - 1], v);
    uint32_t len[8];
    int nr = enec_npu_pack_runs(k->L * Fw[w - 1], w, len);
    for (int r = 0; r < nr; r++) ub[r] = area, area += r32(len[r]);
    return nr;
}

/* The G-bit pattern of the groups of width exactly w, from a per-group
 * vector v (the max codes on encode, the widths on decode) and the two
 * bounds (w_j > lo) and (w_j > hi): the second set lies inside the first, so
 * subtracting the patterns as integers is their difference (no borrows). */
static void class_pattern(kctx *k, uint32_t dst, uint32_t v, uint16_t lo, uint16_t hi, uint32_t G)
{
    npu_device *d = k->d;
    v_cmpgt_f16(d, dst, v, lo, G);
    v_cmpgt_f16(d, k->pbits, v, hi, G);
    v_sub16(d, dst, dst, k->pbits, (G + 15) / 16);
}

static int v0_encode_block(kctx *k, npu_job *j, uint64_t blk, uint32_t S, double in_done, double *slot_free)
{
    npu_device *d = k->d;
    const enec_layout *l = k->l;
    const uint32_t B = enec_block_B(l, blk), valid = enec_block_valid(l, blk), G = B / k->L, L = k->L;
    slot_plan sp = plan_v0(k, B, 0);
    uint32_t r3ub[4], r3len[4], wub[2], wlen[2], cub[NPU_V0_CLASSES][4], clen[NPU_V0_CLASSES][4];
    int ncr[NPU_V0_CLASSES] = {0};
    uint16_t Fw[NPU_V0_CLASSES] = {0};
    int nr3 = 0;
    enec_npu_wait(d, PIPE_V, in_done);

    split(k, S, &sp, B, valid, r3ub, r3len, &nr3);
    const uint32_t y = k->y, t = k->t, z = k->z;

    /* Per-group max: groups are strided, so each half of the block is whole
     * rows; fold with max16 (codes < 2^9 are positive int16) to G lanes. */
    v_max16(d, t, y, y + B, B / 2);
    for (uint32_t cnt = B / 2; cnt > G; cnt /= 2) v_max16(d, t, t, t + cnt, cnt / 2);
    v_ands16(d, k->mx, t, 0xFFFF, 0, G);

    /* Widths: w_j = sum over p < n of [max_j > 2^p - 1]. Half compares of
     * patterns below 0x7C00 order like the integers. */
    v_dup16(d, k->wd, 0, 0, G);
    for (unsigned p = 0; p < k->n; p++) {
        v_cmpgt_f16(d, k->bits, k->mx, (uint16_t)((1u << p) - 1), G);
        v_sels16(d, k->f, k->bits, G, k->one, 0, G);
        v_add16(d, k->wd, k->wd, k->f, G);
    }
    /* Groups with a nonzero width, counted once: the class loop stops when
     * the classes have taken them all. */
    v_cmpgt_f16(d, k->bits, k->wd, 0, G);
    v_gathermask16(d, k->f, k->wd, k->bits, G, G);
    uint32_t left = enec_npu_scalar_read_count(d);
    uint32_t area = S + sp.high;
    for (unsigned w = 1; w <= k->n && left && !d->err; w++) {
        class_pattern(k, k->bits, k->wd, (uint16_t)(w - 1), (uint16_t)w, G);
        v_gathermask16(d, z, y, k->bits, G, B);
        /* The kept count sizes the class: a scalar read of a vector result. */
        uint32_t kept = enec_npu_scalar_read_count(d);
        enec_npu_scalar(d, 2, 0, 0);
        if (!kept) continue;
        Fw[w - 1] = (uint16_t)(kept / L);
        left -= kept / L;
        ncr[w - 1] = pack(k, z, kept, w, area, cub[w - 1], clen[w - 1]);
        area += runs_area(kept, w);
    }
    int nw = pack(k, k->wd, G, 4, S + sp.mask, wub, wlen);
    if (d->err) return -1;
    double done = enec_npu_clock(d, PIPE_V);
    if (enec_npu_clock(d, PIPE_S) > done) done = enec_npu_clock(d, PIPE_S);

    /* The payload to the block's staging slot: widths, raw parts, classes. */
    const npu_gm *o = &j->stage;
    const uint64_t base = blk * j->stage_block;
    uint64_t at = base;
    for (int r = 0; r < nw; r++) at = (enec_npu_dma_out(d, o, at, wub[r], wlen[r], 1, done), at + wlen[r]);
    enec_npu_dma_out(d, o, at, S, B, 1, done);
    at += B;
    if (l->di->dtype == ENEC_DTYPE_FP16) {
        for (int r = 0; r < nr3; r++) at = (enec_npu_dma_out(d, o, at, r3ub[r], r3len[r], 1, done), at + r3len[r]);
    } else if (l->di->dtype == ENEC_DTYPE_FP32) {
        enec_npu_dma_out(d, o, at, S + sp.raw2, 2ull * B, 1, done);
        at += 2ull * B;
    }
    for (unsigned c = 0; c < k->n; c++)
        for (int r = 0; r < ncr[c]; r++)
            at = (enec_npu_dma_out(d, o, at, cub[c][r], clen[c][r], 1, done), at + clen[c][r]);
    /* Payload size and class counts to global memory through UB (as V1..V3's F). */
    enec_npu_wait(d, PIPE_S, k->fword_free);
    enec_npu_scalar_store(d, k->fword, (uint32_t)(at - base), 4);
    for (unsigned c = 0; c < NPU_V0_CLASSES; c++) enec_npu_scalar_store(d, k->fword + 32 + 2 * c, Fw[c], 2);
    enec_npu_dma_out(d, &j->Fgm, blk * 4, k->fword, 4, 1, enec_npu_clock(d, PIPE_S));
    enec_npu_dma_out(d, &j->Fwgm, blk * 2 * NPU_V0_CLASSES, k->fword + 32, 2 * NPU_V0_CLASSES, 0,
                     enec_npu_clock(d, PIPE_S));
    k->fword_free = enec_npu_clock(d, PIPE_MTE3);
    *slot_free = enec_npu_clock(d, PIPE_MTE3);
    return d->err ? -1 : 0;
}

static double v0_decode_load(kctx *k, npu_job *j, uint64_t blk, uint32_t S, double after, uint32_t *wub,
                             uint32_t *r3ub)
{
    npu_device *d = k->d;
    const enec_layout *l = k->l;
    const uint32_t B = enec_block_B(l, blk), G = B / k->L;
    const uint16_t *Fw = j->Fw + blk * NPU_V0_CLASSES;
    slot_plan sp = plan_v0(k, B, 1);
    /* The block's table entry: payload offset and class counts (checked by the host). */
    enec_npu_scalar(d, 2 + k->n, 1 + k->n, 0);
    uint64_t at = j->at[blk];
    load_runs(k, &j->src, at, G, 4, S + sp.mask, wub, after);
    at += G / 2;
    enec_npu_dma_in(d, S, &j->src, at, B, 1, after);
    at += B;
    if (l->di->dtype == ENEC_DTYPE_FP16) {
        load_runs(k, &j->src, at, B, 3, S + sp.raw2, r3ub, after);
        at += 3ull * B / 8;
    } else if (l->di->dtype == ENEC_DTYPE_FP32) {
        enec_npu_dma_in(d, S + sp.raw2, &j->src, at, 2ull * B, 1, after);
        at += 2ull * B;
    }
    uint32_t area = S + sp.high;
    for (unsigned w = 1; w <= k->n; w++) {
        if (!Fw[w - 1]) continue;
        uint32_t ub[4], n = k->L * Fw[w - 1];
        load_runs(k, &j->src, at, n, w, area, ub, after);
        area += runs_area(n, w);
        at += (uint64_t)n * w / 8;
    }
    return enec_npu_dma_done(d, PIPE_MTE2);
}

static int v0_decode_block(kctx *k, npu_job *j, uint64_t blk, uint32_t S, const uint32_t *wub,
                           const uint32_t *r3ub, double in_done, double *slot_free)
{
    npu_device *d = k->d;
    const enec_layout *l = k->l;
    const uint32_t B = enec_block_B(l, blk), valid = enec_block_valid(l, blk), G = B / k->L;
    const uint16_t *Fw = j->Fw + blk * NPU_V0_CLASSES;
    slot_plan sp = plan_v0(k, B, 1);
    const uint32_t y = k->y, t = k->t, g = S + sp.g;
    enec_npu_wait(d, PIPE_V, in_done);

    unpack(k, k->wd, G, 4, wub);
    /* The sequential prefix sum: one scalar pass gives each group its rank
     * among the earlier groups of its width (a counter per width: load the
     * width, load and bump its counter, store the rank). */
    uint32_t count[16] = {0};
    for (uint32_t jg = 0; jg < G && !d->err; jg++) {
        uint32_t w = enec_npu_scalar_read_u16(d, k->wd + 2 * jg) & 15;
        enec_npu_scalar_write_u16(d, k->rank + 2 * jg, (uint16_t)count[w]);
        enec_npu_scalar(d, 1, 1, 1);
        count[w]++;
    }
    /* Every group in a class the table lists, with the table's count. */
    for (unsigned w = 1; w < 16 && !d->err; w++) {
        uint32_t want = w <= k->n ? Fw[w - 1] : 0;
        if (count[w] != want) {
            enec_npu_fail(d, NPU_ERR_CORRUPT, "V0 block %llu: widths give %u groups of width %u, table says %u",
                          (unsigned long long)blk, count[w], w, want);
            return -1;
        }
    }
    enec_npu_scalar(d, 15, 15, 0);
    v_dup16(d, y, 0, 0, B);
    for (unsigned w = 1; w <= k->n && !d->err; w++) {
        if (!Fw[w - 1]) continue;
        /* The class's codes back to every element of its groups (V1's HIGH gather). */
        uint32_t ub[4];
        v0_class_runs(k, S + sp.high, Fw, w, ub);
        class_pattern(k, k->bits, k->wd, (uint16_t)(w - 1), (uint16_t)w, G);
        unpack(k, t, k->L * Fw[w - 1], w, ub);
        gather_high(k, g, G, Fw[w - 1], B);
        v_or16(d, y, y, g, B);
    }
    uncode(k, y, B);
    recombine(k, S, &sp, g, r3ub, B);
    if (d->err) return -1;
    double done = enec_npu_clock(d, PIPE_V);
    uint32_t isz = l->di->itemsize;
    enec_npu_dma_out(d, &j->dst, blk * ENEC_BLOCK * isz, S, (uint64_t)valid * isz, 1, done);
    *slot_free = enec_npu_clock(d, PIPE_MTE3);
    return d->err ? -1 : 0;
}
