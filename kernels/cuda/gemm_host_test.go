package cuda

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/dnitrain/dnitrain/kernels"
)

// The tests of this file run gemm_tf32's launch grid on the CPU
// (gemm_host.cpp): the loads, shared-memory layout, double buffering,
// fragment reads and epilogue are the kernel's own code, and mma.sync is
// emulated from the PTX ISA's fragment tables, written out independently.
// A fragment helper that disagrees with the ISA, a wrong tile offset or a
// missing edge zero-fill therefore shows as a wrong product.

// u32 is float32's unit roundoff, 2⁻²⁴.
var u32 = math.Ldexp(1, -24)

// gemmHost returns the host build of the GEMM driver.
func gemmHost(t *testing.T) string {
	t.Helper()
	return hostProgram(t, "gemm_host.cpp")
}

// gemmRand returns the generator of a test case, seeded from its name, so
// that every case has its own fixed inputs.
func gemmRand(name string) *rand.Rand {
	var h uint64 = 14695981039346656037 // FNV-1a
	for i := 0; i < len(name); i++ {
		h = (h ^ uint64(name[i])) * 1099511628211
	}
	return rand.New(rand.NewPCG(h, 0x6e3d))
}

// TestGemmTF32RoundingHost checks the kernel's gemm_to_tf32 (its host version)
// against kernels.RoundTF32: random values of every magnitude, exact ties (which go
// away from zero), values just below a tie, subnormals, the largest float
// (which rounds up to infinity) and the special values.
func TestGemmTF32RoundingHost(t *testing.T) {
	prog := gemmHost(t)
	r := gemmRand("tf32")
	bits := []uint32{
		0x3f801000, 0xbf801000, // 1 + 2⁻¹¹: a tie, away from zero
		0x3f800fff, 0xbf800fff, // just below the tie: down
		0x3f803000, 0x3f801001, // tie above an odd last bit; just above a tie
		0x00001000, 0x80003000, 0x00000fff, 0x00000001, // subnormals
		0x7f7fffff, 0xff7fffff, // largest floats: up to ±Inf
		0x7f800000, 0xff800000, 0, 0x80000000, // ±Inf, ±0
	}
	for range 2000 {
		bits = append(bits, r.Uint32()&^0x7f800000|uint32(r.IntN(254)+1)<<23)
	}
	x := make([]float32, len(bits)+1)
	for i, b := range bits {
		x[i] = math.Float32frombits(b)
	}
	x[len(bits)] = float32(math.NaN())
	got := runHost(t, prog, []any{"tf32", len(x)}, [][]float32{x}, len(x))[0]
	for i, v := range x[:len(bits)] {
		if want := kernels.RoundTF32(v); math.Float32bits(got[i]) != math.Float32bits(want) {
			t.Errorf("gemm_to_tf32(%#08x) = %#08x, want %#08x", bits[i], math.Float32bits(got[i]), math.Float32bits(want))
		}
	}
	if !math.IsNaN(float64(got[len(bits)])) {
		t.Errorf("gemm_to_tf32(NaN) = %v", got[len(bits)])
	}
}

// TestGemmMMAFragmentsHost runs single 16×8×8 tiles through the kernel's
// fragment helpers and the emulated mma and compares D = A·B + C with the
// plain product. The first input is of small integers, exact in TF32 and
// in every sum, so the comparison is exact and any misplaced element
// shows; the others are random, with TF32 rounding of A and B to see.
func TestGemmMMAFragmentsHost(t *testing.T) {
	prog := gemmHost(t)
	for trial := range 4 {
		a, b, c := make([]float32, 16*8), make([]float32, 8*8), make([]float32, 16*8)
		r := gemmRand(fmt.Sprint("mma", trial))
		for i := range a {
			if trial == 0 {
				a[i] = float32(i) // A[i][k] = 8i + k
			} else {
				a[i] = float32(r.NormFloat64())
			}
		}
		for i := range b {
			if trial == 0 {
				b[i] = float32(i%8*8 + i/8 - 32) // B[k][j] = 8j + k − 32
			} else {
				b[i] = float32(r.NormFloat64())
			}
		}
		for i := range c {
			if trial == 0 {
				c[i] = float32(1000 * (i/8 - i%8))
			} else {
				c[i] = float32(r.NormFloat64())
			}
		}
		d := runHost(t, prog, []any{"mma"}, [][]float32{a, b, c}, 16*8)[0]
		for i := range 16 {
			for j := range 8 {
				want, scale := float64(c[i*8+j]), math.Abs(float64(c[i*8+j]))
				for k := range 8 {
					p := float64(kernels.RoundTF32(a[i*8+k])) * float64(kernels.RoundTF32(b[k*8+j]))
					want += p
					scale += math.Abs(p)
				}
				// Eight float32 additions onto C: at most 9 roundings of
				// partial sums bounded by scale (products of TF32 values
				// are exact in float32).
				tol := 9 * u32 * scale
				if trial == 0 {
					tol = 0
				}
				if got := float64(d[i*8+j]); !(math.Abs(got-want) <= tol) {
					t.Errorf("trial %d: D[%d][%d] = %v, want %v", trial, i, j, got, want)
				}
			}
		}
	}
}

// gemmCase is one GEMM of the host tests. Leading dimensions of 0 mean the
// tight ones; skew places A and B that many floats off 16-byte alignment;
// splits > 1 splits K that many ways.
type gemmCase struct {
	m, n, k        int
	lda, ldb, ldc  int
	transA, transB bool
	beta           float64
	act            kernels.Activation
	bias           bool
	skew           int
	splits         int
}

func (c gemmCase) String() string {
	s := fmt.Sprintf("%dx%dx%d/ld%d,%d,%d/t%v%v/beta%v/act%d/bias%v", c.m, c.n, c.k, c.lda, c.ldb, c.ldc,
		b2i(c.transA), b2i(c.transB), c.beta, c.act, c.bias)
	if c.skew != 0 {
		s += fmt.Sprintf("/skew%d", c.skew)
	}
	if c.splits > 1 {
		s += fmt.Sprintf("/split%d", c.splits)
	}
	return s
}

// b2i is 1 for true and 0 for false.
func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// gemmCases are the host-tested GEMMs: every transposition combination of
// sizes below, at and above the block and k tiles (1, 7, 17, 33, 127..129,
// 255..257, 300), including K = 1; the dense layer's shape M=256 K=784
// N=256; leading dimensions wider than the matrices, both multiples of 4
// (float4 loads) and not (scalar loads), and operands off 16-byte
// alignment; with and without bias, with each activation, and with beta = 1
// (C accumulated) or 0 (C NaN, never read).
func gemmCases() []gemmCase {
	var cs []gemmCase
	sizes := [][3]int{
		{1, 1, 1}, {7, 7, 7}, {1, 257, 33}, {255, 1, 17}, {129, 127, 1},
		{257, 255, 33}, {128, 128, 16}, {300, 20, 40}, {3, 300, 129},
	}
	for _, s := range sizes {
		for _, ta := range []bool{false, true} {
			for _, tb := range []bool{false, true} {
				cs = append(cs, gemmCase{m: s[0], n: s[1], k: s[2], transA: ta, transB: tb, bias: true})
			}
		}
	}
	cs = append(cs,
		gemmCase{m: 256, n: 256, k: 784},
		gemmCase{m: 256, n: 256, k: 784, transA: true, bias: true, act: kernels.ReLU},
		gemmCase{m: 256, n: 256, k: 784, transB: true, beta: 1},
	)
	for _, ta := range []bool{false, true} {
		for _, tb := range []bool{false, true} {
			// Leading dimensions not multiples of 4: scalar loads.
			cs = append(cs, gemmCase{m: 100, n: 90, k: 50, lda: 131, ldb: 97, ldc: 93, transA: ta, transB: tb, bias: true})
			// Multiples of 4, wider than the matrices: float4 loads except
			// at the ragged ends.
			cs = append(cs, gemmCase{m: 130, n: 70, k: 45, lda: 136, ldb: 76, ldc: 80, transA: ta, transB: tb, beta: 1})
			// Tight and multiples of 4, but misaligned pointers.
			cs = append(cs, gemmCase{m: 64, n: 96, k: 32, transA: ta, transB: tb, bias: true, skew: 1})
		}
	}
	// Split K: even and uneven shares of the k-tiles, a split with none
	// (K = 33 is 3 k-tiles for 4 splits; K = 16 is 1 for 2), and the
	// epilogue (bias, activation, beta) applied after the splits' sums.
	cs = append(cs,
		gemmCase{m: 257, n: 255, k: 129, bias: true, act: kernels.ReLU, splits: 3},
		gemmCase{m: 3, n: 300, k: 129, transB: true, beta: 1, splits: 4},
		gemmCase{m: 130, n: 70, k: 33, transA: true, bias: true, act: kernels.Tanh, splits: 4},
		gemmCase{m: 128, n: 128, k: 16, transA: true, transB: true, beta: 1, act: kernels.Sigmoid, splits: 2},
		gemmCase{m: 100, n: 90, k: 50, lda: 131, ldb: 97, ldc: 93, bias: true, splits: 2},
		// What Gemm makes of a first layer's product on 132 SMs: 49 k-tiles
		// in 10 splits, 9 of 5 and a last of 4.
		gemmCase{m: 256, n: 256, k: 784, bias: true, act: kernels.ReLU, splits: gemmSplits(256, 256, 784, 132)},
	)
	for act := kernels.Identity; act <= kernels.Sigmoid; act++ {
		for _, bias := range []bool{false, true} {
			cs = append(cs, gemmCase{m: 140, n: 133, k: 70, act: act, bias: bias})
			cs = append(cs, gemmCase{m: 61, n: 130, k: 23, transA: true, transB: true, act: act, bias: bias, beta: 1})
		}
	}
	return cs
}

// TestGemmHost runs the cases of gemmCases and compares each C with two
// float64 references (kernels.SgemmRef sums in float64, then rounds to
// float32 once):
//
//   - with A and B rounded to TF32 first, the only differences left are the
//     float32 sums: the emulation adds the K products, then C and the bias,
//     one at a time, so each result is off by at most (K+2)·u·(S + |C| +
//     |bias|) to first order, with S = Σ|a||b| over the dot product and u =
//     2⁻²⁴; the reference's own rounding to float32 adds u·(S + |C|); the
//     activations are 1-Lipschitz and tanhf and expf are within a few units
//     of the last place of their results. So the bound used is
//     (K+4)·u·(S + |C| + |bias|) + 8u·|result|;
//   - with A and B as they are, each product of TF32-rounded inputs also
//     differs from the exact one by up to (2·2⁻¹¹ + 2⁻²²)·|a||b|, so the
//     bound adds 1.001·2⁻¹⁰·S: the usual TF32 tolerance of about 1e-3
//     relative to |A|·|B|.
//
// Elements of C past N in each row (the ldc padding) must come back as
// they went in, and the padding of A and B is NaN, so that reading it
// (instead of zero-filling the edges) poisons the result.
func TestGemmHost(t *testing.T) {
	run := hostGemm(t)
	for _, c := range gemmCases() {
		t.Run(c.String(), func(t *testing.T) {
			t.Parallel()
			runGemmCase(t, run, c)
		})
	}
}

// gemmRun runs the GEMM of case c on A and B (NaN in their padding), C
// and the bias (nil without one), laid out with leading dimensions lda,
// ldb and ldc, and returns C: c.m·ldc floats.
type gemmRun func(t *testing.T, c gemmCase, lda, ldb, ldc int, a, b, cin, bias []float32) []float32

// hostGemm returns the gemmRun of the host build.
func hostGemm(t *testing.T) gemmRun {
	prog := gemmHost(t)
	return func(t *testing.T, c gemmCase, lda, ldb, ldc int, a, b, cin, bias []float32) []float32 {
		args := []any{c.m, c.n, c.k, lda, ldb, ldc, b2i(c.transA), b2i(c.transB), c.beta, int(c.act), b2i(c.bias), c.skew, max(c.splits, 1)}
		return runHost(t, prog, args, [][]float32{a, b, cin, bias}, c.m*ldc)[0]
	}
}

// runGemmCase runs one case with run (the host build or the device) and
// checks it.
func runGemmCase(t *testing.T, run gemmRun, c gemmCase) {
	r := gemmRand(c.String())
	rowsA, colsA := c.m, c.k
	if c.transA {
		rowsA, colsA = c.k, c.m
	}
	rowsB, colsB := c.k, c.n
	if c.transB {
		rowsB, colsB = c.n, c.k
	}
	lda, ldb, ldc := cmp0(c.lda, colsA), cmp0(c.ldb, colsB), cmp0(c.ldc, c.n)
	nan := float32(math.NaN())
	// fill returns a rows×cols matrix with leading dimension ld of values
	// uniform in [−1, 1) and the padding set to pad.
	fill := func(rows, cols, ld int, pad float32) []float32 {
		v := make([]float32, rows*ld)
		for i := range rows {
			for j := range ld {
				if j < cols {
					v[i*ld+j] = float32(2*r.Float64() - 1)
				} else {
					v[i*ld+j] = pad
				}
			}
		}
		return v
	}
	a, b := fill(rowsA, colsA, lda, nan), fill(rowsB, colsB, ldb, nan)
	var cin []float32
	if c.beta != 0 {
		cin = fill(c.m, c.n, ldc, 42)
	} else {
		cin = make([]float32, c.m*ldc)
		for i := range cin {
			cin[i] = nan
		}
	}
	var bias []float32
	if c.bias {
		bias = fill(1, c.n, c.n, 0)
	}
	got := run(t, c, lda, ldb, ldc, a, b, cin, bias)

	// References: exact inputs, TF32 inputs, and S = |A|·|B| (of the TF32
	// inputs, which bounds that of the exact ones up to 2⁻¹¹).
	round := func(v []float32, f func(float32) float32) []float32 {
		w := make([]float32, len(v))
		for i, x := range v {
			w[i] = f(x)
		}
		return w
	}
	abs := func(x float32) float32 { return float32(math.Abs(float64(x))) }
	at, bt := round(a, kernels.RoundTF32), round(b, kernels.RoundTF32)
	ref := func(a, b []float32, beta float32) []float32 {
		z := make([]float32, len(cin))
		copy(z, cin)
		kernels.SgemmRef(c.transA, c.transB, c.m, c.n, c.k, 1, a, lda, b, ldb, beta, z, ldc)
		return z
	}
	zExact, zTF32 := ref(a, b, float32(c.beta)), ref(at, bt, float32(c.beta))
	s := ref(round(at, abs), round(bt, abs), 0)

	act := func(x float64) float64 {
		switch c.act {
		case kernels.ReLU:
			return max(x, 0)
		case kernels.Tanh:
			return math.Tanh(x)
		case kernels.Sigmoid:
			return 1 / (1 + math.Exp(-x))
		}
		return x
	}
	bad := 0
	for i := range c.m {
		for j := range ldc {
			o := i*ldc + j
			g := float64(got[o])
			if j >= c.n {
				if math.Float32bits(got[o]) != math.Float32bits(cin[o]) {
					t.Fatalf("C[%d][%d] in the ldc padding changed from %v to %v", i, j, cin[o], got[o])
				}
				continue
			}
			var bj, cij float64
			if c.bias {
				bj = float64(bias[j])
			}
			if c.beta != 0 {
				cij = float64(cin[o])
			}
			terms := float64(s[o]) + math.Abs(cij) + math.Abs(bj)
			wantT := act(float64(zTF32[o]) + bj)
			tolT := float64(c.k+4)*u32*terms + 8*u32*math.Abs(wantT)
			wantE := act(float64(zExact[o]) + bj)
			tolE := 1.001*math.Ldexp(1, -10)*float64(s[o]) + tolT
			if !(math.Abs(g-wantT) <= tolT) || !(math.Abs(g-wantE) <= tolE) {
				if bad++; bad <= 5 {
					t.Errorf("C[%d][%d] = %v, want %v (TF32 inputs, ±%.3g) and %v (exact inputs, ±%.3g)",
						i, j, g, wantT, tolT, wantE, tolE)
				}
			}
		}
	}
	if bad > 5 {
		t.Errorf("%d elements of %d wrong", bad, c.m*c.n)
	}
}

// cmp0 returns ld, or tight when ld is 0.
func cmp0(ld, tight int) int {
	if ld == 0 {
		return tight
	}
	return ld
}
