/* arena.c - see arena.h. Blocks are chained; a request larger than the block
 * size gets a block of its own. */
#include "arena.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { BLOCK_SIZE = 1 << 16 };

struct ArenaBlock {
  ArenaBlock *next;
  size_t used, size;
  _Alignas(16) unsigned char data[];
};

static void *xmalloc(size_t n) {
  void *p = malloc(n);
  if (!p) {
    fputs("dmlc: out of memory\n", stderr);
    exit(2);
  }
  return p;
}

void *arena_alloc(Arena *a, size_t size) {
  size = (size + 15) & ~(size_t)15;
  ArenaBlock *b = a->head;
  if (!b || b->used + size > b->size) {
    size_t cap = size > BLOCK_SIZE ? size : BLOCK_SIZE;
    b = xmalloc(sizeof(ArenaBlock) + cap);
    b->size = cap;
    b->used = 0;
    b->next = a->head;
    a->head = b;
  }
  void *p = b->data + b->used;
  b->used += size;
  memset(p, 0, size);
  return p;
}

char *arena_strndup(Arena *a, const char *s, size_t n) {
  char *p = arena_alloc(a, n + 1);
  memcpy(p, s, n);
  p[n] = 0;
  return p;
}

char *arena_printf(Arena *a, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  char *p = arena_alloc(a, (size_t)n + 1);
  va_start(ap, fmt);
  vsnprintf(p, (size_t)n + 1, fmt, ap);
  va_end(ap);
  return p;
}

void *arena_grow(Arena *a, void *old, size_t item, int len, int *cap, int want) {
  int ncap = *cap ? *cap : 4;
  while (ncap < want) ncap *= 2;
  void *p = arena_alloc(a, item * (size_t)ncap);
  if (len) memcpy(p, old, item * (size_t)len);
  *cap = ncap;
  return p;
}

void arena_free(Arena *a) {
  for (ArenaBlock *b = a->head, *next; b; b = next) {
    next = b->next;
    free(b);
  }
  a->head = NULL;
}
