/* host.h - host-driver steps shared by driver.c (V1..V3) and v0.c (V0): phases, the cross-block scan, payload moves. */
#ifndef ENEC_NPU_HOST_H
#define ENEC_NPU_HOST_H
#include "kernels.h"
#include "npu.h"

/* A phase ends at a barrier: fold every core's stats into the report. */
void enec_npu_end_phase(npu_device *d, npu_report *r, int phase);
/* device_cycles, hbm_cycles and kernel_cycles from the phases. */
void enec_npu_finish_report(const npu_device *d, npu_report *r);
/* The two-phase cross-core scan of per-block sizes into offsets base + prefix. */
int enec_npu_scan_sizes(npu_device *d, npu_report *r, uint32_t *sizes, uint64_t n, uint64_t base, uint64_t *at);
/* Move each block's sz[blk] bytes from its staging slot to at[blk] of j->dst. */
int enec_npu_move_payloads(npu_device *d, npu_report *r, npu_job *j, const uint32_t *sz, const uint64_t *at);
/* Forward (256 x u16 at 0) and inverse (512 x u16 at 512) transform tables, 1536 bytes. */
void enec_npu_fill_tables(uint8_t *tab, const enec_params *p, unsigned ebits);

/* The dtypes the NPU kernels implement: bfloat16, float16, float32. */
int enec_npu_dtype_ok(const enec_dtype_info *di);

/* V0 (v0.c): the whole launch on an initialised device; the caller reports
 * a device error and finishes the report. */
size_t enec_npu_v0_compress(npu_device *d, npu_report *r, void *dst, size_t cap, const uint8_t *src,
                            const enec_tensor *t, uint64_t count, const enec_params *p);
size_t enec_npu_v0_decompress(npu_device *d, npu_report *r, void *dst, size_t cap, const uint8_t *src,
                              size_t size);

#endif
