/* npu.h - the host side of the simulated NPU backend: whole-tensor compress/decompress on the device model, and its report. */
#ifndef ENEC_NPU_H
#define ENEC_NPU_H
#include "../enec.h"
#include "device.h"

/* What a run cost on the model. Per-core arrays have cfg.cores entries. */
typedef struct {
    int cores;
    double *core_cycles;            /* each core's busy span, summed over the phases */
    double *pipe[PIPE_COUNT];       /* each core's busy cycles per pipe (MTE2, V, S, MTE3) */
    double phase_cycles[4];         /* main kernel, scan part 1, scan part 2, HIGH move (encode) */
    double device_cycles;           /* launch + the phases end to end + a barrier between phases */
    double hbm_cycles;              /* the shared-HBM bound: all bytes moved / aggregate bandwidth */
    double kernel_cycles;           /* max(device_cycles, hbm_cycles) */
    uint64_t bytes_in, bytes_out;   /* DMA traffic, GM -> UB and UB -> GM */
    uint64_t original_bytes, stream_bytes;
    uint64_t nblocks;
    int slots, coded, variant;
    uint32_t ub_peak;
    uint64_t op_count[OP_COUNT];
    double op_cycles[OP_COUNT];
    int phases_run;                 /* phases with work (a barrier between consecutive ones) */
    double bank_extra;              /* vector cycles lost to bank conflicts, all cores */
    double queue_stall;             /* scalar cycles waiting for a full instruction queue, all cores */
    int npu_err;                    /* an npu_error when the device refused the kernel */
    char msg[200];
} npu_report;

void enec_npu_report_free(npu_report *r);

/* Compress like enec_compress (same parameters, same bytes for V1..V3) with
 * the kernels of `variant` on a device configured by cfg. forced may be NULL.
 * V0 writes its own container (docs/NPU.md). On a device error returns
 * ENEC_ERROR(GENERIC) with rep->npu_err and rep->msg set.
 * @return the stream size or an error code. */
size_t enec_npu_compress(const npu_config *cfg, int variant, void *dst, size_t cap, const void *src,
                         const enec_tensor *t, const enec_params *forced, npu_report *rep);

/* Decode a stream (standard for V1..V3, the V0 container for V0) into dst.
 * @return original_size or an error code (ENEC_ERR_CORRUPT for bad input). */
size_t enec_npu_decompress(const npu_config *cfg, int variant, void *dst, size_t cap, const void *src,
                           size_t size, npu_report *rep);

/* Bytes a V0 container needs at most for this tensor, and its header fields. */
size_t enec_npu_v0_bound(const enec_tensor *t);
/* Parse a V0 container's header: dtype, itemsize, ndim, shape. @return 0 or ENEC_ERR_CORRUPT. */
size_t enec_npu_v0_info(const void *src, size_t size, enec_tensor *t, uint64_t *count);

/* Run one deliberately small kernel that exercises a rule of the model:
 * "ub_alloc" (arg = bytes), "segment" (arg = destination lane offset of an
 * add over the source), "dma_align" (arg = UB byte offset), "dma_len" (arg =
 * DataCopy length), "race" (a copy in and a vector read of it; arg = 0 leaves out
 * the wait between them), "bank_ww" (one Duplicate repeat at block stride
 * arg), "bank_rw" (one add repeat reading two sources 256 bytes apart and
 * writing arg bytes after the first). *vcycles gets the vector pipe's busy
 * cycles. @return the npu_error it raised (0 = none). */
int enec_npu_probe(const npu_config *cfg, const char *name, int64_t arg, char *msg, size_t msgcap, double *vcycles);

#endif
