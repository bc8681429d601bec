/* dispatch.c - the backend registry: the architecture folders' rows, probed once; "auto" is the first row this CPU runs. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "kernels.h"

static const enec_backend_row scalar_rows[] = {
    {ENEC_BACKEND_SCALAR, "scalar", NULL, &enec_kernels_ref, NULL},
    {0, NULL, NULL, NULL, NULL},
};

/* Every architecture's table, fastest first; the portable reference last. A
 * new architecture (csrc/arm for NEON, say) adds its table here. */
static const enec_backend_row *const tables[] = {enec_backends_x86, scalar_rows};

static struct {
    pthread_once_t once;
    const enec_backend_row *rows[ENEC_BACKEND_COUNT]; /* by id: the row, NULL when not in this build */
    const enec_block_kernels *block[ENEC_BACKEND_COUNT]; /* its kernels, as this process uses them */
    enec_block_kernels unfused[ENEC_BACKEND_COUNT];   /* copies without fused stages (ENEC_UNFUSED=1) */
    int runs[ENEC_BACKEND_COUNT];                     /* the probe said yes */
    int best;                                         /* what ENEC_BACKEND_AUTO means here */
} reg = {PTHREAD_ONCE_INIT, {0}, {0}, {{0}}, {0}, 0};

static void probe_all(void)
{
    /* A test switch: run every backend's stages one by one, never fused, so
     * that the stages a later mode will combine are checked on their own. */
    const char *e = getenv("ENEC_UNFUSED");
    const int unfused = e && e[0] == '1';
    for (size_t t = 0; t < sizeof tables / sizeof tables[0]; t++) {
        for (const enec_backend_row *r = tables[t]; r->name; r++) {
            if (r->id <= ENEC_BACKEND_AUTO || r->id >= ENEC_BACKEND_COUNT || reg.rows[r->id]) continue;
            reg.rows[r->id] = r;
            reg.block[r->id] = r->block;
            if (unfused && r->block) {
                reg.unfused[r->id] = *r->block;
                memset(reg.unfused[r->id].fast_decode_join, 0, sizeof reg.unfused[r->id].fast_decode_join);
                reg.block[r->id] = &reg.unfused[r->id];
            }
            reg.runs[r->id] = !r->probe || r->probe();
            if (!reg.best && reg.runs[r->id]) reg.best = r->id;
        }
    }
}

static int resolve(int backend)
{
    pthread_once(&reg.once, probe_all);
    if (backend == ENEC_BACKEND_AUTO) return reg.best;
    return backend > ENEC_BACKEND_AUTO && backend < ENEC_BACKEND_COUNT && reg.runs[backend] ? backend : 0;
}

const enec_block_kernels *enec_kernels_get(int backend)
{
    int id = resolve(backend);
    return id ? reg.block[id] : NULL;
}

int enec_backend_available(int backend) { return resolve(backend) != 0; }

const char *enec_backend_name(int backend)
{
    pthread_once(&reg.once, probe_all);
    if (backend == ENEC_BACKEND_AUTO) return reg.rows[reg.best]->name;
    return backend > ENEC_BACKEND_AUTO && backend < ENEC_BACKEND_COUNT && reg.rows[backend] ? reg.rows[backend]->name
                                                                                            : NULL;
}
