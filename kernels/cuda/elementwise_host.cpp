//go:build ignore

// The build constraint above keeps the go command from taking this file for
// a cgo source of package cuda (a package without cgo may hold no C++
// files); the tests compile it themselves.
//
// Test driver of elementwise.cuh: runs one kernel's per-thread body over
// the kernel's whole launch grid on the CPU.
//
//	elementwise_host.bin KERNEL GRIDCAP SCALARS... < inputs > outputs
//
// KERNEL is the kernel's name in README.md; GRIDCAP, when positive, caps a 1-D
// kernel's grid below the real one, so that small inputs exercise the
// grid-stride loops too (0: the real launch shape). The scalars and the
// arrays read and written per kernel are listed in main. Arrays the kernel
// only writes start as NaN, so that an element no thread writes shows; each
// array is followed by guard elements, so that a write past its end exits
// with an error.
#include <cmath>
#include <cstring>
#include <functional>
#include <initializer_list>
#include <string>

#include "elementwise.cuh"
#include "host.h"

namespace {

const long long GUARD = 2 * ELEMENTWISE_BLOCK; // more than a block's overshoot
const float GUARD_VALUE = 1234.5f;

// Array is a kernel argument of n floats followed by GUARD guard elements.
struct Array {
	std::string name;
	long long n;
	std::vector<float> v;

	Array(const char *name, long long n, float fill) : name(name), n(n), v(n + GUARD, GUARD_VALUE) {
		for (long long i = 0; i < n; i++) {
			v[i] = fill;
		}
	}

	float *p() { return v.data(); }

	// check exits with an error when a guard element was overwritten.
	void check() const {
		for (long long i = n; i < n + GUARD; i++) {
			if (memcmp(&v[i], &GUARD_VALUE, sizeof(float)) != 0) {
				fprintf(stderr, "%s: element %lld past the end (n = %lld) was written\n", name.c_str(),
				        i - n, n);
				exit(3);
			}
		}
	}

	void write() const { write_floats(v.data(), n); }
};

// input returns an array of n floats read from stdin.
Array input(const char *name, long long n) {
	Array a(name, n, 0.f);
	std::vector<float> in = read_floats(n);
	for (long long i = 0; i < n; i++) {
		a.v[i] = in[i];
	}
	return a;
}

// output returns an array of n floats that the kernel only writes.
Array output(const char *name, long long n) { return Array(name, n, NAN); }

// Args reads the command line's scalars in order.
struct Args {
	int argc;
	char **argv;
	int next;

	long long integer() { return strtoll(arg(), nullptr, 10); }
	double real() { return strtod(arg(), nullptr); }

	const char *arg() {
		if (next >= argc) {
			fprintf(stderr, "%s: too few arguments\n", argv[1]);
			exit(2);
		}
		return argv[next++];
	}

	// done exits with an error when arguments are left over.
	void done() const {
		if (next != argc) {
			fprintf(stderr, "%s: %d arguments left over\n", argv[1], argc - next);
			exit(2);
		}
	}
};

long long gridCap; // the GRIDCAP argument

// run_1d runs the grid-stride body f(i, stride) of a 1-D kernel over n
// elements on every thread of its grid. The threads run from last to first:
// the result must not depend on their order, and the reverse of the natural
// loop order is the one a hidden dependence would most likely break under.
template <typename F> void run_1d(long long n, F f) {
	long long blocks = grid_1d(n);
	if (gridCap > 0 && blocks > gridCap) {
		blocks = gridCap;
	}
	long long threads = blocks * ELEMENTWISE_BLOCK;
	for (long long i = threads - 1; i >= 0; i--) {
		f(i, threads);
	}
}

// run_columns runs a column reduction over cols columns: for each block of
// its grid, each phase (a body f(blk, t, part0, part1)) for every thread,
// last to first, before the next, as the barriers between them order them
// on the device. The two shared arrays start as NaN, so that reading a
// partial sum no thread wrote shows.
template <typename... F> void run_columns(long long cols, F... phases) {
	for (long long blk = 0; blk < grid_columns(cols); blk++) {
		std::vector<float> part0(ELEMENTWISE_BLOCK, NAN), part1(ELEMENTWISE_BLOCK, NAN);
		for (auto phase : {std::function<void(long long, int, float *, float *)>(phases)...}) {
			for (int t = ELEMENTWISE_BLOCK - 1; t >= 0; t--) {
				phase(blk, t, part0.data(), part1.data());
			}
		}
	}
}

// run_per_item runs the body f(i) of a per-row kernel over
// count items on every thread of its grid, last to first.
template <typename F> void run_per_item(long long count, F f) {
	long long threads = grid_per_item(count) * ELEMENTWISE_BLOCK;
	for (long long i = threads - 1; i >= 0; i--) {
		f(i);
	}
}

// finish checks the guards of the arrays and writes the outputs to stdout.
void finish(std::initializer_list<const Array *> all, std::initializer_list<const Array *> outs) {
	for (const Array *a : all) {
		a->check();
	}
	for (const Array *a : outs) {
		a->write();
	}
}

} // namespace

int main(int argc, char **argv) {
	if (argc < 3) {
		fprintf(stderr, "usage: %s KERNEL GRIDCAP SCALARS... < inputs > outputs\n", argv[0]);
		return 2;
	}
	std::string k = argv[1];
	gridCap = strtoll(argv[2], nullptr, 10);
	Args a{argc, argv, 3};

	if (k == "bias_activate") { // rows cols act hasBias; z [bias] → z
		long long rows = a.integer(), cols = a.integer(), act = a.integer(), hasBias = a.integer();
		a.done();
		Array z = input("z", rows * cols), bias = input("bias", hasBias ? cols : 0);
		const float *bp = hasBias ? bias.p() : nullptr;
		run_1d(rows * cols, [&](long long i, long long s) { bias_activate_thread(i, s, z.p(), bp, rows, cols, act); });
		finish({&z, &bias}, {&z});
	} else if (k == "activation_backward") { // rows cols act alias; g h → dz
		long long rows = a.integer(), cols = a.integer(), act = a.integer(), alias = a.integer();
		a.done();
		long long n = rows * cols;
		Array g = input("g", n), h = input("h", n), dz = output("dz", alias ? 0 : n);
		float *dp = alias ? g.p() : dz.p(); // dz = g: in place
		run_1d(n, [&](long long i, long long s) { activation_backward_thread(i, s, dp, g.p(), h.p(), rows, cols, act); });
		finish({&g, &h, &dz}, {alias ? &g : &dz});
	} else if (k == "column_sums") { // rows cols; m → sums
		long long rows = a.integer(), cols = a.integer();
		a.done();
		Array m = input("m", rows * cols), sums = output("sums", cols);
		run_columns(
		    cols, [&](long long blk, int t, float *part, float *) { column_sums_phase1(blk, t, part, m.p(), rows, cols); },
		    [&](long long blk, int t, float *part, float *) { column_sums_phase2(blk, t, part, sums.p(), cols); });
		finish({&m, &sums}, {&sums});
	} else if (k == "scale") { // n s; v → v
		long long n = a.integer();
		float s = (float)a.real();
		a.done();
		Array v = input("v", n);
		run_1d(n, [&](long long i, long long st) { scale_thread(i, st, v.p(), n, s); });
		finish({&v}, {&v});
	} else if (k == "concat_columns") { // rows ca cb; a b → dst
		long long rows = a.integer(), ca = a.integer(), cb = a.integer();
		a.done();
		Array x = input("a", rows * ca), y = input("b", rows * cb), dst = output("dst", rows * (ca + cb));
		run_1d(rows * (ca + cb), [&](long long i, long long s) { concat_columns_thread(i, s, dst.p(), x.p(), y.p(), rows, ca, cb); });
		finish({&x, &y, &dst}, {&dst});
	} else if (k == "batchnorm_forward_train") { // rows cols eps momentum; z gamma beta runMean runVar → z xhat mean invStd runMean runVar
		long long rows = a.integer(), cols = a.integer();
		double eps = a.real(), momentum = a.real();
		a.done();
		Array z = input("z", rows * cols), gamma = input("gamma", cols), beta = input("beta", cols),
		      runMean = input("runMean", cols), runVar = input("runVar", cols);
		Array xhat = output("xhat", rows * cols), mean = output("mean", cols), invStd = output("invStd", cols);
		run_columns(
		    cols,
		    [&](long long blk, int t, float *sum, float *) {
			    batchnorm_forward_train_phase1(blk, t, sum, z.p(), rows, cols);
		    },
		    [&](long long blk, int t, float *sum, float *sq) {
			    batchnorm_forward_train_phase2(blk, t, sum, sq, z.p(), rows, cols);
		    },
		    [&](long long blk, int t, float *sum, float *sq) {
			    batchnorm_forward_train_phase3(blk, t, sum, sq, z.p(), xhat.p(), mean.p(), invStd.p(), gamma.p(),
			                                   beta.p(), runMean.p(), runVar.p(), rows, cols, eps, momentum);
		    });
		finish({&z, &gamma, &beta, &runMean, &runVar, &xhat, &mean, &invStd},
		       {&z, &xhat, &mean, &invStd, &runMean, &runVar});
	} else if (k == "batchnorm_forward_eval") { // rows cols eps; z gamma beta runMean runVar → z
		long long rows = a.integer(), cols = a.integer();
		float eps = (float)a.real();
		a.done();
		Array z = input("z", rows * cols), gamma = input("gamma", cols), beta = input("beta", cols),
		      runMean = input("runMean", cols), runVar = input("runVar", cols);
		run_1d(rows * cols, [&](long long i, long long s) {
			batchnorm_forward_eval_thread(i, s, z.p(), gamma.p(), beta.p(), runMean.p(), runVar.p(), rows, cols, eps);
		});
		finish({&z, &gamma, &beta, &runMean, &runVar}, {&z});
	} else if (k == "batchnorm_backward") { // rows cols; dy xhat invStd gamma → dy gammaGrad betaGrad
		long long rows = a.integer(), cols = a.integer();
		a.done();
		Array dy = input("dy", rows * cols), xhat = input("xhat", rows * cols), invStd = input("invStd", cols),
		      gamma = input("gamma", cols);
		Array gammaGrad = output("gammaGrad", cols), betaGrad = output("betaGrad", cols);
		run_columns(
		    cols,
		    [&](long long blk, int t, float *dySum, float *dyXhatSum) {
			    batchnorm_backward_phase1(blk, t, dySum, dyXhatSum, dy.p(), xhat.p(), rows, cols);
		    },
		    [&](long long blk, int t, float *dySum, float *dyXhatSum) {
			    batchnorm_backward_phase2(blk, t, dySum, dyXhatSum, dy.p(), xhat.p(), invStd.p(), gamma.p(),
			                              gammaGrad.p(), betaGrad.p(), rows, cols);
		    });
		finish({&dy, &xhat, &invStd, &gamma, &gammaGrad, &betaGrad}, {&dy, &gammaGrad, &betaGrad});
	} else if (k == "softmax_cross_entropy") { // rows classes hasGrad; logits labels → rowLoss [grad]
		long long rows = a.integer(), classes = a.integer(), hasGrad = a.integer();
		a.done();
		Array logits = input("logits", rows * classes), labels = input("labels", rows * classes);
		Array rowLoss = output("rowLoss", rows), grad = output("grad", hasGrad ? rows * classes : 0);
		float *gp = hasGrad ? grad.p() : nullptr;
		run_per_item(rows, [&](long long r) {
			softmax_cross_entropy_thread(r, gp, rowLoss.p(), logits.p(), labels.p(), rows, classes);
		});
		finish({&logits, &labels, &rowLoss, &grad}, {&rowLoss, &grad});
	} else if (k == "squared_error") { // n gradScale hasGrad; pred target → sqerr [grad]
		long long n = a.integer();
		float gradScale = (float)a.real();
		long long hasGrad = a.integer();
		a.done();
		Array pred = input("pred", n), target = input("target", n);
		Array sqerr = output("sqerr", n), grad = output("grad", hasGrad ? n : 0);
		float *gp = hasGrad ? grad.p() : nullptr;
		run_1d(n, [&](long long i, long long s) {
			squared_error_thread(i, s, gp, sqerr.p(), pred.p(), target.p(), n, gradScale);
		});
		finish({&pred, &target, &sqerr, &grad}, {&sqerr, &grad});
	} else if (k == "adam_step") { // n b1 b2 eps stepSize invSqrtC2; w g m v → w m v
		long long n = a.integer();
		float b1 = (float)a.real(), b2 = (float)a.real(), eps = (float)a.real(), stepSize = (float)a.real(),
		      invSqrtC2 = (float)a.real();
		a.done();
		Array w = input("w", n), g = input("g", n), m = input("m", n), v = input("v", n);
		run_1d(n, [&](long long i, long long s) {
			adam_step_thread(i, s, w.p(), g.p(), m.p(), v.p(), n, b1, b2, eps, stepSize, invSqrtC2);
		});
		finish({&w, &g, &m, &v}, {&w, &m, &v});
	} else if (k == "momentum_step") { // n lr mu; w g vel → w vel
		long long n = a.integer();
		float lr = (float)a.real(), mu = (float)a.real();
		a.done();
		Array w = input("w", n), g = input("g", n), vel = input("vel", n);
		run_1d(n, [&](long long i, long long s) { momentum_step_thread(i, s, w.p(), g.p(), vel.p(), n, lr, mu); });
		finish({&w, &g, &vel}, {&w, &vel});
	} else {
		fprintf(stderr, "unknown kernel %s\n", k.c_str());
		return 2;
	}
	// Every input must have been consumed: a longer stdin means the test
	// and the driver disagree on the arrays.
	if (fgetc(stdin) != EOF) {
		fprintf(stderr, "%s: input left over\n", k.c_str());
		return 2;
	}
	return 0;
}
