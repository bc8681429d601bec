/* mode_max.c - ENEC_MODE_MAX: elements cut into byte planes, each coded with interleaved static rANS where it pays (FORMAT.md section 9). */
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include "../common/threads.h"
#include "elements.h"
#include "frame.h"
#include "pack.h"

/* rANS with a 32-bit state renormalised by 16-bit words and 12-bit
 * probabilities; MAX_LANES states interleaved over a plane's symbols
 * (symbol e belongs to lane e % lanes), so that vector lanes can decode them
 * side by side. The state lives in [2^16, 2^32). */
#define PROB_BITS 12u
#define PROB_SCALE (1u << PROB_BITS)
#define RANS_LOW (1u << 16)
#define MAX_LANES 8u
#define MAX_PLANES 8u
#define SPLIT_EXP 0u   /* plane 0 the exponent, then the raw part r's bytes from the low end */
#define SPLIT_BYTES 1u /* plane i = byte i of the element (little-endian) */

/* Bits of plane q under the split of l (the last raw plane may be narrower than a byte). */
static unsigned plane_bits(const enec_dtype_info *di, unsigned split, unsigned q)
{
    if (split == SPLIT_BYTES) return 8;
    if (q == 0) return di->ebits;
    unsigned below = 8 * (q - 1);
    return di->rawbits - below >= 8 ? 8 : di->rawbits - below;
}

static unsigned plane_count(const enec_dtype_info *di, uint32_t itemsize, unsigned split)
{
    return split == SPLIT_BYTES ? itemsize : 1 + (di->rawbits + 7) / 8;
}

/* A raw (uncoded) plane of a block: its symbols for B = valid rounded up to 16, packed. */
static uint32_t raw_B(uint32_t valid) { return (valid + 15) / 16 * 16; }

/* Format version 2: each coded plane of a block says in the top bits of its
 * size word how its bytes are coded, so that the blocks of a plane that does
 * not pay everywhere (fp32's low mantissa bytes, a tensor boundary inside a
 * table group) can be stored, or coded with a table of their own. */
#define KIND_GROUP 0u /* rANS with the group's table (the only kind of version 1) */
#define KIND_RAW 1u   /* the plane's symbols stored, packed as a raw plane */
#define KIND_OWN 2u   /* the block's own table, then rANS with it */
#define KIND_SHIFT 30u
#define SIZE_MASK ((1u << KIND_SHIFT) - 1u)
#define FLUSH_BYTES (4u * MAX_LANES) /* a stream's final lane states */
#define TABLE_MAX (2u + 2u * 256u)   /* the largest table */
#define OWN_SLOTS 4u                 /* decode: streams with their own tables in flight at once */
#define OWN_MARGIN_SHIFT 5u          /* encode: an own table must beat the group's by 1/32 */

/* ---- frequency tables: one per coded plane and group of TABLE_GROUP blocks ---- */

/* Tables follow the data: a tensor's statistics drift (a concatenated model
 * is many tensors), and a table per group of blocks costs little. */
#define TABLE_GROUP 16u

typedef struct {
    uint16_t freq[256], cum[257];
} table;

typedef struct {
    unsigned planes, split, coded; /* coded: bitmask */
    unsigned bits[MAX_PLANES];
    uint64_t groups;
    table *t; /* encoder: groups x planes; all-zero frequencies: the group has no table for the plane */
    uint32_t cost[PROB_SCALE + 1]; /* bits of a symbol of frequency f, times 2^16 (cost[0]: never coded) */
} max_state;

static void state_free(void *s_)
{
    max_state *s = (max_state *)s_;
    if (s) free(s->t);
    free(s);
}

static void cumulate(table *t)
{
    t->cum[0] = 0;
    for (unsigned v = 0; v < 256; v++) t->cum[v + 1] = (uint16_t)(t->cum[v] + t->freq[v]);
}

typedef struct {
    uint64_t rem;
    unsigned v;
} share;

/* Larger remainder first, then the smaller symbol: a total order, so every machine agrees. */
static int by_remainder(const void *a_, const void *b_)
{
    const share *a = (const share *)a_, *b = (const share *)b_;
    if (a->rem != b->rem) return a->rem > b->rem ? -1 : 1;
    return a->v < b->v ? -1 : a->v > b->v;
}

/* Frequencies summing to PROB_SCALE, every present symbol at least 1, in
 * integers only, so that every machine writes the same tables: each symbol
 * gets the floor of its share, the units left over go to the largest
 * remainders (a flat plane keeps flat frequencies), and any excess from the
 * at-least-1 rule is taken from the largest frequencies. */
static void normalise(const uint32_t *count, unsigned nsym, uint64_t total, uint16_t *freq)
{
    share sh[256];
    unsigned present = 0;
    uint32_t sum = 0;
    memset(freq, 0, 256 * sizeof *freq);
    for (unsigned v = 0; v < nsym; v++) {
        if (!count[v]) continue;
        uint64_t scaled = (uint64_t)count[v] * PROB_SCALE, f = scaled / total;
        freq[v] = (uint16_t)(f ? f : 1);
        sh[present].rem = f ? scaled % total : 0;
        sh[present++].v = v;
        sum += freq[v];
    }
    if (sum < PROB_SCALE) {
        qsort(sh, present, sizeof *sh, by_remainder);
        for (unsigned k = 0; sum < PROB_SCALE; k = (k + 1) % present) freq[sh[k].v]++, sum++;
    }
    while (sum > PROB_SCALE) {
        unsigned pick = nsym;
        for (unsigned v = 0; v < nsym; v++)
            if (freq[v] > 1 && (pick == nsym || freq[v] > freq[pick])) pick = v;
        freq[pick]--, sum--;
    }
}

/* Bits the symbols cost under freq, in double (a choice, not a format rule). */
static double coded_bits(const uint32_t *count, unsigned nsym, const uint16_t *freq)
{
    double bits = 0;
    for (unsigned v = 0; v < nsym; v++)
        if (count[v]) bits += (double)count[v] * (PROB_BITS - log2((double)freq[v]));
    return bits;
}

static int table_present(const table *t)
{
    for (unsigned v = 0; v < 256; v++)
        if (t->freq[v]) return 1;
    return 0;
}

/* A table in the stream: u8 lo, u8 hi (the range of present symbols), then
 * hi - lo + 1 u16 frequencies. Version 2: lo = 1, hi = 0 says the group has
 * no table for the plane (none of its blocks codes it with one). */
static uint32_t table_size(const table *t)
{
    if (!table_present(t)) return 2;
    unsigned lo = 0, hi = 255;
    while (!t->freq[lo]) lo++;
    while (!t->freq[hi]) hi--;
    return 2 + 2 * (hi - lo + 1);
}

static uint8_t *table_put(const table *t, uint8_t *o)
{
    if (!table_present(t)) {
        o[0] = 1, o[1] = 0;
        return o + 2;
    }
    unsigned lo = 0, hi = 255;
    while (!t->freq[lo]) lo++;
    while (!t->freq[hi]) hi--;
    o[0] = (uint8_t)lo, o[1] = (uint8_t)hi;
    o += 2;
    for (unsigned v = lo; v <= hi; v++, o += 2) enec_store16(o, t->freq[v]);
    return o;
}

/* Read a table of a plane of `bits` from [p, end); NULL when it is not one an
 * encoder writes. `absent_ok`: the no-table marker is allowed (a version 2
 * group table); t then has no frequencies. */
static const uint8_t *table_get(const uint8_t *p, const uint8_t *end, unsigned bits, table *t, int absent_ok)
{
    if (end - p < 2) return NULL;
    unsigned lo = p[0], hi = p[1];
    if (absent_ok && lo == 1 && hi == 0) {
        memset(t, 0, sizeof *t);
        return p + 2;
    }
    if (lo > hi || hi >= (1u << bits) || (uint64_t)(end - p) < 2 + 2ull * (hi - lo + 1)) return NULL;
    p += 2;
    memset(t->freq, 0, sizeof t->freq);
    uint32_t sum = 0;
    for (unsigned v = lo; v <= hi; v++, p += 2) sum += t->freq[v] = enec_load16(p);
    if (sum != PROB_SCALE || !t->freq[lo] || !t->freq[hi]) return NULL;
    cumulate(t);
    return p;
}

/* ---- planes of a block ------------------------------------------------------------ */


/* Symbols of every plane of the split for elements e0 .. n - 1 at in: plane q to pl[q]. */
static inline void planes_exp(const uint8_t *in, uint32_t e0, uint32_t n, uint8_t (*pl)[ENEC_BLOCK], unsigned M,
                              unsigned E, uint32_t isz, unsigned planes)
{
    const unsigned top = 8 * isz - 1;
    for (uint32_t e = e0; e < n; e++) {
        uint32_t u = isz == 1 ? in[e] : isz == 2 ? enec_load16(in + 2 * e) : enec_load32(in + 4 * e);
        uint32_t r = enec_raw_part(u, M, top);
        pl[0][e] = (uint8_t)enec_exp_part(u, M, E);
        pl[1][e] = (uint8_t)r;
        if (planes > 2) pl[2][e] = (uint8_t)(r >> 8);
        if (planes > 3) pl[3][e] = (uint8_t)(r >> 16);
    }
}

static void planes_get(const enec_block_kernels *k, const enec_layout *l, unsigned split, const uint8_t *in, uint32_t n,
                       uint8_t (*pl)[ENEC_BLOCK])
{
    const uint32_t isz = l->itemsize;
    /* A backend's kernel does the elements it can; the loops below the rest. */
    const uint32_t e0 = k->max_planes ? k->max_planes(l->di, isz, split, in, n, pl) : 0;
    if (split == SPLIT_BYTES) {
        if (isz == 1) {
            memcpy(pl[0] + e0, in + e0, n - e0);
        } else if (isz == 2) {
            for (uint32_t e = e0; e < n; e++) pl[0][e] = in[2 * e], pl[1][e] = in[2 * e + 1];
        } else {
            for (uint32_t e = e0; e < n; e++)
                for (uint32_t q = 0; q < isz; q++) pl[q][e] = in[(size_t)e * isz + q];
        }
        return;
    }
    /* Constant M, E, item size and plane count per dtype, so each loop is compiled for its dtype. */
    const enec_dtype_info *di = l->di;
    switch (di->dtype) {
    case ENEC_DTYPE_BF16: planes_exp(in, e0, n, pl, 7, 8, 2, 2); break;
    case ENEC_DTYPE_FP16: planes_exp(in, e0, n, pl, 10, 5, 2, 3); break;
    case ENEC_DTYPE_FP32: planes_exp(in, e0, n, pl, 23, 8, 4, 4); break;
    case ENEC_DTYPE_FP8_E4M3FN: planes_exp(in, e0, n, pl, 3, 4, 1, 2); break;
    case ENEC_DTYPE_FP8_E5M2: planes_exp(in, e0, n, pl, 2, 5, 1, 2); break;
    default: planes_exp(in, e0, n, pl, di->mbits, di->ebits, isz, plane_count(di, isz, SPLIT_EXP)); break;
    }
}

/* A worker's scratch (the frame's per-thread buffer, kept between calls).
 * Buffers rewritten on every use come first; the tables cached from one
 * call to the next come after everything mode fast writes there (its y
 * lanes and kernel scratch), so that no other mode can clobber them. */
typedef struct {
    uint8_t plane[MAX_PLANES][ENEC_BLOCK]; /* each plane's symbols */
    uint16_t lanes[ENEC_BLOCK + 8];       /* the packer's lanes; the encoder's reversed words (+ a kernel's slack) */
    /* choose: four partial histograms per split and plane. Consecutive
     * symbols often repeat (a few exponents dominate); incrementing one
     * counter for each would wait on the previous store every time. */
    uint32_t h4[2][MAX_PLANES][4][256];
    table t;
    /* decode: each coded plane's slot entries, built from the table bytes
     * in `cached` (a group's tables, as in the stream); the next block of
     * the group reuses them. */
    uint32_t slot[MAX_PLANES][PROB_SCALE];
    uint32_t cached_len, cached_key;
    uint8_t cached[MAX_PLANES * (2 + 2 * 256)];
    /* encode: each coded plane's constants, built from the frequencies in es_freq */
    enec_rans_enc_table es[MAX_PLANES];
    uint16_t es_freq[MAX_PLANES][256];
    /* version 2, encode: each plane's own table and its constants, a second
     * stream's words (two planes coded at once), a block's counts; decode:
     * the slot entries of the streams in flight that have their own table,
     * the last kept for a stream decoded alone when they are all taken */
    table own_t[MAX_PLANES];
    enec_rans_enc_table es_own[MAX_PLANES];
    uint16_t words2[ENEC_BLOCK + 8];
    uint32_t count[256];
    uint32_t own_slot[OWN_SLOTS + 1][PROB_SCALE];
} max_scratch;
_Static_assert(offsetof(max_scratch, slot) >= ENEC_BLOCK * sizeof(uint16_t) + ENEC_KERNEL_SCRATCH,
               "mode max's cached tables must lie beyond what mode fast writes");
_Static_assert(sizeof(max_scratch) <= ENEC_SCRATCH_BYTES, "mode max needs more per-thread scratch");

/* ---- choosing split and coded planes -------------------------------------------- */

static int max_supports(const enec_dtype_info *di, uint32_t itemsize)
{
    return di != NULL || (itemsize >= 1 && itemsize <= MAX_PLANES);
}

static int max_params_valid(const enec_params *p, const enec_dtype_info *di, uint32_t itemsize)
{
    if (p->L != MAX_LANES || p->b > SPLIT_BYTES || (p->b == SPLIT_EXP && !di)) return 0;
    if (p->b == SPLIT_BYTES && (itemsize < 1 || itemsize > MAX_PLANES)) return 0;
    unsigned planes = plane_count(di, itemsize, p->b);
    return p->n == planes && (p->m >> planes) == 0;
}

/* Histograms per group of blocks, split and plane. */
typedef uint32_t group_hist[2][MAX_PLANES][256];

typedef struct {
    const enec_layout *l;
    const enec_block_kernels *k;
    const uint8_t *src;
    group_hist *hist; /* one per group */
    uint8_t splits;   /* bit s: split s is possible */
} hist_ctx;

static void count4(const uint8_t *sym, uint32_t n, uint32_t (*h)[256])
{
    uint32_t e = 0;
    for (; e + 4 <= n; e += 4) h[0][sym[e]]++, h[1][sym[e + 1]]++, h[2][sym[e + 2]]++, h[3][sym[e + 3]]++;
    for (; e < n; e++) h[0][sym[e]]++;
}

/* Symbol of plane q under a split for the element u. */
static unsigned plane_sym(const enec_layout *l, unsigned split, unsigned q, uint32_t u)
{
    if (split == SPLIT_BYTES) return (u >> (8 * q)) & 0xFF;
    const unsigned M = l->di->mbits;
    if (q == 0) return enec_exp_part(u, M, l->di->ebits);
    return (enec_raw_part(u, M, 8 * l->itemsize - 1) >> (8 * (q - 1))) & 0xFF;
}

/* Whether the histograms of a group can come from one count per element:
 * elements of 1 or 2 bytes counted whole, 4-byte ones by their top 16 bits
 * and two low bytes (every plane of either split is a function of one of
 * those when the mantissa has 16 bits or more). */
static int hist_by_value(const enec_layout *l)
{
    if (l->itemsize <= 2) return 1;
    return l->itemsize == 4 && (!l->di || l->di->mbits >= 16);
}

/* The group's histograms from counts of values: the top-16-bit (or whole)
 * counts H, and for 4-byte elements the two low bytes' (b[0], b[1]).
 * A plane's symbol takes some bits of the 16-bit value v = hi << 8 | lo:
 * when they all lie in hi and the top bit of lo, its histogram comes from
 * the 512 sums R[hi][lo >> 7]; when they all lie in lo and the top bit of
 * hi (the sign), from the 512 sums C[hi >> 7][lo]. Both are sums of
 * contiguous runs of H, which vectorise; every plane of every split of the
 * dtype table is one of the two. Other planes take a pass over H. */
static void hist_derive(const hist_ctx *c, uint64_t g, const uint32_t *H, uint32_t nbins, uint32_t (*b)[256])
{
    const enec_layout *l = c->l;
    const unsigned isz = l->itemsize, top_shift = isz == 4 ? 16 : 0;
    uint32_t R[256][2], C[2][256];
    if (nbins == 65536) {
        memset(C, 0, sizeof C);
        for (unsigned hi = 0; hi < 256; hi++) {
            const uint32_t *row = H + 256 * hi;
            uint32_t lo_half = 0, hi_half = 0, *col = C[hi >> 7];
            for (unsigned lo = 0; lo < 128; lo++) lo_half += row[lo];
            for (unsigned lo = 128; lo < 256; lo++) hi_half += row[lo];
            for (unsigned lo = 0; lo < 256; lo++) col[lo] += row[lo];
            R[hi][0] = lo_half, R[hi][1] = hi_half;
        }
    }
    for (unsigned split = 0; split < 2; split++) {
        if (!((c->splits >> split) & 1)) continue;
        const unsigned planes = plane_count(l->di, isz, split);
        for (unsigned q = 0; q < planes; q++) {
            uint32_t *h = c->hist[g][split][q];
            if (isz == 4 && (split == SPLIT_BYTES ? q < 2 : q == 1 || q == 2)) { /* the low bytes */
                memcpy(h, b[split == SPLIT_BYTES ? q : q - 1], sizeof b[0]);
                continue;
            }
            unsigned dep = 0; /* the bits of v the symbol takes (each symbol bit is one bit of v) */
            for (unsigned bit = 0; bit < 16; bit++)
                if (plane_sym(l, split, q, (1u << bit) << top_shift)) dep |= 1u << bit;
            if (nbins == 65536 && !(dep & ~0xFF80u)) {
                for (unsigned hi = 0; hi < 256; hi++)
                    for (unsigned half = 0; half < 2; half++)
                        h[plane_sym(l, split, q, (hi << 8 | half << 7) << top_shift)] += R[hi][half];
            } else if (nbins == 65536 && !(dep & ~0x80FFu)) {
                for (unsigned sign = 0; sign < 2; sign++)
                    for (unsigned lo = 0; lo < 256; lo++)
                        h[plane_sym(l, split, q, (sign << 15 | lo) << top_shift)] += C[sign][lo];
            } else {
                for (uint32_t v = 0; v < nbins; v++)
                    if (H[v]) h[plane_sym(l, split, q, v << top_shift)] += H[v];
            }
        }
    }
}

/* Items are groups, so that each worker fills its own groups' histograms. */
static size_t hist_range(void *ctx, uint64_t begin, uint64_t end, int worker)
{
    (void)worker;
    hist_ctx *c = (hist_ctx *)ctx;
    const enec_layout *l = c->l;
    max_scratch *hs = (max_scratch *)enec_thread_scratch(ENEC_SCRATCH_BYTES);
    if (!hs) return ENEC_ERROR(NOMEM);
    const int by_value = hist_by_value(l);
    const uint32_t nbins = l->itemsize == 1 ? 256 : 65536;
    uint32_t *H = by_value ? (uint32_t *)malloc(2 * nbins * sizeof *H) : NULL;
    if (by_value && !H) return ENEC_ERROR(NOMEM);
    for (uint64_t g = begin; g < end; g++) {
        memset(hs->h4, 0, sizeof hs->h4);
        if (by_value) memset(H, 0, 2 * nbins * sizeof *H);
        for (uint64_t i = g * TABLE_GROUP; i < (g + 1) * TABLE_GROUP && i < l->nblocks; i++) {
            uint32_t n = enec_block_valid(l, i);
            const uint8_t *in = c->src + i * ENEC_BLOCK * l->itemsize;
            if (by_value && l->itemsize == 1) {
                count4(in, n, hs->h4[0][0]);
            } else if (by_value && l->itemsize == 2) {
                uint32_t e = 0; /* two tables in turn: a value that repeats does not wait on its own store */
                for (; e + 2 <= n; e += 2) H[enec_load16(in + 2 * e)]++, H[65536 + enec_load16(in + 2 * e + 2)]++;
                for (; e < n; e++) H[enec_load16(in + 2 * e)]++;
            } else if (by_value) {
                uint32_t(*b0)[256] = hs->h4[0][0], (*b1)[256] = hs->h4[0][1];
                uint32_t e = 0;
                for (; e + 2 <= n; e += 2) {
                    const uint32_t u = enec_load32(in + 4 * e), w = enec_load32(in + 4 * e + 4);
                    H[u >> 16]++, b0[0][u & 0xFF]++, b1[0][(u >> 8) & 0xFF]++;
                    H[w >> 16]++, b0[1][w & 0xFF]++, b1[1][(w >> 8) & 0xFF]++;
                }
                for (; e < n; e++) {
                    const uint32_t u = enec_load32(in + 4 * e);
                    H[u >> 16]++, b0[0][u & 0xFF]++, b1[0][(u >> 8) & 0xFF]++;
                }
            } else {
                for (unsigned split = 0; split < 2; split++) {
                    if (!((c->splits >> split) & 1)) continue;
                    planes_get(c->k, l, split, in, n, hs->plane);
                    for (unsigned q = 0; q < plane_count(l->di, l->itemsize, split); q++)
                        count4(hs->plane[q], n, hs->h4[split][q]);
                }
            }
        }
        if (by_value) {
            uint32_t b[2][256];
            for (unsigned j = 0; j < 2; j++)
                for (unsigned v = 0; v < 256; v++)
                    b[j][v] = hs->h4[0][j][0][v] + hs->h4[0][j][1][v] + hs->h4[0][j][2][v] + hs->h4[0][j][3][v];
            if (l->itemsize == 1) memcpy(H, b[0], sizeof b[0]);
            if (l->itemsize == 2)
                for (uint32_t v = 0; v < nbins; v++) H[v] += H[nbins + v];
            hist_derive(c, g, H, nbins, b);
            continue;
        }
        for (unsigned split = 0; split < 2; split++)
            for (unsigned q = 0; q < MAX_PLANES; q++)
                for (unsigned v = 0; v < 256; v++)
                    c->hist[g][split][q][v] = hs->h4[split][q][0][v] + hs->h4[split][q][1][v] +
                                              hs->h4[split][q][2][v] + hs->h4[split][q][3][v];
    }
    free(H);
    return 0;
}

static uint64_t group_count(const enec_layout *l) { return (l->nblocks + TABLE_GROUP - 1) / TABLE_GROUP; }
static uint64_t group_blocks(const enec_layout *l, uint64_t g)
{
    uint64_t left = l->nblocks - g * TABLE_GROUP;
    return left < TABLE_GROUP ? left : TABLE_GROUP;
}
static uint64_t group_elements(const enec_layout *l, uint64_t g)
{
    uint64_t first = g * TABLE_GROUP * ENEC_BLOCK, last = first + (uint64_t)TABLE_GROUP * ENEC_BLOCK;
    return (last < l->count ? last : l->count) - first;
}

/* Group g's table of plane q (split sp, w bits) into t, and whether it pays:
 * with it, the table, the coded symbols and each block's size word and
 * flushed states; without it, each block stored behind its word and the
 * absent table's two bytes. *bits gets the smaller, in bits. (The blocks
 * that then code with a table of their own are not foreseen here.) */
static int group_table(const hist_ctx *c, uint64_t g, unsigned sp, unsigned q, unsigned w, table *t, double *bits)
{
    const uint32_t *h = c->hist[g][sp][q];
    const uint64_t ne = group_elements(c->l, g);
    const double nb = (double)group_blocks(c->l, g);
    normalise(h, 1u << w, ne, t->freq);
    const double with = coded_bits(h, 1u << w, t->freq) + 8.0 * table_size(t) + 8.0 * (4 + FLUSH_BYTES) * nb;
    const double without = (double)ne * w + 8.0 * 4 * nb + 16.0;
    *bits = with < without ? with : without;
    return with < without;
}

static size_t max_choose(const enec_layout *l, const uint8_t *src, const enec_options *o, const enec_block_kernels *k,
                         enec_params *p, void **state_out)
{
    *state_out = NULL;
    if (o->params) return ENEC_ERROR(BAD_ARGUMENT); /* forced parameters are the fast mode's */
    const uint64_t groups = group_count(l);
    hist_ctx c = {l, k, src, NULL, (uint8_t)((l->di ? 1 : 0) | (l->itemsize <= MAX_PLANES ? 2 : 0))};
    c.hist = (group_hist *)calloc((size_t)groups, sizeof *c.hist);
    max_state *s = (max_state *)calloc(1, sizeof *s);
    if (!c.hist || !s) {
        free(c.hist), free(s);
        return ENEC_ERROR(NOMEM);
    }
    size_t r = enec_parallel_for(enec_resolve_threads(o->threads, groups), groups, hist_range, &c);
    if (!enec_is_error(r)) s->t = (table *)calloc((size_t)groups * MAX_PLANES, sizeof(table));
    if (enec_is_error(r) || !s->t) {
        free(c.hist), state_free(s);
        return enec_is_error(r) ? r : ENEC_ERROR(NOMEM);
    }

    /* Each split's cost: every plane coded (group by group with its table
     * or without, group_table) or raw over the whole tensor, whichever is
     * smaller. */
    double best = 0;
    int have = 0;
    for (unsigned sp = 0; sp < 2; sp++) {
        if (!((c.splits >> sp) & 1)) continue;
        unsigned planes = plane_count(l->di, l->itemsize, sp), coded = 0;
        double bits = 0;
        for (unsigned q = 0; q < planes; q++) {
            const unsigned w = plane_bits(l->di, sp, q);
            double cb = 0, gb;
            table t;
            for (uint64_t g = 0; g < groups; g++) {
                group_table(&c, g, sp, q, w, &t, &gb);
                cb += gb;
            }
            double raw = (double)l->count * w;
            if (cb < raw) coded |= 1u << q;
            bits += cb < raw ? cb : raw;
        }
        if (!have || bits < best) {
            have = 1, best = bits;
            s->split = sp, s->planes = planes, s->coded = coded;
        }
    }
    s->groups = groups;
    for (unsigned q = 0; q < s->planes; q++) {
        s->bits[q] = plane_bits(l->di, s->split, q);
        if (!((s->coded >> q) & 1)) continue;
        for (uint64_t g = 0; g < groups; g++) {
            table *t = &s->t[g * MAX_PLANES + q];
            double gb;
            if (group_table(&c, g, s->split, q, s->bits[q], t, &gb)) cumulate(t);
            else memset(t, 0, sizeof *t); /* no table: the group's blocks are stored or bring their own */
        }
    }
    /* The encoder's estimates: bits of a symbol of frequency f, fixed point
     * (a choice, not a format rule: every kind decodes the same way). */
    s->cost[0] = 0;
    for (unsigned f = 1; f <= PROB_SCALE; f++)
        s->cost[f] = (uint32_t)llround((PROB_BITS - log2((double)f)) * 65536.0);
    free(c.hist);
    p->b = (uint8_t)s->split, p->n = (uint8_t)s->planes, p->m = (uint8_t)s->coded, p->L = MAX_LANES;
    p->bits = best / (double)l->count;
    *state_out = s;
    return 0;
}

/* ---- layout: tables, then each block's raw planes; the coded planes are the variable part ---- */

static void max_layout(enec_layout *l)
{
    const unsigned split = l->p.b, planes = l->p.n, coded = l->p.m;
    uint64_t raw_per_elem_bits = 0;
    for (unsigned q = 0; q < planes; q++)
        if (!((coded >> q) & 1)) raw_per_elem_bits += plane_bits(l->di, split, q);
    l->last_B = raw_B(l->last_valid);
    l->raw_block = (uint64_t)ENEC_BLOCK * raw_per_elem_bits / 8;
    l->raw_off = l->header_size;
    uint64_t raw = (l->nblocks - 1) * l->raw_block + (uint64_t)l->last_B * raw_per_elem_bits / 8;
    l->low_off = l->mask_off = l->high_off = l->raw_off + raw;
    l->low_block = l->mask_block = 0;
    l->fixed_size = raw;
}

/* Block i's variable part: the first block of a group starts with the
 * group's tables (one per coded plane); then for each coded plane a u32
 * word (its size; version 2: and its kind in the top bits) and its bytes: a
 * rANS stream (lanes u32 final states, then u16 words), version 2 also the
 * packed symbols or a table and a stream. */
static uint64_t max_var_max(const enec_layout *l, uint64_t i)
{
    const unsigned ncoded = enec_popcount64(l->p.m);
    const uint32_t n = enec_block_valid(l, i), B = raw_B(n);
    uint64_t bytes = i % TABLE_GROUP ? 0 : ncoded * (uint64_t)TABLE_MAX;
    for (unsigned q = 0; q < l->p.n; q++) {
        if (!((l->p.m >> q) & 1)) continue;
        uint64_t coded = FLUSH_BYTES + 2ull * n, raw = (uint64_t)B * plane_bits(l->di, l->p.b, q) / 8;
        if (l->version >= 2) coded += TABLE_MAX;
        bytes += 4 + (l->version >= 2 && raw > coded ? raw : coded);
    }
    return bytes;
}

static int max_var_size_ok(const enec_layout *l, uint64_t i, uint64_t size)
{
    const unsigned ncoded = enec_popcount64(l->p.m);
    return size <= max_var_max(l, i) && size >= ncoded * (l->version >= 2 ? 4ull : 4ull + FLUSH_BYTES);
}

/* ---- rANS --------------------------------------------------------------------------- */

static void enc_table(const uint16_t *freq, const uint16_t *cum, enec_rans_enc_table *t)
{
    for (unsigned v = 0; v < 256; v++) {
        const uint32_t f = freq[v] ? freq[v] : 1; /* absent symbols are never coded */
        unsigned s = 0;
        while ((1u << s) < f) s++;
        t->magic[v] = f == 1 ? 0 : (uint32_t)(((uint64_t)1 << (32 + s)) / f + 1 - ((uint64_t)1 << 32));
        t->fcs[v] = f | (uint32_t)cum[v] << 13 | (s ? s - 1 : 0) << 25;
    }
}

/* One lane's encoding step for symbol v: returns the new state. The word
 * goes out without a branch (a store that only counts when it is needed):
 * whether a lane renormalises is as unpredictable as the data. x >= 2^20 f,
 * the bound above which it does, is tested as x >> 20 >= f, which a
 * constant plane (f = 4096) never meets. */
static inline uint32_t enc_step(uint32_t x, unsigned v, const enec_rans_enc_table *t, uint16_t *words, uint32_t *nw)
{
    const uint32_t fcs = t->fcs[v], f = fcs & 0x1FFF, out = (x >> 20) >= f;
    words[*nw] = (uint16_t)x;
    *nw += out;
    x = out ? x >> 16 : x;
    const uint32_t h = (uint32_t)(((uint64_t)x * t->magic[v]) >> 32);
    const uint32_t q = f == 1 ? x : (((x - h) >> 1) + h) >> (fcs >> 25);
    return x + (fcs >> 13 & 0xFFF) + q * (PROB_SCALE - f);
}

/* The portable enec_rans_encode_fn. */
static uint32_t rans_encode_rounds(uint32_t *x_, const uint8_t *sym, uint32_t rounds, const enec_rans_enc_table *t,
                                   uint16_t *words, uint32_t nw)
{
    uint32_t x[MAX_LANES];
    memcpy(x, x_, sizeof x);
    for (uint32_t r = rounds; r-- > 0;) {
#pragma GCC unroll 8
        for (unsigned k = MAX_LANES; k-- > 0;) x[k] = enc_step(x[k], sym[MAX_LANES * r + k], t, words, &nw);
    }
    memcpy(x_, x, sizeof x);
    return nw;
}

/* A slot's decoding entry: symbol (bits 0-7), frequency - 1 (8-19) and the
 * slot's offset within its symbol (20-31). One 32-bit load per symbol. */
static void slot_entries(const table *t, unsigned nsym, uint32_t *slot)
{
    for (unsigned v = 0; v < nsym; v++)
        for (uint32_t j = 0; j < t->freq[v]; j++) slot[t->cum[v] + j] = v | (uint32_t)(t->freq[v] - 1) << 8 | j << 20;
}

/* Open a coded plane's stream of size bytes at in: its lane states read and
 * checked; its symbols will go to sym. -1 when it cannot be one an encoder wrote. */
static int rans_open(enec_rans_stream *st, const uint8_t *in, uint32_t size, const uint32_t *slot, uint8_t *sym)
{
    if (size < 4 * MAX_LANES || (size - 4 * MAX_LANES) % 2) return -1;
    for (unsigned k = 0; k < MAX_LANES; k++) {
        st->x[k] = enec_load32(in + 4 * k);
        if (st->x[k] < RANS_LOW) return -1;
    }
    st->w = in + 4 * MAX_LANES;
    st->limit = in + size;
    st->slot = slot;
    st->sym = sym;
    return 0;
}

/* One lane's step: its symbol out, its state on, a word in when it falls
 * below RANS_LOW (zero past the limit; w moves on all the same, which the
 * caller finds: an encoder's stream never runs out). */
static inline void rans_step(uint32_t *x, const uint8_t **w, const uint8_t *limit, const uint32_t *slot, uint8_t *sym)
{
    const uint32_t d = slot[*x & (PROB_SCALE - 1)];
    *sym = (uint8_t)d;
    *x = ((d >> 8 & 0xFFF) + 1) * (*x >> PROB_BITS) + (d >> 20);
    if (*x < RANS_LOW) {
        *x = *x << 16 | (limit - *w >= 2 ? enec_load16(*w) : 0u);
        *w += 2;
    }
}

/* The portable enec_rans_run_fn: one stream after the other (the eight
 * lanes of a round already give the core independent work). */
static void rans_rounds(enec_rans_stream *st, unsigned count, uint32_t rounds)
{
    for (unsigned s = 0; s < count; s++) {
        uint32_t x[MAX_LANES];
        const uint8_t *w = st[s].w;
        memcpy(x, st[s].x, sizeof x);
        for (uint32_t r = 0; r < rounds; r++, st[s].sym += MAX_LANES) {
#pragma GCC unroll 8
            for (unsigned k = 0; k < MAX_LANES; k++) rans_step(&x[k], &w, st[s].limit, st[s].slot, st[s].sym + k);
        }
        memcpy(st[s].x, x, sizeof x);
        st[s].w = w;
    }
}

/* Finish a stream after `done` (a multiple of the lanes) of its n symbols:
 * the last rounds one symbol at a time, then the checks that every word was
 * read and every lane is back where the encoder started. */
static int rans_close(enec_rans_stream *st, uint32_t done, uint32_t n)
{
    for (uint32_t e = done; e < n; e++)
        rans_step(&st->x[e % MAX_LANES], &st->w, st->limit, st->slot, st->sym++);
    if (st->w != st->limit) return -1;
    for (unsigned k = 0; k < MAX_LANES; k++)
        if (st->x[k] != RANS_LOW) return -1;
    return 0;
}

/* ---- blocks ---------------------------------------------------------------------- */


/* Elements e0 .. n - 1 of the exponent split: exponent plane, then the raw part's bytes from the low end. */
static inline void assemble_exp(const uint8_t *const *pl, uint32_t e0, uint32_t n, uint8_t *out, unsigned M,
                                uint32_t isz, unsigned planes)
{
    const unsigned top = 8 * isz - 1;
    const uint8_t *x = pl[0], *r0 = pl[1], *r1 = planes > 2 ? pl[2] : NULL, *r2 = planes > 3 ? pl[3] : NULL;
    for (uint32_t e = e0; e < n; e++) {
        uint32_t r = r0[e] | (planes > 2 ? (uint32_t)r1[e] << 8 : 0) | (planes > 3 ? (uint32_t)r2[e] << 16 : 0);
        uint32_t u = enec_join_parts(x[e], r, M, top);
        /* little-endian stores the compiler can vectorise (the canonical bytes are little-endian) */
        if (isz == 1) {
            out[e] = (uint8_t)u;
        } else if (isz == 2) {
            uint8_t le[2] = {(uint8_t)u, (uint8_t)(u >> 8)};
            memcpy(out + 2 * e, le, 2);
        } else {
            uint8_t le[4] = {(uint8_t)u, (uint8_t)(u >> 8), (uint8_t)(u >> 16), (uint8_t)(u >> 24)};
            memcpy(out + 4 * e, le, 4);
        }
    }
}

/* Elements from their planes; pl[q] holds plane q's n symbols. */
static void assemble(const enec_block_kernels *k, const enec_layout *l, unsigned split, unsigned planes,
                     const uint8_t *const *pl, uint32_t n, uint8_t *out)
{
    const uint32_t isz = l->itemsize;
    /* A backend's kernel does the elements it can; the loops below the rest. */
    const uint32_t e0 = k->max_assemble ? k->max_assemble(l->di, isz, split, pl, n, out) : 0;
    if (split == SPLIT_BYTES) {
        if (isz == 1) {
            memcpy(out + e0, pl[0] + e0, n - e0);
        } else if (isz == 2) {
            for (uint32_t e = e0; e < n; e++) out[2 * e] = pl[0][e], out[2 * e + 1] = pl[1][e];
        } else {
            for (unsigned q = 0; q < planes; q++)
                for (uint32_t e = e0; e < n; e++) out[(size_t)e * isz + q] = pl[q][e];
        }
        return;
    }
    /* Constant M, item size and plane count per dtype, so each loop is compiled for its dtype. */
    switch (l->di->dtype) {
    case ENEC_DTYPE_BF16: assemble_exp(pl, e0, n, out, 7, 2, 2); break;
    case ENEC_DTYPE_FP16: assemble_exp(pl, e0, n, out, 10, 2, 3); break;
    case ENEC_DTYPE_FP32: assemble_exp(pl, e0, n, out, 23, 4, 4); break;
    case ENEC_DTYPE_FP8_E4M3FN: assemble_exp(pl, e0, n, out, 3, 1, 2); break;
    case ENEC_DTYPE_FP8_E5M2: assemble_exp(pl, e0, n, out, 2, 1, 2); break;
    default: assemble_exp(pl, e0, n, out, l->di->mbits, isz, planes); break;
    }
}

/* A plane's n symbols stored packed at w bits, B = raw_B(n) lanes (zeros after n); returns the bytes. */
static uint32_t put_raw(uint8_t *out, const uint8_t *sym, uint32_t n, unsigned w, uint16_t *lanes)
{
    const uint32_t B = raw_B(n);
    if (w == 8) { /* a byte plane is its own packing */
        memcpy(out, sym, n);
        memset(out + n, 0, B - n);
        return B;
    }
    for (uint32_t e = 0; e < B; e++) lanes[e] = e < n ? sym[e] : 0;
    return (uint32_t)enec_pack(out, lanes, B, w);
}

/* Estimated bits x 2^16 of the symbols counted in c (m of them: all n of a
 * block's plane, or a sample of them) under a table of their own shares and
 * under the group's table gt (when it has one), scaled to all n symbols, the
 * table and flush bytes included. The own shares are rounded about as
 * normalise() rounds them. */
static void estimate(const max_state *s, const uint32_t *c, unsigned nsym, uint32_t m, uint32_t n, const table *gt,
                     uint64_t *own, uint64_t *group)
{
    unsigned lo = 255, hi = 0;
    uint64_t o = 0, g = 0;
    const uint64_t per = ((uint64_t)PROB_SCALE << 32) / m; /* c x per >> 32: c's share of 4096, no divide */
    for (unsigned x = 0; x < nsym; x++) {
        if (!c[x]) continue;
        lo = x < lo ? x : lo, hi = x;
        const uint64_t f = (uint64_t)c[x] * per >> 32;
        o += (uint64_t)c[x] * s->cost[f ? f : 1];
        if (gt) g += (uint64_t)c[x] * s->cost[gt->freq[x]];
    }
    *own = o * n / m + ((uint64_t)(FLUSH_BYTES + 2 + 2 * (hi - lo + 1)) << 19);
    *group = gt ? g * n / m + ((uint64_t)FLUSH_BYTES << 19) : UINT64_MAX;
}

/* The kind of one coded plane of a block (version 2): the group's table, a
 * table of its own, or stored, whichever is smallest by estimate (the coded
 * ones are stored after all if their bytes come out no smaller). A sample
 * of the block (every 8th symbol) settles most blocks: only where a table of
 * its own might pay are all symbols counted. (The group's table has every
 * symbol of the block: it was built from the group's counts, the block's
 * included.) For the coded kinds *et gets the table's encoder constants: the
 * group's, cached per plane, or the block's own, built into own_t[q]. */
static unsigned choose_kind(const max_state *s, max_scratch *sc, unsigned q, const table *gt, uint32_t n,
                            const enec_rans_enc_table **et)
{
    const unsigned w = s->bits[q], nsym = 1u << w;
    const uint8_t *sym = sc->plane[q];
    const uint64_t raw_est = (uint64_t)(raw_B(n) * w / 8) << 19;
    uint32_t *c = sc->count;
    if (!table_present(gt)) gt = NULL;

    uint64_t own, group;
    uint32_t m = 0;
    memset(c, 0, 256 * sizeof *c);
    for (uint32_t e = 0; e < n; e += 8, m++) c[sym[e]]++;
    estimate(s, c, nsym, m, n, gt, &own, &group);
    unsigned kind = gt ? KIND_GROUP : KIND_RAW; /* the exact comparison with stored comes after coding */
    if (own < (group < raw_est ? group : raw_est)) {
        /* A table of its own might pay: count every symbol and decide on those.
         * (The sample's bar is lower than the one below, so that its noise
         * does not hide a block that would pass.) */
        memset(sc->h4, 0, sizeof sc->h4[0][0]);
        count4(sym, n, sc->h4[0][0]);
        for (unsigned x = 0; x < nsym; x++)
            c[x] = sc->h4[0][0][0][x] + sc->h4[0][0][1][x] + sc->h4[0][0][2][x] + sc->h4[0][0][3][x];
        estimate(s, c, nsym, n, n, gt, &own, &group);
        /* Against the group's table, its own must save more than 1/32: it is one
         * more slot table to build and to keep in cache while decoding (MiniLM
         * bf16: 36 such blocks instead of 213, 5% faster decoding, ratio
         * 1.5068 instead of 1.5074; docs/MAX_MODE.md). */
        const uint64_t bar = gt ? group - (group >> OWN_MARGIN_SHIFT) : UINT64_MAX;
        kind = own < bar && own < raw_est ? KIND_OWN : gt ? KIND_GROUP : KIND_RAW;
    }
    if (kind == KIND_GROUP) {
        if (memcmp(sc->es_freq[q], gt->freq, sizeof gt->freq) != 0) {
            enc_table(gt->freq, gt->cum, &sc->es[q]);
            memcpy(sc->es_freq[q], gt->freq, sizeof gt->freq);
        }
        *et = &sc->es[q];
    } else if (kind == KIND_OWN) {
        table *t = &sc->own_t[q];
        normalise(c, nsym, n, t->freq);
        cumulate(t);
        enc_table(t->freq, t->cum, &sc->es_own[q]);
        *et = &sc->es_own[q];
    }
    return kind;
}

/* A plane's rANS coding in progress: the lane states and the words so far. */
typedef struct {
    uint32_t x[MAX_LANES], nw;
    uint16_t *words;
} coder;

/* Start coding n symbols backwards, so that the decoder reads forwards: the
 * last, partial round, one lane at a time. */
static void coder_start(coder *cd, uint16_t *words, const uint8_t *sym, uint32_t n, const enec_rans_enc_table *t)
{
    for (unsigned j = 0; j < MAX_LANES; j++) cd->x[j] = RANS_LOW;
    cd->nw = 0, cd->words = words;
    for (uint32_t e = n; e-- > n / MAX_LANES * MAX_LANES;)
        cd->x[e % MAX_LANES] = enc_step(cd->x[e % MAX_LANES], sym[e], t, words, &cd->nw);
}

/* The stream into out (room for 4 lanes + 2n bytes): the final states,
 * then the words collected in reverse, flipped. Returns the bytes. */
static uint32_t coder_put(const coder *cd, uint8_t *out)
{
    for (unsigned j = 0; j < MAX_LANES; j++) enec_store32(out + 4 * j, cd->x[j]);
    uint8_t *o = out + 4 * MAX_LANES;
    for (uint32_t w = 0; w < cd->nw; w++) enec_store16(o + 2 * w, cd->words[cd->nw - 1 - w]);
    return 4 * MAX_LANES + 2 * cd->nw;
}

/* Plane q's bytes of kind `kind` behind its word at v, coded with cd (kinds
 * 0 and 2), stored when that comes out no smaller. Returns the bytes, the
 * word included. */
static uint32_t put_plane(const max_state *s, max_scratch *sc, unsigned q, unsigned kind, const coder *cd, uint32_t n,
                          uint8_t *v)
{
    const uint32_t rawb = raw_B(n) * s->bits[q] / 8;
    uint8_t *o = v + 4;
    uint32_t size = 0;
    if (kind == KIND_GROUP) size = coder_put(cd, o);
    if (kind == KIND_OWN) {
        uint8_t *p = table_put(&sc->own_t[q], o);
        size = (uint32_t)(p - o) + coder_put(cd, p);
    }
    if (kind == KIND_RAW || size >= rawb) {
        kind = KIND_RAW;
        size = put_raw(o, sc->plane[q], n, s->bits[q], sc->lanes);
    }
    enec_store32(v, size | kind << KIND_SHIFT);
    return 4 + size;
}

static uint32_t max_encode_block(const enec_block_kernels *k, const enec_layout *l, uint64_t i, const uint8_t *src,
                                 uint8_t *dst, uint8_t *var, void *scratch)
{
    const max_state *s = (const max_state *)l->state;
    max_scratch *sc = (max_scratch *)scratch;
    const uint32_t n = enec_block_valid(l, i), rounds = n / MAX_LANES;
    const table *tabs = s->t + i / TABLE_GROUP * MAX_PLANES;
    const uint8_t *in = src + i * ENEC_BLOCK * l->itemsize;
    uint8_t *raw = dst + l->raw_off + i * l->raw_block, *v = var;
    if (i % TABLE_GROUP == 0)
        for (unsigned q = 0; q < s->planes; q++)
            if ((s->coded >> q) & 1) v = table_put(&tabs[q], v);
    planes_get(k, l, s->split, in, n, sc->plane);
    /* Every coded plane's kind first, so that the rANS-coded ones can be
     * coded two at a time by a backend that has the lanes for it. */
    unsigned kind[MAX_PLANES] = {0};
    const enec_rans_enc_table *et[MAX_PLANES] = {0};
    for (unsigned q = 0; q < s->planes; q++)
        if ((s->coded >> q) & 1) kind[q] = choose_kind(s, sc, q, &tabs[q], n, &et[q]);
    const enec_rans_encode_fn one = k->rans_encode ? k->rans_encode : rans_encode_rounds;
    coder cd[2];
    unsigned ahead = MAX_PLANES; /* a plane coded together with an earlier one, in cd[1] */
    for (unsigned q = 0; q < s->planes; q++) {
        if (!((s->coded >> q) & 1)) {
            raw += put_raw(raw, sc->plane[q], n, s->bits[q], sc->lanes);
            continue;
        }
        if (kind[q] != KIND_RAW && q != ahead) {
            unsigned q2 = q + 1;
            while (q2 < s->planes && (!((s->coded >> q2) & 1) || kind[q2] == KIND_RAW)) q2++;
            coder_start(&cd[0], sc->lanes, sc->plane[q], n, et[q]);
            if (k->rans_encode2 && q2 < s->planes) {
                coder_start(&cd[1], sc->words2, sc->plane[q2], n, et[q2]);
                uint32_t *const x[2] = {cd[0].x, cd[1].x};
                const uint8_t *const sym[2] = {sc->plane[q], sc->plane[q2]};
                const enec_rans_enc_table *const t[2] = {et[q], et[q2]};
                uint16_t *const words[2] = {cd[0].words, cd[1].words};
                uint32_t nw[2] = {cd[0].nw, cd[1].nw};
                k->rans_encode2(x, sym, rounds, t, words, nw);
                cd[0].nw = nw[0], cd[1].nw = nw[1];
                ahead = q2;
            } else {
                cd[0].nw = one(cd[0].x, sc->plane[q], rounds, et[q], cd[0].words, cd[0].nw);
            }
        }
        v += put_plane(s, sc, q, kind[q], &cd[q == ahead], n, v);
    }
    return (uint32_t)(v - var);
}

/* Planes that need a buffer of their own in a decoded block: the coded ones and
 * raw planes narrower than a byte (a raw byte plane is its own symbols). */
static unsigned buffered_planes(const enec_layout *l)
{
    unsigned bufs = 0;
    for (unsigned q = 0; q < l->p.n; q++) bufs += ((l->p.m >> q) & 1) || plane_bits(l->di, l->p.b, q) < 8;
    return bufs;
}

/* Blocks decoded together: enough streams to hide a round's latency
 * (ENEC_RANS_STREAMS), within the scratch's MAX_PLANES plane buffers. */
static unsigned max_batch(const enec_layout *l)
{
    const unsigned ncoded = enec_popcount64(l->p.m), bufs = buffered_planes(l);
    if (!ncoded) return 1;
    unsigned b = MAX_PLANES / bufs, want = (ENEC_RANS_STREAMS + ncoded - 1) / ncoded;
    return b < want ? b : want;
}

/* A stored plane's n symbols of `bits` at p (packed, B = raw_B(n) lanes): a
 * byte plane is its own symbols; a narrower one is unpacked into the next
 * plane buffer (*nb moves on). */
static const uint8_t *raw_symbols(max_scratch *sc, const uint8_t *p, uint32_t n, unsigned bits, unsigned *nb)
{
    if (bits == 8) return p;
    enec_unpack(sc->lanes, p, raw_B(n), bits);
    uint8_t *out = sc->plane[(*nb)++];
    for (uint32_t e = 0; e < n; e++) out[e] = (uint8_t)sc->lanes[e];
    return out;
}

/* Blocks i .. i + count - 1 of one group (they share its tables). */
static int decode_run(const enec_block_kernels *k, const enec_layout *l, uint64_t i, unsigned count,
                      const uint8_t *stream, uint8_t *out, max_scratch *sc)
{
    const unsigned split = l->p.b, planes = l->p.n, coded = l->p.m;
    const uint32_t isz = l->itemsize;
    const uint8_t *entries = stream + l->table_off;
    /* The group's tables open the variable part of its first block. */
    const uint64_t head = i / TABLE_GROUP * TABLE_GROUP;
    const uint8_t *t0 = stream + l->var_at[head], *tp = t0;
    const uint8_t *tend = t0 + enec_load32(entries + ENEC_TABLE_ENTRY * head + 4);
    const int v2 = l->version >= 2;
    unsigned present = 0; /* coded planes whose group has a table */
    for (unsigned q = 0; q < planes; q++) {
        if (!((coded >> q) & 1)) continue;
        if (!(tp = table_get(tp, tend, plane_bits(l->di, split, q), &sc->t, v2))) return -1;
        if (table_present(&sc->t)) present |= 1u << q;
    }
    /* The slot entries, unless this worker built them from these very bytes
     * for the same planes (the key: dtype, split, coded planes). */
    const uint32_t tlen = (uint32_t)(tp - t0);
    const uint32_t key = (uint32_t)(l->di ? l->di->dtype : 0) | l->itemsize << 8 | split << 16 | coded << 24;
    if (tlen != sc->cached_len || key != sc->cached_key || memcmp(sc->cached, t0, tlen) != 0) {
        const uint8_t *tq = t0;
        for (unsigned q = 0; q < planes; q++) {
            if (!((coded >> q) & 1)) continue;
            const unsigned bits = plane_bits(l->di, split, q);
            tq = table_get(tq, tend, bits, &sc->t, v2);
            if ((present >> q) & 1) slot_entries(&sc->t, 1u << bits, sc->slot[q]);
        }
        memcpy(sc->cached, t0, tlen);
        sc->cached_len = tlen;
        sc->cached_key = key;
    }

    /* Every block's planes: raw ones in place or unpacked, coded ones opened. */
    enec_rans_stream st[MAX_PLANES];
    uint32_t st_n[MAX_PLANES];
    const uint8_t *pl[ENEC_RANS_STREAMS][MAX_PLANES];
    const enec_rans_run_fn run = k->rans_run ? k->rans_run : rans_rounds;
    unsigned ns = 0, nb = 0, own = 0;
    for (unsigned b = 0; b < count; b++) {
        const uint64_t j = i + b;
        const uint32_t n = enec_block_valid(l, j), B = raw_B(n);
        const uint8_t *raw = stream + l->raw_off + j * l->raw_block;
        const uint8_t *v = j == head ? tp : stream + l->var_at[j]; /* the head's streams follow the tables */
        const uint8_t *vend = stream + l->var_at[j] + enec_load32(entries + ENEC_TABLE_ENTRY * j + 4);
        for (unsigned q = 0; q < planes; q++) {
            const unsigned bits = plane_bits(l->di, split, q);
            if ((coded >> q) & 1) {
                if (vend - v < 4) return -1;
                const uint32_t word = enec_load32(v), size = word & SIZE_MASK, kind = word >> KIND_SHIFT;
                const uint8_t *p = v + 4;
                if (size > (uint64_t)(vend - p) || (kind != KIND_GROUP && !v2)) return -1;
                v = p + size;
                if (kind == KIND_GROUP) {
                    if (!((present >> q) & 1) || rans_open(&st[ns], p, size, sc->slot[q], sc->plane[nb])) return -1;
                    st_n[ns++] = n;
                    pl[b][q] = sc->plane[nb++];
                } else if (kind == KIND_RAW) {
                    if (size != (uint64_t)B * bits / 8) return -1;
                    pl[b][q] = raw_symbols(sc, p, n, bits, &nb);
                } else if (kind == KIND_OWN) {
                    /* A table of its own: its slot entries built here; the stream
                     * runs with the others while slots last, else alone now. */
                    const uint8_t *tp2 = table_get(p, v, bits, &sc->t, 0);
                    if (!tp2) return -1;
                    uint32_t *slot = sc->own_slot[own < OWN_SLOTS ? own : OWN_SLOTS];
                    slot_entries(&sc->t, 1u << bits, slot);
                    if (rans_open(&st[ns], tp2, (uint32_t)(v - tp2), slot, sc->plane[nb])) return -1;
                    if (own < OWN_SLOTS) {
                        own++;
                        st_n[ns++] = n;
                    } else {
                        run(&st[ns], 1, n / MAX_LANES);
                        if (rans_close(&st[ns], n / MAX_LANES * MAX_LANES, n)) return -1;
                    }
                    pl[b][q] = sc->plane[nb++];
                } else {
                    return -1;
                }
            } else {
                pl[b][q] = raw_symbols(sc, raw, n, bits, &nb);
                raw += (size_t)B * bits / 8;
            }
        }
        if (v != vend) return -1;
    }

    /* The coded planes, up to ENEC_RANS_STREAMS streams at a time, in even
     * shares (8 streams run as 4 + 4: a lone pair would hide less latency). */
    const unsigned chunks = (ns + ENEC_RANS_STREAMS - 1) / ENEC_RANS_STREAMS;
    for (unsigned s0 = 0, cnt; s0 < ns; s0 += cnt) {
        cnt = (ns - s0 + chunks - 1) / chunks;
        if (cnt > ns - s0) cnt = ns - s0;
        uint32_t rounds = UINT32_MAX;
        for (unsigned s = s0; s < s0 + cnt; s++)
            if (st_n[s] / MAX_LANES < rounds) rounds = st_n[s] / MAX_LANES;
        run(st + s0, cnt, rounds);
        for (unsigned s = s0; s < s0 + cnt; s++)
            if (rans_close(&st[s], rounds * MAX_LANES, st_n[s])) return -1;
    }

    for (unsigned b = 0; b < count; b++) {
        const uint64_t j = i + b;
        const uint32_t n = enec_block_valid(l, j);
        uint8_t *o = out + j * ENEC_BLOCK * isz;
        assemble(k, l, split, planes, pl[b], n, o);
    }
    return 0;
}

static int max_decode_blocks(const enec_block_kernels *k, const enec_layout *l, uint64_t i, unsigned count,
                             const uint8_t *stream, uint8_t *out, void *scratch)
{
    const unsigned batch = max_batch(l);
    while (count) { /* runs that do not cross a group, so that they share the slot entries */
        unsigned c = TABLE_GROUP - (unsigned)(i % TABLE_GROUP);
        if (c > count) c = count;
        if (c > batch) c = batch;
        if (decode_run(k, l, i, c, stream, out, (max_scratch *)scratch)) return -1;
        i += c, count -= c;
    }
    return 0;
}

const enec_mode_ops enec_mode_max = {
    .mode = ENEC_MODE_MAX,
    .name = "max",
    .supports = max_supports,
    .choose = max_choose,
    .params_valid = max_params_valid,
    .release = state_free,
    .layout = max_layout,
    .var_max = max_var_max,
    .var_size_ok = max_var_size_ok,
    .encode_block = max_encode_block,
    .batch = max_batch,
    .decode_blocks = max_decode_blocks,
};
