/*
 * test_safetensors.c: tests for core/safetensors.c.
 *
 * Round trips (values, names, shapes, metadata, dtypes, scalars, empty tensors, views), the
 * atomic write, a fixture written by Python (tests/gen_safetensors_fixture.py) read back with
 * the formulas that made it, the bytes st_save writes checked against the format with an
 * independent jansson parse, hand-made bad files (one per rule st_open enforces), and a fuzz
 * pass over every truncation and 2000 seeded bit flips: each must succeed or fail with a
 * message, never crash (run under `make MODE=asan` too).
 */
#include "core/safetensors.h"

#include "core/io.h"
#include "core/rng.h"
#include "tests/test_util.h"

#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

// A fresh path in the test's temporary folder (static buffer; copy it to keep two).
static const char *tmp_path(const char *name)
{
    static char buf[512];
    snprintf(buf, sizeof buf, "%s/%s", test_tmpdir(), name);
    return buf;
}

static void write_bytes(const char *path, const void *data, size_t n)
{
    FILE *fp = fopen(path, "wb");
    ck_assert_ptr_nonnull(fp);
    ck_assert_uint_eq(fwrite(data, 1, n, fp), n);
    ck_assert_int_eq(fclose(fp), 0);
}

static unsigned char *read_bytes(const char *path, size_t *n)
{
    unsigned char *data;
    ck_assert_int_eq(io_read_all(path, &data, n), ERR_OK);
    return data;
}

// Writes a safetensors file by hand: the 8-byte length (hlen, or the JSON's length when
// hlen == UINT64_MAX), the JSON as given, then data_len bytes of data (0x11, 0x22, ...).
static void write_raw(const char *path, const char *json, size_t data_len, uint64_t hlen)
{
    size_t jn = strlen(json);
    if (hlen == UINT64_MAX) hlen = jn;
    size_t total = 8 + jn + data_len;
    unsigned char *buf = malloc(total);
    for (int b = 0; b < 8; b++) buf[b] = (unsigned char)(hlen >> (8 * b));
    memcpy(buf + 8, json, jn);
    for (size_t i = 0; i < data_len; i++) buf[8 + jn + i] = (unsigned char)(0x11 * (i + 1));
    write_bytes(path, buf, total);
    free(buf);
}

// The last error names `path`, carries a hint, and has code `want`.
static void assert_error(int rc, int want, const char *path, const char *label)
{
    if (rc != want || !strstr(err_msg(), path) || !strstr(err_msg(), "hint:"))
        fprintf(stderr, "%s: got %d (%s) want %d (%s); message: %s\n", label, rc, err_name(rc),
                want, err_name(want), err_msg());
    ck_assert_int_eq(rc, want);
    ck_assert_ptr_nonnull(strstr(err_msg(), path));
    ck_assert_ptr_nonnull(strstr(err_msg(), "hint:"));
}

static bool file_exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

// Number of entries in `dir` whose name contains `needle`.
static int count_files_with(const char *dir, const char *needle)
{
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        if (strstr(e->d_name, needle)) n++;
    closedir(d);
    return n;
}

// ---------------------------------------------------------------------------
// Round trips
// ---------------------------------------------------------------------------

START_TEST(test_st_roundtrip)
{
    Arena *a = arena_create(0);
    float wv[6] = {1.5f, -2.0f, 3.25f, 0.0f, -0.125f, 1e-30f};
    int32_t iv[4] = {7, -3, 2147483647, -2147483647 - 1};
    float sv = 42.5f;
    Tensor *w = tensor_from(a, 2, (int64_t[]){2, 3}, wv);
    Tensor *ids = tensor_from_i32(a, 1, (int64_t[]){4}, iv);
    Tensor *s = tensor_from(a, 0, NULL, &sv);
    Tensor *e = tensor_new(a, DT_F32, 2, (int64_t[]){0, 3});
    StEntry ent[] = {{"w", w}, {"ids", ids}, {"scalar", s}, {"h.0.empty", e}};
    const char *meta[] = {"step", "1000", "note", "caf\xc3\xa9 \"quoted\""};
    const char *path = tmp_path("roundtrip.safetensors");
    ck_assert_int_eq(st_save(path, ent, 4, meta, 2), ERR_OK);

    StFile *f;
    ck_assert_int_eq(st_open(path, &f), ERR_OK);
    ck_assert_str_eq(st_path(f), path);
    ck_assert_int_eq(st_count(f), 4);
    for (int i = 0; i < 4; i++) ck_assert_str_eq(st_name(f, i), ent[i].name); // given order
    ck_assert_int_eq(st_meta_count(f), 2);
    ck_assert_str_eq(st_meta_key(f, 0), "step");
    ck_assert_str_eq(st_meta(f, "step"), "1000");
    ck_assert_str_eq(st_meta(f, "note"), meta[3]);
    ck_assert_ptr_null(st_meta(f, "absent"));

    int ndim;
    int64_t shape[ST_MAX_DIMS];
    const char *dt;
    ck_assert_int_eq(st_info(f, "w", &ndim, shape, &dt), ERR_OK);
    ck_assert_int_eq(ndim, 2);
    ck_assert_int_eq(shape[0], 2);
    ck_assert_int_eq(shape[1], 3);
    ck_assert_str_eq(dt, "F32");
    ck_assert_int_eq(st_info(f, "ids", &ndim, shape, &dt), ERR_OK);
    ck_assert_str_eq(dt, "I32");
    ck_assert_int_eq(st_info(f, "scalar", &ndim, NULL, NULL), ERR_OK);
    ck_assert_int_eq(ndim, 0);

    Tensor *r;
    ck_assert_int_eq(st_read(f, "w", a, &r), ERR_OK);
    ck_assert_int_eq(r->dtype, DT_F32);
    ck_assert(tensor_same_shape(r, w));
    ck_assert_str_eq(r->name, "w");
    ck_assert(check_close(r->data, wv, 6, 0, 0, "w"));
    ck_assert_int_eq(st_read(f, "ids", a, &r), ERR_OK);
    ck_assert_int_eq(r->dtype, DT_I32);
    ck_assert_int_eq(r->ndim, 1);
    for (int i = 0; i < 4; i++) ck_assert_int_eq(r->idata[i], iv[i]);
    ck_assert_int_eq(st_read(f, "scalar", a, &r), ERR_OK);
    ck_assert_int_eq(r->ndim, 0);
    ck_assert_float_eq(r->data[0], 42.5f);
    ck_assert_int_eq(st_read(f, "h.0.empty", a, &r), ERR_OK);
    ck_assert_int_eq(r->ndim, 2);
    ck_assert_int_eq(r->shape[0], 0);
    ck_assert_int_eq(r->shape[1], 3);
    size_t nb = 99;
    ck_assert_ptr_nonnull(st_raw(f, "h.0.empty", &nb));
    ck_assert_uint_eq(nb, 0);
    st_close(f);
    st_close(NULL);
    arena_free(a);
}
END_TEST

START_TEST(test_st_empty_file_and_no_metadata)
{
    const char *path = tmp_path("nothing.safetensors");
    ck_assert_int_eq(st_save(path, NULL, 0, NULL, 0), ERR_OK);
    StFile *f;
    ck_assert_int_eq(st_open(path, &f), ERR_OK);
    ck_assert_int_eq(st_count(f), 0);
    ck_assert_int_eq(st_meta_count(f), 0);
    Arena *a = arena_create(0);
    Tensor *t;
    ck_assert_int_eq(st_read(f, "x", a, &t), ERR_NOTFOUND);
    st_close(f);
    arena_free(a);
}
END_TEST

// A transposed view and a sliced view are written in logical (row-major) order, not in the
// order of their storage.
START_TEST(test_st_views_saved_in_logical_order)
{
    Arena *a = arena_create(0);
    float v[6] = {0, 1, 2, 3, 4, 5}; // base (2, 3): [[0 1 2], [3 4 5]]
    int32_t iv[6] = {10, 11, 12, 13, 14, 15};
    Tensor *base = tensor_from(a, 2, (int64_t[]){2, 3}, v);
    Tensor *ibase = tensor_from_i32(a, 2, (int64_t[]){2, 3}, iv);

    Tensor tr = *base; // transpose: (3, 2), strides (1, 3)
    tr.shape[0] = 3, tr.shape[1] = 2, tr.stride[0] = 1, tr.stride[1] = 3, tr.base = base;
    Tensor itr = *ibase;
    itr.shape[0] = 3, itr.shape[1] = 2, itr.stride[0] = 1, itr.stride[1] = 3, itr.base = ibase;
    Tensor col = *base; // column 1..2 of every row: (2, 2), strides (3, 1), offset 1
    col.shape[1] = 2, col.data = base->data + 1, col.offset = 1, col.base = base;
    ck_assert(!tensor_is_contiguous(&tr) && !tensor_is_contiguous(&col));

    StEntry ent[] = {{"tr", &tr}, {"itr", &itr}, {"col", &col}};
    const char *path = tmp_path("views.safetensors");
    ck_assert_int_eq(st_save(path, ent, 3, NULL, 0), ERR_OK);
    StFile *f;
    ck_assert_int_eq(st_open(path, &f), ERR_OK);
    Tensor *r;
    ck_assert_int_eq(st_read(f, "tr", a, &r), ERR_OK);
    ck_assert_int_eq(r->shape[0], 3);
    ck_assert(check_close(r->data, (float[]){0, 3, 1, 4, 2, 5}, 6, 0, 0, "transposed"));
    ck_assert_int_eq(st_read(f, "itr", a, &r), ERR_OK);
    int32_t want_i[6] = {10, 13, 11, 14, 12, 15};
    for (int i = 0; i < 6; i++) ck_assert_int_eq(r->idata[i], want_i[i]);
    ck_assert_int_eq(st_read(f, "col", a, &r), ERR_OK);
    ck_assert(check_close(r->data, (float[]){1, 2, 4, 5}, 4, 0, 0, "sliced"));

    // And back into a view: reading "tr" (3, 2) into a transposed view of a fresh (2, 3)
    // tensor puts the data back in the base's original order.
    Tensor *dst = tensor_zeros(a, 2, (int64_t[]){2, 3});
    Tensor dtr = *dst;
    dtr.shape[0] = 3, dtr.shape[1] = 2, dtr.stride[0] = 1, dtr.stride[1] = 3, dtr.base = dst;
    ck_assert_int_eq(st_read_into(f, "tr", &dtr), ERR_OK);
    ck_assert(check_close(dst->data, v, 6, 0, 0, "into view"));
    st_close(f);
    arena_free(a);
}
END_TEST

// ---------------------------------------------------------------------------
// Reading into existing tensors, missing names
// ---------------------------------------------------------------------------

START_TEST(test_st_read_into_and_load_into)
{
    Arena *a = arena_create(0);
    Tensor *w = tensor_from(a, 2, (int64_t[]){2, 3}, (float[]){1, 2, 3, 4, 5, 6});
    Tensor *b = tensor_from(a, 1, (int64_t[]){3}, (float[]){-1, -2, -3});
    Tensor *ids = tensor_from_i32(a, 1, (int64_t[]){2}, (int32_t[]){5, 6});
    StEntry ent[] = {{"w", w}, {"b", b}, {"ids", ids}};
    const char *path = tmp_path("load.safetensors");
    ck_assert_int_eq(st_save(path, ent, 3, NULL, 0), ERR_OK);

    // Load two of the three into fresh parameters (the extra tensor in the file is fine).
    Tensor *w2 = tensor_zeros(a, 2, (int64_t[]){2, 3});
    Tensor *b2 = tensor_zeros(a, 1, (int64_t[]){3});
    StEntry load[] = {{"b", b2}, {"w", w2}};
    ck_assert_int_eq(st_load_into(path, load, 2), ERR_OK);
    ck_assert(check_close(w2->data, w->data, 6, 0, 0, "w"));
    ck_assert(check_close(b2->data, b->data, 3, 0, 0, "b"));

    // A name the file lacks.
    StEntry missing[] = {{"w", w2}, {"lm_head.weight", b2}};
    err_clear();
    ck_assert_int_eq(st_load_into(path, missing, 2), ERR_NOTFOUND);
    ck_assert_ptr_nonnull(strstr(err_msg(), "lm_head.weight"));
    assert_error(ERR_NOTFOUND, ERR_NOTFOUND, path, "missing");

    StFile *f;
    ck_assert_int_eq(st_open(path, &f), ERR_OK);
    Tensor *t;
    ck_assert_int_eq(st_read(f, "nope", a, &t), ERR_NOTFOUND);
    ck_assert_ptr_null(t);
    ck_assert_int_eq(st_info(f, "nope", NULL, NULL, NULL), ERR_NOTFOUND);
    ck_assert_ptr_null(st_raw(f, "nope", NULL));

    // Shape mismatch: ERR_SHAPE naming both shapes, and dst untouched.
    Tensor *wt = tensor_zeros(a, 2, (int64_t[]){3, 2});
    ck_assert_int_eq(st_read_into(f, "w", wt), ERR_SHAPE);
    assert_error(ERR_SHAPE, ERR_SHAPE, path, "shape");
    ck_assert_ptr_nonnull(strstr(err_msg(), "(2, 3)"));
    ck_assert_ptr_nonnull(strstr(err_msg(), "(3, 2)"));
    for (int i = 0; i < 6; i++) ck_assert_float_eq(wt->data[i], 0.0f);
    Tensor *w3 = tensor_zeros(a, 3, (int64_t[]){1, 2, 3}); // same numel, different ndim
    ck_assert_int_eq(st_read_into(f, "w", w3), ERR_SHAPE);
    ck_assert_ptr_nonnull(strstr(err_msg(), "(1, 2, 3)"));

    // Kind mismatch: int32 data into a float tensor.
    Tensor *fids = tensor_zeros(a, 1, (int64_t[]){2});
    ck_assert_int_eq(st_read_into(f, "ids", fids), ERR_FORMAT);
    assert_error(ERR_FORMAT, ERR_FORMAT, path, "kind");
    st_close(f);
    arena_free(a);
}
END_TEST

// ---------------------------------------------------------------------------
// Atomic write
// ---------------------------------------------------------------------------

START_TEST(test_st_atomic_write)
{
    Arena *a = arena_create(0);
    float big[1000];
    for (int i = 0; i < 1000; i++) big[i] = (float)i;
    Tensor *t1 = tensor_from(a, 1, (int64_t[]){1000}, big);
    Tensor *t2 = tensor_from(a, 1, (int64_t[]){2}, (float[]){7, 8});
    char path[512], ref[512];
    snprintf(path, sizeof path, "%s", tmp_path("atomic.safetensors"));
    snprintf(ref, sizeof ref, "%s", tmp_path("atomic_ref.safetensors"));

    ck_assert_int_eq(st_save(path, (StEntry[]){{"big", t1}}, 1, NULL, 0), ERR_OK);
    ck_assert_int_eq(st_save(path, (StEntry[]){{"small", t2}}, 1, NULL, 0), ERR_OK);
    ck_assert_int_eq(st_save(ref, (StEntry[]){{"small", t2}}, 1, NULL, 0), ERR_OK);
    // The old, larger content is replaced whole: byte for byte what a fresh save writes.
    size_t n1, n2;
    unsigned char *b1 = read_bytes(path, &n1), *b2 = read_bytes(ref, &n2);
    ck_assert_uint_eq(n1, n2);
    ck_assert_int_eq(memcmp(b1, b2, n1), 0);
    free(b1);
    free(b2);
    StFile *f;
    ck_assert_int_eq(st_open(path, &f), ERR_OK);
    ck_assert_int_eq(st_count(f), 1);
    ck_assert_str_eq(st_name(f, 0), "small");
    st_close(f);
    ck_assert_int_eq(count_files_with(test_tmpdir(), ".tmp."), 0);

    // A folder that does not exist: ERR_IO, and nothing is created.
    char bad[512];
    snprintf(bad, sizeof bad, "%s/no_such_dir/x.safetensors", test_tmpdir());
    err_clear();
    ck_assert_int_eq(st_save(bad, (StEntry[]){{"small", t2}}, 1, NULL, 0), ERR_IO);
    ck_assert_ptr_nonnull(strstr(err_msg(), bad));
    ck_assert(!file_exists(bad));
    ck_assert(!file_exists(tmp_path("no_such_dir")));
    ck_assert_int_eq(count_files_with(test_tmpdir(), ".tmp."), 0);

    // Invalid UTF-8 in a name or a metadata value: ERR_INVALID, and the old file stays.
    ck_assert_int_eq(st_save(path, (StEntry[]){{"bad\xff", t1}}, 1, NULL, 0), ERR_INVALID);
    const char *meta[] = {"k", "\xc3("};
    ck_assert_int_eq(st_save(path, (StEntry[]){{"big", t1}}, 1, meta, 1), ERR_INVALID);
    b1 = read_bytes(path, &n1);
    ck_assert_uint_eq(n1, n2);
    free(b1);
    arena_free(a);
}
END_TEST

// ---------------------------------------------------------------------------
// Interoperability
// ---------------------------------------------------------------------------

// The file written by tests/gen_safetensors_fixture.py: floats hold i * 0.5 - 3, I64 holds
// 1000003 * i - 2000000, I32 holds 7 * i - 5, U8 holds 250 + i.
START_TEST(test_st_reads_python_fixture)
{
    const char *path = fixture_path("interop.safetensors");
    StFile *f;
    int rc = st_open(path, &f);
    ck_assert_msg(rc == ERR_OK, "%s (run the test from the repository root)", err_msg());
    ck_assert_int_eq(st_count(f), 11);
    ck_assert_str_eq(st_meta(f, "format"), "pt");
    ck_assert_ptr_nonnull(st_meta(f, "generator"));
    Arena *a = arena_create(0);

    const char *floats[] = {"f32", "f16", "bf16", "f64", "scalar"};
    const char *dtypes[] = {"F32", "F16", "BF16", "F64", "F32"};
    for (int k = 0; k < 5; k++) {
        const char *dt;
        int ndim;
        int64_t shape[ST_MAX_DIMS];
        ck_assert_int_eq(st_info(f, floats[k], &ndim, shape, &dt), ERR_OK);
        ck_assert_str_eq(dt, dtypes[k]);
        Tensor *t;
        ck_assert_int_eq(st_read(f, floats[k], a, &t), ERR_OK);
        ck_assert_int_eq(t->dtype, DT_F32);
        ck_assert_int_eq(t->ndim, ndim);
        int64_t n = tensor_numel(t);
        float want[8];
        ck_assert_int_le(n, 8);
        for (int64_t i = 0; i < n; i++) want[i] = (float)i * 0.5f - 3.0f;
        ck_assert(check_close(t->data, want, n, 0, 0, floats[k]));
    }
    Tensor *t;
    ck_assert_int_eq(st_read(f, "bf16", a, &t), ERR_OK);
    ck_assert_int_eq(t->ndim, 3);
    ck_assert_int_eq(st_read(f, "scalar", a, &t), ERR_OK);
    ck_assert_int_eq(t->ndim, 0);
    ck_assert_int_eq(st_read(f, "empty", a, &t), ERR_OK);
    ck_assert_int_eq(tensor_numel(t), 0);
    ck_assert_int_eq(t->shape[1], 3);

    ck_assert_int_eq(st_read(f, "i64", a, &t), ERR_OK);
    ck_assert_int_eq(t->dtype, DT_I32);
    for (int i = 0; i < 5; i++) ck_assert_int_eq(t->idata[i], 1000003 * i - 2000000);
    ck_assert_int_eq(st_read(f, "i32", a, &t), ERR_OK);
    for (int i = 0; i < 4; i++) ck_assert_int_eq(t->idata[i], 7 * i - 5);
    ck_assert_int_eq(st_read(f, "u8", a, &t), ERR_OK);
    for (int i = 0; i < 3; i++) ck_assert_int_eq(t->idata[i], 250 + i);

    // 2^40 does not fit int32; five dims do not fit a Tensor; st_info still describes it.
    ck_assert_int_eq(st_read(f, "i64_big", a, &t), ERR_RANGE);
    assert_error(ERR_RANGE, ERR_RANGE, path, "i64_big");
    ck_assert_ptr_nonnull(strstr(err_msg(), "1099511627776"));
    ck_assert_int_eq(st_read(f, "five_d", a, &t), ERR_RANGE);
    assert_error(ERR_RANGE, ERR_RANGE, path, "five_d");
    int ndim;
    ck_assert_int_eq(st_info(f, "five_d", &ndim, NULL, NULL), ERR_OK);
    ck_assert_int_eq(ndim, 5);
    size_t nb;
    const unsigned char *raw = st_raw(f, "five_d", &nb);
    ck_assert_uint_eq(nb, 16);
    ck_assert_uint_eq(raw[3], 0xc0); // -3.0f = 0xc0400000, little-endian: 00 00 40 c0
    st_close(f);
    arena_free(a);
}
END_TEST

// The other direction, without Python: parse what st_save wrote with jansson directly and check
// it against the format, byte for byte.
START_TEST(test_st_written_bytes_follow_the_format)
{
    Arena *a = arena_create(0);
    float wv[3] = {1.0f, -2.5f, 0.1f};
    int32_t iv[2] = {-2, 70000};
    Tensor *w = tensor_from(a, 2, (int64_t[]){1, 3}, wv);
    Tensor *ids = tensor_from_i32(a, 1, (int64_t[]){2}, iv);
    const char *path = tmp_path("format.safetensors");
    const char *meta[] = {"epoch", "3"};
    ck_assert_int_eq(st_save(path, (StEntry[]){{"weight", w}, {"ids", ids}}, 2, meta, 1), ERR_OK);
    size_t size;
    unsigned char *b = read_bytes(path, &size);
    uint64_t hlen = 0;
    for (int i = 0; i < 8; i++) hlen |= (uint64_t)b[i] << (8 * i);
    ck_assert_uint_eq((8 + hlen) % 8, 0); // data starts 8-aligned
    ck_assert_uint_eq(size, 8 + hlen + 3 * 4 + 2 * 4);

    json_error_t jerr;
    json_t *root = json_loadb((const char *)b + 8, hlen, JSON_REJECT_DUPLICATES, &jerr);
    ck_assert_ptr_nonnull(root);
    ck_assert_str_eq(
        json_string_value(json_object_get(json_object_get(root, "__metadata__"), "epoch")), "3");
    // Each entry: {"dtype": string, "shape": [ints], "data_offsets": [begin, end]}, packed in
    // the order given.
    const char *wdt, *idt;
    json_int_t ws0, ws1, is0, woff[2], ioff[2];
    ck_assert_int_eq(json_unpack(json_object_get(root, "weight"), "{s:s, s:[I, I], s:[I, I]}",
                                 "dtype", &wdt, "shape", &ws0, &ws1, "data_offsets", &woff[0],
                                 &woff[1]),
                     0);
    ck_assert_int_eq(json_unpack(json_object_get(root, "ids"), "{s:s, s:[I], s:[I, I]}", "dtype",
                                 &idt, "shape", &is0, "data_offsets", &ioff[0], &ioff[1]),
                     0);
    ck_assert_str_eq(wdt, "F32");
    ck_assert_str_eq(idt, "I32");
    ck_assert_int_eq(ws0, 1);
    ck_assert_int_eq(ws1, 3);
    ck_assert_int_eq(is0, 2);
    ck_assert_int_eq(woff[0], 0);
    ck_assert_int_eq(woff[1], 12);
    ck_assert_int_eq(ioff[0], 12);
    ck_assert_int_eq(ioff[1], 20);
    ck_assert_int_eq(json_object_size(root), 3);
    json_decref(root);
    // Padding: the JSON text is followed by spaces only.
    for (uint64_t i = hlen; i > 0 && b[8 + i - 1] != '}'; i--) ck_assert_int_eq(b[8 + i - 1], ' ');

    // Data: little-endian IEEE float32 bits and two's complement int32, packed.
    const unsigned char *d = b + 8 + hlen;
    uint32_t want[5] = {0x3f800000u, 0xc0200000u, 0x3dcccccdu, (uint32_t)-2, 70000u};
    for (int i = 0; i < 5; i++)
        for (int k = 0; k < 4; k++) ck_assert_uint_eq(d[4 * i + k], (want[i] >> (8 * k)) & 0xff);
    free(b);
    arena_free(a);
}
END_TEST

// ---------------------------------------------------------------------------
// Bad files, one rule at a time
// ---------------------------------------------------------------------------

typedef struct {
    const char *label;
    const char *json;
    size_t data_len;
    int want;
} BadCase;

START_TEST(test_st_rejects_bad_headers)
{
    static const BadCase cases[] = {
        {"invalid JSON", "{\"w\": {\"dtype\": \"F32\", \"shape\": [1]", 4, ERR_FORMAT},
        {"not an object", "[1, 2, 3]", 0, ERR_FORMAT},
        {"trailing garbage", "{} x", 0, ERR_FORMAT},
        {"unknown dtype", "{\"w\":{\"dtype\":\"F33\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
         ERR_FORMAT},
        {"dtype not a string", "{\"w\":{\"dtype\":4,\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
         ERR_FORMAT},
        {"negative dim", "{\"w\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4,
         ERR_FORMAT},
        {"real dim", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1.0],\"data_offsets\":[0,4]}}", 4,
         ERR_FORMAT},
        {"shape not array", "{\"w\":{\"dtype\":\"F32\",\"shape\":1,\"data_offsets\":[0,4]}}", 4,
         ERR_FORMAT},
        {"missing offsets", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, ERR_FORMAT},
        {"three offsets", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", 4,
         ERR_FORMAT},
        {"entry not object", "{\"w\":[1]}", 0, ERR_FORMAT},
        {"offsets reversed", "{\"w\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,0]}}", 4,
         ERR_FORMAT},
        {"negative offset", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}", 4,
         ERR_FORMAT},
        {"offsets past the data",
         "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4, ERR_TRUNCATED},
        {"numel * size mismatch",
         "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4, ERR_FORMAT},
        {"overlapping",
         "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
         "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
         12, ERR_FORMAT},
        {"gap",
         "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
         "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}",
         12, ERR_FORMAT},
        {"bytes after the last tensor",
         "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 8, ERR_FORMAT},
        {"duplicate names",
         "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
         "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
         8, ERR_FORMAT},
        {"numel overflows",
         "{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,16],"
         "\"data_offsets\":[0,4]}}",
         4, ERR_RANGE},
        {"numel * size overflows",
         "{\"w\":{\"dtype\":\"F64\",\"shape\":[4611686018427387904],\"data_offsets\":[0,8]}}", 8,
         ERR_RANGE},
        {"nine dims",
         "{\"w\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4,
         ERR_RANGE},
        {"metadata not strings",
         "{\"__metadata__\":{\"step\":3},"
         "\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
         4, ERR_FORMAT},
        {"metadata not object", "{\"__metadata__\":[\"x\"]}", 0, ERR_FORMAT},
        {"integer too big for JSON",
         "{\"w\":{\"dtype\":\"F32\",\"shape\":[99999999999999999999],\"data_offsets\":[0,4]}}", 4,
         ERR_FORMAT},
        {"NUL in name", "{\"a\\u0000b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
         4, ERR_FORMAT},
        {"empty header", "", 0, ERR_FORMAT},
    };
    const char *path = tmp_path("bad.safetensors");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_raw(path, cases[i].json, cases[i].data_len, UINT64_MAX);
        StFile *f = (StFile *)&f; // must be reset to NULL on failure
        err_clear();
        int rc = st_open(path, &f);
        assert_error(rc, cases[i].want, path, cases[i].label);
        ck_assert_ptr_null(f);
    }
    // The duplicate-name message says why.
    const BadCase *dup = NULL;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (strcmp(cases[i].label, "duplicate names") == 0) dup = &cases[i];
    write_raw(path, dup->json, dup->data_len, UINT64_MAX);
    StFile *f;
    ck_assert_int_eq(st_open(path, &f), ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(err_msg(), "only once"));

    // The same header shapes, fixed, do open: the cases above fail for their stated reason.
    write_raw(path,
              "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
              "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}   ",
              8, UINT64_MAX);
    ck_assert_int_eq(st_open(path, &f), ERR_OK);
    st_close(f);
}
END_TEST

START_TEST(test_st_rejects_bad_lengths)
{
    const char *path = tmp_path("badlen.safetensors");
    const char *ok = "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}";
    StFile *f;

    write_raw(path, ok, 4, strlen(ok) + 100); // header length larger than the file
    assert_error(st_open(path, &f), ERR_TRUNCATED, path, "length > file");
    ck_assert_ptr_nonnull(strstr(err_msg(), "offset 0"));

    write_raw(path, ok, 4, 1ULL << 60); // absurd header length
    assert_error(st_open(path, &f), ERR_RANGE, path, "length 2^60");

    write_raw(path, ok, 4, 100000001ULL); // just over the 100 MB limit
    assert_error(st_open(path, &f), ERR_RANGE, path, "length > 100 MB");

    write_raw(path, ok, 4, UINT64_MAX - 1); // 8 + length would wrap around
    assert_error(st_open(path, &f), ERR_RANGE, path, "length near 2^64");

    write_bytes(path, "\x10\0\0", 3); // shorter than the length field
    assert_error(st_open(path, &f), ERR_TRUNCATED, path, "3-byte file");

    write_bytes(path, "", 0);
    assert_error(st_open(path, &f), ERR_TRUNCATED, path, "empty file");

    const char *none = tmp_path("does_not_exist.safetensors");
    assert_error(st_open(none, &f), ERR_IO, none, "missing file");
    assert_error(st_open(test_tmpdir(), &f), ERR_IO, test_tmpdir(), "a folder");
}
END_TEST

// ---------------------------------------------------------------------------
// Fuzz: truncations and bit flips never crash
// ---------------------------------------------------------------------------

// Opens `path` and reads every tensor. Returns the st_open code. Every failure must come with
// a message naming the file.
static int open_and_read_all(const char *path, Arena *a)
{
    err_clear();
    StFile *f;
    int rc = st_open(path, &f);
    if (rc != ERR_OK) {
        ck_assert_int_lt(rc, 0);
        ck_assert_ptr_null(f);
        ck_assert_ptr_nonnull(strstr(err_msg(), path));
        return rc;
    }
    for (int i = 0; i < st_count(f); i++) {
        err_clear();
        Tensor *t;
        int r = st_read(f, st_name(f, i), a, &t);
        if (r != ERR_OK) {
            ck_assert_int_lt(r, 0);
            ck_assert_ptr_nonnull(strstr(err_msg(), path));
        } else {
            ck_assert_int_eq(tensor_numel(t) >= 0, 1);
        }
    }
    st_close(f);
    arena_reset(a);
    return rc;
}

// A valid file with several dtypes, metadata, a scalar and an empty tensor.
static unsigned char *fuzz_seed_file(size_t *n)
{
    Arena *a = arena_create(0);
    float v[12];
    for (int i = 0; i < 12; i++) v[i] = (float)i - 5.5f;
    Tensor *w = tensor_from(a, 3, (int64_t[]){2, 3, 2}, v);
    Tensor *ids = tensor_from_i32(a, 2, (int64_t[]){2, 2}, (int32_t[]){1, -2, 3, 4});
    Tensor *s = tensor_from(a, 0, NULL, v);
    Tensor *e = tensor_new(a, DT_F32, 1, (int64_t[]){0});
    const char *meta[] = {"format", "pt", "step", "12"};
    const char *path = tmp_path("fuzz_seed.safetensors");
    ck_assert_int_eq(
        st_save(path, (StEntry[]){{"w", w}, {"ids", ids}, {"s", s}, {"e", e}}, 4, meta, 2), ERR_OK);
    arena_free(a);
    return read_bytes(path, n);
}

START_TEST(test_st_fuzz_truncated)
{
    Arena *a = arena_create(0);
    const char *path = tmp_path("fuzz_trunc.safetensors");
    // Both our own file and the Python-written fixture, cut at every length.
    for (int which = 0; which < 2; which++) {
        size_t n;
        unsigned char *good =
            which ? read_bytes(fixture_path("interop.safetensors"), &n) : fuzz_seed_file(&n);
        for (size_t len = 0; len < n; len++) {
            write_bytes(path, good, len);
            int rc = open_and_read_all(path, a);
            // Any cut loses bytes some tensor or the header needs: it must not open.
            if (rc == ERR_OK) fprintf(stderr, "truncated to %zu of %zu bytes opened\n", len, n);
            ck_assert_int_ne(rc, ERR_OK);
        }
        write_bytes(path, good, n);
        ck_assert_int_eq(open_and_read_all(path, a), ERR_OK);
        free(good);
    }
    arena_free(a);
}
END_TEST

START_TEST(test_st_fuzz_bit_flips)
{
    Arena *a = arena_create(0);
    const char *path = tmp_path("fuzz_flip.safetensors");
    size_t n;
    unsigned char *good = fuzz_seed_file(&n);
    unsigned char *buf = malloc(n);
    uint64_t hlen = 0;
    for (int i = 0; i < 8; i++) hlen |= (uint64_t)good[i] << (8 * i);
    Rng rng;
    rng_init(&rng, 1234);
    int opened = 0, failed = 0;
    for (int trial = 0; trial < 2000; trial++) {
        memcpy(buf, good, n);
        // 1 to 3 flips: a quarter of the trials hit the length field, the rest the header.
        int flips = 1 + (int)rng_below(&rng, 3);
        for (int k = 0; k < flips; k++) {
            size_t at =
                rng_below(&rng, 4) == 0 ? rng_below(&rng, 8) : 8 + rng_below(&rng, (uint32_t)hlen);
            buf[at] ^= (unsigned char)(1u << rng_below(&rng, 8));
        }
        write_bytes(path, buf, n);
        if (open_and_read_all(path, a) == ERR_OK)
            opened++;
        else
            failed++;
    }
    // Both outcomes occur (a flip inside a metadata value or a name is harmless; one in a
    // brace or an offset is not), so the test exercises both paths.
    ck_assert_int_gt(opened, 0);
    ck_assert_int_gt(failed, 0);
    free(buf);
    free(good);
    arena_free(a);
}
END_TEST

// err_set may wrap the previous message (err_msg() as an argument): the result must read whole.
START_TEST(test_err_wraps_previous_message)
{
    err_set(ERR_FORMAT, "inner: bad byte at %d", 17);
    ck_assert_int_eq(err_set(ERR_IO, "outer %s: %s", "file.bin", err_msg()), ERR_IO);
    ck_assert_str_eq(err_msg(), "outer file.bin: inner: bad byte at 17");
    ck_assert_int_eq(err_code(), ERR_IO);
}
END_TEST

static Suite *safetensors_suite(void)
{
    Suite *s = suite_create("safetensors");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_st_roundtrip);
    tcase_add_test(tc, test_st_empty_file_and_no_metadata);
    tcase_add_test(tc, test_st_views_saved_in_logical_order);
    tcase_add_test(tc, test_st_read_into_and_load_into);
    tcase_add_test(tc, test_st_atomic_write);
    tcase_add_test(tc, test_st_reads_python_fixture);
    tcase_add_test(tc, test_st_written_bytes_follow_the_format);
    tcase_add_test(tc, test_st_rejects_bad_headers);
    tcase_add_test(tc, test_st_rejects_bad_lengths);
    tcase_add_test(tc, test_st_fuzz_truncated);
    tcase_add_test(tc, test_st_fuzz_bit_flips);
    tcase_add_test(tc, test_err_wraps_previous_message);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return test_main(safetensors_suite());
}
