/* plot.c - the training log as a picture (`model train --plot curves.svg`):
 * a standalone SVG 1.1 file with the loss curves (train and validation)
 * and, beside them, the validation metric, per epoch. Written by hand
 * rather than through a library: the picture is simple and must open in
 * any browser without anything else installed.
 *
 * Missing measurements (NaN, and Inf, which cannot be placed either) break
 * a curve; a series with no value at all is left out with its legend
 * entry. The loss axis turns logarithmic when the losses span more than a
 * factor 20, so the late epochs of a decaying loss stay readable. */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "dml_runtime.h"
#include "outfile.h"

enum { MAX_TICKS = 64, LABEL_LEN = 48 };

/* Geometry in SVG user units (pixels). */
enum {
  PANEL_W = 480,          /* one panel; the picture is one or two of them wide */
  HEIGHT = 400,
  TITLE_H = 40,           /* the band holding the title */
  LEGEND_H = 40,          /* the band above each plot holding its legend */
  BOTTOM_MARGIN = 58,     /* x tick labels and the x axis title */
  RIGHT_MARGIN = 22,
  INSET = 8,              /* data keep this far from the frame, so markers do not sit on it */
  TICK_FONT = 12,
  TICK_CHAR_W = 7,        /* a generous average width of a tick label character at TICK_FONT */
  AXIS_FONT = 13,
  TITLE_FONT = 18,
};

/* Okabe-Ito colours, which colour-blind readers tell apart too; the
 * markers differ in shape as well. Validation is orange in both panels. */
static const char TRAIN_COLOUR[] = "#0072B2", VALIDATION_COLOUR[] = "#D55E00";
static const char FRAME_COLOUR[] = "#444444", GRID_COLOUR[] = "#e3e3e3", MINOR_GRID_COLOUR[] = "#f2f2f2";
static const char TEXT_COLOUR[] = "#222222";

typedef struct Tick {
  double v;
  bool major;              /* labelled, with a full-length tick mark */
  char label[LABEL_LEN];
} Tick;

typedef struct Axis {
  double lo, hi;           /* the values at the two ends (positive when log) */
  bool log;
  Tick ticks[MAX_TICKS];
  int nticks;
} Axis;

typedef enum { MARK_CIRCLE, MARK_SQUARE } Mark;

/* One curve: a column of the log (a field of EpochRow) times a scale. */
typedef struct Series {
  const char *label, *cls, *colour;
  Mark mark;
  size_t field;            /* offsetof(EpochRow, ...) */
  double scale;
} Series;

typedef struct Panel {
  double x0;               /* left edge of the panel */
  double left, right, top, bottom; /* the plot frame */
  const char *ytitle, *ytitle_name; /* the y axis title is ytitle followed by ytitle_name (escaped) */
  Series series[2];
  int nseries;             /* series that have at least one value */
  bool legend;
  Axis x, y;
  const char *suffix;      /* after every y tick label: "%" or "" */
} Panel;

/* ---- numbers ------------------------------------------------------------------ */

/* Beyond this a value cannot be placed on an axis without overflowing
 * the arithmetic, so it is treated like a missing one. */
static const double HUGE_VALUE = 1e300;

static bool plottable(double v, bool log) { return isfinite(v) && fabs(v) < HUGE_VALUE && (!log || v > 0); }

static double row_value(const EpochRow *r, const Series *s) {
  double v;
  memcpy(&v, (const char *)r + s->field, sizeof v);
  return v * s->scale;
}

/* Shorten an exponent as printf writes it: "1e+06" -> "1e6", "2.5e-05" -> "2.5e-5". */
static void compact_exponent(char *s) {
  char *e = strchr(s, 'e');
  if (!e) return;
  char *src = e + 1, *dst = e + 1;
  if (*src == '+') src++;
  else if (*src == '-') *dst++ = *src++;
  while (*src == '0' && src[1]) src++;
  memmove(dst, src, strlen(src) + 1);
}

/* Drop zeros after a decimal point ("1.50" -> "1.5", "2.0" -> "2"), in
 * the mantissa when there is an exponent. */
static void strip_zeros(char *s) {
  char *dot = strchr(s, '.');
  if (!dot) return;
  char *e = strchr(s, 'e');
  char *end = e ? e : s + strlen(s);
  char *p = end;
  while (p > dot + 1 && p[-1] == '0') p--;
  if (p == dot + 1) p = dot;
  memmove(p, end, strlen(end) + 1);
}

/* %g, but with "1e6" rather than "1e+06". */
static void format_compact(char *out, size_t size, double v) {
  snprintf(out, size, "%g", v);
  compact_exponent(out);
}

/* A linear tick label: as many decimals as the step needs and no more;
 * an exponent only for very large or very small axes. */
static void format_linear(char *out, size_t size, double v, double step, bool scientific) {
  if (fabs(v) < step * 1e-6) {
    snprintf(out, size, "0");
    return;
  }
  int step_exp = (int)floor(log10(step) + 1e-9);
  if (scientific) {
    int v_exp = (int)floor(log10(fabs(v)) + 1e-9);
    int digits = v_exp > step_exp ? v_exp - step_exp : 0;
    snprintf(out, size, "%.*e", digits, v);
    strip_zeros(out);
    compact_exponent(out);
  } else {
    snprintf(out, size, "%.*f", step_exp < 0 ? -step_exp : 0, v);
    strip_zeros(out);
  }
}

/* The smallest of 1, 2, 5 times a power of ten not below raw. */
static double nice_step(double raw) {
  double p = pow(10, floor(log10(raw))), f = raw / p;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * p;
}

/* ---- axes --------------------------------------------------------------------- */

static void add_tick(Axis *a, double v, bool major) {
  if (a->nticks < MAX_TICKS) a->ticks[a->nticks++] = (Tick){.v = v, .major = major};
}

/* Ticks at the multiples of step within [lo, hi], labelled. */
static void linear_ticks(Axis *a, double step) {
  double mag = fmax(fabs(a->lo), fabs(a->hi));
  bool scientific = mag >= 1e6 || step < 1e-4 * (1 - 1e-9);
  double k0 = ceil(a->lo / step - 1e-9), k1 = floor(a->hi / step + 1e-9);
  for (double k = k0; k <= k1 && a->nticks < MAX_TICKS; k++) {
    add_tick(a, k * step, true);
    Tick *t = &a->ticks[a->nticks - 1];
    format_linear(t->label, sizeof t->label, t->v, step, scientific);
  }
}

/* A constant (or nearly so) range cannot be drawn: widen it around its value. */
static void widen_degenerate(double *lo, double *hi, double pad_if_zero) {
  if (*hi - *lo > fmax(fabs(*lo), fabs(*hi)) * 1e-12) return;
  double pad = *lo == 0 ? pad_if_zero : fabs(*lo) * 0.05;
  *lo -= pad;
  *hi += pad;
}

/* A linear value axis covering [lo, hi], its ends rounded out to nice ticks. */
static void linear_value_axis(Axis *a, double lo, double hi) {
  widen_degenerate(&lo, &hi, 1);
  double step = nice_step((hi - lo) / 5);
  *a = (Axis){.lo = floor(lo / step) * step, .hi = ceil(hi / step) * step};
  linear_ticks(a, step);
}

/* A log axis from the decade below lo to the decade above hi. Labels at
 * powers of ten (every few when there are many decades); with few decades
 * 2x and 5x are labelled too, or else marked by minor ticks. */
static void log_value_axis(Axis *a, double lo, double hi) {
  int d0 = (int)floor(log10(lo) + 1e-9), d1 = (int)ceil(log10(hi) - 1e-9);
  if (d1 <= d0) d1 = d0 + 1;
  int decades = d1 - d0, stride = decades <= 8 ? 1 : (decades + 7) / 8;
  d1 = d0 + (decades + stride - 1) / stride * stride; /* so that the top is labelled */
  *a = (Axis){.lo = pow(10, d0), .hi = pow(10, d1), .log = true};
  for (int d = d0; d <= d1; d++) {
    double p = pow(10, d);
    if ((d - d0) % stride == 0) add_tick(a, p, true);
    if (d == d1 || stride > 1) continue;
    for (int m = 2; m <= 9; m++) {
      bool labelled = decades <= 2 && (m == 2 || m == 5);
      if (labelled || decades <= 6) add_tick(a, m * p, labelled);
    }
  }
  for (int i = 0; i < a->nticks; i++)
    if (a->ticks[i].major) format_compact(a->ticks[i].label, sizeof a->ticks[i].label, a->ticks[i].v);
}

/* The epoch axis: exactly the epochs logged, integer ticks. */
static void epoch_axis(Axis *a, const EpochRow *rows, int n) {
  double lo = rows[0].epoch, hi = rows[0].epoch;
  for (int i = 1; i < n; i++) {
    lo = fmin(lo, rows[i].epoch);
    hi = fmax(hi, rows[i].epoch);
  }
  if (hi == lo) { /* one epoch: put it in the middle */
    lo -= 1;
    hi += 1;
  }
  *a = (Axis){.lo = lo, .hi = hi};
  linear_ticks(a, fmax(1, nice_step((hi - lo) / 8)));
}

/* The range of the values of the given series; false when there are none. */
static bool series_range(const EpochRow *rows, int n, const Series *s, int ns, double *lo, double *hi,
                         bool *all_positive) {
  bool any = false;
  *all_positive = true;
  for (int k = 0; k < ns; k++)
    for (int i = 0; i < n; i++) {
      double v = row_value(&rows[i], &s[k]);
      if (!plottable(v, false)) continue;
      *lo = any ? fmin(*lo, v) : v;
      *hi = any ? fmax(*hi, v) : v;
      *all_positive &= v > 0;
      any = true;
    }
  return any;
}

static bool series_has_values(const EpochRow *rows, int n, const Series *s) {
  double lo, hi;
  bool all_positive;
  return series_range(rows, n, s, 1, &lo, &hi, &all_positive);
}

/* ---- layout ------------------------------------------------------------------- */

static int widest_label(const Axis *a) {
  int w = 0;
  for (int i = 0; i < a->nticks; i++)
    if (a->ticks[i].major) w = (int)fmax(w, (double)strlen(a->ticks[i].label));
  return w;
}

/* Place the frame once the y labels are known: they decide the left margin. */
static void place_frame(Panel *p) {
  int chars = widest_label(&p->y) + (int)strlen(p->suffix);
  p->left = p->x0 + 30 + chars * TICK_CHAR_W + 10;
  p->right = p->x0 + PANEL_W - RIGHT_MARGIN;
  p->top = TITLE_H + LEGEND_H;
  p->bottom = HEIGHT - BOTTOM_MARGIN;
}

static void add_series(Panel *p, const EpochRow *rows, int n, Series s) {
  if (series_has_values(rows, n, &s)) p->series[p->nseries++] = s;
}

static void build_loss_panel(Panel *p, double x0, const EpochRow *rows, int n) {
  *p = (Panel){.x0 = x0, .ytitle = "loss", .ytitle_name = "", .suffix = "", .legend = true};
  add_series(p, rows, n, (Series){"train loss", "train-loss", TRAIN_COLOUR, MARK_CIRCLE,
                                  offsetof(EpochRow, train_loss), 1});
  add_series(p, rows, n, (Series){"validation loss", "validation-loss", VALIDATION_COLOUR, MARK_SQUARE,
                                  offsetof(EpochRow, val_loss), 1});
  double lo = 0, hi = 1;
  bool all_positive = false;
  bool any = series_range(rows, n, p->series, p->nseries, &lo, &hi, &all_positive);
  /* Log scale only when every loss can be placed on it: a zero or negative
   * loss would vanish from the picture. */
  if (any && all_positive && hi / lo > 20) log_value_axis(&p->y, lo, hi);
  else linear_value_axis(&p->y, lo, hi);
  epoch_axis(&p->x, rows, n);
  place_frame(p);
}

/* An accuracy is a fraction, drawn as a percentage: over 0..100% unless it
 * stays within a narrow band, which would then be a flat line. */
static void percent_axis(Axis *a, double lo, double hi) {
  if (hi - lo >= 25) {
    *a = (Axis){.lo = 0, .hi = 100};
    linear_ticks(a, 20);
    return;
  }
  widen_degenerate(&lo, &hi, 1);
  double step = nice_step((hi - lo) / 5);
  *a = (Axis){.lo = fmax(0, floor(lo / step) * step), .hi = fmin(100, ceil(hi / step) * step)};
  linear_ticks(a, step);
}

static void build_metric_panel(Panel *p, double x0, const EpochRow *rows, int n, const char *metric) {
  *p = (Panel){.x0 = x0, .ytitle = "validation ", .ytitle_name = metric, .suffix = ""};
  Series s = {"validation ", "validation-metric", VALIDATION_COLOUR, MARK_SQUARE, offsetof(EpochRow, val_metric), 1};
  add_series(p, rows, n, s);
  double lo = 0, hi = 1;
  bool all_positive;
  bool any = series_range(rows, n, &s, 1, &lo, &hi, &all_positive);
  /* Percentages only for fractions: an "accuracy" already in percent is drawn as it is. */
  if (strcmp(metric, "accuracy") == 0 && (!any || (lo >= 0 && hi <= 1))) {
    p->series[0].scale = 100;
    p->suffix = "%";
    percent_axis(&p->y, lo * 100, hi * 100);
  } else {
    linear_value_axis(&p->y, lo, hi);
  }
  epoch_axis(&p->x, rows, n);
  place_frame(p);
}

/* ---- SVG output --------------------------------------------------------------- */

/* The length of the valid UTF-8 sequence at s that XML allows, 0 if there is none. */
static int xml_char_length(const unsigned char *s) {
  unsigned c = s[0];
  if (c < 0x80) return c >= 0x20 || c == '\t' || c == '\n' || c == '\r';
  int len = c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
  if (!len) return 0;
  unsigned lo = 0x80, hi = 0xBF; /* the second byte's range excludes overlongs, surrogates, > U+10FFFF */
  if (c == 0xE0) lo = 0xA0;
  if (c == 0xED) hi = 0x9F;
  if (c == 0xF0) lo = 0x90;
  if (c == 0xF4) hi = 0x8F;
  if (s[1] < lo || s[1] > hi) return 0;
  for (int i = 2; i < len; i++)
    if ((s[i] & 0xC0) != 0x80) return 0;
  if (c == 0xEF && s[1] == 0xBF && (s[2] == 0xBE || s[2] == 0xBF)) return 0; /* U+FFFE, U+FFFF */
  return len;
}

/* Text as XML character data: markup characters escaped, and whatever is
 * not a valid XML character (bad UTF-8, control codes) replaced, since a
 * browser refuses the whole file over a single one. */
static void put_text(FILE *f, const char *text) {
  const unsigned char *s = (const unsigned char *)text;
  while (*s) {
    int len = xml_char_length(s);
    if (len == 0) {
      fputs("&#xFFFD;", f);
      s++;
      continue;
    }
    switch (*s) {
    case '&': fputs("&amp;", f); break;
    case '<': fputs("&lt;", f); break;
    case '>': fputs("&gt;", f); break;
    case '"': fputs("&quot;", f); break;
    case '\'': fputs("&apos;", f); break;
    case '\n': case '\r': case '\t': fputc(' ', f); break;
    default: fwrite(s, 1, (size_t)len, f);
    }
    s += len;
  }
}

/* Characters (not bytes) in a UTF-8 string, to size the title. */
static size_t text_width_chars(const char *s) {
  size_t n = 0;
  for (; *s; s++) n += ((unsigned char)*s & 0xC0) != 0x80;
  return n;
}

static double axis_fraction(const Axis *a, double v) {
  if (a->log) return (log10(v) - log10(a->lo)) / (log10(a->hi) - log10(a->lo));
  return (v - a->lo) / (a->hi - a->lo);
}

static double px_x(const Panel *p, double v) {
  return p->left + INSET + axis_fraction(&p->x, v) * (p->right - p->left - 2 * INSET);
}

static double px_y(const Panel *p, double v) {
  return p->bottom - INSET - axis_fraction(&p->y, v) * (p->bottom - p->top - 2 * INSET);
}

static void put_marker(FILE *f, Mark mark, double x, double y, double r, const char *colour) {
  if (mark == MARK_CIRCLE)
    fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"%.1f\" fill=\"%s\"/>\n", x, y, r, colour);
  else
    fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"/>\n", x - r * 0.9, y - r * 0.9,
            r * 1.8, r * 1.8, colour);
}

static void put_grid_and_ticks(FILE *f, const Panel *p) {
  fputs("<g stroke-width=\"1\">\n", f);
  for (int i = 0; i < p->y.nticks; i++) {
    const Tick *t = &p->y.ticks[i];
    double y = px_y(p, t->v);
    fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\"/>\n", p->left, y, p->right, y,
            t->major ? GRID_COLOUR : MINOR_GRID_COLOUR);
    fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\"/>\n", p->left - (t->major ? 5 : 3),
            y, p->left, y, FRAME_COLOUR);
  }
  for (int i = 0; i < p->x.nticks; i++) {
    double x = px_x(p, p->x.ticks[i].v);
    fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\"/>\n", x, p->top, x, p->bottom,
            GRID_COLOUR);
    fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\"/>\n", x, p->bottom, x,
            p->bottom + 5, FRAME_COLOUR);
  }
  fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"%s\"/>\n", p->left,
          p->top, p->right - p->left, p->bottom - p->top, FRAME_COLOUR);
  fputs("</g>\n", f);
}

static void put_tick_labels(FILE *f, const Panel *p) {
  fprintf(f, "<g font-size=\"%d\" fill=\"%s\">\n", TICK_FONT, TEXT_COLOUR);
  for (int i = 0; i < p->y.nticks; i++) {
    const Tick *t = &p->y.ticks[i];
    if (!t->major) continue;
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">", p->left - 8, px_y(p, t->v) + TICK_FONT * 0.35);
    put_text(f, t->label);
    put_text(f, p->suffix);
    fputs("</text>\n", f);
  }
  for (int i = 0; i < p->x.nticks; i++) {
    const Tick *t = &p->x.ticks[i];
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">", px_x(p, t->v), p->bottom + 8 + TICK_FONT);
    put_text(f, t->label);
    fputs("</text>\n", f);
  }
  fputs("</g>\n", f);
}

static void put_axis_titles(FILE *f, const Panel *p) {
  double mid_x = (p->left + p->right) / 2, mid_y = (p->top + p->bottom) / 2;
  fprintf(f, "<g font-size=\"%d\" fill=\"%s\" text-anchor=\"middle\">\n", AXIS_FONT, TEXT_COLOUR);
  fprintf(f, "<text x=\"%.1f\" y=\"%.1f\">epoch</text>\n", mid_x, p->bottom + 44.0);
  fprintf(f, "<text transform=\"translate(%.1f %.1f) rotate(-90)\">", p->x0 + 20, mid_y);
  put_text(f, p->ytitle);
  put_text(f, p->ytitle_name);
  fputs("</text>\n</g>\n", f);
}

/* With many epochs, markers would merge into a thick smudge: they shrink,
 * then go, except on points with no neighbour, which no line shows. */
static double marker_radius(int n) { return n <= 50 ? 3.2 : n <= 150 ? 2.2 : 0; }

/* One polyline per run of consecutive measured epochs, then the markers. */
static void put_series(FILE *f, const Panel *p, const Series *s, const EpochRow *rows, int n) {
  bool log = p->y.log;
  for (int i = 0; i < n;) {
    if (!plottable(row_value(&rows[i], s), log)) {
      i++;
      continue;
    }
    int end = i;
    while (end < n && plottable(row_value(&rows[end], s), log)) end++;
    if (end - i >= 2) {
      fprintf(f, "<polyline class=\"%s\" fill=\"none\" stroke=\"%s\" stroke-width=\"2\" stroke-linejoin=\"round\" "
                 "points=\"", s->cls, s->colour);
      for (int k = i; k < end; k++)
        fprintf(f, "%s%.1f,%.1f", k > i ? " " : "", px_x(p, rows[k].epoch), px_y(p, row_value(&rows[k], s)));
      fputs("\"/>\n", f);
    }
    i = end;
  }
  double r = marker_radius(n);
  fprintf(f, "<g class=\"%s-markers\">\n", s->cls);
  for (int i = 0; i < n; i++) {
    if (!plottable(row_value(&rows[i], s), log)) continue;
    bool alone = (i == 0 || !plottable(row_value(&rows[i - 1], s), log)) &&
                 (i == n - 1 || !plottable(row_value(&rows[i + 1], s), log));
    if (r > 0 || alone)
      put_marker(f, s->mark, px_x(p, rows[i].epoch), px_y(p, row_value(&rows[i], s)), r > 0 ? r : 2.5, s->colour);
  }
  fputs("</g>\n", f);
}

/* Legend entries side by side in a box above the top right of the frame. */
static void put_legend(FILE *f, const Panel *p) {
  if (!p->legend || p->nseries == 0) return;
  const double sample_w = 22, gap = 8, pad = 8, h = 22;
  double width = pad;
  for (int k = 0; k < p->nseries; k++)
    width += sample_w + 6 + text_width_chars(p->series[k].label) * 6.8 + (k + 1 < p->nseries ? gap : 0);
  width += pad;
  double x = p->right - width, y = p->top - h - 9, mid = y + h / 2;
  fprintf(f, "<g class=\"legend\" font-size=\"%d\" fill=\"%s\">\n", TICK_FONT, TEXT_COLOUR);
  fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" rx=\"3\" "
             "fill=\"#ffffff\" stroke=\"#bbbbbb\"/>\n", x, y, width, h);
  x += pad;
  for (int k = 0; k < p->nseries; k++) {
    const Series *s = &p->series[k];
    fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"2\"/>\n", x, mid,
            x + sample_w, mid, s->colour);
    put_marker(f, s->mark, x + sample_w / 2, mid, 3.2, s->colour);
    x += sample_w + 6;
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\">", x, mid + TICK_FONT * 0.35);
    put_text(f, s->label);
    fputs("</text>\n", f);
    x += text_width_chars(s->label) * 6.8 + gap;
  }
  fputs("</g>\n", f);
}

static void put_centred_note(FILE *f, double x, double y, const char *note) {
  fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"%d\" fill=\"#777777\" text-anchor=\"middle\">%s</text>\n", x, y,
          AXIS_FONT + 1, note);
}

static void put_panel(FILE *f, const Panel *p, const EpochRow *rows, int n) {
  fputs("<g>\n", f);
  put_grid_and_ticks(f, p);
  put_tick_labels(f, p);
  put_axis_titles(f, p);
  if (p->nseries == 0) put_centred_note(f, (p->left + p->right) / 2, (p->top + p->bottom) / 2, "no data");
  /* Validation after train, so that where they overlap the later, usually
   * more telling, curve is on top. */
  for (int k = 0; k < p->nseries; k++) put_series(f, p, &p->series[k], rows, n);
  put_legend(f, p);
  fputs("</g>\n", f);
}

static void put_title(FILE *f, double width, const char *title) {
  /* Shrink a long title to fit rather than let it run off the picture. */
  double chars = (double)text_width_chars(title), size = TITLE_FONT;
  if (chars * size * 0.6 > width - 20) size = fmax(8, (width - 20) / (chars * 0.6));
  fprintf(f, "<text x=\"%.1f\" y=\"27\" font-size=\"%.1f\" font-weight=\"bold\" fill=\"%s\" text-anchor=\"middle\">",
          width / 2, size, TEXT_COLOUR);
  put_text(f, title);
  fputs("</text>\n", f);
}

static void put_svg(FILE *f, const char *title, const EpochRow *rows, int n, const char *metric) {
  int panels = metric ? 2 : 1, width = panels * PANEL_W;
  fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n", f);
  fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"%d\" height=\"%d\" "
             "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\">\n", width, HEIGHT, width, HEIGHT);
  fputs("<title>", f);
  put_text(f, title);
  fputs("</title>\n", f);
  fprintf(f, "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"#ffffff\"/>\n", width, HEIGHT);
  put_title(f, width, title);
  if (n == 0) {
    double top = TITLE_H + LEGEND_H, bottom = HEIGHT - BOTTOM_MARGIN;
    fprintf(f, "<rect x=\"30\" y=\"%d\" width=\"%d\" height=\"%.1f\" fill=\"none\" stroke=\"#bbbbbb\"/>\n", (int)top,
            width - 30 - RIGHT_MARGIN, bottom - top);
    put_centred_note(f, (30 + width - RIGHT_MARGIN) / 2.0, (top + bottom) / 2, "no epochs");
  } else {
    Panel p;
    build_loss_panel(&p, 0, rows, n);
    put_panel(f, &p, rows, n);
    if (metric) {
      build_metric_panel(&p, PANEL_W, rows, n, metric);
      put_panel(f, &p, rows, n);
    }
  }
  fputs("</svg>\n", f);
}

/* ---- the file ----------------------------------------------------------------- */

/* Written whole or not at all (outfile.h): a reader never sees half a picture. */
bool plot_svg(const char *path, const char *title, const EpochRow *rows, int n, const char *metric) {
  if (!title) title = "";
  if (n < 0 || !rows) n = 0;
  OutFile out;
  const char *why = outfile_open(&out, path);
  if (!why) {
    put_svg(out.stream, title, rows, n, metric);
    why = outfile_commit(&out);
  }
  return !why || rt_error("cannot write %s: %s", path, why);
}
