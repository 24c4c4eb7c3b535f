/*
 * test_dist.c: data-parallel training over MPI gives the same losses as one process.
 *
 * Two trainings, each run twice: in this process (1 rank, the whole batch), and under
 * `mpirun -np 2` of this same program in --worker mode (each rank takes half of every global
 * batch, gradients averaged by nn_dist_allreduce_grads). Rank 0 prints each step's global loss
 * in hex-float; the losses must agree within float rounding (the two runs add the same numbers
 * in a different order).
 *   - mlp: a small MLP with AdamW on a fixed global batch of 16 (nn/dist.h directly);
 *   - gpt: a tiny GPT trained by tf_train_step on a token stream, global batch 4.
 *
 * mpirun runs as root only with --allow-run-as-root (CI runs as root) and may need
 * --oversubscribe on a 2-core machine; both are passed. OpenMPI keeps allocations until exit,
 * so the workers run with LeakSanitizer off (ASan itself stays on).
 */
#include "nn/dist.h"
#include "nn/layers.h"
#include "nn/optim.h"
#include "transformer/train.h"
#include "tests/test_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { GLOBAL_B = 16, IN = 6, OUT = 3, STEPS = 8 };

// Trains and writes the global loss of every step to losses[STEPS].
static void train_mlp(float *losses)
{
    int rank = nn_dist_rank(), size = nn_dist_size();
    Rng rng;
    rng_init(&rng, 123); // the same seed on every rank: identical initial weights
    NnParams *p = nn_params_create();
    NnMLP mlp;
    nn_mlp_init(&mlp, p, "mlp", (int64_t[]){IN, 16, OUT}, 2, NN_ACT_TANH, 0.0f, &rng);
    float x[GLOBAL_B * IN];
    int32_t y[GLOBAL_B];
    for (int i = 0; i < GLOBAL_B * IN; i++) x[i] = rng_normal(&rng);
    for (int i = 0; i < GLOBAL_B; i++) y[i] = (int32_t)rng_below(&rng, OUT);
    NnOptimConfig oc = nn_optim_defaults(NN_OPTIM_ADAMW, 0.01f);
    NnOptimizer *opt = nn_optim_create(&oc);
    Graph *g = graph_create(0);
    int local = GLOBAL_B / size, first = rank * local;
    for (int s = 0; s < STEPS; s++) {
        Tensor *xb = tensor_from(graph_arena(g), 2, (int64_t[]){local, IN}, x + first * IN);
        Tensor *yb = tensor_from_i32(graph_arena(g), 1, (int64_t[]){local}, y + first);
        Tensor *loss = tensor_cross_entropy(g, nn_mlp_forward(g, &mlp, xb, false, NULL), yb, -1);
        graph_backward(g, loss);
        nn_dist_allreduce_grads(p);
        float l = tensor_item(loss);
        nn_dist_allreduce_mean(&l, 1); // the mean of equal shares is the global mean
        losses[s] = l;
        nn_optim_step(opt, p);
        nn_params_zero_grad(p);
        graph_reset(g);
    }
    graph_free(g);
    nn_optim_free(opt);
    nn_params_free(p);
}

// A tiny GPT on a synthetic token stream through tf_train_step (batch split over ranks).
static void train_gpt(float *losses)
{
    TfConfig cfg = tf_config_default(TF_GPT2);
    cfg.vocab = 23, cfg.ctx = 16, cfg.d_model = 32, cfg.n_layer = 2, cfg.n_head = 4;
    cfg.n_kv_head = 4, cfg.d_ff = 64;
    TfModel *m = tf_model_create(&cfg, 7);
    enum { N_TOK = 4000 };
    int32_t *tok = malloc(sizeof(int32_t) * N_TOK);
    for (int i = 0; i < N_TOK; i++) tok[i] = (int32_t)((i * 7 + i / 5) % cfg.vocab);
    TfTrainConfig tc = tf_train_defaults();
    tc.batch = 4, tc.seq_len = 16, tc.steps = STEPS, tc.warmup = 2, tc.lr = 3e-3f;
    tc.val_every = 0, tc.progress = false, tc.out_dir = NULL;
    TfTrain *tr = tf_train_create(m, tok, N_TOK, &tc);
    for (int s = 0; s < STEPS; s++) losses[s] = tf_train_step(tr, NULL);
    tf_train_free(tr);
    tf_model_free(m);
    free(tok);
}

static void train(const char *which, float *losses)
{
    if (strcmp(which, "gpt") == 0)
        train_gpt(losses);
    else
        train_mlp(losses);
}

// Runs `which` in this process and under mpirun -np 2, and compares the losses.
static void check_two_ranks(const char *which)
{
    float want[STEPS];
    train(which, want);
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    ck_assert_int_gt(n, 0);
    exe[n] = '\0';
    char cmd[8192];
    snprintf(cmd, sizeof cmd,
             "mpirun --allow-run-as-root --oversubscribe -np 2 --mca btl self,vader "
             "--mca plm_rsh_agent false -x ASAN_OPTIONS=detect_leaks=0 '%s' --worker %s 2>&1",
             exe, which);
    FILE *f = popen(cmd, "r");
    ck_assert_ptr_nonnull(f);
    float got[STEPS];
    int have = 0;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        int step;
        float v;
        if (sscanf(line, "loss %d %a", &step, &v) == 2 && step >= 0 && step < STEPS) {
            got[step] = v;
            have++;
        } else {
            fprintf(stderr, "mpirun: %s", line);
        }
    }
    int rc = pclose(f);
    ck_assert_msg(rc == 0, "mpirun failed (status %d); hint: is openmpi-bin installed (make deps)?",
                  rc);
    ck_assert_int_eq(have, STEPS);
    for (int s = 0; s < STEPS; s++) {
        fprintf(stderr, "step %d: 1 process %.9g, 2 ranks %.9g\n", s, want[s], got[s]);
        ck_assert_msg(fabsf(got[s] - want[s]) <= 1e-5f * (1.0f + fabsf(want[s])),
                      "step %d: 2 ranks %.9g vs 1 process %.9g", s, got[s], want[s]);
    }
    // The losses must actually move: equal losses of an untrained model would prove little.
    ck_assert(want[STEPS - 1] < want[0] - 0.05f);
}

START_TEST(test_dist_mlp_two_ranks_match_one_process) { check_two_ranks("mlp"); }
END_TEST

START_TEST(test_dist_gpt_two_ranks_match_one_process) { check_two_ranks("gpt"); }
END_TEST

int main(int argc, char **argv)
{
    if (argc > 2 && strcmp(argv[1], "--worker") == 0) {
        nn_dist_init(&argc, &argv);
        float losses[STEPS];
        train(argv[2], losses);
        if (nn_dist_rank() == 0)
            for (int s = 0; s < STEPS; s++) printf("loss %d %a\n", s, losses[s]);
        nn_dist_finalize();
        return 0;
    }
    Suite *s = suite_create("dist");
    TCase *tc = tcase_create("mpi");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_dist_mlp_two_ranks_match_one_process);
    tcase_add_test(tc, test_dist_gpt_two_ranks_match_one_process);
    suite_add_tcase(s, tc);
    return test_main(s);
}
