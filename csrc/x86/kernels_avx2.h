/* kernels_avx2.h - the AVX2 kernels that the AVX-512 row shares (mode max's), declared once for both tables. */
#ifndef ENEC_X86_KERNELS_AVX2_H
#define ENEC_X86_KERNELS_AVX2_H
#include "../codec/kernels.h"

/* Mode max's eight rANS lanes fill one AVX2 vector. AVX-512 parts decode
 * two streams per 512-bit vector and encode two planes of a block at once
 * (kernels_avx512.c); they run these for a block with a single rANS-coded
 * plane and for the plane kernels, which move bytes. Each is an enec_*_fn
 * of kernels.h. */
void enec_rans_run_avx2(enec_rans_stream *st, unsigned count, uint32_t rounds);
uint32_t enec_rans_encode_avx2(uint32_t *x, const uint8_t *sym, uint32_t rounds, const enec_rans_enc_table *t,
                               uint16_t *words, uint32_t nw);
uint32_t enec_max_planes_avx2(const enec_dtype_info *di, uint32_t isz, unsigned split, const uint8_t *in, uint32_t n,
                              uint8_t (*pl)[ENEC_BLOCK]);
uint32_t enec_max_assemble_avx2(const enec_dtype_info *di, uint32_t isz, unsigned split, const uint8_t *const *pl,
                                uint32_t n, uint8_t *out);

#endif
