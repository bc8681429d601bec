/* kernels_avx2.c - AVX2 block kernels: the reference's arithmetic on sixteen 16-bit lanes at a time. */
#include "cpu.h"
#if ENEC_X86
#include <immintrin.h>
#include <pthread.h>
#include <string.h>
#include "../codec/elements.h"
#include "../codec/kernels.h"
#include "../codec/search.h"
#include "../codec/pack.h"
#include "kernels_avx2.h"

#define TARGET __attribute__((target("avx2,bmi,bmi2,popcnt")))

/* Kernel scratch layout (ENEC_KERNEL_SCRATCH): three lane arrays of ENEC_BLOCK and two of G. */
typedef struct {
    uint16_t v[ENEC_BLOCK], w[ENEC_BLOCK], r3[ENEC_BLOCK];
    uint16_t acc[ENEC_BLOCK / 16], cols[ENEC_BLOCK / 16]; /* cols: flagged groups before each mask byte */
} scratch;

TARGET static inline __m256i splat16(unsigned v) { return _mm256_set1_epi16((short)v); }

/* pshufb controls for 8 lanes of 16 bits under a mask byte mb:
 * expand_lut[mb] puts packed value popcount(mb & (2^t - 1)) into each set
 * lane t and zero into clear lanes; compress_lut[mb] is its inverse, packing
 * the set lanes to the front. */
static uint8_t expand_lut[256][16], compress_lut[256][16];
static pthread_once_t lut_once = PTHREAD_ONCE_INIT;

static void lut_init(void)
{
    for (unsigned mb = 0; mb < 256; mb++) {
        unsigned idx = 0;
        memset(compress_lut[mb], 0x80, 16);
        for (unsigned t = 0; t < 8; t++) {
            int on = (mb >> t) & 1;
            expand_lut[mb][2 * t] = on ? (uint8_t)(2 * idx) : 0x80;
            expand_lut[mb][2 * t + 1] = on ? (uint8_t)(2 * idx + 1) : 0x80;
            if (on) {
                compress_lut[mb][2 * idx] = (uint8_t)(2 * t);
                compress_lut[mb][2 * idx + 1] = (uint8_t)(2 * t + 1);
            }
            idx += (unsigned)on;
        }
    }
}

/* ---- hierarchical halving packing, vectorised stage by stage -------------- */

/* v[i] |= v[i + n] << w for i < n */
TARGET static void fold(uint16_t *v, size_t n, unsigned w)
{
    const __m128i sh = _mm_cvtsi32_si128((int)w);
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256i a = _mm256_loadu_si256((const __m256i *)(v + i));
        __m256i c = _mm256_loadu_si256((const __m256i *)(v + i + n));
        _mm256_storeu_si256((__m256i *)(v + i), _mm256_or_si256(a, _mm256_sll_epi16(c, sh)));
    }
    for (; i < n; i++) v[i] = (uint16_t)(v[i] | (v[i + n] << w));
}

/* Emit the low byte of v[0..n) and, when more bits remain, shift them down. */
TARGET static void emit(uint8_t *out, uint16_t *v, size_t n, int shift)
{
    const __m256i lo = splat16(0xFF);
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m256i a = _mm256_loadu_si256((const __m256i *)(v + i));
        __m256i b = _mm256_loadu_si256((const __m256i *)(v + i + 16));
        __m256i bytes = _mm256_packus_epi16(_mm256_and_si256(a, lo), _mm256_and_si256(b, lo));
        _mm256_storeu_si256((__m256i *)(out + i), _mm256_permute4x64_epi64(bytes, 0xD8));
        if (shift) {
            _mm256_storeu_si256((__m256i *)(v + i), _mm256_srli_epi16(a, 8));
            _mm256_storeu_si256((__m256i *)(v + i + 16), _mm256_srli_epi16(b, 8));
        }
    }
    for (; i < n; i++) {
        out[i] = (uint8_t)v[i];
        if (shift) v[i] >>= 8;
    }
}

/* v[i + half] = v[i] >> w; v[i] &= 2^w - 1 for i < half */
TARGET static void unfold(uint16_t *v, size_t half, unsigned w)
{
    const __m128i sh = _mm_cvtsi32_si128((int)w);
    const __m256i mask = splat16((1u << w) - 1);
    size_t i = 0;
    for (; i + 16 <= half; i += 16) {
        __m256i a = _mm256_loadu_si256((const __m256i *)(v + i));
        _mm256_storeu_si256((__m256i *)(v + i + half), _mm256_srl_epi16(a, sh));
        _mm256_storeu_si256((__m256i *)(v + i), _mm256_and_si256(a, mask));
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
    for (; i + 16 <= n; i += 16) {
        __m256i b = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(in + i)));
        if (hi) b = _mm256_or_si256(b, _mm256_slli_epi16(_mm256_loadu_si256((const __m256i *)(v + i)), 8));
        _mm256_storeu_si256((__m256i *)(v + i), b);
    }
    for (; i < n; i++) v[i] = (uint16_t)((hi ? v[i] << 8 : 0) | in[i]);
}

static const enec_pack_stages stages = {fold, emit, unfold, load_bytes};

/* The halving pack of n values of w = 3 or 4 bits (the widths of real
 * weights' LOW and of float16's raw fields), n a multiple of 128, in one
 * pass over v instead of the fold and emit passes, the same bytes: w = 4
 * puts value j in the low nibble of byte j and value j + n/2 in the high
 * one; w = 3 builds the 12-bit value of four quarters, value j + t n/4 at
 * bit 3 x (t with its two bits swapped) (decode's r3_fields), writes its
 * low byte at j < n/4 and then its high nibbles, lanes j and j + n/8 in one
 * byte. */
TARGET static size_t pack34(uint8_t *out, const uint16_t *v, size_t n, unsigned w)
{
#define LD(p) _mm256_loadu_si256((const __m256i *)(p))
    if (w == 4) {
        const size_t h = n / 2;
        for (size_t j = 0; j < h; j += 32) {
            __m256i c0 = _mm256_or_si256(LD(v + j), _mm256_slli_epi16(LD(v + h + j), 4));
            __m256i c1 = _mm256_or_si256(LD(v + j + 16), _mm256_slli_epi16(LD(v + h + j + 16), 4));
            _mm256_storeu_si256((__m256i *)(out + j), _mm256_permute4x64_epi64(_mm256_packus_epi16(c0, c1), 0xD8));
        }
        return h;
    }
    const size_t q = n / 4, e = n / 8;
    const __m256i mff = splat16(0xFF);
    for (size_t j = 0; j < e; j += 16) {
        __m256i x[2];
        for (int u = 0; u < 2; u++) {
            const uint16_t *p = v + j + (size_t)u * e;
            x[u] = _mm256_or_si256(_mm256_or_si256(LD(p), _mm256_slli_epi16(LD(p + 2 * q), 3)),
                                   _mm256_or_si256(_mm256_slli_epi16(LD(p + q), 6), _mm256_slli_epi16(LD(p + 3 * q), 9)));
        }
        __m256i lo = _mm256_permute4x64_epi64(_mm256_packus_epi16(_mm256_and_si256(x[0], mff), _mm256_and_si256(x[1], mff)), 0xD8);
        _mm_storeu_si128((__m128i *)(out + j), _mm256_castsi256_si128(lo));
        _mm_storeu_si128((__m128i *)(out + j + e), _mm256_extracti128_si256(lo, 1));
        __m256i hi = _mm256_or_si256(_mm256_srli_epi16(x[0], 8), _mm256_slli_epi16(_mm256_srli_epi16(x[1], 8), 4));
        __m256i hb = _mm256_permute4x64_epi64(_mm256_packus_epi16(hi, hi), 0xD8);
        _mm_storeu_si128((__m128i *)(out + q + j), _mm256_castsi256_si128(hb));
    }
    return q + e;
#undef LD
}

static size_t pack(uint8_t *out, uint16_t *v, size_t n, unsigned w)
{
    if ((w == 3 || w == 4) && n % 128 == 0) return pack34(out, v, n, w);
    return enec_pack_by(&stages, out, v, n, w);
}
static void unpack(uint16_t *v, const uint8_t *in, size_t n, unsigned w) { enec_unpack_by(&stages, v, in, n, w); }

/* ---- histogram -------------------------------------------------------------- */

/* The exponents of 32 elements as bytes, in any order (counting ignores it). */
TARGET static inline __m256i exponents32(const uint8_t *p, enec_dtype dtype)
{
    if (dtype == ENEC_DTYPE_FP32) {
        const __m256i m = _mm256_set1_epi32(0xFF);
        __m256i a = _mm256_and_si256(_mm256_srli_epi32(_mm256_loadu_si256((const __m256i *)p), 23), m);
        __m256i b = _mm256_and_si256(_mm256_srli_epi32(_mm256_loadu_si256((const __m256i *)(p + 32)), 23), m);
        __m256i c = _mm256_and_si256(_mm256_srli_epi32(_mm256_loadu_si256((const __m256i *)(p + 64)), 23), m);
        __m256i d = _mm256_and_si256(_mm256_srli_epi32(_mm256_loadu_si256((const __m256i *)(p + 96)), 23), m);
        return _mm256_packus_epi16(_mm256_packus_epi32(a, b), _mm256_packus_epi32(c, d));
    }
    const unsigned sh = dtype == ENEC_DTYPE_BF16 ? 7 : 10;
    const __m256i m = splat16(dtype == ENEC_DTYPE_BF16 ? 0xFF : 0x1F);
    const __m128i s = _mm_cvtsi32_si128((int)sh);
    __m256i a = _mm256_and_si256(_mm256_srl_epi16(_mm256_loadu_si256((const __m256i *)p), s), m);
    __m256i b = _mm256_and_si256(_mm256_srl_epi16(_mm256_loadu_si256((const __m256i *)(p + 32)), s), m);
    return _mm256_packus_epi16(a, b);
}

/* Bit k of each of 32 bytes d < 16 as a mask: a 16-bit shift by 7 - k puts
 * it at the top of its byte without crossing into the next. */
#define PLANE32(d, k) ((uint32_t)_mm256_movemask_epi8(_mm256_slli_epi16((d), 7 - (k))))

/* Weight exponents crowd into a few values: a 16-value window (search.h)
 * is counted 64 elements at a time from the four bit planes of d = x - w0,
 * one movemask each, every bin an AND of planes and a popcount; the rare
 * exponents outside the window go one by one. Exact for any data. */
TARGET static void histogram(const enec_dtype_info *di, const uint8_t *src, uint64_t count, uint64_t *hist)
{
    const enec_dtype dtype = di->dtype;
    const unsigned isz = dtype == ENEC_DTYPE_FP32 ? 4 : 2;
    uint64_t i;
    const unsigned w0 = enec_histogram_window(di, src, count, hist, &i);
    const __m256i w0v = _mm256_set1_epi8((char)w0), fifteen = _mm256_set1_epi8(15);
    uint64_t cnt[16] = {0};
    for (; i + 64 <= count; i += 64) {
        __m256i x0 = exponents32(src + i * isz, dtype), x1 = exponents32(src + (i + 32) * isz, dtype);
        __m256i d0 = _mm256_sub_epi8(x0, w0v), d1 = _mm256_sub_epi8(x1, w0v);
        uint64_t in = (uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(_mm256_min_epu8(d0, fifteen), d0)) |
                      (uint64_t)(uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(_mm256_min_epu8(d1, fifteen), d1))
                          << 32;
        if (~in) {
            uint8_t tmp[64];
            _mm256_storeu_si256((__m256i *)tmp, x0);
            _mm256_storeu_si256((__m256i *)(tmp + 32), x1);
            for (uint64_t o = ~in; o; o = _blsr_u64(o)) hist[tmp[_tzcnt_u64(o)]]++;
        }
        enec_count_window(cnt, in, PLANE32(d0, 0) | (uint64_t)PLANE32(d1, 0) << 32,
                          PLANE32(d0, 1) | (uint64_t)PLANE32(d1, 1) << 32, PLANE32(d0, 2) | (uint64_t)PLANE32(d1, 2) << 32,
                          PLANE32(d0, 3) | (uint64_t)PLANE32(d1, 3) << 32);
    }
    for (int t = 0; t < 16; t++) hist[w0 + t] += cnt[t];
    enec_histogram_add(di, src, i, count, hist);
}
#undef PLANE32

/* ---- encode ------------------------------------------------------------------ */

/* y = (b - x) mod 2^n on sixteen lanes of exponents. */
TARGET static inline __m256i code16(__m256i x, __m256i bv, __m256i nmask)
{
    return _mm256_and_si256(_mm256_sub_epi16(bv, x), nmask);
}

/* bf16 words (or fp32 high halves) to codes y and raw bytes r8. */
TARGET static inline __m256i bf16_split(__m256i u, __m256i bv, __m256i nmask, __m256i *raw)
{
    const __m256i m80 = splat16(0x80), m7f = splat16(0x7F), mff = splat16(0xFF);
    *raw = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(u, 8), m80), _mm256_and_si256(u, m7f));
    return code16(_mm256_and_si256(_mm256_srli_epi16(u, 7), mff), bv, nmask);
}

/* Two vectors of 16-bit values < 256 to 32 bytes in lane order. */
TARGET static inline void store_bytes32(uint8_t *out, __m256i a, __m256i b)
{
    _mm256_storeu_si256((__m256i *)out, _mm256_permute4x64_epi64(_mm256_packus_epi16(a, b), 0xD8));
}

/* Split a full block (valid == B, a multiple of 32) into codes y and the RAW
 * section; registered for bfloat16, float16 and float32 only. */
TARGET static void split(const enec_layout *l, const uint8_t *in, uint32_t valid, uint32_t B, uint16_t *y, uint8_t *raw,
                         void *scratch_)
{
    (void)valid;
    scratch *s = (scratch *)scratch_;
    const enec_params *p = &l->p;
    const __m256i bv = splat16(p->b), nmask = splat16((1u << p->n) - 1);
    uint32_t i = 0;
    switch (l->di->dtype) {
    case ENEC_DTYPE_BF16:
        for (; i < B; i += 32) {
            __m256i r0, r1;
            __m256i y0 = bf16_split(_mm256_loadu_si256((const __m256i *)(in + 2 * i)), bv, nmask, &r0);
            __m256i y1 = bf16_split(_mm256_loadu_si256((const __m256i *)(in + 2 * i + 32)), bv, nmask, &r1);
            _mm256_storeu_si256((__m256i *)(y + i), y0);
            _mm256_storeu_si256((__m256i *)(y + i + 16), y1);
            store_bytes32(raw + i, r0, r1);
        }
        break;
    case ENEC_DTYPE_FP16: {
        const __m256i m1f = splat16(0x1F), mff = splat16(0xFF), m4 = splat16(4), m3 = splat16(3);
        for (; i < B; i += 32) {
            __m256i u0 = _mm256_loadu_si256((const __m256i *)(in + 2 * i));
            __m256i u1 = _mm256_loadu_si256((const __m256i *)(in + 2 * i + 32));
            _mm256_storeu_si256((__m256i *)(y + i), code16(_mm256_and_si256(_mm256_srli_epi16(u0, 10), m1f), bv, nmask));
            _mm256_storeu_si256((__m256i *)(y + i + 16), code16(_mm256_and_si256(_mm256_srli_epi16(u1, 10), m1f), bv, nmask));
            store_bytes32(raw + i, _mm256_and_si256(u0, mff), _mm256_and_si256(u1, mff));
            __m256i t0 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(u0, 13), m4), _mm256_and_si256(_mm256_srli_epi16(u0, 8), m3));
            __m256i t1 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(u1, 13), m4), _mm256_and_si256(_mm256_srli_epi16(u1, 8), m3));
            _mm256_storeu_si256((__m256i *)(s->r3 + i), t0);
            _mm256_storeu_si256((__m256i *)(s->r3 + i + 16), t1);
        }
        pack(raw + B, s->r3, B, 3);
        break;
    }
    case ENEC_DTYPE_FP32: {
        const __m256i lo16 = _mm256_set1_epi32(0xFFFF);
        for (; i < B; i += 32) {
            __m256i hi[2], lo[2];
            for (int h = 0; h < 2; h++) {
                __m256i a = _mm256_loadu_si256((const __m256i *)(in + 4 * (i + 16 * h)));
                __m256i c = _mm256_loadu_si256((const __m256i *)(in + 4 * (i + 16 * h) + 32));
                /* packus works per 128-bit lane; the permute restores element order */
                hi[h] = _mm256_permute4x64_epi64(_mm256_packus_epi32(_mm256_srli_epi32(a, 16), _mm256_srli_epi32(c, 16)), 0xD8);
                lo[h] = _mm256_permute4x64_epi64(_mm256_packus_epi32(_mm256_and_si256(a, lo16), _mm256_and_si256(c, lo16)), 0xD8);
                _mm256_storeu_si256((__m256i *)(raw + B + 2 * (i + 16 * h)), lo[h]);
            }
            __m256i r0, r1;
            _mm256_storeu_si256((__m256i *)(y + i), bf16_split(hi[0], bv, nmask, &r0));
            _mm256_storeu_si256((__m256i *)(y + i + 16), bf16_split(hi[1], bv, nmask, &r1));
            store_bytes32(raw + i, r0, r1);
        }
        break;
    }
    default: break; /* not registered for other dtypes */
    }
}

/* The fast mode's coder on a full block of codes y (G a multiple of 16). */
TARGET static uint32_t fast_encode(const enec_layout *l, const uint16_t *y, uint32_t B, uint8_t *low, uint8_t *mask,
                                   uint8_t *high, void *scratch_)
{
    scratch *s = (scratch *)scratch_;
    const enec_params *p = &l->p;
    const unsigned n = p->n, m = p->m, L = p->L;
    const uint32_t G = B / L;

    /* One pass over the rows: LOW lanes (the m low bits of every code) and
     * the OR of each strided group, a column of the row-major block. */
    const __m256i mmask = splat16((1u << m) - 1);
    for (uint32_t k = 0; k < L; k++) {
        const uint16_t *row = y + k * G;
        uint16_t *lowrow = s->v + k * G;
        for (uint32_t j = 0; j < G; j += 16) {
            __m256i yv = _mm256_loadu_si256((const __m256i *)(row + j));
            _mm256_storeu_si256((__m256i *)(lowrow + j), _mm256_and_si256(yv, mmask));
            if (k) yv = _mm256_or_si256(yv, _mm256_loadu_si256((const __m256i *)(s->acc + j)));
            _mm256_storeu_si256((__m256i *)(s->acc + j), yv);
        }
    }
    pack(low, s->v, B, m);

    /* MASK: a group is flagged when its OR has bits above m. */
    const __m128i msh = _mm_cvtsi32_si128((int)m);
    for (uint32_t j = 0; j < G; j += 16) {
        __m256i hi = _mm256_srl_epi16(_mm256_loadu_si256((const __m256i *)(s->acc + j)), msh);
        __m256i z = _mm256_cmpeq_epi16(hi, _mm256_setzero_si256());
        __m256i zb = _mm256_permute4x64_epi64(_mm256_packs_epi16(z, z), 0xD8);
        uint32_t bits = ~(uint32_t)_mm256_movemask_epi8(zb) & 0xFFFF;
        mask[j >> 3] = (uint8_t)bits;
        mask[(j >> 3) + 1] = (uint8_t)(bits >> 8);
    }
    uint32_t F = 0;
    uint16_t *rankp = s->cols; /* flagged groups before each mask byte */
    for (uint32_t g = 0; g < G / 8; g++) {
        rankp[g] = (uint16_t)F;
        F += (uint32_t)__builtin_popcount(mask[g]);
    }

    /* HIGH: row by row, the flagged columns' high bits, left-packed eight
     * columns at a time. Each store may spill up to 7 lanes past its row;
     * the next row's stores (or unused scratch) overwrite them. */
    if (F) {
        pthread_once(&lut_once, lut_init);
        for (uint32_t k = 0; k < L; k++) {
            const uint16_t *row = y + k * G;
            uint16_t *dst = s->w + k * F;
            for (uint32_t g = 0; g < G / 8; g++) {
                unsigned mb = mask[g];
                if (!mb) continue;
                __m128i hv = _mm_srl_epi16(_mm_loadu_si128((const __m128i *)(row + 8 * g)), msh);
                _mm_storeu_si128((__m128i *)(dst + rankp[g]),
                                 _mm_shuffle_epi8(hv, _mm_loadu_si128((const __m128i *)compress_lut[mb])));
            }
        }
        pack(high, s->w, (size_t)L * F, n - m);
    }
    return F;
}

/* ---- decode ------------------------------------------------------------------ */

/* High bits (already shifted by m) of 16 columns j0..j0+15 of one row. */
TARGET static inline __m256i expand16(const uint16_t *hrow, const uint16_t *rankp, const uint8_t *mask, uint32_t j0)
{
    uint32_t g = j0 >> 3;
    __m128i a = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(hrow + rankp[g])),
                                 _mm_loadu_si128((const __m128i *)expand_lut[mask[g]]));
    __m128i b = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(hrow + rankp[g + 1])),
                                 _mm_loadu_si128((const __m128i *)expand_lut[mask[g + 1]]));
    return _mm256_inserti128_si256(_mm256_castsi128_si256(a), b, 1);
}

/* x = (b - sext_n(y)) mod 2^E on sixteen lanes. */
TARGET static inline __m256i uncode16(__m256i y, __m256i bv, __m128i sh, __m256i emask)
{
    __m256i s = _mm256_sra_epi16(_mm256_sll_epi16(y, sh), sh);
    return _mm256_and_si256(_mm256_sub_epi16(bv, s), emask);
}

/* bfloat16 words (or float32 high halves) from sixteen codes y and raw
 * bytes r (sign at bit 7, mantissa below): the exponent is uncoded already
 * shifted into place, x << 7 = ((b << 7) - (sext_n(y) << 7)) & 0x7F80 with
 * sext_n(y) << 7 = (y << (16 - n)) >>a (9 - n), and r x 0x0101 & 0x807F puts
 * the sign at bit 15 beside the mantissa: two shifts and a multiply where
 * uncoding and shifting each part took four shifts. */
TARGET static inline __m256i bf16_elem16(__m256i y, __m256i r, __m256i b7, __m128i sh, __m128i sh7)
{
    const __m256i mexp = splat16(0x7F80), k0101 = splat16(0x0101), msm = splat16(0x807F);
    __m256i x7 = _mm256_and_si256(_mm256_sub_epi16(b7, _mm256_sra_epi16(_mm256_sll_epi16(y, sh), sh7)), mexp);
    return _mm256_or_si256(x7, _mm256_and_si256(_mm256_mullo_epi16(r, k0101), msm));
}

/* One output vector: sixteen codes y to elements at element index i; t3,
 * float16's 3-bit raw fields of those elements (evaluated for float16 only). */
#define JOIN16_T(i, yv, t3)                                                                             \
    do {                                                                                                \
        __m256i r_ = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(raw + (i))));               \
        if (dt == ENEC_DTYPE_BF16) {                                                                    \
            _mm256_storeu_si256((__m256i *)(out + 2 * (i)), bf16_elem16((yv), r_, b7, sh, sh7));        \
        } else if (dt == ENEC_DTYPE_FP16) {                                                             \
            __m256i x_ = uncode16((yv), bv, sh, emask);                                                 \
            __m256i t_ = (t3);                                                                          \
            __m256i u_ = _mm256_or_si256(_mm256_slli_epi16(_mm256_and_si256(t_, m4), 13), _mm256_slli_epi16(x_, 10)); \
            u_ = _mm256_or_si256(u_, _mm256_or_si256(_mm256_slli_epi16(_mm256_and_si256(t_, m3), 8), r_)); \
            _mm256_storeu_si256((__m256i *)(out + 2 * (i)), u_);                                        \
        } else if (dt == ENEC_DTYPE_FP32) {                                                             \
            __m256i h_ = bf16_elem16((yv), r_, b7, sh, sh7);                                            \
            __m256i l_ = _mm256_loadu_si256((const __m256i *)(raw + B + 2 * (i)));                      \
            __m256i a_ = _mm256_unpacklo_epi16(l_, h_), c_ = _mm256_unpackhi_epi16(l_, h_);             \
            _mm256_storeu_si256((__m256i *)(out + 4 * (i)), _mm256_permute2x128_si256(a_, c_, 0x20));   \
            _mm256_storeu_si256((__m256i *)(out + 4 * (i) + 32), _mm256_permute2x128_si256(a_, c_, 0x31)); \
        }                                                                                               \
    } while (0)
#define JOIN16(i, yv) JOIN16_T(i, yv, _mm256_loadu_si256((const __m256i *)(s->r3 + (i))))

/* When groups are flagged: HIGH pre-shifted by m into s->v and the ranks of
 * the flagged columns. */
TARGET static void unpack_high(const enec_layout *l, const uint8_t *mask, const uint8_t *high, uint32_t B, uint32_t F,
                               scratch *s)
{
    const enec_params *p = &l->p;
    const unsigned n = p->n, m = p->m, L = p->L;
    if (!F) return;
    pthread_once(&lut_once, lut_init);
    unpack(s->v, high, (size_t)L * F, n - m);
    /* pre-shift the high values once, so the merge only ORs */
    const __m128i msh = _mm_cvtsi32_si128((int)m);
    for (uint32_t i = 0; i < L * F; i += 16)
        _mm256_storeu_si256((__m256i *)(s->v + i), _mm256_sll_epi16(_mm256_loadu_si256((const __m256i *)(s->v + i)), msh));
    for (uint32_t g = 0, r = 0; g < B / L / 8; g++) {
        s->cols[g] = (uint16_t)r; /* flagged columns before each group of 8 */
        r += (uint32_t)__builtin_popcount(mask[g]);
    }
}

/* The fast decoder's first half: LOW into y, and HIGH as unpack_high. */
TARGET static void fast_unpack(const enec_layout *l, const uint8_t *low, const uint8_t *mask, const uint8_t *high,
                               uint32_t B, uint32_t F, uint16_t *y, scratch *s)
{
    unpack(y, low, B, l->p.m);
    unpack_high(l, mask, high, B, F, s);
}

/* Sixteen codes of row k from column j: LOW, ORed with the row's flagged
 * high values, which sit at v + k F. */
TARGET static inline __m256i merged16(const uint16_t *y, const scratch *s, const uint8_t *mask, uint32_t F,
                                      uint32_t G, uint32_t k, uint32_t j)
{
    __m256i yv = _mm256_loadu_si256((const __m256i *)(y + k * G + j));
    return F ? _mm256_or_si256(yv, expand16(s->v + k * F, s->cols, mask, j)) : yv;
}

/* The fast mode's decoder: codes y of a full block (G a multiple of 16). */
TARGET static void fast_decode(const enec_layout *l, const uint8_t *low, const uint8_t *mask, const uint8_t *high,
                               uint32_t B, uint32_t F, uint16_t *y, void *scratch_)
{
    scratch *s = (scratch *)scratch_;
    const uint32_t L = l->p.L, G = B / L;
    fast_unpack(l, low, mask, high, B, F, y, s);
    if (!F) return;
    for (uint32_t k = 0; k < L; k++)
        for (uint32_t j = 0; j < G; j += 16)
            _mm256_storeu_si256((__m256i *)(y + k * G + j), merged16(y, s, mask, F, G, k, j));
}

/* A halving-packed run of n 3-bit values (FORMAT.md section 4 at w = 3):
 * for j < n/4 the pack left a 12-bit value v = run0[j] | (4 bits of run1)
 * << 8 holding values j, j + n/2, j + n/4 and j + 3n/4 at bits 0, 3, 6 and
 * 9. These are the sixteen values v of lanes j .. j + 15. */
TARGET static inline __m256i r3_fields(const uint8_t *in, uint32_t n, uint32_t j)
{
    const uint32_t q = n / 4, e = n / 8;
    __m256i lo = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(in + j)));
    __m256i hb = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(in + q + (j < e ? j : j - e))));
    __m256i hi = j < e ? _mm256_and_si256(hb, _mm256_set1_epi16(15)) : _mm256_srli_epi16(hb, 4);
    return _mm256_or_si256(lo, _mm256_slli_epi16(hi, 8));
}

/* float16's packed 3-bit raw fields in one pass over r3_fields' values; the
 * staged unpacker takes three (load, two unfolds) over the same lanes. */
TARGET static void unpack_r3(uint16_t *v, const uint8_t *in, uint32_t n)
{
    if (n % 128) { /* the quarters and eighths would not fall on whole vectors */
        unpack(v, in, n, 3);
        return;
    }
    const uint32_t q = n / 4;
    const __m256i m7 = _mm256_set1_epi16(7);
    for (uint32_t j = 0; j < q; j += 16) {
        __m256i x = r3_fields(in, n, j);
        _mm256_storeu_si256((__m256i *)(v + j), _mm256_and_si256(x, m7));
        _mm256_storeu_si256((__m256i *)(v + j + 2 * q), _mm256_and_si256(_mm256_srli_epi16(x, 3), m7));
        _mm256_storeu_si256((__m256i *)(v + j + q), _mm256_and_si256(_mm256_srli_epi16(x, 6), m7));
        _mm256_storeu_si256((__m256i *)(v + j + 3 * q), _mm256_srli_epi16(x, 9));
    }
}

/* The join's constants (dt, the dtype, declared by the caller). */
#define JOIN_SETUP()                                                                                    \
    const unsigned b = l->p.b, n = l->p.n, E = l->di->ebits;                                            \
    const __m256i bv = splat16(b), emask = splat16((1u << E) - 1), m4 = splat16(4), m3 = splat16(3);   \
    const __m256i b7 = splat16(b << 7);                                                                 \
    const __m128i sh = _mm_cvtsi32_si128(16 - (int)n), sh7 = _mm_cvtsi32_si128(9 - (int)n)

/* Codes y and the RAW section back to a full block of elements;
 * registered for bfloat16, float16 and float32 only. */
TARGET static void join(const enec_layout *l, const uint16_t *y, const uint8_t *raw, uint32_t valid, uint32_t B,
                        uint8_t *out, void *scratch_)
{
    (void)valid;
    scratch *s = (scratch *)scratch_;
    const enec_dtype dt = l->di->dtype;
    JOIN_SETUP();
    if (dt == ENEC_DTYPE_FP16) unpack_r3(s->r3, raw + B, B);
    for (uint32_t i = 0; i < B; i += 16) JOIN16(i, _mm256_loadu_si256((const __m256i *)(y + i)));
}

/* Sixteen m-bit values i .. i + 15 (i a multiple of 16) of a full block's
 * halving-packed run (FORMAT.md section 4), straight from its bytes, for the
 * widths real weights use: m = 4 packs the values of the two halves of the
 * block into each byte's low and high nibble; m = 3 the values of its four
 * quarters into each 12-bit value of r3_fields, quarter t at bit 3 x (t with
 * its two bits swapped), the order of the two unfold passes. */
TARGET static inline __m256i direct16(const uint8_t *in, const unsigned M, uint32_t i)
{
    if (M == 4) {
        const uint32_t h = ENEC_BLOCK / 2;
        __m256i v = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(in + (i < h ? i : i - h))));
        return i < h ? _mm256_and_si256(v, splat16(15)) : _mm256_srli_epi16(v, 4);
    }
    const uint32_t q = ENEC_BLOCK / 4, t = i / q;
    const __m128i shift = _mm_cvtsi32_si128((int)(3 * ((t >> 1) | ((t & 1) << 1))));
    return _mm256_and_si256(_mm256_srl_epi16(r3_fields(in, ENEC_BLOCK, i - t * q), shift), splat16(7));
}

/* fast_decode and join in one pass: each merged code goes from the register
 * to the join instead of through y. The body is expanded once per dtype and
 * the loop once for blocks with and without flagged groups, so the hot loop
 * tests neither (perf put about a sixth of its samples on those tests and on
 * locals reloaded from the stack). M = 3 or 4: a full block whose LOW is
 * that wide (98-100% of the bytes of the real weights in benchmarks/), whose
 * codes and float16 raw fields come from the packed bytes in the loop itself
 * (direct16), without the unpacker's passes; M = 0: any block, LOW unpacked
 * into y and the raw fields into s->r3 first. */
TARGET static inline __attribute__((always_inline)) void decode_join_body(
    const enec_layout *l, const uint8_t *low, const uint8_t *mask, const uint8_t *high, const uint8_t *raw,
    uint32_t B, uint32_t F, uint8_t *out, uint16_t *y, scratch *s, const enec_dtype dt, const unsigned M)
{
    const uint32_t L = l->p.L, G = B / L;
    if (M) {
        unpack_high(l, mask, high, B, F, s);
    } else {
        fast_unpack(l, low, mask, high, B, F, y, s);
        if (dt == ENEC_DTYPE_FP16) unpack_r3(s->r3, raw + B, B);
    }
    JOIN_SETUP();
#define CODES16(i) (M ? direct16(low, M, (i)) : _mm256_loadu_si256((const __m256i *)(y + (i))))
#define JOIN16_M(i, yv) \
    JOIN16_T(i, yv, M ? direct16(raw + B, 3, (i)) : _mm256_loadu_si256((const __m256i *)(s->r3 + (i))))
    if (!F) {
        for (uint32_t i = 0; i < B; i += 16) JOIN16_M(i, CODES16(i));
        return;
    }
    for (uint32_t k = 0; k < L; k++) {
        const uint16_t *hrow = s->v + k * F;
        for (uint32_t j = 0; j < G; j += 16)
            JOIN16_M(k * G + j, _mm256_or_si256(CODES16(k * G + j), expand16(hrow, s->cols, mask, j)));
    }
#undef JOIN16_M
#undef CODES16
}

#define DECODE_JOIN(name, DT)                                                                                      \
    TARGET static void name(const enec_layout *l, const uint8_t *low, const uint8_t *mask, const uint8_t *high,   \
                            const uint8_t *raw, uint32_t B, uint32_t F, uint8_t *out, uint16_t *y, void *scratch_) \
    {                                                                                                              \
        scratch *s_ = (scratch *)scratch_;                                                                         \
        const unsigned m_ = B == ENEC_BLOCK ? l->p.m : 0;                                                          \
        if (m_ == 3) decode_join_body(l, low, mask, high, raw, B, F, out, y, s_, DT, 3);                          \
        else if (m_ == 4) decode_join_body(l, low, mask, high, raw, B, F, out, y, s_, DT, 4);                     \
        else decode_join_body(l, low, mask, high, raw, B, F, out, y, s_, DT, 0);                                  \
    }
DECODE_JOIN(fast_decode_join_bf16, ENEC_DTYPE_BF16)
DECODE_JOIN(fast_decode_join_fp16, ENEC_DTYPE_FP16)
DECODE_JOIN(fast_decode_join_fp32, ENEC_DTYPE_FP32)
#undef DECODE_JOIN
#undef JOIN_SETUP
#undef JOIN16
#undef JOIN16_T

/* ---- mode max: eight interleaved rANS lanes, one per 32-bit lane --------------- */

/* perm8[m][k]: which of the next words lane k takes when the lanes in m need
 * one: the count of needing lanes before k (the portable loop's order). */
static uint32_t perm8[256][8];
static pthread_once_t perm_once = PTHREAD_ONCE_INIT;

static void perm_init(void)
{
    for (unsigned m = 0; m < 256; m++)
        for (unsigned k = 0, r = 0; k < 8; k++) {
            perm8[m][k] = r;
            r += (m >> k) & 1;
        }
}

/* The next eight 16-bit words of a stream, as 32-bit lanes; zeros past its limit. */
TARGET static inline __m256i rans_words(const uint8_t *w, const uint8_t *limit)
{
    if (limit - w >= 16) return _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)w));
    uint8_t pad[16] = {0};
    if (limit > w) memcpy(pad, w, (size_t)(limit - w));
    return _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)pad));
}

/* mode_max.c's rANS step on all eight lanes at once: a gather of the slot
 * entries, a multiply-add, and the renormalisation words expanded to the
 * lanes that need them; for S streams per iteration, whose chains are
 * independent, so their latencies overlap. Bit-identical to the portable
 * loop by construction. */
TARGET static inline __attribute__((always_inline)) void rans_run_s(enec_rans_stream *st, const unsigned S,
                                                                      uint32_t rounds)
{
    const __m256i m4095 = _mm256_set1_epi32(4095), m255 = _mm256_set1_epi32(255), one = _mm256_set1_epi32(1);
    const __m256i zero = _mm256_setzero_si256();
    __m256i X[ENEC_RANS_STREAMS];
    const uint8_t *w[ENEC_RANS_STREAMS];
    for (unsigned s = 0; s < S; s++) X[s] = _mm256_loadu_si256((const __m256i *)st[s].x), w[s] = st[s].w;
    for (uint32_t r = 0; r < rounds; r++) {
#pragma GCC unroll 6
        for (unsigned s = 0; s < S; s++) {
            __m256i d = _mm256_i32gather_epi32((const int *)st[s].slot, _mm256_and_si256(X[s], m4095), 4);
            __m256i f = _mm256_add_epi32(_mm256_and_si256(_mm256_srli_epi32(d, 8), m4095), one);
            __m256i x = _mm256_add_epi32(_mm256_mullo_epi32(f, _mm256_srli_epi32(X[s], 12)), _mm256_srli_epi32(d, 20));
            __m256i need = _mm256_cmpeq_epi32(_mm256_srli_epi32(x, 16), zero);
            unsigned m = (unsigned)_mm256_movemask_ps(_mm256_castsi256_ps(need));
            __m256i mine = _mm256_permutevar8x32_epi32(rans_words(w[s], st[s].limit),
                                                       _mm256_loadu_si256((const __m256i *)perm8[m]));
            X[s] = _mm256_blendv_epi8(x, _mm256_or_si256(_mm256_slli_epi32(x, 16), mine), need);
            w[s] += 2 * (unsigned)__builtin_popcount(m);
            __m256i b = _mm256_and_si256(d, m255);
            __m128i p16 = _mm_packus_epi32(_mm256_castsi256_si128(b), _mm256_extracti128_si256(b, 1));
            _mm_storel_epi64((__m128i *)(st[s].sym + 8 * r), _mm_packus_epi16(p16, p16));
        }
    }
    for (unsigned s = 0; s < S; s++) {
        _mm256_storeu_si256((__m256i *)st[s].x, X[s]);
        st[s].w = w[s];
        st[s].sym += 8 * rounds;
    }
}

TARGET void enec_rans_run_avx2(enec_rans_stream *st, unsigned count, uint32_t rounds)
{
    pthread_once(&perm_once, perm_init);
    switch (count) { /* a constant stream count per loop, so the states stay in registers */
    case 1: rans_run_s(st, 1, rounds); break;
    case 2: rans_run_s(st, 2, rounds); break;
    case 3: rans_run_s(st, 3, rounds); break;
    case 4: rans_run_s(st, 4, rounds); break;
    case 5: rans_run_s(st, 5, rounds); break;
    default: rans_run_s(st, 6, rounds); break;
    }
}

/* enc_perm[m]: the byte shuffle that takes the 16-bit words (in lane order)
 * of the lanes in m, lane 7 first, as the portable encoder writes them. */
static uint8_t enc_perm[256][16];
static pthread_once_t enc_once = PTHREAD_ONCE_INIT;

static void enc_perm_init(void)
{
    for (unsigned m = 0; m < 256; m++) {
        unsigned j = 0;
        for (unsigned k = 8; k-- > 0;)
            if ((m >> k) & 1) enc_perm[m][2 * j] = (uint8_t)(2 * k), enc_perm[m][2 * j + 1] = (uint8_t)(2 * k + 1), j++;
        for (; j < 8; j++) enc_perm[m][2 * j] = enc_perm[m][2 * j + 1] = 0x80;
    }
}

/* mode_max.c's encoding step on all eight lanes at once: gathers of the
 * symbols' constants, the words of the lanes that renormalise packed out in
 * one store, and x / f by the multiply-high of the table's magic. */
TARGET uint32_t enec_rans_encode_avx2(uint32_t *x, const uint8_t *sym, uint32_t rounds, const enec_rans_enc_table *t,
                                      uint16_t *words, uint32_t nw)
{
    pthread_once(&enc_once, enc_perm_init);
    const __m256i m1fff = _mm256_set1_epi32(0x1FFF), mfff = _mm256_set1_epi32(0xFFF), one = _mm256_set1_epi32(1);
    const __m256i scale = _mm256_set1_epi32(4096), ones = _mm256_set1_epi32(-1);
    const __m256i lo16 = _mm256_setr_epi8(0, 1, 4, 5, 8, 9, 12, 13, -1, -1, -1, -1, -1, -1, -1, -1, 0, 1, 4, 5, 8, 9,
                                          12, 13, -1, -1, -1, -1, -1, -1, -1, -1);
    __m256i X = _mm256_loadu_si256((const __m256i *)x);
    for (uint32_t r = rounds; r-- > 0;) {
        __m256i v = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(sym + 8 * r)));
        __m256i fcs = _mm256_i32gather_epi32((const int *)t->fcs, v, 4);
        __m256i mag = _mm256_i32gather_epi32((const int *)t->magic, v, 4);
        __m256i f = _mm256_and_si256(fcs, m1fff);
        /* out where x >> 20 >= f (both below 2^13, so the signed compare is exact) */
        __m256i out = _mm256_xor_si256(_mm256_cmpgt_epi32(f, _mm256_srli_epi32(X, 20)), ones);
        unsigned m = (unsigned)_mm256_movemask_ps(_mm256_castsi256_ps(out));
        __m256i w16 = _mm256_shuffle_epi8(X, lo16);
        __m128i w = _mm_unpacklo_epi64(_mm256_castsi256_si128(w16), _mm256_extracti128_si256(w16, 1));
        _mm_storeu_si128((__m128i *)(words + nw), _mm_shuffle_epi8(w, _mm_loadu_si128((const __m128i *)enc_perm[m])));
        nw += (unsigned)__builtin_popcount(m);
        X = _mm256_blendv_epi8(X, _mm256_srli_epi32(X, 16), out);
        __m256i even = _mm256_mul_epu32(X, mag);
        __m256i odd = _mm256_mul_epu32(_mm256_srli_epi64(X, 32), _mm256_srli_epi64(mag, 32));
        __m256i h = _mm256_blend_epi32(_mm256_srli_epi64(even, 32), odd, 0xAA);
        __m256i q = _mm256_srlv_epi32(_mm256_add_epi32(_mm256_srli_epi32(_mm256_sub_epi32(X, h), 1), h),
                                      _mm256_srli_epi32(fcs, 25));
        q = _mm256_blendv_epi8(q, X, _mm256_cmpeq_epi32(f, one));
        X = _mm256_add_epi32(_mm256_add_epi32(X, _mm256_and_si256(_mm256_srli_epi32(fcs, 13), mfff)),
                             _mm256_mullo_epi32(q, _mm256_sub_epi32(scale, f)));
    }
    _mm256_storeu_si256((__m256i *)x, X);
    return nw;
}

/* ---- mode max: elements <-> byte planes (mode_max.c's planes_get and assemble) ---- */

/* Four planes of 8 elements: byte q of each 32-bit word to plane q, and back.
 * Within a 128-bit lane, bytes go to [byte 0 of 4 words][byte 1]...; the
 * lane-crossing permute then puts each plane's 8 bytes in one 64-bit quarter. */
TARGET static inline void planes4_put(__m256i t, uint8_t (*pl)[ENEC_BLOCK], uint32_t e)
{
    const __m256i byq = _mm256_setr_epi8(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15, 0, 4, 8, 12, 1, 5, 9, 13,
                                         2, 6, 10, 14, 3, 7, 11, 15);
    t = _mm256_permutevar8x32_epi32(_mm256_shuffle_epi8(t, byq), _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm_storel_epi64((__m128i *)(pl[0] + e), _mm256_castsi256_si128(t));
    _mm_storeh_pd((double *)(pl[1] + e), _mm_castsi128_pd(_mm256_castsi256_si128(t)));
    _mm_storel_epi64((__m128i *)(pl[2] + e), _mm256_extracti128_si256(t, 1));
    _mm_storeh_pd((double *)(pl[3] + e), _mm_castsi128_pd(_mm256_extracti128_si256(t, 1)));
}

TARGET static inline __m256i planes4_get(const uint8_t *const *pl, uint32_t e)
{
    const __m256i inv = _mm256_setr_epi8(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15, 0, 4, 8, 12, 1, 5, 9, 13,
                                         2, 6, 10, 14, 3, 7, 11, 15);
    uint64_t q0, q1, q2, q3;
    memcpy(&q0, pl[0] + e, 8), memcpy(&q1, pl[1] + e, 8), memcpy(&q2, pl[2] + e, 8), memcpy(&q3, pl[3] + e, 8);
    __m256i t = _mm256_setr_epi64x((long long)q0, (long long)q1, (long long)q2, (long long)q3);
    /* quarters [p0 e0-7][p1][p2][p3] -> lanes [p0 e0-3, p1 e0-3, p2 e0-3, p3 e0-3][the same for e4-7] */
    t = _mm256_permutevar8x32_epi32(t, _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7));
    return _mm256_shuffle_epi8(t, inv); /* a 4x4 byte transpose is its own inverse */
}

/* bf16/fp16 words -> two byte planes: the low bytes of a and b, lanes fixed up. */
TARGET static inline void planes2_put(__m256i a, __m256i b, uint8_t *p0, uint8_t *p1)
{
    __m256i t = _mm256_permute4x64_epi64(_mm256_packus_epi16(a, b), 0xD8);
    _mm_storeu_si128((__m128i *)p0, _mm256_castsi256_si128(t));
    _mm_storeu_si128((__m128i *)p1, _mm256_extracti128_si256(t, 1));
}

TARGET static inline __m256i byte16(const uint8_t *p) { return _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)p)); }

TARGET uint32_t enec_max_planes_avx2(const enec_dtype_info *di, uint32_t isz, unsigned split, const uint8_t *in,
                                     uint32_t n, uint8_t (*pl)[ENEC_BLOCK])
{
    const __m256i lo8 = _mm256_set1_epi16(0xFF);
    uint32_t e = 0;
    const int dt = split == 0 && di ? (int)di->dtype : -1;
    if (split == 1 && isz == 2) {
        for (; e + 16 <= n; e += 16) {
            __m256i u = _mm256_loadu_si256((const __m256i *)(in + 2 * e));
            planes2_put(_mm256_and_si256(u, lo8), _mm256_srli_epi16(u, 8), pl[0] + e, pl[1] + e);
        }
    } else if (split == 1 && isz == 4) {
        for (; e + 8 <= n; e += 8) planes4_put(_mm256_loadu_si256((const __m256i *)(in + 4 * e)), pl, e);
    } else if (dt == ENEC_DTYPE_BF16) {
        for (; e + 16 <= n; e += 16) {
            __m256i u = _mm256_loadu_si256((const __m256i *)(in + 2 * e));
            __m256i x = _mm256_and_si256(_mm256_srli_epi16(u, 7), lo8);
            __m256i r = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(u, 8), _mm256_set1_epi16(0x80)),
                                        _mm256_and_si256(u, _mm256_set1_epi16(0x7F)));
            planes2_put(x, r, pl[0] + e, pl[1] + e);
        }
    } else if (dt == ENEC_DTYPE_FP16) {
        for (; e + 16 <= n; e += 16) {
            __m256i u = _mm256_loadu_si256((const __m256i *)(in + 2 * e));
            __m256i x = _mm256_and_si256(_mm256_srli_epi16(u, 10), _mm256_set1_epi16(0x1F));
            __m256i r1 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(u, 13), _mm256_set1_epi16(4)),
                                         _mm256_and_si256(_mm256_srli_epi16(u, 8), _mm256_set1_epi16(3)));
            planes2_put(x, _mm256_and_si256(u, lo8), pl[0] + e, pl[1] + e);
            __m256i t = _mm256_permute4x64_epi64(_mm256_packus_epi16(r1, r1), 0xD8);
            _mm_storeu_si128((__m128i *)(pl[2] + e), _mm256_castsi256_si128(t));
        }
    } else if (dt == ENEC_DTYPE_FP32) {
        /* Per word, the planes' bytes: x, r0, r1, r2 (the sign above the top 7 mantissa bits). */
        for (; e + 8 <= n; e += 8) {
            __m256i u = _mm256_loadu_si256((const __m256i *)(in + 4 * e));
            __m256i t = _mm256_or_si256(_mm256_and_si256(_mm256_slli_epi32(u, 8), _mm256_set1_epi32(0x7FFFFF00)),
                                        _mm256_and_si256(u, _mm256_set1_epi32((int)0x80000000u)));
            t = _mm256_or_si256(t, _mm256_and_si256(_mm256_srli_epi32(u, 23), _mm256_set1_epi32(0xFF)));
            planes4_put(t, pl, e);
        }
    }
    return e;
}

TARGET uint32_t enec_max_assemble_avx2(const enec_dtype_info *di, uint32_t isz, unsigned split,
                                       const uint8_t *const *pl, uint32_t n, uint8_t *out)
{
    uint32_t e = 0;
    const int dt = split == 0 && di ? (int)di->dtype : -1;
    if (split == 1 && isz == 2) {
        for (; e + 16 <= n; e += 16) {
            __m128i a = _mm_loadu_si128((const __m128i *)(pl[0] + e)), b = _mm_loadu_si128((const __m128i *)(pl[1] + e));
            _mm_storeu_si128((__m128i *)(out + 2 * e), _mm_unpacklo_epi8(a, b));
            _mm_storeu_si128((__m128i *)(out + 2 * e + 16), _mm_unpackhi_epi8(a, b));
        }
    } else if (split == 1 && isz == 4) {
        for (; e + 8 <= n; e += 8) _mm256_storeu_si256((__m256i *)(out + 4 * e), planes4_get(pl, e));
    } else if (dt == ENEC_DTYPE_BF16) {
        for (; e + 16 <= n; e += 16) {
            __m256i x = byte16(pl[0] + e), r = byte16(pl[1] + e);
            __m256i u = _mm256_or_si256(_mm256_slli_epi16(_mm256_and_si256(r, _mm256_set1_epi16(0x80)), 8),
                                        _mm256_or_si256(_mm256_slli_epi16(x, 7), _mm256_and_si256(r, _mm256_set1_epi16(0x7F))));
            _mm256_storeu_si256((__m256i *)(out + 2 * e), u);
        }
    } else if (dt == ENEC_DTYPE_FP16) {
        for (; e + 16 <= n; e += 16) {
            __m256i x = byte16(pl[0] + e), r0 = byte16(pl[1] + e), r1 = byte16(pl[2] + e);
            __m256i u = _mm256_or_si256(_mm256_slli_epi16(_mm256_and_si256(r1, _mm256_set1_epi16(4)), 13),
                                        _mm256_slli_epi16(x, 10));
            u = _mm256_or_si256(u, _mm256_or_si256(_mm256_slli_epi16(_mm256_and_si256(r1, _mm256_set1_epi16(3)), 8), r0));
            _mm256_storeu_si256((__m256i *)(out + 2 * e), u);
        }
    } else if (dt == ENEC_DTYPE_FP32) {
        for (; e + 8 <= n; e += 8) {
            __m256i t = planes4_get(pl, e);
            __m256i u = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi32(t, 8), _mm256_set1_epi32(0x7FFFFF)),
                                        _mm256_and_si256(t, _mm256_set1_epi32((int)0x80000000u)));
            u = _mm256_or_si256(u, _mm256_slli_epi32(_mm256_and_si256(t, _mm256_set1_epi32(0xFF)), 23));
            _mm256_storeu_si256((__m256i *)(out + 4 * e), u);
        }
    }
    return e;
}

const enec_block_kernels enec_kernels_avx2 = {
    .lanes = 16,
    .histogram = {[ENEC_DTYPE_BF16] = histogram, [ENEC_DTYPE_FP16] = histogram, [ENEC_DTYPE_FP32] = histogram},
    .split = {[ENEC_DTYPE_BF16] = split, [ENEC_DTYPE_FP16] = split, [ENEC_DTYPE_FP32] = split},
    .join = {[ENEC_DTYPE_BF16] = join, [ENEC_DTYPE_FP16] = join, [ENEC_DTYPE_FP32] = join},
    .fast_encode = fast_encode,
    .fast_decode = fast_decode,
    .fast_decode_join = {[ENEC_DTYPE_BF16] = fast_decode_join_bf16, [ENEC_DTYPE_FP16] = fast_decode_join_fp16,
                         [ENEC_DTYPE_FP32] = fast_decode_join_fp32},
    .rans_run = enec_rans_run_avx2,
    .rans_encode = enec_rans_encode_avx2,
    .max_planes = enec_max_planes_avx2,
    .max_assemble = enec_max_assemble_avx2,
};

#else
typedef int enec_no_avx2; /* ISO C forbids an empty translation unit */
#endif
