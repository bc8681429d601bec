/* dtypes.c - the one table of coded dtypes (FORMAT.md section 2): every split, join and binding reads it. */
#include "layout.h"

/* Indexed by dtype code. A new coded dtype is a row here, a code in enec.h
 * and FORMAT.md; the reference transform handles any row, SIMD backends
 * list the dtypes they vectorise and leave the rest to it. */
static const enec_dtype_info dtype_table[ENEC_DTYPE_COUNT] = {
    [ENEC_DTYPE_BF16] = {ENEC_DTYPE_BF16, "bfloat16", 2, 8, 7, 8, ENEC_RAW_BYTES},
    [ENEC_DTYPE_FP16] = {ENEC_DTYPE_FP16, "float16", 2, 5, 10, 11, ENEC_RAW_BYTE_LOW},
    [ENEC_DTYPE_FP32] = {ENEC_DTYPE_FP32, "float32", 4, 8, 23, 24, ENEC_RAW_BYTE_HIGH},
    [ENEC_DTYPE_FP8_E4M3FN] = {ENEC_DTYPE_FP8_E4M3FN, "float8_e4m3fn", 1, 4, 3, 4, ENEC_RAW_PACKED},
    [ENEC_DTYPE_FP8_E5M2] = {ENEC_DTYPE_FP8_E5M2, "float8_e5m2", 1, 5, 2, 3, ENEC_RAW_PACKED},
};

const enec_dtype_info *enec_dtype_lookup(int d)
{
    return d > ENEC_DTYPE_OTHER && d < ENEC_DTYPE_COUNT ? &dtype_table[d] : NULL;
}

const enec_dtype_desc *enec_dtype_describe(int d) { return enec_dtype_lookup(d); }
