/* sha256_check.c - compiler/sha256.c against the FIPS 180-4 examples and
 * against sha256sum at every message length from 0 to 200 bytes (each
 * place the padding can fall in a block, one block and two). */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "sha256.h"

static int failures;

/* The digest of n bytes of text, through a temporary file. */
static const char *digest_of(const char *text, size_t n, const char *file) {
  static char hex[65];
  FILE *f = fopen(file, "wb");
  if (!f || fwrite(text, 1, n, f) != n || fclose(f) != 0) return "cannot write";
  f = fopen(file, "rb");
  bool ok = f && sha256_fd(fileno(f), hex);
  if (f) fclose(f);
  return ok ? hex : "cannot read";
}

static void expect(const char *what, const char *got, const char *want) {
  if (strcmp(got, want) == 0) return;
  printf("FAIL %s: %s, want %s\n", what, got, want);
  failures++;
}

int main(void) {
  char file[] = "/tmp/sha256_check-XXXXXX";
  int fd = mkstemp(file);
  if (fd < 0) return 2;
  close(fd);
  expect("empty", digest_of("", 0, file), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  expect("abc", digest_of("abc", 3, file), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  expect("56 bytes", digest_of(two, strlen(two), file), "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  size_t million = 1000000;
  char *a = malloc(million);
  memset(a, 'a', million);
  expect("a million a's", digest_of(a, million, file), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  free(a);
  char text[201];
  for (int i = 0; i < 200; i++) text[i] = (char)('A' + (i * 7) % 26);
  for (size_t n = 0; n <= 200; n++) {
    char want[65] = "", cmd[128], what[32];
    const char *got = digest_of(text, n, file);
    char mine[65];
    snprintf(mine, sizeof mine, "%s", got);
    snprintf(cmd, sizeof cmd, "sha256sum %s", file);
    FILE *p = popen(cmd, "r");
    if (!p || fscanf(p, "%64s", want) != 1) {
      printf("sha256sum is not available: the lengths are not compared\n");
      if (p) pclose(p);
      break;
    }
    pclose(p);
    snprintf(what, sizeof what, "%zu bytes", n);
    expect(what, mine, want);
  }
  unlink(file);
  if (!failures) printf("sha256_check: all digests agree\n");
  return failures ? 1 : 0;
}
