# ols.awk: the least-squares fit of the last column on the others and an
# intercept, in closed form: the normal equations, solved by Gaussian
# elimination with partial pivoting. Prints the mean squared error of the
# fit (tests/train/run_train.sh compares the second-order optimizers with it).
{ for (j = 1; j < NF; j++) x[NR, j] = $j; x[NR, NF] = 1; y[NR] = $NF; p = NF; n = NR }
END {
  for (i = 1; i <= p; i++) {
    for (j = 1; j <= p; j++) { s = 0; for (r = 1; r <= n; r++) s += x[r, i] * x[r, j]; a[i, j] = s }
    s = 0; for (r = 1; r <= n; r++) s += x[r, i] * y[r]; a[i, p + 1] = s
  }
  for (k = 1; k <= p; k++) {
    m = k; for (i = k + 1; i <= p; i++) if ((a[i, k] < 0 ? -a[i, k] : a[i, k]) > (a[m, k] < 0 ? -a[m, k] : a[m, k])) m = i
    for (j = k; j <= p + 1; j++) { t = a[k, j]; a[k, j] = a[m, j]; a[m, j] = t }
    for (i = k + 1; i <= p; i++) { f = a[i, k] / a[k, k]; for (j = k; j <= p + 1; j++) a[i, j] -= f * a[k, j] }
  }
  for (i = p; i >= 1; i--) { s = a[i, p + 1]; for (j = i + 1; j <= p; j++) s -= a[i, j] * b[j]; b[i] = s / a[i, i] }
  sse = 0
  for (r = 1; r <= n; r++) { e = -y[r]; for (j = 1; j <= p; j++) e += x[r, j] * b[j]; sse += e * e }
  printf "%.17g\n", sse / n
}
