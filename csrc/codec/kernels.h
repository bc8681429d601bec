/* kernels.h - what a block backend implements (element transform, exponent coders, histogram) and the backend registry. */
#ifndef ENEC_KERNELS_H
#define ENEC_KERNELS_H
#include "layout.h"

/* Scratch each worker hands to the kernels: 64-byte aligned, this size.
 * The driver keeps the first ENEC_BLOCK u16 (a block's exponent codes y)
 * for itself and passes the rest, ENEC_KERNEL_SCRATCH bytes, to kernels. */
#define ENEC_KERNEL_SCRATCH (4u * ENEC_BLOCK * sizeof(uint16_t) + 2u * (ENEC_BLOCK / 16) * sizeof(uint16_t) + 64u)
#define ENEC_SCRATCH_BYTES (ENEC_BLOCK * sizeof(uint16_t) + ENEC_KERNEL_SCRATCH + 384u * 1024u) /* + mode max's planes, tables, histograms */

/* ---- the three stages of a block --------------------------------------------
 * 1. The element transform (every mode): split a block of elements into
 *    exponent codes y = (b - x) mod 2^n, one u16 lane each, and the RAW
 *    section (sign and mantissa, laid out as the dtype's row says); join
 *    inverts it. Lanes valid..B-1 are padding: split writes y = 0 and raw
 *    0 there, join ignores them.
 * 2. The exponent coder of the mode: y lanes <-> the mode's sections.
 * 3. The packer (pack.h), which coders and transforms call.
 * A backend supplies whichever it vectorises, per dtype; a NULL entry, or a
 * block whose shape it does not take, runs the reference's. */
typedef void (*enec_split_fn)(const enec_layout *l, const uint8_t *in, uint32_t valid, uint32_t B, uint16_t *y,
                              uint8_t *raw, void *scratch);
typedef void (*enec_join_fn)(const enec_layout *l, const uint16_t *y, const uint8_t *raw, uint32_t valid, uint32_t B,
                             uint8_t *out, void *scratch);
/* Exponent histogram (ENEC_HIST_BINS bins) of count elements. */
typedef void (*enec_hist_fn)(const enec_dtype_info *di, const uint8_t *src, uint64_t count, uint64_t *hist);

/* ENEC_MODE_FAST's coder on one block of y lanes: LOW, MASK written in
 * place, HIGH at `high` (room for B x h / 8 bytes); returns F. */
typedef uint32_t (*enec_fast_encode_fn)(const enec_layout *l, const uint16_t *y, uint32_t B, uint8_t *low,
                                        uint8_t *mask, uint8_t *high, void *scratch);
/* Its inverse: y lanes from LOW, MASK and HIGH. The frame has checked the
 * mask (unused bits zero) and that HIGH holds exactly F groups. */
typedef void (*enec_fast_decode_fn)(const enec_layout *l, const uint8_t *low, const uint8_t *mask,
                                    const uint8_t *high, uint32_t B, uint32_t F, uint16_t *y, void *scratch);

/* Optional, per dtype: fast_decode and join in one pass over the block, for
 * speed (the codes go from register to join instead of through y). Must
 * write what the two stages write; ENEC_UNFUSED=1 in the environment turns
 * every fused entry off, so that tests run the stages on their own too. */
typedef void (*enec_fast_decode_join_fn)(const enec_layout *l, const uint8_t *low, const uint8_t *mask,
                                         const uint8_t *high, const uint8_t *raw, uint32_t B, uint32_t F,
                                         uint8_t *out, uint16_t *y, void *scratch);

/* ENEC_MODE_MAX's rANS decoder over whole rounds of its 8 lanes, run on
 * up to ENEC_RANS_STREAMS independent streams side by side: a round is a
 * chain of dependent steps (table load, multiply, refill), so one stream
 * leaves the core idle; several in flight hide each other's latency. */
#define ENEC_RANS_STREAMS 6u /* measured on Zen 3: 4 and 6 alike on bf16, 6 +45% on fp32; 8 spills */
typedef struct {
    uint32_t x[8];          /* the lane states */
    const uint8_t *w;       /* the next 16-bit word */
    const uint8_t *limit;   /* bytes may be read up to here (the stream's end or beyond) */
    const uint32_t *slot;   /* 4096 packed entries (mode_max.c) */
    uint8_t *sym;           /* the decoded symbols */
} enec_rans_stream;
/* Decode `rounds` rounds (8 symbols each) of each of count streams, moving
 * x, w and sym on. A kernel never reads at or past limit; a stream that
 * wants words there gets zeros and w moves past its end, which the caller
 * treats as corrupt. */
typedef void (*enec_rans_run_fn)(enec_rans_stream *s, unsigned count, uint32_t rounds);

/* Mode max's rANS encoder constants for a table, per symbol v of frequency
 * f (absent symbols: f = 1): magic[v], with 2^32 + magic = floor(2^(32+s)
 * / f) + 1 and s = ceil(log2 f), so that for every 32-bit x
 * x / f = (((x - h) >> 1) + h) >> (s - 1), h = (x * magic) >> 32, exactly
 * (Granlund and Montgomery; f = 1 is x itself); fcs[v] = f | cum << 13 |
 * (s - 1) << 25 (0 for f = 1). */
typedef struct {
    uint32_t magic[256], fcs[256];
} enec_rans_enc_table;
/* Code `rounds` whole rounds of 8 symbols backwards (sym[8 * rounds - 1]
 * first), lanes 7..0 within a round, onto the lane states x; each word that
 * goes out is written at words[nw++] (the caller's buffer has 8 words of
 * slack). Returns nw. */
typedef uint32_t (*enec_rans_encode_fn)(uint32_t *x, const uint8_t *sym, uint32_t rounds,
                                        const enec_rans_enc_table *t, uint16_t *words, uint32_t nw);
/* Two streams of the same number of rounds at once (a backend whose vectors
 * hold sixteen 32-bit lanes): for j = 0, 1 exactly enec_rans_encode_fn on
 * x[j], sym[j], t[j], words[j] with nw[j] in and out. The two tables lie
 * within 512 MiB of each other (the worker's scratch). */
typedef void (*enec_rans_encode2_fn)(uint32_t *const x[2], const uint8_t *const sym[2], uint32_t rounds,
                                     const enec_rans_enc_table *const t[2], uint16_t *const words[2], uint32_t nw[2]);

/* Mode max's element <-> byte-plane transforms (mode_max.c's planes_get and
 * assemble, section 9.2), for the shapes a backend vectorises; `split` is
 * 0 (exponent apart) or 1 (whole bytes). They do elements 0 .. e - 1 for
 * some e <= n and return e (0 for a dtype or split they do not take); the
 * portable loops do the rest. */
typedef uint32_t (*enec_planes_fn)(const enec_dtype_info *di, uint32_t itemsize, unsigned split, const uint8_t *in,
                                   uint32_t n, uint8_t (*pl)[ENEC_BLOCK]);
typedef uint32_t (*enec_assemble_fn)(const enec_dtype_info *di, uint32_t itemsize, unsigned split,
                                     const uint8_t *const *pl, uint32_t n, uint8_t *out);

typedef struct {
    /* A block goes to the vector entries only when it is full (valid == B)
     * and its G = B / L groups are a multiple of `lanes`; every full block
     * is. The short last block of a tensor goes to the reference. */
    unsigned lanes;
    enec_hist_fn histogram[ENEC_DTYPE_COUNT];
    enec_split_fn split[ENEC_DTYPE_COUNT];
    enec_join_fn join[ENEC_DTYPE_COUNT];
    enec_fast_encode_fn fast_encode;
    enec_fast_decode_fn fast_decode;
    enec_fast_decode_join_fn fast_decode_join[ENEC_DTYPE_COUNT];
    enec_rans_run_fn rans_run;   /* optional, as the next three */
    enec_rans_encode_fn rans_encode;
    enec_rans_encode2_fn rans_encode2; /* optional: mode max codes two planes of a block at once */
    enec_planes_fn max_planes;
    enec_assemble_fn max_assemble;
} enec_block_kernels;

/* The portable reference (block_ref.c, search.c): any row of the dtype
 * table, any block shape. The oracle of every other backend. Its per-dtype
 * entries are the functions below, which every backend falls back to. */
extern const enec_block_kernels enec_kernels_ref;
void enec_split_ref(const enec_layout *l, const uint8_t *in, uint32_t valid, uint32_t B, uint16_t *y, uint8_t *raw,
                    void *scratch);
void enec_join_ref(const enec_layout *l, const uint16_t *y, const uint8_t *raw, uint32_t valid, uint32_t B,
                   uint8_t *out, void *scratch);
void enec_histogram_ref(const enec_dtype_info *di, const uint8_t *src, uint64_t count, uint64_t *hist);

/* The stage a backend runs for a dtype: its own, or the reference's. */
static inline enec_split_fn enec_split_for(const enec_block_kernels *k, int dt)
{
    return k->split[dt] ? k->split[dt] : enec_split_ref;
}
static inline enec_join_fn enec_join_for(const enec_block_kernels *k, int dt)
{
    return k->join[dt] ? k->join[dt] : enec_join_ref;
}
static inline enec_hist_fn enec_histogram_for(const enec_block_kernels *k, int dt)
{
    return k->histogram[dt] ? k->histogram[dt] : enec_histogram_ref;
}

/* ---- the registry -------------------------------------------------------------
 * A backend is a row. Block backends (CPU SIMD) code one block at a time
 * under the frame's parallel loop; tensor backends (the simulated NPU, a
 * GPU) take a whole tensor (frame.h). Each csrc/<arch>/ exports its rows,
 * fastest first; dispatch.c probes them once and caches the answers. */
typedef struct enec_tensor_backend enec_tensor_backend;
typedef struct {
    int id;                          /* an enec_backend */
    const char *name;
    int (*probe)(void);              /* nonzero when this CPU runs it */
    const enec_block_kernels *block; /* block backends */
    const enec_tensor_backend *tensor; /* tensor backends */
} enec_backend_row;

/* The rows a csrc/<arch>/ folder contributes, fastest first, ending with a
 * row whose name is NULL; on another architecture the table holds only that
 * end row. dispatch.c lists these tables: a new folder is one line there. */
extern const enec_backend_row enec_backends_x86[];

/* The block kernels of a backend (ENEC_BACKEND_*), or NULL when this CPU or
 * build cannot run it. ENEC_BACKEND_AUTO picks the first available row. */
const enec_block_kernels *enec_kernels_get(int backend);

/* ---- helpers the kernels share -------------------------------------------------- */

/* Exponent histogram split over threads, with the backend's kernel for the dtype. */
size_t enec_histogram_parallel(const enec_block_kernels *k, int threads, const uint8_t *src, uint64_t count,
                               const enec_dtype_info *di, uint64_t *hist);

#endif
