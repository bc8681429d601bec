/* kernels.h - ENEC's NPU kernels (variants V0..V3) as the host driver launches them on the device model. */
#ifndef ENEC_NPU_KERNELS_H
#define ENEC_NPU_KERNELS_H
#include "../codec/layout.h"
#include "device.h"

enum { NPU_V0, NPU_V1, NPU_V2, NPU_V3, NPU_VARIANTS };

#define NPU_CH 512u  /* lanes per chunk where a kernel has to work through a small scratch */
#define NPU_V0_CLASSES 16u /* V0: width-class counts kept per block (widths 1..n, n <= 9 is used) */

/* One launch: the tensor's layout and the global-memory regions. */
typedef struct {
    npu_device *d;
    const enec_layout *l;
    int variant;
    npu_gm src;     /* encode: the tensor; decode: the stream */
    npu_gm dst;     /* encode: the stream (RAW, LOW, MASK written in place); decode: the tensor */
    npu_gm stage;   /* encode: per-block HIGH slots (block * stage_block); V0: whole block payloads */
    npu_gm tables;  /* forward table (256 x u16) at 0, inverse table (512 x u16) at 512 */
    uint64_t stage_block;
    uint32_t *F;          /* per block: flagged groups (V1..V3) or payload bytes (V0) */
    npu_gm Fgm;           /* F as a global-memory region (encode writes it by DMA) */
    npu_gm Fwgm;          /* V0: Fw as a global-memory region (encode writes it by DMA) */
    const uint64_t *at;   /* decode: stream offset of each block's HIGH (V0: of its payload) */
    uint16_t *Fw;         /* V0: per block, NPU_V0_CLASSES counts: [w - 1] = groups of width w */
    int slots;            /* out: 1 or 2, the buffering the UB plan allowed */
} npu_job;

/* Run every block core `core` owns (core, core + cores, ...). 0 on success;
 * on failure the device holds the error. */
int enec_npu_encode_core(npu_job *j, int core);
int enec_npu_decode_core(npu_job *j, int core);

/* V0's padded size of a block of `valid` elements: a multiple of 16 L, so
 * that every max fold and the per-group lanes stay on the 32-byte grid. */
static inline uint32_t enec_npu_v0_B(uint32_t valid, unsigned L)
{
    uint32_t q = 16u * L;
    return (valid + q - 1) / q * q;
}
/* Bytes of V0's per-block payload: packed widths, raw parts, the width classes. */
uint64_t enec_npu_v0_payload(const enec_layout *l, uint32_t B, const uint16_t *Fw);

/* Byte lengths of the runs the halving pack emits for n lanes of w bits. */
int enec_npu_pack_runs(uint32_t n, unsigned w, uint32_t *len);

#endif
