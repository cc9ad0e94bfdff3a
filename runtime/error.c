/* error.c - the runtime's one error message, and element types. */
#include <stdarg.h>
#include "dml_runtime.h"

static char message[2048];

static void set_message(const char *prefix, const char *fmt, va_list ap) {
  int k = snprintf(message, sizeof message, "%s", prefix);
  if (k < 0 || (size_t)k >= sizeof message) k = 0;
  vsnprintf(message + k, sizeof message - (size_t)k, fmt, ap);
}

bool rt_error_at(const char *file, long line, long col, const char *fmt, ...) {
  char prefix[1024];
  if (line > 0 && col > 0) snprintf(prefix, sizeof prefix, "%s:%ld:%ld: error: ", file, line, col);
  else if (line > 0) snprintf(prefix, sizeof prefix, "%s:%ld: error: ", file, line);
  else snprintf(prefix, sizeof prefix, "%s: error: ", file);
  va_list ap;
  va_start(ap, fmt);
  set_message(prefix, fmt, ap);
  va_end(ap);
  return false;
}

bool rt_error(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  set_message("error: ", fmt, ap);
  va_end(ap);
  return false;
}

const char *rt_message(void) { return message; }

size_t rt_type_size(RtType t) { return t == RT_F64 ? 8 : 4; }

const char *rt_type_name(RtType t) { return t == RT_F64 ? "f64" : t == RT_I32 ? "i32" : "f32"; }
