/* test_kernels.c - dmlrt_transpose (tiled in 16x16 blocks) against the
 * definition, for shapes below, at and across a tile's size, batched, in
 * f32 and f64; the elements around the output must stay untouched. */
#include <stdio.h>
#include <stdlib.h>
#include "dml_kernels.h"

static int failures;

#define CHECK_TRANSPOSE(T, S)                                                                               \
  static void check_##S(int64_t batch, int64_t m, int64_t n) {                                              \
    int64_t total = batch * m * n;                                                                          \
    T *x = malloc(sizeof(T) * (size_t)total), *y = malloc(sizeof(T) * (size_t)(total + 2));                \
    for (int64_t i = 0; i < total; i++) x[i] = (T)(i * 7 % 1009) - 500;                                     \
    for (int64_t i = 0; i < total + 2; i++) y[i] = -1;                                                      \
    dmlrt_transpose_##S(x, y + 1, batch, m, n);                                                             \
    int bad = y[0] != -1 || y[total + 1] != -1;                                                             \
    for (int64_t b = 0; b < batch; b++)                                                                     \
      for (int64_t i = 0; i < m; i++)                                                                       \
        for (int64_t j = 0; j < n; j++) bad |= y[1 + b * m * n + j * m + i] != x[b * m * n + i * n + j];   \
    if (bad) {                                                                                              \
      printf("FAIL transpose_%s batch %lld, %lld x %lld\n", #S, (long long)batch, (long long)m, (long long)n); \
      failures++;                                                                                           \
    }                                                                                                       \
    free(x);                                                                                                \
    free(y);                                                                                                \
  }
CHECK_TRANSPOSE(float, f32)
CHECK_TRANSPOSE(double, f64)

int main(void) {
  static const int64_t shapes[][3] = {{1, 1, 1},  {1, 3, 17}, {1, 17, 3},  {1, 16, 16}, {1, 32, 48},
                                      {1, 33, 47}, {3, 5, 40}, {2, 128, 10}, {4, 1, 31},  {1, 64, 1}};
  int n = (int)(sizeof shapes / sizeof shapes[0]);
  for (int i = 0; i < n; i++) {
    check_f32(shapes[i][0], shapes[i][1], shapes[i][2]);
    check_f64(shapes[i][0], shapes[i][1], shapes[i][2]);
  }
  if (failures) return 1;
  printf("test_kernels: transposes of %d shapes agree (f32, f64)\n", n);
  return 0;
}
