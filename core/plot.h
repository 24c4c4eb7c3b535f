/*
 * plot.h: charts as PNG files, for loss curves, embeddings and attention maps.
 *
 * Three kinds of chart, each one call:
 *   - plot_lines: a line chart of one or more series with a legend (loss curves; log_y for a
 *     loss that falls over decades);
 *   - plot_scatter: points with an optional text label and colour group each (2-D embeddings);
 *   - plot_heatmap: a rows x cols grid of values with a colour bar (attention weights, a
 *     confusion matrix); small grids get each cell's value written in it.
 * Every chart has a white background, axes with "nice" ticks (1, 2 or 5 x 10^k), a title and
 * axis labels. All text is drawn with the engine's own 5x7 bitmap font (font.c), so the module
 * needs nothing but stb_image_write (Debian's libstb) to encode the PNG, and the file is written
 * atomically through io.h. The font has printable ASCII only: any other byte (UTF-8 included)
 * is drawn as '?'. Series, groups and labels beyond ten share the palette's colours again.
 *
 * Bad data is not a crash: NaN and Inf points are skipped (a line is broken there, not drawn to
 * a garbage coordinate), and so are values <= 0 on a log axis. A chart with nothing finite to
 * draw is an ERR_INVALID. NULL pointers where data is promised are bugs (CHECK).
 *
 * The *_render functions draw into a PlotImage in memory instead of a file (tests inspect its
 * pixels; a program can post-process or tile them). A PlotImage is caller-owned storage:
 * a render fills it, plot_image_deinit releases its pixels.
 *
 * Ownership: every pointer argument is borrowed for the duration of the call only.
 * Errors: ERR_OK, or ERR_INVALID (nothing to draw, a size out of range) or ERR_IO (the file
 * cannot be written), with err_msg() naming what and where.
 *
 * Usage:
 *     PlotSeries s[2] = {
 *         {.label = "train", .y = train_loss, .n = n_steps},          // x = 0..n-1
 *         {.label = "val", .x = val_steps, .y = val_loss, .n = n_val},
 *     };
 *     PlotOpts o = {.title = "Loss", .xlabel = "step", .ylabel = "loss", .log_y = true};
 *     if (plot_lines("out/loss.png", s, 2, &o) != ERR_OK) fprintf(stderr, "%s\n", err_msg());
 *
 *     plot_scatter("out/emb.png", xs, ys, words, NULL, n_words, &(PlotOpts){.title = "PCA"});
 *     plot_heatmap("out/attn.png", att, T, T, toks, toks, &(PlotOpts){.title = "head 0"});
 */
#ifndef CORE_PLOT_H
#define CORE_PLOT_H

#include <stdbool.h>
#include <stdint.h>

// One curve of a line chart. x may be NULL: the points are then at x = 0, 1, ..., n-1.
typedef struct {
    const char *label; // legend text; NULL or "" leaves the series out of the legend
    const float *x;    // (n,) or NULL
    const float *y;    // (n,)
    int64_t n;
} PlotSeries;

// Options shared by every chart. A zeroed struct (or a NULL pointer) gives the defaults.
typedef struct {
    const char *title;  // above the chart; NULL for none
    const char *xlabel; // under the x axis; NULL for none
    const char *ylabel; // left of the y axis, written bottom to top; NULL for none
    int width, height;  // pixels; 0 means the default PLOT_DEFAULT_W x PLOT_DEFAULT_H
    bool log_y;         // plot_lines only: a log10 y axis (points with y <= 0 are skipped)
} PlotOpts;

#define PLOT_DEFAULT_W 800
#define PLOT_DEFAULT_H 500
#define PLOT_MIN_SIZE  160 // smaller images are ERR_INVALID: no room for the axes
#define PLOT_MAX_SIZE  8192

// An RGB image in memory: height rows of width pixels, 3 bytes (r, g, b) per pixel, no
// padding. pixels is owned by the PlotImage; release it with plot_image_deinit.
typedef struct {
    int width, height;
    uint8_t *pixels; // (height, width, 3)
} PlotImage;

// Line chart of n_series curves into the PNG file `path`, one palette colour per series and a
// legend of the labelled ones. Returns ERR_OK; ERR_INVALID when n_series < 1 or no series has a
// finite point (or, with log_y, a positive one); ERR_IO when the file cannot be written.
int plot_lines(const char *path, const PlotSeries *series, int n_series, const PlotOpts *opts);

// Scatter plot of n points (x[i], y[i]) into `path`. labels (may be NULL, and so may any
// labels[i]) puts a short text next to each point; labels that would overlap an earlier one are
// left out so the chart stays readable. groups (may be NULL) gives each point a palette colour
// index (wraps around; negative counts as 0). Errors as plot_lines.
int plot_scatter(const char *path, const float *x, const float *y, const char *const *labels,
                 const int *groups, int64_t n, const PlotOpts *opts);

// Heatmap of values (rows, cols), row-major, into `path`: row 0 at the top, the colour scale
// (viridis-like, dark purple = min, yellow = max) from the finite min to max, with a colour bar.
// row_labels (rows,) and col_labels (cols,) may be NULL: the indices are written instead.
// When the cells are big enough each one gets its value written in it. NaN cells are grey.
// Returns ERR_INVALID when rows or cols < 1, ERR_IO as plot_lines.
int plot_heatmap(const char *path, const float *values, int rows, int cols,
                 const char *const *row_labels, const char *const *col_labels,
                 const PlotOpts *opts);

// The same three charts drawn into *img instead of a file. On ERR_OK *img holds a new image
// (free with plot_image_deinit); on an error *img is left empty ({0, 0, NULL}).
int plot_lines_render(PlotImage *img, const PlotSeries *series, int n_series, const PlotOpts *opts);
int plot_scatter_render(PlotImage *img, const float *x, const float *y, const char *const *labels,
                        const int *groups, int64_t n, const PlotOpts *opts);
int plot_heatmap_render(PlotImage *img, const float *values, int rows, int cols,
                        const char *const *row_labels, const char *const *col_labels,
                        const PlotOpts *opts);

// Encodes img as PNG (stb_image_write) and writes it atomically to path. ERR_IO on failure.
int plot_image_save(const PlotImage *img, const char *path);

// Frees img's pixels and zeroes it. Safe on a zeroed or already deinit'd image.
void plot_image_deinit(PlotImage *img);

#endif
