/* threads.h - run a loop over blocks on several threads. */
#ifndef ENEC_THREADS_H
#define ENEC_THREADS_H
#include <stddef.h>
#include <stdint.h>

#define ENEC_MAX_THREADS 256

/* Work for one thread: items [begin, end) of the loop, and which worker it is. */
typedef size_t (*enec_range_fn)(void *ctx, uint64_t begin, uint64_t end, int worker);

/* Resolve a user's thread request (0 = all cores) against the work size. */
int enec_resolve_threads(int requested, uint64_t items);

/* Split [0, items) into `threads` contiguous ranges, run fn on each (worker
 * 0 on the calling thread, the others on the pool) and wait. Contiguous
 * ranges keep each worker's output in order, so results do not depend on
 * the thread count. Safe to call from several threads at once.
 * If fewer workers can start than asked, fewer ranges are used.
 * @return 0, the first error code a worker returned, or ENEC_ERR_THREADS. */
size_t enec_parallel_for(int threads, uint64_t items, enec_range_fn fn, void *ctx);

/* The same, but the workers take ranges of `chunk` items in turn, each when
 * it is done with its last, until none is left: a worker that a busy core
 * slows down takes fewer, instead of holding up the whole call. Only for
 * loops whose items write where they write whichever worker runs them
 * (decoding, the histogram), not for the encoder's in-order outputs. After
 * an error the workers take no new ranges. */
size_t enec_parallel_for_dynamic(int threads, uint64_t items, uint64_t chunk, enec_range_fn fn, void *ctx);

/* A chunk for enec_parallel_for_dynamic: about eight turns per worker (few
 * enough that taking one costs nothing, enough to even out a slow core), a
 * multiple of `unit` items. */
static inline uint64_t enec_turn_size(int threads, uint64_t items, uint64_t unit)
{
    uint64_t c = items / (8 * (uint64_t)(threads > 0 ? threads : 1));
    c = (c + unit - 1) / unit * unit;
    return c ? c : unit;
}

#endif
