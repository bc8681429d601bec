/* layout.h - where everything lies in a stream: the dtype table, the fast mode's sections, block sizes. */
#ifndef ENEC_LAYOUT_H
#define ENEC_LAYOUT_H

#include "../common/internal.h"

#define ENEC_MAGIC "ENEC"
#define ENEC_HEADER_FIXED 44  /* bytes before the shape */
#define ENEC_TABLE_ENTRY 8

/* A row of the dtype table (dtypes.c); the public description is the row. */
typedef enec_dtype_desc enec_dtype_info;

/* The row of a coded dtype, NULL for ENEC_DTYPE_OTHER and unknown codes. */
const enec_dtype_info *enec_dtype_lookup(int dtype);

/* Where everything is in a coded stream; all offsets from the stream start.
 * The frame fills the common part; the mode fills its sections. */
typedef struct {
    const enec_dtype_info *di;       /* NULL for a dtype without a row (ENEC_MODE_MAX codes its bytes) */
    uint32_t itemsize;
    enec_mode mode;
    uint32_t version;                /* the stream's format version (a writer's: enec_frame_version) */
    enec_params p;
    const void *state;               /* the mode's per-tensor tables, when it has any */
    const uint64_t *var_at;          /* decoding: the stream offset of every block's variable part */
    uint64_t count, nblocks;
    uint32_t last_valid, last_B;     /* elements in / padded size of the last block */
    uint64_t table_off, header_size; /* header_size includes the block table */
    /* ENEC_MODE_FAST: fixed-size sections RAW, LOW, MASK, then the HIGH bytes of every block.
     * The frame reads high_off as the start of the variable-length parts in every mode. */
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
/* Bytes of the RAW section of a block of B elements (B a multiple of 16). */
static inline uint64_t enec_raw_bytes(const enec_dtype_info *di, uint64_t B) { return B * di->rawbits / 8; }

/* Fill the layout of a fast-mode stream. The header size depends on ndim and
 * descr_len only. count must be >= 1 and small enough not to overflow
 * (callers bound it by an input size first). */
void enec_layout_init(enec_layout *l, const enec_dtype_info *di, const enec_params *p,
                      uint64_t count, uint32_t ndim, uint32_t descr_len);

/* Bytes of a header for this ndim and descr (without the block table). */
static inline uint64_t enec_header_bytes(uint32_t ndim, uint32_t descr_len)
{
    return ENEC_HEADER_FIXED + 8ull * ndim + descr_len + 4;
}

/* Valid fast-mode parameters for a dtype (FORMAT.md section 2). */
int enec_params_valid(const enec_params *p, const enec_dtype_info *di);

/* Product of a shape, or 0 with *overflow set. */
uint64_t enec_shape_count(const uint64_t *shape, uint32_t ndim, int *overflow);

#endif
