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

#endif
