/* kernels_avx512.c - AVX-512 (F, BW, VBMI2) block kernels: the reference's arithmetic on thirty-two 16-bit lanes at a time. */
#include "cpu.h"
#if ENEC_X86 || defined(ENEC_AVX512_EMULATE)
#include <pthread.h>
#include <stddef.h>
#include <string.h>
#include "../codec/elements.h"
#include "../codec/kernels.h"
#include "../codec/pack.h"
#include "../codec/search.h"
#include "kernels_avx2.h"

#ifdef ENEC_AVX512_EMULATE
/* Test builds on CPUs without AVX-512: the same code against a portable
 * model of each intrinsic (avx512_emu.h), so its logic is checked anywhere. */
#include "avx512_emu.h"
#define TARGET
#else
#include <immintrin.h>
#define TARGET __attribute__((target("avx512f,avx512bw,avx512vbmi2,bmi,bmi2,popcnt")))
#endif

/* Kernel scratch layout (ENEC_KERNEL_SCRATCH), as in kernels_avx2.c: three
 * lane arrays of ENEC_BLOCK and two of ENEC_BLOCK / 16. rank[] keeps the
 * flagged columns before each group of 32. */
typedef struct {
    uint16_t v[ENEC_BLOCK], w[ENEC_BLOCK], r3[ENEC_BLOCK];
    uint16_t acc[ENEC_BLOCK / 16], rank[ENEC_BLOCK / 16];
} scratch;

/* vpermt2w controls: even and odd words of two vectors (fp32 halves), and
 * their inverse, interleaving two vectors word by word. */
static const uint16_t idx_even[32] = {0,  2,  4,  6,  8,  10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30,
                                      32, 34, 36, 38, 40, 42, 44, 46, 48, 50, 52, 54, 56, 58, 60, 62};
static const uint16_t idx_odd[32] = {1,  3,  5,  7,  9,  11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31,
                                     33, 35, 37, 39, 41, 43, 45, 47, 49, 51, 53, 55, 57, 59, 61, 63};
static const uint16_t idx_zip_lo[32] = {0, 32, 1, 33, 2,  34, 3,  35, 4,  36, 5,  37, 6,  38, 7,  39,
                                        8, 40, 9, 41, 10, 42, 11, 43, 12, 44, 13, 45, 14, 46, 15, 47};
static const uint16_t idx_zip_hi[32] = {16, 48, 17, 49, 18, 50, 19, 51, 20, 52, 21, 53, 22, 54, 23, 55,
                                        24, 56, 25, 57, 26, 58, 27, 59, 28, 60, 29, 61, 30, 62, 31, 63};

TARGET static inline __m512i splat16(unsigned v) { return _mm512_set1_epi16((short)v); }
TARGET static inline __m512i ld(const void *p) { return _mm512_loadu_si512(p); }
TARGET static inline void st(void *p, __m512i v) { _mm512_storeu_si512(p, v); }
TARGET static inline __m512i bytes32(const uint8_t *p) { return _mm512_cvtepu8_epi16(_mm256_loadu_si256((const __m256i *)p)); }
TARGET static inline void store_low_bytes(uint8_t *p, __m512i v) { _mm512_mask_cvtepi16_storeu_epi8(p, 0xFFFFFFFFu, v); }
static inline uint32_t mask32(const uint8_t *mask, uint32_t j) { return enec_load32(mask + (j >> 3)); }

/* ---- hierarchical halving packing, vectorised stage by stage -------------- */

/* v[i] |= v[i + n] << w for i < n */
TARGET static void fold(uint16_t *v, size_t n, unsigned w)
{
    const __m512i sh = splat16(w);
    size_t i = 0;
    for (; i + 32 <= n; i += 32) st(v + i, _mm512_or_si512(ld(v + i), _mm512_sllv_epi16(ld(v + i + n), sh)));
    for (; i < n; i++) v[i] = (uint16_t)(v[i] | (v[i + n] << w));
}

/* Emit the low byte of v[0..n) and, when more bits remain, shift them down. */
TARGET static void emit(uint8_t *out, uint16_t *v, size_t n, int shift)
{
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m512i a = ld(v + i);
        store_low_bytes(out + i, a);
        if (shift) st(v + i, _mm512_srli_epi16(a, 8));
    }
    for (; i < n; i++) {
        out[i] = (uint8_t)v[i];
        if (shift) v[i] >>= 8;
    }
}

/* v[i + half] = v[i] >> w; v[i] &= 2^w - 1 for i < half */
TARGET static void unfold(uint16_t *v, size_t half, unsigned w)
{
    const __m512i sh = splat16(w), keep = splat16((1u << w) - 1);
    size_t i = 0;
    for (; i + 32 <= half; i += 32) {
        __m512i a = ld(v + i);
        st(v + i + half, _mm512_srlv_epi16(a, sh));
        st(v + i, _mm512_and_si512(a, keep));
    }
    for (; i < half; i++) {
        v[i + half] = (uint16_t)(v[i] >> w);
        v[i] &= (uint16_t)((1u << w) - 1);
    }
}

/* v[i] = (hi ? v[i] << 8 : 0) | in[i] for i < n */
TARGET static void load_bytes(uint16_t *v, const uint8_t *in, size_t n, int hi)
{
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m512i b = bytes32(in + i);
        if (hi) b = _mm512_or_si512(b, _mm512_slli_epi16(ld(v + i), 8));
        st(v + i, b);
    }
    for (; i < n; i++) v[i] = (uint16_t)((hi ? v[i] << 8 : 0) | in[i]);
}

static const enec_pack_stages stages = {fold, emit, unfold, load_bytes};
static size_t pack(uint8_t *out, uint16_t *v, size_t n, unsigned w) { return enec_pack_by(&stages, out, v, n, w); }
static void unpack(uint16_t *v, const uint8_t *in, size_t n, unsigned w) { enec_unpack_by(&stages, v, in, n, w); }

/* ---- histogram -------------------------------------------------------------- */

/* The exponents of 64 elements as bytes, in any order (counting ignores it). */
TARGET static inline __m512i exponents64(const uint8_t *p, enec_dtype dtype)
{
    if (dtype == ENEC_DTYPE_FP32) {
        const __m512i m = _mm512_set1_epi32(0xFF);
        __m512i e[4];
        for (int k = 0; k < 4; k++) e[k] = _mm512_and_si512(_mm512_srli_epi32(ld(p + 64 * k), 23), m);
        return _mm512_packus_epi16(_mm512_packus_epi32(e[0], e[1]), _mm512_packus_epi32(e[2], e[3]));
    }
    if (dtype == ENEC_DTYPE_BF16) {
        const __m512i m = splat16(0xFF);
        return _mm512_packus_epi16(_mm512_and_si512(_mm512_srli_epi16(ld(p), 7), m),
                                   _mm512_and_si512(_mm512_srli_epi16(ld(p + 64), 7), m));
    }
    const __m512i m = splat16(0x1F); /* float16 */
    return _mm512_packus_epi16(_mm512_and_si512(_mm512_srli_epi16(ld(p), 10), m),
                               _mm512_and_si512(_mm512_srli_epi16(ld(p + 64), 10), m));
}

/* As in kernels_avx2.c: the 16-value window (search.h) counted from the
 * four bit planes of d = x - w0, here one vptestmb each for 64 elements;
 * exponents outside the window one by one. Exact for any data. */
TARGET static void histogram(const enec_dtype_info *di, const uint8_t *src, uint64_t count, uint64_t *hist)
{
    const enec_dtype dtype = di->dtype;
    const unsigned isz = dtype == ENEC_DTYPE_FP32 ? 4 : 2;
    uint64_t i;
    const unsigned w0 = enec_histogram_window(di, src, count, hist, &i);
    const __m512i w0v = _mm512_set1_epi8((char)w0), fifteen = _mm512_set1_epi8(15);
    uint64_t cnt[16] = {0};
    for (; i + 64 <= count; i += 64) {
        __m512i x = exponents64(src + i * isz, dtype);
        __m512i d = _mm512_sub_epi8(x, w0v);
        __mmask64 outside = _mm512_cmpgt_epu8_mask(d, fifteen);
        if (outside) {
            uint8_t tmp[64];
            st(tmp, x);
            for (uint64_t o = outside; o; o &= o - 1) hist[tmp[__builtin_ctzll(o)]]++;
        }
        enec_count_window(cnt, ~(uint64_t)outside, _mm512_test_epi8_mask(d, _mm512_set1_epi8(1)),
                          _mm512_test_epi8_mask(d, _mm512_set1_epi8(2)), _mm512_test_epi8_mask(d, _mm512_set1_epi8(4)),
                          _mm512_test_epi8_mask(d, _mm512_set1_epi8(8)));
    }
    for (int t = 0; t < 16; t++) hist[w0 + t] += cnt[t];
    enec_histogram_add(di, src, i, count, hist);
}

/* ---- encode ------------------------------------------------------------------ */

/* bf16 words (or fp32 high halves) to codes y = (b - x) mod 2^n and raw bytes. */
TARGET static inline __m512i bf16_split(__m512i u, __m512i bv, __m512i nmask, uint8_t *raw)
{
    const __m512i m80 = splat16(0x80), m7f = splat16(0x7F), mff = splat16(0xFF);
    store_low_bytes(raw, _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(u, 8), m80), _mm512_and_si512(u, m7f)));
    return _mm512_and_si512(_mm512_sub_epi16(bv, _mm512_and_si512(_mm512_srli_epi16(u, 7), mff)), nmask);
}

/* Split a full block (valid == B, a multiple of 32) into codes y and the RAW
 * section; registered for bfloat16, float16 and float32 only. */
TARGET static void split(const enec_layout *l, const uint8_t *in, uint32_t valid, uint32_t B, uint16_t *y, uint8_t *raw,
                         void *scratch_)
{
    (void)valid;
    scratch *s = (scratch *)scratch_;
    const enec_params *p = &l->p;
    const __m512i bv = splat16(p->b), nmask = splat16((1u << p->n) - 1);
    uint32_t i = 0;
    switch (l->di->dtype) {
    case ENEC_DTYPE_BF16:
        for (; i < B; i += 32) st(y + i, bf16_split(ld(in + 2 * i), bv, nmask, raw + i));
        break;
    case ENEC_DTYPE_FP16: {
        const __m512i m1f = splat16(0x1F), m4 = splat16(4), m3 = splat16(3);
        for (; i < B; i += 32) {
            __m512i u = ld(in + 2 * i);
            st(y + i, _mm512_and_si512(_mm512_sub_epi16(bv, _mm512_and_si512(_mm512_srli_epi16(u, 10), m1f)), nmask));
            store_low_bytes(raw + i, u);
            st(s->r3 + i, _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(u, 13), m4),
                                          _mm512_and_si512(_mm512_srli_epi16(u, 8), m3)));
        }
        pack(raw + B, s->r3, B, 3);
        break;
    }
    case ENEC_DTYPE_FP32: {
        const __m512i ev = ld(idx_even), od = ld(idx_odd);
        for (; i < B; i += 32) {
            __m512i a = ld(in + 4 * i), c = ld(in + 4 * i + 64);
            st(raw + B + 2 * i, _mm512_permutex2var_epi16(a, ev, c));
            st(y + i, bf16_split(_mm512_permutex2var_epi16(a, od, c), bv, nmask, raw + i));
        }
        break;
    }
    default: break; /* not registered for other dtypes */
    }
}

/* The fast mode's coder on a full block of codes y (G a multiple of 32). */
TARGET static uint32_t fast_encode(const enec_layout *l, const uint16_t *y, uint32_t B, uint8_t *low, uint8_t *mask,
                                   uint8_t *high, void *scratch_)
{
    scratch *s = (scratch *)scratch_;
    const enec_params *p = &l->p;
    const unsigned n = p->n, m = p->m, L = p->L;
    const uint32_t G = B / L;

    /* LOW lanes and the OR of each strided group (a column of the row-major
     * block) in one pass over the rows. */
    const __m512i mmask = splat16((1u << m) - 1);
    for (uint32_t k = 0; k < L; k++) {
        const uint16_t *row = y + k * G;
        uint16_t *lowrow = s->v + k * G;
        for (uint32_t j = 0; j < G; j += 32) {
            __m512i yv = ld(row + j);
            st(lowrow + j, _mm512_and_si512(yv, mmask));
            st(s->acc + j, k ? _mm512_or_si512(yv, ld(s->acc + j)) : yv);
        }
    }
    pack(low, s->v, B, m);

    /* MASK: a group is flagged when its OR has bits above m. */
    const __m512i above = splat16(0xFFFFu & ~((1u << m) - 1));
    uint32_t F = 0;
    for (uint32_t j = 0; j < G; j += 32) {
        uint32_t mb = (uint32_t)_mm512_test_epi16_mask(ld(s->acc + j), above);
        enec_store32(mask + (j >> 3), mb);
        s->rank[j / 32] = (uint16_t)F;
        F += (uint32_t)__builtin_popcount(mb);
    }

    /* HIGH: row by row, the flagged columns' high bits left-packed with
     * vpcompressw, 32 columns at a time. Each store may spill up to 31 lanes
     * past its row; the next store overwrites them, and past the last row
     * they land in r3, which the split is done with. */
    if (F) {
        const __m512i msh = splat16(m);
        for (uint32_t k = 0; k < L; k++) {
            const uint16_t *row = y + k * G;
            uint16_t *dst = s->w + k * F;
            for (uint32_t g = 0; g < G / 32; g++) {
                uint32_t mb = mask32(mask, 32 * g);
                if (mb) st(dst + s->rank[g], _mm512_maskz_compress_epi16(mb, _mm512_srlv_epi16(ld(row + 32 * g), msh)));
            }
        }
        pack(high, s->w, (size_t)L * F, n - m);
    }
    return F;
}

/* ---- decode ------------------------------------------------------------------ */

/* x = (b - sext_n(y)) mod 2^E on 32 lanes. */
TARGET static inline __m512i uncode32(__m512i y, __m512i bv, __m512i sh, __m512i emask)
{
    __m512i sx = _mm512_srav_epi16(_mm512_sllv_epi16(y, sh), sh);
    return _mm512_and_si512(_mm512_sub_epi16(bv, sx), emask);
}

TARGET static inline __m512i bf16_join32(__m512i x, __m512i r)
{
    const __m512i m80 = splat16(0x80), m7f = splat16(0x7F);
    return _mm512_or_si512(_mm512_or_si512(_mm512_slli_epi16(_mm512_and_si512(r, m80), 8), _mm512_slli_epi16(x, 7)),
                           _mm512_and_si512(r, m7f));
}

/* The fast decoder's first half: LOW into y, and when groups are flagged,
 * HIGH pre-shifted by m into s->v and the ranks of the flagged columns. */
TARGET static void fast_unpack(const enec_layout *l, const uint8_t *low, const uint8_t *mask, const uint8_t *high,
                               uint32_t B, uint32_t F, uint16_t *y, scratch *s)
{
    const enec_params *p = &l->p;
    const unsigned n = p->n, m = p->m, L = p->L;
    unpack(y, low, B, m);
    if (!F) return;
    unpack(s->v, high, (size_t)L * F, n - m);
    /* pre-shift the high values once, so the merge only ORs */
    const __m512i msh = splat16(m);
    for (uint32_t i = 0; i < L * F; i += 32) st(s->v + i, _mm512_sllv_epi16(ld(s->v + i), msh));
    for (uint32_t g = 0, r = 0; g < B / L / 32; g++) {
        s->rank[g] = (uint16_t)r;
        r += (uint32_t)__builtin_popcount(mask32(mask, 32 * g));
    }
}

/* 32 codes of row k from column j: LOW, ORed with the row's flagged high
 * values at v + k F (vpexpandw reads exactly popcount(mb) of them: never
 * past HIGH). */
TARGET static inline __m512i merged32(const uint16_t *y, const scratch *s, const uint8_t *mask, uint32_t F,
                                      uint32_t G, uint32_t k, uint32_t j)
{
    __m512i yv = ld(y + k * G + j);
    uint32_t mb = F ? mask32(mask, j) : 0;
    return mb ? _mm512_or_si512(yv, _mm512_maskz_expandloadu_epi16(mb, s->v + k * F + s->rank[j / 32])) : yv;
}

/* The fast mode's decoder: codes y of a full block (G a multiple of 32). */
TARGET static void fast_decode(const enec_layout *l, const uint8_t *low, const uint8_t *mask, const uint8_t *high,
                               uint32_t B, uint32_t F, uint16_t *y, void *scratch_)
{
    scratch *s = (scratch *)scratch_;
    const uint32_t L = l->p.L, G = B / L;
    fast_unpack(l, low, mask, high, B, F, y, s);
    if (!F) return;
    for (uint32_t k = 0; k < L; k++)
        for (uint32_t j = 0; j < G; j += 32) st(y + k * G + j, merged32(y, s, mask, F, G, k, j));
}

/* Constants of the join, and the unpacked float16 r3 bits in s->r3. */
#define JOIN_SETUP()                                                                                    \
    const unsigned b = l->p.b, n = l->p.n, E = l->di->ebits;                                            \
    const enec_dtype dt = l->di->dtype;                                                                 \
    if (dt == ENEC_DTYPE_FP16) unpack(s->r3, raw + B, B, 3);                                            \
    const __m512i bv = splat16(b), emask = splat16((1u << E) - 1), sh = splat16(16 - n);               \
    const __m512i m4 = splat16(4), m3 = splat16(3), zlo = ld(idx_zip_lo), zhi = ld(idx_zip_hi)

/* 32 codes yv to elements at element index e. */
#define JOIN32(e, yv)                                                                                   \
    do {                                                                                                \
        __m512i x_ = uncode32((yv), bv, sh, emask), r_ = bytes32(raw + (e));                            \
        if (dt == ENEC_DTYPE_BF16) {                                                                    \
            st(out + 2 * (e), bf16_join32(x_, r_));                                                     \
        } else if (dt == ENEC_DTYPE_FP16) {                                                             \
            __m512i t_ = ld(s->r3 + (e));                                                               \
            __m512i u_ = _mm512_or_si512(_mm512_slli_epi16(_mm512_and_si512(t_, m4), 13), _mm512_slli_epi16(x_, 10)); \
            st(out + 2 * (e), _mm512_or_si512(u_, _mm512_or_si512(_mm512_slli_epi16(_mm512_and_si512(t_, m3), 8), r_))); \
        } else if (dt == ENEC_DTYPE_FP32) {                                                             \
            __m512i h_ = bf16_join32(x_, r_), lo_ = ld(raw + B + 2 * (e));                              \
            st(out + 4 * (e), _mm512_permutex2var_epi16(lo_, zlo, h_));                                 \
            st(out + 4 * (e) + 64, _mm512_permutex2var_epi16(lo_, zhi, h_));                            \
        }                                                                                               \
    } while (0)

/* Codes y and the RAW section back to a full block of elements;
 * registered for bfloat16, float16 and float32 only. */
TARGET static void join(const enec_layout *l, const uint16_t *y, const uint8_t *raw, uint32_t valid, uint32_t B,
                        uint8_t *out, void *scratch_)
{
    (void)valid;
    scratch *s = (scratch *)scratch_;
    JOIN_SETUP();
    for (uint32_t e = 0; e < B; e += 32) JOIN32(e, ld(y + e));
}

/* fast_decode and join in one pass, as in kernels_avx2.c. */
TARGET static void fast_decode_join(const enec_layout *l, const uint8_t *low, const uint8_t *mask,
                                    const uint8_t *high, const uint8_t *raw, uint32_t B, uint32_t F, uint8_t *out,
                                    uint16_t *y, void *scratch_)
{
    scratch *s = (scratch *)scratch_;
    const uint32_t L = l->p.L, G = B / L;
    fast_unpack(l, low, mask, high, B, F, y, s);
    JOIN_SETUP();
    for (uint32_t k = 0; k < L; k++)
        for (uint32_t j = 0; j < G; j += 32) JOIN32(k * G + j, merged32(y, s, mask, F, G, k, j));
}
#undef JOIN_SETUP
#undef JOIN32


/* ---- mode max: two streams' eight rANS lanes in one 512-bit vector ------------- */

#define MAX8 8u /* mode max's lanes per stream */

/* spread8[m]: bit k of m moved to bit 2k, so that the 32-bit lanes in m name
 * the low 16-bit halves that take a word. */
static uint16_t spread8[256];
static pthread_once_t spread_once = PTHREAD_ONCE_INIT;

static void spread_init(void)
{
    for (unsigned m = 0; m < 256; m++) {
        unsigned v = 0;
        for (unsigned k = 0; k < 8; k++) v |= ((m >> k) & 1u) << (2 * k);
        spread8[m] = (uint16_t)v;
    }
}

/* A stream's next words into the low halves of the 32-bit lanes in k16 (a
 * vpexpandw: it reads exactly the words it places); zeros past the limit,
 * as the portable step reads them. */
TARGET static inline __m512i rans_words512(__mmask32 k16, const uint8_t *w, const uint8_t *limit)
{
    if (limit - w >= 16) return _mm512_maskz_expandloadu_epi16(k16, w);
    uint8_t pad[16] = {0};
    if (limit > w) memcpy(pad, w, (size_t)(limit - w));
    return _mm512_maskz_expandloadu_epi16(k16, pad);
}

/* mode_max.c's rANS step for two streams at once, stream a in lanes 0-7 and b
 * in 8-15: one 16-lane gather (b's slot entries addressed from a's table,
 * so both must lie within 512 MiB of each other), a multiply-add, each
 * stream's renormalisation words expanded into its own lanes. P pairs per
 * round, whose chains are independent. A lone stream is paired with itself
 * (its copy's symbols and words are not kept). Bit-identical to the
 * portable loop by construction. */
TARGET static inline __attribute__((always_inline)) void rans_run_pairs(enec_rans_stream *st, unsigned count,
                                                                          const unsigned P, uint32_t rounds)
{
    const __m512i m4095 = _mm512_set1_epi32(4095), one = _mm512_set1_epi32(1), zero = _mm512_setzero_si512();
    __m512i X[3], off[3];
    enec_rans_stream *a[3], *b[3];
    const uint8_t *wa[3], *wb[3];
    for (unsigned p = 0; p < P; p++) {
        a[p] = &st[2 * p], b[p] = 2 * p + 1 < count ? &st[2 * p + 1] : &st[2 * p];
        uint32_t t[16];
        memcpy(t, a[p]->x, 32), memcpy(t + 8, b[p]->x, 32);
        X[p] = _mm512_loadu_si512(t);
        const int32_t d = (int32_t)(b[p]->slot - a[p]->slot);
        for (unsigned k = 0; k < 16; k++) t[k] = k < 8 ? 0u : (uint32_t)d;
        off[p] = _mm512_loadu_si512(t);
        wa[p] = a[p]->w, wb[p] = b[p]->w;
    }
    for (uint32_t r = 0; r < rounds; r++) {
#pragma GCC unroll 3
        for (unsigned p = 0; p < P; p++) {
            __m512i idx = _mm512_add_epi32(_mm512_and_si512(X[p], m4095), off[p]);
            __m512i d = _mm512_i32gather_epi32(idx, (const void *)a[p]->slot, 4);
            __m512i f = _mm512_add_epi32(_mm512_and_si512(_mm512_srli_epi32(d, 8), m4095), one);
            __m512i x = _mm512_add_epi32(_mm512_mullo_epi32(f, _mm512_srli_epi32(X[p], 12)), _mm512_srli_epi32(d, 20));
            __mmask16 need = _mm512_cmpeq_epi32_mask(_mm512_srli_epi32(x, 16), zero);
            const unsigned ma = need & 0xFFu, mb = (unsigned)need >> 8;
            __m512i words = _mm512_or_si512(rans_words512(spread8[ma], wa[p], a[p]->limit),
                                            rans_words512((__mmask32)spread8[mb] << 16, wb[p], b[p]->limit));
            X[p] = _mm512_mask_blend_epi32(need, x, _mm512_or_si512(_mm512_slli_epi32(x, 16), words));
            wa[p] += 2 * (unsigned)__builtin_popcount(ma);
            wb[p] += 2 * (unsigned)__builtin_popcount(mb);
            _mm512_mask_cvtepi32_storeu_epi8(a[p]->sym + 8 * r, 0x00FF, d);
            if (b[p] != a[p]) _mm512_mask_cvtepi32_storeu_epi8(b[p]->sym + 8 * r, 0x00FF, _mm512_shuffle_i32x4(d, d, 0xEE));
        }
    }
    for (unsigned p = 0; p < P; p++) {
        uint32_t t[16];
        _mm512_storeu_si512(t, X[p]);
        memcpy(a[p]->x, t, 32);
        a[p]->w = wa[p];
        a[p]->sym += 8 * rounds;
        if (b[p] != a[p]) {
            memcpy(b[p]->x, t + 8, 32);
            b[p]->w = wb[p];
            b[p]->sym += 8 * rounds;
        }
    }
}

/* Pairs whose slot tables are too far apart for one gather's 32-bit
 * indices run each stream paired with itself. */
TARGET static void rans_run_avx512(enec_rans_stream *st, unsigned count, uint32_t rounds)
{
    pthread_once(&spread_once, spread_init);
    int near = 1;
    for (unsigned s = 1; s < count; s++) {
        const ptrdiff_t d = st[s].slot - st[s & ~1u].slot;
        near &= d > -(ptrdiff_t)(1 << 27) && d < (ptrdiff_t)(1 << 27);
    }
    if (!near) {
        for (unsigned s = 0; s < count; s++) rans_run_pairs(st + s, 1, 1, rounds);
        return;
    }
    switch ((count + 1) / 2) { /* a constant pair count per loop, so the states stay in registers */
    case 1: rans_run_pairs(st, count, 1, rounds); break;
    case 2: rans_run_pairs(st, count, 2, rounds); break;
    default: rans_run_pairs(st, count, 3, rounds); break;
    }
}

/* rev[c]: a vpermd control that reverses lanes 0 .. c - 1: after a compress
 * the words of a round's c renormalising lanes lie lane 0 first, and the
 * portable encoder writes lane 7's first. */
static uint32_t rev[MAX8 + 1][16];
static pthread_once_t rev_once = PTHREAD_ONCE_INIT;

static void rev_init(void)
{
    for (unsigned c = 0; c <= MAX8; c++)
        for (unsigned i = 0; i < 16; i++) rev[c][i] = i < c ? c - 1 - i : i;
}

/* mode_max.c's encoding step for two streams at once, stream 0 in lanes 0-7
 * and 1 in 8-15: gathers of the symbols' constants (stream 1's addressed
 * from stream 0's table), each stream's renormalisation words compressed out
 * of its half and stored lane 7 first, x / f by the multiply-high of the
 * table's magic. Bit-identical to the portable loop by construction. */
TARGET static void rans_encode2_avx512(uint32_t *const x[2], const uint8_t *const sym[2], uint32_t rounds,
                                       const enec_rans_enc_table *const t[2], uint16_t *const words[2],
                                       uint32_t nw[2])
{
    pthread_once(&rev_once, rev_init);
    const __m512i m1fff = _mm512_set1_epi32(0x1FFF), mfff = _mm512_set1_epi32(0xFFF), one = _mm512_set1_epi32(1);
    const __m512i scale = _mm512_set1_epi32(4096);
    uint32_t tmp[16];
    memcpy(tmp, x[0], 32), memcpy(tmp + 8, x[1], 32);
    __m512i X = _mm512_loadu_si512(tmp);
    const int32_t d = (int32_t)((const uint32_t *)t[1] - (const uint32_t *)t[0]);
    for (unsigned k = 0; k < 16; k++) tmp[k] = k < 8 ? 0u : (uint32_t)d;
    const __m512i off = _mm512_loadu_si512(tmp);
    uint32_t n0 = nw[0], n1 = nw[1];
    for (uint32_t r = rounds; r-- > 0;) {
        uint64_t s0, s1;
        memcpy(&s0, sym[0] + 8 * r, 8), memcpy(&s1, sym[1] + 8 * r, 8);
        __m512i v = _mm512_add_epi32(_mm512_cvtepu8_epi32(_mm_set_epi64x((long long)s1, (long long)s0)), off);
        __m512i fcs = _mm512_i32gather_epi32(v, (const void *)t[0]->fcs, 4);
        __m512i mag = _mm512_i32gather_epi32(v, (const void *)t[0]->magic, 4);
        __m512i f = _mm512_and_si512(fcs, m1fff);
        __mmask16 out = _mm512_cmpge_epu32_mask(_mm512_srli_epi32(X, 20), f);
        const unsigned c0 = (unsigned)__builtin_popcount(out & 0xFFu), c1 = (unsigned)__builtin_popcount(out >> 8);
        __m512i w0 = _mm512_permutexvar_epi32(_mm512_loadu_si512(rev[c0]), _mm512_maskz_compress_epi32(out & 0xFFu, X));
        __m512i w1 = _mm512_permutexvar_epi32(_mm512_loadu_si512(rev[c1]), _mm512_maskz_compress_epi32(out & 0xFF00u, X));
        _mm512_mask_cvtepi32_storeu_epi16(words[0] + n0, (__mmask16)((1u << c0) - 1), w0);
        _mm512_mask_cvtepi32_storeu_epi16(words[1] + n1, (__mmask16)((1u << c1) - 1), w1);
        n0 += c0, n1 += c1;
        X = _mm512_mask_blend_epi32(out, X, _mm512_srli_epi32(X, 16));
        __m512i even = _mm512_mul_epu32(X, mag);
        __m512i odd = _mm512_mul_epu32(_mm512_srli_epi64(X, 32), _mm512_srli_epi64(mag, 32));
        __m512i h = _mm512_mask_blend_epi32(0xAAAA, _mm512_srli_epi64(even, 32), odd);
        __m512i q = _mm512_srlv_epi32(_mm512_add_epi32(_mm512_srli_epi32(_mm512_sub_epi32(X, h), 1), h),
                                      _mm512_srli_epi32(fcs, 25));
        q = _mm512_mask_blend_epi32(_mm512_cmpeq_epi32_mask(f, one), q, X);
        X = _mm512_add_epi32(_mm512_add_epi32(X, _mm512_and_si512(_mm512_srli_epi32(fcs, 13), mfff)),
                             _mm512_mullo_epi32(q, _mm512_sub_epi32(scale, f)));
    }
    _mm512_storeu_si512(tmp, X);
    memcpy(x[0], tmp, 32), memcpy(x[1], tmp + 8, 32);
    nw[0] = n0, nw[1] = n1;
}

const enec_block_kernels enec_kernels_avx512 = {
    .lanes = 32,
    .histogram = {[ENEC_DTYPE_BF16] = histogram, [ENEC_DTYPE_FP16] = histogram, [ENEC_DTYPE_FP32] = histogram},
    .split = {[ENEC_DTYPE_BF16] = split, [ENEC_DTYPE_FP16] = split, [ENEC_DTYPE_FP32] = split},
    .join = {[ENEC_DTYPE_BF16] = join, [ENEC_DTYPE_FP16] = join, [ENEC_DTYPE_FP32] = join},
    .fast_encode = fast_encode,
    .fast_decode = fast_decode,
    .fast_decode_join = {[ENEC_DTYPE_BF16] = fast_decode_join, [ENEC_DTYPE_FP16] = fast_decode_join,
                         [ENEC_DTYPE_FP32] = fast_decode_join},
    .rans_run = rans_run_avx512,
    .rans_encode2 = rans_encode2_avx512,
#if ENEC_X86
    .rans_encode = enec_rans_encode_avx2,
    .max_planes = enec_max_planes_avx2,
    .max_assemble = enec_max_assemble_avx2,
#endif
};

#else
typedef int enec_no_avx512; /* ISO C forbids an empty translation unit */
#endif
