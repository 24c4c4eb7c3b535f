/*
 * idx.c: IDX reader and the Fashion-MNIST loader (see idx.h for the format).
 */
#include "datasets/idx.h"

#include "core/err.h"
#include "datasets/ds_internal.h"

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <zlib.h>

// The largest IDX payload accepted: 4 GiB is far beyond any data set loaded here, and a
// corrupt header claiming more would otherwise make us try to allocate it.
#define IDX_MAX_BYTES ((int64_t)1 << 32)

static const char *const fashion_names[DS_FASHION_CLASSES] = {
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot",
};

// ---------------------------------------------------------------------------
// Reading through zlib
// ---------------------------------------------------------------------------

// Reads up to n bytes of `what`; *got is how many arrived, fewer than n at the end of the file.
// A gzip stream that is corrupt is ERR_FORMAT; one that stops in the middle (zlib's Z_BUF_ERROR,
// "unexpected end of file") is ERR_TRUNCATED, also when it stops in its 8-byte trailer after
// all the data: then the CRC that vouches for the data is missing.
static int gz_read_full(gzFile f, const char *path, const char *what, void *buf, int64_t n,
                        int64_t *got)
{
    *got = 0;
    unsigned char *p = buf;
    while (*got < n) {
        int64_t want = n - *got;
        unsigned chunk = want > (1 << 30) ? (1u << 30) : (unsigned)want;
        int r = gzread(f, p + *got, chunk);
        // zlib reports a stream cut short either as -1 or as 0 bytes with an error pending.
        int zerr = Z_OK;
        const char *msg = r <= 0 ? gzerror(f, &zerr) : "";
        if (zerr == Z_BUF_ERROR)
            return err_set(ERR_TRUNCATED,
                           "idx: %s: gzip stream ends early, in the %s (%lld of "
                           "%lld bytes read); hint: the file is truncated, reinstall or "
                           "re-download it",
                           path, what, (long long)*got, (long long)n);
        if (r < 0 || zerr != Z_OK)
            return err_set(ERR_FORMAT,
                           "idx: %s: corrupt gzip data in the %s (%s); hint: the "
                           "file is damaged, reinstall or re-download it",
                           path, what, msg);
        if (r == 0) break;
        *got += r;
    }
    return ERR_OK;
}

static uint32_t be32(const unsigned char *b)
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static const char *idx_type_name(int t)
{
    switch (t) {
    case 0x08: return "uint8";
    case 0x09: return "int8";
    case 0x0B: return "int16";
    case 0x0C: return "int32";
    case 0x0D: return "float32";
    case 0x0E: return "float64";
    }
    return "unknown";
}

// ---------------------------------------------------------------------------
// IDX files
// ---------------------------------------------------------------------------

// The body of ds_idx_load once the file is open; the caller closes f and frees on failure.
static int idx_read(gzFile f, const char *path, DsIdx *out)
{
    unsigned char hdr[4 + 4 * DS_IDX_MAX_DIMS];
    int64_t got;
    int rc = gz_read_full(f, path, "magic", hdr, 4, &got);
    if (rc) return rc;
    if (got < 4)
        return err_set(ERR_TRUNCATED,
                       "idx: %s: file has %lld bytes, too short for the 4-byte "
                       "magic; hint: the file is truncated or empty",
                       path, (long long)got);
    uint32_t magic = be32(hdr);
    int type = hdr[2], ndim = hdr[3];
    if (hdr[0] != 0 || hdr[1] != 0)
        return err_set(ERR_FORMAT,
                       "idx: %s: magic 0x%08x at offset 0 does not start with two "
                       "zero bytes; hint: not an IDX file (MNIST-style images-idx3/labels-idx1)",
                       path, magic);
    if (type != 0x08)
        return err_set(ERR_FORMAT,
                       "idx: %s: magic 0x%08x has value type 0x%02x (%s), only "
                       "0x08 (uint8) is supported; hint: convert the file to uint8",
                       path, magic, type, idx_type_name(type));
    if (ndim < 1 || ndim > DS_IDX_MAX_DIMS)
        return err_set(ERR_FORMAT,
                       "idx: %s: magic 0x%08x has %d dims, expected 1..%d; hint: "
                       "the header is corrupt",
                       path, magic, ndim, DS_IDX_MAX_DIMS);

    rc = gz_read_full(f, path, "dims", hdr + 4, 4 * ndim, &got);
    if (rc) return rc;
    if (got < 4 * ndim)
        return err_set(ERR_TRUNCATED,
                       "idx: %s: file ends inside the dims header (%lld of %d "
                       "bytes); hint: the file is truncated",
                       path, (long long)got, 4 * ndim);
    int64_t size = 1;
    for (int d = 0; d < ndim; d++) {
        int64_t dim = be32(hdr + 4 + 4 * d);
        if (dim == 0)
            return err_set(ERR_RANGE,
                           "idx: %s: dims[%d] is 0 (at offset %d); hint: an empty "
                           "data set is not usable, the header is corrupt",
                           path, d, 4 + 4 * d);
        // dim < 2^32, so size * dim overflows int64 only after size passed the limit.
        size *= dim;
        if (size > IDX_MAX_BYTES)
            return err_set(ERR_RANGE,
                           "idx: %s: dims[0..%d] multiply past %lld bytes; hint: "
                           "the header is corrupt",
                           path, d, (long long)IDX_MAX_BYTES);
        out->dims[d] = dim;
    }
    out->ndim = ndim;
    out->size = size;
    out->data = xmalloc((size_t)size);
    rc = gz_read_full(f, path, "data", out->data, size, &got);
    if (rc) return rc;
    int64_t hdr_len = 4 + 4 * (int64_t)ndim;
    if (got < size)
        return err_set(ERR_TRUNCATED,
                       "idx: %s: data has %lld of %lld bytes the dims promise "
                       "(file offset %lld); hint: the file is truncated, reinstall it",
                       path, (long long)got, (long long)size, (long long)(hdr_len + got));
    unsigned char extra;
    rc = gz_read_full(f, path, "end of file", &extra, 1, &got);
    if (rc) return rc;
    if (got != 0)
        return err_set(ERR_FORMAT,
                       "idx: %s: trailing bytes after the %lld data bytes (offset "
                       "%lld); hint: the dims do not match the data, the header is corrupt",
                       path, (long long)size, (long long)(hdr_len + size));
    return ERR_OK;
}

int ds_idx_load(const char *path, DsIdx *out)
{
    CHECK(path != NULL && out != NULL, "ds_idx_load: path and out must not be NULL");
    memset(out, 0, sizeof *out);
    errno = 0;
    gzFile f = gzopen(path, "rb");
    if (!f)
        return err_set(ERR_IO, "idx: cannot open %s: %s; hint: check the path", path,
                       errno ? strerror(errno) : "zlib could not open it");
    gzbuffer(f, 1 << 17);
    int rc = idx_read(f, path, out);
    gzclose(f);
    if (rc != ERR_OK) ds_idx_free(out);
    return rc;
}

void ds_idx_free(DsIdx *x)
{
    if (!x) return;
    free(x->data);
    memset(x, 0, sizeof *x);
}

// ---------------------------------------------------------------------------
// Labelled image sets
// ---------------------------------------------------------------------------

int ds_images_load_files(const char *images_path, const char *labels_path, int n_classes,
                         DsImages *out)
{
    CHECK(out != NULL && n_classes > 0 && n_classes <= 256,
          "ds_images_load_files: out must not be NULL and n_classes in 1..256 (got %d)", n_classes);
    memset(out, 0, sizeof *out);
    DsIdx im = {0}, lb = {0};
    int rc = ds_idx_load(images_path, &im);
    if (rc) return rc;
    if (im.ndim != 3) {
        rc = err_set(ERR_FORMAT,
                     "idx: %s: magic 0x%08x has %d dims, images need 3 (magic "
                     "0x00000803); hint: is this a labels file passed as images?",
                     images_path, 0x800u | (unsigned)im.ndim, im.ndim);
        goto fail;
    }
    rc = ds_idx_load(labels_path, &lb);
    if (rc) goto fail;
    if (lb.ndim != 1) {
        rc = err_set(ERR_FORMAT,
                     "idx: %s: magic 0x%08x has %d dims, labels need 1 (magic "
                     "0x00000801); hint: is this an images file passed as labels?",
                     labels_path, 0x800u | (unsigned)lb.ndim, lb.ndim);
        goto fail;
    }
    if (lb.dims[0] != im.dims[0]) {
        rc = err_set(ERR_SHAPE,
                     "idx: %s has %lld labels but %s has %lld images; hint: the "
                     "two files are from different splits",
                     labels_path, (long long)lb.dims[0], images_path, (long long)im.dims[0]);
        goto fail;
    }
    for (int64_t i = 0; i < lb.size; i++) {
        if (lb.data[i] >= n_classes) {
            rc = err_set(ERR_RANGE,
                         "idx: %s: label[%lld] = %d (file offset %lld) is not a "
                         "class 0..%d; hint: the labels file is corrupt",
                         labels_path, (long long)i, lb.data[i], (long long)(8 + i), n_classes - 1);
            goto fail;
        }
    }
    out->n = im.dims[0];
    out->rows = im.dims[1];
    out->cols = im.dims[2];
    out->pixels = im.data;
    out->labels = lb.data;
    return ERR_OK;
fail:
    ds_idx_free(&im);
    ds_idx_free(&lb);
    return rc;
}

int ds_fashion_load(const char *split, DsImages *out)
{
    CHECK(split != NULL && out != NULL, "ds_fashion_load: split and out must not be NULL");
    memset(out, 0, sizeof *out);
    const char *stem;
    if (strcmp(split, "train") == 0)
        stem = "train";
    else if (strcmp(split, "test") == 0 || strcmp(split, "t10k") == 0)
        stem = "t10k";
    else
        return err_set(ERR_INVALID,
                       "fashion-mnist: unknown split '%s'; hint: use \"train\" or "
                       "\"test\"",
                       split);
    char ip[DS_PATH_MAX], lp[DS_PATH_MAX], rel[128];
    snprintf(rel, sizeof rel, "datasets/fashion-mnist/%s-images-idx3-ubyte.gz", stem);
    int rc = ds_data_path(ip, sizeof ip, rel);
    if (rc) return rc;
    snprintf(rel, sizeof rel, "datasets/fashion-mnist/%s-labels-idx1-ubyte.gz", stem);
    rc = ds_data_path(lp, sizeof lp, rel);
    if (rc) return rc;
    if ((rc = ds_require_file(ip, "Fashion-MNIST", "dataset-fashion-mnist"))) return rc;
    if ((rc = ds_require_file(lp, "Fashion-MNIST", "dataset-fashion-mnist"))) return rc;
    return ds_images_load_files(ip, lp, DS_FASHION_CLASSES, out);
}

void ds_images_free(DsImages *im)
{
    if (!im) return;
    free(im->pixels);
    free(im->labels);
    memset(im, 0, sizeof *im);
}

const char *ds_fashion_class_name(int label)
{
    CHECK(label >= 0 && label < DS_FASHION_CLASSES, "ds_fashion_class_name: label %d not in 0..9",
          label);
    return fashion_names[label];
}

// ---------------------------------------------------------------------------
// Pixels as floats
// ---------------------------------------------------------------------------

void ds_images_to_float(float *out, const DsImages *im, int64_t first, int64_t count)
{
    CHECK(im != NULL && first >= 0 && count >= 0 && first + count <= im->n,
          "ds_images_to_float: images %lld..%lld outside 0..%lld", (long long)first,
          (long long)(first + count - 1), im ? (long long)im->n - 1 : -1LL);
    int64_t D = im->rows * im->cols;
    const uint8_t *src = im->pixels + first * D;
    // A true division, not a multiply by 1/255: half of the 256 values would differ by one ulp
    // from what torchvision's ToTensor() (x / 255) gives, and comparisons with it are exact.
    for (int64_t i = 0; i < count * D; i++) out[i] = (float)src[i] / 255.0f;
}

void ds_images_gather(float *x, int32_t *y, const DsImages *im, const int64_t *idx, int64_t count)
{
    CHECK(im != NULL && idx != NULL && count >= 0, "ds_images_gather: bad arguments");
    int64_t D = im->rows * im->cols;
    for (int64_t b = 0; b < count; b++) {
        CHECK(idx[b] >= 0 && idx[b] < im->n, "ds_images_gather: idx[%lld] = %lld not in 0..%lld",
              (long long)b, (long long)idx[b], (long long)im->n - 1);
        ds_images_to_float(x + b * D, im, idx[b], 1);
        if (y) y[b] = im->labels[idx[b]];
    }
}
