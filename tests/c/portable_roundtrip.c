/* portable_roundtrip.c - the C codec on a non-x86 CPU (.ci/portable runs it under qemu): compress, decompress, compare. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "enec.h"
int main(void) {
    enum { N = 100000 };
    static unsigned short x[N];
    for (int i = 0; i < N; i++) x[i] = (unsigned short)(0x3c00 + (rand() % 512) - 256 + ((rand() & 1) << 15));
    enec_tensor t; memset(&t, 0, sizeof t);
    t.dtype = ENEC_DTYPE_BF16; t.itemsize = 2; t.ndim = 1; t.shape[0] = N;
    size_t cap = enec_compress_bound(&t);
    unsigned char *buf = malloc(cap);
    enec_options o; memset(&o, 0, sizeof o);
    size_t c = enec_compress(buf, cap, x, &t, &o);
    if (enec_is_error(c)) { printf("compress error %s\n", enec_error_name(c)); return 1; }
    static unsigned short y[N];
    size_t d = enec_decompress(y, sizeof y, buf, c, &o);
    if (enec_is_error(d)) { printf("decompress error %s\n", enec_error_name(d)); return 1; }
    printf("portable build: %zu -> %zu bytes, backend %s, %s\n", sizeof x, c, enec_backend_name(0), memcmp(x, y, sizeof x) ? "MISMATCH" : "bit-exact");
    free(buf);
    return memcmp(x, y, sizeof x) != 0;
}
