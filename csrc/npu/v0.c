/* v0.c - variant V0 of the ablation (table transform, per-group widths, sequential scan) and its own container. */
#include <string.h>
#include "../codec/layout.h"
#include "npu.h"

size_t enec_npu_v0_compress(npu_device *d, npu_report *r, void *dst, size_t cap, const uint8_t *src,
                            const enec_tensor *t, uint64_t count, const enec_params *p);
size_t enec_npu_v0_decompress(npu_device *d, npu_report *r, void *dst, size_t cap, const uint8_t *src,
                              size_t size);

size_t enec_npu_v0_compress(npu_device *d, npu_report *r, void *dst, size_t cap, const uint8_t *src,
                            const enec_tensor *t, uint64_t count, const enec_params *p)
{
    (void)d, (void)r, (void)dst, (void)cap, (void)src, (void)t, (void)count, (void)p;
    return ENEC_ERROR(BACKEND);
}

size_t enec_npu_v0_decompress(npu_device *d, npu_report *r, void *dst, size_t cap, const uint8_t *src,
                              size_t size)
{
    (void)d, (void)r, (void)dst, (void)cap, (void)src, (void)size;
    return ENEC_ERROR(BACKEND);
}

size_t enec_npu_v0_bound(const enec_tensor *t)
{
    (void)t;
    return 0;
}

size_t enec_npu_v0_info(const void *src, size_t size, enec_tensor *t, uint64_t *count)
{
    (void)src, (void)size, (void)t, (void)count;
    return ENEC_ERROR(CORRUPT);
}
