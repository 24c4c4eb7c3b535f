/*
 * gguf.c: the GGUF container, a strict reader and an atomic writer (see gguf.h for the layout).
 *
 * The reader maps the file read-only and walks it once with a bounds-checked cursor: every
 * read first asks "are there n more bytes?", every count is compared with the bytes left
 * before anything is allocated for it, and every size is computed so that it cannot
 * overflow. Only after the whole header, metadata and tensor table are known to be sound does
 * tf_gguf_open hand out a TfGguf, so the getters never see a malformed file.
 *
 * All numbers are little-endian, as GGUF prescribes; the engine only runs on little-endian
 * hosts, so fields are read with memcpy (the file gives no alignment guarantee).
 */
#include "transformer/gguf.h"

#include "core/err.h"
#include "core/io.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "gguf.c reads little-endian fields with memcpy: a little-endian host is required"
#endif

// Sizes of the scalar value types; 0 for string and array (variable).
static const uint8_t val_size[TF_GGUF_VAL_COUNT] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};

static const char *const val_name[TF_GGUF_VAL_COUNT] = {
    "u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string", "array", "u64", "i64", "f64",
};

const char *tf_gguf_val_type_name(uint32_t type)
{
    return type < TF_GGUF_VAL_COUNT ? val_name[type] : "?";
}

const char *tf_gguf_type_name(uint32_t type)
{
    // ggml's type numbering, so a rejected file names the type its producer used.
    static const char *const names[] = {
        "F32", "F16", "Q4_0", "Q4_1", "Q4_2 (removed)", "Q4_3 (removed)", "Q5_0", "Q5_1",
        "Q8_0", "Q8_1", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "Q8_K", "IQ2_XXS", "IQ2_XS",
        "IQ3_XXS", "IQ1_S", "IQ4_NL", "IQ3_S", "IQ2_S", "IQ4_XS", "I8", "I16", "I32", "I64",
        "F64", "IQ1_M", "BF16",
    };
    static _Thread_local char buf[24];
    if (type < sizeof names / sizeof names[0]) return names[type];
    snprintf(buf, sizeof buf, "type %u", type);
    return buf;
}

uint64_t tf_gguf_type_nbytes(TfGgufType type, uint64_t n)
{
    switch (type) {
    case TF_GGUF_F32: return 4 * n;
    case TF_GGUF_F16: return 2 * n;
    case TF_GGUF_Q8_0:
        CHECK(n % TF_GGUF_Q8_0_BLOCK == 0, "Q8_0 needs a multiple of 32 values, got %llu",
              (unsigned long long)n);
        return n / TF_GGUF_Q8_0_BLOCK * (2 + TF_GGUF_Q8_0_BLOCK);
    }
    CHECK(0, "tf_gguf_type_nbytes: unsupported type %d", (int)type);
    return 0;
}

static bool type_supported(uint32_t t)
{
    return t == TF_GGUF_F32 || t == TF_GGUF_F16 || t == TF_GGUF_Q8_0;
}

// ---------------------------------------------------------------------------
// IEEE half precision
// ---------------------------------------------------------------------------

float tf_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1F, mant = h & 0x3FF, bits;
    if (exp == 0) {
        // Zero or subnormal: mant * 2^-24, exact in float.
        float v = (float)mant * 0x1p-24f;
        return sign ? -v : v;
    }
    if (exp == 31) bits = sign | 0x7F800000u | (mant << 13); // inf / NaN (payload kept)
    else bits = sign | ((exp - 15 + 127) << 23) | (mant << 13);
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t tf_f32_to_f16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    int exp = (int)((x >> 23) & 0xFF);
    uint32_t mant = x & 0x7FFFFF;
    if (exp == 0xFF) // inf stays inf; NaN stays a (quiet) NaN
        return (uint16_t)(sign | 0x7C00 | (mant ? 0x200 | (mant >> 13) : 0));
    int e = exp - 127 + 15; // the half's biased exponent
    if (e >= 31) return (uint16_t)(sign | 0x7C00);
    if (e <= 0) {
        // Subnormal half: value = m * 2^-24 with m = full mantissa >> (14 - e); below
        // e = -10 even the largest value is under half the smallest subnormal: 0.
        if (e < -10) return sign;
        mant |= 0x800000;
        int shift = 14 - e;
        uint32_t h = mant >> shift, rem = mant & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (h & 1))) h++; // round to nearest even
        return (uint16_t)(sign | h);
    }
    uint32_t h = ((uint32_t)e << 10) | (mant >> 13), rem = mant & 0x1FFF;
    if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) h++; // a carry may reach inf: correct
    return (uint16_t)(sign | h);
}

// ---------------------------------------------------------------------------
// Name hash (duplicate detection and lookup; open addressing over indices)
// ---------------------------------------------------------------------------

typedef struct {
    int64_t *slot; // (cap) index + 1; 0 = empty
    uint64_t cap;  // power of two, >= 2 * count
} NameSet;

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull; // FNV-1a
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h ^ (h >> 29);
}

static void nameset_init(NameSet *h, int64_t n)
{
    h->cap = 16;
    while (h->cap < 2 * (uint64_t)n) h->cap *= 2;
    h->slot = xcalloc(h->cap, sizeof *h->slot);
}

// Looks `name` up among names[]; inserts index `idx` when absent (idx >= 0). Returns the index
// already present, or -1.
static int64_t nameset_put(NameSet *h, const char *const *names, size_t stride, const char *name,
                           int64_t idx)
{
    uint64_t i = hash_str(name) & (h->cap - 1);
    for (; h->slot[i]; i = (i + 1) & (h->cap - 1)) {
        int64_t j = h->slot[i] - 1;
        const char *other = *(const char *const *)((const char *)names + (size_t)j * stride);
        if (strcmp(other, name) == 0) return j;
    }
    if (idx >= 0) h->slot[i] = idx + 1;
    return -1;
}

// ---------------------------------------------------------------------------
// Reader
// ---------------------------------------------------------------------------

typedef struct {
    const char *key;          // NUL-terminated copy (in TfGguf.strings)
    uint32_t type;            // TfGgufValType
    uint32_t arr_type;        // element type when type == ARRAY
    int64_t count;            // elements when ARRAY, else 1
    const uint8_t *val;       // the value (scalar bytes; a string's length prefix; an
                              // array's first element)
    const uint8_t **str_at;   // arrays of strings: each element's length prefix
} Kv;

struct TfGguf {
    char *path;
    const uint8_t *map;
    size_t size;
    int version;
    uint32_t alignment;
    uint64_t data_start;
    int64_t n_kv, n_tensors;
    Kv *kv;
    TfGgufTensor *tensors;
    const char **tensor_name; // (n_tensors) pointers to tensors[i].name, for the name set
    NameSet kv_set, tensor_set;
    char *strings; // every key, NUL-terminated, concatenated
};

typedef struct {
    const uint8_t *p;
    uint64_t size, pos;
    const char *path;
} Cur;

static int truncated(const Cur *c, uint64_t need, const char *what)
{
    return err_set(ERR_TRUNCATED, "%s: the file ends at byte %llu, inside %s (at byte %llu, "
                   "%llu bytes needed); hint: the file is cut short (incomplete download?)",
                   c->path, (unsigned long long)c->size, what, (unsigned long long)c->pos,
                   (unsigned long long)need);
}

static uint64_t left(const Cur *c)
{
    return c->size - c->pos;
}

static int take(Cur *c, void *out, uint64_t n, const char *what)
{
    if (left(c) < n) return truncated(c, n, what);
    memcpy(out, c->p + c->pos, (size_t)n);
    c->pos += n;
    return ERR_OK;
}

// A GGUF string: u64 length + bytes. Checks the length against the bytes left and the cap
// `max`; returns a pointer into the file in *s.
static int take_str(Cur *c, const uint8_t **s, uint64_t *len, uint64_t max, const char *what)
{
    uint64_t at = c->pos;
    int rc = take(c, len, 8, what);
    if (rc != ERR_OK) return rc;
    if (*len > left(c)) {
        c->pos = at;
        return truncated(c, 8 + *len, what);
    }
    if (*len > max)
        return err_set(ERR_RANGE, "%s: %s at byte %llu is %llu bytes long (at most %llu "
                       "accepted); hint: the length field is corrupt", c->path, what,
                       (unsigned long long)at, (unsigned long long)*len,
                       (unsigned long long)max);
    *s = c->p + c->pos;
    c->pos += *len;
    return ERR_OK;
}

// Parses one metadata value of type `type` (after its type field), checking every size.
static int parse_value(Cur *c, Kv *kv, const char *key)
{
    uint64_t at = c->pos;
    if (kv->type >= TF_GGUF_VAL_COUNT)
        return err_set(ERR_FORMAT, "%s: key \"%s\" has value type %u (byte %llu); hint: GGUF "
                       "value types are 0..12, the file is corrupt", c->path, key, kv->type,
                       (unsigned long long)at - 4);
    kv->count = 1;
    kv->val = c->p + c->pos;
    if (kv->type == TF_GGUF_VAL_STRING) {
        const uint8_t *s;
        uint64_t len;
        return take_str(c, &s, &len, UINT64_MAX, "a string value");
    }
    if (kv->type != TF_GGUF_VAL_ARRAY) {
        uint64_t n = val_size[kv->type];
        if (left(c) < n) return truncated(c, n, "a metadata value");
        if (kv->type == TF_GGUF_VAL_BOOL && c->p[c->pos] > 1)
            return err_set(ERR_FORMAT, "%s: key \"%s\": bool value %u at byte %llu; hint: a "
                           "GGUF bool is 0 or 1", c->path, key, c->p[c->pos],
                           (unsigned long long)c->pos);
        c->pos += n;
        return ERR_OK;
    }
    uint64_t count;
    int rc = take(c, &kv->arr_type, 4, "an array's element type");
    if (rc == ERR_OK) rc = take(c, &count, 8, "an array's count");
    if (rc != ERR_OK) return rc;
    if (kv->arr_type >= TF_GGUF_VAL_COUNT || kv->arr_type == TF_GGUF_VAL_ARRAY)
        return err_set(ERR_FORMAT, "%s: key \"%s\": array element type %u (%s) at byte %llu; "
                       "hint: elements are scalars or strings (nested arrays are not "
                       "supported)", c->path, key, kv->arr_type,
                       tf_gguf_val_type_name(kv->arr_type), (unsigned long long)at);
    uint64_t esize = kv->arr_type == TF_GGUF_VAL_STRING ? 8 : val_size[kv->arr_type];
    if (count > left(c) / esize)
        return err_set(ERR_RANGE, "%s: key \"%s\": array of %llu %s elements at byte %llu does "
                       "not fit in the %llu bytes left; hint: the count is corrupt or the "
                       "file is truncated", c->path, key, (unsigned long long)count,
                       val_name[kv->arr_type], (unsigned long long)at,
                       (unsigned long long)left(c));
    kv->count = (int64_t)count;
    kv->val = c->p + c->pos;
    if (kv->arr_type != TF_GGUF_VAL_STRING) {
        if (kv->arr_type == TF_GGUF_VAL_BOOL)
            for (uint64_t i = 0; i < count; i++)
                if (c->p[c->pos + i] > 1)
                    return err_set(ERR_FORMAT, "%s: key \"%s\": element %llu is bool %u; "
                                   "hint: a GGUF bool is 0 or 1", c->path, key,
                                   (unsigned long long)i, c->p[c->pos + i]);
        c->pos += count * esize;
        return ERR_OK;
    }
    kv->str_at = xmalloc((count ? count : 1) * sizeof *kv->str_at);
    for (uint64_t i = 0; i < count; i++) {
        const uint8_t *s;
        uint64_t len;
        kv->str_at[i] = c->p + c->pos;
        rc = take_str(c, &s, &len, UINT64_MAX, "a string in an array");
        if (rc != ERR_OK) return rc;
    }
    return ERR_OK;
}

static int parse_kvs(Cur *c, TfGguf *g)
{
    // Keys are copied NUL-terminated; their total is bounded by the file size.
    g->kv = xcalloc((size_t)(g->n_kv ? g->n_kv : 1), sizeof *g->kv);
    g->strings = xmalloc(c->size + 1);
    nameset_init(&g->kv_set, g->n_kv);
    size_t sw = 0;
    for (int64_t i = 0; i < g->n_kv; i++) {
        Kv *kv = &g->kv[i];
        const uint8_t *key;
        uint64_t len, at = c->pos;
        int rc = take_str(c, &key, &len, 65535, "a metadata key");
        if (rc != ERR_OK) return rc;
        if (len == 0 || memchr(key, 0, (size_t)len))
            return err_set(ERR_FORMAT, "%s: metadata key %lld at byte %llu is %s; hint: keys "
                           "are non-empty text", c->path, (long long)i,
                           (unsigned long long)at, len ? "has a NUL byte" : "empty");
        char *k = g->strings + sw;
        memcpy(k, key, (size_t)len);
        k[len] = 0;
        sw += (size_t)len + 1;
        kv->key = k;
        if (nameset_put(&g->kv_set, (const char *const *)&g->kv[0].key, sizeof *g->kv, k, i) >= 0)
            return err_set(ERR_FORMAT, "%s: metadata key \"%s\" appears twice (second at byte "
                           "%llu); hint: keys must be unique", c->path, k,
                           (unsigned long long)at);
        rc = take(c, &kv->type, 4, "a metadata value type");
        if (rc == ERR_OK) rc = parse_value(c, kv, k);
        if (rc != ERR_OK) return rc;
    }
    return ERR_OK;
}

// The alignment from "general.alignment" (u32, a power of two), else the default.
static int read_alignment(TfGguf *g)
{
    g->alignment = TF_GGUF_DEFAULT_ALIGNMENT;
    int64_t i = tf_gguf_find_kv(g, "general.alignment");
    if (i < 0) return ERR_OK;
    if (g->kv[i].type != TF_GGUF_VAL_U32)
        return err_set(ERR_FORMAT, "%s: general.alignment is a %s; hint: it must be a u32",
                       g->path, val_name[g->kv[i].type]);
    uint32_t a;
    memcpy(&a, g->kv[i].val, 4);
    if (a == 0 || (a & (a - 1)) != 0 || a > (1u << 24))
        return err_set(ERR_FORMAT, "%s: general.alignment = %u; hint: it must be a power of "
                       "two (32 by default)", g->path, a);
    g->alignment = a;
    return ERR_OK;
}

static int parse_tensor_infos(Cur *c, TfGguf *g)
{
    g->tensors = xcalloc((size_t)(g->n_tensors ? g->n_tensors : 1), sizeof *g->tensors);
    g->tensor_name = xcalloc((size_t)(g->n_tensors ? g->n_tensors : 1), sizeof *g->tensor_name);
    nameset_init(&g->tensor_set, g->n_tensors);
    for (int64_t i = 0; i < g->n_tensors; i++) {
        TfGgufTensor *t = &g->tensors[i];
        const uint8_t *name;
        uint64_t len, at = c->pos;
        int rc = take_str(c, &name, &len, UINT64_MAX, "a tensor name");
        if (rc != ERR_OK) return rc;
        if (len == 0 || len >= TF_GGUF_MAX_NAME || memchr(name, 0, (size_t)len))
            return err_set(ERR_FORMAT, "%s: tensor %lld at byte %llu: the name is %llu bytes%s; "
                           "hint: names are 1..%d bytes of text", c->path, (long long)i,
                           (unsigned long long)at, (unsigned long long)len,
                           len && len < TF_GGUF_MAX_NAME ? " with a NUL byte" : "",
                           TF_GGUF_MAX_NAME - 1);
        memcpy(t->name, name, (size_t)len);
        t->name[len] = 0;
        g->tensor_name[i] = t->name;
        if (nameset_put(&g->tensor_set, g->tensor_name, sizeof *g->tensor_name, t->name, i) >= 0)
            return err_set(ERR_FORMAT, "%s: tensor \"%s\" appears twice (second at byte %llu); "
                           "hint: tensor names must be unique", c->path, t->name,
                           (unsigned long long)at);
        uint32_t n_dims, type;
        if ((rc = take(c, &n_dims, 4, "a tensor's n_dims")) != ERR_OK) return rc;
        if (n_dims < 1 || n_dims > TF_GGUF_MAX_DIMS)
            return err_set(ERR_FORMAT, "%s: tensor \"%s\" has n_dims = %u; hint: 1..%d", c->path,
                           t->name, n_dims, TF_GGUF_MAX_DIMS);
        t->n_dims = (int)n_dims;
        t->n_elem = 1;
        for (int d = 0; d < TF_GGUF_MAX_DIMS; d++) t->ne[d] = 1;
        for (uint32_t d = 0; d < n_dims; d++) {
            if ((rc = take(c, &t->ne[d], 8, "a tensor dimension")) != ERR_OK) return rc;
            // Each element takes at least a byte of data, so no valid tensor has more
            // elements than the file has bytes: that bound also rules out overflow.
            if (t->ne[d] <= 0 || t->ne[d] > (int64_t)c->size / t->n_elem)
                return err_set(ERR_RANGE, "%s: tensor \"%s\": dimension %u is %lld (elements "
                               "so far %lld, file %llu bytes); hint: dims must be > 0 and the "
                               "data must fit in the file", c->path, t->name, d,
                               (long long)t->ne[d], (long long)t->n_elem,
                               (unsigned long long)c->size);
            t->n_elem *= t->ne[d];
        }
        if ((rc = take(c, &type, 4, "a tensor type")) != ERR_OK) return rc;
        if (!type_supported(type))
            return err_set(ERR_FORMAT, "%s: tensor \"%s\": unsupported tensor type %s (%u); "
                           "hint: the engine reads F32, F16 and Q8_0 (re-quantise with "
                           "llama-quantize to Q8_0 or convert to F16)", c->path, t->name,
                           tf_gguf_type_name(type), type);
        t->type = (TfGgufType)type;
        if (type == TF_GGUF_Q8_0 && t->ne[0] % TF_GGUF_Q8_0_BLOCK != 0)
            return err_set(ERR_SHAPE, "%s: tensor \"%s\" is Q8_0 with ne[0] = %lld; hint: Q8_0 "
                           "rows are whole blocks of 32", c->path, t->name, (long long)t->ne[0]);
        t->nbytes = tf_gguf_type_nbytes(t->type, (uint64_t)t->n_elem);
        if ((rc = take(c, &t->offset, 8, "a tensor offset")) != ERR_OK) return rc;
        if (t->offset % g->alignment != 0)
            return err_set(ERR_FORMAT, "%s: tensor \"%s\": offset %llu is not a multiple of the "
                           "alignment %u; hint: the file is corrupt", c->path, t->name,
                           (unsigned long long)t->offset, g->alignment);
    }
    return ERR_OK;
}

static int cmp_offset(const void *a, const void *b)
{
    const TfGgufTensor *x = *(const TfGgufTensor *const *)a, *y = *(const TfGgufTensor *const *)b;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

// Every tensor's bytes inside the data section, and no two sharing a byte.
static int check_data(TfGguf *g)
{
    uint64_t data_bytes = g->size - g->data_start;
    for (int64_t i = 0; i < g->n_tensors; i++) {
        TfGgufTensor *t = &g->tensors[i];
        if (t->offset > data_bytes || t->nbytes > data_bytes - t->offset)
            return err_set(ERR_RANGE, "%s: tensor \"%s\": bytes %llu..%llu of the data section "
                           "are outside the file (data section %llu bytes from byte %llu); "
                           "hint: the file is truncated or the offset is corrupt", g->path,
                           t->name, (unsigned long long)t->offset,
                           (unsigned long long)(t->offset + t->nbytes),
                           (unsigned long long)data_bytes, (unsigned long long)g->data_start);
        t->data = g->map + g->data_start + t->offset;
    }
    if (g->n_tensors < 2) return ERR_OK;
    TfGgufTensor **by_off = xmalloc((size_t)g->n_tensors * sizeof *by_off);
    for (int64_t i = 0; i < g->n_tensors; i++) by_off[i] = &g->tensors[i];
    qsort(by_off, (size_t)g->n_tensors, sizeof *by_off, cmp_offset);
    int rc = ERR_OK;
    for (int64_t i = 0; i + 1 < g->n_tensors && rc == ERR_OK; i++)
        if (by_off[i]->offset + by_off[i]->nbytes > by_off[i + 1]->offset)
            rc = err_set(ERR_FORMAT, "%s: tensors \"%s\" (offset %llu, %llu bytes) and \"%s\" "
                         "(offset %llu) overlap; hint: the tensor table is corrupt", g->path,
                         by_off[i]->name, (unsigned long long)by_off[i]->offset,
                         (unsigned long long)by_off[i]->nbytes, by_off[i + 1]->name,
                         (unsigned long long)by_off[i + 1]->offset);
    free(by_off);
    return rc;
}

static int parse(TfGguf *g)
{
    Cur c = {.p = g->map, .size = g->size, .pos = 0, .path = g->path};
    char magic[4];
    int rc = take(&c, magic, 4, "the magic");
    if (rc != ERR_OK) return rc;
    if (memcmp(magic, TF_GGUF_MAGIC, 4) != 0)
        return err_set(ERR_FORMAT, "%s: bad magic %02x %02x %02x %02x (expected \"GGUF\"); "
                       "hint: not a GGUF file (a .safetensors or .bin checkpoint?)", g->path,
                       (uint8_t)magic[0], (uint8_t)magic[1], (uint8_t)magic[2],
                       (uint8_t)magic[3]);
    uint32_t version;
    if ((rc = take(&c, &version, 4, "the version")) != ERR_OK) return rc;
    if (version != 2 && version != 3)
        return err_set(ERR_FORMAT, "%s: GGUF version %u; hint: the engine reads versions 2 and "
                       "3%s", g->path, version,
                       version == 1 ? " (re-convert this v1 file)" :
                       version > 0xFFFF ? " (a big-endian file?)" : "");
    g->version = (int)version;
    if ((rc = take(&c, &g->n_tensors, 8, "the tensor count")) != ERR_OK) return rc;
    if ((rc = take(&c, &g->n_kv, 8, "the metadata count")) != ERR_OK) return rc;
    // Smallest encodings: a KV is 8 + 1 (key) + 4 (type) + 1 (u8) = 14 bytes, a tensor info
    // 8 + 1 + 4 + 8 + 4 + 8 = 33 bytes. Counts beyond what the file can hold are corrupt.
    if (g->n_kv < 0 || (uint64_t)g->n_kv > left(&c) / 14 || g->n_tensors < 0 ||
        (uint64_t)g->n_tensors > left(&c) / 33 ||
        (uint64_t)g->n_kv * 14 + (uint64_t)g->n_tensors * 33 > left(&c))
        return err_set(ERR_RANGE, "%s: %lld tensors and %lld metadata entries cannot fit in "
                       "%llu bytes; hint: the header counts are corrupt", g->path,
                       (long long)g->n_tensors, (long long)g->n_kv,
                       (unsigned long long)g->size);
    if ((rc = parse_kvs(&c, g)) != ERR_OK) return rc;
    if ((rc = read_alignment(g)) != ERR_OK) return rc;
    if ((rc = parse_tensor_infos(&c, g)) != ERR_OK) return rc;
    uint64_t a = g->alignment;
    g->data_start = (c.pos + a - 1) / a * a;
    if (g->n_tensors > 0 && g->data_start > g->size)
        return err_set(ERR_TRUNCATED, "%s: the data section would start at byte %llu, past the "
                       "end (%llu bytes); hint: the file is truncated", g->path,
                       (unsigned long long)g->data_start, (unsigned long long)g->size);
    if (g->data_start > g->size) g->data_start = g->size;
    return check_data(g);
}

int tf_gguf_open(const char *path, TfGguf **out)
{
    CHECK(path && out, "tf_gguf_open: NULL argument");
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return err_set(ERR_IO, "cannot open %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return err_set(ERR_IO, "cannot stat %s: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return err_set(ERR_IO, "%s is not a regular file", path);
    }
    if (st.st_size < 24) {
        close(fd);
        return err_set(ERR_TRUNCATED, "%s: %lld bytes, shorter than a GGUF header (24 bytes); "
                       "hint: the file is empty or cut short", path, (long long)st.st_size);
    }
    void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (map == MAP_FAILED) return err_set(ERR_IO, "cannot map %s: %s", path, strerror(e));
    TfGguf *g = xcalloc(1, sizeof *g);
    g->path = xstrdup(path);
    g->map = map;
    g->size = (size_t)st.st_size;
    int rc = parse(g);
    if (rc != ERR_OK) {
        tf_gguf_close(g);
        return rc;
    }
    *out = g;
    return ERR_OK;
}

void tf_gguf_close(TfGguf *g)
{
    if (!g) return;
    if (g->map) munmap((void *)g->map, g->size);
    if (g->kv)
        for (int64_t i = 0; i < g->n_kv; i++) free(g->kv[i].str_at);
    free(g->kv);
    free(g->tensors);
    free(g->tensor_name);
    free(g->kv_set.slot);
    free(g->tensor_set.slot);
    free(g->strings);
    free(g->path);
    free(g);
}

const char *tf_gguf_path(const TfGguf *g)
{
    return g->path;
}

int tf_gguf_version(const TfGguf *g)
{
    return g->version;
}

uint32_t tf_gguf_alignment(const TfGguf *g)
{
    return g->alignment;
}

int64_t tf_gguf_n_kv(const TfGguf *g)
{
    return g->n_kv;
}

const char *tf_gguf_kv_key(const TfGguf *g, int64_t i)
{
    CHECK(i >= 0 && i < g->n_kv, "tf_gguf_kv_key: index %lld of %lld", (long long)i,
          (long long)g->n_kv);
    return g->kv[i].key;
}

TfGgufValType tf_gguf_kv_type(const TfGguf *g, int64_t i)
{
    CHECK(i >= 0 && i < g->n_kv, "tf_gguf_kv_type: index %lld of %lld", (long long)i,
          (long long)g->n_kv);
    return (TfGgufValType)g->kv[i].type;
}

int64_t tf_gguf_find_kv(const TfGguf *g, const char *key)
{
    CHECK(key, "tf_gguf_find_kv: NULL key");
    // The set is only complete once parsing is done; during parsing (read_alignment) it holds
    // every key parsed so far, which is all of them by then.
    return nameset_put((NameSet *)&g->kv_set, (const char *const *)&g->kv[0].key, sizeof *g->kv,
                       key, -1);
}

static int get_typed(const TfGguf *g, const char *key, uint32_t type, const Kv **out)
{
    int64_t i = tf_gguf_find_kv(g, key);
    if (i < 0)
        return err_set(ERR_NOTFOUND, "%s: metadata key \"%s\" is missing; hint: was the file "
                       "made for this architecture?", g->path, key);
    if (g->kv[i].type != type)
        return err_set(ERR_FORMAT, "%s: metadata key \"%s\" is a %s, expected a %s; hint: "
                       "GGUF types are checked strictly", g->path, key,
                       val_name[g->kv[i].type], val_name[type]);
    *out = &g->kv[i];
    return ERR_OK;
}

int tf_gguf_get_u32(const TfGguf *g, const char *key, uint32_t *out)
{
    const Kv *kv;
    int rc = get_typed(g, key, TF_GGUF_VAL_U32, &kv);
    if (rc == ERR_OK) memcpy(out, kv->val, 4);
    return rc;
}

int tf_gguf_get_f32(const TfGguf *g, const char *key, float *out)
{
    const Kv *kv;
    int rc = get_typed(g, key, TF_GGUF_VAL_F32, &kv);
    if (rc == ERR_OK) memcpy(out, kv->val, 4);
    return rc;
}

int tf_gguf_get_bool(const TfGguf *g, const char *key, bool *out)
{
    const Kv *kv;
    int rc = get_typed(g, key, TF_GGUF_VAL_BOOL, &kv);
    if (rc == ERR_OK) *out = kv->val[0] != 0;
    return rc;
}

int tf_gguf_get_str(const TfGguf *g, const char *key, const char **s, size_t *len)
{
    const Kv *kv;
    int rc = get_typed(g, key, TF_GGUF_VAL_STRING, &kv);
    if (rc != ERR_OK) return rc;
    uint64_t n;
    memcpy(&n, kv->val, 8);
    *s = (const char *)kv->val + 8;
    *len = (size_t)n;
    return ERR_OK;
}

int tf_gguf_get_arr(const TfGguf *g, const char *key, TfGgufValType *elem_type, int64_t *count)
{
    const Kv *kv;
    int rc = get_typed(g, key, TF_GGUF_VAL_ARRAY, &kv);
    if (rc != ERR_OK) return rc;
    *elem_type = (TfGgufValType)kv->arr_type;
    *count = kv->count;
    return ERR_OK;
}

const char *tf_gguf_arr_str(const TfGguf *g, int64_t kv, int64_t i, size_t *len)
{
    CHECK(kv >= 0 && kv < g->n_kv && g->kv[kv].type == TF_GGUF_VAL_ARRAY &&
          g->kv[kv].arr_type == TF_GGUF_VAL_STRING, "tf_gguf_arr_str: key %lld is not an array "
          "of strings", (long long)kv);
    CHECK(i >= 0 && i < g->kv[kv].count, "tf_gguf_arr_str: index %lld of %lld", (long long)i,
          (long long)g->kv[kv].count);
    uint64_t n;
    memcpy(&n, g->kv[kv].str_at[i], 8);
    *len = (size_t)n;
    return (const char *)g->kv[kv].str_at[i] + 8;
}

double tf_gguf_arr_num(const TfGguf *g, int64_t kv, int64_t i)
{
    CHECK(kv >= 0 && kv < g->n_kv && g->kv[kv].type == TF_GGUF_VAL_ARRAY &&
          g->kv[kv].arr_type != TF_GGUF_VAL_STRING, "tf_gguf_arr_num: key %lld is not an array "
          "of numbers", (long long)kv);
    CHECK(i >= 0 && i < g->kv[kv].count, "tf_gguf_arr_num: index %lld of %lld", (long long)i,
          (long long)g->kv[kv].count);
    const uint8_t *p = g->kv[kv].val + (size_t)i * val_size[g->kv[kv].arr_type];
    switch ((TfGgufValType)g->kv[kv].arr_type) {
    case TF_GGUF_VAL_U8: return *p;
    case TF_GGUF_VAL_BOOL: return *p;
    case TF_GGUF_VAL_I8: return (int8_t)*p;
#define NUM(T) { T v; memcpy(&v, p, sizeof v); return (double)v; }
    case TF_GGUF_VAL_U16: NUM(uint16_t)
    case TF_GGUF_VAL_I16: NUM(int16_t)
    case TF_GGUF_VAL_U32: NUM(uint32_t)
    case TF_GGUF_VAL_I32: NUM(int32_t)
    case TF_GGUF_VAL_F32: NUM(float)
    case TF_GGUF_VAL_U64: NUM(uint64_t)
    case TF_GGUF_VAL_I64: NUM(int64_t)
    case TF_GGUF_VAL_F64: NUM(double)
#undef NUM
    default: break;
    }
    CHECK(0, "tf_gguf_arr_num: element type %u", g->kv[kv].arr_type);
    return 0;
}

int64_t tf_gguf_n_tensors(const TfGguf *g)
{
    return g->n_tensors;
}

const TfGgufTensor *tf_gguf_tensor(const TfGguf *g, int64_t i)
{
    CHECK(i >= 0 && i < g->n_tensors, "tf_gguf_tensor: index %lld of %lld", (long long)i,
          (long long)g->n_tensors);
    return &g->tensors[i];
}

const TfGgufTensor *tf_gguf_find_tensor(const TfGguf *g, const char *name)
{
    CHECK(name, "tf_gguf_find_tensor: NULL name");
    int64_t i = nameset_put((NameSet *)&g->tensor_set, g->tensor_name, sizeof *g->tensor_name,
                            name, -1);
    return i < 0 ? NULL : &g->tensors[i];
}

void tf_gguf_tensor_to_f32(const TfGgufTensor *t, float *out)
{
    const uint8_t *p = t->data;
    switch (t->type) {
    case TF_GGUF_F32: memcpy(out, p, (size_t)t->n_elem * 4); return;
    case TF_GGUF_F16:
        for (int64_t i = 0; i < t->n_elem; i++) {
            uint16_t h;
            memcpy(&h, p + 2 * i, 2);
            out[i] = tf_f16_to_f32(h);
        }
        return;
    case TF_GGUF_Q8_0:
        // Block b: bytes [34 b, 34 b + 2) = f16 scale d, then 32 int8 q; x = d * q.
        for (int64_t b = 0; b < t->n_elem / TF_GGUF_Q8_0_BLOCK; b++) {
            const uint8_t *blk = p + b * (2 + TF_GGUF_Q8_0_BLOCK);
            uint16_t h;
            memcpy(&h, blk, 2);
            float d = tf_f16_to_f32(h);
            for (int j = 0; j < TF_GGUF_Q8_0_BLOCK; j++)
                out[b * TF_GGUF_Q8_0_BLOCK + j] = d * (float)(int8_t)blk[2 + j];
        }
        return;
    }
    CHECK(0, "tf_gguf_tensor_to_f32: type %d", (int)t->type);
}

// ---------------------------------------------------------------------------
// Writer
// ---------------------------------------------------------------------------

typedef struct {
    char name[TF_GGUF_MAX_NAME];
    TfGgufType type;
    int n_dims;
    int64_t ne[TF_GGUF_MAX_DIMS];
    uint64_t n_elem, nbytes;
    const void *raw;   // already encoded, or
    const float *src;  // floats to convert while writing
} WTensor;

struct TfGgufWriter {
    uint8_t *kv;       // the encoded metadata section
    size_t kv_len, kv_cap;
    char **keys;       // for the duplicate check
    int64_t n_kv, keys_cap;
    uint32_t alignment;
    WTensor *t;
    int64_t n_t, t_cap;
};

TfGgufWriter *tf_gguf_writer_create(void)
{
    TfGgufWriter *w = xcalloc(1, sizeof *w);
    w->alignment = TF_GGUF_DEFAULT_ALIGNMENT;
    return w;
}

void tf_gguf_writer_free(TfGgufWriter *w)
{
    if (!w) return;
    for (int64_t i = 0; i < w->n_kv; i++) free(w->keys[i]);
    free(w->keys);
    free(w->kv);
    free(w->t);
    free(w);
}

static void put(TfGgufWriter *w, const void *p, size_t n)
{
    if (w->kv_len + n > w->kv_cap) {
        w->kv_cap = w->kv_cap ? w->kv_cap : 4096;
        while (w->kv_len + n > w->kv_cap) w->kv_cap *= 2;
        w->kv = xrealloc(w->kv, w->kv_cap);
    }
    memcpy(w->kv + w->kv_len, p, n);
    w->kv_len += n;
}

static void put_str(TfGgufWriter *w, const char *s, size_t n)
{
    uint64_t len = n;
    put(w, &len, 8);
    put(w, s, n);
}

static void put_key(TfGgufWriter *w, const char *key, uint32_t type)
{
    CHECK(w && key && *key, "tf_gguf_writer_add: NULL writer or empty key");
    for (int64_t i = 0; i < w->n_kv; i++)
        CHECK(strcmp(w->keys[i], key) != 0, "tf_gguf_writer_add: key \"%s\" added twice", key);
    if (w->n_kv == w->keys_cap) {
        w->keys_cap = w->keys_cap ? 2 * w->keys_cap : 32;
        w->keys = xrealloc(w->keys, (size_t)w->keys_cap * sizeof *w->keys);
    }
    w->keys[w->n_kv++] = xstrdup(key);
    put_str(w, key, strlen(key));
    put(w, &type, 4);
}

void tf_gguf_writer_add_u32(TfGgufWriter *w, const char *key, uint32_t v)
{
    if (strcmp(key, "general.alignment") == 0) {
        CHECK(v && (v & (v - 1)) == 0, "general.alignment = %u is not a power of two", v);
        w->alignment = v;
    }
    put_key(w, key, TF_GGUF_VAL_U32);
    put(w, &v, 4);
}

void tf_gguf_writer_add_i32(TfGgufWriter *w, const char *key, int32_t v)
{
    put_key(w, key, TF_GGUF_VAL_I32);
    put(w, &v, 4);
}

void tf_gguf_writer_add_f32(TfGgufWriter *w, const char *key, float v)
{
    put_key(w, key, TF_GGUF_VAL_F32);
    put(w, &v, 4);
}

void tf_gguf_writer_add_bool(TfGgufWriter *w, const char *key, bool v)
{
    uint8_t b = v;
    put_key(w, key, TF_GGUF_VAL_BOOL);
    put(w, &b, 1);
}

void tf_gguf_writer_add_str(TfGgufWriter *w, const char *key, const char *s)
{
    CHECK(s, "tf_gguf_writer_add_str: NULL string for \"%s\"", key);
    put_key(w, key, TF_GGUF_VAL_STRING);
    put_str(w, s, strlen(s));
}

static void put_arr_head(TfGgufWriter *w, const char *key, uint32_t elem, int64_t n)
{
    CHECK(n >= 0, "tf_gguf_writer_add_arr: count %lld", (long long)n);
    put_key(w, key, TF_GGUF_VAL_ARRAY);
    uint64_t count = (uint64_t)n;
    put(w, &elem, 4);
    put(w, &count, 8);
}

void tf_gguf_writer_add_arr_str(TfGgufWriter *w, const char *key, const char *const *strs,
                                const size_t *lens, int64_t n)
{
    put_arr_head(w, key, TF_GGUF_VAL_STRING, n);
    for (int64_t i = 0; i < n; i++) put_str(w, strs[i], lens ? lens[i] : strlen(strs[i]));
}

void tf_gguf_writer_add_arr_i32(TfGgufWriter *w, const char *key, const int32_t *v, int64_t n)
{
    put_arr_head(w, key, TF_GGUF_VAL_I32, n);
    if (n) put(w, v, (size_t)n * 4);
}

void tf_gguf_writer_add_arr_f32(TfGgufWriter *w, const char *key, const float *v, int64_t n)
{
    put_arr_head(w, key, TF_GGUF_VAL_F32, n);
    if (n) put(w, v, (size_t)n * 4);
}

static WTensor *add_tensor(TfGgufWriter *w, const char *name, TfGgufType type, int n_dims,
                           const int64_t *ne)
{
    CHECK(w && name && ne, "tf_gguf_writer_add_tensor: NULL argument");
    CHECK(*name && strlen(name) < TF_GGUF_MAX_NAME, "tensor name \"%s\": 1..%d bytes", name,
          TF_GGUF_MAX_NAME - 1);
    CHECK(type_supported(type), "tensor \"%s\": type %d", name, (int)type);
    CHECK(n_dims >= 1 && n_dims <= TF_GGUF_MAX_DIMS, "tensor \"%s\": n_dims %d", name, n_dims);
    for (int64_t i = 0; i < w->n_t; i++)
        CHECK(strcmp(w->t[i].name, name) != 0, "tensor \"%s\" added twice", name);
    if (w->n_t == w->t_cap) {
        w->t_cap = w->t_cap ? 2 * w->t_cap : 64;
        w->t = xrealloc(w->t, (size_t)w->t_cap * sizeof *w->t);
    }
    WTensor *t = &w->t[w->n_t++];
    memset(t, 0, sizeof *t);
    strcpy(t->name, name);
    t->type = type;
    t->n_dims = n_dims;
    t->n_elem = 1;
    for (int d = 0; d < TF_GGUF_MAX_DIMS; d++) t->ne[d] = d < n_dims ? ne[d] : 1;
    for (int d = 0; d < n_dims; d++) {
        CHECK(ne[d] > 0, "tensor \"%s\": ne[%d] = %lld", name, d, (long long)ne[d]);
        t->n_elem *= (uint64_t)ne[d];
    }
    CHECK(type != TF_GGUF_Q8_0 || ne[0] % TF_GGUF_Q8_0_BLOCK == 0,
          "tensor \"%s\": Q8_0 needs ne[0] = %lld to be a multiple of 32", name,
          (long long)ne[0]);
    t->nbytes = tf_gguf_type_nbytes(type, t->n_elem);
    return t;
}

void tf_gguf_writer_add_tensor(TfGgufWriter *w, const char *name, TfGgufType type, int n_dims,
                               const int64_t *ne, const void *raw)
{
    CHECK(raw, "tf_gguf_writer_add_tensor: NULL data for \"%s\"", name);
    add_tensor(w, name, type, n_dims, ne)->raw = raw;
}

void tf_gguf_writer_add_tensor_f32(TfGgufWriter *w, const char *name, TfGgufType type,
                                   int n_dims, const int64_t *ne, const float *src)
{
    CHECK(src, "tf_gguf_writer_add_tensor_f32: NULL data for \"%s\"", name);
    add_tensor(w, name, type, n_dims, ne)->src = src;
}

static uint64_t pad_to(uint64_t x, uint64_t a)
{
    return (x + a - 1) / a * a;
}

static void write_zeros(FILE *fp, uint64_t n)
{
    static const uint8_t zeros[64];
    while (n) {
        size_t k = n < sizeof zeros ? (size_t)n : sizeof zeros;
        fwrite(zeros, 1, k, fp);
        n -= k;
    }
}

// Q8_0 (ggml's reference quantiser): per block of 32, d = max|x| / 127, q = round(x / d),
// d stored as f16. A block of zeros has d = 0 and q = 0.
static void quantize_q8_0_block(const float *x, uint8_t *out)
{
    float amax = 0.0f;
    for (int j = 0; j < TF_GGUF_Q8_0_BLOCK; j++) amax = fmaxf(amax, fabsf(x[j]));
    float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
    uint16_t h = tf_f32_to_f16(d);
    memcpy(out, &h, 2);
    for (int j = 0; j < TF_GGUF_Q8_0_BLOCK; j++) out[2 + j] = (uint8_t)(int8_t)roundf(x[j] * id);
}

// Converts and writes one tensor given as floats, a chunk at a time.
static void write_converted(FILE *fp, const WTensor *t)
{
    if (t->type == TF_GGUF_F32) {
        fwrite(t->src, 4, (size_t)t->n_elem, fp);
        return;
    }
    enum { CHUNK = 8192 }; // values per chunk, a multiple of the Q8_0 block
    uint8_t buf[CHUNK / TF_GGUF_Q8_0_BLOCK * (2 + TF_GGUF_Q8_0_BLOCK) > 2 * CHUNK ?
                CHUNK / TF_GGUF_Q8_0_BLOCK * (2 + TF_GGUF_Q8_0_BLOCK) : 2 * CHUNK];
    for (uint64_t i = 0; i < t->n_elem; i += CHUNK) {
        uint64_t n = t->n_elem - i < CHUNK ? t->n_elem - i : CHUNK;
        size_t bytes = 0;
        if (t->type == TF_GGUF_F16) {
            for (uint64_t j = 0; j < n; j++) {
                uint16_t h = tf_f32_to_f16(t->src[i + j]);
                memcpy(buf + 2 * j, &h, 2);
            }
            bytes = (size_t)n * 2;
        } else {
            for (uint64_t b = 0; b < n / TF_GGUF_Q8_0_BLOCK; b++)
                quantize_q8_0_block(t->src + i + b * TF_GGUF_Q8_0_BLOCK,
                                    buf + b * (2 + TF_GGUF_Q8_0_BLOCK));
            bytes = (size_t)(n / TF_GGUF_Q8_0_BLOCK) * (2 + TF_GGUF_Q8_0_BLOCK);
        }
        fwrite(buf, 1, bytes, fp);
    }
}

int tf_gguf_writer_write(const TfGgufWriter *w, const char *path)
{
    CHECK(w && path, "tf_gguf_writer_write: NULL argument");
    IoAtomic *f;
    int rc = io_atomic_open(path, &f);
    if (rc != ERR_OK) return rc;
    FILE *fp = io_atomic_fp(f);
    uint32_t version = TF_GGUF_VERSION;
    int64_t n_t = w->n_t, n_kv = w->n_kv;
    fwrite(TF_GGUF_MAGIC, 1, 4, fp);
    fwrite(&version, 4, 1, fp);
    fwrite(&n_t, 8, 1, fp);
    fwrite(&n_kv, 8, 1, fp);
    if (w->kv_len) fwrite(w->kv, 1, w->kv_len, fp);
    uint64_t pos = 24 + w->kv_len, off = 0;
    for (int64_t i = 0; i < w->n_t; i++) {
        const WTensor *t = &w->t[i];
        uint64_t len = strlen(t->name);
        uint32_t n_dims = (uint32_t)t->n_dims, type = (uint32_t)t->type;
        fwrite(&len, 8, 1, fp);
        fwrite(t->name, 1, (size_t)len, fp);
        fwrite(&n_dims, 4, 1, fp);
        fwrite(t->ne, 8, n_dims, fp);
        fwrite(&type, 4, 1, fp);
        fwrite(&off, 8, 1, fp); // offsets: the running sum of the padded sizes
        pos += 8 + len + 4 + 8 * n_dims + 4 + 8;
        off += pad_to(t->nbytes, w->alignment);
    }
    write_zeros(fp, pad_to(pos, w->alignment) - pos);
    for (int64_t i = 0; i < w->n_t; i++) {
        const WTensor *t = &w->t[i];
        if (t->raw) fwrite(t->raw, 1, (size_t)t->nbytes, fp);
        else write_converted(fp, t);
        write_zeros(fp, pad_to(t->nbytes, w->alignment) - t->nbytes);
    }
    return io_atomic_commit(f); // checks ferror, so a failed fwrite above is reported
}
