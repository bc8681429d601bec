/* fuzz_decode.c - libFuzzer target for enec_decompress: no crash on any bytes, and every backend and thread count gives the same answer. */
#include <string.h>
#include "fuzz_common.h"

FUZZ_STREAM_MUTATOR

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    enec_header h;
    size_t hr = enec_read_header(data, size, &h);
    /* A header that does not parse still goes to the decoder, with a small
     * buffer: it must refuse without touching more than that. */
    size_t cap = enec_is_error(hr) ? 64 : (size_t)h.original_size;
    /* FORMAT.md section 8: the output is bounded by the input */
    if (!enec_is_error(hr) && h.mode != ENEC_MODE_MAX) FUZZ_ASSERT(3 * h.original_size <= 8 * (uint64_t)size);
    if (!enec_is_error(hr) && h.mode == ENEC_MODE_MAX)
        FUZZ_ASSERT(h.original_size <= (uint64_t)ENEC_BLOCK * h.tensor.itemsize * (size / 8));

    int backends[ENEC_BACKEND_COUNT];
    int nb = fuzz_backends(backends);
    uint8_t *ref = (uint8_t *)fuzz_alloc(cap);
    uint8_t *out = (uint8_t *)fuzz_alloc(cap);

    /* The reference: portable code on the calling thread. */
    enec_options o = {0};
    o.threads = 1;
    o.backend = ENEC_BACKEND_SCALAR;
    size_t r0 = enec_decompress(ref, cap, data, size, &o);
    /* Bad bytes are corrupt, or (an intact header naming a newer version, mode or dtype)
     * unsupported; the header reader and the decoder agree on which. */
    const int refused = enec_get_error(r0) == ENEC_ERR_CORRUPT || enec_get_error(r0) == ENEC_ERR_UNSUPPORTED;
    if (enec_is_error(hr)) FUZZ_ASSERT(enec_get_error(r0) == enec_get_error(hr));
    if (!enec_is_error(r0)) FUZZ_ASSERT(!enec_is_error(hr) && r0 == h.original_size && size == h.stream_size);
    else FUZZ_ASSERT(refused);

    static const int thread_counts[] = {1, 2, 3};
    for (int i = 0; i < nb; i++) {
        for (unsigned t = 0; t < sizeof thread_counts / sizeof *thread_counts; t++) {
            if (backends[i] == ENEC_BACKEND_SCALAR && thread_counts[t] == 1) continue;
            o.backend = backends[i];
            o.threads = thread_counts[t];
            memset(out, 0xA5, cap);
            size_t r = enec_decompress(out, cap, data, size, &o);
            FUZZ_ASSERT(r == r0); /* same size, or the same error */
            if (!enec_is_error(r)) FUZZ_ASSERT(memcmp(out, ref, r) == 0);
        }
    }

    if (!enec_is_error(r0)) {
        /* The limits: refused before writing, whatever the data. */
        o.backend = ENEC_BACKEND_AUTO;
        o.threads = 1;
        if (h.original_size > 0) {
            memset(out, 0xA5, cap);
            if (h.original_size > 1) { /* a limit of 0 means none */
                o.max_output_size = h.original_size - 1;
                FUZZ_ASSERT(enec_get_error(enec_decompress(out, cap, data, size, &o)) == ENEC_ERR_TOO_LARGE);
                o.max_output_size = 0;
            }
            FUZZ_ASSERT(enec_get_error(enec_decompress(out, cap - 1, data, size, &o)) == ENEC_ERR_DST_TOO_SMALL);
            for (size_t k = 0; k < cap; k++) FUZZ_ASSERT(out[k] == 0xA5);
        }
        o.max_output_size = h.original_size;
        FUZZ_ASSERT(enec_decompress(out, cap, data, size, &o) == r0);
    }
    free(ref);
    free(out);
    return 0;
}
