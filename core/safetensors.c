/*
 * safetensors.c: reading and writing safetensors checkpoints (the format is described in
 * safetensors.h).
 *
 * st_open does all validation up front, in the order a reader meets the bytes: the 8-byte
 * length, the header JSON, each entry's fields, then the layout of the data region. It reads the
 * header before allocating anything sized by it, and the data region only once the header has
 * passed, so a corrupt length or offset can never make it allocate or read more than the file
 * holds. After that, st_read and friends only convert bytes that are known to be in bounds.
 */
#include "safetensors.h"

#include "io.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

// ---------------------------------------------------------------------------
// Dtypes
// ---------------------------------------------------------------------------

// What a stored dtype turns into when read: a float32 tensor, an int32 tensor, or nothing
// (the 8-bit float formats, which the engine has no use for yet; st_raw still reads them).
typedef enum { KIND_FLOAT, KIND_INT, KIND_RAW } StKind;

typedef enum {
    ST_BOOL,
    ST_U8,
    ST_I8,
    ST_I16,
    ST_U16,
    ST_I32,
    ST_U32,
    ST_I64,
    ST_U64,
    ST_F16,
    ST_BF16,
    ST_F32,
    ST_F64,
    ST_F8_E5M2,
    ST_F8_E4M3,
    ST_DTYPE_COUNT
} StDtype;

typedef struct {
    const char *name; // as spelled in the header
    int size;         // bytes per element
    StKind kind;
} StDtypeInfo;

static const StDtypeInfo st_dtypes[] = {
    [ST_BOOL] = {"BOOL", 1, KIND_INT},       [ST_U8] = {"U8", 1, KIND_INT},
    [ST_I8] = {"I8", 1, KIND_INT},           [ST_I16] = {"I16", 2, KIND_INT},
    [ST_U16] = {"U16", 2, KIND_INT},         [ST_I32] = {"I32", 4, KIND_INT},
    [ST_U32] = {"U32", 4, KIND_INT},         [ST_I64] = {"I64", 8, KIND_INT},
    [ST_U64] = {"U64", 8, KIND_INT},         [ST_F16] = {"F16", 2, KIND_FLOAT},
    [ST_BF16] = {"BF16", 2, KIND_FLOAT},     [ST_F32] = {"F32", 4, KIND_FLOAT},
    [ST_F64] = {"F64", 8, KIND_FLOAT},       [ST_F8_E5M2] = {"F8_E5M2", 1, KIND_RAW},
    [ST_F8_E4M3] = {"F8_E4M3", 1, KIND_RAW},
};
_Static_assert(sizeof st_dtypes / sizeof st_dtypes[0] == ST_DTYPE_COUNT, "one entry per dtype");

static int dtype_lookup(const char *s)
{
    for (int i = 0; i < ST_DTYPE_COUNT; i++)
        if (strcmp(st_dtypes[i].name, s) == 0) return i;
    return -1;
}

// ---------------------------------------------------------------------------
// Types
// ---------------------------------------------------------------------------

typedef struct {
    char *name;
    StDtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    uint64_t numel;
    uint64_t begin, end; // byte range in the data region
} StTensorInfo;

struct StFile {
    char *path;
    uint64_t data_start; // file offset of the data region: 8 + header length
    uint64_t data_len;   // bytes in the data region
    unsigned char *data; // the data region (at least 1 byte allocated, so never NULL)
    int n;
    StTensorInfo *tensors;  // n, in header order
    StTensorInfo **by_name; // n, sorted by name for bsearch
    int n_meta;
    char **meta; // 2 * n_meta strings: key, value, in header order
};

// ---------------------------------------------------------------------------
// Little-endian bytes and half-precision floats
// ---------------------------------------------------------------------------

static uint16_t ld16(const unsigned char *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t ld32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t ld64(const unsigned char *p)
{
    return ld32(p) | (uint64_t)ld32(p + 4) << 32;
}

static void st32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

static float bits_to_float(uint32_t u)
{
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

// IEEE half: 1 sign bit, 5 exponent bits (bias 15), 10 mantissa bits. A normal number is
// (1024 + m) * 2^(e - 25); a subnormal (e == 0) is m * 2^-24; e == 31 is Inf (m == 0) or NaN.
// Every half is exactly representable as a float, so this conversion is exact.
static float half_to_float(uint16_t h)
{
    int e = (h >> 10) & 0x1f;
    int m = h & 0x3ff;
    float mag;
    if (e == 0)
        mag = ldexpf((float)m, -24);
    else if (e == 31)
        mag = m ? NAN : INFINITY;
    else
        mag = ldexpf((float)(1024 + m), e - 25);
    return (h & 0x8000) ? -mag : mag;
}

// bfloat16 is the top half of a float32: same sign and 8-bit exponent, 7 mantissa bits.
static float bf16_to_float(uint16_t b)
{
    return bits_to_float((uint32_t)b << 16);
}

// The i-th element of a float-kind tensor whose bytes start at p.
static float float_at(const unsigned char *p, StDtype dt, uint64_t i)
{
    switch (dt) {
    case ST_F16: return half_to_float(ld16(p + 2 * i));
    case ST_BF16: return bf16_to_float(ld16(p + 2 * i));
    case ST_F32: return bits_to_float(ld32(p + 4 * i));
    case ST_F64: {
        uint64_t u = ld64(p + 8 * i);
        double d;
        memcpy(&d, &u, sizeof d);
        return (float)d;
    }
    default: CHECK(0, "float_at: dtype %s is not a float", st_dtypes[dt].name);
    }
    return 0.0f;
}

// The i-th element of an integer-kind tensor. U64 values above INT64_MAX come back as
// INT64_MAX: they are out of int32's range either way.
static int64_t int_at(const unsigned char *p, StDtype dt, uint64_t i)
{
    switch (dt) {
    case ST_BOOL:
    case ST_U8: return p[i];
    case ST_I8: return (int8_t)p[i];
    case ST_I16: return (int16_t)ld16(p + 2 * i);
    case ST_U16: return ld16(p + 2 * i);
    case ST_I32: return (int32_t)ld32(p + 4 * i);
    case ST_U32: return ld32(p + 4 * i);
    case ST_I64: return (int64_t)ld64(p + 8 * i);
    case ST_U64: {
        uint64_t u = ld64(p + 8 * i);
        return u > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)u;
    }
    default: CHECK(0, "int_at: dtype %s is not an integer", st_dtypes[dt].name);
    }
    return 0;
}

// ---------------------------------------------------------------------------
// Walking a tensor's elements in logical order
// ---------------------------------------------------------------------------

// A row-major counter over a tensor's multi-index that keeps the element offset (in elements,
// through the strides) in step, so views and transposes are visited in logical order.
typedef struct {
    int64_t idx[TENSOR_MAX_DIMS];
    int64_t off;
} StWalk;

static void walk_next(StWalk *w, const Tensor *t)
{
    for (int d = t->ndim - 1; d >= 0; d--) {
        w->idx[d]++;
        w->off += t->stride[d];
        if (w->idx[d] < t->shape[d]) return;
        w->off -= t->stride[d] * t->shape[d];
        w->idx[d] = 0;
    }
}

static int64_t numel_of(const Tensor *t)
{
    int64_t n = 1;
    for (int d = 0; d < t->ndim; d++) n *= t->shape[d];
    return n;
}

// A shape as Python prints it: "(3, 4)", "(5,)", "()" for a scalar.
static const char *shape_str(char *buf, size_t cap, int ndim, const int64_t *shape)
{
    size_t k = (size_t)snprintf(buf, cap, "(");
    for (int d = 0; d < ndim && k < cap; d++)
        k += (size_t)snprintf(buf + k, cap - k, d ? ", %lld" : "%lld", (long long)shape[d]);
    if (k < cap) snprintf(buf + k, cap - k, ndim == 1 ? ",)" : ")");
    return buf;
}

// ---------------------------------------------------------------------------
// Saving
// ---------------------------------------------------------------------------

// Streams the elements of a DT_F32 or DT_I32 tensor, in logical order, as little-endian 4-byte
// words. Both dtypes are 4 bytes wide, so the bytes are copied without interpreting them.
static int write_tensor_data(FILE *fp, const Tensor *t, const char *path, const char *name)
{
    enum { CHUNK = 16384 };
    unsigned char *buf = xmalloc(CHUNK * 4);
    const unsigned char *base = (const unsigned char *)t->data;
    int64_t n = numel_of(t);
    StWalk w = {0};
    int rc = ERR_OK;
    for (int64_t i = 0; i < n;) {
        int64_t k = 0;
        for (; k < CHUNK && i < n; k++, i++) {
            uint32_t u;
            memcpy(&u, base + 4 * w.off, 4);
            st32(buf + 4 * k, u);
            walk_next(&w, t);
        }
        if (fwrite(buf, 4, (size_t)k, fp) != (size_t)k) {
            rc = err_set(ERR_IO, "%s: writing tensor '%s' failed: %s; hint: is the disk full?",
                         path, name, strerror(errno));
            break;
        }
    }
    free(buf);
    return rc;
}

int st_save(const char *path, const StEntry *entries, int n, const char *const *meta_kv, int n_meta)
{
    CHECK(path != NULL, "st_save: path is NULL");
    CHECK(n >= 0 && (n == 0 || entries != NULL), "st_save: %d entries but entries is NULL", n);
    CHECK(n_meta >= 0 && (n_meta == 0 || meta_kv != NULL),
          "st_save: %d metadata pairs but meta_kv is NULL", n_meta);

    // The header, built with jansson so names are escaped correctly. jansson keeps keys in
    // insertion order, so the header lists tensors in the order given, __metadata__ first.
    json_t *root = json_object();
    int rc = ERR_OK;
    if (n_meta > 0) {
        json_t *m = json_object();
        json_object_set_new(root, "__metadata__", m);
        for (int i = 0; i < n_meta; i++) {
            const char *k = meta_kv[2 * i], *v = meta_kv[2 * i + 1];
            CHECK(k != NULL && v != NULL, "st_save: metadata pair %d has a NULL key or value", i);
            CHECK(json_object_get(m, k) == NULL, "st_save: metadata key '%s' given twice", k);
            json_t *s = json_string(v);
            if (!s || json_object_set_new(m, k, s) != 0) {
                rc = err_set(ERR_INVALID,
                             "%s: metadata pair %d ('%.60s') is not valid UTF-8; hint: the "
                             "format stores metadata as JSON strings",
                             path, i, k);
                goto done;
            }
        }
    }
    uint64_t off = 0;
    for (int i = 0; i < n; i++) {
        const char *name = entries[i].name;
        const Tensor *t = entries[i].t;
        CHECK(name != NULL && name[0] != '\0', "st_save: entry %d has no name", i);
        CHECK(strcmp(name, "__metadata__") != 0, "st_save: '__metadata__' is a reserved name");
        CHECK(t != NULL, "st_save: entry '%s' has a NULL tensor", name);
        CHECK(t->dtype == DT_F32 || t->dtype == DT_I32, "st_save: '%s' has dtype %d", name,
              (int)t->dtype);
        CHECK(t->ndim >= 0 && t->ndim <= TENSOR_MAX_DIMS, "st_save: '%s' has ndim %d", name,
              t->ndim);
        CHECK(json_object_get(root, name) == NULL, "st_save: name '%s' given twice", name);
        uint64_t nbytes = (uint64_t)numel_of(t) * 4;
        json_t *shape = json_array();
        for (int d = 0; d < t->ndim; d++) json_array_append_new(shape, json_integer(t->shape[d]));
        json_t *e =
            json_pack("{s:s, s:o, s:[I, I]}", "dtype", t->dtype == DT_F32 ? "F32" : "I32", "shape",
                      shape, "data_offsets", (json_int_t)off, (json_int_t)(off + nbytes));
        CHECK(e != NULL, "st_save: json_pack failed for '%s'", name);
        if (json_object_set_new(root, name, e) != 0) {
            rc = err_set(ERR_INVALID,
                         "%s: tensor name %d ('%.60s') is not valid UTF-8; hint: names are JSON "
                         "strings",
                         path, i, name);
            goto done;
        }
        off += nbytes;
    }

    char *js = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    CHECK(js != NULL, "st_save: json_dumps failed (out of memory?)");
    // Pad with spaces (JSON whitespace) so the data region starts at a multiple of 8 bytes.
    size_t len = strlen(js);
    size_t padded = (len + 7) & ~(size_t)7;
    unsigned char lenbuf[8];
    for (int b = 0; b < 8; b++) lenbuf[b] = (unsigned char)((uint64_t)padded >> (8 * b));

    IoAtomic *io;
    rc = io_atomic_open(path, &io);
    if (rc != ERR_OK) {
        free(js);
        goto done;
    }
    FILE *fp = io_atomic_fp(io);
    fwrite(lenbuf, 1, 8, fp);
    fwrite(js, 1, len, fp);
    for (size_t k = len; k < padded; k++) fputc(' ', fp);
    free(js);
    for (int i = 0; i < n && rc == ERR_OK; i++)
        rc = write_tensor_data(fp, entries[i].t, path, entries[i].name);
    if (rc != ERR_OK)
        io_atomic_abort(io);
    else
        rc = io_atomic_commit(io); // checks ferror too: a failed header write is caught here
done:
    json_decref(root);
    return rc;
}

// ---------------------------------------------------------------------------
// Opening: reading and validating the header
// ---------------------------------------------------------------------------

// Reads exactly n bytes, or says why not (the file may shrink while we read it).
static int read_exact(FILE *fp, void *buf, size_t n, const char *path, uint64_t at)
{
    if (n == 0 || fread(buf, 1, n, fp) == n) return ERR_OK;
    if (ferror(fp))
        return err_set(ERR_IO, "%s: read error at offset %llu: %s", path, (unsigned long long)at,
                       strerror(errno));
    return err_set(ERR_TRUNCATED,
                   "%s: the file ended while reading %zu bytes at offset %llu; hint: was it "
                   "being written while we read it?",
                   path, n, (unsigned long long)at);
}

// "an object", "a string", ...: what a JSON value is, for messages.
static const char *json_kind(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a real number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    case JSON_NULL: return "null";
    }
    return "?";
}

// A JSON integer >= 0, or an error naming the tensor and the field.
static int get_uint(const StFile *f, const char *tname, const char *field, int k, const json_t *v,
                    uint64_t *out)
{
    if (!json_is_integer(v))
        return err_set(ERR_FORMAT,
                       "%s: tensor '%.80s' field \"%s\"[%d] is %s, not an integer; hint: the "
                       "header is corrupt",
                       f->path, tname, field, k, json_kind(v));
    json_int_t x = json_integer_value(v);
    if (x < 0)
        return err_set(ERR_FORMAT,
                       "%s: tensor '%.80s' field \"%s\"[%d] is %lld, negative; hint: dims and "
                       "offsets are unsigned, the header is corrupt",
                       f->path, tname, field, k, (long long)x);
    *out = (uint64_t)x;
    return ERR_OK;
}

// Checks one header entry and fills *ti (except the name).
static int parse_entry(const StFile *f, const char *name, const json_t *v, StTensorInfo *ti)
{
    if (!json_is_object(v))
        return err_set(ERR_FORMAT,
                       "%s: header entry '%.80s' is %s, not an object; hint: each tensor "
                       "needs {\"dtype\", \"shape\", \"data_offsets\"}",
                       f->path, name, json_kind(v));
    const json_t *dt = json_object_get(v, "dtype");
    const json_t *shape = json_object_get(v, "shape");
    const json_t *offs = json_object_get(v, "data_offsets");
    const char *missing = !dt ? "dtype" : !shape ? "shape" : !offs ? "data_offsets" : NULL;
    if (missing)
        return err_set(ERR_FORMAT,
                       "%s: tensor '%.80s' has no field \"%s\"; hint: the header is "
                       "corrupt or not safetensors",
                       f->path, name, missing);
    if (!json_is_string(dt))
        return err_set(ERR_FORMAT,
                       "%s: tensor '%.80s' field \"dtype\" is %s, not a string; "
                       "hint: the header is corrupt",
                       f->path, name, json_kind(dt));
    int d = dtype_lookup(json_string_value(dt));
    if (d < 0)
        return err_set(ERR_FORMAT,
                       "%s: tensor '%.80s' field \"dtype\" is \"%.20s\", which this reader does "
                       "not know; hint: known dtypes are F64 F32 F16 BF16 F8_E5M2 F8_E4M3 I64 "
                       "I32 I16 I8 U64 U32 U16 U8 BOOL",
                       f->path, name, json_string_value(dt));
    ti->dtype = (StDtype)d;

    if (!json_is_array(shape))
        return err_set(ERR_FORMAT,
                       "%s: tensor '%.80s' field \"shape\" is %s, not an array; "
                       "hint: the header is corrupt",
                       f->path, name, json_kind(shape));
    size_t nd = json_array_size(shape);
    if (nd > ST_MAX_DIMS)
        return err_set(ERR_RANGE,
                       "%s: tensor '%.80s' field \"shape\" has %zu dims, more than "
                       "the %d this reader accepts; hint: reshape it before saving",
                       f->path, name, nd, ST_MAX_DIMS);
    ti->ndim = (int)nd;
    // numel = product of the dims, computed with overflow checks: a corrupt dim like 2^62
    // must be rejected here, not wrap around to a small number that passes the size check.
    uint64_t numel = 1;
    bool overflow = false;
    for (int k = 0; k < ti->ndim; k++) {
        uint64_t dim;
        int rc = get_uint(f, name, "shape", k, json_array_get(shape, (size_t)k), &dim);
        if (rc != ERR_OK) return rc;
        ti->shape[k] = (int64_t)dim;
        overflow |= __builtin_mul_overflow(numel, dim, &numel);
    }
    uint64_t nbytes = 0;
    overflow |= __builtin_mul_overflow(numel, (uint64_t)st_dtypes[d].size, &nbytes);
    char sbuf[160];
    if (overflow)
        return err_set(ERR_RANGE,
                       "%s: tensor '%.80s' of dtype %s and shape %s holds more bytes "
                       "than fit in 64 bits; hint: the header is corrupt",
                       f->path, name, st_dtypes[d].name,
                       shape_str(sbuf, sizeof sbuf, ti->ndim, ti->shape));
    ti->numel = numel;

    if (!json_is_array(offs) || json_array_size(offs) != 2)
        return err_set(ERR_FORMAT,
                       "%s: tensor '%.80s' field \"data_offsets\" is not an array "
                       "[begin, end]; hint: the header is corrupt",
                       f->path, name);
    int rc = get_uint(f, name, "data_offsets", 0, json_array_get(offs, 0), &ti->begin);
    if (rc == ERR_OK) rc = get_uint(f, name, "data_offsets", 1, json_array_get(offs, 1), &ti->end);
    if (rc != ERR_OK) return rc;
    if (ti->end < ti->begin)
        return err_set(ERR_FORMAT,
                       "%s: tensor '%.80s' field \"data_offsets\" [%llu, %llu] is "
                       "reversed (end < begin); hint: the header is corrupt",
                       f->path, name, (unsigned long long)ti->begin, (unsigned long long)ti->end);
    if (ti->end - ti->begin != nbytes)
        return err_set(ERR_FORMAT,
                       "%s: tensor '%.80s' field \"data_offsets\" [%llu, %llu] spans "
                       "%llu bytes but dtype %s with shape %s needs %llu; hint: the header is "
                       "corrupt",
                       f->path, name, (unsigned long long)ti->begin, (unsigned long long)ti->end,
                       (unsigned long long)(ti->end - ti->begin), st_dtypes[d].name,
                       shape_str(sbuf, sizeof sbuf, ti->ndim, ti->shape),
                       (unsigned long long)nbytes);
    if (ti->end > f->data_len)
        return err_set(ERR_TRUNCATED,
                       "%s: tensor '%.80s' ends at file offset %llu but the file "
                       "is only %llu bytes; hint: the file is truncated (an interrupted download "
                       "or copy?) or its data_offsets are corrupt",
                       f->path, name, (unsigned long long)(f->data_start + ti->end),
                       (unsigned long long)(f->data_start + f->data_len));
    return ERR_OK;
}

static int parse_metadata(StFile *f, const json_t *m)
{
    if (json_is_null(m)) return ERR_OK;
    if (!json_is_object(m))
        return err_set(ERR_FORMAT,
                       "%s: header field \"__metadata__\" is %s, not an object; "
                       "hint: the header is corrupt",
                       f->path, json_kind(m));
    f->meta = xcalloc(2 * json_object_size(m) + 1, sizeof *f->meta);
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)m, k, v)
    {
        if (!json_is_string(v))
            return err_set(ERR_FORMAT,
                           "%s: \"__metadata__\" key '%.80s' is %s, not a string; "
                           "hint: the format allows only string values",
                           f->path, k, json_kind(v));
        f->meta[2 * f->n_meta] = xstrdup(k);
        f->meta[2 * f->n_meta + 1] = xstrdup(json_string_value(v));
        f->n_meta++;
    }
    return ERR_OK;
}

static int cmp_offset(const void *a, const void *b)
{
    const StTensorInfo *x = *(StTensorInfo *const *)a, *y = *(StTensorInfo *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}

static int cmp_name(const void *a, const void *b)
{
    const StTensorInfo *x = *(StTensorInfo *const *)a, *y = *(StTensorInfo *const *)b;
    return strcmp(x->name, y->name);
}

// The tensors, sorted by offset, must tile [0, data_len) exactly: no gap, no overlap, nothing
// after the last one. (The reference implementation checks the same.)
static int check_layout(const StFile *f)
{
    StTensorInfo **order = xmalloc(((size_t)f->n + 1) * sizeof *order);
    for (int i = 0; i < f->n; i++) order[i] = &f->tensors[i];
    qsort(order, (size_t)f->n, sizeof *order, cmp_offset);
    uint64_t at = 0;
    int rc = ERR_OK;
    for (int i = 0; i < f->n && rc == ERR_OK; i++) {
        const StTensorInfo *t = order[i];
        if (t->begin < at)
            rc = err_set(ERR_FORMAT,
                         "%s: tensors '%.80s' [%llu, %llu) and '%.80s' [%llu, %llu) "
                         "overlap in the data region; hint: the header is corrupt",
                         f->path, order[i - 1]->name, (unsigned long long)order[i - 1]->begin,
                         (unsigned long long)order[i - 1]->end, t->name,
                         (unsigned long long)t->begin, (unsigned long long)t->end);
        else if (t->begin > at)
            rc = err_set(ERR_FORMAT,
                         "%s: bytes [%llu, %llu) of the data region (file offset "
                         "%llu) belong to no tensor, before '%.80s'; hint: the header is corrupt",
                         f->path, (unsigned long long)at, (unsigned long long)t->begin,
                         (unsigned long long)(f->data_start + at), t->name);
        at = t->end;
    }
    if (rc == ERR_OK && at != f->data_len)
        rc = err_set(ERR_FORMAT,
                     "%s: %llu bytes after the last tensor (file offset %llu) belong "
                     "to no tensor; hint: the header is corrupt or data was appended",
                     f->path, (unsigned long long)(f->data_len - at),
                     (unsigned long long)(f->data_start + at));
    free(order);
    return rc;
}

static int parse_header(StFile *f, const char *hdr, size_t len)
{
    json_error_t jerr;
    json_t *root = json_loadb(hdr, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        bool dup = json_error_code(&jerr) == json_error_duplicate_key;
        return err_set(ERR_FORMAT,
                       "%s: header JSON is invalid at file offset %lld (line %d, "
                       "column %d): %s; hint: %s",
                       f->path, 8LL + jerr.position, jerr.line, jerr.column, jerr.text,
                       dup ? "each tensor name may appear only once"
                           : "the header is corrupt, or this is not a safetensors file");
    }
    int rc = ERR_OK;
    if (!json_is_object(root)) {
        rc = err_set(ERR_FORMAT,
                     "%s: header (file offset 8) is %s, not an object; hint: "
                     "this is not a safetensors file",
                     f->path, json_kind(root));
        goto done;
    }
    const json_t *meta = json_object_get(root, "__metadata__");
    if (meta && (rc = parse_metadata(f, meta)) != ERR_OK) goto done;

    size_t cap = json_object_size(root);
    f->tensors = xcalloc(cap + 1, sizeof *f->tensors);
    const char *name;
    const json_t *v;
    json_object_foreach(root, name, v)
    {
        if (strcmp(name, "__metadata__") == 0) continue;
        StTensorInfo *ti = &f->tensors[f->n];
        if ((rc = parse_entry(f, name, v, ti)) != ERR_OK) goto done;
        ti->name = xstrdup(name);
        f->n++;
    }
    if ((rc = check_layout(f)) != ERR_OK) goto done;
    f->by_name = xmalloc(((size_t)f->n + 1) * sizeof *f->by_name);
    for (int i = 0; i < f->n; i++) f->by_name[i] = &f->tensors[i];
    qsort(f->by_name, (size_t)f->n, sizeof *f->by_name, cmp_name);
done:
    json_decref(root);
    return rc;
}

int st_open(const char *path, StFile **out)
{
    CHECK(path != NULL && out != NULL, "st_open: NULL argument");
    *out = NULL;
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return err_set(ERR_IO, "cannot open %s: %s; hint: check the path", path, strerror(errno));
    StFile *f = xcalloc(1, sizeof *f);
    f->path = xstrdup(path);
    char *hdr = NULL;
    int rc = ERR_OK;

    struct stat sb;
    if (fstat(fileno(fp), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        rc = err_set(ERR_IO, "%s: not a regular file; hint: pass the path of a .safetensors file",
                     path);
        goto fail;
    }
    uint64_t size = (uint64_t)sb.st_size;
    if (size < 8) {
        rc = err_set(ERR_TRUNCATED,
                     "%s: the file is %llu bytes, too short for the 8-byte header "
                     "length at offset 0; hint: the file is truncated or empty",
                     path, (unsigned long long)size);
        goto fail;
    }
    unsigned char lenbuf[8];
    if ((rc = read_exact(fp, lenbuf, 8, path, 0)) != ERR_OK) goto fail;
    uint64_t hlen = ld64(lenbuf);
    if (hlen > ST_MAX_HEADER) {
        rc = err_set(ERR_RANGE,
                     "%s: the header length at offset 0 is %llu bytes, over the %llu "
                     "byte limit; hint: the file is corrupt or not a safetensors file (the first "
                     "8 bytes must be the header length, little-endian)",
                     path, (unsigned long long)hlen, ST_MAX_HEADER);
        goto fail;
    }
    if (hlen > size - 8) {
        rc = err_set(ERR_TRUNCATED,
                     "%s: the header length at offset 0 is %llu bytes but only "
                     "%llu bytes follow; hint: the file is truncated (an interrupted download or "
                     "copy?)",
                     path, (unsigned long long)hlen, (unsigned long long)(size - 8));
        goto fail;
    }
    f->data_start = 8 + hlen;
    f->data_len = size - f->data_start;
    hdr = xmalloc((size_t)hlen + 1);
    if ((rc = read_exact(fp, hdr, (size_t)hlen, path, 8)) != ERR_OK) goto fail;
    if ((rc = parse_header(f, hdr, (size_t)hlen)) != ERR_OK) goto fail;

    // The header passed, so every tensor lies inside [0, data_len): now read the data.
    f->data = malloc(f->data_len ? (size_t)f->data_len : 1);
    if (!f->data) {
        rc = err_set(ERR_NOMEM,
                     "%s: cannot allocate %llu bytes for the tensor data; hint: not "
                     "enough memory for this checkpoint",
                     path, (unsigned long long)f->data_len);
        goto fail;
    }
    if ((rc = read_exact(fp, f->data, (size_t)f->data_len, path, f->data_start)) != ERR_OK)
        goto fail;
    free(hdr);
    fclose(fp);
    *out = f;
    return ERR_OK;
fail:
    free(hdr);
    fclose(fp);
    st_close(f);
    return rc;
}

void st_close(StFile *f)
{
    if (!f) return;
    if (f->tensors)
        for (int i = 0; i < f->n; i++) free(f->tensors[i].name);
    if (f->meta)
        for (int i = 0; i < 2 * f->n_meta; i++) free(f->meta[i]);
    free(f->tensors);
    free(f->by_name);
    free(f->meta);
    free(f->data);
    free(f->path);
    free(f);
}

// ---------------------------------------------------------------------------
// Looking up
// ---------------------------------------------------------------------------

const char *st_path(const StFile *f)
{
    return f->path;
}

int st_count(const StFile *f)
{
    return f->n;
}

const char *st_name(const StFile *f, int i)
{
    CHECK(i >= 0 && i < f->n, "st_name: index %d outside [0, %d)", i, f->n);
    return f->tensors[i].name;
}

int st_meta_count(const StFile *f)
{
    return f->n_meta;
}

const char *st_meta_key(const StFile *f, int i)
{
    CHECK(i >= 0 && i < f->n_meta, "st_meta_key: index %d outside [0, %d)", i, f->n_meta);
    return f->meta[2 * i];
}

const char *st_meta(const StFile *f, const char *key)
{
    for (int i = 0; i < f->n_meta; i++)
        if (strcmp(f->meta[2 * i], key) == 0) return f->meta[2 * i + 1];
    return NULL;
}

static int cmp_key_name(const void *key, const void *elem)
{
    return strcmp((const char *)key, (*(StTensorInfo *const *)elem)->name);
}

// The named tensor, or NULL with ERR_NOTFOUND set.
static const StTensorInfo *find(const StFile *f, const char *name)
{
    CHECK(name != NULL, "safetensors: tensor name is NULL");
    StTensorInfo *const *p =
        f->n ? bsearch(name, f->by_name, (size_t)f->n, sizeof *f->by_name, cmp_key_name) : NULL;
    if (p) return *p;
    err_set(ERR_NOTFOUND,
            "%s: no tensor named '%.80s' (the file has %d%s%.80s%s); hint: list "
            "the names with st_name, or check the model config matches the checkpoint",
            f->path, name, f->n, f->n ? ", e.g. '" : "", f->n ? f->tensors[0].name : "",
            f->n ? "'" : "");
    return NULL;
}

int st_info(const StFile *f, const char *name, int *ndim, int64_t *shape, const char **dtype)
{
    const StTensorInfo *ti = find(f, name);
    if (!ti) return ERR_NOTFOUND;
    if (ndim) *ndim = ti->ndim;
    if (shape) memcpy(shape, ti->shape, (size_t)ti->ndim * sizeof *shape);
    if (dtype) *dtype = st_dtypes[ti->dtype].name;
    return ERR_OK;
}

const void *st_raw(const StFile *f, const char *name, size_t *nbytes)
{
    const StTensorInfo *ti = find(f, name);
    if (nbytes) *nbytes = ti ? (size_t)(ti->end - ti->begin) : 0;
    return ti ? f->data + ti->begin : NULL;
}

// ---------------------------------------------------------------------------
// Reading into tensors
// ---------------------------------------------------------------------------

// Everything that can make a conversion fail, checked before anything is written: an F8 dtype,
// too many dims for a Tensor, or an integer that does not fit int32.
static int check_convertible(const StFile *f, const StTensorInfo *ti)
{
    const StDtypeInfo *dt = &st_dtypes[ti->dtype];
    if (dt->kind == KIND_RAW)
        return err_set(ERR_FORMAT,
                       "%s: tensor '%.80s' has dtype %s, which cannot be converted to "
                       "float32 yet; hint: read its bytes with st_raw",
                       f->path, ti->name, dt->name);
    if (ti->ndim > TENSOR_MAX_DIMS)
        return err_set(ERR_RANGE,
                       "%s: tensor '%.80s' has %d dims but a Tensor holds at most %d; "
                       "hint: reshape it before saving, or read its bytes with st_raw",
                       f->path, ti->name, ti->ndim, TENSOR_MAX_DIMS);
    if (dt->kind == KIND_INT && dt->size >= 4) {
        const unsigned char *p = f->data + ti->begin;
        for (uint64_t i = 0; i < ti->numel; i++) {
            int64_t v = int_at(p, ti->dtype, i);
            if (v < INT32_MIN || v > INT32_MAX)
                return err_set(
                    ERR_RANGE,
                    "%s: tensor '%.80s' (%s) element %llu is %lld, outside "
                    "int32 (file offset %llu); hint: the engine keeps integers "
                    "(token ids, labels) as int32",
                    f->path, ti->name, dt->name, (unsigned long long)i, (long long)v,
                    (unsigned long long)(f->data_start + ti->begin + i * (uint64_t)dt->size));
        }
    }
    return ERR_OK;
}

// Converts every element into dst (whose shape equals the stored one), in logical order through
// dst's strides. Cannot fail: check_convertible has run.
static void convert_into(const StFile *f, const StTensorInfo *ti, Tensor *dst)
{
    const unsigned char *p = f->data + ti->begin;
    StWalk w = {0};
    if (st_dtypes[ti->dtype].kind == KIND_FLOAT) {
        for (uint64_t i = 0; i < ti->numel; i++, walk_next(&w, dst))
            dst->data[w.off] = float_at(p, ti->dtype, i);
    } else {
        for (uint64_t i = 0; i < ti->numel; i++, walk_next(&w, dst))
            dst->idata[w.off] = (int32_t)int_at(p, ti->dtype, i);
    }
}

int st_read(const StFile *f, const char *name, Arena *a, Tensor **out)
{
    CHECK(a != NULL && out != NULL, "st_read: NULL argument");
    *out = NULL;
    const StTensorInfo *ti = find(f, name);
    if (!ti) return ERR_NOTFOUND;
    int rc = check_convertible(f, ti);
    if (rc != ERR_OK) return rc;
    DType dt = st_dtypes[ti->dtype].kind == KIND_FLOAT ? DT_F32 : DT_I32;
    Tensor *t = tensor_new(a, dt, ti->ndim, ti->shape);
    convert_into(f, ti, t);
    snprintf(t->name, sizeof t->name, "%s", ti->name);
    *out = t;
    return ERR_OK;
}

int st_read_into(const StFile *f, const char *name, Tensor *dst)
{
    CHECK(dst != NULL, "st_read_into: dst is NULL");
    const StTensorInfo *ti = find(f, name);
    if (!ti) return ERR_NOTFOUND;
    bool same = ti->ndim == dst->ndim;
    for (int d = 0; same && d < ti->ndim; d++) same = ti->shape[d] == dst->shape[d];
    if (!same) {
        char a[160], b[160];
        return err_set(ERR_SHAPE,
                       "%s: tensor '%.80s' has shape %s in the file but the "
                       "destination has shape %s; hint: the checkpoint was saved from a model "
                       "with a different config",
                       f->path, ti->name, shape_str(a, sizeof a, ti->ndim, ti->shape),
                       shape_str(b, sizeof b, dst->ndim, dst->shape));
    }
    StKind want = dst->dtype == DT_F32 ? KIND_FLOAT : KIND_INT;
    StKind have = st_dtypes[ti->dtype].kind;
    if (have != KIND_RAW && have != want)
        return err_set(ERR_FORMAT,
                       "%s: tensor '%.80s' is %s in the file but the destination is "
                       "%s; hint: floats load into DT_F32 tensors, integers into DT_I32",
                       f->path, ti->name, st_dtypes[ti->dtype].name,
                       dst->dtype == DT_F32 ? "float32" : "int32");
    int rc = check_convertible(f, ti);
    if (rc != ERR_OK) return rc;
    convert_into(f, ti, dst);
    return ERR_OK;
}

int st_load_into(const char *path, const StEntry *entries, int n)
{
    CHECK(n >= 0 && (n == 0 || entries != NULL), "st_load_into: %d entries but entries is NULL", n);
    StFile *f;
    int rc = st_open(path, &f);
    if (rc != ERR_OK) return rc;
    for (int i = 0; i < n && rc == ERR_OK; i++) {
        CHECK(entries[i].name != NULL && entries[i].t != NULL,
              "st_load_into: entry %d has a NULL name or tensor", i);
        rc = st_read_into(f, entries[i].name, entries[i].t);
    }
    st_close(f);
    return rc;
}
