/* checkpoint.c - parameters in the safetensors format
 * (https://github.com/huggingface/safetensors): an 8-byte little-endian
 * header length N, N bytes of JSON mapping each tensor name to
 * {"dtype", "shape", "data_offsets": [begin, end]} (offsets relative to the
 * data after the header) plus an optional "__metadata__" object of strings,
 * then the data. Other tools read our files, so the loader trusts nothing:
 * every field, offset and size is checked and errors name the file. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "dml_runtime.h"
#include "outfile.h"

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "safetensors data is little-endian; add byte swapping");

enum { HEADER_LIMIT = 100 * 1000 * 1000, DATA_ALIGN = 64 };
#define MAX_EXACT_DOUBLE 9007199254740992.0 /* 2^53: larger integers do not survive JSON numbers */

static const char *dtype_name(RtType t) { return t == RT_F64 ? "F64" : t == RT_I32 ? "I32" : "F32"; }

static bool dtype_from_name(const char *s, RtType *t) {
  if (!strcmp(s, "F32")) *t = RT_F32;
  else if (!strcmp(s, "F64")) *t = RT_F64;
  else if (!strcmp(s, "I32")) *t = RT_I32;
  else return false;
  return true;
}

/* The size in bytes of a tensor of this shape; false on overflow. */
static bool tensor_bytes(RtType t, int rank, const int64_t *dims, uint64_t *bytes) {
  uint64_t n = rt_type_size(t);
  for (int i = 0; i < rank; i++)
    if (dims[i] < 0 || __builtin_mul_overflow(n, (uint64_t)dims[i], &n)) return false;
  *bytes = n;
  return true;
}

/* ---- saving ------------------------------------------------------------------- */

static int compare_strings(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The first name that occurs twice in names[0..n), or NULL. */
static const char *find_duplicate(const char **names, int n) {
  if (n < 2) return NULL;
  const char **sorted = malloc((size_t)n * sizeof *sorted);
  if (!sorted) return NULL;
  memcpy(sorted, names, (size_t)n * sizeof *sorted);
  qsort(sorted, (size_t)n, sizeof *sorted, compare_strings);
  const char *dup = NULL;
  for (int i = 1; i < n && !dup; i++)
    if (!strcmp(sorted[i - 1], sorted[i])) dup = sorted[i];
  free(sorted);
  return dup;
}

/* Every dimension an integer that a JSON reader holds exactly in a double. */
static bool dims_fit_json(const CkTensor *t) {
  for (int d = 0; d < t->rank; d++)
    if (t->dims[d] > (int64_t)MAX_EXACT_DOUBLE) return false;
  return true;
}

/* Reject what would make a file the loader refuses. */
static bool check_save_arguments(const char *path, const CkTensor *t, int n, const CkMeta *meta, int nmeta) {
  const char **names = malloc(((size_t)(n > nmeta ? n : nmeta) + 1) * sizeof *names);
  if (!names) return rt_error("cannot write %s: out of memory", path);
  bool ok = true;
  uint64_t total = 0;
  for (int i = 0; i < n && ok; i++) {
    uint64_t bytes;
    names[i] = t[i].name;
    if (!strcmp(t[i].name, "__metadata__"))
      ok = rt_error("cannot write %s: a tensor may not be called \"__metadata__\"", path);
    else if (t[i].rank < 0 || t[i].rank > RT_MAX_RANK)
      ok = rt_error("cannot write %s: tensor \"%s\" has rank %d", path, t[i].name, t[i].rank);
    else if (!tensor_bytes(t[i].type, t[i].rank, t[i].dims, &bytes) || !dims_fit_json(&t[i]) ||
             bytes > (uint64_t)MAX_EXACT_DOUBLE - total)
      ok = rt_error("cannot write %s: tensor \"%s\" has a negative or too large shape", path, t[i].name);
    else total += bytes;
  }
  const char *dup = ok ? find_duplicate(names, n) : NULL;
  if (dup) ok = rt_error("cannot write %s: two tensors are called \"%s\"", path, dup);
  for (int i = 0; i < nmeta && ok; i++) names[i] = meta[i].key;
  dup = ok ? find_duplicate(names, nmeta) : NULL;
  if (dup) ok = rt_error("cannot write %s: the metadata key \"%s\" occurs twice", path, dup);
  free(names);
  return ok;
}

static void write_shape(FILE *f, const CkTensor *t) {
  putc('[', f);
  for (int d = 0; d < t->rank; d++) fprintf(f, "%s%lld", d ? "," : "", (long long)t->dims[d]);
  putc(']', f);
}

/* The JSON header, padded with spaces to a multiple of 8 bytes so that the
 * data starts 8-aligned in the file. */
static bool build_header(const CkTensor *t, int n, const CkMeta *meta, int nmeta, char **text, size_t *len) {
  FILE *f = open_memstream(text, len);
  if (!f) return false;
  putc('{', f);
  if (nmeta > 0) {
    fputs("\"__metadata__\":{", f);
    for (int i = 0; i < nmeta; i++) {
      if (i) putc(',', f);
      json_write_string(f, meta[i].key);
      putc(':', f);
      json_write_string(f, meta[i].value);
    }
    putc('}', f);
  }
  uint64_t offset = 0;
  for (int i = 0; i < n; i++) {
    uint64_t bytes = 0;
    tensor_bytes(t[i].type, t[i].rank, t[i].dims, &bytes);
    if (i || nmeta > 0) putc(',', f);
    json_write_string(f, t[i].name);
    fprintf(f, ":{\"dtype\":\"%s\",\"shape\":", dtype_name(t[i].type));
    write_shape(f, &t[i]);
    fprintf(f, ",\"data_offsets\":[%llu,%llu]}", (unsigned long long)offset, (unsigned long long)(offset + bytes));
    offset += bytes;
  }
  putc('}', f);
  long used = ftell(f);
  for (long i = used; i % 8 != 0; i++) putc(' ', f);
  return fclose(f) == 0;
}

/* The header length, header and data into f (a failed write leaves f's
 * error set, which the commit reports). */
static void write_contents(FILE *f, const char *header, size_t header_len, const CkTensor *t, int n) {
  uint64_t le_len = header_len; /* the machine is little-endian, see the static assertion */
  fwrite(&le_len, 8, 1, f);
  fwrite(header, 1, header_len, f);
  for (int i = 0; i < n; i++) {
    uint64_t bytes = 0;
    tensor_bytes(t[i].type, t[i].rank, t[i].dims, &bytes);
    if (bytes) fwrite(t[i].data, 1, bytes, f);
  }
}

bool ckpt_save(const char *path, const CkTensor *t, int n, const CkMeta *meta, int nmeta) {
  if (!check_save_arguments(path, t, n, meta, nmeta)) return false;
  char *header = NULL;
  size_t header_len = 0;
  if (!build_header(t, n, meta, nmeta, &header, &header_len)) {
    free(header);
    return rt_error("cannot write %s: out of memory", path);
  }
  OutFile out;
  const char *why = outfile_open(&out, path);
  if (!why) {
    write_contents(out.stream, header, header_len, t, n);
    why = outfile_commit(&out);
  }
  free(header);
  return !why || rt_error("cannot write %s: %s", path, why);
}

/* ---- loading ------------------------------------------------------------------ */

/* A tensor being loaded: where its bytes lie in the data buffer. */
typedef struct Entry {
  CkTensor t;
  uint64_t begin, end;
  int index; /* position in the header, to order empty tensors at one offset */
} Entry;

typedef struct Loader {
  const char *path;
  FILE *f;
  uint64_t file_size, data_size; /* data_size: what follows the header */
  Json *header;
  Entry *entries;
  int nentries;
} Loader;

/* "PATH: error: MESSAGE". Returns false. */
static bool __attribute__((format(printf, 2, 3))) refuse(const Loader *L, const char *fmt, ...) {
  char message[1536];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(message, sizeof message, fmt, ap);
  va_end(ap);
  return rt_error_at(L->path, 0, 0, "%s", message);
}

/* A non-negative integer that a double holds exactly. */
static bool is_count(const Json *j, uint64_t *v) {
  if (!j || j->kind != JSON_NUM || !(j->num >= 0) || j->num > MAX_EXACT_DOUBLE || j->num != (double)(uint64_t)j->num)
    return false;
  *v = (uint64_t)j->num;
  return true;
}

static bool read_exactly(Loader *L, void *p, size_t n) { return n == 0 || fread(p, 1, n, L->f) == n; }

/* Open the file and read the header length and header. */
static bool read_header(Loader *L, char **text, uint64_t *len) {
  struct stat st;
  L->f = fopen(L->path, "rbe");
  if (!L->f || fstat(fileno(L->f), &st) != 0) return rt_error("cannot read %s: %s", L->path, strerror(errno));
  if (!S_ISREG(st.st_mode)) return refuse(L, "not a regular file");
  L->file_size = (uint64_t)st.st_size;
  unsigned char size_bytes[8];
  if (L->file_size < 8 || !read_exactly(L, size_bytes, 8))
    return refuse(L, "truncated checkpoint: the file has %llu bytes, fewer than the 8 of the header size",
                       (unsigned long long)L->file_size);
  uint64_t n = 0;
  for (int i = 7; i >= 0; i--) n = n << 8 | size_bytes[i];
  if (n > HEADER_LIMIT)
    return refuse(L, "not a checkpoint: the header size %llu is absurd (over 100 MB)",
                       (unsigned long long)n);
  if (n > L->file_size - 8)
    return refuse(L, "truncated checkpoint: the header says %llu bytes but only %llu follow",
                       (unsigned long long)n, (unsigned long long)(L->file_size - 8));
  *text = malloc(n ? n : 1);
  if (!*text) return refuse(L, "out of memory");
  if (!read_exactly(L, *text, n))
    return refuse(L, "truncated checkpoint: the file ends inside the header");
  *len = n;
  L->data_size = L->file_size - 8 - n;
  return true;
}

static bool check_metadata(Loader *L, const Json *meta, Checkpoint *out) {
  if (meta->kind != JSON_OBJ) return refuse(L, "\"__metadata__\" must be an object of strings");
  out->meta = calloc((size_t)meta->n + 1, sizeof *out->meta);
  if (!out->meta) return refuse(L, "out of memory");
  for (int i = 0; i < meta->n; i++) {
    if (meta->items[i].kind != JSON_STR)
      return refuse(L, "\"__metadata__\": the value of \"%s\" must be a string", meta->keys[i]);
    CkMeta *m = &out->meta[out->nmeta];
    m->key = strdup(meta->keys[i]);
    m->value = strdup(meta->items[i].str);
    out->nmeta++;
    if (!m->key || !m->value) return refuse(L, "out of memory");
  }
  return true;
}

static bool read_dtype(Loader *L, const char *name, const Json *dtype, Entry *e) {
  if (!dtype) return refuse(L, "tensor \"%s\": missing \"dtype\"", name);
  if (dtype->kind != JSON_STR) return refuse(L, "tensor \"%s\": \"dtype\" must be a string", name);
  if (!dtype_from_name(dtype->str, &e->t.type))
    return refuse(L, "tensor \"%s\": unsupported dtype \"%s\" (only F32, F64 and I32 are supported)", name, dtype->str);
  return true;
}

static bool read_shape(Loader *L, const char *name, const Json *shape, Entry *e) {
  if (!shape) return refuse(L, "tensor \"%s\": missing \"shape\"", name);
  if (shape->kind != JSON_ARR) return refuse(L, "tensor \"%s\": \"shape\" must be an array", name);
  if (shape->n > RT_MAX_RANK)
    return refuse(L, "tensor \"%s\": rank %d is more than the %d supported", name, shape->n, RT_MAX_RANK);
  e->t.rank = shape->n;
  for (int d = 0; d < shape->n; d++) {
    uint64_t v;
    if (!is_count(&shape->items[d], &v))
      return refuse(L, "tensor \"%s\": shape[%d] must be a non-negative integer", name, d);
    e->t.dims[d] = (int64_t)v;
  }
  return true;
}

static bool read_offsets(Loader *L, const char *name, const Json *offsets, Entry *e) {
  if (!offsets) return refuse(L, "tensor \"%s\": missing \"data_offsets\"", name);
  if (offsets->kind != JSON_ARR || offsets->n != 2 || !is_count(&offsets->items[0], &e->begin) ||
      !is_count(&offsets->items[1], &e->end))
    return refuse(L, "tensor \"%s\": \"data_offsets\" must be [begin, end] with non-negative integers",
                       name);
  if (e->begin > e->end)
    return refuse(L, "tensor \"%s\": data_offsets [%llu, %llu] end before they begin", name,
                       (unsigned long long)e->begin, (unsigned long long)e->end);
  return true;
}

/* "[2, 3]" for error messages. */
static const char *shape_text(const CkTensor *t, char buf[256]) {
  int k = snprintf(buf, 256, "[");
  for (int d = 0; d < t->rank && k < 200; d++)
    k += snprintf(buf + k, (size_t)(256 - k), "%s%lld", d ? ", " : "", (long long)t->dims[d]);
  snprintf(buf + k, (size_t)(256 - k), "]");
  return buf;
}

/* One "name": {"dtype", "shape", "data_offsets"} header member. */
static bool check_entry(Loader *L, const char *name, const Json *info, Entry *e) {
  if (info->kind != JSON_OBJ) return refuse(L, "tensor \"%s\": expected an object", name);
  for (int i = 0; i < info->n; i++) {
    const char *k = info->keys[i];
    if (strcmp(k, "dtype") && strcmp(k, "shape") && strcmp(k, "data_offsets"))
      return refuse(L, "tensor \"%s\": unknown field \"%s\"", name, k);
  }
  if (!read_dtype(L, name, json_get(info, "dtype"), e) || !read_shape(L, name, json_get(info, "shape"), e) ||
      !read_offsets(L, name, json_get(info, "data_offsets"), e))
    return false;
  uint64_t bytes;
  char buf[256];
  if (!tensor_bytes(e->t.type, e->t.rank, e->t.dims, &bytes))
    return refuse(L, "tensor \"%s\": shape %s is too large", name, shape_text(&e->t, buf));
  if (e->end - e->begin != bytes)
    return refuse(L, "tensor \"%s\": data_offsets [%llu, %llu] hold %llu bytes but shape %s of %s needs %llu",
                       name, (unsigned long long)e->begin, (unsigned long long)e->end,
                       (unsigned long long)(e->end - e->begin), shape_text(&e->t, buf), dtype_name(e->t.type),
                       (unsigned long long)bytes);
  e->t.name = strdup(name);
  if (!e->t.name) return refuse(L, "out of memory");
  return true;
}

static int compare_entries(const void *a, const void *b) {
  const Entry *x = a, *y = b;
  if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
  if (x->end != y->end) return x->end < y->end ? -1 : 1;
  return (x->index > y->index) - (x->index < y->index);
}

/* Sorted by offset, the tensors must tile the data exactly: no overlap, no
 * gap, nothing after the last, nothing missing at the end of the file. */
static bool check_coverage(Loader *L) {
  qsort(L->entries, (size_t)L->nentries, sizeof *L->entries, compare_entries);
  uint64_t covered = 0;
  const char *last = NULL; /* the tensor that ends at `covered` */
  for (int i = 0; i < L->nentries; i++) {
    const Entry *e = &L->entries[i];
    if (e->begin < covered)
      return refuse(L, "tensors \"%s\" and \"%s\" overlap: \"%s\" ends at byte %llu and \"%s\" begins at %llu",
                         last, e->t.name, last, (unsigned long long)covered, e->t.name, (unsigned long long)e->begin);
    if (e->begin > covered)
      return refuse(L, "data bytes [%llu, %llu) belong to no tensor", (unsigned long long)covered,
                         (unsigned long long)e->begin);
    if (e->end > covered || !last) last = e->t.name;
    covered = e->end;
  }
  if (covered > L->data_size)
    return refuse(L, "truncated checkpoint: the tensors need %llu bytes of data but the file has %llu",
                       (unsigned long long)covered, (unsigned long long)L->data_size);
  if (covered < L->data_size)
    return refuse(L, "data bytes [%llu, %llu) belong to no tensor", (unsigned long long)covered,
                       (unsigned long long)L->data_size);
  return true;
}

/* Validate the parsed header into L->entries and out->meta. */
static bool check_header(Loader *L, Checkpoint *out) {
  const Json *h = L->header;
  if (h->kind != JSON_OBJ) return refuse(L, "the header is not a JSON object");
  L->entries = calloc((size_t)h->n + 1, sizeof *L->entries);
  if (!L->entries) return refuse(L, "out of memory");
  for (int i = 0; i < h->n; i++) {
    if (!strcmp(h->keys[i], "__metadata__")) {
      if (!check_metadata(L, &h->items[i], out)) return false;
      continue;
    }
    Entry *e = &L->entries[L->nentries];
    e->index = L->nentries;
    if (!check_entry(L, h->keys[i], &h->items[i], e)) return false;
    L->nentries++;
  }
  return check_coverage(L);
}

/* Each tensor's bytes, in offset order, into its own aligned buffer. */
static bool read_data(Loader *L, Checkpoint *out) {
  out->tensors = calloc((size_t)L->nentries + 1, sizeof *out->tensors);
  if (!out->tensors) return refuse(L, "out of memory");
  for (int i = 0; i < L->nentries; i++) {
    Entry *e = &L->entries[i];
    size_t bytes = e->end - e->begin, rounded = (bytes + DATA_ALIGN - 1) / DATA_ALIGN * DATA_ALIGN;
    e->t.data = aligned_alloc(DATA_ALIGN, rounded ? rounded : DATA_ALIGN);
    out->tensors[out->ntensors++] = e->t;
    e->t.name = NULL; /* now owned by out */
    if (!out->tensors[i].data) return refuse(L, "out of memory for tensor \"%s\"", out->tensors[i].name);
    if (!read_exactly(L, out->tensors[i].data, bytes))
      return refuse(L, "truncated checkpoint: the file ends inside tensor \"%s\"", out->tensors[i].name);
  }
  return true;
}

bool ckpt_load(const char *path, Checkpoint *out) {
  memset(out, 0, sizeof *out);
  Loader L = {.path = path};
  char *text = NULL;
  uint64_t len = 0;
  bool ok = read_header(&L, &text, &len) && (L.header = json_parse(text, len, path)) != NULL && check_header(&L, out) &&
            read_data(&L, out);
  free(text);
  json_free(L.header);
  for (int i = 0; i < L.nentries; i++) free(L.entries[i].t.name);
  free(L.entries);
  if (L.f) fclose(L.f);
  if (!ok) ckpt_free(out);
  return ok;
}

const CkTensor *ckpt_find(const Checkpoint *c, const char *name) {
  for (int i = 0; i < c->ntensors; i++)
    if (!strcmp(c->tensors[i].name, name)) return &c->tensors[i];
  return NULL;
}

const char *ckpt_meta(const Checkpoint *c, const char *key) {
  for (int i = 0; i < c->nmeta; i++)
    if (!strcmp(c->meta[i].key, key)) return c->meta[i].value;
  return NULL;
}

bool ckpt_meta_bad(const char *path, const char *key, const char *value, const char *why) {
  char shown[48]; /* a value from the file: cut short, and no control characters reach the terminal */
  size_t n = 0;
  for (const char *v = value; *v && n < 40; v++) shown[n++] = (unsigned char)*v < 0x20 || *v == 0x7f ? '?' : *v;
  shown[n] = 0;
  return rt_error_at(path, 0, 0, "metadata \"%s\" is \"%s%s\": %s", key, shown, strlen(value) > n ? "..." : "", why);
}

/* An optional '-', then 0 or digits without a leading 0: what we write. */
static bool is_plain_integer(const char *v) {
  const char *d = v + (*v == '-');
  if (!*d || (*d == '0' && d[1])) return false;
  for (; *d; d++)
    if (*d < '0' || *d > '9') return false;
  return true;
}

bool ckpt_meta_int(const Checkpoint *c, const char *path, const char *key, int64_t lo, int64_t hi, int64_t *v) {
  const char *text = ckpt_meta(c, key);
  if (!text) return rt_error_at(path, 0, 0, "the checkpoint's metadata has no \"%s\"", key);
  if (!is_plain_integer(text)) return ckpt_meta_bad(path, key, text, "not a whole number");
  errno = 0;
  long long x = strtoll(text, NULL, 10);
  if (errno || x < lo || x > hi) {
    char range[96];
    snprintf(range, sizeof range, "not in %lld..%lld", (long long)lo, (long long)hi);
    return ckpt_meta_bad(path, key, text, range);
  }
  *v = x;
  return true;
}

void ckpt_free(Checkpoint *c) {
  for (int i = 0; i < c->ntensors; i++) {
    free(c->tensors[i].name);
    free(c->tensors[i].data);
  }
  for (int i = 0; i < c->nmeta; i++) {
    free(c->meta[i].key);
    free(c->meta[i].value);
  }
  free(c->tensors);
  free(c->meta);
  memset(c, 0, sizeof *c);
}
