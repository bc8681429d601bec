/* threads.c - a small persistent pool of POSIX threads running a loop over independent blocks. */
#include <pthread.h>
#include <stdatomic.h>
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

/* Each thread keeps its scratch between calls: a fresh large allocation
 * per call would be served by mmap and zero-faulted page by page, which
 * costs more than coding an L2-sized tensor. Freed when the thread exits. */
typedef struct {
    void *p;
    size_t size;
} tls_scratch;
static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

static void scratch_free(void *arg)
{
    tls_scratch *t = (tls_scratch *)arg;
    free(t->p);
    free(t);
}

static void scratch_key_init(void) { pthread_key_create(&scratch_key, scratch_free); }

void *enec_thread_scratch(size_t size)
{
    pthread_once(&scratch_once, scratch_key_init);
    tls_scratch *t = (tls_scratch *)pthread_getspecific(scratch_key);
    if (!t) {
        t = (tls_scratch *)calloc(1, sizeof *t);
        if (!t) return NULL;
        if (pthread_setspecific(scratch_key, t) != 0) {
            free(t);
            return NULL;
        }
    }
    if (t->size < size) {
        free(t->p);
        t->p = enec_aligned_alloc(size);
        t->size = t->p ? size : 0;
    }
    return t->p;
}

int enec_resolve_threads(int requested, uint64_t items)
{
    int t = requested <= 0 ? enec_cpu_count() : requested;
    if (t > ENEC_MAX_THREADS) t = ENEC_MAX_THREADS;
    if ((uint64_t)t > items) t = items ? (int)items : 1;
    return t;
}

/* A loop handed out in turns (enec_parallel_for_dynamic): the next item not yet taken. */
typedef struct {
    _Atomic uint64_t next;
    uint64_t items, chunk;
} turns;

typedef struct {
    enec_range_fn fn;
    void *ctx;
    uint64_t begin, end; /* the worker's range, when turns is NULL */
    int worker;
    size_t result;
    turns *turns;
} job;

static void *run_job(void *arg)
{
    job *j = (job *)arg;
    turns *tn = j->turns;
    if (!tn) {
        j->result = j->fn(j->ctx, j->begin, j->end, j->worker);
        return NULL;
    }
    for (;;) {
        uint64_t b = atomic_fetch_add_explicit(&tn->next, tn->chunk, memory_order_relaxed);
        if (b >= tn->items) break;
        uint64_t e = tn->items - b < tn->chunk ? tn->items : b + tn->chunk;
        j->result = j->fn(j->ctx, b, e, j->worker);
        if (enec_is_error(j->result)) {
            atomic_store_explicit(&tn->next, tn->items, memory_order_relaxed);
            break;
        }
    }
    return NULL;
}

static void split(job *jobs, int threads, uint64_t items, enec_range_fn fn, void *ctx, turns *tn)
{
    for (int t = 0; t < threads; t++)
        jobs[t] = (job){fn, ctx, items * (uint64_t)t / (uint64_t)threads,
                        items * (uint64_t)(t + 1) / (uint64_t)threads, t, 0, tn};
}

static size_t first_error(const job *jobs, int threads)
{
    for (int t = 0; t < threads; t++)
        if (enec_is_error(jobs[t].result)) return jobs[t].result;
    return 0;
}

/* Fallback when the pool is busy with another caller: threads for this call only. */
static size_t fork_join(int threads, uint64_t items, enec_range_fn fn, void *ctx, turns *tn)
{
    job jobs[ENEC_MAX_THREADS];
    pthread_t tids[ENEC_MAX_THREADS];
    int started[ENEC_MAX_THREADS] = {0};
    size_t err = 0;
    /* also what lets gcc -O3 see that jobs[0] is written before run_job reads it */
    if (threads < 1 || threads > ENEC_MAX_THREADS) return ENEC_ERROR(THREADS);
    split(jobs, threads, items, fn, ctx, tn);
    for (int t = 1; t < threads; t++) {
        if (pthread_create(&tids[t], NULL, run_job, &jobs[t]) == 0) started[t] = 1;
        else err = ENEC_ERROR(THREADS);
    }
    /* Run our own share even after a failed start, so started workers are joined. */
    if (!err) run_job(&jobs[0]);
    for (int t = 1; t < threads; t++)
        if (started[t]) pthread_join(tids[t], NULL);
    return err ? err : first_error(jobs, threads);
}

/* The pool: workers that sleep between calls, so a call on a small tensor
 * does not pay for thread creation. One caller uses it at a time; others
 * fall back to fork_join rather than wait. */
static struct {
    pthread_mutex_t lock;
    pthread_cond_t wake, done;
    int nworkers;                /* started workers, ids 1..nworkers */
    uint64_t generation;         /* bumped for every call */
    int threads, pending;
    uint64_t born[ENEC_MAX_THREADS]; /* generation before a worker's first call */
    job jobs[ENEC_MAX_THREADS];
} pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, 0, {0}, {{0}}};
static pthread_mutex_t pool_busy = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t pool_once = PTHREAD_ONCE_INIT;

static void *pool_worker(void *arg)
{
    int id = (int)(intptr_t)arg;
    pthread_mutex_lock(&pool.lock);
    /* Not pool.generation: the call that started us may already have bumped it. */
    uint64_t seen = pool.born[id];
    for (;;) {
        while (pool.generation == seen) pthread_cond_wait(&pool.wake, &pool.lock);
        seen = pool.generation;
        if (id >= pool.threads) continue;
        pthread_mutex_unlock(&pool.lock);
        run_job(&pool.jobs[id]);
        pthread_mutex_lock(&pool.lock);
        if (--pool.pending == 0) pthread_cond_signal(&pool.done);
    }
    return NULL;
}

/* A child of fork() has none of the parent's workers: start from scratch. */
static void pool_after_fork(void)
{
    pthread_mutex_init(&pool.lock, NULL);
    pthread_mutex_init(&pool_busy, NULL);
    pthread_cond_init(&pool.wake, NULL);
    pthread_cond_init(&pool.done, NULL);
    pool.nworkers = 0;
}

static void pool_init(void) { pthread_atfork(NULL, NULL, pool_after_fork); }

static size_t run_loop(int threads, uint64_t items, enec_range_fn fn, void *ctx, turns *tn)
{
    if (threads <= 1 || items <= 1) return items ? fn(ctx, 0, items, 0) : 0;
    pthread_once(&pool_once, pool_init);
    if (pthread_mutex_trylock(&pool_busy) != 0) return fork_join(threads, items, fn, ctx, tn);

    pthread_mutex_lock(&pool.lock);
    while (pool.nworkers < threads - 1) {
        pthread_t tid;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        pool.born[pool.nworkers + 1] = pool.generation;
        int rc = pthread_create(&tid, &attr, pool_worker, (void *)(intptr_t)(pool.nworkers + 1));
        pthread_attr_destroy(&attr);
        if (rc != 0) break;
        pool.nworkers++;
    }
    if (pool.nworkers < threads - 1) threads = pool.nworkers + 1; /* run with what could start */
    split(pool.jobs, threads, items, fn, ctx, tn);
    pool.threads = threads;
    pool.pending = threads - 1;
    pool.generation++;
    pthread_cond_broadcast(&pool.wake);
    pthread_mutex_unlock(&pool.lock);

    run_job(&pool.jobs[0]);

    pthread_mutex_lock(&pool.lock);
    while (pool.pending > 0) pthread_cond_wait(&pool.done, &pool.lock);
    size_t r = first_error(pool.jobs, threads);
    pthread_mutex_unlock(&pool.lock);
    pthread_mutex_unlock(&pool_busy);
    return r;
}

size_t enec_parallel_for(int threads, uint64_t items, enec_range_fn fn, void *ctx)
{
    return run_loop(threads, items, fn, ctx, NULL);
}

size_t enec_parallel_for_dynamic(int threads, uint64_t items, uint64_t chunk, enec_range_fn fn, void *ctx)
{
    turns tn = {0, items, chunk ? chunk : 1};
    return run_loop(threads, items, fn, ctx, &tn);
}
