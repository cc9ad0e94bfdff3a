/* front.h - the front end as one call: read a file and the modules it uses,
 * parse them, and check the whole program. */
#ifndef DMLC_FRONT_H
#define DMLC_FRONT_H
#include "sema.h"

typedef struct Front {
  Arena arena;
  Diags diags;
  Program prog;          /* items of all loaded files, modules first */
  const char *stdlib_dir;
  const Source **sources;
  int nsources, capsources;
} Front;

void front_init(Front *f, const char *stdlib_dir);
/* Parse `path` and, recursively, what it `use`s. False on any error. */
bool front_parse_file(Front *f, const char *path);
/* Parse an in-memory text (tests, fuzzing); `use nn` still reads the stdlib. */
bool front_parse_text(Front *f, const char *name, const char *text, size_t len);
bool front_check(Front *f, SemaOptions opt);
void front_free(Front *f);
/* The stdlib folder: $DMLC_STDLIB, next to the executable, or the source tree. */
const char *front_default_stdlib(Arena *a, const char *argv0);

#endif
