/*
 * test_data.c: nn/data.c: every index once per epoch, reproducible orders that change from
 * epoch to epoch, batch sizes and drop_last, resuming at an epoch, the split and the gather.
 */
#include "nn/data.h"
#include "tests/test_util.h"

#include <stdlib.h>
#include <string.h>

// Runs one epoch, writing the visited indices to seen (n) and returning how many there were;
// checks each batch's size and numbering.
static int64_t run_epoch(NnLoader *l, int32_t *seen, int64_t cap, int64_t *n_batches)
{
    NnBatch b;
    int64_t k = 0, nb = 0, epoch = l->epoch;
    while (nn_loader_next(l, &b)) {
        ck_assert(b.size > 0 && b.size <= l->cfg.batch_size);
        ck_assert(b.epoch == epoch && b.index == nb);
        for (int64_t i = 0; i < b.size; i++) {
            ck_assert(k < cap);
            seen[k++] = b.idx[i];
        }
        nb++;
    }
    ck_assert(b.size == 0 && l->epoch == epoch + 1); // moved on
    *n_batches = nb;
    return k;
}

START_TEST(test_loader_each_index_once_per_epoch)
{
    const int64_t n = 103;
    NnLoader l;
    nn_loader_init(&l, NULL, n, &(NnLoaderConfig){.batch_size = 10, .shuffle = true, .seed = 1});
    ck_assert_int_eq(nn_loader_num_batches(&l), 11);
    int32_t seen[103], prev[103];
    for (int e = 0; e < 4; e++) {
        int64_t nb;
        ck_assert_int_eq(run_epoch(&l, seen, n, &nb), n);
        ck_assert_int_eq(nb, 11); // 10 full + a partial of 3
        int count[103] = {0};
        for (int64_t i = 0; i < n; i++) {
            ck_assert(seen[i] >= 0 && seen[i] < n);
            count[seen[i]]++;
        }
        for (int64_t i = 0; i < n; i++) ck_assert_int_eq(count[i], 1);
        if (e > 0) ck_assert(memcmp(seen, prev, sizeof seen) != 0); // a new order each epoch
        memcpy(prev, seen, sizeof seen);
    }
    nn_loader_deinit(&l);
}
END_TEST

START_TEST(test_loader_same_seed_same_order)
{
    const int64_t n = 50;
    NnLoaderConfig cfg = {.batch_size = 7, .shuffle = true, .seed = 99};
    NnLoader a, b, c;
    nn_loader_init(&a, NULL, n, &cfg);
    nn_loader_init(&b, NULL, n, &cfg);
    cfg.seed = 100;
    nn_loader_init(&c, NULL, n, &cfg);
    int32_t sa[50], sb[50], sc[50];
    int64_t nb;
    for (int e = 0; e < 2; e++) {
        run_epoch(&a, sa, n, &nb);
        run_epoch(&b, sb, n, &nb);
        run_epoch(&c, sc, n, &nb);
        ck_assert(memcmp(sa, sb, sizeof sa) == 0);
        ck_assert(memcmp(sa, sc, sizeof sa) != 0); // another seed, another order
    }
    // Resuming: epoch 1 of a fresh loader equals epoch 1 of one that ran epoch 0.
    NnLoader r;
    cfg.seed = 99;
    nn_loader_init(&r, NULL, n, &cfg);
    nn_loader_set_epoch(&r, 1);
    nn_loader_set_epoch(&a, 1);
    run_epoch(&r, sb, n, &nb);
    run_epoch(&a, sa, n, &nb);
    ck_assert(memcmp(sa, sb, sizeof sa) == 0);
    nn_loader_deinit(&a);
    nn_loader_deinit(&b);
    nn_loader_deinit(&c);
    nn_loader_deinit(&r);
}
END_TEST

START_TEST(test_loader_drop_last_and_no_shuffle)
{
    const int32_t idx[7] = {40, 41, 42, 43, 44, 45, 46};
    NnLoader l;
    nn_loader_init(&l, idx, 7, &(NnLoaderConfig){.batch_size = 3, .drop_last = true});
    ck_assert_int_eq(nn_loader_num_batches(&l), 2);
    int32_t seen[7];
    int64_t nb;
    ck_assert_int_eq(run_epoch(&l, seen, 7, &nb), 6); // the last 1 is dropped
    ck_assert_int_eq(nb, 2);
    for (int i = 0; i < 6; i++) ck_assert_int_eq(seen[i], 40 + i); // given order, no shuffle
    nn_loader_deinit(&l);
    nn_loader_deinit(&l); // safe twice
}
END_TEST

START_TEST(test_split_partition)
{
    const int64_t n = 1000;
    int64_t nv = nn_split_count(n, 0.1f);
    ck_assert_int_eq(nv, 100);
    ck_assert_int_eq(nn_split_count(5, 0.01f), 1);  // at least one validation example
    ck_assert_int_eq(nn_split_count(5, 0.99f), 4);  // at least one training example
    ck_assert_int_eq(nn_split_count(5, 0.0f), 0);
    int32_t *tr = malloc((size_t)(n - nv) * sizeof(int32_t)), *va = malloc((size_t)nv * 4);
    int32_t *tr2 = malloc((size_t)(n - nv) * sizeof(int32_t)), *va2 = malloc((size_t)nv * 4);
    nn_split(n, 0.1f, 7, tr, va);
    char *mark = calloc((size_t)n, 1);
    for (int64_t i = 0; i < n - nv; i++) mark[tr[i]]++;
    for (int64_t i = 0; i < nv; i++) mark[va[i]]++;
    for (int64_t i = 0; i < n; i++) ck_assert_int_eq(mark[i], 1); // a partition
    for (int64_t i = 1; i < nv; i++) ck_assert(va[i - 1] < va[i]); // sorted
    // Random, not the first or last 100.
    ck_assert(va[0] < 100 && va[nv - 1] >= 900);
    nn_split(n, 0.1f, 7, tr2, va2);
    ck_assert(memcmp(va, va2, (size_t)nv * 4) == 0);
    nn_split(n, 0.1f, 8, tr2, va2);
    ck_assert(memcmp(va, va2, (size_t)nv * 4) != 0);
    free(mark);
    free(tr);
    free(va);
    free(tr2);
    free(va2);
}
END_TEST

START_TEST(test_gather_rows)
{
    const float src[8] = {0, 1, 10, 11, 20, 21, 30, 31}; // 4 rows of 2
    float dst[6];
    nn_gather_rows(dst, src, 2, (int32_t[]){3, 0, 3}, 3);
    ck_assert(check_close(dst, (float[]){30, 31, 0, 1, 30, 31}, 6, 0, 0, "gather"));
}
END_TEST

static Suite *data_suite(void)
{
    Suite *s = suite_create("nn_data");
    TCase *tc = tcase_create("data");
    tcase_add_test(tc, test_loader_each_index_once_per_epoch);
    tcase_add_test(tc, test_loader_same_seed_same_order);
    tcase_add_test(tc, test_loader_drop_last_and_no_shuffle);
    tcase_add_test(tc, test_split_partition);
    tcase_add_test(tc, test_gather_rows);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return test_main(data_suite()); }
