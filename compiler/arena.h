/* arena.h - bump allocation for compiler data.
 *
 * The AST, types and (later) IR live as long as the compilation, so they are
 * carved out of large blocks and freed all at once: no ownership to track,
 * no free() scattered through the passes. */
#ifndef DMLC_ARENA_H
#define DMLC_ARENA_H
#include <stddef.h>

typedef struct ArenaBlock ArenaBlock;
typedef struct Arena { ArenaBlock *head; } Arena;

void *arena_alloc(Arena *a, size_t size);          /* zeroed, 16-byte aligned */
char *arena_strndup(Arena *a, const char *s, size_t n);
char *arena_printf(Arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Grow an array held in the arena: returns a copy with room for `want` items. */
void *arena_grow(Arena *a, void *old, size_t item, int len, int *cap, int want);
void arena_free(Arena *a);

#define ARENA_NEW(a, T) ((T *)arena_alloc((a), sizeof(T)))
/* Append `v` to an arena array `arr` of length `len` and capacity `cap`. */
#define ARENA_PUSH(a, arr, len, cap, v)                                        \
  do {                                                                         \
    if ((len) == (cap))                                                        \
      (arr) = arena_grow((a), (arr), sizeof(*(arr)), (len), &(cap), (len) + 1);\
    (arr)[(len)++] = (v);                                                      \
  } while (0)

#endif
