/* fuzz_header.c - libFuzzer target for enec_read_header: never reads past its input, and what it accepts is self-consistent. */
#include <string.h>
#include "fuzz_common.h"

FUZZ_STREAM_MUTATOR

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    enec_header h;
    size_t r = enec_read_header(data, size, &h);
    if (enec_is_error(r)) {
        /* Bytes are rejected as corrupt, or as a newer writer's (version, mode or dtype). */
        FUZZ_ASSERT(enec_get_error(r) == ENEC_ERR_CORRUPT || enec_get_error(r) == ENEC_ERR_UNSUPPORTED);
        return 0;
    }
    const enec_tensor *t = &h.tensor;
    FUZZ_ASSERT(r == h.header_size);
    FUZZ_ASSERT(h.header_size <= h.stream_size && h.stream_size <= size);
    FUZZ_ASSERT(h.stream_size == h.header_size + h.payload_size);
    FUZZ_ASSERT(h.version >= ENEC_FORMAT_VERSION_MIN && h.version <= ENEC_FORMAT_VERSION);
    FUZZ_ASSERT(h.mode < ENEC_MODE_COUNT && (unsigned)t->dtype < ENEC_DTYPE_COUNT);
    FUZZ_ASSERT(t->ndim <= ENEC_MAX_NDIM && t->descr_len <= ENEC_MAX_DESCR && t->itemsize >= 1);
    if (t->descr_len) {
        const uint8_t *d = (const uint8_t *)t->descr;
        FUZZ_ASSERT(d >= data && d + t->descr_len <= data + h.header_size);
    }
    uint64_t count = 1;
    for (uint32_t i = 0; i < t->ndim; i++) count *= t->shape[i]; /* read_header rejects overflow */
    FUZZ_ASSERT(count == h.count);
    FUZZ_ASSERT(h.original_size == h.count * t->itemsize);
    /* The decompression-bomb bound of docs/FORMAT.md section 8: the RAW
     * section holds rawbits per element, at least 3 (float8_e5m2). */
    FUZZ_ASSERT(3 * h.original_size <= 8 * h.payload_size);
    if (h.mode == ENEC_MODE_STORED) {
        FUZZ_ASSERT(h.payload_size == h.original_size && h.nblocks == 0);
    } else {
        const enec_dtype_desc *dd = enec_dtype_describe(t->dtype);
        FUZZ_ASSERT(dd != NULL);
        FUZZ_ASSERT(h.original_size * dd->rawbits <= h.payload_size * 8 * t->itemsize);
        FUZZ_ASSERT(h.nblocks == (h.count + ENEC_BLOCK - 1) / ENEC_BLOCK && h.count >= 1);
        FUZZ_ASSERT(h.params.n >= 1 && h.params.m <= h.params.n);
    }

    /* Trailing bytes do not matter to the header, but the stream must fit:
     * exactly stream_size bytes parse the same, one fewer do not (unless the
     * payload is empty, where header_size is the whole stream). */
    enec_header h2;
    FUZZ_ASSERT(enec_read_header(data, (size_t)h.stream_size, &h2) == r);
    FUZZ_ASSERT(h2.count == h.count && h2.payload_size == h.payload_size && h2.mode == h.mode);
    if (h.stream_size > 0) FUZZ_ASSERT(enec_is_error(enec_read_header(data, (size_t)h.stream_size - 1, &h2)));
    return 0;
}
