/* enec.h - the one public header of the enec lossless tensor codec (ENEC, arXiv 2604.03298). */
#ifndef ENEC_H
#define ENEC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The library version. The Python package reads its version from here, so
 * this is the one place it is defined. */
#define ENEC_VERSION_MAJOR 0
#define ENEC_VERSION_MINOR 2
#define ENEC_VERSION_PATCH 0
#define ENEC_VERSION_STRING "0.2.0"
#define ENEC_VERSION_NUMBER (ENEC_VERSION_MAJOR * 10000 + ENEC_VERSION_MINOR * 100 + ENEC_VERSION_PATCH)

/* The stream format versions this library reads (docs/FORMAT.md). A writer
 * puts the oldest version that reads its stream in the header: mode max
 * streams are version 2, stored and fast ones still version 1. A stream of a
 * newer version is ENEC_ERR_UNSUPPORTED. */
#define ENEC_FORMAT_VERSION 2
#define ENEC_FORMAT_VERSION_MIN 1

#define ENEC_BLOCK 16384    /* elements per block */
#define ENEC_MAX_NDIM 32
#define ENEC_MAX_DESCR 255

#if defined(__GNUC__) && !defined(ENEC_STATIC)
#define ENEC_API __attribute__((visibility("default")))
#else
#define ENEC_API
#endif

/* The library's version at run time, which may differ from the header a
 * caller was compiled against: ENEC_VERSION_NUMBER and ENEC_VERSION_STRING. */
ENEC_API unsigned enec_version_number(void);
ENEC_API const char *enec_version_string(void);

/* ---- thread safety ---------------------------------------------------------
 * enec has no context objects and no caller-visible state: every function
 * below may be called from any number of threads at once, on different or
 * the same (read-only) inputs, as long as no two calls write the same dst.
 * The library's internal state is safe under concurrent calls:
 * - the worker pool (opts->threads > 1) serves one call at a time; a call
 *   that finds it busy starts and joins threads of its own instead of waiting;
 * - each thread keeps a scratch buffer in thread-local storage, freed when
 *   the thread exits;
 * - CPU feature detection and the SIMD lookup tables are set up once
 *   (pthread_once).
 * After fork() the child starts a fresh pool on its first threaded call.
 * Output bytes never depend on the thread count or on other callers. */

/* ---- errors ----------------------------------------------------------------
 * Functions returning size_t return either a byte count or an error code.
 * Test with enec_is_error(); name it with enec_error_name(). */
/* The values are fixed: they are part of the ABI and never renumbered. */
typedef enum {
    ENEC_OK = 0,
    ENEC_ERR_GENERIC = 1,
    ENEC_ERR_CORRUPT = 2,        /* input is not a valid enec stream: damaged, truncated or foreign */
    ENEC_ERR_DST_TOO_SMALL = 3,  /* output buffer smaller than needed */
    ENEC_ERR_BAD_ARGUMENT = 4,   /* an argument is out of range (dtype, shape, parameters, NULL) */
    ENEC_ERR_PARAMS = 5,         /* forced parameters cannot code this tensor (n too small) */
    ENEC_ERR_NOMEM = 6,          /* memory allocation failed */
    ENEC_ERR_THREADS = 7,        /* a worker thread could not be started */
    ENEC_ERR_BACKEND = 8,        /* the backend cannot run on this CPU or build, or cannot code this dtype */
    ENEC_ERR_TOO_LARGE = 9,      /* the stream decodes to more bytes than enec_options.max_output_size */
    ENEC_ERR_UNSUPPORTED = 10,   /* a valid-looking stream of a newer format version, or with a mode or
                                  * dtype this build does not know: upgrade rather than discard it */
    ENEC_ERR_MAX
} enec_error;

ENEC_API unsigned enec_is_error(size_t code);
ENEC_API enec_error enec_get_error(size_t code);  /* ENEC_OK when code is not an error */
ENEC_API const char *enec_error_name(size_t code);

/* ---- tensors ---------------------------------------------------------------- */
/* Stream dtype codes (docs/FORMAT.md section 1); fixed values. */
typedef enum {
    ENEC_DTYPE_OTHER = 0,         /* any other element type: always stored verbatim */
    ENEC_DTYPE_BF16 = 1,
    ENEC_DTYPE_FP16 = 2,
    ENEC_DTYPE_FP32 = 3,
    ENEC_DTYPE_FP8_E4M3FN = 4,    /* OCP float8 E4M3 "fn" (ml_dtypes.float8_e4m3fn) */
    ENEC_DTYPE_FP8_E5M2 = 5,      /* OCP float8 E5M2 (ml_dtypes.float8_e5m2) */
    ENEC_DTYPE_COUNT
} enec_dtype;

/* How the raw parts r (sign and mantissa, rawbits wide) of a block of B
 * elements lie in its RAW section (docs/FORMAT.md section 4). */
typedef enum {
    ENEC_RAW_BYTES = 0,      /* rawbits = 8: B bytes r */
    ENEC_RAW_BYTE_LOW = 1,   /* 8 < rawbits < 16: B bytes r & 0xFF, then r >> 8 packed (rawbits - 8 bits) */
    ENEC_RAW_BYTE_HIGH = 2,  /* rawbits = 24: B bytes r >> 16, then B u16 r & 0xFFFF */
    ENEC_RAW_PACKED = 3      /* rawbits < 8: r packed (rawbits bits) */
} enec_raw_layout;

/* How a coded dtype splits (docs/FORMAT.md section 2): sign | exponent | mantissa,
 * from the top bit down, in a little-endian word of itemsize bytes. */
typedef struct {
    enec_dtype dtype;
    const char *name;     /* "bfloat16", "float16", "float32", "float8_e4m3fn", "float8_e5m2" */
    uint32_t itemsize;    /* bytes per element */
    uint32_t ebits;       /* exponent bits E */
    uint32_t mbits;       /* mantissa bits below the exponent */
    uint32_t rawbits;     /* sign + mantissa bits stored per element: mbits + 1 */
    enec_raw_layout raw;  /* RAW section layout */
} enec_dtype_desc;

/* The description of a coded dtype, or NULL for ENEC_DTYPE_OTHER and unknown codes. */
ENEC_API const enec_dtype_desc *enec_dtype_describe(int dtype);

/* Stream modes (docs/FORMAT.md section 1); fixed values, one coder each. */
typedef enum {
    ENEC_MODE_STORED = 0,  /* the canonical bytes verbatim */
    ENEC_MODE_FAST = 1,    /* ENEC: exponents in a two-level fixed-length code, sign and mantissa raw */
    ENEC_MODE_MAX = 2,     /* max ratio: byte planes (exponent apart, or whole bytes), each rANS-coded where it pays */
    ENEC_MODE_COUNT
} enec_mode;

/* What a stream says about its tensor. Filled by enec_read_header(); the
 * caller fills the first fields to describe a tensor to enec_compress(). */
typedef struct {
    enec_dtype dtype;
    uint32_t itemsize;              /* bytes per element (2, 2, 4 for the coded dtypes) */
    uint32_t ndim;                  /* 0 .. ENEC_MAX_NDIM */
    uint64_t shape[ENEC_MAX_NDIM];
    const char *descr;              /* binding's dtype text, stored verbatim; may be NULL if descr_len is 0 */
    uint32_t descr_len;             /* 0 .. ENEC_MAX_DESCR */
} enec_tensor;

/* The four parameter bytes of a coded stream. ENEC_MODE_FAST: base exponent
 * b, code width n, low width m, group length L. ENEC_MODE_MAX: b = the split
 * (0 exponent apart, 1 whole bytes), n = planes, m = bitmask of the coded
 * planes, L = interleaved rANS states (docs/FORMAT.md section 9). */
typedef struct {
    uint8_t b, n, m, L;
    double bits;         /* fast: predicted exponent bits per element (ENEC.md section 4); max: predicted bits per element */
} enec_params;

/* A parsed, validated header. descr points into the stream. */
typedef struct {
    enec_tensor tensor;
    uint32_t version;
    uint32_t mode;           /* an enec_mode */
    enec_params params;      /* zero when stored (bits = 0) */
    uint64_t count;          /* elements */
    uint64_t nblocks;        /* blocks of ENEC_BLOCK elements (coded); 0 when stored */
    uint64_t header_size;    /* header bytes, plus the block table when coded */
    uint64_t payload_size;
    uint64_t stream_size;    /* header_size + payload_size: the exact stream length */
    uint64_t original_size;  /* count * itemsize */
} enec_header;

/* ---- backends ----------------------------------------------------------------
 * Every backend writes byte-identical streams and reads every other's. */
typedef enum {
    ENEC_BACKEND_AUTO = 0,    /* the fastest this CPU runs */
    ENEC_BACKEND_SCALAR = 1,  /* portable C, the reference */
    ENEC_BACKEND_AVX2 = 2,    /* x86-64 AVX2 + BMI2 */
    ENEC_BACKEND_AVX512 = 3,  /* x86-64 AVX-512 F + BW + VBMI2 */
    ENEC_BACKEND_COUNT
} enec_backend;

/* Nonzero when this build and CPU can run the backend. */
ENEC_API int enec_backend_available(int backend);
/* "scalar", "avx2", "avx512"; for ENEC_BACKEND_AUTO the name of the one it picks. NULL for a
 * backend this build does not contain. */
ENEC_API const char *enec_backend_name(int backend);

/* ---- options ----------------------------------------------------------------- */
/* Zero-initialise (enec_options o = {0};) and set what you need, so that
 * fields added later keep their defaults. */
typedef struct {
    int threads;                 /* 0 = all cores, otherwise this many */
    int backend;                 /* an enec_backend; 0 = auto */
    int force_stored;            /* compress: nonzero writes a stored stream */
    int mode;                    /* compress: the coded mode to write (an enec_mode); 0 = ENEC_MODE_FAST.
                                  * A stored stream is still written when coding would not pay. */
    const enec_params *params;   /* compress: NULL = search; else use b, n, m, L (bits ignored) */
    uint64_t max_output_size;    /* decompress: refuse (ENEC_ERR_TOO_LARGE) a stream whose declared
                                  * original size exceeds this, before touching dst; 0 = no limit
                                  * beyond the format's own bound (docs/FORMAT.md section 8) */
} enec_options;

/* ---- compression ----------------------------------------------------------- */

/* Largest stream enec_compress() can write for this tensor: the stored size.
 * @return a byte count, or an error code for an invalid tensor description. */
ENEC_API size_t enec_compress_bound(const enec_tensor *t);

/* Compress the canonical (C-order, little-endian) bytes of tensor t.
 * src holds count(t) * itemsize bytes. opts may be NULL (defaults).
 * The output is byte-identical for any thread count.
 * @return the stream size written to dst, or an error code. */
ENEC_API size_t enec_compress(void *dst, size_t dst_capacity, const void *src,
                              const enec_tensor *t, const enec_options *opts);

/* Choose ENEC parameters for count elements of a coded dtype (FORMAT.md section 5).
 * @return 0, or an error code (ENEC_ERR_BAD_ARGUMENT for other dtypes or count 0). */
ENEC_API size_t enec_search_params(const void *src, uint64_t count, enec_dtype dtype,
                                   enec_params *out);

/* ---- decompression --------------------------------------------------------- */

/* Parse and validate a stream's header (and block table when coded) without
 * decoding data. src_size may exceed the stream; only header bytes are read.
 * @return the header size, ENEC_ERR_CORRUPT, or ENEC_ERR_UNSUPPORTED for a
 * stream this build cannot read (a newer format version, an unknown mode or
 * dtype); out->version, out->mode and out->tensor.dtype then say which. */
ENEC_API size_t enec_read_header(const void *src, size_t src_size, enec_header *out);

/* Decode a whole stream of exactly src_size bytes into dst (original_size bytes).
 * Verifies every checksum: on any error dst holds no claim of validity.
 * opts may be NULL (all cores, auto backend, no size limit); threads,
 * backend and max_output_size are read. Nothing is allocated and dst is not
 * touched before the header has been validated against src_size and the
 * declared size against dst_capacity and max_output_size; a valid stream
 * decodes to at most 8/3 x src_size bytes (docs/FORMAT.md section 8).
 * @return original_size, or an error code (ENEC_ERR_CORRUPT,
 * ENEC_ERR_DST_TOO_SMALL, ENEC_ERR_TOO_LARGE, ENEC_ERR_NOMEM, ...). */
ENEC_API size_t enec_decompress(void *dst, size_t dst_capacity, const void *src,
                                size_t src_size, const enec_options *opts);

/* CRC-32C (Castagnoli) of len bytes, continuing from crc (start with 0). */
ENEC_API uint32_t enec_crc32c(uint32_t crc, const void *data, size_t len);

#ifdef __cplusplus
}
#endif
#endif /* ENEC_H */
