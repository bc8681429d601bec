/* fuzz_npu_decode.c - libFuzzer target for the simulated NPU decoder: standard streams decode as on the CPU, V0 containers never crash it. */
#include <string.h>
#include "../csrc/npu/host.h"
#include "../csrc/npu/kernels.h"
#include "../csrc/npu/npu.h"
#include "fuzz_common.h"

FUZZ_STREAM_MUTATOR

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    npu_config cfg;
    enec_npu_config_default(&cfg);
    cfg.cores = 4; /* fewer simulated cores: the same bytes, a faster model */

    enec_header h;
    size_t hr = enec_read_header(data, size, &h);
    size_t cap = enec_is_error(hr) ? 64 : (size_t)h.original_size;
    uint8_t *ref = (uint8_t *)fuzz_alloc(cap), *out = (uint8_t *)fuzz_alloc(cap);

    /* The CPU reference decoder is the oracle for V1..V3, which read standard streams. */
    enec_options o = {0};
    o.threads = 1;
    o.backend = ENEC_BACKEND_SCALAR;
    size_t r0 = enec_decompress(ref, cap, data, size, &o);
    /* A coded stream of a dtype the device has no kernels for (fp8) is refused as such. */
    const int no_kernels = !enec_is_error(r0) && h.mode != ENEC_MODE_STORED &&
                           !enec_npu_dtype_ok(enec_dtype_lookup(h.tensor.dtype));
    for (int v = NPU_V1; v < NPU_VARIANTS; v++) {
        npu_report rep;
        memset(out, 0xA5, cap);
        size_t r = enec_npu_decompress(&cfg, v, out, cap, data, size, &rep);
        enec_npu_report_free(&rep);
        if (no_kernels) {
            FUZZ_ASSERT(enec_get_error(r) == ENEC_ERR_BACKEND);
        } else if (!enec_is_error(r0)) {
            FUZZ_ASSERT(r == r0 && memcmp(out, ref, r) == 0);
        } else {
            /* Whatever the CPU refuses, the device refuses too (the error may be named differently). */
            FUZZ_ASSERT(enec_is_error(r));
        }
    }

    /* V0 reads its own container: no oracle, but it must not crash, and
     * what it accepts must match the container's own description. */
    enec_tensor t;
    uint64_t count = 0;
    if (enec_npu_v0_info(data, size, &t, &count) == 0 && count <= 4 * (uint64_t)size) {
        size_t vcap = (size_t)(count * t.itemsize);
        uint8_t *v0 = (uint8_t *)fuzz_alloc(vcap);
        npu_report rep;
        size_t r = enec_npu_decompress(&cfg, NPU_V0, v0, vcap, data, size, &rep);
        enec_npu_report_free(&rep);
        if (!enec_is_error(r)) FUZZ_ASSERT(r == vcap);
        free(v0);
    } else {
        npu_report rep;
        size_t r = enec_npu_decompress(&cfg, NPU_V0, out, cap, data, size, &rep);
        enec_npu_report_free(&rep);
        FUZZ_ASSERT(enec_is_error(r));
    }
    free(ref);
    free(out);
    return 0;
}
