/* threads.c - a fork-join loop over blocks with POSIX threads; blocks are independent, so nothing else is shared. */
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>
#include "internal.h"
#include "threads.h"

int enec_cpu_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : (n > ENEC_MAX_THREADS ? ENEC_MAX_THREADS : (int)n);
}

void *enec_aligned_alloc(size_t size)
{
    void *p = NULL;
    return posix_memalign(&p, 64, size) == 0 ? p : NULL;
}

void enec_aligned_free(void *p) { free(p); }

int enec_resolve_threads(int requested, uint64_t items)
{
    int t = requested <= 0 ? enec_cpu_count() : requested;
    if (t > ENEC_MAX_THREADS) t = ENEC_MAX_THREADS;
    if ((uint64_t)t > items) t = items ? (int)items : 1;
    return t;
}

typedef struct {
    enec_range_fn fn;
    void *ctx;
    uint64_t begin, end;
    int worker;
    size_t result;
} job;

static void *run_job(void *arg)
{
    job *j = (job *)arg;
    j->result = j->fn(j->ctx, j->begin, j->end, j->worker);
    return NULL;
}

size_t enec_parallel_for(int threads, uint64_t items, enec_range_fn fn, void *ctx)
{
    if (threads <= 1 || items <= 1) return items ? fn(ctx, 0, items, 0) : 0;
    job jobs[ENEC_MAX_THREADS];
    pthread_t tids[ENEC_MAX_THREADS];
    int started[ENEC_MAX_THREADS] = {0};
    size_t err = 0;
    for (int t = 0; t < threads; t++) {
        jobs[t] = (job){fn, ctx, items * (uint64_t)t / (uint64_t)threads,
                        items * (uint64_t)(t + 1) / (uint64_t)threads, t, 0};
    }
    for (int t = 1; t < threads; t++) {
        if (pthread_create(&tids[t], NULL, run_job, &jobs[t]) == 0) started[t] = 1;
        else err = ENEC_ERROR(THREADS);
    }
    /* Run our own share even after a failed start, so started workers are joined. */
    if (!err) run_job(&jobs[0]);
    for (int t = 1; t < threads; t++) {
        if (!started[t]) continue;
        pthread_join(tids[t], NULL);
    }
    if (err) return err;
    for (int t = 0; t < threads; t++)
        if (enec_is_error(jobs[t].result)) return jobs[t].result;
    return 0;
}
