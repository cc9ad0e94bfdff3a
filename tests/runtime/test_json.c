/* test_json.c - the runtime's JSON reader and string writer: valid input,
 * every kind of malformed input with its exact message, limits. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include "dml_runtime.h"

static int failures;

#define CHECK(cond)                                                   \
  do {                                                                \
    if (!(cond)) {                                                    \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      failures++;                                                     \
    }                                                                 \
  } while (0)

/* Parse from an exact-size heap copy, so ASan catches any read past len. */
static Json *parse_n(const char *text, size_t len) {
  char *copy = malloc(len ? len : 1);
  memcpy(copy, text, len);
  Json *j = json_parse(copy, len, "t.json");
  free(copy);
  return j;
}

static Json *parse(const char *text) { return parse_n(text, strlen(text)); }

static void expect_error_n(int line, const char *text, size_t len, const char *message) {
  Json *j = parse_n(text, len);
  if (j) {
    fprintf(stderr, "%s:%d: %s: parsed, but should fail with: %s\n", __FILE__, line, text, message);
    json_free(j);
    failures++;
  } else if (strcmp(rt_message(), message)) {
    fprintf(stderr, "%s:%d: %s:\n  got      %s\n  expected %s\n", __FILE__, line, text, rt_message(), message);
    failures++;
  }
}

#define EXPECT_ERROR(text, message) expect_error_n(__LINE__, text, strlen(text), message)

static void test_values(void) {
  Json *j = parse(" {\"a\": [1, 2.5, -3e2, true, false, null, \"x\"], \"b\": {}, \"c\": []}\n");
  CHECK(j && j->kind == JSON_OBJ && j->n == 3);
  if (!j) return;
  const Json *a = json_get(j, "a");
  CHECK(a && a->kind == JSON_ARR && a->n == 7);
  if (a && a->n == 7) {
    CHECK(a->items[0].kind == JSON_NUM && a->items[0].num == 1);
    CHECK(a->items[1].num == 2.5 && a->items[2].num == -300);
    CHECK(a->items[3].kind == JSON_BOOL && a->items[3].boolean);
    CHECK(a->items[4].kind == JSON_BOOL && !a->items[4].boolean);
    CHECK(a->items[5].kind == JSON_NULL);
    CHECK(a->items[6].kind == JSON_STR && !strcmp(a->items[6].str, "x"));
  }
  const Json *b = json_get(j, "b"), *c = json_get(j, "c");
  CHECK(b && b->kind == JSON_OBJ && b->n == 0);
  CHECK(c && c->kind == JSON_ARR && c->n == 0);
  CHECK(!json_get(j, "d") && !json_get(a, "a") && !json_get(NULL, "a"));
  CHECK(!strcmp(j->keys[0], "a") && !strcmp(j->keys[1], "b") && !strcmp(j->keys[2], "c"));
  json_free(j);
  json_free(NULL);
}

static void expect_number(const char *text, double v) {
  Json *j = parse(text);
  CHECK(j && j->kind == JSON_NUM && j->num == v);
  if (!(j && j->num == v)) fprintf(stderr, "  number %s\n", text);
  json_free(j);
}

static void test_numbers(void) {
  expect_number("0", 0);
  expect_number("-0", 0);
  expect_number("7", 7);
  expect_number("-12.75", -12.75);
  expect_number("1E+2", 100);
  expect_number("1e-2", 0.01);
  expect_number("2.5E3", 2500);
  expect_number("1.7976931348623157e308", 1.7976931348623157e308);
  expect_number("5e-324", 5e-324);
  expect_number("1e-400", 0); /* underflow is fine, only overflow is refused */
  expect_number("123456789012345678", 123456789012345678.0);
  /* A number at the very end of an unterminated buffer: only "12" of "123". */
  Json *j = parse_n("123", 2);
  CHECK(j && j->num == 12);
  json_free(j);
  j = parse("-0");
  CHECK(j && j->num == 0 && 1 / j->num < 0); /* the sign of zero survives */
  json_free(j);
}

static void test_strings(void) {
  Json *j = parse("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u0041\\u00e9\\u20AC\\uD83D\\uDE00 caf\xc3\xa9 \xf0\x9f\x98\x80\"");
  CHECK(j && j->kind == JSON_STR);
  if (j) CHECK(!strcmp(j->str, "\"\\/\b\f\n\r\tA\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80 caf\xc3\xa9 \xf0\x9f\x98\x80"));
  json_free(j);
  j = parse("\"\"");
  CHECK(j && j->kind == JSON_STR && !strcmp(j->str, ""));
  json_free(j);
  j = parse("{\"\": 1, \"\\u0061\": 2}"); /* "" is a valid key; "\u0061" is "a" */
  CHECK(j && j->n == 2 && json_get(j, "") && json_get(j, "a"));
  json_free(j);
}

static void test_errors(void) {
  EXPECT_ERROR("", "t.json:1:1: error: expected a value, found the end of the text");
  EXPECT_ERROR("   \n  ", "t.json:2:3: error: expected a value, found the end of the text");
  EXPECT_ERROR("{\"a\" 1}", "t.json:1:6: error: expected `:` after an object key");
  EXPECT_ERROR("{\n  \"a\": 1,\n  \"b\" 2\n}", "t.json:3:7: error: expected `:` after an object key");
  EXPECT_ERROR("{\"a\":1,}", "t.json:1:8: error: expected a string key in an object, found `}`");
  EXPECT_ERROR("{a:1}", "t.json:1:2: error: expected a string key in an object, found `a`");
  EXPECT_ERROR("{\"a\":1 \"b\":2}", "t.json:1:8: error: expected `,` or `}` after an object member, found `\"`");
  EXPECT_ERROR("{\"a\":", "t.json:1:6: error: expected a value, found the end of the text");
  EXPECT_ERROR("{\"a\":1", "t.json:1:7: error: expected `,` or `}` after an object member, found the end of the text");
  EXPECT_ERROR("[1,]", "t.json:1:4: error: expected a value, found `]`");
  EXPECT_ERROR("[1 2]", "t.json:1:4: error: expected `,` or `]` after an array element, found `2`");
  EXPECT_ERROR("[1", "t.json:1:3: error: expected `,` or `]` after an array element, found the end of the text");
  EXPECT_ERROR("[,1]", "t.json:1:2: error: expected a value, found `,`");
  EXPECT_ERROR("01", "t.json:1:1: error: invalid number: leading zeros are not allowed");
  EXPECT_ERROR("-012", "t.json:1:1: error: invalid number: leading zeros are not allowed");
  EXPECT_ERROR("-", "t.json:1:2: error: invalid number: expected a digit after `-`, found the end of the text");
  EXPECT_ERROR("-a", "t.json:1:2: error: invalid number: expected a digit after `-`, found `a`");
  EXPECT_ERROR("1.", "t.json:1:3: error: invalid number: expected a digit after the decimal point");
  EXPECT_ERROR("1.e5", "t.json:1:3: error: invalid number: expected a digit after the decimal point");
  EXPECT_ERROR("1e+", "t.json:1:4: error: invalid number: expected a digit in the exponent");
  EXPECT_ERROR("[1E]", "t.json:1:4: error: invalid number: expected a digit in the exponent");
  EXPECT_ERROR(".5", "t.json:1:1: error: expected a value, found `.`");
  EXPECT_ERROR("+1", "t.json:1:1: error: expected a value, found `+`");
  EXPECT_ERROR("1e400", "t.json:1:1: error: number out of range");
  EXPECT_ERROR("[-1e400]", "t.json:1:2: error: number out of range");
  EXPECT_ERROR("0x10", "t.json:1:2: error: unexpected `x` after the JSON value");
  EXPECT_ERROR("NaN", "t.json:1:1: error: expected a value, found `NaN`");
  EXPECT_ERROR("[Infinity]", "t.json:1:2: error: expected a value, found `Infinity`");
  EXPECT_ERROR("tru", "t.json:1:1: error: expected a value, found `tru`");
  EXPECT_ERROR("truex", "t.json:1:1: error: expected a value, found `truex`");
  EXPECT_ERROR("True", "t.json:1:1: error: expected a value, found `True`");
  EXPECT_ERROR("'a'", "t.json:1:1: error: expected a value, found `'`");
  EXPECT_ERROR("// comment\n1", "t.json:1:1: error: expected a value, found `/`");
  EXPECT_ERROR("\xef\xbb\xbf{}", "t.json:1:1: error: expected a value, found byte 0xEF");
  EXPECT_ERROR("\"abc", "t.json:1:1: error: unterminated string");
  EXPECT_ERROR("[\"abc\\\"]", "t.json:1:2: error: unterminated string");
  EXPECT_ERROR("\"a\\qb\"", "t.json:1:3: error: invalid escape `\\` followed by `q` in a string");
  EXPECT_ERROR("\"\\x41\"", "t.json:1:2: error: invalid escape `\\` followed by `x` in a string");
  EXPECT_ERROR("\"\\u12G4\"", "t.json:1:2: error: `\\u` must be followed by 4 hex digits");
  EXPECT_ERROR("\"\\u12\"", "t.json:1:2: error: `\\u` must be followed by 4 hex digits");
  EXPECT_ERROR("\"\\u0000\"", "t.json:1:2: error: `\\u0000` is not allowed in a string");
  EXPECT_ERROR("\"ab\\uD800\"", "t.json:1:4: error: unpaired surrogate `\\uD800` in a string");
  EXPECT_ERROR("\"\\udc00\"", "t.json:1:2: error: unpaired surrogate `\\uDC00` in a string");
  EXPECT_ERROR("\"\\uD800\\u0041\"", "t.json:1:2: error: unpaired surrogate `\\uD800` in a string");
  EXPECT_ERROR("\"\\uD800\\uD800\"", "t.json:1:2: error: unpaired surrogate `\\uD800` in a string");
  EXPECT_ERROR("\"a\tb\"", "t.json:1:3: error: control character 0x09 must be escaped in a string");
  EXPECT_ERROR("[\"a\nb\"]", "t.json:1:4: error: control character 0x0A must be escaped in a string");
  EXPECT_ERROR("\"\xff\"", "t.json:1:2: error: invalid UTF-8 in a string");
  EXPECT_ERROR("\"\xc0\xaf\"", "t.json:1:2: error: invalid UTF-8 in a string");         /* overlong "/" */
  EXPECT_ERROR("\"x\xed\xa0\x80\"", "t.json:1:3: error: invalid UTF-8 in a string");    /* encoded surrogate */
  EXPECT_ERROR("\"\xf4\x90\x80\x80\"", "t.json:1:2: error: invalid UTF-8 in a string"); /* past U+10FFFF */
  EXPECT_ERROR("\"\xe2\x82\"", "t.json:1:2: error: invalid UTF-8 in a string");         /* cut short */
  EXPECT_ERROR("\"\x80\"", "t.json:1:2: error: invalid UTF-8 in a string");             /* lone continuation */
  expect_error_n(__LINE__, "[1,\0 2]", 6, "t.json:1:4: error: NUL byte in the text");
  expect_error_n(__LINE__, "\"a\0\"", 4, "t.json:1:3: error: NUL byte in the text");
  EXPECT_ERROR("{\"a\":1,\"a\":2}", "t.json:1:8: error: duplicate key \"a\" in an object");
  EXPECT_ERROR("{\"x\":{\"a\\n\":1,\"b\":2,\"a\\u000a\":3}}",
               "t.json:1:21: error: duplicate key \"a\\n\" in an object");
  EXPECT_ERROR("[1] x", "t.json:1:5: error: unexpected `x` after the JSON value");
  EXPECT_ERROR("{\"a\":1}}", "t.json:1:8: error: unexpected `}` after the JSON value");
  EXPECT_ERROR("1 2", "t.json:1:3: error: unexpected `2` after the JSON value");
  EXPECT_ERROR("\"a\"\x01", "t.json:1:4: error: unexpected byte 0x01 after the JSON value");
}

/* depth levels of "[" ... "]" */
static char *nested(int depth) {
  char *s = malloc((size_t)depth * 2 + 1);
  memset(s, '[', (size_t)depth);
  memset(s + depth, ']', (size_t)depth);
  s[depth * 2] = '\0';
  return s;
}

static void test_limits(void) {
  char *s = nested(256);
  Json *j = parse(s);
  CHECK(j != NULL);
  json_free(j);
  free(s);
  s = nested(257);
  EXPECT_ERROR(s, "t.json:1:257: error: nesting deeper than 256 levels");
  free(s);
  s = nested(100000);
  EXPECT_ERROR(s, "t.json:1:257: error: nesting deeper than 256 levels");
  free(s);

  /* Big inputs stay fast: many elements, many keys (duplicates found by hashing). */
  enum { N = 200000 };
  char *big = malloc((size_t)N * 24 + 16), *p = big;
  p += sprintf(p, "[");
  for (int i = 0; i < N; i++) p += sprintf(p, "%s%d", i ? "," : "", i);
  sprintf(p, "]");
  j = parse(big);
  CHECK(j && j->kind == JSON_ARR && j->n == N && j->items[N - 1].num == N - 1);
  json_free(j);
  p = big;
  p += sprintf(p, "{");
  for (int i = 0; i < N; i++) p += sprintf(p, "%s\"k%d\":%d", i ? "," : "", i, i);
  sprintf(p, "}");
  j = parse(big);
  CHECK(j && j->kind == JSON_OBJ && j->n == N);
  const Json *v = json_get(j, "k123456");
  CHECK(v && v->num == 123456);
  json_free(j);
  sprintf(p, ",\"k77\":0}");
  j = parse(big);
  CHECK(!j && strstr(rt_message(), "duplicate key \"k77\" in an object"));
  json_free(j);
  free(big);
}

static char *written(const char *s) {
  char *text = NULL;
  size_t len = 0;
  FILE *m = open_memstream(&text, &len);
  json_write_string(m, s);
  fclose(m);
  return text;
}

static void test_write_string(void) {
  char *w = written("a\"b\\c\nd\te\x01" "f\x1f/\xc3\xa9\r\b\f");
  CHECK(!strcmp(w, "\"a\\\"b\\\\c\\nd\\te\\u0001f\\u001F/\xc3\xa9\\r\\b\\f\""));
  free(w);
  w = written("");
  CHECK(!strcmp(w, "\"\""));
  free(w);
  /* Every byte 1..255 that forms valid text survives writing and reading back. */
  char all[128];
  for (int i = 1; i < 128; i++) all[i - 1] = (char)i;
  all[127] = '\0';
  w = written(all);
  Json *j = parse(w);
  CHECK(j && j->kind == JSON_STR && !strcmp(j->str, all));
  json_free(j);
  free(w);
}

int main(void) {
  test_values();
  test_numbers();
  test_strings();
  test_errors();
  test_limits();
  test_write_string();
  if (failures) fprintf(stderr, "test_json: %d check(s) failed\n", failures);
  else printf("test_json: all checks passed\n");
  return failures ? 1 : 0;
}
