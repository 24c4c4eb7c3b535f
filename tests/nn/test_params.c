/*
 * test_params.c: nn/params.c: registration and lookup, counts, freezing, and checkpoints
 * (round trip, and every way a load can fail leaving the model unchanged).
 */
#include "core/safetensors.h"
#include "nn/params.h"
#include "tests/test_util.h"

#include <stdio.h>
#include <string.h>

static NnParams *small_model(void)
{
    NnParams *p = nn_params_create();
    Tensor *w = nn_params_add(p, "enc.fc1.weight", 2, (int64_t[]){3, 2});
    Tensor *b = nn_params_add(p, "enc.fc1.bias", 1, (int64_t[]){3});
    Tensor *h = nn_params_add(p, "head.weight", 2, (int64_t[]){2, 3});
    for (int i = 0; i < 6; i++) w->data[i] = (float)i + 0.5f;
    for (int i = 0; i < 3; i++) b->data[i] = -(float)i;
    for (int i = 0; i < 6; i++) h->data[i] = 10.0f + (float)i;
    return p;
}

static const char *tmp(const char *name)
{
    static char buf[512];
    snprintf(buf, sizeof buf, "%s/%s", test_tmpdir(), name);
    return buf;
}

START_TEST(test_params_register_and_lookup)
{
    NnParams *p = small_model();
    ck_assert_int_eq(nn_params_count(p), 3);
    ck_assert_int_eq(nn_params_numel(p, false), 6 + 3 + 6);
    Tensor *w = nn_params_get(p, "enc.fc1.weight");
    ck_assert(w && w->is_param && w->grad && w->requires_grad);
    ck_assert(nn_params_get(p, "enc.fc1") == NULL);
    ck_assert_str_eq(nn_params_at(p, 2)->name, "head.weight");
    // New parameters start at zero (init comes from nn/init.h).
    Tensor *z = nn_params_add(p, "z", 1, (int64_t[]){4});
    ck_assert(z->data[0] == 0.0f && z->data[3] == 0.0f);
    // A long name keeps its tail in Tensor.name.
    const char *longname = "transformer.h.11.attn.c_attn.weight.something.long";
    Tensor *l = nn_params_add(p, longname, 1, (int64_t[]){1});
    ck_assert(strstr(longname, l->name) && strlen(l->name) == 31);
    ck_assert(nn_params_arena(p) != NULL);
    nn_params_free(p);
    nn_params_free(NULL);
}
END_TEST

START_TEST(test_params_freeze_prefix)
{
    NnParams *p = small_model();
    ck_assert_int_eq(nn_params_freeze(p, "enc."), 2);
    ck_assert_int_eq(nn_params_numel(p, true), 6);
    ck_assert(!nn_params_get(p, "enc.fc1.bias")->requires_grad);
    ck_assert(!nn_params_at(p, 0)->trainable && nn_params_at(p, 2)->trainable);
    // A frozen weight gets no gradient through an op.
    Graph *g = graph_create(0);
    Tensor *w = nn_params_get(p, "enc.fc1.weight"), *h = nn_params_get(p, "head.weight");
    Tensor *y = tensor_matmul(g, h, w); // (2, 3) @ (3, 2)
    graph_backward(g, tensor_sum_all(g, y));
    ck_assert(w->grad[0] == 0.0f && h->grad[0] != 0.0f);
    ck_assert_int_eq(nn_params_unfreeze(p, ""), 3);
    ck_assert_int_eq(nn_params_numel(p, true), 15);
    nn_params_zero_grad(p);
    ck_assert(h->grad[0] == 0.0f);
    graph_free(g);
    nn_params_free(p);
}
END_TEST

START_TEST(test_params_save_load_roundtrip)
{
    NnParams *p = small_model();
    const char *path = tmp("rt.safetensors");
    const char *meta[] = {"step", "42"};
    ck_assert_msg(nn_params_save(p, path, meta, 1) == ERR_OK, "%s", err_msg());
    // The file is a plain safetensors checkpoint with the PyTorch names.
    StFile *f;
    ck_assert(st_open(path, &f) == ERR_OK);
    ck_assert_int_eq(st_count(f), 3);
    ck_assert_str_eq(st_name(f, 0), "enc.fc1.weight");
    ck_assert_str_eq(st_meta(f, "step"), "42");
    st_close(f);
    // Into a fresh model of the same shapes (registered in another order).
    NnParams *q = nn_params_create();
    Tensor *h = nn_params_add(q, "head.weight", 2, (int64_t[]){2, 3});
    Tensor *b = nn_params_add(q, "enc.fc1.bias", 1, (int64_t[]){3});
    Tensor *w = nn_params_add(q, "enc.fc1.weight", 2, (int64_t[]){3, 2});
    ck_assert_msg(nn_params_load(q, path) == ERR_OK, "%s", err_msg());
    ck_assert(check_close(w->data, nn_params_get(p, "enc.fc1.weight")->data, 6, 0, 0, "w"));
    ck_assert(check_close(b->data, nn_params_get(p, "enc.fc1.bias")->data, 3, 0, 0, "b"));
    ck_assert(check_close(h->data, nn_params_get(p, "head.weight")->data, 6, 0, 0, "h"));
    nn_params_free(q);
    nn_params_free(p);
}
END_TEST

START_TEST(test_params_load_errors_leave_model_unchanged)
{
    NnParams *p = small_model();
    const char *path = tmp("err.safetensors");
    ck_assert(nn_params_save(p, path, NULL, 0) == ERR_OK);

    // A shape mismatch on the last entry: ERR_SHAPE naming it, and nothing copied before it.
    NnParams *q = nn_params_create();
    Tensor *w = nn_params_add(q, "enc.fc1.weight", 2, (int64_t[]){3, 2});
    nn_params_add(q, "head.weight", 2, (int64_t[]){3, 2});
    ck_assert_int_eq(nn_params_load(q, path), ERR_SHAPE);
    ck_assert_msg(strstr(err_msg(), "head.weight") && strstr(err_msg(), "(2, 3)") &&
                  strstr(err_msg(), "(3, 2)"), "message: %s", err_msg());
    ck_assert(w->data[0] == 0.0f);
    nn_params_free(q);

    // A parameter the file lacks: ERR_NOTFOUND.
    q = nn_params_create();
    w = nn_params_add(q, "enc.fc1.weight", 2, (int64_t[]){3, 2});
    nn_params_add(q, "enc.fc2.weight", 1, (int64_t[]){3});
    ck_assert_int_eq(nn_params_load(q, path), ERR_NOTFOUND);
    ck_assert(strstr(err_msg(), "enc.fc2.weight"));
    ck_assert(w->data[0] == 0.0f);

    // A missing file and a garbage file are environment errors, not crashes.
    ck_assert_int_eq(nn_params_load(q, tmp("does-not-exist.safetensors")), ERR_IO);
    FILE *fp = fopen(tmp("garbage.safetensors"), "wb");
    fputs("this is not a checkpoint at all", fp);
    fclose(fp);
    ck_assert(nn_params_load(q, tmp("garbage.safetensors")) < 0);
    ck_assert(w->data[0] == 0.0f);
    nn_params_free(q);
    nn_params_free(p);
}
END_TEST

static Suite *params_suite(void)
{
    Suite *s = suite_create("nn_params");
    TCase *tc = tcase_create("params");
    tcase_add_test(tc, test_params_register_and_lookup);
    tcase_add_test(tc, test_params_freeze_prefix);
    tcase_add_test(tc, test_params_save_load_roundtrip);
    tcase_add_test(tc, test_params_load_errors_leave_model_unchanged);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return test_main(params_suite()); }
