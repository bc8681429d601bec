/* fuzz_common.h - helpers shared by the libFuzzer targets: backend enumeration and a loud failure. */
#ifndef ENEC_FUZZ_COMMON_H
#define ENEC_FUZZ_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include "../csrc/enec.h"

/* A broken invariant is a bug, not bad input: abort so libFuzzer saves the input. */
#define FUZZ_ASSERT(cond)                                                              \
    do {                                                                               \
        if (!(cond)) {                                                                 \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                   \
        }                                                                              \
    } while (0)

/* The concrete backends this build and CPU run, scalar (the reference) first.
 * Every target runs all of them, so one fuzz run covers every dispatched path
 * the machine has. */
static inline int fuzz_backends(int out[ENEC_BACKEND_COUNT])
{
    int n = 0;
    for (int b = ENEC_BACKEND_SCALAR; b < ENEC_BACKEND_COUNT; b++)
        if (enec_backend_available(b)) out[n++] = b;
    return n;
}

/* malloc that never returns NULL for size 0, so "no output" and "out of memory" differ. */
static inline void *fuzz_alloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    FUZZ_ASSERT(p != NULL);
    return p;
}

static inline uint32_t fuzz_load32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static inline uint64_t fuzz_load64(const uint8_t *p)
{
    return (uint64_t)fuzz_load32(p) | ((uint64_t)fuzz_load32(p + 4) << 32);
}
static inline void fuzz_store32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* Rewrite the checksums of a mutated stream (header CRC, block-table CRC,
 * stored-payload CRC) wherever the damaged header still says where they are.
 * Without this nearly every mutation dies at the header CRC and the fuzzer
 * never reaches the table checks, the mask checks or the block kernels. The
 * per-block data CRCs are left alone: they are checked after each block's
 * kernel has run, so the kernels still see every mutation. */
static inline void fuzz_fix_crcs(uint8_t *d, size_t size)
{
    if (size < 48) return;
    const uint64_t hs = 48 + 8 * (uint64_t)d[12] + d[13];
    if (hs > size) return;
    const uint64_t count = fuzz_load64(d + 24);
    if (d[6] == 0 && fuzz_load64(d + 32) == size - hs) /* stored: the payload CRC is in the header */
        fuzz_store32(d + 40, enec_crc32c(0, d + hs, size - hs));
    fuzz_store32(d + hs - 4, enec_crc32c(0, d, (size_t)hs - 4));
    if (d[6] == 1 && count <= size) {
        const uint64_t tbytes = 8 * ((count + ENEC_BLOCK - 1) / ENEC_BLOCK);
        if (hs + tbytes + 4 <= size) fuzz_store32(d + hs + tbytes, enec_crc32c(0, d + hs, (size_t)tbytes));
    }
}

size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);

/* A libFuzzer custom mutator for stream targets: the built-in mutations,
 * then, for half of them, the checksums made consistent again. */
#define FUZZ_STREAM_MUTATOR                                                                         \
    size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed); \
    size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed)  \
    {                                                                                               \
        size = LLVMFuzzerMutate(data, size, max_size);                                              \
        if (seed & 1) fuzz_fix_crcs(data, size);                                                    \
        return size;                                                                                \
    }

#endif
