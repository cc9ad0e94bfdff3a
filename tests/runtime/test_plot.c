/* test_plot.c - plot_svg: the file is well-formed XML (a small checker
 * here, and xmllint too when it is installed), says what it should (title,
 * legend, axis titles, tick labels), draws the right points, breaks curves
 * at missing values, copes with no epoch, one epoch, constant and extreme
 * values, and fails cleanly on a path it cannot write. */
#define _GNU_SOURCE
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include "dml_runtime.h"

static int failures;
static char dir[] = "/tmp/test_plot.XXXXXX";

#define CHECK(cond, ...)                                                   \
  do {                                                                     \
    if (!(cond)) {                                                         \
      failures++;                                                          \
      fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond); \
      fprintf(stderr, __VA_ARGS__);                                        \
      fputc('\n', stderr);                                                 \
    }                                                                      \
  } while (0)

/* ---- helpers ------------------------------------------------------------------ */

static char *path_in_dir(const char *name) {
  char *p;
  if (asprintf(&p, "%s/%s", dir, name) < 0) abort();
  return p;
}

static char *read_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long size = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *text = malloc((size_t)size + 1);
  size_t got = fread(text, 1, (size_t)size, f);
  text[got] = 0;
  fclose(f);
  return text;
}

static int count_dir_entries(const char *path) {
  DIR *d = opendir(path);
  if (!d) return -1;
  int n = 0;
  for (struct dirent *e; (e = readdir(d));)
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
  closedir(d);
  return n;
}

static int count_occurrences(const char *text, const char *needle) {
  int n = 0;
  for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle)) n++;
  return n;
}

/* The number of points of each polyline of class cls, in order; returns how many polylines. */
static int polyline_points(const char *svg, const char *cls, int *counts, int max) {
  char key[128];
  snprintf(key, sizeof key, "<polyline class=\"%s\"", cls);
  int lines = 0;
  for (const char *p = svg; (p = strstr(p, key)); p += strlen(key)) {
    const char *pts = strstr(p, "points=\"");
    const char *end = strchr(p, '>');
    if (!pts || pts > end) continue;
    pts += strlen("points=\"");
    int n = 0;
    for (const char *q = pts; *q && *q != '"';) {
      while (*q == ' ') q++;
      if (*q == '"') break;
      n++;
      while (*q && *q != ' ' && *q != '"') q++;
    }
    if (lines < max) counts[lines] = n;
    lines++;
  }
  return lines;
}

/* ---- a small XML well-formedness checker -------------------------------------- */

static const char *xml_error;

static bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
         c == ':' || c == '.';
}

/* An entity reference at s ("&amp;", "&#65;", "&#xFFFD;"); its length, 0 if malformed. */
static size_t entity_length(const char *s) {
  static const char *named[] = {"&amp;", "&lt;", "&gt;", "&quot;", "&apos;"};
  for (size_t i = 0; i < sizeof named / sizeof *named; i++)
    if (strncmp(s, named[i], strlen(named[i])) == 0) return strlen(named[i]);
  if (strncmp(s, "&#x", 3) == 0) {
    size_t n = 3;
    while (strchr("0123456789abcdefABCDEF", s[n]) && s[n]) n++;
    return n > 3 && s[n] == ';' ? n + 1 : 0;
  }
  if (strncmp(s, "&#", 2) == 0) {
    size_t n = 2;
    while (s[n] >= '0' && s[n] <= '9') n++;
    return n > 2 && s[n] == ';' ? n + 1 : 0;
  }
  return 0;
}

/* Character data up to the next '<': every '&' starts an entity, no '>' after "]]". */
static bool check_text(const char **ps) {
  const char *s = *ps;
  while (*s && *s != '<') {
    if (*s == '&') {
      size_t n = entity_length(s);
      if (!n) return (xml_error = "raw & in text"), false;
      s += n;
    } else {
      s++;
    }
  }
  *ps = s;
  return true;
}

static bool valid_utf8(const unsigned char *s) {
  while (*s) {
    int len = *s < 0x80 ? 1 : (*s & 0xE0) == 0xC0 ? 2 : (*s & 0xF0) == 0xE0 ? 3 : (*s & 0xF8) == 0xF0 ? 4 : 0;
    if (!len || (*s < 0x20 && *s != '\n' && *s != '\t' && *s != '\r')) return false;
    for (int i = 1; i < len; i++)
      if ((s[i] & 0xC0) != 0x80) return false;
    s += len;
  }
  return true;
}

/* Attributes of a start tag up to '>' or "/>": name="value" (or '...'),
 * names unique, no '<' or raw '&' in values. */
static bool check_attributes(const char **ps) {
  const char *s = *ps;
  const char *names[64];
  size_t lens[64];
  int n = 0;
  for (;;) {
    while (*s == ' ' || *s == '\n' || *s == '\t') s++;
    if (*s == '>' || (s[0] == '/' && s[1] == '>')) break;
    const char *name = s;
    while (is_name_char(*s)) s++;
    if (s == name) return (xml_error = "bad attribute name"), false;
    size_t len = (size_t)(s - name);
    for (int i = 0; i < n; i++)
      if (lens[i] == len && strncmp(names[i], name, len) == 0) return (xml_error = "duplicate attribute"), false;
    if (n < 64) names[n] = name, lens[n++] = len;
    if (*s++ != '=') return (xml_error = "attribute without ="), false;
    char quote = *s++;
    if (quote != '"' && quote != '\'') return (xml_error = "unquoted attribute"), false;
    while (*s != quote) {
      if (!*s || *s == '<') return (xml_error = "< or end of file in attribute"), false;
      if (*s == '&') {
        size_t k = entity_length(s);
        if (!k) return (xml_error = "raw & in attribute"), false;
        s += k;
      } else {
        s++;
      }
    }
    s++;
    if (*s != ' ' && *s != '>' && *s != '/' && *s != '\n') return (xml_error = "no space after attribute"), false;
  }
  *ps = s;
  return true;
}

/* Well-formed: one root element, tags balanced, declaration first,
 * comments closed, nothing but blanks outside the root. */
static bool xml_well_formed(const char *doc) {
  xml_error = NULL;
  if (!valid_utf8((const unsigned char *)doc)) return (xml_error = "invalid UTF-8 or control character"), false;
  const char *s = doc;
  if (strncmp(s, "<?xml", 5) == 0) {
    s = strstr(s, "?>");
    if (!s) return (xml_error = "unterminated declaration"), false;
    s += 2;
  }
  const char *stack[256];
  size_t stack_len[256];
  int depth = 0, roots = 0;
  while (*s) {
    if (*s != '<') {
      const char *start = s;
      if (!check_text(&s)) return false;
      if (depth == 0)
        for (const char *q = start; q < s; q++)
          if (*q != ' ' && *q != '\n' && *q != '\t' && *q != '\r') return (xml_error = "text outside root"), false;
      continue;
    }
    if (strncmp(s, "<!--", 4) == 0) {
      s = strstr(s + 4, "-->");
      if (!s) return (xml_error = "unterminated comment"), false;
      s += 3;
    } else if (s[1] == '/') {
      const char *name = s + 2, *e = name;
      while (is_name_char(*e)) e++;
      size_t len = (size_t)(e - name);
      if (depth == 0 || stack_len[depth - 1] != len || strncmp(stack[depth - 1], name, len) != 0)
        return (xml_error = "mismatched end tag"), false;
      depth--;
      while (*e == ' ') e++;
      if (*e != '>') return (xml_error = "bad end tag"), false;
      s = e + 1;
    } else {
      const char *name = s + 1, *e = name;
      while (is_name_char(*e)) e++;
      if (e == name) return (xml_error = "raw < in text"), false;
      if (depth == 0 && roots++) return (xml_error = "two root elements"), false;
      size_t len = (size_t)(e - name);
      if (!check_attributes(&e)) return false;
      if (*e == '/') {
        s = e + 2;
      } else {
        if (depth == 256) return (xml_error = "too deep"), false;
        stack[depth] = name, stack_len[depth++] = len;
        s = e + 1;
      }
    }
  }
  if (depth) return (xml_error = "unclosed element"), false;
  if (!roots) return (xml_error = "no root element"), false;
  return true;
}

static bool have_xmllint(void) {
  static int known = -1;
  if (known < 0) known = system("command -v xmllint >/dev/null 2>&1") == 0;
  return known;
}

/* Render rows to NAME in the test folder and return the text, after the
 * checks every picture must pass: written, well-formed, no NaN or Inf
 * printed as a coordinate, exponents compact, the title shown. */
static char *render(const char *name, const char *title, const EpochRow *rows, int n, const char *metric) {
  char *path = path_in_dir(name);
  bool ok = plot_svg(path, title, rows, n, metric);
  CHECK(ok, "%s: plot_svg failed: %s", name, rt_message());
  char *svg = read_file(path);
  CHECK(svg != NULL, "%s: not written", name);
  if (!svg) svg = strdup("");
  CHECK(xml_well_formed(svg), "%s: not well-formed XML: %s", name, xml_error);
  if (have_xmllint()) {
    char *cmd;
    if (asprintf(&cmd, "xmllint --noout '%s'", path) < 0) abort();
    CHECK(system(cmd) == 0, "%s: xmllint rejects it", name);
    free(cmd);
  }
  CHECK(strncmp(svg, "<?xml", 5) == 0 && strstr(svg, "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\""),
        "%s: not an SVG 1.1 document", name);
  CHECK(strstr(svg, "font-family=\"sans-serif\""), "%s: no sans-serif font", name);
  CHECK(!strcasestr(svg, "nan") && !strcasestr(svg, "inf"), "%s: a NaN or Inf was printed", name);
  CHECK(!strstr(svg, "e+"), "%s: an exponent like 1e+06 was printed", name);
  free(path);
  return svg;
}

/* ---- tests -------------------------------------------------------------------- */

/* A known log: 5 epochs, loss decaying from 2.3 to 0.001 (log scale), accuracy. */
static void test_known_log(void) {
  EpochRow rows[5] = {
    {1, 2.3, 2.4, 0.10, 1}, {2, 0.5, 0.6, 0.50, 2}, {3, 0.1, 0.15, 0.80, 3}, {4, 0.01, 0.03, 0.90, 4},
    {5, 0.001, 0.02, 0.95, 5},
  };
  char *svg = render("known.svg", "mlp <digits> & \"friends\"", rows, 5, "accuracy");
  CHECK(strstr(svg, "mlp &lt;digits&gt; &amp; &quot;friends&quot;"), "title missing or not escaped");
  CHECK(strstr(svg, ">train loss<"), "no train loss legend");
  CHECK(strstr(svg, ">validation loss<"), "no validation loss legend");
  CHECK(strstr(svg, ">epoch<"), "no epoch axis title");
  CHECK(strstr(svg, ">loss<"), "no loss axis title");
  CHECK(strstr(svg, ">validation accuracy<"), "no metric axis title");
  CHECK(strstr(svg, "#0072B2") && strstr(svg, "#D55E00"), "not the colour-blind-safe pair");
  int counts[4] = {0};
  CHECK(polyline_points(svg, "train-loss", counts, 4) == 1 && counts[0] == 5, "train loss: want one line of 5 points");
  CHECK(polyline_points(svg, "validation-loss", counts, 4) == 1 && counts[0] == 5, "validation loss: want 5 points");
  CHECK(polyline_points(svg, "validation-metric", counts, 4) == 1 && counts[0] == 5, "metric: want 5 points");
  /* Log scale: powers of ten label the loss axis. */
  CHECK(strstr(svg, ">0.01<") && strstr(svg, ">0.001<") && strstr(svg, ">1<"), "no log-scale tick labels");
  /* Accuracy spanning 10%..95%: the whole percentage axis. */
  CHECK(strstr(svg, ">0%<") && strstr(svg, ">100%<"), "accuracy axis not 0..100%%");
  CHECK(strstr(svg, ">5<"), "no epoch tick label 5");
  CHECK(count_occurrences(svg, "<circle") == 5 + 1, "want 5 train markers and one in the legend");
  free(svg);
}

/* A loss within a factor 20 stays linear, with 1/2/5 ticks. */
static void test_linear_scale(void) {
  EpochRow rows[4] = {{1, 0.8, 0.85, NAN, 0}, {2, 0.7, 0.75, NAN, 0}, {3, 0.6, 0.66, NAN, 0}, {4, 0.5, 0.6, NAN, 0}};
  char *svg = render("linear.svg", "linear", rows, 4, NULL);
  CHECK(strstr(svg, ">0.5<") && strstr(svg, ">0.6<") && strstr(svg, ">0.7<") && strstr(svg, ">0.8<"),
        "no linear ticks 0.5..0.8");
  CHECK(!strstr(svg, ">0.01<") && !strstr(svg, ">0.1<"), "log ticks on a linear axis");
  CHECK(!strstr(svg, "validation accuracy") && !strstr(svg, "validation-metric"), "a metric panel without metric");
  CHECK(strstr(svg, "width=\"480\""), "one panel should be 480 wide");
  free(svg);
}

/* Missing values break curves; a series with none is left out, legend and all. */
static void test_missing_values(void) {
  EpochRow rows[6];
  for (int i = 0; i < 6; i++) rows[i] = (EpochRow){i + 1, 1.0 / (i + 1), NAN, 0.5 + 0.05 * i, i};
  rows[3].train_loss = NAN;
  rows[1].val_metric = INFINITY;
  char *svg = render("missing.svg", "missing values", rows, 6, "accuracy");
  int counts[4] = {0};
  CHECK(polyline_points(svg, "train-loss", counts, 4) == 2 && counts[0] == 3 && counts[1] == 2,
        "train loss: want lines of 3 and 2 points around the NaN");
  CHECK(polyline_points(svg, "validation-loss", counts, 4) == 0, "an all-NaN series was drawn");
  CHECK(!strstr(svg, "validation loss"), "legend entry for an all-NaN series");
  CHECK(strstr(svg, ">train loss<"), "no train loss legend");
  /* Inf at the second epoch: the first point stands alone (a marker, no line). */
  CHECK(polyline_points(svg, "validation-metric", counts, 4) == 1 && counts[0] == 4, "metric: want 4 points after Inf");
  free(svg);

  /* Every loss missing: the panel still has its axes, and says so. */
  for (int i = 0; i < 6; i++) rows[i].train_loss = NAN;
  svg = render("no_loss.svg", "no loss", rows, 6, "accuracy");
  CHECK(strstr(svg, "no data"), "an empty panel does not say so");
  CHECK(!strstr(svg, "train loss") && !strstr(svg, "<polyline class=\"train-loss\""), "all-NaN train loss drawn");
  CHECK(strstr(svg, ">epoch<"), "no epoch axis title");
  free(svg);
}

static void test_no_epochs(void) {
  char *svg = render("empty.svg", "nothing yet", NULL, 0, "accuracy");
  CHECK(strstr(svg, "no epochs"), "n = 0 does not say no epochs");
  CHECK(strstr(svg, "nothing yet"), "n = 0 lost the title");
  CHECK(!strstr(svg, "<polyline"), "n = 0 drew a line");
  free(svg);
}

static void test_one_epoch(void) {
  EpochRow row = {1, 0.7, 0.75, 0.4, 1};
  char *svg = render("one.svg", "one epoch", &row, 1, "rmse");
  CHECK(!strstr(svg, "<polyline"), "one point makes no line");
  CHECK(count_occurrences(svg, "<circle") == 2, "want the one train marker and the legend's");
  CHECK(strstr(svg, ">1<"), "no tick at epoch 1");
  CHECK(strstr(svg, ">validation rmse<"), "no rmse axis title");
  CHECK(strstr(svg, ">0.7<"), "no y tick at the single loss value");
  free(svg);
}

/* Constant, huge and tiny values: no zero-range axis, compact labels. */
static void test_extremes(void) {
  EpochRow rows[8];
  for (int i = 0; i < 8; i++) rows[i] = (EpochRow){i + 1, 0, 0, 0.9, i};
  char *svg = render("zero.svg", "constant zero", rows, 8, "accuracy");
  CHECK(strstr(svg, ">0<"), "no tick at the constant 0");
  CHECK(strstr(svg, "%<"), "accuracy not in percent");
  free(svg);

  for (int i = 0; i < 8; i++) rows[i] = (EpochRow){i + 1, 1e12, 1e12, 1e-12, i};
  svg = render("huge.svg", "constant huge", rows, 8, "rmse");
  CHECK(strstr(svg, ">1e12<"), "no 1e12 tick");
  CHECK(strstr(svg, ">1e-12<"), "no 1e-12 tick");
  free(svg);

  for (int i = 0; i < 8; i++) rows[i] = (EpochRow){i + 1, pow(10, 12 - 3.0 * i), NAN, NAN, i};
  svg = render("span.svg", "24 decades", rows, 8, NULL);
  CHECK(strstr(svg, ">1e12<") && strstr(svg, ">1e-9<"), "no compact power-of-ten labels");
  CHECK(count_occurrences(svg, "text-anchor=\"end\"") <= 10, "too many y labels to read");
  free(svg);

  for (int i = 0; i < 8; i++) rows[i] = (EpochRow){i + 1, 1000.0 / (i + 1) / (i + 1), NAN, NAN, i};
  svg = render("decades.svg", "three decades", rows, 8, NULL);
  CHECK(strstr(svg, ">10<") && strstr(svg, ">100<") && strstr(svg, ">1000<"), "10, 100, 1000 not plain");
  free(svg);
}

/* Accuracy within a narrow band zooms in rather than drawing a flat line. */
static void test_narrow_accuracy(void) {
  EpochRow rows[5];
  for (int i = 0; i < 5; i++) rows[i] = (EpochRow){i + 1, 0.3, 0.3, 0.95 + 0.01 * i, i};
  char *svg = render("narrow.svg", "narrow", rows, 5, "accuracy");
  CHECK(!strstr(svg, ">0%<") && strstr(svg, ">96%<"), "narrow accuracy not zoomed in");
  free(svg);
}

static void test_bad_title(void) {
  EpochRow row = {1, 0.5, 0.6, 0.7, 1};
  char *svg = render("title.svg", "caf\xc3\xa9 \xff\x01 <&>", &row, 1, "accuracy");
  CHECK(strstr(svg, "caf\xc3\xa9 "), "valid UTF-8 lost");
  CHECK(strstr(svg, "&lt;&amp;&gt;"), "markup characters not escaped");
  free(svg);
}

/* Overwriting works and leaves no temporary behind. */
static void test_atomic(void) {
  EpochRow row = {1, 0.5, 0.6, 0.7, 1};
  int before = count_dir_entries(dir);
  free(render("again.svg", "first", &row, 1, NULL));
  char *svg = render("again.svg", "second", &row, 1, NULL);
  CHECK(strstr(svg, "second") && !strstr(svg, "first"), "not overwritten");
  CHECK(count_dir_entries(dir) == before + 1, "a temporary file was left behind");
  free(svg);
}

static void test_unwritable(void) {
  EpochRow row = {1, 0.5, 0.6, 0.7, 1};
  char *missing = path_in_dir("missing"), *path = path_in_dir("missing/curves.svg"), *want;
  if (asprintf(&want, "error: cannot write %s: No such file or directory", path) < 0) abort();
  int before = count_dir_entries(dir);
  CHECK(!plot_svg(path, "t", &row, 1, "accuracy"), "writing into a missing folder succeeded");
  CHECK(strcmp(rt_message(), want) == 0, "message: got \"%s\", want \"%s\"", rt_message(), want);
  CHECK(access(missing, F_OK) != 0, "the missing folder appeared");
  CHECK(count_dir_entries(dir) == before, "something was left behind");
  free(want);
  free(path);
  free(missing);
}

/* The checker itself must reject what a browser rejects. */
static void test_checker(void) {
  CHECK(xml_well_formed("<a><b x=\"1\"/>t &amp; u</a>"), "rejects good XML: %s", xml_error);
  CHECK(!xml_well_formed("<a><b></a></b>"), "accepts crossed tags");
  CHECK(!xml_well_formed("<a x=1/>"), "accepts an unquoted attribute");
  CHECK(!xml_well_formed("<a>x & y</a>"), "accepts a raw &");
  CHECK(!xml_well_formed("<a>x < y</a>"), "accepts a raw <");
  CHECK(!xml_well_formed("<a x=\"1\" x=\"2\"/>"), "accepts a duplicate attribute");
  CHECK(!xml_well_formed("<a/><b/>"), "accepts two roots");
  CHECK(!xml_well_formed("<a>\xff</a>"), "accepts invalid UTF-8");
}

static void remove_dir(void) {
  DIR *d = opendir(dir);
  if (!d) return;
  for (struct dirent *e; (e = readdir(d));) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    char *p = path_in_dir(e->d_name);
    unlink(p);
    free(p);
  }
  closedir(d);
  rmdir(dir);
}

int main(void) {
  if (!mkdtemp(dir)) {
    perror("mkdtemp");
    return 1;
  }
  test_checker();
  test_known_log();
  test_linear_scale();
  test_missing_values();
  test_no_epochs();
  test_one_epoch();
  test_extremes();
  test_narrow_accuracy();
  test_bad_title();
  test_atomic();
  test_unwritable();
  if (failures) fprintf(stderr, "test_plot: %d check(s) failed; files kept in %s\n", failures, dir);
  else remove_dir();
  if (!failures) printf("test_plot: all checks passed\n");
  return failures != 0;
}
