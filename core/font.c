/*
 * font.c: the plots' text: a 5x7 bitmap font of our own, text drawing, and the numbers that
 * become tick labels (nice tick steps and their formatting).
 *
 * The font is drawn below as a sheet, twelve glyphs per band and one string per pixel row,
 * '#' for ink and '.' for paper, so a glyph can be read and edited in the source. Band b, row r
 * is sheet[b * PLOT_GLYPH_H + r]; glyph g of the band starts at column 6 * g. Each glyph is 5
 * columns and 9 rows: a capital fills rows 0..6 and sits on the baseline under row 6; lowercase
 * letters are 5 rows high (rows 2..6) with descenders in rows 7..8. The design aims at tick
 * labels first: digits are wide, 0 has a diagonal stroke so it differs from O, and the period
 * and minus are bold enough to be seen at scale 1.
 */
#include "plot_internal.h"

#include "err.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

// ---------------------------------------------------------------------------
// The glyph sheet: printable ASCII 32..126 (95 glyphs; the last band's twelfth slot is blank)

#define FONT_PER_BAND 12
#define FONT_FIRST    32
#define FONT_LAST     126

static const char *const font_sheet[] = {
    // ' '   '!'   '"'   '#'   '$'   '%'   '&'   "'"   '('   ')'   '*'   '+'
    "..... ..#.. .#.#. .#.#. ..#.. ##... .##.. ..#.. ...#. .#... ..... .....",
    "..... ..#.. .#.#. .#.#. .#### ##..# #..#. ..#.. ..#.. ..#.. ..#.. ..#..",
    "..... ..#.. .#.#. ##### #.#.. ...#. #.#.. .#... .#... ...#. #.#.# ..#..",
    "..... ..#.. ..... .#.#. .###. ..#.. .#... ..... .#... ...#. .###. #####",
    "..... ..#.. ..... ##### ..#.# .#... #.#.# ..... .#... ...#. #.#.# ..#..",
    "..... ..... ..... .#.#. ####. #..## #..#. ..... ..#.. ..#.. ..#.. ..#..",
    "..... ..#.. ..... .#.#. ..#.. ...## .##.# ..... ...#. .#... ..... .....",
    "..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... .....",
    "..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... .....",
    // ','   '-'   '.'   '/'   '0'   '1'   '2'   '3'   '4'   '5'   '6'   '7'
    "..... ..... ..... ....# .###. ..#.. .###. ##### ...#. ##### ..##. #####",
    "..... ..... ..... ....# #...# .##.. #...# ...#. ..##. #.... .#... ....#",
    "..... ..... ..... ...#. #..## #.#.. ....# ..#.. .#.#. ####. #.... ...#.",
    "..... ##### ..... ..#.. #.#.# ..#.. ...#. ...#. #..#. ....# ####. ..#..",
    "..... ..... ..... .#... ##..# ..#.. ..#.. ....# ##### ....# #...# .#...",
    ".##.. ..... .##.. #.... #...# ..#.. .#... #...# ...#. #...# #...# .#...",
    ".##.. ..... .##.. #.... .###. .###. ##### .###. ...#. .###. .###. .#...",
    "..#.. ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... .....",
    ".#... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... .....",
    // '8'   '9'   ':'   ';'   '<'   '='   '>'   '?'   '@'   'A'   'B'   'C'
    ".###. .###. ..... ..... ...#. ..... .#... .###. .###. ..#.. ####. .###.",
    "#...# #...# .##.. .##.. ..#.. ..... ..#.. #...# #...# .#.#. #...# #...#",
    "#...# #...# .##.. .##.. .#... ##### ...#. ....# #.### #...# #...# #....",
    ".###. .#### ..... ..... #.... ..... ....# ...#. #.#.# #...# ####. #....",
    "#...# ....# .##.. .##.. .#... ##### ...#. ..#.. #.### ##### #...# #....",
    "#...# ...#. .##.. .##.. ..#.. ..... ..#.. ..... #.... #...# #...# #...#",
    ".###. .##.. ..... ..#.. ...#. ..... .#... ..#.. .#### #...# ####. .###.",
    "..... ..... ..... .#... ..... ..... ..... ..... ..... ..... ..... .....",
    "..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... .....",
    // 'D'   'E'   'F'   'G'   'H'   'I'   'J'   'K'   'L'   'M'   'N'   'O'
    "###.. ##### ##### .###. #...# .###. ..### #...# #.... #...# #...# .###.",
    "#..#. #.... #.... #...# #...# ..#.. ...#. #..#. #.... ##.## #...# #...#",
    "#...# #.... #.... #.... #...# ..#.. ...#. #.#.. #.... #.#.# ##..# #...#",
    "#...# ####. ####. #.### ##### ..#.. ...#. ##... #.... #.#.# #.#.# #...#",
    "#...# #.... #.... #...# #...# ..#.. ...#. #.#.. #.... #...# #..## #...#",
    "#..#. #.... #.... #...# #...# ..#.. #..#. #..#. #.... #...# #...# #...#",
    "###.. ##### #.... .#### #...# .###. .##.. #...# ##### #...# #...# .###.",
    "..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... .....",
    "..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... .....",
    // 'P'   'Q'   'R'   'S'   'T'   'U'   'V'   'W'   'X'   'Y'   'Z'   '['
    "####. .###. ####. .#### ##### #...# #...# #...# #...# #...# ##### .###.",
    "#...# #...# #...# #.... ..#.. #...# #...# #...# #...# #...# ....# .#...",
    "#...# #...# #...# #.... ..#.. #...# #...# #...# .#.#. .#.#. ...#. .#...",
    "####. #...# ####. .###. ..#.. #...# #...# #.#.# ..#.. ..#.. ..#.. .#...",
    "#.... #.#.# #.#.. ....# ..#.. #...# #...# #.#.# .#.#. ..#.. .#... .#...",
    "#.... #..#. #..#. ....# ..#.. #...# .#.#. #.#.# #...# ..#.. #.... .#...",
    "#.... .##.# #...# ####. ..#.. .###. ..#.. .#.#. #...# ..#.. ##### .###.",
    "..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... .....",
    "..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... .....",
    // '\\'  ']'   '^'   '_'   '`'   'a'   'b'   'c'   'd'   'e'   'f'   'g'
    "#.... .###. ..#.. ..... .#... ..... #.... ..... ....# ..... ..##. .....",
    "#.... ...#. .#.#. ..... ..#.. ..... #.... ..... ....# ..... .#..# .....",
    ".#... ...#. #...# ..... ...#. .###. #.##. .###. .##.# .###. .#... .####",
    "..#.. ...#. ..... ..... ..... ....# ##..# #.... #..## #...# ###.. #...#",
    "...#. ...#. ..... ..... ..... .#### #...# #.... #...# ##### .#... #...#",
    "....# ...#. ..... ..... ..... #...# #...# #...# #...# #.... .#... #...#",
    "....# .###. ..... ..... ..... .#### ####. .###. .#### .###. .#... .####",
    "..... ..... ..... ##### ..... ..... ..... ..... ..... ..... ..... ....#",
    "..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... .###.",
    // 'h'   'i'   'j'   'k'   'l'   'm'   'n'   'o'   'p'   'q'   'r'   's'
    "#.... ..#.. ...#. #.... .##.. ..... ..... ..... ..... ..... ..... .....",
    "#.... ..... ..... #.... ..#.. ..... ..... ..... ..... ..... ..... .....",
    "#.##. .##.. ..##. #..#. ..#.. ##.#. #.##. .###. ####. .#### #.##. .####",
    "##..# ..#.. ...#. #.#.. ..#.. #.#.# ##..# #...# #...# #...# ##..# #....",
    "#...# ..#.. ...#. ##... ..#.. #.#.# #...# #...# #...# #...# #.... .###.",
    "#...# ..#.. ...#. #.#.. ..#.. #.#.# #...# #...# #...# #...# #.... ....#",
    "#...# .###. ...#. #..#. .###. #.#.# #...# .###. ####. .#### #.... ####.",
    "..... ..... #..#. ..... ..... ..... ..... ..... #.... ....# ..... .....",
    "..... ..... .##.. ..... ..... ..... ..... ..... #.... ....# ..... .....",
    // 't'   'u'   'v'   'w'   'x'   'y'   'z'   '{'   '|'   '}'   '~'
    ".#... ..... ..... ..... ..... ..... ..... ...## ..#.. ##... ..... .....",
    ".#... ..... ..... ..... ..... ..... ..... ..#.. ..#.. ..#.. ..... .....",
    "###.. #...# #...# #...# #...# #...# ##### ..#.. ..#.. ..#.. .#... .....",
    ".#... #...# #...# #...# .#.#. #...# ...#. .#... ..#.. ...#. #.#.# .....",
    ".#... #...# #...# #.#.# ..#.. #...# ..#.. ..#.. ..#.. ..#.. ...#. .....",
    ".#..# #..## .#.#. #.#.# .#.#. #...# .#... ..#.. ..#.. ..#.. ..... .....",
    "..##. .##.# ..#.. .#.#. #...# .#### ##### ...## ..#.. ##... ..... .....",
    "..... ..... ..... ..... ..... ....# ..... ..... ..#.. ..... ..... .....",
    "..... ..... ..... ..... ..... .###. ..... ..... ..#.. ..... ..... .....",
};

_Static_assert(sizeof font_sheet / sizeof font_sheet[0] ==
                   PLOT_GLYPH_H * ((FONT_LAST - FONT_FIRST + FONT_PER_BAND) / FONT_PER_BAND),
               "font sheet: one band of PLOT_GLYPH_H rows per twelve glyphs");

void plot_font_glyph(int c, uint8_t rows[PLOT_GLYPH_H])
{
    if (c < FONT_FIRST || c > FONT_LAST) c = '?';
    int g = c - FONT_FIRST;
    int band = g / FONT_PER_BAND, col = (g % FONT_PER_BAND) * (PLOT_GLYPH_W + 1);
    for (int r = 0; r < PLOT_GLYPH_H; r++) {
        const char *s = font_sheet[band * PLOT_GLYPH_H + r] + col;
        uint8_t bits = 0;
        for (int i = 0; i < PLOT_GLYPH_W; i++) bits = (uint8_t)(bits << 1 | (s[i] == '#'));
        rows[r] = bits;
    }
}

// ---------------------------------------------------------------------------
// Text

int plot_text_width(const char *s, int scale)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0) return 0;
    // n glyphs with a blank column between neighbours, none after the last.
    return (int)(n * PLOT_ADVANCE - 1) * scale;
}

int plot_text_height(int scale)
{
    return PLOT_GLYPH_H * scale;
}

void plot_text_draw(PlotImage *img, int x, int y, const char *s, int scale, PlotRGB color,
                    bool vertical)
{
    CHECK(scale >= 1, "plot_text_draw: scale %d, expected >= 1", scale);
    if (!s) return;
    int w = plot_text_width(s, scale);
    for (int k = 0; s[k]; k++) {
        uint8_t rows[PLOT_GLYPH_H];
        plot_font_glyph((unsigned char)s[k], rows);
        for (int r = 0; r < PLOT_GLYPH_H; r++) {
            for (int i = 0; i < PLOT_GLYPH_W; i++) {
                if (!(rows[r] >> (PLOT_GLYPH_W - 1 - i) & 1)) continue;
                // (hx, hy): the font pixel's block in horizontal text, relative to the box.
                int hx = (k * PLOT_ADVANCE + i) * scale, hy = r * scale;
                if (!vertical) {
                    plot_fill_rect(img, x + hx, y + hy, scale, scale, color);
                } else {
                    // Turning counter-clockwise sends the text's row to the box's column and
                    // its left-to-right position to bottom-to-top: (hx, hy) -> (hy, w - hx).
                    plot_fill_rect(img, x + hy, y + w - hx - scale, scale, scale, color);
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Ticks

// 10^k for 0 <= k <= 22 is exact in a double, so dividing by it rounds once: 3 * 2 / 10 gives
// the double nearest 0.6, where 3 * 0.2 gives 0.6000000000000001.
static double pow10i(int k)
{
    double p = 1.0;
    for (int i = 0; i < k; i++) p *= 10.0;
    return p;
}

static double tick_value(double i, int m, int k)
{
    return k < 0 ? i * m / pow10i(-k) : i * m * pow10i(k);
}

int plot_nice_ticks(double lo, double hi, int max_ticks, double *ticks, double *step)
{
    CHECK(isfinite(lo) && isfinite(hi) && lo <= hi,
          "plot_nice_ticks: range [%g, %g], expected finite lo <= hi", lo, hi);
    if (max_ticks < 2) max_ticks = 2;
    if (max_ticks > PLOT_MAX_TICKS) max_ticks = PLOT_MAX_TICKS;
    double span = hi - lo;
    if (span <= 0) span = lo != 0 ? fabs(lo) : 1.0;
    // Start a decade below the step that would give exactly max_ticks and walk up through
    // 1, 2, 5 x 10^k; the first step whose ticks fit is the finest readable one.
    static const int mults[3] = {1, 2, 5};
    for (int k = (int)floor(log10(span / max_ticks)) - 1;; k++) {
        for (int j = 0; j < 3; j++) {
            double s = tick_value(1, mults[j], k);
            // Indices of the first and last multiples of s inside [lo, hi], with a tolerance
            // of a millionth of a step so that hi = 1.0000000001 still counts 1 as inside.
            double first = ceil(lo / s - 1e-6), last = floor(hi / s + 1e-6);
            if (last - first + 1 > max_ticks) continue;
            int count = 0;
            for (double i = first; i <= last; i++) {
                double t = tick_value(i, mults[j], k);
                ticks[count++] = fabs(t) < s * 1e-6 ? 0.0 : t;
            }
            *step = s;
            return count;
        }
    }
}

// Rewrites printf's exponent "e+07" / "e-05" as "e7" / "e-5".
static void tidy_exponent(char *buf)
{
    char *e = strchr(buf, 'e');
    if (!e) return;
    char *src = e + 1, *dst = e + 1;
    if (*src == '+')
        src++;
    else if (*src == '-')
        *dst++ = *src++;
    while (*src == '0' && src[1]) src++;
    memmove(dst, src, strlen(src) + 1);
}

void plot_format_tick(char *buf, size_t n, double v, double step)
{
    step = fabs(step);
    if (!(step > 0) || !isfinite(step)) step = fabs(v) > 0 ? fabs(v) : 1.0;
    if (fabs(v) < step * 1e-6) v = 0.0; // no "-0.0" from rounding noise
    int k = (int)floor(log10(step) + 1e-9);
    // Plain digits up to 9 of them ("250000000" reads better than "2.5e8" next to "3.0e8");
    // exponents beyond that, and for steps so fine that the decimals would run long.
    if (v == 0.0 && step < 1e-4) {
        snprintf(buf, n, "0");
        return;
    }
    if (fabs(v) >= 1e9 || step < 1e-4) {
        // Exponent form: as many mantissa digits as it takes to tell neighbouring ticks apart.
        int e = (int)floor(log10(fabs(v)) + 1e-9);
        int dec = e - k;
        if (dec < 0) dec = 0;
        if (dec > 6) dec = 6;
        snprintf(buf, n, "%.*e", dec, v);
        tidy_exponent(buf);
        return;
    }
    // Fixed form with the step's decimals: a step of 0.05 needs two, 20 needs none.
    int dec = k < 0 ? -k : 0;
    snprintf(buf, n, "%.*f", dec, v);
}

void plot_format_pow10(char *buf, size_t n, int m, int e)
{
    if (e >= -4 && e <= 5)
        snprintf(buf, n, "%.*f", e < 0 ? -e : 0, tick_value(1, m, e));
    else
        snprintf(buf, n, "%de%d", m, e);
}
