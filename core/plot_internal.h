/*
 * plot_internal.h: what plot.c (the charts) and font.c (text and tick labels) share, and what
 * tests/core/test_plot.c checks directly. Not part of the engine's public API.
 *
 * Coordinates are pixels, x to the right and y down, (0, 0) the top-left pixel. Text positions
 * are the top-left corner of the text's box.
 *
 * The font: each glyph is 5 columns by 9 rows: rows 0..6 stand on the baseline (capital height
 * 7), rows 7..8 hold descenders (g, j, p, q, y, comma). A character advances 6 pixels (one blank
 * column between glyphs); a line of text is 9 pixels tall. A scale factor s draws every font
 * pixel as an s x s block.
 */
#ifndef CORE_PLOT_INTERNAL_H
#define CORE_PLOT_INTERNAL_H

#include "plot.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint8_t r, g, b;
} PlotRGB;

#define PLOT_GLYPH_W      5
#define PLOT_GLYPH_H      9
#define PLOT_GLYPH_ASCENT 7 // rows above the baseline
#define PLOT_ADVANCE      6 // glyph width + 1 blank column
#define PLOT_MAX_TICKS    32

// ---------------------------------------------------------------------------
// font.c: glyphs and text

// The glyph of character c as PLOT_GLYPH_H bit rows: bit (PLOT_GLYPH_W - 1 - i) of rows[r] is
// column i of row r (so 0x10 is the leftmost column). Characters outside 32..126 get '?'.
void plot_font_glyph(int c, uint8_t rows[PLOT_GLYPH_H]);

// Width and height in pixels of `s` drawn horizontally at `scale` (0 for an empty string).
int plot_text_width(const char *s, int scale);
int plot_text_height(int scale);

// Draws `s` with its box's top-left corner at (x, y). Horizontal text reads left to right.
// Vertical text is turned 90 degrees counter-clockwise (reads bottom to top, as a y-axis label)
// and its box is plot_text_height wide and plot_text_width tall. Pixels off the image are
// skipped.
void plot_text_draw(PlotImage *img, int x, int y, const char *s, int scale, PlotRGB color,
                    bool vertical);

// ---------------------------------------------------------------------------
// font.c: ticks and their labels

// The "nice" ticks of [lo, hi]: multiples of a step s = m x 10^k with m in {1, 2, 5}, choosing
// the smallest such step that gives at most max_ticks ticks inside [lo, hi]. Writes them to
// ticks[] (at most PLOT_MAX_TICKS) and the step to *step; returns the count. Near-zero ticks
// are snapped to exactly 0. For [0, 1] and max_ticks 6 the ticks are 0, 0.2, ..., 1.
int plot_nice_ticks(double lo, double hi, int max_ticks, double *ticks, double *step);

// Formats a linear-axis tick v for an axis whose tick step is `step`, with just enough
// decimals for the step ("0.2", "1500", "-3"), or in exponent form from 1e9 up and for steps
// under 1e-4 ("2.5e-5", "3e9"); zero is "0" then.
void plot_format_tick(char *buf, size_t n, double v, double step);

// Formats 10^e * m for a log axis: "0.01", "5", "1000", or "1e-6" beyond the fixed range.
void plot_format_pow10(char *buf, size_t n, int m, int e);

// ---------------------------------------------------------------------------
// plot.c: colours and pixels

// Colour i of the fixed series palette (wraps around: i mod PLOT_PALETTE_N, negative as 0).
#define PLOT_PALETTE_N 10
PlotRGB plot_palette(int i);

// The heatmap colour map at t in [0, 1] (clamped; NaN gives grey): linear interpolation
// between viridis' anchor colours, from dark purple (t = 0) to yellow (t = 1).
PlotRGB plot_colormap(float t);

// Mixes colour c into pixel (x, y) with weight alpha in [0, 1]; pixels off the image are
// skipped.
void plot_blend(PlotImage *img, int x, int y, PlotRGB c, float alpha);

// Fills the rectangle [x, x + w) x [y, y + h), clipped to the image.
void plot_fill_rect(PlotImage *img, int x, int y, int w, int h, PlotRGB c);

#endif
