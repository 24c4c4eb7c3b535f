/*
 * plot.c: line charts, scatter plots and heatmaps drawn into an RGB buffer and saved as PNG.
 *
 * How a chart is drawn:
 *   1. the data range is measured, skipping NaN/Inf (and y <= 0 on a log axis);
 *   2. the layout: the margins are sized from the text they must hold (title, tick labels,
 *      axis labels), which leaves the plot area; the tick count follows from the area's size;
 *   3. the frame: grid lines at the ticks, a border, tick marks and their labels, the title and
 *      the axis labels;
 *   4. the data, clipped to the plot area, then the legend.
 *
 * Lines are anti-aliased by coverage: a pixel at distance d from a segment of width w is
 * covered by clamp(w/2 + 0.5 - d, 0, 1), the fraction of a 1-pixel box the stroke would hide.
 * The coverage of a whole polyline is collected first, taking the max where segments meet, and
 * blended once, so joints are not darker than the line and a curve keeps its exact colour
 * where it covers a pixel fully.
 */
#include "plot_internal.h"

#include "err.h"
#include "io.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stb_image_write.h>

// ---------------------------------------------------------------------------
// Colours and pixels

static const PlotRGB WHITE = {255, 255, 255};
static const PlotRGB INK = {34, 34, 34};         // text
static const PlotRGB POINT_LABEL = {80, 80, 80}; // scatter labels, a little lighter than INK
static const PlotRGB FRAME = {110, 110, 110};    // axes border and tick marks
static const PlotRGB GRID = {228, 228, 228};     // major grid lines
static const PlotRGB GRID_MINOR = {243, 243, 243};

// Ten colours that stay apart on white and for the common colour blindnesses: the first eight
// follow Okabe and Ito's palette (yellow darkened to stay visible on white), then two extra hues.
static const PlotRGB palette[PLOT_PALETTE_N] = {
    {0, 114, 178},   // blue
    {213, 94, 0},    // vermillion
    {0, 158, 115},   // bluish green
    {204, 121, 167}, // reddish purple
    {230, 159, 0},   // orange
    {86, 180, 233},  // sky blue
    {60, 60, 60},    // near black
    {180, 160, 20},  // dark yellow
    {140, 86, 50},   // brown
    {110, 60, 170},  // violet
};

PlotRGB plot_palette(int i)
{
    if (i < 0) i = 0;
    return palette[i % PLOT_PALETTE_N];
}

// Anchors of the viridis colour map at t = 0, 1/4, 1/2, 3/4, 1. Between them the map is linear
// in RGB; viridis' lightness rises steadily from one end to the other, so order reads as order.
static const float cmap_anchor[5][3] = {
    {68, 1, 84}, {59, 82, 139}, {33, 145, 140}, {94, 201, 98}, {253, 231, 37},
};

PlotRGB plot_colormap(float t)
{
    if (isnan(t)) return (PlotRGB){200, 200, 200};
    if (t < 0) t = 0;
    if (t > 1) t = 1;
    float u = t * 4.0f;
    int i = (int)u;
    if (i > 3) i = 3;
    float f = u - (float)i;
    uint8_t c[3];
    for (int k = 0; k < 3; k++)
        c[k] = (uint8_t)lrintf(cmap_anchor[i][k] + f * (cmap_anchor[i + 1][k] - cmap_anchor[i][k]));
    return (PlotRGB){c[0], c[1], c[2]};
}

void plot_blend(PlotImage *img, int x, int y, PlotRGB c, float alpha)
{
    if (x < 0 || y < 0 || x >= img->width || y >= img->height || !(alpha > 0)) return;
    uint8_t *p = img->pixels + ((size_t)y * (size_t)img->width + (size_t)x) * 3;
    if (alpha >= 1) {
        p[0] = c.r, p[1] = c.g, p[2] = c.b;
        return;
    }
    p[0] = (uint8_t)lrintf(p[0] + alpha * (c.r - p[0]));
    p[1] = (uint8_t)lrintf(p[1] + alpha * (c.g - p[1]));
    p[2] = (uint8_t)lrintf(p[2] + alpha * (c.b - p[2]));
}

void plot_fill_rect(PlotImage *img, int x, int y, int w, int h, PlotRGB c)
{
    int x0 = x < 0 ? 0 : x, y0 = y < 0 ? 0 : y;
    int x1 = x + w > img->width ? img->width : x + w;
    int y1 = y + h > img->height ? img->height : y + h;
    for (int j = y0; j < y1; j++) {
        uint8_t *p = img->pixels + ((size_t)j * (size_t)img->width + (size_t)x0) * 3;
        for (int i = x0; i < x1; i++, p += 3) p[0] = c.r, p[1] = c.g, p[2] = c.b;
    }
}

// A 1-pixel outline just inside the rectangle [x, x + w) x [y, y + h).
static void stroke_rect(PlotImage *img, int x, int y, int w, int h, PlotRGB c)
{
    plot_fill_rect(img, x, y, w, 1, c);
    plot_fill_rect(img, x, y + h - 1, w, 1, c);
    plot_fill_rect(img, x, y, 1, h, c);
    plot_fill_rect(img, x + w - 1, y, 1, h, c);
}

// An anti-aliased filled disk of radius r centred on (cx, cy), drawn only inside the clip
// rectangle [clip_x, clip_x + clip_w) x [clip_y, clip_y + clip_h).
static void draw_disk(PlotImage *img, double cx, double cy, double r, PlotRGB c, int clip_x,
                      int clip_y, int clip_w, int clip_h)
{
    int x0 = (int)floor(cx - r - 1), x1 = (int)ceil(cx + r + 1);
    int y0 = (int)floor(cy - r - 1), y1 = (int)ceil(cy + r + 1);
    if (x0 < clip_x) x0 = clip_x;
    if (y0 < clip_y) y0 = clip_y;
    if (x1 > clip_x + clip_w - 1) x1 = clip_x + clip_w - 1;
    if (y1 > clip_y + clip_h - 1) y1 = clip_y + clip_h - 1;
    for (int y = y0; y <= y1; y++)
        for (int x = x0; x <= x1; x++) {
            double a = r + 0.5 - hypot(x - cx, y - cy);
            plot_blend(img, x, y, c, a > 1 ? 1.0f : (float)a);
        }
}

static void text_center(PlotImage *img, int cx, int y, const char *s, int scale, PlotRGB c)
{
    plot_text_draw(img, cx - plot_text_width(s, scale) / 2, y, s, scale, c, false);
}

// ---------------------------------------------------------------------------
// Coverage of the plot area (see the top of the file)

typedef struct {
    float *cov;   // (h, w): this polyline's coverage, 0..1
    uint8_t *ink; // (h, w): 1 where any series has drawn (the legend avoids these pixels)
    int w, h;
    int bx0, by0, bx1, by1; // bounding box of the non-zero cov pixels (empty: bx0 > bx1)
} Cover;

static void cover_init(Cover *cv, int w, int h)
{
    cv->cov = xcalloc((size_t)w * (size_t)h, sizeof *cv->cov);
    cv->ink = xcalloc((size_t)w * (size_t)h, 1);
    cv->w = w, cv->h = h;
    cv->bx0 = w, cv->by0 = h, cv->bx1 = -1, cv->by1 = -1;
}

static void cover_deinit(Cover *cv)
{
    free(cv->cov);
    free(cv->ink);
}

// Adds the stroke of segment (ax, ay)-(bx, by), width 2 * hw, in plot-area pixels.
static void cover_segment(Cover *cv, double ax, double ay, double bx, double by, double hw)
{
    int x0 = (int)floor(fmin(ax, bx) - hw - 1), x1 = (int)ceil(fmax(ax, bx) + hw + 1);
    int y0 = (int)floor(fmin(ay, by) - hw - 1), y1 = (int)ceil(fmax(ay, by) + hw + 1);
    if (x0 < 0) x0 = 0;
    if (y0 < 0) y0 = 0;
    if (x1 > cv->w - 1) x1 = cv->w - 1;
    if (y1 > cv->h - 1) y1 = cv->h - 1;
    if (x0 > x1 || y0 > y1) return;
    double dx = bx - ax, dy = by - ay, len2 = dx * dx + dy * dy;
    for (int y = y0; y <= y1; y++) {
        for (int x = x0; x <= x1; x++) {
            // Distance from the pixel centre to the nearest point a + t (b - a), t in [0, 1].
            double t = len2 > 0 ? ((x - ax) * dx + (y - ay) * dy) / len2 : 0.0;
            t = t < 0 ? 0 : t > 1 ? 1 : t;
            double a = hw + 0.5 - hypot(ax + t * dx - x, ay + t * dy - y);
            if (a <= 0) continue;
            float *p = &cv->cov[(size_t)y * (size_t)cv->w + (size_t)x];
            if ((float)a > *p) *p = a > 1 ? 1.0f : (float)a;
        }
    }
    if (x0 < cv->bx0) cv->bx0 = x0;
    if (y0 < cv->by0) cv->by0 = y0;
    if (x1 > cv->bx1) cv->bx1 = x1;
    if (y1 > cv->by1) cv->by1 = y1;
}

// Blends the collected coverage in colour c into the image at the plot area's origin (ox, oy)
// and clears it for the next polyline.
static void cover_flush(Cover *cv, PlotImage *img, int ox, int oy, PlotRGB c)
{
    for (int y = cv->by0; y <= cv->by1; y++) {
        for (int x = cv->bx0; x <= cv->bx1; x++) {
            size_t k = (size_t)y * (size_t)cv->w + (size_t)x;
            if (cv->cov[k] <= 0) continue;
            plot_blend(img, ox + x, oy + y, c, cv->cov[k]);
            cv->ink[k] = 1;
            cv->cov[k] = 0;
        }
    }
    cv->bx0 = cv->w, cv->by0 = cv->h, cv->bx1 = -1, cv->by1 = -1;
}

// ---------------------------------------------------------------------------
// Axes

#define TICK_LEN  5
#define GAP       5 // between a tick and its label, and similar small spaces
#define MARGIN    12
#define LABEL_MAX 24

typedef struct {
    double lo, hi;             // the view, in axis units: the value, or log10 of it on a log axis
    int n;                     // major ticks
    double at[PLOT_MAX_TICKS]; // their positions, axis units
    char label[PLOT_MAX_TICKS][LABEL_MAX]; // and labels
    int n_minor;                           // minor ticks (log axes): 2..9 x 10^k
    double minor[9 * 8]; // up to 9 (partial) decades, as a span <= 8 may touch, of 8 each
} Axis;

// A linear axis over [lo, hi] with at most max_ticks labelled ticks.
static void axis_linear(Axis *a, double lo, double hi, int max_ticks)
{
    double step;
    a->lo = lo, a->hi = hi, a->n_minor = 0;
    a->n = plot_nice_ticks(lo, hi, max_ticks, a->at, &step);
    for (int i = 0; i < a->n; i++) plot_format_tick(a->label[i], LABEL_MAX, a->at[i], step);
}

// Minor ticks at m x 10^e for m in 2..9 inside [lo, hi], on axes spanning a few decades.
static void axis_log_minor(Axis *a)
{
    a->n_minor = 0;
    if (a->hi - a->lo > 8) return;
    for (int e = (int)floor(a->lo); e < (int)ceil(a->hi); e++)
        for (int m = 2; m <= 9; m++) {
            double p = e + log10(m);
            if (p >= a->lo && p <= a->hi &&
                a->n_minor < (int)(sizeof a->minor / sizeof a->minor[0]))
                a->minor[a->n_minor++] = p;
        }
}

// A log10 axis over [lo, hi] (exponents). The labels are 1, 2, 5 x 10^e when that gives
// between 2 and max_ticks of them, else powers of ten (every k-th when there are too many);
// on a range too narrow for either, 1..9 x 10^e, and failing that nice linear ticks of the
// values themselves. Unlabelled minor ticks mark 2..9 x 10^e.
static void axis_log(Axis *a, double lo, double hi, int max_ticks)
{
    a->lo = lo, a->hi = hi;
    axis_log_minor(a);
    int e0 = (int)floor(lo), e1 = (int)ceil(hi);
    static const int sets[2][9] = {{1, 2, 5}, {1, 2, 3, 4, 5, 6, 7, 8, 9}};
    static const int set_n[2] = {3, 9};
    for (int s = 0; s < 2; s++) {
        a->n = 0;
        for (int e = e0; e <= e1; e++)
            for (int j = 0; j < set_n[s]; j++) {
                double p = e + log10(sets[s][j]);
                if (p < lo - 1e-9 || p > hi + 1e-9 || a->n >= PLOT_MAX_TICKS) continue;
                a->at[a->n] = p;
                plot_format_pow10(a->label[a->n++], LABEL_MAX, sets[s][j], e);
            }
        if (a->n >= 2 && a->n <= max_ticks) return;
        int d0 = (int)ceil(lo - 1e-9), d1 = (int)floor(hi + 1e-9);
        if (s == 0 && d1 > d0) {
            int stride = (d1 - d0 + max_ticks) / max_ticks;
            a->n = 0;
            for (int e = d0; e <= d1 && a->n < PLOT_MAX_TICKS; e++) {
                if (((e % stride) + stride) % stride != 0) continue;
                a->at[a->n] = e;
                // Over many decades "1e-6" next to "1e-4" reads better than next to "0.0001".
                if (d1 - d0 > 5)
                    snprintf(a->label[a->n++], LABEL_MAX, "1e%d", e);
                else
                    plot_format_pow10(a->label[a->n++], LABEL_MAX, 1, e);
            }
            return;
        }
    }
    double v[PLOT_MAX_TICKS], step;
    int n = plot_nice_ticks(pow(10, lo), pow(10, hi), max_ticks, v, &step);
    a->n = 0;
    for (int i = 0; i < n; i++) {
        if (!(v[i] > 0)) continue;
        a->at[a->n] = log10(v[i]);
        plot_format_tick(a->label[a->n++], LABEL_MAX, v[i], step);
    }
}

static int axis_label_width(const Axis *a)
{
    int w = 0;
    for (int i = 0; i < a->n; i++) {
        int t = plot_text_width(a->label[i], 1);
        if (t > w) w = t;
    }
    return w;
}

// Position of axis value v along a length of len pixels, 0 at lo and len - 1 at hi.
static double axis_pos(const Axis *a, double v, int len)
{
    return (v - a->lo) / (a->hi - a->lo) * (len - 1);
}

// Widens [*lo, *hi] by frac of its span on each side (and makes an empty range non-empty).
static void pad_range(double *lo, double *hi, double frac)
{
    double span = *hi - *lo;
    if (span <= 0) span = *lo != 0 ? fabs(*lo) * 0.2 : 2.0, frac = 0.5;
    *lo -= span * frac;
    *hi += span * frac;
}

// ---------------------------------------------------------------------------
// The chart frame shared by lines and scatter

typedef struct {
    PlotImage *img;
    const PlotOpts *o;
    int left, top, pw, ph; // plot area: [left, left + pw) x [top, top + ph)
    Axis ax, ay;
} Chart;

static int opts_size(PlotOpts *o, const char *fn)
{
    if (o->width == 0) o->width = PLOT_DEFAULT_W;
    if (o->height == 0) o->height = PLOT_DEFAULT_H;
    if (o->width < PLOT_MIN_SIZE || o->height < PLOT_MIN_SIZE || o->width > PLOT_MAX_SIZE ||
        o->height > PLOT_MAX_SIZE)
        return err_set(ERR_INVALID,
                       "%s: image size %dx%d is out of range; hint: width and height "
                       "must be 0 (default %dx%d) or %d..%d",
                       fn, o->width, o->height, PLOT_DEFAULT_W, PLOT_DEFAULT_H, PLOT_MIN_SIZE,
                       PLOT_MAX_SIZE);
    return ERR_OK;
}

static void image_alloc(PlotImage *img, int w, int h)
{
    img->width = w, img->height = h;
    img->pixels = xmalloc((size_t)w * (size_t)h * 3);
    memset(img->pixels, 255, (size_t)w * (size_t)h * 3);
}

// The title at height y, centred on x = cx but kept inside the image: at double size when it fits,
// else at normal size, shortened with "..." when even that is too wide.
static void draw_title(PlotImage *img, int cx, int y, const char *title)
{
    if (!title || !title[0]) return;
    int room = img->width - 2 * MARGIN, scale = plot_text_width(title, 2) <= room ? 2 : 1;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", title);
    size_t len = strlen(buf);
    while (plot_text_width(buf, scale) > room && len > 3) {
        len--;
        memcpy(buf + len - 3, "...", 4);
    }
    int half = plot_text_width(buf, scale) / 2;
    if (cx - half < MARGIN) cx = MARGIN + half;
    if (cx + half > img->width - MARGIN) cx = img->width - MARGIN - half;
    text_center(img, cx, y, buf, scale, INK);
}

static int title_height(const PlotOpts *o)
{
    return o->title && o->title[0] ? plot_text_height(2) + 2 * GAP + MARGIN : MARGIN + GAP;
}

// Lays out the margins around the plot area for view ranges x [xlo, xhi] and y [ylo, yhi]
// (axis units), and picks the ticks. ERR_INVALID when the text leaves no room for the data.
static int chart_layout(Chart *c, double xlo, double xhi, double ylo, double yhi, bool log_y,
                        const char *fn)
{
    const PlotOpts *o = c->o;
    int th = plot_text_height(1);
    c->top = title_height(o);
    int bottom = TICK_LEN + GAP + th + (o->xlabel && o->xlabel[0] ? th + 2 * GAP : 0) + MARGIN;
    c->ph = c->img->height - c->top - bottom;
    // About one labelled tick per 45 pixels of height, so labels never crowd.
    int max_y = c->ph / 45 < 2 ? 2 : c->ph / 45 > 10 ? 10 : c->ph / 45;
    if (log_y)
        axis_log(&c->ay, ylo, yhi, max_y);
    else
        axis_linear(&c->ay, ylo, yhi, max_y);
    c->left = MARGIN + (o->ylabel && o->ylabel[0] ? th + 2 * GAP : 0) + axis_label_width(&c->ay) +
              GAP + TICK_LEN;
    c->pw = c->img->width - c->left - 2 * MARGIN;
    if (c->pw < 40 || c->ph < 40)
        return err_set(ERR_INVALID,
                       "%s: a %dx%d image leaves a %dx%d plot area after the title "
                       "and labels; hint: make the image larger or the labels shorter",
                       fn, c->img->width, c->img->height, c->pw, c->ph);
    // x ticks: start from one per 70 pixels and use fewer until neighbouring labels keep a
    // gap of at least 3 characters.
    for (int max_x = c->pw / 70 < 2 ? 2 : c->pw / 70 > 12 ? 12 : c->pw / 70;; max_x--) {
        axis_linear(&c->ax, xlo, xhi, max_x);
        bool fits = true;
        for (int i = 1; i < c->ax.n && fits; i++) {
            double dist =
                axis_pos(&c->ax, c->ax.at[i], c->pw) - axis_pos(&c->ax, c->ax.at[i - 1], c->pw);
            int need =
                (plot_text_width(c->ax.label[i], 1) + plot_text_width(c->ax.label[i - 1], 1)) / 2;
            fits = dist >= need + 3 * PLOT_ADVANCE;
        }
        if (fits || max_x <= 2) break;
    }
    return ERR_OK;
}

static void chart_frame(Chart *c)
{
    PlotImage *img = c->img;
    const PlotOpts *o = c->o;
    int th = plot_text_height(1);
    int bottom_y = c->top + c->ph; // first row under the plot area
    for (int i = 0; i < c->ay.n_minor; i++) {
        int y = c->top + c->ph - 1 - (int)lrint(axis_pos(&c->ay, c->ay.minor[i], c->ph));
        plot_fill_rect(img, c->left, y, c->pw, 1, GRID_MINOR);
    }
    for (int i = 0; i < c->ax.n; i++) {
        int x = c->left + (int)lrint(axis_pos(&c->ax, c->ax.at[i], c->pw));
        plot_fill_rect(img, x, c->top, 1, c->ph, GRID);
        plot_fill_rect(img, x, bottom_y + 1, 1, TICK_LEN, FRAME);
        text_center(img, x, bottom_y + 1 + TICK_LEN + GAP, c->ax.label[i], 1, INK);
    }
    for (int i = 0; i < c->ay.n; i++) {
        int y = c->top + c->ph - 1 - (int)lrint(axis_pos(&c->ay, c->ay.at[i], c->ph));
        plot_fill_rect(img, c->left, y, c->pw, 1, GRID);
        plot_fill_rect(img, c->left - 1 - TICK_LEN, y, TICK_LEN, 1, FRAME);
        int w = plot_text_width(c->ay.label[i], 1);
        plot_text_draw(img, c->left - 1 - TICK_LEN - GAP - w, y - PLOT_GLYPH_ASCENT / 2,
                       c->ay.label[i], 1, INK, false);
    }
    stroke_rect(img, c->left - 1, c->top - 1, c->pw + 2, c->ph + 2, FRAME);
    draw_title(img, c->left + c->pw / 2, MARGIN, o->title);
    if (o->xlabel && o->xlabel[0])
        text_center(img, c->left + c->pw / 2, img->height - MARGIN - th, o->xlabel, 1, INK);
    if (o->ylabel && o->ylabel[0])
        plot_text_draw(img, MARGIN, c->top + c->ph / 2 - plot_text_width(o->ylabel, 1) / 2,
                       o->ylabel, 1, INK, true);
}

// ---------------------------------------------------------------------------
// Line chart

static double series_x(const PlotSeries *s, int64_t i)
{
    return s->x ? (double)s->x[i] : (double)i;
}

// y in axis units: log10(y) on a log axis, where y <= 0 has no place (NaN: skipped).
static double axis_value(double y, bool log_y)
{
    if (!log_y) return y;
    return y > 0 ? log10(y) : NAN;
}

// Draws one series as polylines broken at skipped points; a point with no drawable neighbour
// becomes a dot so that it does not vanish.
static void draw_series(Chart *c, Cover *cv, const PlotSeries *s, PlotRGB color, double hw)
{
    double px = 0, py = 0;
    int64_t run = 0; // length of the current unbroken run of points
    for (int64_t i = 0; i <= s->n; i++) {
        double x = NAN, y = NAN;
        if (i < s->n) x = series_x(s, i), y = axis_value(s->y[i], c->o->log_y);
        if (!isfinite(x) || !isfinite(y)) {
            if (run == 1) cover_segment(cv, px, py, px, py, hw + 1);
            run = 0;
            continue;
        }
        double qx = axis_pos(&c->ax, x, c->pw);
        double qy = c->ph - 1 - axis_pos(&c->ay, y, c->ph);
        if (run > 0) cover_segment(cv, px, py, qx, qy, hw);
        px = qx, py = qy, run++;
    }
    cover_flush(cv, c->img, c->left, c->top, color);
}

// The legend box goes in the corner of the plot area where it hides the fewest drawn pixels.
static void draw_legend(Chart *c, const Cover *cv, const PlotSeries *series, int n_series)
{
    int n = 0, maxw = 0;
    for (int s = 0; s < n_series; s++) {
        if (!series[s].label || !series[s].label[0]) continue;
        int w = plot_text_width(series[s].label, 1);
        if (w > maxw) maxw = w;
        n++;
    }
    if (n == 0) return;
    const int pad = 8, swatch = 22, row = 15;
    int bw = pad + swatch + GAP + maxw + pad, bh = pad + n * row - (row - PLOT_GLYPH_ASCENT) + pad;
    if (bw > c->pw - 2 * GAP || bh > c->ph - 2 * GAP) return; // no room: leave it out
    int best = 0;
    long best_ink = -1;
    int cx[4] = {c->pw - GAP - bw, GAP, c->pw - GAP - bw, GAP};
    int cy[4] = {GAP, GAP, c->ph - GAP - bh, c->ph - GAP - bh};
    for (int k = 0; k < 4; k++) {
        long ink = 0;
        for (int y = cy[k]; y < cy[k] + bh; y++)
            for (int x = cx[k]; x < cx[k] + bw; x++) ink += cv->ink[(size_t)y * cv->w + x];
        if (best_ink < 0 || ink < best_ink) best = k, best_ink = ink;
    }
    int x0 = c->left + cx[best], y0 = c->top + cy[best];
    for (int y = y0; y < y0 + bh; y++)
        for (int x = x0; x < x0 + bw; x++) plot_blend(c->img, x, y, WHITE, 0.88f);
    stroke_rect(c->img, x0, y0, bw, bh, (PlotRGB){200, 200, 200});
    int y = y0 + pad;
    for (int s = 0; s < n_series; s++) {
        if (!series[s].label || !series[s].label[0]) continue;
        plot_fill_rect(c->img, x0 + pad, y + PLOT_GLYPH_ASCENT / 2 - 1, swatch, 3, plot_palette(s));
        plot_text_draw(c->img, x0 + pad + swatch + GAP, y, series[s].label, 1, INK, false);
        y += row;
    }
}

int plot_lines_render(PlotImage *img, const PlotSeries *series, int n_series, const PlotOpts *opts)
{
    CHECK(img, "plot_lines_render: img is NULL");
    *img = (PlotImage){0};
    PlotOpts o = opts ? *opts : (PlotOpts){0};
    int rc = opts_size(&o, "plot_lines");
    if (rc != ERR_OK) return rc;
    if (n_series < 1)
        return err_set(ERR_INVALID,
                       "plot_lines: n_series = %d, nothing to draw; hint: pass at "
                       "least one PlotSeries with points",
                       n_series);
    CHECK(series, "plot_lines: series is NULL with n_series = %d", n_series);
    double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
    int64_t total = 0;
    for (int s = 0; s < n_series; s++) {
        const PlotSeries *ps = &series[s];
        CHECK(ps->n >= 0, "plot_lines: series %d has n = %lld", s, (long long)ps->n);
        CHECK(ps->n == 0 || ps->y, "plot_lines: series %d has n = %lld but y is NULL", s,
              (long long)ps->n);
        for (int64_t i = 0; i < ps->n; i++) {
            double x = series_x(ps, i), y = axis_value(ps->y[i], o.log_y);
            if (!isfinite(x) || !isfinite(y)) continue;
            xlo = fmin(xlo, x), xhi = fmax(xhi, x), ylo = fmin(ylo, y), yhi = fmax(yhi, y);
            total++;
        }
    }
    if (total == 0)
        return err_set(ERR_INVALID,
                       "plot_lines: the %d series have no finite point%s; hint: "
                       "check the data for NaN/Inf (empty series?)",
                       n_series, o.log_y ? " with y > 0 (log_y)" : "");
    pad_range(&xlo, &xhi, 0.02);
    pad_range(&ylo, &yhi, o.log_y ? 0.03 : 0.05);
    image_alloc(img, o.width, o.height);
    Chart c = {.img = img, .o = &o};
    rc = chart_layout(&c, xlo, xhi, ylo, yhi, o.log_y, "plot_lines");
    if (rc != ERR_OK) {
        plot_image_deinit(img);
        return rc;
    }
    chart_frame(&c);
    Cover cv;
    cover_init(&cv, c.pw, c.ph);
    // Strokes a little wider on big images so they keep their weight.
    double hw = o.width >= 1600 ? 1.5 : 1.0;
    for (int s = 0; s < n_series; s++) draw_series(&c, &cv, &series[s], plot_palette(s), hw);
    draw_legend(&c, &cv, series, n_series);
    cover_deinit(&cv);
    return ERR_OK;
}

// ---------------------------------------------------------------------------
// Scatter

// True when the rectangle lies inside the area and touches no taken pixel.
static bool rect_free(const uint8_t *taken, int w, int h, int x, int y, int rw, int rh)
{
    if (x < 0 || y < 0 || x + rw > w || y + rh > h) return false;
    for (int j = y; j < y + rh; j++)
        for (int i = x; i < x + rw; i++)
            if (taken[(size_t)j * w + i]) return false;
    return true;
}

static void rect_take(uint8_t *taken, int w, int h, int x, int y, int rw, int rh)
{
    for (int j = y < 0 ? 0 : y; j < y + rh && j < h; j++)
        for (int i = x < 0 ? 0 : x; i < x + rw && i < w; i++) taken[(size_t)j * w + i] = 1;
}

int plot_scatter_render(PlotImage *img, const float *x, const float *y, const char *const *labels,
                        const int *groups, int64_t n, const PlotOpts *opts)
{
    CHECK(img, "plot_scatter_render: img is NULL");
    *img = (PlotImage){0};
    PlotOpts o = opts ? *opts : (PlotOpts){0};
    o.log_y = false;
    int rc = opts_size(&o, "plot_scatter");
    if (rc != ERR_OK) return rc;
    CHECK(n >= 0, "plot_scatter: n = %lld", (long long)n);
    CHECK(n == 0 || (x && y), "plot_scatter: x or y is NULL with n = %lld", (long long)n);
    double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
    int64_t total = 0;
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(x[i]) || !isfinite(y[i])) continue;
        xlo = fmin(xlo, x[i]), xhi = fmax(xhi, x[i]), ylo = fmin(ylo, y[i]), yhi = fmax(yhi, y[i]);
        total++;
    }
    if (total == 0)
        return err_set(ERR_INVALID,
                       "plot_scatter: no finite point among n = %lld; hint: check "
                       "the data for NaN/Inf (empty input?)",
                       (long long)n);
    pad_range(&xlo, &xhi, 0.06);
    pad_range(&ylo, &yhi, 0.06);
    image_alloc(img, o.width, o.height);
    Chart c = {.img = img, .o = &o};
    rc = chart_layout(&c, xlo, xhi, ylo, yhi, false, "plot_scatter");
    if (rc != ERR_OK) {
        plot_image_deinit(img);
        return rc;
    }
    chart_frame(&c);
    // Points first, each with a white rim so overlapping points stay apart; their pixels are
    // taken, so no label is written over a point.
    uint8_t *taken = xcalloc((size_t)c.pw * (size_t)c.ph, 1);
    const double r = 3.5;
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(x[i]) || !isfinite(y[i])) continue;
        double px = axis_pos(&c.ax, x[i], c.pw), py = c.ph - 1 - axis_pos(&c.ay, y[i], c.ph);
        PlotRGB col = plot_palette(groups ? groups[i] : 0);
        draw_disk(img, c.left + px, c.top + py, r + 1.2, WHITE, c.left, c.top, c.pw, c.ph);
        draw_disk(img, c.left + px, c.top + py, r, col, c.left, c.top, c.pw, c.ph);
        int ir = (int)ceil(r);
        rect_take(taken, c.pw, c.ph, (int)lrint(px) - ir, (int)lrint(py) - ir, 2 * ir + 1,
                  2 * ir + 1);
    }
    // Labels in input order, each in the first free spot of right, left, above, below.
    for (int64_t i = 0; labels && i < n; i++) {
        if (!labels[i] || !labels[i][0] || !isfinite(x[i]) || !isfinite(y[i])) continue;
        int px = (int)lrint(axis_pos(&c.ax, x[i], c.pw));
        int py = (int)lrint(c.ph - 1 - axis_pos(&c.ay, y[i], c.ph));
        int w = plot_text_width(labels[i], 1), h = PLOT_GLYPH_H, d = (int)ceil(r) + 3;
        int tx[4] = {px + d, px - d - w, px - w / 2, px - w / 2};
        int ty[4] = {py - PLOT_GLYPH_ASCENT / 2, py - PLOT_GLYPH_ASCENT / 2, py - d - h + 2,
                     py + d};
        for (int k = 0; k < 4; k++) {
            // One pixel of air around the label's box.
            if (!rect_free(taken, c.pw, c.ph, tx[k] - 1, ty[k] - 1, w + 2, h + 2)) continue;
            plot_text_draw(img, c.left + tx[k], c.top + ty[k], labels[i], 1, POINT_LABEL, false);
            rect_take(taken, c.pw, c.ph, tx[k] - 1, ty[k] - 1, w + 2, h + 2);
            break;
        }
    }
    free(taken);
    return ERR_OK;
}

// ---------------------------------------------------------------------------
// Heatmap

// The text of row or column label i: the caller's, shortened to LABEL_MAX - 1 characters, or the
// index.
static void cell_label(char *buf, const char *const *labels, int i)
{
    if (labels && labels[i])
        snprintf(buf, LABEL_MAX, "%s", labels[i]);
    else
        snprintf(buf, LABEL_MAX, "%d", i);
}

// Every k-th label is drawn when a cell is narrower than the `need` pixels a label takes; k is
// the smallest of 1, 2, 5, 10, 20, 50, ... that makes room, so labelled indices are round.
static int label_stride(double cell, int need)
{
    static const int mults[3] = {1, 2, 5};
    for (int p = 1;; p *= 10)
        for (int j = 0; j < 3; j++)
            if (cell * mults[j] * p >= need) return mults[j] * p;
}

int plot_heatmap_render(PlotImage *img, const float *values, int rows, int cols,
                        const char *const *row_labels, const char *const *col_labels,
                        const PlotOpts *opts)
{
    CHECK(img, "plot_heatmap_render: img is NULL");
    *img = (PlotImage){0};
    PlotOpts o = opts ? *opts : (PlotOpts){0};
    int rc = opts_size(&o, "plot_heatmap");
    if (rc != ERR_OK) return rc;
    if (rows < 1 || cols < 1)
        return err_set(ERR_INVALID,
                       "plot_heatmap: %d x %d values, nothing to draw; hint: rows "
                       "and cols must be >= 1",
                       rows, cols);
    CHECK(values, "plot_heatmap: values is NULL for %d x %d", rows, cols);
    size_t n = (size_t)rows * (size_t)cols;
    double lo = INFINITY, hi = -INFINITY;
    bool integers = true;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(values[i])) continue;
        lo = fmin(lo, values[i]), hi = fmax(hi, values[i]);
        if (values[i] != nearbyintf(values[i]) || fabsf(values[i]) >= 1e7f) integers = false;
    }
    if (!(lo <= hi))
        return err_set(ERR_INVALID,
                       "plot_heatmap: none of the %d x %d values is finite; hint: "
                       "check the data for NaN/Inf",
                       rows, cols);
    double range = hi - lo;

    // Colour bar labels: the ends, and nice ticks between them that do not crowd the ends.
    double bar_at[PLOT_MAX_TICKS + 2], step;
    char bar_lab[PLOT_MAX_TICKS + 2][LABEL_MAX];
    int nb = 0;
    // The ends are labelled to about three significant digits of the range (integers exactly).
    double fine = range > 0 ? range / 100 : (fabs(lo) > 0 ? fabs(lo) / 100 : 1);
    fine = integers ? 1.0 : pow(10, floor(log10(fine)));
    bar_at[nb] = lo, plot_format_tick(bar_lab[nb++], LABEL_MAX, lo, fine);
    if (range > 0) {
        bar_at[nb] = hi, plot_format_tick(bar_lab[nb++], LABEL_MAX, hi, fine);
        double t[PLOT_MAX_TICKS];
        int nt = plot_nice_ticks(lo, hi, 6, t, &step);
        for (int i = 0; i < nt; i++) {
            if (t[i] - lo < range * 0.12 || hi - t[i] < range * 0.12) continue;
            bar_at[nb] = t[i], plot_format_tick(bar_lab[nb++], LABEL_MAX, t[i], step);
        }
    }
    int bar_text = 0;
    for (int i = 0; i < nb; i++)
        if (plot_text_width(bar_lab[i], 1) > bar_text) bar_text = plot_text_width(bar_lab[i], 1);

    // Margins: row labels on the left, column labels below (turned upright when they do not fit
    // across a cell), the colour bar on the right.
    char lab[LABEL_MAX];
    int row_w = 0, col_w = 0, th = plot_text_height(1);
    for (int i = 0; i < rows; i++) {
        cell_label(lab, row_labels, i);
        if (plot_text_width(lab, 1) > row_w) row_w = plot_text_width(lab, 1);
    }
    for (int j = 0; j < cols; j++) {
        cell_label(lab, col_labels, j);
        if (plot_text_width(lab, 1) > col_w) col_w = plot_text_width(lab, 1);
    }
    bool has_xl = o.xlabel && o.xlabel[0], has_yl = o.ylabel && o.ylabel[0];
    int top = title_height(&o);
    int left = MARGIN + (has_yl ? th + 2 * GAP : 0) + row_w + GAP;
    const int bar_gap = 18, bar_w = 16;
    int right = bar_gap + bar_w + TICK_LEN + GAP + bar_text + MARGIN;
    int avail_w = o.width - left - right;
    bool upright = false;
    int cell_w = 0, cell_h = 0, col_h = th, avail_h = 0;
    for (int pass = 0; pass < 2; pass++) {
        int bottom = GAP + col_h + (has_xl ? th + 2 * GAP : 0) + MARGIN;
        avail_h = o.height - top - bottom;
        if (avail_w < 20 || avail_h < 20)
            return err_set(ERR_INVALID,
                           "plot_heatmap: a %dx%d image leaves no room for the "
                           "cells after the labels; hint: make the image larger or the labels "
                           "shorter",
                           o.width, o.height);
        // Square cells when each gets at least a pixel (rows and columns read alike, as with
        // attention), except that a grid flatter or taller than 6:1 has its short side
        // stretched up to that ratio, so that 3 x 50 values are not a thin strip in an empty
        // image. With less than a pixel per cell the grid fills the space and samples cells.
        cell_w = avail_w / cols, cell_h = avail_h / rows;
        if (cell_w >= 1 && cell_h >= 1) {
            int sq = cell_w < cell_h ? cell_w : cell_h;
            int h6 = sq * cols / (6 * rows), w6 = sq * rows / (6 * cols); // the 6:1 sizes
            cell_h = h6 <= sq ? sq : h6 < cell_h ? h6 : cell_h;
            cell_w = w6 <= sq ? sq : w6 < cell_w ? w6 : cell_w;
        }
        if (pass == 0 && col_w + PLOT_ADVANCE > cell_w && cols > 1) {
            upright = true;
            col_h = col_w;
        } else {
            break;
        }
    }
    int gw = cell_w >= 1 ? cell_w * cols : avail_w;
    int gh = cell_h >= 1 ? cell_h * rows : avail_h;
    // Centre the grid with its labels and colour bar in the image.
    int x_off = (avail_w - gw) / 2, y_off = (avail_h - gh) / 2;
    left += x_off;
    top += y_off;

    image_alloc(img, o.width, o.height);
    // The cells; with cells of 16 pixels or more a 1-pixel white gap separates them.
    int sep = cell_w >= 16 && cell_h >= 16 ? 1 : 0;
    for (int py = 0; py < gh; py++) {
        int i = (int)((int64_t)py * rows / gh);
        for (int px = 0; px < gw; px++) {
            int j = (int)((int64_t)px * cols / gw);
            if (sep && (px % cell_w == cell_w - 1 || py % cell_h == cell_h - 1)) continue;
            float v = values[(size_t)i * cols + j];
            float t = range > 0 ? (float)((v - lo) / range) : 0.5f;
            plot_blend(img, left + px, top + py, plot_colormap(isfinite(v) ? t : NAN), 1.0f);
        }
    }
    // Each cell's value, when every value fits in its cell.
    char fmt_buf[LABEL_MAX];
    double mag = fmax(fabs(lo), fabs(hi));
    int dec = integers ? 0 : mag >= 100 ? 0 : mag >= 10 ? 1 : 2;
    bool annotate = cell_w >= 1 && cell_h >= th + 4;
    for (size_t k = 0; k < n && annotate; k++) {
        snprintf(fmt_buf, sizeof fmt_buf, "%.*f", dec, values[k]);
        if (isfinite(values[k]) && plot_text_width(fmt_buf, 1) > cell_w - 4) annotate = false;
    }
    for (int i = 0; annotate && i < rows; i++)
        for (int j = 0; j < cols; j++) {
            float v = values[(size_t)i * cols + j];
            if (!isfinite(v)) continue;
            PlotRGB bg = plot_colormap(range > 0 ? (float)((v - lo) / range) : 0.5f);
            // Light text on dark cells: Rec. 601 luma.
            double luma = 0.299 * bg.r + 0.587 * bg.g + 0.114 * bg.b;
            snprintf(fmt_buf, sizeof fmt_buf, "%.*f", dec, v);
            text_center(img, left + j * cell_w + (cell_w - sep) / 2,
                        top + i * cell_h + (cell_h - sep) / 2 - PLOT_GLYPH_ASCENT / 2, fmt_buf, 1,
                        luma > 140 ? INK : WHITE);
        }
    // Row labels, right-aligned and centred on their rows; column labels under their columns.
    double rh = (double)gh / rows, cw = (double)gw / cols;
    int rs = label_stride(rh, th + 2);
    for (int i = 0; i < rows; i += rs) {
        cell_label(lab, row_labels, i);
        int y = top + (int)(rh * (i + 0.5)) - PLOT_GLYPH_ASCENT / 2;
        plot_text_draw(img, left - GAP - plot_text_width(lab, 1), y, lab, 1, INK, false);
    }
    int cs = label_stride(cw, upright ? th + 2 : col_w + PLOT_ADVANCE);
    for (int j = 0; j < cols; j += cs) {
        cell_label(lab, col_labels, j);
        int x = left + (int)(cw * (j + 0.5));
        if (upright)
            plot_text_draw(img, x - PLOT_GLYPH_ASCENT / 2, top + gh + GAP, lab, 1, INK, true);
        else
            text_center(img, x, top + gh + GAP, lab, 1, INK);
    }
    // The colour bar: top is max, bottom is min, as tall as the grid (at least 120 pixels).
    int bx = left + gw + bar_gap, bh = gh;
    if (bh < 120) bh = o.height - top - MARGIN < 120 ? o.height - top - MARGIN : 120;
    for (int py = 0; py < bh; py++)
        plot_fill_rect(img, bx, top + py, bar_w, 1, plot_colormap(1.0f - (float)py / (bh - 1)));
    stroke_rect(img, bx - 1, top - 1, bar_w + 2, bh + 2, FRAME);
    for (int i = 0; i < nb; i++) {
        double f = range > 0 ? (bar_at[i] - lo) / range : 0.5;
        int y = top + (int)lrint((1 - f) * (bh - 1));
        plot_fill_rect(img, bx + bar_w + 1, y, TICK_LEN, 1, FRAME);
        plot_text_draw(img, bx + bar_w + 1 + TICK_LEN + GAP, y - PLOT_GLYPH_ASCENT / 2, bar_lab[i],
                       1, INK, false);
    }
    draw_title(img, left + gw / 2, MARGIN + y_off, o.title);
    if (has_xl) text_center(img, left + gw / 2, top + gh + GAP + col_h + 2 * GAP, o.xlabel, 1, INK);
    if (has_yl)
        plot_text_draw(img, MARGIN + x_off, top + gh / 2 - plot_text_width(o.ylabel, 1) / 2,
                       o.ylabel, 1, INK, true);
    return ERR_OK;
}

// ---------------------------------------------------------------------------
// PNG files

typedef struct {
    unsigned char *data;
    size_t n, cap;
} PngBuf;

// stb_image_write hands the encoded bytes to this callback (in one or more pieces).
static void png_sink(void *ctx, void *data, int size)
{
    PngBuf *b = ctx;
    if (b->n + (size_t)size > b->cap) {
        b->cap = (b->n + (size_t)size) * 2;
        b->data = xrealloc(b->data, b->cap);
    }
    memcpy(b->data + b->n, data, (size_t)size);
    b->n += (size_t)size;
}

int plot_image_save(const PlotImage *img, const char *path)
{
    CHECK(img && img->pixels, "plot_image_save: no image (render one first)");
    CHECK(path, "plot_image_save: path is NULL");
    PngBuf b = {0};
    if (!stbi_write_png_to_func(png_sink, &b, img->width, img->height, 3, img->pixels,
                                img->width * 3)) {
        free(b.data);
        return err_set(ERR_IO, "plot: encoding the %dx%d PNG for %s failed; hint: out of memory?",
                       img->width, img->height, path);
    }
    int rc = io_write_atomic(path, b.data, b.n);
    free(b.data);
    return rc;
}

void plot_image_deinit(PlotImage *img)
{
    if (!img) return;
    free(img->pixels);
    *img = (PlotImage){0};
}

// Renders with `rc`'s render call already made, then saves and frees.
static int save_rendered(PlotImage *img, int rc, const char *path)
{
    if (rc == ERR_OK) rc = plot_image_save(img, path);
    plot_image_deinit(img);
    return rc;
}

int plot_lines(const char *path, const PlotSeries *series, int n_series, const PlotOpts *opts)
{
    CHECK(path, "plot_lines: path is NULL");
    PlotImage img;
    return save_rendered(&img, plot_lines_render(&img, series, n_series, opts), path);
}

int plot_scatter(const char *path, const float *x, const float *y, const char *const *labels,
                 const int *groups, int64_t n, const PlotOpts *opts)
{
    CHECK(path, "plot_scatter: path is NULL");
    PlotImage img;
    return save_rendered(&img, plot_scatter_render(&img, x, y, labels, groups, n, opts), path);
}

int plot_heatmap(const char *path, const float *values, int rows, int cols,
                 const char *const *row_labels, const char *const *col_labels, const PlotOpts *opts)
{
    CHECK(path, "plot_heatmap: path is NULL");
    PlotImage img;
    return save_rendered(
        &img, plot_heatmap_render(&img, values, rows, cols, row_labels, col_labels, opts), path);
}
