/* threads_stress.c - many callers compressing and decompressing at once with the worker pool in use; built with -fsanitize=thread by .ci/sanitizers. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../../csrc/enec.h"

#define CALLERS 8
#define ROUNDS 24

typedef struct {
    enec_tensor t;
    uint8_t *data;
    size_t nbytes;
    uint8_t *ref;  /* compressed once, single-threaded, before the stress starts */
    size_t ref_size;
} subject;

static subject subjects[4];
static int nsubjects;
static int failures;
static pthread_mutex_t fail_lock = PTHREAD_MUTEX_INITIALIZER;

static void fail(const char *what, int caller, int round)
{
    pthread_mutex_lock(&fail_lock);
    failures++;
    fprintf(stderr, "caller %d round %d: %s\n", caller, round, what);
    pthread_mutex_unlock(&fail_lock);
}

static uint64_t next(uint64_t *s)
{
    *s ^= *s << 13, *s ^= *s >> 7, *s ^= *s << 17;
    return *s;
}

/* Weights-like words: exponents clustered near 1/64, random sign and mantissa. */
static void add_subject(enec_dtype dtype, uint32_t itemsize, uint64_t count, uint64_t seed)
{
    subject *s = &subjects[nsubjects++];
    memset(&s->t, 0, sizeof s->t);
    s->t.dtype = dtype;
    s->t.itemsize = itemsize;
    s->t.ndim = 1;
    s->t.shape[0] = count;
    s->nbytes = count * itemsize;
    s->data = malloc(s->nbytes);
    for (uint64_t i = 0; i < count; i++) {
        uint64_t r = next(&seed);
        unsigned e = 115 + (unsigned)(r % 7) + (unsigned)((r >> 3) % 3);
        if (dtype == ENEC_DTYPE_FP16) {
            uint16_t w = (uint16_t)(((r >> 20) & 0x8000) | ((e - 112) << 10) | ((r >> 32) & 0x3FF));
            memcpy(s->data + 2 * i, &w, 2);
        } else {
            uint16_t hi = (uint16_t)(((r >> 20) & 0x8000) | (e << 7) | ((r >> 32) & 0x7F));
            if (itemsize == 4) {
                uint16_t lo = (uint16_t)(r >> 48);
                memcpy(s->data + 4 * i, &lo, 2);
                memcpy(s->data + 4 * i + 2, &hi, 2);
            } else {
                memcpy(s->data + 2 * i, &hi, 2);
            }
        }
    }
    size_t cap = enec_compress_bound(&s->t);
    s->ref = malloc(cap);
    enec_options o = {0};
    o.threads = 1;
    o.backend = ENEC_BACKEND_SCALAR;
    s->ref_size = enec_compress(s->ref, cap, s->data, &s->t, &o);
    if (enec_is_error(s->ref_size)) {
        fprintf(stderr, "reference compress failed: %s\n", enec_error_name(s->ref_size));
        exit(2);
    }
}

static void *caller(void *arg)
{
    int id = (int)(intptr_t)arg;
    uint64_t seed = 0x9E3779B97F4A7C15ull * (uint64_t)(id + 1);
    for (int round = 0; round < ROUNDS; round++) {
        subject *s = &subjects[next(&seed) % (uint64_t)nsubjects];
        enec_options o = {0};
        o.threads = 1 + (int)(next(&seed) % 8);  /* 1..8: the pool, or threads of the call's own */
        o.backend = (int)(next(&seed) % 2) ? ENEC_BACKEND_AUTO : ENEC_BACKEND_SCALAR;

        size_t cap = enec_compress_bound(&s->t);
        uint8_t *z = malloc(cap);
        size_t zn = enec_compress(z, cap, s->data, &s->t, &o); /* the input is shared by every caller */
        if (zn != s->ref_size || memcmp(z, s->ref, zn) != 0) fail("compressed bytes differ", id, round);

        uint8_t *out = malloc(s->nbytes);
        size_t r = enec_decompress(out, s->nbytes, s->ref, s->ref_size, &o); /* a shared stream */
        if (r != s->nbytes || memcmp(out, s->data, s->nbytes) != 0) fail("decoded bytes differ", id, round);

        /* A damaged private copy: refused, whatever the other callers do. */
        z[s->ref_size / 2 + (size_t)round] ^= 0x10;
        r = enec_decompress(out, s->nbytes, z, zn, &o);
        if (enec_get_error(r) != ENEC_ERR_CORRUPT) fail("corruption not detected", id, round);
        free(z);
        free(out);
    }
    return NULL;
}

int main(void)
{
    add_subject(ENEC_DTYPE_BF16, 2, 5 * ENEC_BLOCK + 333, 1);
    add_subject(ENEC_DTYPE_FP16, 2, 3 * ENEC_BLOCK + 7, 2);
    add_subject(ENEC_DTYPE_FP32, 4, 4 * ENEC_BLOCK, 3);
    add_subject(ENEC_DTYPE_BF16, 2, 2000, 4); /* one block: no pool */
    for (int i = 0; i < nsubjects; i++)
        if (subjects[i].ref_size >= subjects[i].nbytes) {
            fprintf(stderr, "subject %d did not compress: the stress would miss the coded path\n", i);
            return 2;
        }
    pthread_t t[CALLERS];
    for (int i = 0; i < CALLERS; i++) pthread_create(&t[i], NULL, caller, (void *)(intptr_t)i);
    for (int i = 0; i < CALLERS; i++) pthread_join(t[i], NULL);
    printf("threads_stress: %d callers x %d rounds, %d failures\n", CALLERS, ROUNDS, failures);
    for (int i = 0; i < nsubjects; i++) free(subjects[i].data), free(subjects[i].ref);
    return failures != 0;
}
