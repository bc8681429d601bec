/* fuzz_roundtrip.c - libFuzzer target: compress arbitrary tensors with every backend and thread count, require identical bytes, then decode them back bit-exactly. */
#include <string.h>
#include "fuzz_common.h"

/* Input layout (7 control bytes, then element bytes):
 *   [0] dtype: (low 3 bits) % ENEC_DTYPE_COUNT, a stream dtype code (0 other,
 *       1 bfloat16, 2 float16, 3 float32, 4 float8_e4m3fn, 5 float8_e5m2);
 *       for "other", itemsize = 1 + (byte >> 3) % 8
 *   [1] flags: bit 0 force stored, bit 1 forced params, bits 2-3 shape kind
 *   [2] repeats: the element bytes are tiled 1 + (byte & 15) times, so a
 *       small input still makes several 16384-element blocks
 *   [3..6] forced b, n, m and L = 16 << (byte % 3)
 * The tiles differ in their lowest byte of each element (mantissa bits), so
 * the exponents, and with them the parameter choice, stay those of the input. */
#define CONTROL 7

static size_t compress_with(uint8_t *dst, size_t cap, const uint8_t *src, const enec_tensor *t,
                            int backend, int threads, int stored, const enec_params *p)
{
    enec_options o = {0};
    o.backend = backend;
    o.threads = threads;
    o.force_stored = stored;
    o.params = p;
    return enec_compress(dst, cap, src, t, &o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < CONTROL) return 0;
    enec_tensor t;
    memset(&t, 0, sizeof t);
    t.dtype = (enec_dtype)((data[0] & 7) % ENEC_DTYPE_COUNT);
    const enec_dtype_desc *dd = enec_dtype_describe(t.dtype);
    t.itemsize = dd ? dd->itemsize : 1u + (data[0] >> 3) % 8u;
    const int stored = data[1] & 1, forced = (data[1] >> 1) & 1, shape_kind = (data[1] >> 2) & 3;
    const size_t reps = 1 + (data[2] & 15);
    enec_params fp = {data[3], data[4], data[5], (uint8_t)(16u << (data[6] % 3)), 0.0};
    const uint8_t *body = data + CONTROL;
    const size_t per = (size - CONTROL) / t.itemsize, count = per * reps, nbytes = count * t.itemsize;

    uint8_t *src = (uint8_t *)fuzz_alloc(nbytes);
    for (size_t r = 0; r < reps; r++) {
        memcpy(src + r * per * t.itemsize, body, per * t.itemsize);
        for (size_t i = 0; i < per; i++) src[(r * per + i) * t.itemsize] ^= (uint8_t)(r * 0x3B);
    }
    switch (shape_kind) {
    case 0: t.ndim = 1, t.shape[0] = count; break;
    case 1: t.ndim = 2, t.shape[0] = reps, t.shape[1] = per; break;
    case 2: /* a 0-d tensor when there is one element, else 3-d */
        if (count == 1) t.ndim = 0;
        else t.ndim = 3, t.shape[0] = 1, t.shape[1] = reps, t.shape[2] = per;
        break;
    default: t.ndim = 2, t.shape[0] = 0, t.shape[1] = count; break; /* empty, with a big dimension */
    }
    const size_t n_elems = shape_kind == 3 ? 0 : count;

    size_t bound = enec_compress_bound(&t);
    FUZZ_ASSERT(!enec_is_error(bound));
    uint8_t *s0 = (uint8_t *)fuzz_alloc(bound), *s1 = (uint8_t *)fuzz_alloc(bound);
    const enec_params *pp = forced ? &fp : NULL;

    size_t z0 = compress_with(s0, bound, src, &t, ENEC_BACKEND_SCALAR, 1, stored, pp);
    if (enec_is_error(z0)) {
        /* Only forced parameters may be refused: out of range, or too narrow for the data. */
        FUZZ_ASSERT(forced && (enec_get_error(z0) == ENEC_ERR_PARAMS || enec_get_error(z0) == ENEC_ERR_BAD_ARGUMENT));
        goto done;
    }
    FUZZ_ASSERT(z0 <= bound);

    /* Determinism: the same input gives the same bytes, on every backend and
     * thread count, and again on a second call. */
    int backends[ENEC_BACKEND_COUNT];
    int nb = fuzz_backends(backends);
    static const int thread_counts[] = {1, 3};
    for (int i = 0; i < nb; i++) {
        for (unsigned k = 0; k < sizeof thread_counts / sizeof *thread_counts; k++) {
            memset(s1, 0x5A, bound);
            size_t z1 = compress_with(s1, bound, src, &t, backends[i], thread_counts[k], stored, pp);
            FUZZ_ASSERT(z1 == z0 && memcmp(s0, s1, z0) == 0);
        }
    }

    /* The stream describes the tensor, and decodes to it on every backend. */
    enec_header h;
    FUZZ_ASSERT(!enec_is_error(enec_read_header(s0, z0, &h)));
    FUZZ_ASSERT(h.stream_size == z0 && h.count == n_elems && h.tensor.ndim == t.ndim &&
                h.tensor.dtype == t.dtype && h.tensor.itemsize == t.itemsize);
    for (uint32_t d = 0; d < t.ndim; d++) FUZZ_ASSERT(h.tensor.shape[d] == t.shape[d]);
    if (stored || !t.dtype) FUZZ_ASSERT(h.mode == 0);
    if (h.mode == 1 && forced)
        FUZZ_ASSERT(h.params.b == fp.b && h.params.n == fp.n && h.params.m == fp.m && h.params.L == fp.L);
    if (h.mode == 1 && !forced) {
        enec_params sp;
        FUZZ_ASSERT(enec_search_params(src, n_elems, t.dtype, &sp) == 0);
        FUZZ_ASSERT(h.params.b == sp.b && h.params.n == sp.n && h.params.m == sp.m && h.params.L == sp.L);
    }
    const size_t obytes = n_elems * t.itemsize;
    uint8_t *out = (uint8_t *)fuzz_alloc(obytes);
    for (int i = 0; i < nb; i++) {
        enec_options o = {0};
        o.backend = backends[i];
        o.threads = 1 + i;
        memset(out, 0xC3, obytes);
        FUZZ_ASSERT(enec_decompress(out, obytes, s0, z0, &o) == obytes);
        FUZZ_ASSERT(memcmp(out, src, obytes) == 0);
    }
    free(out);
done:
    free(s0);
    free(s1);
    free(src);
    return 0;
}
