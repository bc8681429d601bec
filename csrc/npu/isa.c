/* isa.c - the modelled vector instructions: alignment, bounds and same-segment checks, the work on UB bytes, the cycles. */
#include <math.h>
#include <string.h>
#include "isa.h"

#define U16(off) ((uint16_t *)(void *)(d->ub + (off)))
#define U32(off) ((uint32_t *)(void *)(d->ub + (off)))

/* One operand of an instruction: where it starts, its element size, how
 * many lanes the instruction reads or writes from its start. */
typedef struct {
    uint32_t off, esize, lanes;
    int bits; /* a bit-mask operand (compare result, select/gather-mask pattern): no lanes per repeat */
    uint32_t bs, rs; /* block and repeat stride in 32-byte blocks; 0: contiguous */
} operand;

static uint64_t span_bytes(operand o) { return ((uint64_t)o.lanes * o.esize + 31) / 32 * 32; }

static int check_operand(npu_device *d, operand o, const char *op)
{
    if (o.off % 32)
        return enec_npu_fail(d, NPU_ERR_ALIGN, "%s: UB operand at %u is not 32-byte aligned", op, o.off);
    return enec_npu_ub_check(d, o.off, span_bytes(o), op);
}

/* The same-segment rule: a source either is the destination (same address
 * and element size, each lane reads itself) or does not touch its blocks. */
static int check_overlap(npu_device *d, operand dst, operand src, const char *op)
{
    uint64_t d0 = dst.off, d1 = d0 + span_bytes(dst), s0 = src.off, s1 = s0 + span_bytes(src);
    if (d1 <= s0 || s1 <= d0) return 1;
    if (d0 == s0 && dst.esize == src.esize) return 1;
    return enec_npu_fail(d, NPU_ERR_SEGMENT,
                         "%s: source [%llu, %llu) overlaps destination [%llu, %llu) at another lane position; "
                         "an instruction may not read lanes it writes in the same 32-byte segment",
                         op, (unsigned long long)s0, (unsigned long long)s1, (unsigned long long)d0,
                         (unsigned long long)d1);
}

/* UB banks (Ascend C best-practices guide, "Avoiding Bank Conflicts"): 48
 * banks of 128 rows x 32 B in 16 groups of 3; consecutive 32-byte blocks
 * go to consecutive groups, each 64 KiB third of the buffer to its own bank
 * of the group (0x10000 is bank 16, 0x10020 bank 17, 0x20020 bank 33). Per
 * cycle the vector unit reads one row from each group and writes one row to
 * each group: reads of one repeat in the same group, or writes in the same
 * group, queue; a read and a write of the same bank in one repeat cost one
 * cycle more (our reading of the guide's read/write conflict). A repeat
 * takes the larger of its cost-table cycles and these. */
static void bank_touch(uint64_t a0, uint64_t a1, unsigned *cnt, uint64_t *mask)
{
    for (uint64_t a = a0 & ~31ull; a < a1; a += 32) {
        unsigned g = (unsigned)(a >> 5) & 15;
        cnt[g]++;
        *mask |= 1ull << ((((a >> 16) & 3) << 4) | g);
    }
}

static double repeat_cycles(double table, const unsigned *rd, const unsigned *wr, uint64_t rmask, uint64_t wmask)
{
    unsigned m = 1;
    for (int g = 0; g < 16; g++) {
        if (rd[g] > m) m = rd[g];
        if (wr[g] > m) m = wr[g];
    }
    double c = m + ((rmask & wmask) ? 1 : 0);
    return c > table ? c : table;
}

/* One repeat, operand by operand: slow but general (any block count). */
static double bank_repeat_slow(double table, operand dst, const operand *srcs, int nsrc, uint64_t r, uint32_t per)
{
    unsigned rd[16] = {0}, wr[16] = {0};
    uint64_t rmask = 0, wmask = 0;
    for (int i = -1; i < nsrc; i++) {
        operand o = i < 0 ? dst : srcs[i];
        if (o.bits) continue;
        uint64_t bpr = (uint64_t)per * o.esize;
        if (o.bs) {
            /* strided: block b of repeat r at off + (r rs + b bs) 32 */
            for (uint64_t b = 0; b < (bpr + 31) / 32; b++) {
                uint64_t a = o.off + (r * o.rs + b * o.bs) * 32;
                bank_touch(a, a + 32, i < 0 ? wr : rd, i < 0 ? &wmask : &rmask);
            }
            continue;
        }
        uint64_t a0 = o.off + r * bpr, a1 = a0 + bpr, lim = o.off + span_bytes(o);
        if (a1 > lim) a1 = lim;
        if (a0 < a1) bank_touch(a0, a1, i < 0 ? wr : rd, i < 0 ? &wmask : &rmask);
    }
    return repeat_cycles(table, rd, wr, rmask, wmask);
}

static uint32_t rot16(uint32_t m, unsigned g) { return ((m << g) | (m >> (16 - g))) & 0xFFFF; }

static double bank_cycles(const npu_device *d, int op, operand dst, const operand *srcs, int nsrc, uint64_t r0,
                          uint64_t reps, uint32_t per)
{
    double table = d->cfg.cycles_per_repeat[op], total = 0;
    for (uint64_t r = r0; r < r0 + reps; r++) {
        /* Fast path: every operand's repeat is a run of at most 16 whole
         * blocks inside one 64 KiB third, so its groups are a rotated bit
         * mask and its banks follow from the third. */
        uint32_t c1 = 0, c2 = 0, c3 = 0, wm = 0;
        unsigned wreg = 0, slow = 0, rw = 0;
        for (int i = -1; i < nsrc && !slow; i++) {
            operand o = i < 0 ? dst : srcs[i];
            if (o.bits) continue;
            if (o.bs) {
                slow = 1;
                break;
            }
            uint64_t bpr = (uint64_t)per * o.esize, a0 = o.off + r * bpr, a1 = a0 + bpr, lim = o.off + span_bytes(o);
            if (a1 > lim) a1 = lim;
            if (a0 >= a1) continue;
            uint64_t nb = (a1 - (a0 & ~31ull) + 31) / 32;
            if (nb > 16 || (a0 >> 16) != ((a1 - 1) >> 16)) {
                slow = 1;
                break;
            }
            uint32_t m = rot16(nb == 16 ? 0xFFFF : (1u << nb) - 1, (unsigned)(a0 >> 5) & 15);
            if (i < 0) {
                wm = m, wreg = (unsigned)(a0 >> 16);
            } else {
                c3 |= c2 & m, c2 |= c1 & m, c1 |= m;
                if ((m & wm) && (unsigned)(a0 >> 16) == wreg) rw = 1;
            }
        }
        if (slow) {
            total += bank_repeat_slow(table, dst, srcs, nsrc, r, per);
            continue;
        }
        double c = (c3 ? 3 : c2 ? 2 : 1) + rw;
        total += c > table ? c : table;
    }
    return total;
}

/* Validate and charge an instruction over lanes [lo, hi) of dst; srcs
 * covered to the same lanes (their own element sizes). The race detector
 * sees every operand: sources must be ready when the instruction starts,
 * the destination must not be awaited by a reader or a pending write.
 * Returns 0 on error. */
static int issue(npu_device *d, const char *name, int op, operand dst, const operand *srcs, int nsrc,
                 uint32_t lo, uint32_t hi, uint32_t widest)
{
    if (d->err) return 0;
    if (lo > hi) return enec_npu_fail(d, NPU_ERR_ARG, "%s: lane range [%u, %u)", name, lo, hi);
    if (!check_operand(d, dst, name)) return 0;
    for (int i = 0; i < nsrc; i++) {
        if (!check_operand(d, srcs[i], name) || !check_overlap(d, dst, srcs[i], name)) return 0;
    }
    /* Repeats over the widest operand; a range not starting at lane 0 or
     * not ending on a repeat boundary needs a lane mask. */
    uint32_t per = 256 / widest;
    uint64_t r0 = lo / per, reps = hi > lo ? (hi + per - 1) / per - lo / per : 0;
    int masked = (lo % per) != 0 || (hi % per) != 0;
    double bank = d->cfg.bank_conflicts ? bank_cycles(d, op, dst, srcs, nsrc, r0, reps, per) : 0;
    /* what it must wait for: its operands' producers, or (a gather, whose
     * lanes read anywhere) every instruction before it */
    double dep = 0;
    if (d->cfg.vec_overlap) {
        if (d->dep_all) {
            dep = d->stats[d->core].clock[PIPE_V];
        } else {
            dep = enec_npu_vdep(d, dst.off, span_bytes(dst));
            for (int i = 0; i < nsrc; i++) {
                double t = enec_npu_vdep(d, srcs[i].off, span_bytes(srcs[i]));
                if (t > dep) dep = t;
            }
        }
    }
    d->dep_all = 0;
    double end, start = enec_npu_charge_vector(d, op, reps, masked, bank, dep, &end);
    d->vt0 = start, d->vt1 = end;
    enec_npu_vdone(d, dst.off, span_bytes(dst), end);
    /* check every source, then the destination, then record the reads (an
     * in-place operand is read and written by the same instruction) */
    for (int i = 0; i < nsrc; i++)
        if (!enec_npu_ub_read(d, srcs[i].off, span_bytes(srcs[i]), start, start, name)) return 0;
    if (!enec_npu_ub_write(d, dst.off, span_bytes(dst), start, end, name)) return 0;
    /* its reads are done when it leaves the pipe (in-order issue keeps a
     * later write behind them), not at its completion */
    double reads_done = d->stats[d->core].vissue;
    for (int i = 0; i < nsrc; i++) enec_npu_ub_read(d, srcs[i].off, span_bytes(srcs[i]), 1e300, reads_done, name);
    return 1;
}

static operand opnd(uint32_t off, uint32_t esize, uint32_t lanes) { return (operand){off, esize, lanes, 0, 0, 0}; }
static operand bitsopnd(uint32_t off, uint32_t nbytes) { return (operand){off, 1, nbytes, 1, 0, 0}; }

void v_dup16(npu_device *d, uint32_t dst, uint16_t v, uint32_t lo, uint32_t hi)
{
    if (!issue(d, "dup16", OP_DUP, opnd(dst, 2, hi), NULL, 0, lo, hi, 2)) return;
    uint16_t *o = U16(dst);
    for (uint32_t i = lo; i < hi; i++) o[i] = v;
}

void v_dup16_strided(npu_device *d, uint32_t dst, uint16_t v, uint32_t blk_stride, uint32_t rep_stride,
                     uint32_t repeats)
{
    if (d->err) return;
    if (dst % 32 || !blk_stride || repeats == 0 || repeats > d->cfg.max_repeat) {
        enec_npu_fail(d, NPU_ERR_ARG, "dup16_strided: address, stride or repeats out of range");
        return;
    }
    uint64_t last = (uint64_t)dst + ((uint64_t)(repeats - 1) * rep_stride + 7ull * blk_stride) * 32 + 32;
    if (!enec_npu_ub_check(d, dst, last - dst, "dup16_strided")) return;
    operand o = {dst, 2, 0, 0, blk_stride, rep_stride};
    double bank = d->cfg.bank_conflicts ? bank_cycles(d, OP_DUP, o, NULL, 0, 0, repeats, 128) : 0;
    double end, start = enec_npu_charge_vector(d, OP_DUP, repeats, 0, bank, d->stats[d->core].clock[PIPE_V], &end);
    for (uint32_t r = 0; r < repeats && !d->err; r++)
        for (uint32_t b = 0; b < 8 && !d->err; b++) {
            uint32_t a = dst + (r * rep_stride + b * blk_stride) * 32;
            if (!enec_npu_ub_write(d, a, 32, start, end, "dup16_strided")) return;
            for (int l = 0; l < 16; l++) U16(a)[l] = v;
        }
}

void v_ci32(npu_device *d, uint32_t dst, uint32_t start, int32_t step, uint32_t lo, uint32_t hi)
{
    if (!issue(d, "ci32", OP_CI, opnd(dst, 4, hi), NULL, 0, lo, hi, 4)) return;
    uint32_t *o = U32(dst);
    for (uint32_t i = lo; i < hi; i++) o[i] = start + (uint32_t)step * (i - lo);
}

#define BINOP16(fname, opc, expr)                                                              \
    void fname(npu_device *d, uint32_t dst, uint32_t a, uint32_t b, uint32_t n)                \
    {                                                                                          \
        operand s[2] = {opnd(a, 2, n), opnd(b, 2, n)};                                         \
        if (!issue(d, #fname, opc, opnd(dst, 2, n), s, 2, 0, n, 2)) return;                    \
        uint16_t *o = U16(dst);                                                                \
        const uint16_t *x = U16(a), *y = U16(b);                                               \
        for (uint32_t i = 0; i < n; i++) o[i] = (uint16_t)(expr);                              \
    }

BINOP16(v_add16, OP_ADD, x[i] + y[i])
BINOP16(v_sub16, OP_ADD, x[i] - y[i])
BINOP16(v_max16, OP_ADD, (int16_t)x[i] > (int16_t)y[i] ? x[i] : y[i])
BINOP16(v_and16, OP_LOGIC, x[i] & y[i])
BINOP16(v_or16, OP_LOGIC, x[i] | y[i])

void v_adds16(npu_device *d, uint32_t dst, uint32_t a, int16_t s, uint32_t n)
{
    operand src = opnd(a, 2, n);
    if (!issue(d, "adds16", OP_ADD, opnd(dst, 2, n), &src, 1, 0, n, 2)) return;
    uint16_t *o = U16(dst);
    const uint16_t *x = U16(a);
    for (uint32_t i = 0; i < n; i++) o[i] = (uint16_t)(x[i] + (uint16_t)s);
}

void v_muls16(npu_device *d, uint32_t dst, uint32_t a, int16_t s, uint32_t n)
{
    operand src = opnd(a, 2, n);
    if (!issue(d, "muls16", OP_MUL16, opnd(dst, 2, n), &src, 1, 0, n, 2)) return;
    uint16_t *o = U16(dst);
    const uint16_t *x = U16(a);
    for (uint32_t i = 0; i < n; i++) o[i] = (uint16_t)((uint32_t)x[i] * (uint32_t)(uint16_t)s);
}

void v_adds32(npu_device *d, uint32_t dst, uint32_t a, int32_t s, uint32_t lo, uint32_t hi)
{
    operand src = opnd(a, 4, hi);
    if (!issue(d, "adds32", OP_ADD, opnd(dst, 4, hi), &src, 1, lo, hi, 4)) return;
    uint32_t *o = U32(dst);
    const uint32_t *x = U32(a);
    for (uint32_t i = lo; i < hi; i++) o[i] = x[i] + (uint32_t)s;
}

void v_ands16(npu_device *d, uint32_t dst, uint32_t a, uint16_t s, uint32_t lo, uint32_t hi)
{
    operand src = opnd(a, 2, hi);
    if (!issue(d, "ands16", OP_LOGIC, opnd(dst, 2, hi), &src, 1, lo, hi, 2)) return;
    uint16_t *o = U16(dst);
    const uint16_t *x = U16(a);
    for (uint32_t i = lo; i < hi; i++) o[i] = x[i] & s;
}

static int shift_ok(npu_device *d, unsigned s, unsigned bits, const char *name)
{
    if (s >= bits) return enec_npu_fail(d, NPU_ERR_ARG, "%s: shift %u out of range", name, s);
    return 1;
}

void v_shl16(npu_device *d, uint32_t dst, uint32_t a, unsigned s, uint32_t n)
{
    operand src = opnd(a, 2, n);
    if (!shift_ok(d, s, 16, "shl16") || !issue(d, "shl16", OP_SHIFT, opnd(dst, 2, n), &src, 1, 0, n, 2)) return;
    uint16_t *o = U16(dst);
    const uint16_t *x = U16(a);
    for (uint32_t i = 0; i < n; i++) o[i] = (uint16_t)(x[i] << s);
}

void v_shr16(npu_device *d, uint32_t dst, uint32_t a, unsigned s, uint32_t lo, uint32_t hi)
{
    operand src = opnd(a, 2, hi);
    if (!shift_ok(d, s, 16, "shr16") || !issue(d, "shr16", OP_SHIFT, opnd(dst, 2, hi), &src, 1, lo, hi, 2))
        return;
    uint16_t *o = U16(dst);
    const uint16_t *x = U16(a);
    for (uint32_t i = lo; i < hi; i++) o[i] = (uint16_t)(x[i] >> s);
}

void v_sar16(npu_device *d, uint32_t dst, uint32_t a, unsigned s, uint32_t n)
{
    operand src = opnd(a, 2, n);
    if (!shift_ok(d, s, 16, "sar16") || !issue(d, "sar16", OP_SHIFT, opnd(dst, 2, n), &src, 1, 0, n, 2)) return;
    uint16_t *o = U16(dst);
    const uint16_t *x = U16(a);
    for (uint32_t i = 0; i < n; i++) {
        int32_t v = (int16_t)x[i];
        /* arithmetic shift written portably: floor division by 2^s */
        o[i] = (uint16_t)(v >= 0 ? v >> s : -(int32_t)((uint32_t)(-v - 1) >> s) - 1);
    }
}

void v_shl32(npu_device *d, uint32_t dst, uint32_t a, unsigned s, uint32_t n)
{
    operand src = opnd(a, 4, n);
    if (!shift_ok(d, s, 32, "shl32") || !issue(d, "shl32", OP_SHIFT, opnd(dst, 4, n), &src, 1, 0, n, 4)) return;
    uint32_t *o = U32(dst);
    const uint32_t *x = U32(a);
    for (uint32_t i = 0; i < n; i++) o[i] = x[i] << s;
}

/* ---- binary16 ------------------------------------------------------------ */

float enec_npu_half_to_float(uint16_t h)
{
    unsigned e = (h >> 10) & 0x1F, m = h & 0x3FF;
    float v;
    if (e == 0) v = ldexpf((float)m, -24);
    else if (e == 31) v = m ? NAN : INFINITY;
    else v = ldexpf((float)(m | 0x400), (int)e - 25);
    return (h & 0x8000) ? -v : v;
}

uint16_t enec_npu_float_to_half(float f)
{
    uint16_t sign = signbit(f) ? 0x8000 : 0;
    float a = fabsf(f);
    if (isnan(f)) return (uint16_t)(sign | 0x7E00);
    if (a >= 65520.0f) return (uint16_t)(sign | 0x7C00);
    if (a < ldexpf(1.0f, -14)) {
        /* subnormal: units of 2^-24, round half to even */
        float q = a * 16777216.0f;
        float r = nearbyintf(q);
        return (uint16_t)(sign | (uint16_t)r);
    }
    int e;
    float fr = frexpf(a, &e); /* a = fr * 2^e, fr in [0.5, 1) */
    float q = nearbyintf(fr * 2048.0f); /* 11 significant bits */
    if (q >= 2048.0f) {
        q /= 2;
        e++;
    }
    unsigned exp = (unsigned)(e - 1 + 15);
    if (exp >= 31) return (uint16_t)(sign | 0x7C00);
    return (uint16_t)(sign | (exp << 10) | ((unsigned)q & 0x3FF));
}

void v_addf16(npu_device *d, uint32_t dst, uint32_t a, uint32_t b, uint32_t n)
{
    operand s[2] = {opnd(a, 2, n), opnd(b, 2, n)};
    if (!issue(d, "addf16", OP_ADD, opnd(dst, 2, n), s, 2, 0, n, 2)) return;
    uint16_t *o = U16(dst);
    const uint16_t *x = U16(a), *y = U16(b);
    for (uint32_t i = 0; i < n; i++) {
        /* Patterns below 0x800 are the values p * 2^-24 exactly (subnormal,
         * then the first binade), so their sums below 0x800 add as integers:
         * the property ENEC's half-precision counting relies on. */
        if (x[i] + y[i] < 0x800) {
            o[i] = (uint16_t)(x[i] + y[i]);
            continue;
        }
        o[i] = enec_npu_float_to_half(enec_npu_half_to_float(x[i]) + enec_npu_half_to_float(y[i]));
    }
}

void v_cmpgt_f16(npu_device *d, uint32_t dst_bits, uint32_t a, uint16_t s_half, uint32_t n)
{
    operand src = opnd(a, 2, n);
    if (!issue(d, "cmpgt_f16", OP_CMP, bitsopnd(dst_bits, (n + 7) / 8), &src, 1, 0, n, 2)) return;
    const uint16_t *x = U16(a);
    uint8_t *o = d->ub + dst_bits;
    memset(o, 0, (n + 7) / 8);
    float s = enec_npu_half_to_float(s_half);
    for (uint32_t i = 0; i < n; i++) {
        /* Non-negative finite halves order like their patterns. */
        int gt = (x[i] < 0x7C00 && s_half < 0x7C00) ? x[i] > s_half : enec_npu_half_to_float(x[i]) > s;
        if (gt) o[i >> 3] |= (uint8_t)(1u << (i & 7));
    }
}

void v_sels16(npu_device *d, uint32_t dst, uint32_t mask_bits, uint32_t plen, uint32_t a, uint16_t s, uint32_t n)
{
    if (plen == 0 || plen > n) {
        enec_npu_fail(d, NPU_ERR_ARG, "sels16: pattern length %u for %u lanes", plen, n);
        return;
    }
    operand srcs[2] = {opnd(a, 2, n), bitsopnd(mask_bits, (plen + 7) / 8)};
    if (!issue(d, "sels16", OP_SEL, opnd(dst, 2, n), srcs, 2, 0, n, 2)) return;
    uint16_t *o = U16(dst);
    const uint16_t *x = U16(a);
    const uint8_t *mk = d->ub + mask_bits;
    for (uint32_t i = 0, j = 0; i < n; i++, j = j + 1 == plen ? 0 : j + 1)
        o[i] = (mk[j >> 3] >> (j & 7)) & 1 ? x[i] : s;
}

void v_gather16(npu_device *d, uint32_t dst, uint32_t base, uint32_t off, uint32_t lo, uint32_t hi)
{
    operand src = opnd(off, 4, hi);
    d->dep_all = 1;
    if (!issue(d, "gather16", OP_GATHER, opnd(dst, 2, hi), &src, 1, lo, hi, 2)) return;
    if (base % 32) {
        enec_npu_fail(d, NPU_ERR_ALIGN, "gather16: base %u is not 32-byte aligned", base);
        return;
    }
    const uint32_t *of = U32(off);
    /* Reading a masked-off lane of a destination block is allowed: the
     * instruction does not write it. Reading a lane it writes is not. */
    uint64_t d0 = (uint64_t)dst + 2ull * lo, d1 = (uint64_t)dst + 2ull * hi;
    uint16_t *o = U16(dst);
    for (uint32_t i = lo; i < hi; i++) {
        uint64_t at = (uint64_t)base + of[i];
        if (of[i] % 2 || at + 2 > d->ub_top) {
            enec_npu_fail(d, NPU_ERR_BOUNDS, "gather16: lane %u offset %u outside the buffer", i, of[i]);
            return;
        }
        /* (lanes of the destination's own blocks were checked as the destination) */
        if (d->cfg.race_check && !(at >= dst && at < dst + 2ull * hi + 32) && d->ready[at / 32] > d->vt0 + 1e-9) {
            enec_npu_fail(d, NPU_ERR_RACE, "race: gather16 lane %u reads UB %llu at cycle %.0f but its data lands "
                          "at %.0f", i, (unsigned long long)at, d->vt0, d->ready[at / 32]);
            return;
        }
        if (at + 2 > d0 && at < d1) {
            enec_npu_fail(d, NPU_ERR_SEGMENT, "gather16: lane %u reads the destination at %llu", i,
                          (unsigned long long)at);
            return;
        }
        o[i] = (uint16_t)(d->ub[at] | (d->ub[at + 1] << 8));
    }
}

void v_gathermask16(npu_device *d, uint32_t dst, uint32_t src, uint32_t pattern_bits, uint32_t plen, uint32_t n)
{
    if (plen == 0 || plen > n) {
        enec_npu_fail(d, NPU_ERR_ARG, "gathermask16: pattern length %u for %u lanes", plen, n);
        return;
    }
    operand srcs[2] = {opnd(src, 2, n), bitsopnd(pattern_bits, (plen + 7) / 8)};
    /* The destination may receive up to n lanes. */
    if (!issue(d, "gathermask16", OP_GATHERMASK, opnd(dst, 2, n), srcs, 2, 0, n, 2)) return;
    uint16_t *o = U16(dst);
    const uint16_t *x = U16(src);
    const uint8_t *mk = d->ub + pattern_bits;
    uint32_t k = 0;
    for (uint32_t i = 0, j = 0; i < n; i++, j = j + 1 == plen ? 0 : j + 1)
        if ((mk[j >> 3] >> (j & 7)) & 1) o[k++] = x[i];
    d->gm_cnt = k;
}

void v_pick16(npu_device *d, uint32_t dst, uint32_t src, unsigned which, uint32_t n_out)
{
    operand s = opnd(src, 2, 2 * n_out);
    if (!issue(d, "pick16", OP_GATHERMASK, opnd(dst, 2, n_out), &s, 1, 0, 2 * n_out, 2)) return;
    uint16_t *o = U16(dst);
    const uint16_t *x = U16(src);
    for (uint32_t i = 0; i < n_out; i++) o[i] = x[2 * i + (which & 1)];
    d->gm_cnt = n_out;
}

void v_widen8(npu_device *d, uint32_t dst, uint32_t src, uint32_t n)
{
    operand s = opnd(src, 1, n);
    if (!issue(d, "widen8", OP_CONV, opnd(dst, 2, n), &s, 1, 0, n, 2)) return;
    uint16_t *o = U16(dst);
    const uint8_t *x = d->ub + src;
    for (uint32_t i = 0; i < n; i++) o[i] = x[i];
}

void v_narrow8(npu_device *d, uint32_t dst, uint32_t src, uint32_t n)
{
    operand s = opnd(src, 2, n);
    if (!issue(d, "narrow8", OP_CONV, opnd(dst, 1, n), &s, 1, 0, n, 2)) return;
    uint8_t *o = d->ub + dst;
    const uint16_t *x = U16(src);
    for (uint32_t i = 0; i < n; i++) o[i] = (uint8_t)x[i];
}

void v_widen16(npu_device *d, uint32_t dst, uint32_t src, uint32_t n)
{
    operand s = opnd(src, 2, n);
    if (!issue(d, "widen16", OP_CONV, opnd(dst, 4, n), &s, 1, 0, n, 4)) return;
    uint32_t *o = U32(dst);
    const uint16_t *x = U16(src);
    for (uint32_t i = 0; i < n; i++) o[i] = x[i];
}

void v_zip16(npu_device *d, uint32_t dst, uint32_t lo, uint32_t hi, uint32_t n)
{
    operand s[2] = {opnd(lo, 2, n), opnd(hi, 2, n)};
    if (!issue(d, "zip16", OP_GATHERMASK, opnd(dst, 4, n), s, 2, 0, n, 4)) return;
    uint32_t *o = U32(dst);
    const uint16_t *a = U16(lo), *b = U16(hi);
    for (uint32_t i = 0; i < n; i++) o[i] = (uint32_t)a[i] | ((uint32_t)b[i] << 16);
}

void v_transpose16(npu_device *d, uint32_t dst, uint32_t dst_row, uint32_t dst_tile, uint32_t src,
                   uint32_t src_row, uint32_t src_tile, uint32_t ntiles)
{
    if (d->err) return;
    if (dst % 32 || src % 32 || dst_row % 32 || dst_tile % 32 || src_row % 32 || src_tile % 32) {
        enec_npu_fail(d, NPU_ERR_ALIGN, "transpose16: row addresses must be 32-byte aligned");
        return;
    }
    /* Every row of every tile must lie in UB and no destination row may be a source row. */
    for (uint32_t t = 0; t < ntiles; t++) {
        for (uint32_t r = 0; r < 16; r++) {
            uint64_t so = (uint64_t)src + (uint64_t)r * src_row + (uint64_t)t * src_tile;
            uint64_t dq = (uint64_t)dst + (uint64_t)r * dst_row + (uint64_t)t * dst_tile;
            if (so + 32 > d->ub_top || dq + 32 > d->ub_top) {
                enec_npu_fail(d, NPU_ERR_BOUNDS, "transpose16: tile %u row %u outside the buffer", t, r);
                return;
            }
        }
    }
    uint64_t s_lo = src, s_hi = (uint64_t)src + 15ull * src_row + (uint64_t)(ntiles ? ntiles - 1 : 0) * src_tile + 32;
    uint64_t d_lo = dst, d_hi = (uint64_t)dst + 15ull * dst_row + (uint64_t)(ntiles ? ntiles - 1 : 0) * dst_tile + 32;
    if (ntiles && !(d_hi <= s_lo || s_hi <= d_lo)) {
        enec_npu_fail(d, NPU_ERR_SEGMENT, "transpose16: source and destination tiles overlap");
        return;
    }
    /* Bank conflicts: each repeat reads 8 source rows and writes 8 destination rows. */
    double bank = 0;
    if (d->cfg.bank_conflicts) {
        for (uint32_t t = 0; t < ntiles; t++)
            for (uint32_t h = 0; h < 2; h++) {
                unsigned rd[16] = {0}, wr[16] = {0};
                uint64_t rmask = 0, wmask = 0;
                for (uint32_t r = 8 * h; r < 8 * h + 8; r++) {
                    uint64_t so = (uint64_t)src + (uint64_t)r * src_row + (uint64_t)t * src_tile;
                    uint64_t dq = (uint64_t)dst + (uint64_t)r * dst_row + (uint64_t)t * dst_tile;
                    bank_touch(so, so + 32, rd, &rmask);
                    bank_touch(dq, dq + 32, wr, &wmask);
                }
                bank += repeat_cycles(d->cfg.cycles_per_repeat[OP_TRANSPOSE], rd, wr, rmask, wmask);
            }
    }
    double end, start = enec_npu_charge_vector(d, OP_TRANSPOSE, (uint64_t)ntiles * 2, 0, bank,
                                               d->stats[d->core].clock[PIPE_V], &end);
    for (uint32_t t = 0; t < ntiles; t++)
        for (uint32_t r = 0; r < 16; r++) enec_npu_vdone(d, dst + r * dst_row + t * dst_tile, 32, end);
    for (uint32_t t = 0; t < ntiles && !d->err; t++)
        for (uint32_t r = 0; r < 16; r++)
            enec_npu_ub_read(d, src + r * src_row + t * src_tile, 32, start, start, "transpose16");
    for (uint32_t t = 0; t < ntiles && !d->err; t++)
        for (uint32_t r = 0; r < 16; r++)
            enec_npu_ub_write(d, dst + r * dst_row + t * dst_tile, 32, start, end, "transpose16");
    for (uint32_t t = 0; t < ntiles && !d->err; t++)
        for (uint32_t r = 0; r < 16; r++)
            enec_npu_ub_read(d, src + r * src_row + t * src_tile, 32, 1e300, d->stats[d->core].vissue, "transpose16");
    if (d->err) return;
    for (uint32_t t = 0; t < ntiles; t++)
        for (uint32_t r = 0; r < 16; r++)
            for (uint32_t c = 0; c < 16; c++) {
                const uint8_t *sp = d->ub + src + (uint64_t)c * src_row + (uint64_t)t * src_tile + 2 * r;
                uint8_t *dp = d->ub + dst + (uint64_t)r * dst_row + (uint64_t)t * dst_tile + 2 * c;
                dp[0] = sp[0];
                dp[1] = sp[1];
            }
}

void v_reducesum_f16(npu_device *d, uint32_t dst, uint32_t a, uint32_t n)
{
    operand s = opnd(a, 2, n);
    if (!issue(d, "reducesum_f16", OP_REDUCE, opnd(dst, 2, 16), &s, 1, 0, n, 2)) return;
    float acc = 0;
    const uint16_t *x = U16(a);
    for (uint32_t i = 0; i < n; i++) acc += enec_npu_half_to_float(x[i]);
    U16(dst)[0] = enec_npu_float_to_half(acc);
}

void v_cumsum_rows_f16(npu_device *d, uint32_t dst, uint32_t a, uint32_t rows)
{
    operand s = opnd(a, 2, rows * 16);
    if (!issue(d, "cumsum_rows_f16", OP_CUMSUM, opnd(dst, 2, rows * 16), &s, 1, 0, rows * 16, 2)) return;
    const uint16_t *x = U16(a);
    uint16_t *o = U16(dst);
    for (uint32_t r = 0; r < rows; r++) {
        float acc = 0;
        for (uint32_t c = 0; c < 16; c++) {
            acc += enec_npu_half_to_float(x[16 * r + c]);
            o[16 * r + c] = enec_npu_float_to_half(acc);
        }
    }
}
