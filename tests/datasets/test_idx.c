/*
 * test_idx.c: the IDX reader and Fashion-MNIST (datasets/idx.c).
 *
 * The real-data tests load the files of the package dataset-fashion-mnist and check facts
 * published with the data set: 60000/10000 images of 28x28, 6000/1000 of each class, the first
 * label of each split, the training pixel mean 0.2860. The corrupt-input tests write small
 * IDX files (plain and gzip'd) to test_tmpdir() and check the Err code and that err_msg()
 * names the file and the field.
 */
#include "core/io.h"
#include "datasets/datasets.h"
#include "tests/test_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

static const char *write_gz(const char *name, const void *data, size_t n)
{
    const char *p = test_tmp_path(name);
    gzFile f = gzopen(p, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(gzwrite(f, data, (unsigned)n), (int)n);
    ck_assert_int_eq(gzclose(f), Z_OK);
    return p;
}

// An IDX uint8 file: magic 0x000008<ndim>, the dims, then `data_len` bytes of data.
static size_t make_idx(unsigned char *buf, int ndim, const uint32_t *dims, const uint8_t *data,
                       size_t data_len)
{
    size_t n = 0;
    buf[n++] = 0;
    buf[n++] = 0;
    buf[n++] = 0x08;
    buf[n++] = (unsigned char)ndim;
    for (int d = 0; d < ndim; d++) {
        buf[n++] = (unsigned char)(dims[d] >> 24);
        buf[n++] = (unsigned char)(dims[d] >> 16);
        buf[n++] = (unsigned char)(dims[d] >> 8);
        buf[n++] = (unsigned char)dims[d];
    }
    memcpy(buf + n, data, data_len);
    return n + data_len;
}

// Asserts rc == code and that err_msg() holds each of the NULL-terminated strings.
// ---------------------------------------------------------------------------
// The real Fashion-MNIST
// ---------------------------------------------------------------------------

START_TEST(test_fashion_train)
{
    DsImages im;
    int rc = ds_fashion_load("train", &im);
    ck_assert_msg(rc == ERR_OK, "%s", err_msg());
    ck_assert_int_eq(im.n, 60000);
    ck_assert_int_eq(im.rows, 28);
    ck_assert_int_eq(im.cols, 28);
    int64_t count[DS_FASHION_CLASSES] = {0};
    for (int64_t i = 0; i < im.n; i++) count[im.labels[i]]++;
    for (int c = 0; c < DS_FASHION_CLASSES; c++)
        ck_assert_msg(count[c] == 6000, "class %d has %lld images", c, (long long)count[c]);
    ck_assert_int_eq(im.labels[0], 9); // the first training image is an ankle boot
    // The published per-pixel mean of the training set (used to normalise it) is 0.2860.
    double sum = 0;
    uint8_t mx = 0;
    int64_t total = im.n * im.rows * im.cols;
    for (int64_t i = 0; i < total; i++) {
        sum += im.pixels[i];
        if (im.pixels[i] > mx) mx = im.pixels[i];
    }
    double mean = sum / (double)total / 255.0;
    ck_assert_msg(mean > 0.2855 && mean < 0.2865, "pixel mean %f, expected 0.2860", mean);
    ck_assert_int_eq(mx, 255);
    ds_images_free(&im);
    ck_assert_ptr_null(im.pixels);
    ds_images_free(&im); // twice is harmless: the struct was zeroed
}
END_TEST

START_TEST(test_fashion_test_split)
{
    DsImages im;
    int rc = ds_fashion_load("test", &im);
    ck_assert_msg(rc == ERR_OK, "%s", err_msg());
    ck_assert_int_eq(im.n, 10000);
    ck_assert_int_eq(im.rows * im.cols, 784);
    int64_t count[DS_FASHION_CLASSES] = {0};
    for (int64_t i = 0; i < im.n; i++) count[im.labels[i]]++;
    for (int c = 0; c < DS_FASHION_CLASSES; c++) ck_assert_int_eq(count[c], 1000);
    ck_assert_int_eq(im.labels[0], 9);
    ck_assert_int_eq(im.labels[1], 2);

    // gather and to_float agree with pixel / 255 and carry the labels.
    int64_t idx[3] = {0, 9999, 1};
    float *x = malloc(3 * 784 * sizeof(float)), *want = malloc(3 * 784 * sizeof(float));
    int32_t y[3];
    ds_images_gather(x, y, &im, idx, 3);
    for (int b = 0; b < 3; b++)
        for (int j = 0; j < 784; j++) want[b * 784 + j] = im.pixels[idx[b] * 784 + j] / 255.0f;
    ck_assert(check_close(x, want, 3 * 784, 0, 0, "gather"));
    ck_assert_int_eq(y[0], im.labels[0]);
    ck_assert_int_eq(y[1], im.labels[9999]);
    ds_images_to_float(x, &im, 9999, 1);
    ck_assert(check_close(x, want + 784, 784, 0, 0, "to_float"));
    float lo = 1, hi = 0;
    ds_images_to_float(x, &im, 0, 3);
    for (int j = 0; j < 3 * 784; j++) lo = x[j] < lo ? x[j] : lo, hi = x[j] > hi ? x[j] : hi;
    ck_assert(lo >= 0.0f && hi <= 1.0f && hi > 0.5f);
    free(x);
    free(want);
    ds_images_free(&im);
}
END_TEST

START_TEST(test_fashion_class_names)
{
    ck_assert_str_eq(ds_fashion_class_name(0), "T-shirt/top");
    ck_assert_str_eq(ds_fashion_class_name(1), "Trouser");
    ck_assert_str_eq(ds_fashion_class_name(7), "Sneaker");
    ck_assert_str_eq(ds_fashion_class_name(9), "Ankle boot");
}
END_TEST

START_TEST(test_fashion_bad_split)
{
    DsImages im;
    test_expect_err(ds_fashion_load("validation", &im), ERR_INVALID,
               (const char *[]){"validation", "hint:", NULL});
    ck_assert_ptr_null(im.pixels);
}
END_TEST

START_TEST(test_fashion_missing_package)
{
    const char *root = test_tmp_path("empty_root");
    ck_assert_int_eq(io_mkdir_p(root), ERR_OK);
    setenv("ENGINE_DATA_ROOT", root, 1);
    DsImages im;
    int rc = ds_fashion_load("train", &im);
    unsetenv("ENGINE_DATA_ROOT");
    test_expect_err(rc, ERR_DEPENDENCY,
               (const char *[]){"dataset-fashion-mnist", "apt-get install", "make deps",
                                "empty_root", NULL});
    ck_assert_ptr_null(im.pixels);
}
END_TEST

// ---------------------------------------------------------------------------
// Small files: valid and corrupt
// ---------------------------------------------------------------------------

START_TEST(test_idx_roundtrip_plain_and_gz)
{
    unsigned char buf[256];
    uint8_t data[2 * 3 * 4];
    for (int i = 0; i < 24; i++) data[i] = (uint8_t)(i * 10);
    size_t n = make_idx(buf, 3, (uint32_t[]){2, 3, 4}, data, sizeof data);
    const char *paths[2] = {test_write_file("ok.idx", buf, n), write_gz("ok.idx.gz", buf, n)};
    for (int k = 0; k < 2; k++) {
        DsIdx x;
        ck_assert_msg(ds_idx_load(paths[k], &x) == ERR_OK, "%s", err_msg());
        ck_assert_int_eq(x.ndim, 3);
        ck_assert_int_eq(x.dims[0], 2);
        ck_assert_int_eq(x.dims[1], 3);
        ck_assert_int_eq(x.dims[2], 4);
        ck_assert_int_eq(x.size, 24);
        ck_assert_mem_eq(x.data, data, 24);
        ds_idx_free(&x);
    }
    ds_idx_free(NULL);
}
END_TEST

START_TEST(test_idx_bad_magic)
{
    unsigned char buf[64];
    uint8_t data[4] = {1, 2, 3, 4};
    size_t n = make_idx(buf, 1, (uint32_t[]){4}, data, 4);
    DsIdx x;
    buf[0] = 0x12; // not two zero bytes
    const char *p = write_gz("badmagic.gz", buf, n);
    test_expect_err(ds_idx_load(p, &x), ERR_FORMAT, (const char *[]){p, "magic", "hint:", NULL});
    ck_assert_ptr_null(x.data);
    buf[0] = 0;
    buf[2] = 0x0D; // float32 values: a real IDX type, but not one we read
    p = write_gz("float.gz", buf, n);
    test_expect_err(ds_idx_load(p, &x), ERR_FORMAT, (const char *[]){p, "0x0d", "float32", NULL});
    buf[2] = 0x08;
    buf[3] = 7; // 7 dims
    p = write_gz("ndim.gz", buf, n);
    test_expect_err(ds_idx_load(p, &x), ERR_FORMAT, (const char *[]){p, "7 dims", NULL});
    p = test_write_file("tiny", "\0\0", 2);
    test_expect_err(ds_idx_load(p, &x), ERR_TRUNCATED, (const char *[]){p, "magic", NULL});
}
END_TEST

START_TEST(test_idx_short_and_long_data)
{
    unsigned char buf[256];
    uint8_t data[40] = {0};
    // Claims 2x4x5 = 40 bytes but holds 39: truncated.
    size_t n = make_idx(buf, 3, (uint32_t[]){2, 4, 5}, data, 39);
    DsIdx x;
    const char *p = write_gz("short.gz", buf, n);
    test_expect_err(ds_idx_load(p, &x), ERR_TRUNCATED, (const char *[]){p, "39 of 40", NULL});
    ck_assert_ptr_null(x.data);
    // Holds 40 + 1 bytes: the dims do not describe the file.
    n = make_idx(buf, 3, (uint32_t[]){2, 4, 5}, data, 40);
    buf[n++] = 7;
    p = test_write_file("long.idx", buf, n);
    test_expect_err(ds_idx_load(p, &x), ERR_FORMAT, (const char *[]){p, "trailing", NULL});
    // Ends inside the dims.
    p = test_write_file("dims.idx", buf, 9);
    test_expect_err(ds_idx_load(p, &x), ERR_TRUNCATED, (const char *[]){p, "dims", NULL});
    // A dim of 0, and dims whose product is absurd.
    n = make_idx(buf, 2, (uint32_t[]){3, 0}, data, 0);
    p = test_write_file("zero.idx", buf, n);
    test_expect_err(ds_idx_load(p, &x), ERR_RANGE, (const char *[]){p, "dims[1]", NULL});
    n = make_idx(buf, 3, (uint32_t[]){60000, 60000, 60000}, data, 0);
    p = test_write_file("huge.idx", buf, n);
    test_expect_err(ds_idx_load(p, &x), ERR_RANGE, (const char *[]){p, "dims", NULL});
}
END_TEST

START_TEST(test_idx_gzip_garbage)
{
    // A gzip header (magic 1f 8b, deflate) followed by bytes that are not a deflate stream.
    unsigned char bad[64] = {0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 0x03};
    for (int i = 10; i < 64; i++) bad[i] = (unsigned char)(0xff - i * 7);
    DsIdx x;
    const char *p = test_write_file("garbage.gz", bad, sizeof bad);
    int rc = ds_idx_load(p, &x);
    ck_assert_msg(rc == ERR_FORMAT || rc == ERR_TRUNCATED, "rc %d: %s", rc, err_msg());
    ck_assert_msg(strstr(err_msg(), p) && strstr(err_msg(), "gzip"), "%s", err_msg());

    // A valid gzip file cut in half: the stream stops early.
    unsigned char buf[4096];
    uint8_t data[3000];
    for (int i = 0; i < 3000; i++) data[i] = (uint8_t)((i * 2654435761u) >> 24);
    size_t n = make_idx(buf, 1, (uint32_t[]){3000}, data, 3000);
    p = write_gz("whole.gz", buf, n);
    unsigned char *gz;
    size_t gz_len;
    ck_assert_int_eq(io_read_all(p, &gz, &gz_len), ERR_OK);
    p = test_write_file("half.gz", gz, gz_len / 2);
    test_expect_err(ds_idx_load(p, &x), ERR_TRUNCATED, (const char *[]){p, "in the data", NULL});
    ck_assert_ptr_null(x.data);
    // Cut inside the 8-byte trailer: all the data is there but its CRC is not.
    p = test_write_file("trailer.gz", gz, gz_len - 3);
    free(gz);
    test_expect_err(ds_idx_load(p, &x), ERR_TRUNCATED, (const char *[]){p, "gzip", NULL});
    test_expect_err(ds_idx_load(test_tmp_path("no_such_file.gz"), &x), ERR_IO,
               (const char *[]){"no_such_file.gz", NULL});
}
END_TEST

START_TEST(test_images_pairing)
{
    unsigned char ib[256], lb[64];
    uint8_t pix[3 * 2 * 2] = {0}, lab[3] = {0, 9, 4};
    const char *img = write_gz("img.gz", ib, make_idx(ib, 3, (uint32_t[]){3, 2, 2}, pix, 12));
    const char *lbl = write_gz("lbl.gz", lb, make_idx(lb, 1, (uint32_t[]){3}, lab, 3));
    DsImages im;
    ck_assert_msg(ds_images_load_files(img, lbl, 10, &im) == ERR_OK, "%s", err_msg());
    ck_assert_int_eq(im.n, 3);
    ck_assert_int_eq(im.labels[1], 9);
    ds_images_free(&im);

    // A label outside the classes: the message names the file and the label's index.
    test_expect_err(ds_images_load_files(img, lbl, 5, &im), ERR_RANGE,
               (const char *[]){lbl, "label[1] = 9", NULL});
    ck_assert_ptr_null(im.pixels);
    // The files swapped: magic 0x801 where 0x803 is needed.
    test_expect_err(ds_images_load_files(lbl, img, 10, &im), ERR_FORMAT,
               (const char *[]){lbl, "0x00000801", NULL});
    // Counts that disagree.
    const char *lbl2 = write_gz("lbl2.gz", lb, make_idx(lb, 1, (uint32_t[]){2}, lab, 2));
    test_expect_err(ds_images_load_files(img, lbl2, 10, &im), ERR_SHAPE,
               (const char *[]){lbl2, "2 labels", "3 images", NULL});
}
END_TEST

static Suite *idx_suite(void)
{
    Suite *s = suite_create("idx");
    TCase *real = tcase_create("fashion");
    tcase_set_timeout(real, 60); // inflating 26 MB is slow under valgrind
    tcase_add_test(real, test_fashion_train);
    tcase_add_test(real, test_fashion_test_split);
    tcase_add_test(real, test_fashion_class_names);
    tcase_add_test(real, test_fashion_bad_split);
    tcase_add_test(real, test_fashion_missing_package);
    suite_add_tcase(s, real);
    TCase *files = tcase_create("idx");
    tcase_add_test(files, test_idx_roundtrip_plain_and_gz);
    tcase_add_test(files, test_idx_bad_magic);
    tcase_add_test(files, test_idx_short_and_long_data);
    tcase_add_test(files, test_idx_gzip_garbage);
    tcase_add_test(files, test_images_pairing);
    suite_add_tcase(s, files);
    return s;
}

int main(void)
{
    return test_main(idx_suite());
}
