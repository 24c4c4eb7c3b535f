/*
 * test_plot.c: tests for core/plot.c and core/font.c.
 *
 * The charts are checked by their pixels: rendered in memory (plot_*_render) or written as PNG,
 * read back and decoded with stb_image (Debian's libstb, the same library that encodes them).
 * A test looks for what must be there (a series' exact palette colour, the colour map's ends in
 * the right cells, glyph pixels) and for what must not (a line across a NaN gap).
 */
#include "core/err.h"
#include "core/io.h"
#include "core/plot.h"
#include "core/plot_internal.h"
#include "tests/test_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stb_image.h>

// ---------------------------------------------------------------------------
// Helpers

static bool same(const uint8_t *p, PlotRGB c)
{
    return p[0] == c.r && p[1] == c.g && p[2] == c.b;
}

static const uint8_t *pixel(const PlotImage *img, int x, int y)
{
    return img->pixels + ((size_t)y * (size_t)img->width + (size_t)x) * 3;
}

static long count_colour(const PlotImage *img, PlotRGB c)
{
    long n = 0;
    for (int y = 0; y < img->height; y++)
        for (int x = 0; x < img->width; x++) n += same(pixel(img, x, y), c);
    return n;
}

// Bounding box of the pixels of colour c whose pixel below has the same colour (so cells
// count and the one-row steps of the colour bar's gradient do not). Returns the pixel count.
static long colour_box(const PlotImage *img, PlotRGB c, int *x0, int *y0, int *x1, int *y1)
{
    long n = 0;
    *x0 = img->width, *y0 = img->height, *x1 = -1, *y1 = -1;
    for (int y = 0; y + 1 < img->height; y++)
        for (int x = 0; x < img->width; x++) {
            if (!same(pixel(img, x, y), c) || !same(pixel(img, x, y + 1), c)) continue;
            n++;
            if (x < *x0) *x0 = x;
            if (y < *y0) *y0 = y;
            if (x > *x1) *x1 = x;
            if (y > *y1) *y1 = y;
        }
    return n;
}

static long count_in_box(const PlotImage *img, PlotRGB c, int x0, int y0, int x1, int y1)
{
    long n = 0;
    for (int y = y0; y <= y1; y++)
        for (int x = x0; x <= x1; x++) n += same(pixel(img, x, y), c);
    return n;
}

// Reads a PNG's width and height from its IHDR chunk after checking the signature.
static void png_header(const char *path, int *w, int *h)
{
    unsigned char *data;
    size_t n;
    ck_assert_int_eq(io_read_all(path, &data, &n), ERR_OK);
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    ck_assert_uint_ge(n, 33);
    ck_assert_mem_eq(data, sig, 8);
    ck_assert_mem_eq(data + 12, "IHDR", 4);
    *w = (int)((uint32_t)data[16] << 24 | (uint32_t)data[17] << 16 | (uint32_t)data[18] << 8 |
               data[19]);
    *h = (int)((uint32_t)data[20] << 24 | (uint32_t)data[21] << 16 | (uint32_t)data[22] << 8 |
               data[23]);
    free(data);
}

// ---------------------------------------------------------------------------
// Font

START_TEST(test_font_glyphs_nonempty)
{
    uint8_t rows[PLOT_GLYPH_H];
    for (int c = 32; c <= 126; c++) {
        plot_font_glyph(c, rows);
        int ink = 0;
        for (int r = 0; r < PLOT_GLYPH_H; r++) {
            ck_assert_msg(rows[r] < (1u << PLOT_GLYPH_W), "glyph %d row %d too wide", c, r);
            ink += __builtin_popcount(rows[r]);
        }
        if (c == ' ')
            ck_assert_int_eq(ink, 0);
        else
            ck_assert_msg(ink > 0, "glyph '%c' is empty", c);
    }
}
END_TEST

START_TEST(test_font_glyphs_distinct)
{
    uint8_t a[PLOT_GLYPH_H], b[PLOT_GLYPH_H], q[PLOT_GLYPH_H];
    for (int c = 32; c <= 126; c++) {
        plot_font_glyph(c, a);
        for (int d = c + 1; d <= 126; d++) {
            plot_font_glyph(d, b);
            ck_assert_msg(memcmp(a, b, sizeof a) != 0, "glyphs '%c' and '%c' are equal", c, d);
        }
    }
    // Outside printable ASCII the font falls back to '?'.
    plot_font_glyph('?', q);
    plot_font_glyph(200, a);
    plot_font_glyph('\n', b);
    ck_assert_mem_eq(a, q, sizeof q);
    ck_assert_mem_eq(b, q, sizeof q);
}
END_TEST

// Draws `s` at (x0, y0) on a white image and checks every pixel of its box against the glyph
// bits: dark exactly where a bit is set (scaled to blocks), white elsewhere.
static void check_text_pixels(const char *s, int scale, bool vertical)
{
    PlotImage img = {120, 120, calloc(120 * 120, 3)};
    memset(img.pixels, 255, 120 * 120 * 3);
    const int x0 = 7, y0 = 9;
    PlotRGB ink = {10, 20, 30};
    plot_text_draw(&img, x0, y0, s, scale, ink, vertical);
    int w = plot_text_width(s, scale), h = plot_text_height(scale);
    ck_assert_int_eq(w, ((int)strlen(s) * PLOT_ADVANCE - 1) * scale);
    long dark = 0;
    for (int hy = 0; hy < h; hy++)
        for (int hx = 0; hx < w; hx++) {
            int k = hx / scale / PLOT_ADVANCE, i = hx / scale % PLOT_ADVANCE, r = hy / scale;
            uint8_t rows[PLOT_GLYPH_H];
            plot_font_glyph(s[k], rows);
            bool bit = i < PLOT_GLYPH_W && (rows[r] >> (PLOT_GLYPH_W - 1 - i) & 1);
            // Vertical text is the horizontal text turned counter-clockwise.
            int px = vertical ? x0 + hy : x0 + hx, py = vertical ? y0 + w - 1 - hx : y0 + hy;
            const uint8_t *p = pixel(&img, px, py);
            if (bit)
                ck_assert_msg(same(p, ink), "'%s' pixel (%d, %d) should be ink", s, px, py);
            else
                ck_assert_msg(p[0] == 255, "'%s' pixel (%d, %d) should be paper", s, px, py);
            dark += bit;
        }
    // Nothing outside the box.
    ck_assert_int_eq(count_colour(&img, ink), dark);
    ck_assert_int_gt(dark, 0);
    free(img.pixels);
}

START_TEST(test_text_draws_glyphs)
{
    check_text_pixels("Ag0", 1, false);
    check_text_pixels("x=1.5", 2, false);
    check_text_pixels("loss", 1, true);
    check_text_pixels("Wy", 3, true);
}
END_TEST

// ---------------------------------------------------------------------------
// Ticks and labels

START_TEST(test_nice_ticks_unit_range)
{
    double t[PLOT_MAX_TICKS], step;
    int n = plot_nice_ticks(0, 1, 6, t, &step);
    double want[6] = {0, 0.2, 0.4, 0.6, 0.8, 1.0};
    ck_assert_int_eq(n, 6);
    ck_assert_double_eq_tol(step, 0.2, 1e-12);
    for (int i = 0; i < 6; i++) ck_assert_double_eq_tol(t[i], want[i], 1e-12);
    n = plot_nice_ticks(0, 1, 11, t, &step);
    ck_assert_int_eq(n, 11);
    ck_assert_double_eq_tol(step, 0.1, 1e-12);
    n = plot_nice_ticks(-3.7, 12.2, 8, t, &step);
    ck_assert_double_eq_tol(step, 2, 1e-12);
    ck_assert_int_eq(n, 8);
    ck_assert_double_eq_tol(t[0], -2, 1e-12);
    ck_assert_double_eq_tol(t[7], 12, 1e-12);
}
END_TEST

// Over many ranges: ticks lie inside, are multiples of a 1/2/5 x 10^k step, are at most
// max_ticks, and the next finer nice step would have given too many.
START_TEST(test_nice_ticks_properties)
{
    uint32_t s = 12345;
    for (int trial = 0; trial < 2000; trial++) {
        s = s * 1664525u + 1013904223u;
        double lo = ((s >> 8) % 20001 - 10000.0) * pow(10, (int)(s % 9) - 5);
        s = s * 1664525u + 1013904223u;
        double hi = lo + ((s >> 8) % 10000 + 1) * pow(10, (int)(s % 9) - 5);
        int max_ticks = 2 + (int)(s % 11);
        if (hi - lo < 1e-6 * fabs(lo)) continue; // beyond what a float axis can show
        double t[PLOT_MAX_TICKS], step;
        int n = plot_nice_ticks(lo, hi, max_ticks, t, &step);
        ck_assert_int_le(n, max_ticks);
        double k = floor(log10(step) + 1e-9), m = step / pow(10, k);
        ck_assert_msg(fabs(m - 1) < 1e-9 || fabs(m - 2) < 1e-9 || fabs(m - 5) < 1e-9,
                      "step %g is not 1, 2 or 5 x 10^k", step);
        for (int i = 0; i < n; i++) {
            ck_assert(t[i] >= lo - step * 1e-6 && t[i] <= hi + step * 1e-6);
            double q = t[i] / step;
            ck_assert_msg(fabs(q - nearbyint(q)) < 1e-6, "tick %g not a multiple of %g", t[i],
                          step);
            if (i > 0) ck_assert_double_eq_tol(t[i] - t[i - 1], step, step * 1e-6);
        }
        double finer = fabs(m - 1) < 1e-9 ? step / 2 : fabs(m - 2) < 1e-9 ? step / 2 : step * 0.4;
        double count = floor(hi / finer + 1e-6) - ceil(lo / finer - 1e-6) + 1;
        ck_assert_msg(count > max_ticks, "[%g, %g] max %d: step %g, but %g gives %g ticks", lo, hi,
                      max_ticks, step, finer, count);
    }
}
END_TEST

START_TEST(test_format_tick)
{
    char b[32];
    struct {
        double v, step;
        const char *want;
    } cases[] = {
        {0.4, 0.2, "0.4"},        {0.6000000000000001, 0.2, "0.6"},
        {1500, 500, "1500"},      {-3, 1, "-3"},
        {0.05, 0.05, "0.05"},     {-1e-17, 0.2, "0.0"},
        {2.5e-5, 5e-6, "2.5e-5"}, {0, 5e-6, "0"},
        {1e7, 1e6, "10000000"},   {-2e8, 5e7, "-200000000"},
        {3e9, 1e9, "3e9"},        {1.5e10, 5e9, "1.5e10"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        plot_format_tick(b, sizeof b, cases[i].v, cases[i].step);
        ck_assert_str_eq(b, cases[i].want);
    }
    plot_format_pow10(b, sizeof b, 1, -2);
    ck_assert_str_eq(b, "0.01");
    plot_format_pow10(b, sizeof b, 5, 0);
    ck_assert_str_eq(b, "5");
    plot_format_pow10(b, sizeof b, 1, 3);
    ck_assert_str_eq(b, "1000");
    plot_format_pow10(b, sizeof b, 2, -7);
    ck_assert_str_eq(b, "2e-7");
}
END_TEST

// ---------------------------------------------------------------------------
// Colours

START_TEST(test_colormap_ends_and_order)
{
    PlotRGB lo = plot_colormap(0), hi = plot_colormap(1);
    ck_assert(lo.r == 68 && lo.g == 1 && lo.b == 84);
    ck_assert(hi.r == 253 && hi.g == 231 && hi.b == 37);
    PlotRGB below = plot_colormap(-3), above = plot_colormap(7);
    ck_assert(memcmp(&below, &lo, sizeof lo) == 0 && memcmp(&above, &hi, sizeof hi) == 0);
    // Perceptual order: luma rises with t.
    double prev = -1;
    for (int i = 0; i <= 100; i++) {
        PlotRGB c = plot_colormap(i / 100.0f);
        double luma = 0.299 * c.r + 0.587 * c.g + 0.114 * c.b;
        ck_assert_msg(luma > prev, "colour map luma falls at t = %.2f", i / 100.0);
        prev = luma;
    }
    // The palette's colours are distinct.
    for (int i = 0; i < PLOT_PALETTE_N; i++)
        for (int j = i + 1; j < PLOT_PALETTE_N; j++) {
            PlotRGB a = plot_palette(i), b = plot_palette(j);
            ck_assert(abs(a.r - b.r) + abs(a.g - b.g) + abs(a.b - b.b) > 60);
        }
}
END_TEST

// ---------------------------------------------------------------------------
// Line charts

START_TEST(test_lines_png_file)
{
    float y[50];
    for (int i = 0; i < 50; i++) y[i] = expf(-i / 10.0f);
    PlotSeries s = {.label = "loss", .y = y, .n = 50};
    const char *path = test_tmp_path("lines.png");
    PlotOpts o = {.title = "Loss", .xlabel = "step", .ylabel = "loss", .width = 640, .height = 400};
    ck_assert_int_eq(plot_lines(path, &s, 1, &o), ERR_OK);
    int w, h;
    png_header(path, &w, &h);
    ck_assert_int_eq(w, 640);
    ck_assert_int_eq(h, 400);
    // Default size, and the decoded pixels equal the in-memory render (PNG is lossless).
    ck_assert_int_eq(plot_lines(path, &s, 1, NULL), ERR_OK);
    int dw, dh, comp;
    unsigned char *dec = stbi_load(path, &dw, &dh, &comp, 3);
    ck_assert_ptr_nonnull(dec);
    ck_assert_int_eq(dw, PLOT_DEFAULT_W);
    ck_assert_int_eq(dh, PLOT_DEFAULT_H);
    PlotImage img;
    ck_assert_int_eq(plot_lines_render(&img, &s, 1, NULL), ERR_OK);
    ck_assert_mem_eq(dec, img.pixels, (size_t)dw * dh * 3);
    stbi_image_free(dec);
    plot_image_deinit(&img);
    plot_image_deinit(&img); // twice is harmless
}
END_TEST

START_TEST(test_lines_series_colours)
{
    float a[100], b[100];
    for (int i = 0; i < 100; i++) a[i] = sinf(i * 0.1f), b[i] = cosf(i * 0.1f) * 0.5f;
    PlotSeries s[2] = {{.label = "sin", .y = a, .n = 100}, {.label = "cos", .y = b, .n = 100}};
    PlotImage img;
    ck_assert_int_eq(plot_lines_render(&img, s, 2, &(PlotOpts){.log_y = false}), ERR_OK);
    // A 2-pixel stroke covers at least one pixel fully in each of its ~700 columns.
    ck_assert_int_gt(count_colour(&img, plot_palette(0)), 500);
    ck_assert_int_gt(count_colour(&img, plot_palette(1)), 500);
    ck_assert_int_eq(count_colour(&img, plot_palette(2)), 0);
    // The legend: labelled series draw a swatch (22 x 3 pixels) and text on top.
    PlotSeries unlabelled[2] = {{.y = a, .n = 100}, {.y = b, .n = 100}};
    PlotImage img2;
    ck_assert_int_eq(plot_lines_render(&img2, unlabelled, 2, NULL), ERR_OK);
    ck_assert_int_ge(count_colour(&img, plot_palette(1)) - count_colour(&img2, plot_palette(1)),
                     60);
    ck_assert_int_gt(count_colour(&img, (PlotRGB){34, 34, 34}),
                     count_colour(&img2, (PlotRGB){34, 34, 34}));
    plot_image_deinit(&img);
    plot_image_deinit(&img2);
}
END_TEST

// Leftmost and rightmost columns holding colour c.
static void colour_columns(const PlotImage *img, PlotRGB c, int *xl, int *xr)
{
    *xl = img->width, *xr = -1;
    for (int y = 0; y < img->height; y++)
        for (int x = 0; x < img->width; x++)
            if (same(pixel(img, x, y), c)) {
                if (x < *xl) *xl = x;
                if (x > *xr) *xr = x;
            }
}

START_TEST(test_lines_skip_nonfinite)
{
    // Points 0..4 and 15..19 are finite; 5..14 are NaN, Inf or (on a log axis) <= 0. The line
    // must break there: no series pixel in the middle of the x range.
    float y[20];
    for (int i = 0; i < 20; i++) y[i] = 1.0f + 0.1f * (i % 3);
    for (int i = 5; i < 15; i++) y[i] = i % 3 == 0 ? NAN : i % 3 == 1 ? INFINITY : -INFINITY;
    float ylog[20];
    memcpy(ylog, y, sizeof y);
    for (int i = 5; i < 15; i++) ylog[i] = i % 2 ? 0.0f : -1.0f;
    for (int k = 0; k < 2; k++) {
        PlotSeries s = {.y = k ? ylog : y, .n = 20};
        PlotImage img;
        ck_assert_int_eq(plot_lines_render(&img, &s, 1, &(PlotOpts){.log_y = k == 1}), ERR_OK);
        PlotRGB c = plot_palette(0);
        int xl, xr;
        colour_columns(&img, c, &xl, &xr);
        ck_assert_int_gt(xr - xl, 400);
        int a = xl + (xr - xl) * 3 / 10, b = xl + (xr - xl) * 7 / 10;
        ck_assert_int_eq(count_in_box(&img, c, a, 0, b, img.height - 1), 0);
        // And the finite points' band stays narrow: no stroke to the top or bottom edge.
        int top = img.height, bottom = -1;
        for (int yy = 0; yy < img.height; yy++)
            for (int x = 0; x < img.width; x++)
                if (same(pixel(&img, x, yy), c)) top = yy < top ? yy : top, bottom = yy;
        ck_assert_int_lt(bottom - top, img.height * 9 / 10);
        plot_image_deinit(&img);
    }
    // A single finite point among NaNs still shows, as a dot.
    float lone[5] = {NAN, NAN, 3.0f, NAN, NAN};
    PlotSeries s = {.y = lone, .n = 5};
    PlotImage img;
    ck_assert_int_eq(plot_lines_render(&img, &s, 1, NULL), ERR_OK);
    ck_assert_int_gt(count_colour(&img, plot_palette(0)), 4);
    plot_image_deinit(&img);
}
END_TEST

START_TEST(test_lines_invalid_input)
{
    PlotImage img;
    float nan3[3] = {NAN, INFINITY, NAN}, neg[3] = {-1, 0, -2}, ok[3] = {1, 2, 3};
    ck_assert_int_eq(plot_lines_render(&img, NULL, 0, NULL), ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err_msg(), "n_series"));
    ck_assert_ptr_null(img.pixels);
    PlotSeries s = {.y = nan3, .n = 3};
    ck_assert_int_eq(plot_lines_render(&img, &s, 1, NULL), ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err_msg(), "finite"));
    PlotSeries e = {.y = NULL, .n = 0};
    ck_assert_int_eq(plot_lines_render(&img, &e, 1, NULL), ERR_INVALID);
    PlotSeries sn = {.y = neg, .n = 3};
    ck_assert_int_eq(plot_lines_render(&img, &sn, 1, &(PlotOpts){.log_y = true}), ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err_msg(), "log_y"));
    PlotSeries so = {.y = ok, .n = 3};
    ck_assert_int_eq(plot_lines_render(&img, &so, 1, &(PlotOpts){.width = 20}), ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err_msg(), "20x500"));
    ck_assert_ptr_null(img.pixels);
    // No file appears for a failed chart.
    const char *path = test_tmp_path("never.png");
    ck_assert_int_eq(plot_lines(path, &s, 1, NULL), ERR_INVALID);
    ck_assert_ptr_null(fopen(path, "rb"));
}
END_TEST

START_TEST(test_lines_unwritable_path)
{
    float y[3] = {1, 2, 3};
    PlotSeries s = {.label = "y", .y = y, .n = 3};
    const char *bad = "/nonexistent-folder-for-test-plot/loss.png";
    ck_assert_int_eq(plot_lines(bad, &s, 1, NULL), ERR_IO);
    ck_assert_ptr_nonnull(strstr(err_msg(), bad));
    // A path below a regular file.
    char file[512], under[600];
    snprintf(file, sizeof file, "%s", test_tmp_path("plain.txt"));
    ck_assert_int_eq(io_write_atomic(file, "x", 1), ERR_OK);
    snprintf(under, sizeof under, "%s/chart.png", file);
    ck_assert_int_eq(plot_scatter(under, y, y, NULL, NULL, 3, NULL), ERR_IO);
    ck_assert_ptr_nonnull(strstr(err_msg(), under));
}
END_TEST

// ---------------------------------------------------------------------------
// Scatter

START_TEST(test_scatter_groups_and_labels)
{
    float x[6] = {0, 1, 2, 3, 4, 5}, y[6] = {0, 1, 0, 1, 0, 1};
    int g[6] = {0, 1, 2, 0, 1, 2};
    const char *labels[6] = {"alpha", NULL, "gamma", "delta", "", "zeta"};
    PlotImage img, bare;
    const char *path = test_tmp_path("scatter.png");
    ck_assert_int_eq(plot_scatter(path, x, y, labels, g, 6, &(PlotOpts){.title = "emb"}), ERR_OK);
    int w, h;
    png_header(path, &w, &h);
    ck_assert_int_eq(w, PLOT_DEFAULT_W);
    ck_assert_int_eq(plot_scatter_render(&img, x, y, labels, g, 6, NULL), ERR_OK);
    ck_assert_int_eq(plot_scatter_render(&bare, x, y, NULL, g, 6, NULL), ERR_OK);
    for (int k = 0; k < 3; k++) ck_assert_int_gt(count_colour(&img, plot_palette(k)), 20);
    ck_assert_int_eq(count_colour(&img, plot_palette(3)), 0);
    // Four non-empty labels in the label colour; none without labels.
    PlotRGB lab = {80, 80, 80};
    ck_assert_int_eq(count_colour(&bare, lab), 0);
    long want = 0;
    for (const char *s = "alphagammadeltazeta"; *s; s++) {
        uint8_t rows[PLOT_GLYPH_H];
        plot_font_glyph(*s, rows);
        for (int r = 0; r < PLOT_GLYPH_H; r++) want += __builtin_popcount(rows[r]);
    }
    ck_assert_int_eq(count_colour(&img, lab), want);
    plot_image_deinit(&img);
    plot_image_deinit(&bare);
}
END_TEST

START_TEST(test_scatter_overlapping_labels)
{
    // Fifty points at one spot with different labels: a label fits in each of the four spots
    // around it (right, left, above, below) at most, so labels 0..k-1 are drawn whole for some
    // k <= 4 and the others are left out rather than written over them.
    float x[50], y[50];
    char text[50][16];
    const char *labels[50];
    for (int i = 0; i < 50; i++) {
        x[i] = 2, y[i] = -1;
        snprintf(text[i], sizeof text[i], "w%02d", i);
        labels[i] = text[i];
    }
    PlotImage img;
    ck_assert_int_eq(plot_scatter_render(&img, x, y, labels, NULL, 50, NULL), ERR_OK);
    long got = count_colour(&img, (PlotRGB){80, 80, 80}), want = 0;
    bool match = false;
    for (int k = 0; k < 4 && !match; k++) {
        for (const char *c = text[k]; *c; c++) {
            uint8_t rows[PLOT_GLYPH_H];
            plot_font_glyph(*c, rows);
            for (int r = 0; r < PLOT_GLYPH_H; r++) want += __builtin_popcount(rows[r]);
        }
        match = got == want;
    }
    ck_assert_msg(match, "%ld label pixels: not the first 1..4 labels drawn apart", got);
    plot_image_deinit(&img);
    float nan1[1] = {NAN};
    ck_assert_int_eq(plot_scatter_render(&img, nan1, nan1, NULL, NULL, 1, NULL), ERR_INVALID);
    ck_assert_int_eq(plot_scatter_render(&img, NULL, NULL, NULL, NULL, 0, NULL), ERR_INVALID);
}
END_TEST

// ---------------------------------------------------------------------------
// Heatmap

START_TEST(test_heatmap_extremes_in_place)
{
    // Max at the top-left cell, min at the bottom-right.
    enum { R = 3, C = 4 };
    float v[R * C];
    for (int i = 0; i < R * C; i++) v[i] = (float)(R * C - 1 - i) * 0.37f + 0.01f;
    PlotImage img;
    const char *path = test_tmp_path("heat.png");
    ck_assert_int_eq(plot_heatmap(path, v, R, C, NULL, NULL, &(PlotOpts){.title = "h"}), ERR_OK);
    int dw, dh, comp;
    unsigned char *dec = stbi_load(path, &dw, &dh, &comp, 3);
    ck_assert_ptr_nonnull(dec);
    ck_assert_int_eq(plot_heatmap_render(&img, v, R, C, NULL, NULL, &(PlotOpts){.title = "h"}),
                     ERR_OK);
    ck_assert_int_eq(dw, img.width);
    ck_assert_mem_eq(dec, img.pixels, (size_t)dw * dh * 3);
    stbi_image_free(dec);
    int ax0, ay0, ax1, ay1, bx0, by0, bx1, by1;
    long nmax = colour_box(&img, plot_colormap(1), &ax0, &ay0, &ax1, &ay1);
    long nmin = colour_box(&img, plot_colormap(0), &bx0, &by0, &bx1, &by1);
    ck_assert_int_gt(nmax, 100);
    ck_assert_int_gt(nmin, 100);
    ck_assert_int_lt(ax1, bx0); // max cell entirely left of and above the min cell
    ck_assert_int_lt(ay1, by0);
    // Small cells get their values: dark text on the yellow max cell, white on the purple min.
    ck_assert_int_gt(count_in_box(&img, (PlotRGB){34, 34, 34}, ax0, ay0, ax1, ay1), 10);
    ck_assert_int_gt(
        count_in_box(&img, (PlotRGB){255, 255, 255}, bx0 + 1, by0 + 1, bx1 - 1, by1 - 1), 10);
    plot_image_deinit(&img);
}
END_TEST

START_TEST(test_heatmap_labels_nan_and_errors)
{
    float v[4] = {1, NAN, 3, 4};
    const char *rl[2] = {"a", NULL}, *cl[2] = {"xx", "yy"};
    PlotImage img, nolab;
    ck_assert_int_eq(plot_heatmap_render(&img, v, 2, 2, rl, cl, NULL), ERR_OK);
    ck_assert_int_gt(count_colour(&img, plot_colormap(NAN)), 100);
    ck_assert_int_eq(plot_heatmap_render(&nolab, v, 2, 2, NULL, NULL, NULL), ERR_OK);
    ck_assert(memcmp(img.pixels, nolab.pixels, (size_t)img.width * img.height * 3) != 0);
    plot_image_deinit(&img);
    plot_image_deinit(&nolab);
    // A big grid: every pixel of the cells sampled, no annotation.
    enum { N = 300 };
    float *big = malloc(sizeof(float) * N * N);
    for (int i = 0; i < N * N; i++) big[i] = (float)(i % 97);
    ck_assert_int_eq(plot_heatmap_render(&img, big, N, N, NULL, NULL, NULL), ERR_OK);
    ck_assert_int_gt(count_colour(&img, plot_colormap(1)), 10);
    plot_image_deinit(&img);
    free(big);
    // Constant values are fine (mid colour); nothing finite or no cells is not.
    float c[2] = {5, 5}, n2[2] = {NAN, NAN};
    ck_assert_int_eq(plot_heatmap_render(&img, c, 1, 2, NULL, NULL, NULL), ERR_OK);
    ck_assert_int_gt(count_colour(&img, plot_colormap(0.5f)), 100);
    plot_image_deinit(&img);
    ck_assert_int_eq(plot_heatmap_render(&img, n2, 1, 2, NULL, NULL, NULL), ERR_INVALID);
    ck_assert_int_eq(plot_heatmap_render(&img, c, 0, 2, NULL, NULL, NULL), ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err_msg(), "0 x 2"));
    ck_assert_int_eq(plot_heatmap(test_tmp_path("nope/heat.png"), c, 1, 2, NULL, NULL, NULL), ERR_IO);
}
END_TEST

static Suite *plot_suite(void)
{
    Suite *s = suite_create("plot");
    TCase *font = tcase_create("font");
    tcase_add_test(font, test_font_glyphs_nonempty);
    tcase_add_test(font, test_font_glyphs_distinct);
    tcase_add_test(font, test_text_draws_glyphs);
    suite_add_tcase(s, font);
    TCase *ticks = tcase_create("ticks");
    tcase_add_test(ticks, test_nice_ticks_unit_range);
    tcase_add_test(ticks, test_nice_ticks_properties);
    tcase_add_test(ticks, test_format_tick);
    tcase_add_test(ticks, test_colormap_ends_and_order);
    suite_add_tcase(s, ticks);
    TCase *charts = tcase_create("charts");
    tcase_set_timeout(charts, 60);
    tcase_add_test(charts, test_lines_png_file);
    tcase_add_test(charts, test_lines_series_colours);
    tcase_add_test(charts, test_lines_skip_nonfinite);
    tcase_add_test(charts, test_lines_invalid_input);
    tcase_add_test(charts, test_lines_unwritable_path);
    tcase_add_test(charts, test_scatter_groups_and_labels);
    tcase_add_test(charts, test_scatter_overlapping_labels);
    tcase_add_test(charts, test_heatmap_extremes_in_place);
    tcase_add_test(charts, test_heatmap_labels_nan_and_errors);
    suite_add_tcase(s, charts);
    return s;
}

int main(void)
{
    return test_main(plot_suite());
}
