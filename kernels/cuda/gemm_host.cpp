//go:build ignore

// The build constraint above keeps the go command from taking this file for
// a cgo source of package cuda (a package without cgo may hold no C++
// files); the tests compile it themselves.
//
// Test driver of gemm.cuh: runs gemm_tf32's launch grid on the CPU through
// the kernel's own index helpers, with mma.sync emulated from the PTX ISA.
//
//	gemm_host.bin M N K LDA LDB LDC TRANSA TRANSB BETA ACT HASBIAS SKEW SPLITS < A B C bias > C
//	gemm_host.bin mma < A(16×8) B(8×8) C(16×8) > D(16×8)
//	gemm_host.bin tf32 N < x > rounded x
//
// In the first form A holds (TRANSA ? K : M)·LDA floats, B (TRANSB ? N :
// K)·LDB, C M·LDC and bias N when HASBIAS ≠ 0 (else nothing); the output is
// the whole of C. SKEW places A and B that many floats past a 16-byte
// boundary, so that the kernel's float4 loads must fall back to scalar
// ones. SPLITS > 1 runs the grid in that many layers with a split K, then
// the reduction. Past the end of A and B lie NaN guards: an element read
// outside the arrays poisons the result.
//
// "mma" hands one 16×8×8 tile to the emulated mma through the kernel's
// fragment helpers (all row-major), so a helper that disagrees with the
// ISA's fragment tables shows as a wrong product. "tf32" rounds with the
// kernel's gemm_to_tf32.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>

#include "gemm.cuh"
#include "host.h"

namespace {

const float NaN = std::numeric_limits<float>::quiet_NaN();

// rna_tf32 rounds x to TF32 (10 mantissa bits) to nearest, ties away from
// zero, by arithmetic rather than by gemm_to_tf32's bit manipulation, so that
// the emulated mma does not lean on the code it checks. std::round rounds
// halves away from zero, as cvt.rna does.
float rna_tf32(float x) {
	if (x == 0.f || !std::isfinite(x)) {
		return x;
	}
	int e;
	std::frexp((double)x, &e); // x = f·2^e with 0.5 ≤ |f| < 1
	// 11 significant bits: the implicit one and 10 mantissa bits. Below
	// float's normal range TF32 keeps the same absolute spacing as float
	// (subnormals), so the exponent is not allowed to fall further.
	const int keep = std::max(e, -125) - 11;
	return (float)std::ldexp(std::round(std::ldexp((double)x, -keep)), keep);
}

// mma_emulated is one warp's mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32
// d = a·b + c, from the fragments of the 32 lanes. The fragment tables are
// those of the PTX ISA (Matrix Fragments for mma.m16n8k8, .tf32 and .f32),
// spelt out here on purpose instead of calling gemm.cuh's helpers: with
// g = lane >> 2 and t = lane % 4,
//
//	A (16×8): a0 (g, t)   a1 (g+8, t)   a2 (g, t+4)   a3 (g+8, t+4)
//	B (8×8):  b0 (t, g)   b1 (t+4, g)
//	C, D (16×8): c0 (g, 2t)   c1 (g, 2t+1)   c2 (g+8, 2t)   c3 (g+8, 2t+1)
//
// The inputs are rounded to TF32 (cvt.rna's rounding; rounding is
// idempotent); the products of two TF32 values are exact in float32, and
// they are summed in float32 onto c. With require_tf32, finite inputs must
// already be TF32 values, as the kernel hands the hardware mma only values
// that went through cvt.rna: a missing conversion stops the program.
void mma_emulated(const float a[32][4], const float b[32][2], float d[32][4], bool require_tf32) {
	float A[16][8], B[8][8], C[16][8];
	for (int lane = 0; lane < 32; lane++) {
		const int g = lane >> 2, t = lane % 4;
		A[g][t] = a[lane][0];
		A[g + 8][t] = a[lane][1];
		A[g][t + 4] = a[lane][2];
		A[g + 8][t + 4] = a[lane][3];
		B[t][g] = b[lane][0];
		B[t + 4][g] = b[lane][1];
		C[g][2 * t] = d[lane][0];
		C[g][2 * t + 1] = d[lane][1];
		C[g + 8][2 * t] = d[lane][2];
		C[g + 8][2 * t + 1] = d[lane][3];
	}
	if (require_tf32) {
		for (int lane = 0; lane < 32; lane++) {
			for (int r = 0; r < 6; r++) {
				const float x = r < 4 ? a[lane][r] : b[lane][r - 4];
				if (std::isfinite(x) && rna_tf32(x) != x) {
					fprintf(stderr, "mma input %g of lane %d is not a TF32 value\n", x, lane);
					abort();
				}
			}
		}
	}
	for (float *row : A) {
		for (int k = 0; k < 8; k++) {
			row[k] = rna_tf32(row[k]);
		}
	}
	for (float *row : B) {
		for (int j = 0; j < 8; j++) {
			row[j] = rna_tf32(row[j]);
		}
	}
	for (int i = 0; i < 16; i++) {
		for (int j = 0; j < 8; j++) {
			float s = C[i][j];
			for (int k = 0; k < 8; k++) {
				s += A[i][k] * B[k][j];
			}
			C[i][j] = s;
		}
	}
	for (int lane = 0; lane < 32; lane++) {
		const int g = lane >> 2, t = lane % 4;
		d[lane][0] = C[g][2 * t];
		d[lane][1] = C[g][2 * t + 1];
		d[lane][2] = C[g + 8][2 * t];
		d[lane][3] = C[g + 8][2 * t + 1];
	}
}

// Thread is the registers of one emulated thread that live across phases.
struct Thread {
	float acc[GEMM_MT][GEMM_NT][4];
	float ra[GEMM_VA][4], rb[GEMM_VB][4];
};

// Shared memory of one block, 16-byte aligned as the kernel's.
alignas(16) float smem_a[2 * GEMM_SMEM_A];
alignas(16) float smem_b[2 * GEMM_SMEM_B];

// warp_mma runs k-step ks of the k-tile in shared slot s for one warp: each
// lane reads its fragments through the kernel's gemm_frags, and every
// (i, j) tile goes through the emulated mma.
template <bool TA, bool TB> void warp_mma(Thread *th, int warp, int s, int ks) {
	float fa[32][GEMM_MT][4], fb[32][GEMM_NT][2];
	for (int lane = 0; lane < 32; lane++) {
		gemm_frags<TA, TB>(smem_a + s * GEMM_SMEM_A, smem_b + s * GEMM_SMEM_B, warp, lane, ks, fa[lane],
				   fb[lane]);
	}
	for (int i = 0; i < GEMM_MT; i++) {
		for (int j = 0; j < GEMM_NT; j++) {
			float a[32][4], b[32][2], d[32][4];
			for (int lane = 0; lane < 32; lane++) {
				memcpy(a[lane], fa[lane][i], sizeof a[lane]);
				memcpy(b[lane], fb[lane][j], sizeof b[lane]);
				memcpy(d[lane], th[warp * 32 + lane].acc[i][j], sizeof d[lane]);
			}
			mma_emulated(a, b, d, true);
			for (int lane = 0; lane < 32; lane++) {
				memcpy(th[warp * 32 + lane].acc[i][j], d[lane], sizeof d[lane]);
			}
		}
	}
}

// host_block emulates gemm_mainloop and then gemm_epilogue for block
// (bm, bn, z) of a grid of splits layers, phase by phase in the kernel's order, each phase for all
// threads (or warps) before the next.
// Between two barriers the device may interleave the threads in any order;
// the emulation picks the order worst for a wrong slot choice: every
// thread's stash of tile kt+1 happens before any warp reads tile kt, so
// stashing into the slot being read would corrupt the result here.
template <bool TA, bool TB>
void host_block(const GemmArgs &p, long long bm, long long bn, long long z, long long splits) {
	// Shared memory starts as NaN: a fragment read of an element no
	// thread stored (padding, or the wrong slot) poisons the result.
	for (float &x : smem_a) {
		x = NaN;
	}
	for (float &x : smem_b) {
		x = NaN;
	}
	std::vector<Thread> th(GEMM_THREADS);
	for (Thread &t : th) {
		memset(t.acc, 0, sizeof t.acc);
	}
	long long kt0, kt1;
	gemm_split_tiles(p.K, z, splits, &kt0, &kt1);
	for (int tid = 0; kt0 < kt1 && tid < GEMM_THREADS; tid++) { // an empty split only zeroes its slice
		gemm_fetch<TA, TB>(p, bm, bn, kt0, tid, th[tid].ra, th[tid].rb);
		gemm_stash<TA, TB>(smem_a + gemm_slot(kt0) * GEMM_SMEM_A, smem_b + gemm_slot(kt0) * GEMM_SMEM_B, tid,
				   th[tid].ra, th[tid].rb);
	}
	// __syncthreads()
	for (long long kt = kt0; kt < kt1; kt++) {
		const int s = gemm_slot(kt);
		if (kt + 1 < kt1) {
			for (int tid = 0; tid < GEMM_THREADS; tid++) {
				gemm_fetch<TA, TB>(p, bm, bn, kt + 1, tid, th[tid].ra, th[tid].rb);
				gemm_stash<TA, TB>(smem_a + gemm_slot(kt + 1) * GEMM_SMEM_A,
						   smem_b + gemm_slot(kt + 1) * GEMM_SMEM_B, tid, th[tid].ra, th[tid].rb);
			}
		}
		for (int warp = 0; warp < GEMM_THREADS / 32; warp++) {
			for (int ks = 0; ks < GEMM_KSTEPS; ks++) {
				warp_mma<TA, TB>(th.data(), warp, s, ks);
			}
		}
		// __syncthreads()
	}
	for (int tid = 0; tid < GEMM_THREADS; tid++) {
		gemm_epilogue(p, bm, bn, z, tid, th[tid].acc);
	}
}

// host_grid emulates the kernel's whole launch grid of splits layers and,
// with more than one, gemm_splitk_reduce (the kernel launched after it)
// with a grid of reduceThreads threads, last to first.
template <bool TA, bool TB> void host_grid(const GemmArgs &p, long long splits, long long reduceThreads) {
	const long long gx = (p.N + GEMM_BN - 1) / GEMM_BN, gy = (p.M + GEMM_BM - 1) / GEMM_BM;
	for (long long z = 0; z < splits; z++) {
		for (long long by = 0; by < gy; by++) {
			for (long long bx = 0; bx < gx; bx++) {
				host_block<TA, TB>(p, by, bx, z, splits);
			}
		}
	}
	if (splits > 1) {
		for (long long i = reduceThreads - 1; i >= 0; i--) {
			gemm_splitk_reduce_thread(i, reduceThreads, p, splits);
		}
	}
}

// mma_mode runs one 16×8×8 tile through the kernel's fragment helpers and
// the emulated mma: D = A·B + C, all row-major.
int mma_mode() {
	const std::vector<float> A = read_floats(16 * 8), B = read_floats(8 * 8), C = read_floats(16 * 8);
	float a[32][4], b[32][2], d[32][4];
	for (int lane = 0; lane < 32; lane++) {
		for (int r = 0; r < 4; r++) {
			a[lane][r] = A[gemm_frag_a_row(lane, r) * 8 + gemm_frag_a_col(lane, r)];
			d[lane][r] = C[gemm_frag_c_row(lane, r) * 8 + gemm_frag_c_col(lane, r)];
		}
		for (int r = 0; r < 2; r++) {
			b[lane][r] = B[gemm_frag_b_row(lane, r) * 8 + gemm_frag_b_col(lane, r)];
		}
	}
	mma_emulated(a, b, d, false);
	std::vector<float> D(16 * 8, NaN);
	for (int lane = 0; lane < 32; lane++) {
		for (int r = 0; r < 4; r++) {
			D[gemm_frag_c_row(lane, r) * 8 + gemm_frag_c_col(lane, r)] = d[lane][r];
		}
	}
	write_floats(D.data(), (long long)D.size());
	return 0;
}

// tf32_mode rounds n floats with the kernel's gemm_to_tf32.
int tf32_mode(long long n) {
	std::vector<float> x = read_floats(n);
	for (float &v : x) {
		v = gemm_to_tf32(v);
	}
	write_floats(x.data(), n);
	return 0;
}

// guarded reads n floats into a buffer that starts skew floats past a
// 16-byte boundary and is followed by NaN guards, and returns the start.
float *guarded(std::vector<float> &buf, long long n, int skew) {
	const long long guard = 64;
	buf.assign(n + skew + guard + 4, NaN);
	float *base = buf.data();
	while (((uintptr_t)base & 15) != 0) {
		base++;
	}
	float *p = base + skew;
	const std::vector<float> in = read_floats(n);
	if (n > 0) {
		memcpy(p, in.data(), n * sizeof(float));
	}
	return p;
}

long long arg(char **argv, int i) { return std::atoll(argv[i]); }

} // namespace

int main(int argc, char **argv) {
	if (argc == 2 && std::string(argv[1]) == "mma") {
		return mma_mode();
	}
	if (argc == 3 && std::string(argv[1]) == "tf32") {
		return tf32_mode(arg(argv, 2));
	}
	if (argc != 14) {
		fprintf(stderr, "usage: %s M N K LDA LDB LDC TRANSA TRANSB BETA ACT HASBIAS SKEW SPLITS\n", argv[0]);
		return 2;
	}
	const long long M = arg(argv, 1), N = arg(argv, 2), K = arg(argv, 3);
	const long long lda = arg(argv, 4), ldb = arg(argv, 5), ldc = arg(argv, 6);
	const bool ta = arg(argv, 7) != 0, tb = arg(argv, 8) != 0;
	const double beta = std::atof(argv[9]);
	const long long act = arg(argv, 10);
	const bool hasBias = arg(argv, 11) != 0;
	const int skew = (int)arg(argv, 12);
	const long long splits = arg(argv, 13);
	if (M < 1 || N < 1 || K < 1 || lda < (ta ? M : K) || ldb < (tb ? K : N) || ldc < N || skew < 0 || skew > 3 ||
	    splits < 1) {
		fprintf(stderr, "bad arguments\n");
		return 2;
	}
	std::vector<float> abuf, bbuf;
	const float *A = guarded(abuf, (ta ? K : M) * lda, skew);
	const float *B = guarded(bbuf, (tb ? N : K) * ldb, skew);
	std::vector<float> C = read_floats(M * ldc);
	std::vector<float> bias = read_floats(hasBias ? N : 0);
	// The work buffer starts as NaN: a partial sum no block wrote poisons
	// the result. The reduction runs on a grid of a third of the elements,
	// so that its threads take several each.
	std::vector<float> work(splits > 1 ? splits * M * N : 0, NaN);
	float *wp = splits > 1 ? work.data() : nullptr;
	const long long reduceThreads = (M * N + 2) / 3;
	const GemmArgs p = gemm_args(C.data(), A, B, hasBias ? bias.data() : nullptr, wp, M, N, K, lda, ldb, ldc, beta, act);
	if (ta) {
		if (tb) {
			host_grid<true, true>(p, splits, reduceThreads);
		} else {
			host_grid<true, false>(p, splits, reduceThreads);
		}
	} else {
		if (tb) {
			host_grid<false, true>(p, splits, reduceThreads);
		} else {
			host_grid<false, false>(p, splits, reduceThreads);
		}
	}
	write_floats(C.data(), M * ldc);
	return 0;
}
