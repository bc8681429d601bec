/* layout.h - the stream layout of docs/FORMAT.md: element split, block and section sizes, header I/O. */
#ifndef ENEC_LAYOUT_H
#define ENEC_LAYOUT_H

#include "../common/internal.h"

#define ENEC_MAGIC "ENEC"
#define ENEC_HEADER_FIXED 44  /* bytes before the shape */
#define ENEC_TABLE_ENTRY 8

/* Per-dtype constants of the exponent split (FORMAT.md section 2). */
typedef struct {
    enec_dtype dtype;
    unsigned ebits;    /* exponent bits E */
    unsigned rawbits;  /* raw bits per element */
    unsigned itemsize;
} enec_dtype_info;

/* NULL for dtypes the codec does not code. */
const enec_dtype_info *enec_dtype_lookup(enec_dtype d);

/* Where everything is in a coded stream; all offsets from the stream start. */
typedef struct {
    const enec_dtype_info *di;
    enec_params p;
    uint64_t count, nblocks;
    uint32_t last_valid, last_B;     /* elements in / padded size of the last block */
    uint64_t table_off, header_size; /* header_size includes the block table */
    uint64_t raw_off, low_off, mask_off, high_off;
    uint64_t raw_block, low_block, mask_block; /* bytes per full block */
    uint64_t fixed_size;             /* RAW + LOW + MASK bytes */
} enec_layout;

/* Padded element count of block i. */
static inline uint32_t enec_block_B(const enec_layout *l, uint64_t i)
{
    return i + 1 < l->nblocks ? ENEC_BLOCK : l->last_B;
}
static inline uint32_t enec_block_valid(const enec_layout *l, uint64_t i)
{
    return i + 1 < l->nblocks ? ENEC_BLOCK : l->last_valid;
}
/* Bytes per element group of the high section: L values of h bits. */
static inline uint64_t enec_high_group_bytes(const enec_params *p)
{
    return (uint64_t)p->L * (uint64_t)(p->n - p->m) / 8;
}

/* Fill the layout of a coded stream. The header size depends on ndim and
 * descr_len only. count must be >= 1 and small enough not to overflow
 * (callers bound it by an input size first). */
void enec_layout_init(enec_layout *l, const enec_dtype_info *di, const enec_params *p,
                      uint64_t count, uint32_t ndim, uint32_t descr_len);

/* Bytes of a header for this ndim and descr (without the block table). */
static inline uint64_t enec_header_bytes(uint32_t ndim, uint32_t descr_len)
{
    return ENEC_HEADER_FIXED + 8ull * ndim + descr_len + 4;
}

/* Write the header (not the table) at dst; returns its size. */
size_t enec_write_header(uint8_t *dst, const enec_tensor *t, uint32_t mode, const enec_params *p,
                         uint64_t count, uint64_t payload_size, uint32_t data_crc);

/* Valid parameters for a dtype (FORMAT.md section 2). */
int enec_params_valid(const enec_params *p, const enec_dtype_info *di);

/* Product of a shape, or 0 with *overflow set. */
uint64_t enec_shape_count(const uint64_t *shape, uint32_t ndim, int *overflow);

#endif
