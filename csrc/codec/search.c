/* search.c - the fast mode's per-tensor parameter search of FORMAT.md section 5: one histogram pass, then an exhaustive search. */
#include <stdlib.h>
#include "../common/internal.h"
#include "elements.h"
#include "layout.h"
#include "../common/threads.h"
#include "kernels.h"
#include "search.h"

static unsigned bitlen(unsigned v)
{
    unsigned k = 0;
    while (v >> k) k++;
    return k;
}
static unsigned ceil_log2(unsigned v) { return v <= 1 ? 0 : bitlen(v - 1); }

void enec_histogram_add(const enec_dtype_info *di, const uint8_t *src, uint64_t begin, uint64_t end, uint64_t *hist)
{
    /* The exponent of every coded dtype sits in its top 16 bits. */
    const unsigned isz = di->itemsize, hi = isz > 2 ? isz - 2 : 0, M = di->mbits - 8 * hi, E = di->ebits;
    if (isz == 1)
        for (uint64_t i = begin; i < end; i++) hist[enec_exp_part(src[i], M, E)]++;
    else
        for (uint64_t i = begin; i < end; i++) hist[enec_exp_part(enec_load16(src + isz * i + hi), M, E)]++;
}

unsigned enec_histogram_window(const enec_dtype_info *di, const uint8_t *src, uint64_t count, uint64_t *hist,
                               uint64_t *done)
{
    const unsigned top = (1u << di->ebits) - 1;
    const uint64_t n = count < 2048 ? count : 2048;
    memset(hist, 0, sizeof(uint64_t) * ENEC_HIST_BINS);
    enec_histogram_add(di, src, 0, n, hist);
    unsigned mode = 0;
    for (unsigned x = 1; x <= top; x++)
        if (hist[x] > hist[mode]) mode = x;
    /* 12 values below the mode, 3 above: weights' exponents tail off towards zero */
    int w0 = (int)mode - 12;
    if (w0 > (int)top - 15) w0 = (int)top - 15;
    if (w0 < 0) w0 = 0;
    *done = n;
    return (unsigned)w0;
}

void enec_histogram_ref(const enec_dtype_info *di, const uint8_t *src, uint64_t count, uint64_t *hist)
{
    memset(hist, 0, sizeof(uint64_t) * ENEC_HIST_BINS);
    enec_histogram_add(di, src, 0, count, hist);
}

int enec_params_cover(const enec_params *p, const uint64_t *hist, unsigned ebits)
{
    for (unsigned x = 0; x < (1u << ebits); x++) {
        int d = (int)p->b - (int)x;
        if (hist[x] && (d < -(1 << (p->n - 1)) || d > (1 << (p->n - 1)) - 1)) return 0;
    }
    return 1;
}

void enec_params_from_histogram(const uint64_t *hist, unsigned ebits, enec_params *out)
{
    unsigned nx = 1u << ebits, lo = nx, hi = 0;
    uint64_t count = 0;
    for (unsigned x = 0; x < nx; x++) {
        if (!hist[x]) continue;
        if (lo == nx) lo = x;
        hi = x;
        count += hist[x];
    }
    unsigned best_b = lo, best_n = 1;
    uint64_t best_d = UINT64_MAX;
    for (unsigned b = lo; b <= hi; b++) {
        unsigned nl = bitlen(b - lo), nh = ceil_log2(hi - b);
        unsigned n = (nl > nh ? nl : nh) + 1;
        uint64_t d = 0;
        for (unsigned x = lo; x <= hi; x++) d += hist[x] * enec_code(b, x, n);
        if (d < best_d) best_d = d, best_b = b, best_n = n;
    }

    /* below[m] = elements whose code fits in m bits. */
    uint64_t below[17] = {0};
    for (unsigned x = lo; x <= hi; x++) {
        unsigned y = enec_code(best_b, x, best_n);
        for (unsigned m = bitlen(y); m <= best_n; m++) below[m] += hist[x];
    }
    static const unsigned Ls[3] = {16, 32, 64};
    double best = 0;
    int have = 0;
    for (int li = 0; li < 3; li++) {
        for (unsigned m = 0; m <= best_n; m++) {
            double p = (double)below[m] / (double)count, pl = p;
            /* p^L by squaring: exact same rounding on every IEEE machine. */
            for (unsigned s = 1; s < Ls[li]; s <<= 1) pl *= pl;
            double B = 1.0 / Ls[li] + (double)best_n + ((double)m - (double)best_n) * pl;
            if (!have || B < best) {
                have = 1;
                best = B;
                out->m = (uint8_t)m;
                out->L = (uint8_t)Ls[li];
            }
        }
    }
    out->b = (uint8_t)best_b;
    out->n = (uint8_t)best_n;
    out->bits = best;
}

typedef struct {
    enec_hist_fn fn;
    const enec_dtype_info *di;
    const uint8_t *src;
    uint64_t count;
    uint64_t (*hist)[ENEC_HIST_BINS];
} hist_ctx;

/* Items are chunks of ENEC_BLOCK elements, so ranges split on block edges. */
static size_t hist_range(void *ctx, uint64_t begin, uint64_t end, int worker)
{
    hist_ctx *c = (hist_ctx *)ctx;
    uint64_t lo = begin * ENEC_BLOCK, hi = end * ENEC_BLOCK;
    if (hi > c->count) hi = c->count;
    uint64_t h[ENEC_HIST_BINS];
    c->fn(c->di, c->src + lo * c->di->itemsize, hi - lo, h);
    for (unsigned x = 0; x < ENEC_HIST_BINS; x++) c->hist[worker][x] += h[x]; /* a worker takes several ranges */
    return 0;
}

size_t enec_histogram_parallel(const enec_block_kernels *k, int threads, const uint8_t *src, uint64_t count,
                               const enec_dtype_info *di, uint64_t *hist)
{
    enec_hist_fn fn = enec_histogram_for(k, di->dtype);
    uint64_t chunks = (count + ENEC_BLOCK - 1) / ENEC_BLOCK;
    int t = enec_resolve_threads(threads, chunks);
    if (t <= 1) {
        fn(di, src, count, hist);
        return 0;
    }
    uint64_t (*parts)[ENEC_HIST_BINS] = calloc((size_t)t, sizeof *parts);
    if (!parts) return ENEC_ERROR(NOMEM);
    hist_ctx c = {fn, di, src, count, parts};
    size_t r = enec_parallel_for_dynamic(t, chunks, enec_turn_size(t, chunks, 1), hist_range, &c);
    memset(hist, 0, sizeof(uint64_t) * ENEC_HIST_BINS);
    for (int w = 0; w < t; w++)
        for (unsigned x = 0; x < ENEC_HIST_BINS; x++) hist[x] += parts[w][x];
    free(parts);
    return r;
}

size_t enec_search_params(const void *src, uint64_t count, enec_dtype dtype, enec_params *out)
{
    const enec_dtype_info *di = enec_dtype_lookup(dtype);
    if (!di || !out || count == 0 || !src) return ENEC_ERROR(BAD_ARGUMENT);
    uint64_t hist[ENEC_HIST_BINS];
    size_t r = enec_histogram_parallel(enec_kernels_get(ENEC_BACKEND_AUTO), 0, (const uint8_t *)src, count, di, hist);
    if (enec_is_error(r)) return r;
    enec_params_from_histogram(hist, di->ebits, out);
    return 0;
}
