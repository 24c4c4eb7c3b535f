/*
 * idx.h: IDX files (the MNIST family's format) and the Fashion-MNIST image set.
 *
 * IDX is the format Yann LeCun's MNIST and Zalando's Fashion-MNIST ship in. A file is a
 * 4-byte magic, then one big-endian uint32 per dimension, then the values in row-major order:
 *
 *     magic = 0x00 0x00 TYPE NDIM     TYPE 0x08 = uint8 (the only one used by these data sets)
 *     dims  = NDIM x uint32, big-endian
 *     data  = dims[0] * ... * dims[NDIM-1] values
 *
 * so images are 0x00000803 (n, rows, cols) and labels 0x00000801 (n). The Debian package
 * dataset-fashion-mnist ships four gzip'd IDX files under /usr/share/datasets/fashion-mnist/:
 * {train,t10k}-{images-idx3,labels-idx1}-ubyte.gz, 60000 training and 10000 test images of
 * 28x28 grey pixels (0 = background, 255 = ink) in 10 classes. ds_idx_load reads through zlib,
 * which also reads an uncompressed file as it is.
 *
 * The loaders check everything a file claims before trusting it: magic, value type, number of
 * dims, each dim > 0, total size, that the data is exactly as long as the header says (short
 * -> ERR_TRUNCATED, extra bytes -> ERR_FORMAT), that images and labels agree on n and that
 * every label is a class. Each error message names the file and the field.
 *
 * Data root: the package paths are relative to /usr/share, or to $ENGINE_DATA_ROOT when set.
 * A missing package is ERR_DEPENDENCY, and the message says what to install.
 *
 * Ownership: a DsIdx / DsImages filled by a load owns its buffers; release them with
 * ds_idx_free / ds_images_free, which accept NULL and zeroed structs. On failure the struct
 * is left zeroed, so freeing it is always safe.
 *
 * Usage:
 *     DsImages train;
 *     if (ds_fashion_load("train", &train) != ERR_OK) {
 *         fprintf(stderr, "%s\n", err_msg());        // names the file, field and a hint
 *         return 1;
 *     }
 *     int64_t D = train.rows * train.cols;           // 784
 *     float *x = xmalloc((size_t)B * D * sizeof(float));
 *     int32_t *y = xmalloc((size_t)B * sizeof(int32_t));
 *     ds_images_gather(x, y, &train, batch_idx, B);  // pixels / 255 and labels of B images
 *     printf("%s\n", ds_fashion_class_name(y[0]));   // "Ankle boot"
 *     free(x); free(y);
 *     ds_images_free(&train);
 */
#ifndef DATASETS_IDX_H
#define DATASETS_IDX_H

#include <stdint.h>

#define DS_IDX_MAX_DIMS    4
#define DS_FASHION_CLASSES 10

// One IDX file of uint8 values.
typedef struct {
    int ndim;                      // 1..DS_IDX_MAX_DIMS
    int64_t dims[DS_IDX_MAX_DIMS]; // dims[0] outermost; unused dims are 0
    int64_t size;                  // dims[0] * ... * dims[ndim-1]
    uint8_t *data;                 // (size) owned
} DsIdx;

// A labelled image set: image i is pixels[i*rows*cols ...], row-major, its class labels[i].
typedef struct {
    int64_t n, rows, cols;
    uint8_t *pixels; // (n, rows, cols) owned, 0..255
    uint8_t *labels; // (n) owned, each < the number of classes
} DsImages;

// Reads the IDX file at `path` (gzip'd or not) into *out. Only the uint8 type (0x08) is
// supported. Errors: ERR_IO (cannot open), ERR_FORMAT (bad magic, type, ndim, corrupt gzip,
// trailing bytes), ERR_RANGE (a dim of 0 or a total over 4 GiB), ERR_TRUNCATED (data ends
// early). On failure *out is zeroed.
int ds_idx_load(const char *path, DsIdx *out);

// Frees the data of x and zeroes it. NULL and zeroed structs are no-ops.
void ds_idx_free(DsIdx *x);

// Reads an images file (magic 0x00000803) and a labels file (magic 0x00000801) into *out.
// Checks both magics, that n agrees, and that each label is < n_classes (ERR_RANGE naming the
// first bad index). Errors as ds_idx_load, plus ERR_SHAPE when the counts differ.
int ds_images_load_files(const char *images_path, const char *labels_path, int n_classes,
                         DsImages *out);

// Loads Fashion-MNIST: split "train" (60000 images) or "test" (10000; "t10k" also accepted).
// ERR_DEPENDENCY when the package dataset-fashion-mnist is not installed; ERR_INVALID for an
// unknown split; otherwise the errors of ds_images_load_files.
int ds_fashion_load(const char *split, DsImages *out);

// Frees the buffers of im and zeroes it. NULL and zeroed structs are no-ops.
void ds_images_free(DsImages *im);

// The Fashion-MNIST class name of `label` (0 "T-shirt/top" .. 9 "Ankle boot"), a static string.
// A label outside 0..9 is a bug (CHECK).
const char *ds_fashion_class_name(int label);

// Pixels of images first .. first+count-1 as floats in [0, 1] (pixel / 255), written to
// out (count, rows*cols). The range must lie inside the set (CHECK).
void ds_images_to_float(float *out, const DsImages *im, int64_t first, int64_t count);

// A batch: x (count, rows*cols) = pixels / 255 and y (count) = labels of images idx[0..count).
// y may be NULL. Each index must be in 0..n-1 (CHECK).
void ds_images_gather(float *x, int32_t *y, const DsImages *im, const int64_t *idx, int64_t count);

#endif
