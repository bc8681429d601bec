/* test_api.c - unit tests of the public C API (csrc/enec.h), run by `make check` linked statically and against libenec.so. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "enec.h"

static int passed, failed;

/* One check: counted, and reported with its line when it fails; the test goes on. */
#define CHECK(cond)                                                           \
    do {                                                                      \
        if (cond) {                                                           \
            passed++;                                                         \
        } else {                                                              \
            failed++;                                                         \
            fprintf(stderr, "%s:%d: %s: check failed: %s\n", __FILE__, __LINE__, \
                    current, #cond);                                          \
        }                                                                     \
    } while (0)
/* A size_t result that must be the error e. */
#define CHECK_ERR(r, e) CHECK(enec_is_error(r) && enec_get_error(r) == (e))

static char current[160]; /* what is being tested, for failure messages */

static uint64_t rng = 0x9E3779B97F4A7C15u;
static uint64_t next(void)
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return rng;
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return p;
}

/* Weights-like words (exponents clustered, random sign and mantissa) with a
 * sprinkle of specials: zeros, infinities, NaNs, subnormals, outliers. */
static void fill(uint8_t *dst, enec_dtype dtype, uint32_t itemsize, uint64_t count)
{
    for (uint64_t i = 0; i < count; i++) {
        uint64_t r = next();
        uint8_t *p = dst + i * itemsize;
        if (dtype == ENEC_DTYPE_OTHER) {
            for (uint32_t k = 0; k < itemsize; k++) p[k] = (uint8_t)(r >> (8 * (k % 8)));
            continue;
        }
        const enec_dtype_desc *dd = enec_dtype_describe(dtype);
        unsigned ebits = dd->ebits, mbits = dd->mbits;
        unsigned emax = (1u << ebits) - 1;
        unsigned centre = dtype == ENEC_DTYPE_FP16 ? 9 : ebits == 8 ? 121 : (1u << (ebits - 1)) - 1;
        unsigned spread = ebits > 5 ? 5 : 3; /* narrower for fp8, whose exponents have 4 or 5 bits */
        unsigned e = centre + (unsigned)(r % spread) - (unsigned)((r >> 4) % spread);
        switch ((r >> 8) % 211) {
        case 0: e = 0; break;              /* zero or subnormal */
        case 1: e = emax; break;           /* infinity or NaN */
        case 2: e = (unsigned)(r >> 56) & emax; break; /* an outlier exponent */
        default: break;
        }
        uint64_t sign = (r >> 20) & 1, mant = r >> 24;
        uint32_t w = (uint32_t)(sign << (8 * itemsize - 1) | (uint64_t)e << mbits | (mant & ((1u << mbits) - 1)));
        for (uint32_t k = 0; k < itemsize; k++) p[k] = (uint8_t)(w >> (8 * k));
    }
}

static enec_tensor tensor_1d(enec_dtype dtype, uint32_t itemsize, uint64_t count)
{
    enec_tensor t;
    memset(&t, 0, sizeof t);
    t.dtype = dtype;
    t.itemsize = itemsize;
    t.ndim = 1;
    t.shape[0] = count;
    return t;
}

static int backends[ENEC_BACKEND_COUNT], nbackends;

static void test_errors_and_names(void)
{
    snprintf(current, sizeof current, "error codes");
    CHECK(!enec_is_error(0));
    CHECK(!enec_is_error(12345));
    CHECK(enec_get_error(0) == ENEC_OK);
    CHECK(enec_error_name(0) != NULL);
    for (int e = ENEC_ERR_GENERIC; e < ENEC_ERR_MAX; e++) {
        size_t code = (size_t)0 - (size_t)e;
        CHECK(enec_is_error(code));
        CHECK(enec_get_error(code) == (enec_error)e);
        const char *name = enec_error_name(code);
        CHECK(name != NULL && name[0] != '\0');
        for (int f = ENEC_ERR_GENERIC; f < e; f++)
            CHECK(name && strcmp(name, enec_error_name((size_t)0 - (size_t)f)) != 0);
    }

    snprintf(current, sizeof current, "crc32c");
    CHECK(enec_crc32c(0, "123456789", 9) == 0xE3069283u);
    CHECK(enec_crc32c(0, "", 0) == 0);
    /* Continuing from a previous value is the same as one call over both pieces. */
    CHECK(enec_crc32c(enec_crc32c(0, "1234", 4), "56789", 5) == 0xE3069283u);

    snprintf(current, sizeof current, "backends");
    CHECK(enec_backend_available(ENEC_BACKEND_SCALAR));
    CHECK(enec_backend_available(ENEC_BACKEND_AUTO));
    CHECK(!enec_backend_available(ENEC_BACKEND_COUNT));
    CHECK(!enec_backend_available(-1));
    CHECK(enec_backend_name(ENEC_BACKEND_SCALAR) && !strcmp(enec_backend_name(ENEC_BACKEND_SCALAR), "scalar"));
    CHECK(enec_backend_name(ENEC_BACKEND_COUNT) == NULL);
    const char *autoname = enec_backend_name(ENEC_BACKEND_AUTO);
    int auto_is_available = 0;
    for (int i = 0; i < nbackends; i++)
        if (autoname && !strcmp(autoname, enec_backend_name(backends[i]))) auto_is_available = 1;
    CHECK(auto_is_available);
}

/* Compress with options (backend, threads), returning a malloc'ed stream. */
static uint8_t *compress(const void *src, const enec_tensor *t, int backend, int threads, size_t *size)
{
    size_t cap = enec_compress_bound(t);
    CHECK(!enec_is_error(cap));
    uint8_t *out = (uint8_t *)xmalloc(cap);
    enec_options o = {0};
    o.backend = backend;
    o.threads = threads;
    *size = enec_compress(out, cap, src, t, &o);
    CHECK(!enec_is_error(*size));
    CHECK(*size <= cap);
    return out;
}

/* One tensor: every backend and thread count gives the reference's bytes,
 * every backend decodes every stream bit-exactly, the header describes it. */
static void roundtrip(enec_dtype dtype, uint32_t itemsize, uint64_t count)
{
    snprintf(current, sizeof current, "round trip dtype %d itemsize %u count %llu", (int)dtype, itemsize,
             (unsigned long long)count);
    enec_tensor t = tensor_1d(dtype, itemsize, count);
    const size_t nbytes = (size_t)count * itemsize;
    uint8_t *src = (uint8_t *)xmalloc(nbytes), *back = (uint8_t *)xmalloc(nbytes + 1);
    fill(src, dtype, itemsize, count);

    size_t ref_size;
    uint8_t *ref = compress(src, &t, ENEC_BACKEND_SCALAR, 1, &ref_size);
    if (enec_is_error(ref_size)) goto done;

    enec_header h;
    size_t hs = enec_read_header(ref, ref_size, &h);
    CHECK(!enec_is_error(hs));
    CHECK(h.tensor.dtype == dtype && h.tensor.itemsize == itemsize);
    CHECK(h.count == count && h.original_size == nbytes && h.stream_size == ref_size);
    /* Coded when that is smaller, else stored at exactly the bound. */
    CHECK(h.mode == (ref_size < enec_compress_bound(&t) ? 1u : 0u));
    if (dtype == ENEC_DTYPE_OTHER || count == 0) CHECK(h.mode == 0);
    if (dtype != ENEC_DTYPE_OTHER && count >= 1000) CHECK(h.mode == 1);

    static const int thread_counts[] = {1, 2, 4};
    for (int i = 0; i < nbackends; i++) {
        for (int k = 0; k < 3; k++) {
            size_t size;
            uint8_t *s = compress(src, &t, backends[i], thread_counts[k], &size);
            CHECK(size == ref_size && !memcmp(s, ref, ref_size));
            free(s);

            enec_options o = {0};
            o.backend = backends[i];
            o.threads = thread_counts[k];
            memset(back, 0xA5, nbytes + 1);
            size_t d = enec_decompress(back, nbytes + 1, ref, ref_size, &o);
            CHECK(d == nbytes);
            CHECK(!memcmp(back, src, nbytes));
            CHECK(back[nbytes] == 0xA5); /* nothing written past the tensor */
        }
    }

    /* A forced stored stream round-trips too, and is exactly the bound. */
    {
        size_t cap = enec_compress_bound(&t);
        uint8_t *s = (uint8_t *)xmalloc(cap);
        enec_options o = {0};
        o.force_stored = 1;
        size_t size = enec_compress(s, cap, src, &t, &o);
        CHECK(size == cap);
        CHECK(enec_decompress(back, nbytes, s, size, NULL) == nbytes && !memcmp(back, src, nbytes));
        free(s);
    }

    /* Parameters given explicitly: the searched ones reproduce the searched stream. */
    if (dtype != ENEC_DTYPE_OTHER && count > 0 && h.mode == 1) {
        enec_params p;
        CHECK(enec_search_params(src, count, dtype, &p) == 0);
        CHECK(p.b == h.params.b && p.n == h.params.n && p.m == h.params.m && p.L == h.params.L);
        size_t cap = enec_compress_bound(&t);
        uint8_t *s = (uint8_t *)xmalloc(cap);
        enec_options o = {0};
        o.params = &p;
        size_t size = enec_compress(s, cap, src, &t, &o);
        CHECK(size == ref_size && !memcmp(s, ref, ref_size));
        free(s);
    }
done:
    free(ref);
    free(src);
    free(back);
}

static void test_roundtrips(void)
{
    /* Around the 16384-element block edge, and tiny tensors. */
    static const uint64_t counts[] = {0, 1, 2, 3, 7, 64, 1000, ENEC_BLOCK - 1, ENEC_BLOCK, ENEC_BLOCK + 1,
                                      2 * ENEC_BLOCK, 3 * ENEC_BLOCK + 5};
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
        roundtrip(ENEC_DTYPE_BF16, 2, counts[i]);
        roundtrip(ENEC_DTYPE_FP16, 2, counts[i]);
        roundtrip(ENEC_DTYPE_FP32, 4, counts[i]);
        roundtrip(ENEC_DTYPE_FP8_E4M3FN, 1, counts[i]);
        roundtrip(ENEC_DTYPE_FP8_E5M2, 1, counts[i]);
    }
    roundtrip(ENEC_DTYPE_OTHER, 8, 1000);  /* e.g. int64: stored */
    roundtrip(ENEC_DTYPE_OTHER, 1, ENEC_BLOCK + 3);
    roundtrip(ENEC_DTYPE_OTHER, 3, 0);
}

/* Shapes and descr are stored verbatim and read back. */
static void test_header_fields(void)
{
    snprintf(current, sizeof current, "header fields");
    enum { A = 3, B = 5, C = 7 };
    uint16_t x[A * B * C];
    fill((uint8_t *)x, ENEC_DTYPE_BF16, 2, A * B * C);
    enec_tensor t = tensor_1d(ENEC_DTYPE_BF16, 2, 0);
    t.ndim = 3, t.shape[0] = A, t.shape[1] = B, t.shape[2] = C;
    t.descr = "bfloat16";
    t.descr_len = 8;
    size_t size;
    uint8_t *s = compress(x, &t, ENEC_BACKEND_AUTO, 0, &size);
    enec_header h;
    CHECK(!enec_is_error(enec_read_header(s, size, &h)));
    CHECK(h.tensor.ndim == 3 && h.tensor.shape[0] == A && h.tensor.shape[1] == B && h.tensor.shape[2] == C);
    CHECK(h.tensor.descr_len == 8 && !memcmp(h.tensor.descr, "bfloat16", 8));
    CHECK(h.count == A * B * C);
    free(s);

    /* A 0-d tensor is one element. */
    t.ndim = 0;
    s = compress(x, &t, ENEC_BACKEND_AUTO, 0, &size);
    CHECK(!enec_is_error(enec_read_header(s, size, &h)) && h.count == 1 && h.tensor.ndim == 0);
    free(s);
}

static void test_error_paths(void)
{
    const uint64_t count = 2 * ENEC_BLOCK + 100;
    enec_tensor t = tensor_1d(ENEC_DTYPE_BF16, 2, count);
    const size_t nbytes = (size_t)count * 2;
    uint8_t *src = (uint8_t *)xmalloc(nbytes), *back = (uint8_t *)xmalloc(nbytes);
    fill(src, ENEC_DTYPE_BF16, 2, count);
    size_t size;
    uint8_t *s = compress(src, &t, ENEC_BACKEND_AUTO, 0, &size);
    enec_options o = {0};

    snprintf(current, sizeof current, "DST_TOO_SMALL");
    CHECK_ERR(enec_decompress(back, nbytes - 1, s, size, NULL), ENEC_ERR_DST_TOO_SMALL);
    CHECK_ERR(enec_decompress(back, 0, s, size, NULL), ENEC_ERR_DST_TOO_SMALL);
    CHECK_ERR(enec_compress(back, enec_compress_bound(&t) - 1, src, &t, NULL), ENEC_ERR_DST_TOO_SMALL);

    snprintf(current, sizeof current, "TOO_LARGE");
    o.max_output_size = nbytes - 1;
    CHECK_ERR(enec_decompress(back, nbytes, s, size, &o), ENEC_ERR_TOO_LARGE);
    o.max_output_size = nbytes;
    CHECK(enec_decompress(back, nbytes, s, size, &o) == nbytes);
    o.max_output_size = 0;

    snprintf(current, sizeof current, "BAD_ARGUMENT");
    CHECK_ERR(enec_compress(back, nbytes, src, NULL, NULL), ENEC_ERR_BAD_ARGUMENT);
    CHECK_ERR(enec_compress_bound(NULL), ENEC_ERR_BAD_ARGUMENT);
    enec_tensor bad = t;
    bad.itemsize = 4; /* bf16 is 2 bytes */
    CHECK_ERR(enec_compress_bound(&bad), ENEC_ERR_BAD_ARGUMENT);
    bad = t;
    bad.dtype = (enec_dtype)99;
    CHECK_ERR(enec_compress_bound(&bad), ENEC_ERR_BAD_ARGUMENT);
    bad = t;
    bad.ndim = ENEC_MAX_NDIM + 1;
    CHECK_ERR(enec_compress_bound(&bad), ENEC_ERR_BAD_ARGUMENT);
    bad = t;
    bad.descr_len = 4; /* with descr NULL */
    CHECK_ERR(enec_compress_bound(&bad), ENEC_ERR_BAD_ARGUMENT);
    CHECK_ERR(enec_decompress(back, nbytes, NULL, size, NULL), ENEC_ERR_BAD_ARGUMENT);
    enec_params p;
    CHECK_ERR(enec_search_params(src, 0, ENEC_DTYPE_BF16, &p), ENEC_ERR_BAD_ARGUMENT);
    CHECK_ERR(enec_search_params(src, count, ENEC_DTYPE_OTHER, &p), ENEC_ERR_BAD_ARGUMENT);
    p.b = 127, p.n = 0, p.m = 0, p.L = 0; /* no such code */
    o.params = &p;
    CHECK_ERR(enec_compress(back, nbytes + 4096, src, &t, &o), ENEC_ERR_BAD_ARGUMENT);
    o.params = NULL;

    snprintf(current, sizeof current, "BACKEND");
    for (int b = ENEC_BACKEND_SCALAR; b < ENEC_BACKEND_COUNT; b++) {
        if (enec_backend_available(b)) continue;
        o.backend = b;
        CHECK_ERR(enec_decompress(back, nbytes, s, size, &o), ENEC_ERR_BACKEND);
    }
    o.backend = 0;

    snprintf(current, sizeof current, "CORRUPT");
    CHECK_ERR(enec_decompress(back, nbytes, s, size - 1, NULL), ENEC_ERR_CORRUPT); /* truncated */
    CHECK_ERR(enec_read_header(s, 10, &(enec_header){0}), ENEC_ERR_CORRUPT);
    /* One flipped byte anywhere (magic, header, table, payload, last byte) is caught. */
    const size_t at[] = {0, 7, 20, 47, 60, size / 2, size - 1};
    for (size_t i = 0; i < sizeof at / sizeof at[0]; i++) {
        for (int b = 0; b < nbackends; b++) {
            snprintf(current, sizeof current, "CORRUPT: byte %zu flipped, backend %d", at[i], backends[b]);
            s[at[i]] ^= 0x10;
            o.backend = backends[b];
            CHECK_ERR(enec_decompress(back, nbytes, s, size, &o), ENEC_ERR_CORRUPT);
            s[at[i]] ^= 0x10;
        }
    }
    o.backend = 0;
    snprintf(current, sizeof current, "after the flips");
    CHECK(enec_decompress(back, nbytes, s, size, NULL) == nbytes && !memcmp(back, src, nbytes));
    free(s);
    free(src);
    free(back);
}

/* The run-time version, the dtype table and the mode option. */
static void test_versions_dtypes_modes(void)
{
    snprintf(current, sizeof current, "versions, dtypes, modes");
    CHECK(enec_version_number() == ENEC_VERSION_NUMBER);
    CHECK(!strcmp(enec_version_string(), ENEC_VERSION_STRING));
    CHECK(ENEC_FORMAT_VERSION_MIN <= ENEC_FORMAT_VERSION);
    CHECK(enec_dtype_describe(ENEC_DTYPE_OTHER) == NULL && enec_dtype_describe(ENEC_DTYPE_COUNT) == NULL);
    CHECK(enec_dtype_describe(-1) == NULL);
    for (int d = ENEC_DTYPE_BF16; d < ENEC_DTYPE_COUNT; d++) {
        const enec_dtype_desc *dd = enec_dtype_describe(d);
        CHECK(dd && (int)dd->dtype == d && dd->name && dd->rawbits == dd->mbits + 1);
        CHECK(dd && 8 * dd->itemsize == 1 + dd->ebits + dd->mbits);
    }
    CHECK(enec_dtype_describe(ENEC_DTYPE_FP8_E4M3FN)->ebits == 4 && enec_dtype_describe(ENEC_DTYPE_FP8_E5M2)->ebits == 5);

    enum { N = 2 * ENEC_BLOCK + 9 };
    uint8_t *src = (uint8_t *)xmalloc(2 * N);
    fill(src, ENEC_DTYPE_BF16, 2, N);
    enec_tensor t = tensor_1d(ENEC_DTYPE_BF16, 2, N);
    size_t cap = enec_compress_bound(&t);
    uint8_t *s = (uint8_t *)xmalloc(cap), *back = (uint8_t *)xmalloc(2 * N);
    enec_options o;
    memset(&o, 0, sizeof o);
    size_t a = enec_compress(s, cap, src, &t, &o); /* mode 0: the default, fast */
    CHECK(!enec_is_error(a) && s[6] == ENEC_MODE_FAST);
    o.mode = ENEC_MODE_FAST;
    uint8_t *s2 = (uint8_t *)xmalloc(cap);
    CHECK(enec_compress(s2, cap, src, &t, &o) == a && !memcmp(s, s2, a));
    o.mode = ENEC_MODE_COUNT;
    CHECK_ERR(enec_compress(s2, cap, src, &t, &o), ENEC_ERR_BAD_ARGUMENT);
    o.mode = -1;
    CHECK_ERR(enec_compress(s2, cap, src, &t, &o), ENEC_ERR_BAD_ARGUMENT);

    /* A newer writer: version, mode or dtype this build does not know. */
    enec_header h;
    memcpy(s2, s, a);
    s2[4] = ENEC_FORMAT_VERSION + 1; /* a version after this build's; the header CRC no longer matters */
    CHECK_ERR(enec_read_header(s2, a, &h), ENEC_ERR_UNSUPPORTED);
    CHECK(h.version == ENEC_FORMAT_VERSION + 1);
    CHECK_ERR(enec_decompress(back, 2 * N, s2, a, NULL), ENEC_ERR_UNSUPPORTED);
    s2[4] = 0; /* version 0 never existed */
    CHECK_ERR(enec_read_header(s2, a, &h), ENEC_ERR_CORRUPT);
    const size_t hs = 48; /* ndim 1, no descr: the header CRC sits at 48 + 8 - 4 */
    for (int field = 6; field <= 7; field++) {
        memcpy(s2, s, a);
        s2[field] = 200;
        CHECK_ERR(enec_read_header(s2, a, &h), ENEC_ERR_CORRUPT); /* a damaged header is damage */
        uint32_t crc = enec_crc32c(0, s2, hs + 8 - 4);
        for (int k = 0; k < 4; k++) s2[hs + 8 - 4 + k] = (uint8_t)(crc >> (8 * k));
        CHECK_ERR(enec_read_header(s2, a, &h), ENEC_ERR_UNSUPPORTED);
        CHECK(field == 6 ? h.mode == 200 : h.tensor.dtype == 200);
        CHECK_ERR(enec_decompress(back, 2 * N, s2, a, NULL), ENEC_ERR_UNSUPPORTED);
    }
    CHECK(enec_decompress(back, 2 * N, s, a, NULL) == 2 * N && !memcmp(back, src, 2 * N));
    free(src), free(s), free(s2), free(back);
}

int main(void)
{
    for (int b = ENEC_BACKEND_SCALAR; b < ENEC_BACKEND_COUNT; b++)
        if (enec_backend_available(b)) backends[nbackends++] = b;
    printf("enec %s, backends:", ENEC_VERSION_STRING);
    for (int i = 0; i < nbackends; i++) printf(" %s", enec_backend_name(backends[i]));
    printf(" (auto = %s)\n", enec_backend_name(ENEC_BACKEND_AUTO));

    test_errors_and_names();
    test_versions_dtypes_modes();
    test_roundtrips();
    test_header_fields();
    test_error_paths();

    printf("%d passed, %d failed\n", passed, failed);
    return failed != 0;
}
