/* fuzz_front.c - libFuzzer target for the whole front end.
 *
 * Each input is one in-memory source file: it is lexed, parsed and checked
 * (front_parse_text + front_check, f32 model), then every diagnostic is
 * rendered to /dev/null with diag_flush so that sorting, excerpts and the
 * underline code run on whatever spans the earlier phases produced.
 *
 * `use nn` reads the real standard library of the source tree
 * (DMLC_STDLIB_DIR, defined by CMake). The input is named as if it lived in
 * that folder, so `use "nn.dml"` resolves too and relative uses never reach
 * into the fuzzer's working directory (where it writes crash files).
 *
 * Build and run with tests/fuzz/run_fuzz.sh. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include "front.h"

#ifndef DMLC_STDLIB_DIR
#error "DMLC_STDLIB_DIR must be defined (CMake does it for the dmlfront target)"
#endif

static FILE *devnull;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  devnull = fopen("/dev/null", "w");
  if (!devnull) {
    perror("fuzz_front: /dev/null");
    abort();
  }
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  Front f;
  front_init(&f, DMLC_STDLIB_DIR);
  /* Alternate colour on and off by one input bit so both paths of the
   * renderer are exercised without changing what the input means. */
  f.diags.color = size > 0 && (data[0] & 1);
  front_parse_text(&f, DMLC_STDLIB_DIR "/fuzz-input.dml", (const char *)data, size);
  /* Sema runs even after syntax errors (the driver stops there): the tree
   * that error recovery leaves behind must be safe to check as well. A
   * finding is reachable from `dmlc check` only if the input parses. */
  SemaOptions opt = {.model_float = DT_F32};
  front_check(&f, opt);
  diag_flush(&f.diags, devnull);
  fflush(devnull);
  front_free(&f);
  return 0;
}
