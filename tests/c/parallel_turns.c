/* parallel_turns.c - the worker pool's loops (csrc/common/threads.h): every item run exactly once, errors returned, at any thread count and chunk. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "common/internal.h"
#include "common/threads.h"

enum { MAX_ITEMS = 5000 };
static _Atomic int visits[MAX_ITEMS];
static _Atomic int calls_after_error;
static uint64_t fail_at = UINT64_MAX; /* the item whose range returns an error */
static _Atomic int failed;

static size_t visit(void *ctx, uint64_t begin, uint64_t end, int worker)
{
    (void)ctx, (void)worker;
    if (atomic_load(&failed)) {
        /* Between the failing range's return and the pool's stop, other
         * workers may still start turns; a slow turn keeps that window to a
         * few of them however the threads are scheduled (under qemu a
         * worker once took 224 quick ones), while without the stop they
         * would run all the rest. */
        atomic_fetch_add(&calls_after_error, 1);
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    }
    for (uint64_t i = begin; i < end; i++) atomic_fetch_add(&visits[i], 1);
    if (begin <= fail_at && fail_at < end) {
        atomic_store(&failed, 1);
        return ENEC_ERROR(CORRUPT);
    }
    return 0;
}

int main(void)
{
    static const uint64_t items[] = {0, 1, 2, 7, 100, 1001, MAX_ITEMS};
    static const uint64_t chunks[] = {1, 3, 64, 10000};
    int bad = 0, runs = 0;
    for (int threads = 1; threads <= 9; threads++)
        for (size_t a = 0; a < sizeof items / sizeof *items; a++)
            for (size_t c = 0; c <= sizeof chunks / sizeof *chunks; c++) {
                const uint64_t n = items[a];
                for (uint64_t i = 0; i < n; i++) atomic_store(&visits[i], 0);
                /* c == the number of chunk sizes: the static split */
                size_t r = c < sizeof chunks / sizeof *chunks ? enec_parallel_for_dynamic(threads, n, chunks[c], visit, NULL)
                                                                : enec_parallel_for(threads, n, visit, NULL);
                runs++;
                for (uint64_t i = 0; i < n; i++)
                    if (atomic_load(&visits[i]) != 1) {
                        fprintf(stderr, "threads %d items %llu chunk %zu: item %llu run %d times\n", threads,
                                (unsigned long long)n, c, (unsigned long long)i, atomic_load(&visits[i]));
                        bad++;
                        break;
                    }
                if (r != 0) fprintf(stderr, "unexpected error %zu\n", r), bad++;
            }
    /* An error comes back, and the turns stop: of the 959 items after the
     * failing one, at most a few ms' worth of 1 ms turns still start. */
    for (int threads = 1; threads <= 9; threads++) {
        fail_at = 40;
        atomic_store(&failed, 0);
        atomic_store(&calls_after_error, 0);
        size_t r = enec_parallel_for_dynamic(threads, 1000, 1, visit, NULL);
        runs++;
        if (r != ENEC_ERROR(CORRUPT)) fprintf(stderr, "threads %d: error not returned\n", threads), bad++;
        if (atomic_load(&calls_after_error) > 100)
            fprintf(stderr, "threads %d: %d turns taken after the error\n", threads, atomic_load(&calls_after_error)), bad++;
    }
    printf("parallel_turns: %d loops, %d failures\n", runs, bad);
    return bad != 0;
}
