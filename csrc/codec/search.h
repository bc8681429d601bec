/* search.h - the fast mode's parameter search, shared with the frame and the simulated NPU's host side. */
#ifndef ENEC_SEARCH_H
#define ENEC_SEARCH_H
#include "layout.h"

#define ENEC_HIST_BINS 256

/* Adds the exponents of elements [begin, end) to hist: the reference, and the SIMD kernels' prefix and tail. */
void enec_histogram_add(const enec_dtype_info *di, const uint8_t *src, uint64_t begin, uint64_t end, uint64_t *hist);

/* The SIMD histograms count a 16-value window of exponents, w0 .. w0 + 15,
 * with vector code and the rare exponents outside it one by one. This sets
 * hist to the histogram of a prefix of the count elements (*done of them)
 * and returns w0: the window around the prefix's most common exponent. */
unsigned enec_histogram_window(const enec_dtype_info *di, const uint8_t *src, uint64_t count, uint64_t *hist,
                               uint64_t *done);

/* Adds to cnt[t] the lanes of `in` whose d = x - w0 is t, given the four bit
 * planes of d (bit j of p[k] is bit k of lane j's d; lanes outside `in` may
 * hold anything): each bin is an AND of planes or their complements, built
 * as 4 x 4 products of the two high and the two low planes, and popcounted. */
static inline void enec_count_window(uint64_t *cnt, uint64_t in, uint64_t p0, uint64_t p1, uint64_t p2, uint64_t p3)
{
    const uint64_t hi[4] = {in & ~p3 & ~p2, in & ~p3 & p2, in & p3 & ~p2, in & p3 & p2};
    const uint64_t lo[4] = {~p1 & ~p0, ~p1 & p0, p1 & ~p0, p1 & p0};
#pragma GCC unroll 4
    for (int a = 0; a < 4; a++)
#pragma GCC unroll 4
        for (int b = 0; b < 4; b++) cnt[4 * a + b] += (uint64_t)__builtin_popcountll(hi[a] & lo[b]);
}

/* The search of FORMAT.md section 5 over a non-empty histogram. */
void enec_params_from_histogram(const uint64_t *hist, unsigned ebits, enec_params *out);

/* Every exponent present in hist lies in b - 2^(n-1) .. b + 2^(n-1) - 1. */
int enec_params_cover(const enec_params *p, const uint64_t *hist, unsigned ebits);

#endif
