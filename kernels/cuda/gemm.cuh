// gemm_tf32: C = act(op(A)·op(B) + beta·C + bias) on the tensor cores
// (mma.sync m16n8k8, TF32 inputs, float32 accumulation), and mma_peak, the
// probe that measures the device's rate of that instruction.
//
// Launch: grid (ceil(N/GEMM_BN), ceil(M/GEMM_BM), splits), block
// GEMM_THREADS, no dynamic shared memory (the kernel's static shared
// memory, GEMM_SMEM_BYTES, stays under the 48 KiB a launch gets without
// opting in).
//
// Split K. A product of few blocks (MNIST's: a 256×256 output is 4 blocks
// on an H200's 132 SMs) leaves most of the device idle. With splits > 1,
// block z of the grid's third dimension takes its share of the k-tiles
// (gemm_split_tiles) and writes its raw sums to the work buffer, one M×N
// slice per split; gemm_splitk_reduce then adds the slices in split order
// and applies the epilogue. No atomics: the result does not depend on the
// blocks' timing.
//
// Tiling. A block computes a GEMM_BM×GEMM_BN tile of C, walking K in steps
// of GEMM_BK. Its 8 warps sit 2 (along M) × 4 (along N); a warp owns a
// 64×32 tile of C, that is 4×4 mma tiles of 16×8, 64 accumulators per
// thread. Each k-tile of op(A) (BM×BK) and op(B) (BK×BN) goes global →
// registers → shared memory; shared memory holds two k-tiles (double
// buffering): while the warps multiply tile kt out of one slot, every
// thread has already issued its global loads of tile kt+1 into registers
// and stores them into the other slot afterwards, so one __syncthreads per
// k-tile suffices and the global latency hides behind the mma work.
//
// Shared layout. Each operand keeps, in shared memory, the layout it has in
// global memory (the contiguous dimension stays contiguous), so that the
// global loads are coalesced float4s and the shared stores are float4s
// too: op(A) is stored [m][k] (row stride BK+4) when A is not transposed and
// [k][m] (row stride BM+8) when it is; op(B) [k][n] (stride BN+8) when B is
// not transposed and [n][k] (stride BK+4) when it is. The paddings make the
// fragment reads conflict-free: a warp reads, for one register, the
// elements (g, t) with g = lane/4 in 0..7 and t = lane%4 in 0..3 of a
// 16×8 (or 8×8) tile; with a k-contiguous row stride of 20 words the 32
// addresses 20g + t fall in 32 distinct banks, and with an m- or
// n-contiguous stride of 136 words the addresses 136t + g = 8t + g (mod 32)
// do as well.
//
// TF32. Elements are rounded to TF32 (cvt.rna: to nearest, ties away from
// zero, 10 mantissa bits) once, when they are stored into shared memory,
// rather than each time a fragment is read (each element is read by 2 or 4
// warps).
//
// Host builds. Every index mapping below is a __host__ __device__ function
// that the kernel and the host emulator (gemm_host.cpp) share: the global →
// register load with its zero-filled edges, the register → shared store,
// the double-buffer slot, the fragment reads and the epilogue. Only the
// mma itself and the barriers differ; the emulator runs each phase for all
// threads of a block in turn and emulates mma.sync from the PTX ISA's
// fragment tables, written out independently of the helpers here.
#pragma once

#include "common.cuh"

#ifndef __CUDA_ARCH__
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#endif

#ifdef __CUDACC__
#define GEMM_UNROLL _Pragma("unroll")
#else
#define GEMM_UNROLL
#endif

// Block tile, warp layout and shapes; launch.go mirrors GEMM_BM, GEMM_BN and
// GEMM_THREADS.
#define GEMM_BM 128
#define GEMM_BN 128
#define GEMM_BK 16
#define GEMM_THREADS 256
#define GEMM_WARPS_N 4                  // warps along N; 2 along M
#define GEMM_WM 64                      // rows of C per warp
#define GEMM_WN 32                      // columns of C per warp
#define GEMM_MT (GEMM_WM / 16)          // mma tiles per warp along M
#define GEMM_NT (GEMM_WN / 8)           // mma tiles per warp along N
#define GEMM_KSTEPS (GEMM_BK / 8)       // mma k-steps per k-tile
#define GEMM_PAD_K 4                    // padding of rows contiguous in k
#define GEMM_PAD_MN 8                   // padding of rows contiguous in m or n
#define GEMM_STRIDE_K (GEMM_BK + GEMM_PAD_K)
#define GEMM_STRIDE_M (GEMM_BM + GEMM_PAD_MN)
#define GEMM_STRIDE_N (GEMM_BN + GEMM_PAD_MN)
#define GEMM_MAX(a, b) ((a) > (b) ? (a) : (b))
// Floats of one shared slot of each operand: the larger of its two layouts.
#define GEMM_SMEM_A GEMM_MAX(GEMM_BM * GEMM_STRIDE_K, GEMM_BK * GEMM_STRIDE_M)
#define GEMM_SMEM_B GEMM_MAX(GEMM_BN * GEMM_STRIDE_K, GEMM_BK * GEMM_STRIDE_N)
#define GEMM_SMEM_BYTES (2 * (GEMM_SMEM_A + GEMM_SMEM_B) * 4)
// float4 loads per thread per k-tile of each operand.
#define GEMM_VA (GEMM_BM * GEMM_BK / 4 / GEMM_THREADS)
#define GEMM_VB (GEMM_BN * GEMM_BK / 4 / GEMM_THREADS)

static_assert(GEMM_THREADS == 32 * (GEMM_BM / GEMM_WM) * GEMM_WARPS_N, "warp layout");
static_assert(GEMM_BN == GEMM_WN * GEMM_WARPS_N, "warp layout along N");
static_assert(GEMM_BK % 8 == 0, "k-tile of whole mma k-steps");
static_assert(GEMM_VA * 4 * GEMM_THREADS == GEMM_BM * GEMM_BK, "A tile split into float4s");
static_assert(GEMM_VB * 4 * GEMM_THREADS == GEMM_BN * GEMM_BK, "B tile split into float4s");
static_assert(GEMM_STRIDE_K % 4 == 0 && GEMM_STRIDE_M % 4 == 0 && GEMM_STRIDE_N % 4 == 0,
	      "shared rows aligned for float4 stores");
static_assert(GEMM_SMEM_BYTES <= 48 * 1024, "static shared memory");

// GemmArgs are the kernel's parameters, converted once.
struct GemmArgs {
	float *C;
	const float *A, *B, *bias;
	float *work; // split K: splits slices of M×N partial sums; null without a split
	long long M, N, K, lda, ldb, ldc;
	float beta;
	long long act;
	bool vecA, vecB; // float4 global loads are aligned (ld % 4 == 0, pointer 16-byte aligned)
};

// gemm_args packs the parameters; vecA and vecB say whether the float4
// fast path of the global loads is aligned for A and B.
HD GemmArgs gemm_args(float *C, const float *A, const float *B, const float *bias, float *work, long long M,
		      long long N, long long K, long long lda, long long ldb, long long ldc, double beta, long long act) {
	GemmArgs p;
	p.C = C;
	p.A = A;
	p.B = B;
	p.bias = bias;
	p.work = work;
	p.M = M;
	p.N = N;
	p.K = K;
	p.lda = lda;
	p.ldb = ldb;
	p.ldc = ldc;
	p.beta = (float)beta;
	p.act = act;
	p.vecA = lda % 4 == 0 && ((unsigned long long)A & 15) == 0;
	p.vecB = ldb % 4 == 0 && ((unsigned long long)B & 15) == 0;
	return p;
}

#ifndef __CUDA_ARCH__
// gemm_host_check_aligned stops the host build when a float4 access would be
// misaligned on the device: the host cannot fault, so it checks instead.
inline void gemm_host_check_aligned(const void *p, const char *what) {
	if (((uintptr_t)p & 15) != 0) {
		fprintf(stderr, "gemm: misaligned float4 %s at %p\n", what, p);
		abort();
	}
}
#endif

// gemm_ld4 loads the 4 floats at p (16-byte aligned) into v.
HD void gemm_ld4(const float *p, float v[4]) {
#ifdef __CUDA_ARCH__
	float4 x = *reinterpret_cast<const float4 *>(p);
	v[0] = x.x;
	v[1] = x.y;
	v[2] = x.z;
	v[3] = x.w;
#else
	gemm_host_check_aligned(p, "global load");
	memcpy(v, p, 4 * sizeof(float));
#endif
}

// gemm_st4 stores the 4 floats v at p (16-byte aligned).
HD void gemm_st4(float *p, const float v[4]) {
#ifdef __CUDA_ARCH__
	*reinterpret_cast<float4 *>(p) = make_float4(v[0], v[1], v[2], v[3]);
#else
	gemm_host_check_aligned(p, "shared store");
	memcpy(p, v, 4 * sizeof(float));
#endif
}

// gemm_to_tf32 rounds x to TF32 as cvt.rna.tf32.f32 does: to nearest,
// ties away from zero, keeping 10 mantissa bits (the low 13 bits become 0).
// Infinities and NaNs pass unchanged.
HD float gemm_to_tf32(float x) {
#ifdef __CUDA_ARCH__
	unsigned r;
	asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(r) : "f"(x));
	return __uint_as_float(r);
#else
	uint32_t u;
	memcpy(&u, &x, sizeof u);
	if ((u & 0x7f800000u) != 0x7f800000u) {
		// Adding half of the dropped unit to the magnitude bits rounds
		// ties away from zero; a carry out of the mantissa bumps the
		// exponent, as it should (up to infinity past the largest).
		u = (u + 0x1000u) & 0xffffe000u;
	}
	memcpy(&x, &u, sizeof u);
	return x;
#endif
}

// gemm_ktiles is the number of k-tiles covering K.
HD long long gemm_ktiles(long long K) { return (K + GEMM_BK - 1) / GEMM_BK; }

// gemm_split_tiles sets [*kt0, *kt1) to the k-tiles of split z of splits:
// consecutive runs of ceil(tiles/splits), the last ones shorter or empty.
HD void gemm_split_tiles(long long K, long long z, long long splits, long long *kt0, long long *kt1) {
	const long long nk = gemm_ktiles(K), per = (nk + splits - 1) / splits;
	*kt0 = z * per < nk ? z * per : nk;
	*kt1 = (z + 1) * per < nk ? (z + 1) * per : nk;
}

// gemm_slot is the shared-memory slot (0 or 1) that holds k-tile kt: the
// tiles alternate, so the slot being filled is never the one being read.
HD int gemm_slot(long long kt) { return (int)(kt & 1); }

// gemm_vec_coord maps thread tid's i-th float4 of a tile with cols
// contiguous columns to its (row, col) in the tile: consecutive threads take
// consecutive float4s along a row, so a warp's loads are coalesced.
HD void gemm_vec_coord(int tid, int i, int cols, int *row, int *col) {
	const int v = tid + i * GEMM_THREADS;
	*row = v / (cols / 4);
	*col = v % (cols / 4) * 4;
}

// gemm_smem_a is the offset, in a shared slot of op(A), of element (m, k)
// of the block's k-tile of op(A).
template <bool TA> HD int gemm_smem_a(int m, int k) { return TA ? k * GEMM_STRIDE_M + m : m * GEMM_STRIDE_K + k; }

// gemm_smem_b is the offset, in a shared slot of op(B), of element (k, n)
// of the block's k-tile of op(B).
template <bool TB> HD int gemm_smem_b(int k, int n) { return TB ? n * GEMM_STRIDE_K + k : k * GEMM_STRIDE_N + n; }

// gemm_fetch4 loads the 4 consecutive elements (r, c..c+3) of the rows×cols
// matrix X with leading dimension ld into v, as one float4 when they are
// all inside and vec says float4s are aligned, else one by one with zeros
// outside the matrix (the zeros pad the edge tiles, so no mma needs a
// bounds check).
HD void gemm_fetch4(const float *X, long long ld, long long rows, long long cols, long long r, long long c, bool vec,
		    float v[4]) {
	if (r < rows && c + 3 < cols && vec) {
		gemm_ld4(X + r * ld + c, v);
		return;
	}
	GEMM_UNROLL
	for (int j = 0; j < 4; j++) {
		v[j] = r < rows && c + j < cols ? X[r * ld + c + j] : 0.f;
	}
}

// gemm_fetch loads thread tid's share of k-tile kt of op(A) and op(B) for
// block (bm, bn) into the registers ra and rb.
template <bool TA, bool TB>
HD void gemm_fetch(const GemmArgs &p, long long bm, long long bn, long long kt, int tid, float ra[GEMM_VA][4],
		   float rb[GEMM_VB][4]) {
	GEMM_UNROLL
	for (int i = 0; i < GEMM_VA; i++) {
		int r, c;
		gemm_vec_coord(tid, i, TA ? GEMM_BM : GEMM_BK, &r, &c);
		// A is M×K, or K×M when transposed; rows and columns are A's as stored.
		const long long r0 = TA ? kt * GEMM_BK : bm * GEMM_BM, c0 = TA ? bm * GEMM_BM : kt * GEMM_BK;
		gemm_fetch4(p.A, p.lda, TA ? p.K : p.M, TA ? p.M : p.K, r0 + r, c0 + c, p.vecA, ra[i]);
	}
	GEMM_UNROLL
	for (int i = 0; i < GEMM_VB; i++) {
		int r, c;
		gemm_vec_coord(tid, i, TB ? GEMM_BK : GEMM_BN, &r, &c);
		// B is K×N, or N×K when transposed.
		const long long r0 = TB ? bn * GEMM_BN : kt * GEMM_BK, c0 = TB ? kt * GEMM_BK : bn * GEMM_BN;
		gemm_fetch4(p.B, p.ldb, TB ? p.N : p.K, TB ? p.K : p.N, r0 + r, c0 + c, p.vecB, rb[i]);
	}
}

// gemm_stash stores thread tid's registers ra and rb, rounded to TF32, into
// the shared slots sa and sb, at the places gemm_fetch took them from.
template <bool TA, bool TB>
HD void gemm_stash(float *sa, float *sb, int tid, const float ra[GEMM_VA][4], const float rb[GEMM_VB][4]) {
	GEMM_UNROLL
	for (int i = 0; i < GEMM_VA; i++) {
		int r, c;
		gemm_vec_coord(tid, i, TA ? GEMM_BM : GEMM_BK, &r, &c);
		float v[4];
		GEMM_UNROLL
		for (int j = 0; j < 4; j++) {
			v[j] = gemm_to_tf32(ra[i][j]);
		}
		// The 4 elements run along the stored contiguous dimension, which
		// is contiguous in shared memory too.
		gemm_st4(sa + (TA ? gemm_smem_a<TA>(c, r) : gemm_smem_a<TA>(r, c)), v);
	}
	GEMM_UNROLL
	for (int i = 0; i < GEMM_VB; i++) {
		int r, c;
		gemm_vec_coord(tid, i, TB ? GEMM_BK : GEMM_BN, &r, &c);
		float v[4];
		GEMM_UNROLL
		for (int j = 0; j < 4; j++) {
			v[j] = gemm_to_tf32(rb[i][j]);
		}
		gemm_st4(sb + (TB ? gemm_smem_b<TB>(c, r) : gemm_smem_b<TB>(r, c)), v);
	}
}

// Fragments of mma.m16n8k8 with .tf32 inputs and .f32 accumulators: which
// element of the 16×8 A tile, 8×8 B tile and 16×8 C/D tile register r of
// a lane holds (PTX ISA, "Matrix Fragments for mma.m16n8k8").

// gemm_frag_a_row is the row of A register r (0..3) of lane.
HD int gemm_frag_a_row(int lane, int r) { return (lane >> 2) + (r & 1) * 8; }

// gemm_frag_a_col is the column (k) of A register r of lane.
HD int gemm_frag_a_col(int lane, int r) { return (lane & 3) + (r >> 1) * 4; }

// gemm_frag_b_row is the row (k) of B register r (0..1) of lane.
HD int gemm_frag_b_row(int lane, int r) { return (lane & 3) + r * 4; }

// gemm_frag_b_col is the column of B register r of lane.
HD int gemm_frag_b_col(int lane, int r) {
	(void)r;
	return lane >> 2;
}

// gemm_frag_c_row is the row of C/D register r (0..3) of lane.
HD int gemm_frag_c_row(int lane, int r) { return (lane >> 2) + (r >> 1) * 8; }

// gemm_frag_c_col is the column of C/D register r of lane.
HD int gemm_frag_c_col(int lane, int r) { return (lane & 3) * 2 + (r & 1); }

// gemm_warp_row0 is the first row of the block tile that warp computes.
HD int gemm_warp_row0(int warp) { return warp / GEMM_WARPS_N * GEMM_WM; }

// gemm_warp_col0 is the first column of the block tile that warp computes.
HD int gemm_warp_col0(int warp) { return warp % GEMM_WARPS_N * GEMM_WN; }

// gemm_frags reads lane's fragments for k-step ks of the k-tile in the
// shared slots sa and sb: fa[i] of the warp's i-th 16-row A tile and fb[j]
// of its j-th 8-column B tile.
template <bool TA, bool TB>
HD void gemm_frags(const float *sa, const float *sb, int warp, int lane, int ks, float fa[GEMM_MT][4],
		   float fb[GEMM_NT][2]) {
	const int m0 = gemm_warp_row0(warp), n0 = gemm_warp_col0(warp), k0 = ks * 8;
	GEMM_UNROLL
	for (int i = 0; i < GEMM_MT; i++) {
		GEMM_UNROLL
		for (int r = 0; r < 4; r++) {
			fa[i][r] = sa[gemm_smem_a<TA>(m0 + i * 16 + gemm_frag_a_row(lane, r), k0 + gemm_frag_a_col(lane, r))];
		}
	}
	GEMM_UNROLL
	for (int j = 0; j < GEMM_NT; j++) {
		GEMM_UNROLL
		for (int r = 0; r < 2; r++) {
			fb[j][r] = sb[gemm_smem_b<TB>(k0 + gemm_frag_b_row(lane, r), n0 + j * 8 + gemm_frag_b_col(lane, r))];
		}
	}
}

// gemm_finish stores element (row, col) of C from its sum v:
// C = act(v + beta·C + bias). C is read only when beta is not 0, so it may
// then hold anything, NaN included.
HD void gemm_finish(const GemmArgs &p, long long row, long long col, float v) {
	float *c = p.C + row * p.ldc + col;
	if (p.beta != 0.f) {
		v += p.beta * *c;
	}
	if (p.bias) {
		v += p.bias[col];
	}
	*c = activate(v, p.act);
}

// gemm_epilogue writes thread tid's accumulators of block (bm, bn, z),
// skipping elements outside M×N: through gemm_finish to C, or, with a
// split K, as they are to slice z of the work buffer.
HD void gemm_epilogue(const GemmArgs &p, long long bm, long long bn, long long z, int tid,
		      const float acc[GEMM_MT][GEMM_NT][4]) {
	const int warp = tid >> 5, lane = tid & 31;
	const long long row0 = bm * GEMM_BM + gemm_warp_row0(warp), col0 = bn * GEMM_BN + gemm_warp_col0(warp);
	GEMM_UNROLL
	for (int i = 0; i < GEMM_MT; i++) {
		GEMM_UNROLL
		for (int j = 0; j < GEMM_NT; j++) {
			GEMM_UNROLL
			for (int r = 0; r < 4; r++) {
				const long long row = row0 + i * 16 + gemm_frag_c_row(lane, r);
				const long long col = col0 + j * 8 + gemm_frag_c_col(lane, r);
				if (row >= p.M || col >= p.N) {
					continue;
				}
				if (p.work) {
					p.work[(z * p.M + row) * p.N + col] = acc[i][j][r];
				} else {
					gemm_finish(p, row, col, acc[i][j][r]);
				}
			}
		}
	}
}

// gemm_splitk_reduce_thread is the grid-stride body of gemm_splitk_reduce:
// each element of C is the sum, in split order, of its splits partial sums
// in work, finished as gemm_finish does.
HD void gemm_splitk_reduce_thread(long long i, long long stride, const GemmArgs &p, long long splits) {
	const long long n = p.M * p.N;
	for (; i < n; i += stride) {
		float v = p.work[i];
		for (long long z = 1; z < splits; z++) {
			v += p.work[z * n + i];
		}
		gemm_finish(p, i / p.N, i % p.N, v);
	}
}

#ifdef __CUDACC__
// gemm_mma_tf32 is d += a·b for one m16n8k8 tile: a, b hold TF32 bit
// patterns in the fragment layouts above, d float32 accumulators.
__device__ __forceinline__ void gemm_mma_tf32(float d[4], const unsigned a[4], const unsigned b[2]) {
	asm("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
	    "{%0,%1,%2,%3};\n"
	    : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
	    : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

// gemm_mainloop accumulates one block's op(A)·op(B) tile into acc (the
// thread's share, zeroed here), for one combination of transpositions; sa
// and sb are the two shared slots of each operand. gemm_host.cpp's
// host_block is its emulation, phase for phase. The epilogue stays outside,
// so that its code (the activations, inlined 64 times) is not repeated for
// each of the four instantiations.
template <bool TA, bool TB>
__device__ __forceinline__ void gemm_mainloop(const GemmArgs &p, float *sa, float *sb,
					      float acc[GEMM_MT][GEMM_NT][4]) {
	const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
	const long long bm = blockIdx.y, bn = blockIdx.x;
	long long kt0, kt1;
	gemm_split_tiles(p.K, blockIdx.z, gridDim.z, &kt0, &kt1);
	GEMM_UNROLL
	for (int i = 0; i < GEMM_MT; i++) {
		GEMM_UNROLL
		for (int j = 0; j < GEMM_NT; j++) {
			GEMM_UNROLL
			for (int r = 0; r < 4; r++) {
				acc[i][j][r] = 0.f;
			}
		}
	}
	if (kt0 == kt1) {
		return; // an empty split: the epilogue writes zeros to its slice
	}
	float ra[GEMM_VA][4], rb[GEMM_VB][4];
	gemm_fetch<TA, TB>(p, bm, bn, kt0, tid, ra, rb);
	gemm_stash<TA, TB>(sa + gemm_slot(kt0) * GEMM_SMEM_A, sb + gemm_slot(kt0) * GEMM_SMEM_B, tid, ra, rb);
	__syncthreads();
	for (long long kt = kt0; kt < kt1; kt++) {
		const int s = gemm_slot(kt);
		// Issue the next tile's global loads first; they land in
		// registers while this tile's mmas run.
		if (kt + 1 < kt1) {
			gemm_fetch<TA, TB>(p, bm, bn, kt + 1, tid, ra, rb);
		}
		GEMM_UNROLL
		for (int ks = 0; ks < GEMM_KSTEPS; ks++) {
			float fa[GEMM_MT][4], fb[GEMM_NT][2];
			gemm_frags<TA, TB>(sa + s * GEMM_SMEM_A, sb + s * GEMM_SMEM_B, warp, lane, ks, fa, fb);
			unsigned ua[GEMM_MT][4], ub[GEMM_NT][2];
			GEMM_UNROLL
			for (int i = 0; i < GEMM_MT; i++) {
				GEMM_UNROLL
				for (int r = 0; r < 4; r++) {
					ua[i][r] = __float_as_uint(fa[i][r]);
				}
			}
			GEMM_UNROLL
			for (int j = 0; j < GEMM_NT; j++) {
				ub[j][0] = __float_as_uint(fb[j][0]);
				ub[j][1] = __float_as_uint(fb[j][1]);
			}
			GEMM_UNROLL
			for (int i = 0; i < GEMM_MT; i++) {
				GEMM_UNROLL
				for (int j = 0; j < GEMM_NT; j++) {
					gemm_mma_tf32(acc[i][j], ua[i], ub[j]);
				}
			}
		}
		// The other slot was last read in iteration kt−1, which every
		// thread has left (the barrier below), so it is free to fill.
		if (kt + 1 < kt1) {
			gemm_stash<TA, TB>(sa + gemm_slot(kt + 1) * GEMM_SMEM_A, sb + gemm_slot(kt + 1) * GEMM_SMEM_B, tid,
					   ra, rb);
		}
		__syncthreads();
	}
}

// gemm_tf32 computes C = act(op(A)·op(B) + beta·C + bias), row-major: op(A)
// is M×K (A is stored K×M, leading dimension lda, when transA ≠ 0), op(B)
// is K×N (B is stored N×K when transB ≠ 0), C is M×N with leading
// dimension ldc, bias is N floats or null, beta is 0 (C is not read) or 1,
// act is numbered as in common.cuh. Products are of TF32-rounded inputs,
// sums in float32. Any M, N, K ≥ 1 and leading dimensions are handled.
// With gridDim.z > 1 (split K), work holds gridDim.z·M·N floats, C is left
// to gemm_splitk_reduce, and bias, beta and act are its; else work is null.
extern "C" __global__ void __launch_bounds__(GEMM_THREADS, 1)
    gemm_tf32(float *C, const float *A, const float *B, const float *bias, float *work, long long M, long long N,
	      long long K, long long lda, long long ldb, long long ldc, long long transA, long long transB,
	      double beta, long long act) {
	__shared__ __align__(16) float sa[2 * GEMM_SMEM_A];
	__shared__ __align__(16) float sb[2 * GEMM_SMEM_B];
	const GemmArgs p = gemm_args(C, A, B, bias, work, M, N, K, lda, ldb, ldc, beta, act);
	float acc[GEMM_MT][GEMM_NT][4];
	if (transA) {
		if (transB) {
			gemm_mainloop<true, true>(p, sa, sb, acc);
		} else {
			gemm_mainloop<true, false>(p, sa, sb, acc);
		}
	} else {
		if (transB) {
			gemm_mainloop<false, true>(p, sa, sb, acc);
		} else {
			gemm_mainloop<false, false>(p, sa, sb, acc);
		}
	}
	gemm_epilogue(p, blockIdx.y, blockIdx.x, blockIdx.z, threadIdx.x, acc);
}

// gemm_splitk_reduce finishes a split-K gemm_tf32 of the same arguments:
// C = act(Σ_z work[z] + beta·C + bias), over M·N elements with a grid
// stride (1-D launch, as the elementwise kernels).
extern "C" __global__ void gemm_splitk_reduce(float *C, const float *bias, float *work, long long M, long long N,
					      long long ldc, long long splits, double beta, long long act) {
	const GemmArgs p = gemm_args(C, nullptr, nullptr, bias, work, M, N, 0, 1, 1, ldc, beta, act);
	gemm_splitk_reduce_thread((long long)blockIdx.x * blockDim.x + threadIdx.x, (long long)gridDim.x * blockDim.x,
				  p, splits);
}

// Independent accumulator chains per warp in mma_peak: enough to cover the
// mma's latency with a few warps per SM sub-partition.
#define MMA_PEAK_CHAINS 8

// mma_peak measures the rate of mma.sync.m16n8k8 TF32. Each warp runs iters
// iterations of MMA_PEAK_CHAINS independent mmas on register operands, then
// each thread writes the sum of its accumulators to
// out[blockIdx.x·blockDim.x + threadIdx.x] (so out holds gridDim.x·blockDim.x
// floats, and nothing can be optimised away).
//
// Counting: the launch issues (gridDim.x·blockDim.x/32)·iters·MMA_PEAK_CHAINS
// mmas, 8 per warp per iteration, each 2·16·8·8 = 2048 flops; the rate is
// that many flops over the kernel's time. blockDim.x must be a multiple of
// 32; launch several warps per SM sub-partition (for instance 256 threads
// per block and 4 blocks per SM) so the schedulers always have an
// independent mma to issue.
extern "C" __global__ void mma_peak(float *out, long long iters) {
	const int lane = threadIdx.x & 31;
	unsigned a[4], b[2];
	GEMM_UNROLL
	for (int r = 0; r < 4; r++) {
		a[r] = __float_as_uint(gemm_to_tf32(1.f / 1024 * (lane + r)));
	}
	b[0] = __float_as_uint(gemm_to_tf32(1.f / 4096 * lane));
	b[1] = __float_as_uint(gemm_to_tf32(1.f / 4096 * (32 - lane)));
	// Distinct starting values: chains that began equal, fed the same a
	// and b, could be merged by the compiler into one.
	float d[MMA_PEAK_CHAINS][4];
	GEMM_UNROLL
	for (int q = 0; q < MMA_PEAK_CHAINS; q++) {
		GEMM_UNROLL
		for (int r = 0; r < 4; r++) {
			d[q][r] = (float)(4 * q + r);
		}
	}
	for (long long it = 0; it < iters; it++) {
		GEMM_UNROLL
		for (int q = 0; q < MMA_PEAK_CHAINS; q++) {
			gemm_mma_tf32(d[q], a, b);
		}
	}
	float s = 0.f;
	GEMM_UNROLL
	for (int q = 0; q < MMA_PEAK_CHAINS; q++) {
		s += d[q][0] + d[q][1] + d[q][2] + d[q][3];
	}
	out[(long long)blockIdx.x * blockDim.x + threadIdx.x] = s;
}
#endif
