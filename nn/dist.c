/*
 * dist.c: gradient averaging across MPI ranks (see dist.h).
 */
#include "nn/dist.h"

#include "core/err.h"

#include <mpi.h>
#include <stdlib.h>
#include <string.h>

static int dist_rank = 0, dist_size = 1, dist_started = 0;
static float *pack;       // gradients of all trainable parameters, back to back
static int64_t pack_cap;

void nn_dist_init(int *argc, char ***argv)
{
    if (dist_started) return;
    int inited = 0;
    MPI_Initialized(&inited);
    if (!inited) MPI_Init(argc, argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &dist_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &dist_size);
    dist_started = 1;
}

int nn_dist_rank(void) { return dist_rank; }
int nn_dist_size(void) { return dist_size; }

void nn_dist_allreduce_mean(float *buf, int64_t n)
{
    if (dist_size == 1 || n == 0) return;
    // MPI counts are int: reduce in chunks so a large model still fits.
    const int64_t chunk = 1 << 28;
    for (int64_t off = 0; off < n; off += chunk) {
        int cnt = (int)(n - off < chunk ? n - off : chunk);
        MPI_Allreduce(MPI_IN_PLACE, buf + off, cnt, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    }
    float inv = 1.0f / (float)dist_size;
    for (int64_t i = 0; i < n; i++) buf[i] *= inv;
}

void nn_dist_allreduce_grads(NnParams *p)
{
    if (dist_size == 1) return;
    // One packed all-reduce instead of one per tensor: a transformer has dozens of small
    // tensors, and each MPI call has a fixed latency.
    int64_t total = nn_params_numel(p, true);
    if (total > pack_cap) {
        free(pack);
        pack = xmalloc((size_t)total * sizeof(float));
        pack_cap = total;
    }
    int64_t off = 0;
    for (int i = 0; i < nn_params_count(p); i++) {
        const NnParam *e = nn_params_at(p, i);
        if (!e->trainable) continue;
        int64_t n = tensor_numel(e->t);
        memcpy(pack + off, e->t->grad, (size_t)n * sizeof(float));
        off += n;
    }
    nn_dist_allreduce_mean(pack, total);
    off = 0;
    for (int i = 0; i < nn_params_count(p); i++) {
        const NnParam *e = nn_params_at(p, i);
        if (!e->trainable) continue;
        int64_t n = tensor_numel(e->t);
        memcpy(e->t->grad, pack + off, (size_t)n * sizeof(float));
        off += n;
    }
}

void nn_dist_finalize(void)
{
    free(pack);
    pack = NULL;
    pack_cap = 0;
    if (!dist_started) return;
    int fin = 0;
    MPI_Finalized(&fin);
    if (!fin) MPI_Finalize();
    dist_started = 0;
}
