// Definitions shared by the kernels and by their host builds.
#pragma once

#ifdef __CUDACC__
#define HD __host__ __device__ __forceinline__
#else
#include <cmath>
#define HD inline
#endif

// Activations, numbered as kernels.Activation.
enum { ACT_IDENTITY = 0, ACT_RELU = 1, ACT_TANH = 2, ACT_SIGMOID = 3 };

// activate applies the activation act to x.
HD float activate(float x, long long act) {
	switch (act) {
	case ACT_RELU:
		return x > 0.f ? x : 0.f;
	case ACT_TANH:
		return tanhf(x);
	case ACT_SIGMOID:
		return 1.f / (1.f + expf(-x));
	}
	return x;
}

// activation_derivative returns act'(z) from the activation's output
// y = act(z): relu y > 0, tanh 1 − y², sigmoid y(1 − y).
HD float activation_derivative(float y, long long act) {
	switch (act) {
	case ACT_RELU:
		return y > 0.f ? 1.f : 0.f;
	case ACT_TANH:
		return 1.f - y * y;
	case ACT_SIGMOID:
		return y * (1.f - y);
	}
	return 1.f;
}
