/* kernels.h - the per-block kernels each backend implements, and the table that names and dispatches them. */
#ifndef ENEC_KERNELS_H
#define ENEC_KERNELS_H
#include "layout.h"

/* One block to encode: read `in`, write RAW, LOW and MASK in place and the
 * HIGH bytes at `high` (room for B x h / 8 bytes). */
typedef struct {
    const enec_layout *l;
    uint32_t B, valid;  /* padded and real element counts */
    const uint8_t *in;  /* the block's canonical bytes */
    uint8_t *raw, *low, *mask, *high;
} enec_enc_block;

/* One block to decode. The driver has already checked the mask (unused bits
 * zero) and that HIGH holds exactly F groups; kernels trust both. */
typedef struct {
    const enec_layout *l;
    uint32_t B, valid, F;
    const uint8_t *raw, *low, *mask, *high;
    uint8_t *out;       /* the block's canonical bytes, valid x itemsize */
} enec_dec_block;

/* Scratch each worker hands to the kernels: 64-byte aligned, this size. */
#define ENEC_SCRATCH_BYTES (4u * ENEC_BLOCK * sizeof(uint16_t) + 2u * (ENEC_BLOCK / 16) * sizeof(uint16_t) + 64u)

typedef struct {
    const char *name;
    void (*histogram)(const uint8_t *src, uint64_t count, enec_dtype dtype, uint64_t *hist);
    uint32_t (*encode_block)(const enec_enc_block *io, void *scratch);  /* returns F */
    void (*decode_block)(const enec_dec_block *io, void *scratch);
} enec_kernels;

/* Exponent histogram of count elements with the backend's kernel, split over threads. */
size_t enec_histogram_parallel(const enec_kernels *k, int threads, const uint8_t *src, uint64_t count,
                               enec_dtype dtype, uint64_t *hist);

/* The reference kernels (encode.c, decode.c, search.c). */
uint32_t enec_encode_block_ref(const enec_enc_block *io, void *scratch);
void enec_decode_block_ref(const enec_dec_block *io, void *scratch);

/* The kernels of a backend (ENEC_BACKEND_*), or NULL when this CPU or build
 * cannot run it. ENEC_BACKEND_AUTO picks the fastest available. */
const enec_kernels *enec_kernels_get(int backend);

#endif
