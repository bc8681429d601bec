/* search.h - parameter search internals shared with the encoder. */
#ifndef ENEC_SEARCH_H
#define ENEC_SEARCH_H
#include "../enec.h"

#define ENEC_HIST_BINS 256

/* Exponent histogram of count elements (hist has ENEC_HIST_BINS entries), the reference kernel. */
void enec_histogram_ref(const uint8_t *src, uint64_t count, enec_dtype dtype, uint64_t *hist);
/* Adds the exponents of elements [begin, end) to hist: the SIMD kernels' prefix and tail. */
void enec_histogram_add(const uint8_t *src, uint64_t begin, uint64_t end, enec_dtype dtype, uint64_t *hist);

/* The search of FORMAT.md section 5 over a non-empty histogram. */
void enec_params_from_histogram(const uint64_t *hist, unsigned ebits, enec_params *out);

#endif
