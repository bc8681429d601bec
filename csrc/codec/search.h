/* search.h - the fast mode's parameter search, shared with the frame and the simulated NPU's host side. */
#ifndef ENEC_SEARCH_H
#define ENEC_SEARCH_H
#include "layout.h"

#define ENEC_HIST_BINS 256

/* Adds the exponents of elements [begin, end) to hist: the reference, and the SIMD kernels' prefix and tail. */
void enec_histogram_add(const enec_dtype_info *di, const uint8_t *src, uint64_t begin, uint64_t end, uint64_t *hist);

/* The search of FORMAT.md section 5 over a non-empty histogram. */
void enec_params_from_histogram(const uint64_t *hist, unsigned ebits, enec_params *out);

/* Every exponent present in hist lies in b - 2^(n-1) .. b + 2^(n-1) - 1. */
int enec_params_cover(const enec_params *p, const uint64_t *hist, unsigned ebits);

#endif
