// Host-side helpers of the test drivers (*_host.cpp): the drivers run a
// kernel's per-thread body over its whole launch grid on the CPU. Arrays
// travel as raw little-endian float32 on stdin and stdout; sizes and
// scalars come as command-line arguments.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <vector>

// read_floats reads n float32 values from stdin, exiting on a short read.
inline std::vector<float> read_floats(long long n) {
	std::vector<float> v(n);
	if (n > 0 && fread(v.data(), sizeof(float), n, stdin) != (size_t)n) {
		fprintf(stderr, "short read: want %lld floats\n", n);
		exit(2);
	}
	return v;
}

// write_floats writes the n float32 values at p to stdout.
inline void write_floats(const float *p, long long n) {
	if (n > 0 && fwrite(p, sizeof(float), n, stdout) != (size_t)n) {
		fprintf(stderr, "short write\n");
		exit(2);
	}
}
