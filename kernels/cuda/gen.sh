#!/bin/sh
# Compiles dnitrain.cu to PTX for each target architecture. The output is
# committed; CI regenerates it where nvcc exists and fails on a difference.
set -eu
cd "$(dirname "$0")"
for arch in 80 90; do
	nvcc -ptx -arch=sm_$arch -std=c++14 -O3 -o dnitrain_sm$arch.ptx dnitrain.cu
done
