/* frame.h - the frame layer: header, block table, stored fallback, checksums, limits, the block loop; modes and tensor backends plug in here. */
#ifndef ENEC_FRAME_H
#define ENEC_FRAME_H
#include "kernels.h"

/* ---- modes ----------------------------------------------------------------------
 * A coded mode owns its parameters (header bytes 14..17), its layout of the
 * payload and its per-block coder; the frame owns everything around them.
 * Every coded stream is: header, block table (per block: data CRC and the
 * size of its variable-length part), the mode's fixed-size sections, then
 * the variable-length parts of the blocks in order. Adding a mode is a
 * coder module and a row of enec_modes (frame.c). */
typedef struct {
    enec_mode mode;
    const char *name;
    /* Encoder: can it code elements of this dtype (di NULL: no row) and itemsize? */
    int (*supports)(const enec_dtype_info *di, uint32_t itemsize);
    /* Encoder: the parameters for this tensor (forced ones checked against
     * it), and the mode's tables in *state (or NULL), or an error code. k
     * supplies the histogram kernel. */
    size_t (*choose)(const enec_layout *l, const uint8_t *src, const enec_options *o, const enec_block_kernels *k,
                     enec_params *p, void **state);
    int (*params_valid)(const enec_params *p, const enec_dtype_info *di, uint32_t itemsize);
    /* Decoder, optional: a tighter bound on count for an input of src_size
     * bytes than the frame's own (a table entry per block). */
    int (*count_ok)(const enec_layout *l, size_t src_size);
    /* Encoder, optional: frees what choose left in *state. */
    void (*release)(void *state);
    /* Fill the mode's sections of l (the frame has set di, p, count, nblocks, table_off, header_size). */
    void (*layout)(enec_layout *l);
    /* Most variable-length bytes block i can have (the table check and the encoder's buffers). */
    uint64_t (*var_max)(const enec_layout *l, uint64_t i);
    /* Decoder: a variable-length size the block table may hold for block i. */
    int (*var_size_ok)(const enec_layout *l, uint64_t i, uint64_t size);
    /* Decoder, optional, before decoding block i: checks of its fixed sections
     * against its variable size; returns what the coder needs (fast mode: F)
     * or -1 when corrupt. Without it the coder gets 0. */
    int64_t (*check_block)(const enec_layout *l, const uint8_t *stream, uint64_t i, uint32_t var_size);
    /* Code block i of src with block kernels k: fixed sections into the stream
     * at dst, the variable part at var; returns its size. */
    uint32_t (*encode_block)(const enec_block_kernels *k, const enec_layout *l, uint64_t i, const uint8_t *src,
                             uint8_t *dst, uint8_t *var, void *scratch);
    /* Decode block i into out; -1 when its bytes are not what an encoder writes (corrupt), else 0. */
    int (*decode_block)(const enec_block_kernels *k, const enec_layout *l, uint64_t i, const uint8_t *stream,
                        const uint8_t *var, int64_t aux, uint8_t *out, void *scratch);
    /* Instead of decode_block, for a mode without check_block: decode blocks
     * i .. i + count - 1 (count <= batch(l)) in one call, so that a coder
     * whose steps are a long dependent chain keeps several blocks in flight;
     * -1 when any of them is corrupt, else 0. */
    unsigned (*batch)(const enec_layout *l);
    int (*decode_blocks)(const enec_block_kernels *k, const enec_layout *l, uint64_t i, unsigned count,
                         const uint8_t *stream, uint8_t *out, void *scratch);
} enec_mode_ops;

/* The row of a coded mode; NULL for ENEC_MODE_STORED and unknown modes. */
const enec_mode_ops *enec_mode_lookup(int mode);

/* ---- tensor backends ---------------------------------------------------------------
 * A backend that codes a whole tensor at once (a device): the frame chooses
 * parameters, lays out the stream, writes header and table, computes and
 * checks the CRCs and falls back to a stored stream; the backend only
 * moves the sections. Each call returns 0 or an error code. */
struct enec_tensor_backend {
    const char *name;
    /* Nonzero when it can code this dtype in this mode. */
    int (*supports)(void *ctx, const enec_dtype_info *di, enec_mode mode);
    /* Fixed sections of every block into dst; var_size[i] of each block. */
    size_t (*encode)(void *ctx, const enec_layout *l, const uint8_t *src, uint8_t *dst, uint32_t *var_size);
    /* Once the stream is known to pay: the variable parts into dst, in block order from l's var start. */
    size_t (*place)(void *ctx, const enec_layout *l, uint8_t *dst, const uint32_t *var_size);
    /* Every block of the stream at src into dst; aux[i] as check_block gave it. */
    size_t (*decode)(void *ctx, const enec_layout *l, const uint8_t *src, uint8_t *dst, const uint32_t *var_size,
                     const int64_t *aux);
};

/* enec_compress / enec_decompress with a tensor backend (ctx is its state);
 * tb NULL means the block backend opts->backend, as the public functions do. */
size_t enec_frame_compress(void *dst, size_t cap, const void *src, const enec_tensor *t, const enec_options *opts,
                           const enec_tensor_backend *tb, void *ctx);
size_t enec_frame_decompress(void *dst, size_t cap, const void *src, size_t src_size, const enec_options *opts,
                             const enec_tensor_backend *tb, void *ctx);

/* Checks of a tensor description shared by every entry point: sets count
 * and the byte size; 0 when invalid. */
int enec_tensor_check(const enec_tensor *t, uint64_t *count, uint64_t *nbytes);

/* The format version a writer of `mode` stores (the oldest that reads it). */
uint32_t enec_frame_version(enec_mode mode);
/* The layout of a coded stream of mode mo with parameters p: the frame's
 * part, then the mode's (mo NULL: the frame's part only). Its version is the
 * writer's; a reader sets the stream's. */
void enec_frame_layout(enec_layout *l, const enec_mode_ops *mo, const enec_dtype_info *di, uint32_t itemsize,
                       const enec_params *p, uint64_t count, uint32_t ndim, uint32_t descr_len);

#endif
