/* device.h - a functional and timing model of an Ascend 910B2-class device: cores, Unified Buffer, DMA, pipes, costs. */
#ifndef ENEC_NPU_DEVICE_H
#define ENEC_NPU_DEVICE_H

#include <stddef.h>
#include <stdint.h>

/* Errors a kernel can raise on the model. The first one sticks (dev->err)
 * and turns every later operation into a no-op, so a broken kernel stops
 * cleanly instead of reading outside the buffer. */
typedef enum {
    NPU_OK = 0,
    NPU_ERR_UB_OVERFLOW,  /* an allocation beyond the Unified Buffer capacity */
    NPU_ERR_ALIGN,        /* a UB operand or DMA not on the 32-byte grid */
    NPU_ERR_SEGMENT,      /* an instruction reads lanes it writes itself at another position */
    NPU_ERR_BOUNDS,       /* an access outside allocated UB or outside a global-memory region */
    NPU_ERR_GM_OVERFLOW,  /* tensors do not fit the device's global memory */
    NPU_ERR_ARG,          /* an instruction argument out of range */
    NPU_ERR_CORRUPT,      /* the kernel found the input stream inconsistent */
    NPU_ERR_NOMEM,        /* the host could not allocate the model's memory */
    NPU_ERR_RACE          /* UB data read before the DMA that fills it landed, or overwritten before it left */
} npu_error;

/* Vector instruction classes; each has one row in the cost table. */
typedef enum {
    OP_ADD, OP_MUL16, OP_MUL32, OP_LOGIC, OP_SHIFT, OP_DUP, OP_CI, OP_CMP, OP_SEL, OP_CONV,
    OP_GATHER, OP_GATHERMASK, OP_TRANSPOSE, OP_REDUCE, OP_CUMSUM, OP_COUNT
} npu_opclass;

/* Every tunable number of the model. enec_npu_config_default() fills the
 * defaults of docs/NPU.md (sources there). */
typedef struct {
    int cores;                   /* vector (AIV) cores: 48 */
    double clock_ghz;            /* 1.8 */
    uint32_t ub_bytes;           /* Unified Buffer per core: 196608 */
    uint64_t gm_bytes;           /* global memory (HBM): 64 GiB */
    double hbm_gbps;             /* aggregate global-memory bandwidth, GB/s: 1600 */
    double mte2_bytes_per_cycle; /* one core's GM -> UB rate: 87 */
    double mte3_bytes_per_cycle; /* one core's UB -> GM rate: 64 */
    uint32_t dma_read_latency;   /* cycles before the first byte of a GM read: 320 */
    uint32_t dma_write_latency;  /* 180 */
    double dma_unaligned_factor; /* bandwidth fraction when a GM address is not 512 B aligned: 0.7 */
    uint32_t vec_startup;        /* a vector instruction's latency beyond its repeats (fitted): 119 */
    uint32_t mask_cycles;        /* setting a lane mask: 8 */
    uint32_t scalar_load, scalar_store, scalar_alu, scalar_issue; /* 6, 4, 2, 1 */
    uint32_t max_repeat;         /* repeats per instruction: 255 */
    double cycles_per_repeat[OP_COUNT]; /* the cost table, cycles per 256-byte repeat */
    /* Costs added by issue 13 (docs/NPU.md gives each one's source or marks it free). */
    uint32_t dma_burst_bytes;    /* DMA moves whole bursts: 512 */
    uint32_t launch_cycles;      /* kernel launch, once per launch (free) */
    uint32_t barrier_cycles;     /* SyncAll between the phases of a launch (free) */
    uint32_t flag_cycles;        /* scalar cost of one SetFlag/WaitFlag pair (free) */
    uint32_t queue_depth;        /* vector instructions the scalar unit may issue ahead (free) */
    int bank_conflicts;          /* charge UB bank conflicts (48 banks in 16 groups): 1 */
    int race_check;              /* fail on a UB read before its data landed or a write before it left: 1 */
    int vec_overlap;             /* 1: an instruction waits only for the ones it depends on (pays vec_startup
                                  * as latency); 0: every instruction pays vec_startup in series */
    int fault;                   /* test only: bit 0 drops decode's wait for its DMA-in, bit 1 the slot release */
} npu_config;

void enec_npu_config_default(npu_config *c);
const char *enec_npu_opclass_name(int op);

/* A region of global memory the host placed there (tensor, stream, staging). */
typedef struct {
    uint8_t *base;
    uint64_t size;
} npu_gm;

/* The four pipes of a vector core. */
enum { PIPE_MTE2, PIPE_V, PIPE_S, PIPE_MTE3, PIPE_COUNT };

/* One core: its clocks (cycle at which each pipe is next free), what each
 * pipe was busy for, the UB arena. Cores are simulated one after another
 * and share one UB byte array, since no core sees another's UB. */
#define NPU_QUEUE_MAX 256 /* largest queue_depth */

typedef struct {
    double clock[PIPE_COUNT];
    double busy[PIPE_COUNT];
    uint64_t bytes_in, bytes_out;
    uint64_t vec_instr, op_count[OP_COUNT];
    double op_cycles[OP_COUNT];
    double dma_done[PIPE_COUNT]; /* latest completion of a DMA on MTE2 / MTE3 (latency included) */
    double vissue;      /* when the vector pipe takes its next instruction (clock[PIPE_V]: all done) */
    double bank_extra;  /* vector cycles lost to UB bank conflicts */
    double queue_stall; /* scalar cycles spent waiting for a free queue entry */
} npu_core_stats;

typedef struct {
    npu_config cfg;
    int err;
    char msg[200];
    uint8_t *ub;        /* cfg.ub_bytes */
    uint32_t ub_top;    /* bump allocator top */
    uint32_t ub_peak;
    uint64_t gm_used;
    int core;           /* the core now running */
    int rank, active;   /* its place among the cores with work in this phase, and how many have work */
    npu_core_stats *stats; /* cfg.cores entries */
    uint32_t gm_cnt;    /* the "scalar register" a gather-mask writes its kept count to */
    /* The race detector: per 32-byte UB block, when its latest contents are
     * ready (a DMA-in or vector write completes) and until when a reader
     * (outbound DMA or vector instruction) still needs it. */
    double *ready, *read_until;
    double *vready;     /* per 32-byte block: completion of the last vector instruction writing it */
    /* Vector start times of the last NPU_QUEUE_MAX instructions (the bounded issue queue). */
    double vstart[NPU_QUEUE_MAX];
    uint64_t nvec;
    /* Shared HBM bandwidth over time: bytes already moved in each bin of
     * NPU_HBM_BIN cycles, all cores together, in the current phase. */
    double *hbm_bins;
    size_t hbm_nbins;
    double vt0, vt1;    /* start and completion of the last vector instruction */
    int dep_all;        /* the next instruction depends on every earlier one (a gather) */
} npu_device;

#define NPU_HBM_BIN 64.0

int enec_npu_device_init(npu_device *d, const npu_config *cfg);
void enec_npu_device_free(npu_device *d);

/* Record the first error with a message; returns 0 so callers can `return npu_fail(...)`. */
int enec_npu_fail(npu_device *d, int code, const char *fmt, ...)
#ifdef __GNUC__
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Place a host buffer in global memory (capacity-checked). */
int enec_npu_gm_place(npu_device *d, npu_gm *g, void *base, uint64_t size);

/* Start core `core`: empty UB, its clocks from zero. */
void enec_npu_core_begin(npu_device *d, int core);
/* Allocate UB bytes (rounded up to 32); returns the offset, or 0 with the
 * error set when the buffer is full. Offset 0 is never handed out (the first
 * 32 bytes are reserved) so 0 can mean failure. */
uint32_t enec_npu_ub_alloc(npu_device *d, uint32_t bytes);

/* Check that [off, off + bytes) lies in allocated UB; sets NPU_ERR_BOUNDS. */
int enec_npu_ub_check(npu_device *d, uint32_t off, uint64_t bytes, const char *what);

/* DMA between global memory and UB. ub_off must be 32-byte aligned. With
 * pad = 0 (DataCopy) bytes must be a multiple of 32; pad = 1 (DataCopyPad)
 * moves any byte count. Cost: latency + bytes / rate on the MTE pipe,
 * starting no earlier than `after` (an event: a cycle count). Returns the
 * cycle at which the copy is complete. */
double enec_npu_dma_in(npu_device *d, uint32_t ub_off, const npu_gm *g, uint64_t gm_off, uint64_t bytes,
                       int pad, double after);
double enec_npu_dma_out(npu_device *d, const npu_gm *g, uint64_t gm_off, uint32_t ub_off, uint64_t bytes,
                        int pad, double after);

/* The scalar unit. */
void enec_npu_scalar(npu_device *d, uint32_t alu_ops, uint32_t loads, uint32_t stores);
/* A data-dependent branch: the scalar unit waits for the vector pipe to
 * drain, then loads a value the vector unit wrote (a PipeBarrier + GetValue). */
uint32_t enec_npu_scalar_read_u16(npu_device *d, uint32_t ub_off);
void enec_npu_scalar_write_u16(npu_device *d, uint32_t ub_off, uint16_t v);
/* Scalar load / store of a little-endian word of 4 or 8 bytes in UB (the
 * scalar unit's GetValue / SetValue), race-checked like any access. */
uint64_t enec_npu_scalar_load(npu_device *d, uint32_t ub_off, unsigned bytes);
void enec_npu_scalar_store(npu_device *d, uint32_t ub_off, uint64_t v, unsigned bytes);
/* Read the kept count of the last gather-mask (waits for the vector pipe). */
uint32_t enec_npu_scalar_read_count(npu_device *d);

/* Event wait: a pipe does not start its next work before cycle t. */
void enec_npu_wait(npu_device *d, int pipe, double t);
static inline double enec_npu_clock(const npu_device *d, int pipe) { return d->stats[d->core].clock[pipe]; }
/* When every DMA issued so far on an MTE pipe has completed (its engine is
 * free earlier: latencies of successive copies overlap). */
static inline double enec_npu_dma_done(const npu_device *d, int pipe)
{
    const npu_core_stats *s = &d->stats[d->core];
    return s->dma_done[pipe] > s->clock[pipe] ? s->dma_done[pipe] : s->clock[pipe];
}

/* Charge one vector instruction of class op over `repeats` 256-byte repeats
 * (split into instructions of at most max_repeat), plus a mask setup when masked.
 * bank_cycles: the repeats' cycles with bank conflicts counted (0: repeats x
 * the table's cost); dep: the cycle its operands' producers complete (with
 * vec_overlap). Returns the start cycle; *end gets the completion. */
double enec_npu_charge_vector(npu_device *d, int op, uint64_t repeats, int masked, double bank_cycles, double dep,
                              double *end);
/* Dependencies between vector instructions (cfg.vec_overlap): the latest
 * completion of a vector write to UB [off, off + bytes), and recording one. */
double enec_npu_vdep(const npu_device *d, uint32_t off, uint64_t bytes);
void enec_npu_vdone(npu_device *d, uint32_t off, uint64_t bytes, double end);

/* The race detector (no-ops when cfg.race_check is 0): a vector or scalar
 * read of UB [off, off + bytes) at cycle t, a write completing at `end`. */
int enec_npu_ub_read(npu_device *d, uint32_t off, uint64_t bytes, double t, double until, const char *what);
int enec_npu_ub_write(npu_device *d, uint32_t off, uint64_t bytes, double t, double end, const char *what);

/* A new phase: the HBM timeline starts empty (every core's clocks restart at 0). */
void enec_npu_hbm_reset(npu_device *d);

#endif
