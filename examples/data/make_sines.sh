#!/bin/sh
# Writes sines.csv: 1000 windows of 21 consecutive samples of noisy sine
# waves, one window per row. Each window has its own frequency (0.1 to 0.4
# radians per step), phase and amplitude (0.5 to 1.5), plus Gaussian noise
# of standard deviation 0.05. awk's generator with a fixed seed makes the
# file reproducible: sh make_sines.sh > sines.csv
awk 'BEGIN {
  srand(1)
  pi = atan2(0, -1)
  for (r = 0; r < 1000; r++) {
    f = 0.1 + 0.3 * rand(); p = 2 * pi * rand(); a = 0.5 + rand()
    line = ""
    for (t = 0; t < 21; t++) {
      u1 = rand(); u2 = rand(); if (u1 < 1e-12) u1 = 1e-12
      noise = 0.05 * sqrt(-2 * log(u1)) * cos(2 * pi * u2)
      line = line (t ? "," : "") sprintf("%.5f", a * sin(f * t + p) + noise)
    }
    print line
  }
}'
