package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// sgemmCase is one call of Sgemm: shapes, leading-dimension padding, scalars.
type sgemmCase struct {
	transA, transB bool
	m, n, k        int
	pad            int // added to each minimal leading dimension
	alpha, beta    float32
}

func (tc sgemmCase) String() string {
	return fmt.Sprintf("%s%s/m=%d,n=%d,k=%d/pad=%d/alpha=%g,beta=%g",
		sgemmTransName(tc.transA), sgemmTransName(tc.transB), tc.m, tc.n, tc.k, tc.pad, tc.alpha, tc.beta)
}

func sgemmTransName(t bool) string {
	if t {
		return "T"
	}
	return "N"
}

// sgemmOperands returns random A, B and C for tc with their leading
// dimensions. C is filled with NaN when beta is zero, which Sgemm must
// overwrite without reading.
func sgemmOperands(rng *rand.Rand, tc sgemmCase) (a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	rowsA, colsA := tc.m, tc.k
	if tc.transA {
		rowsA, colsA = tc.k, tc.m
	}
	rowsB, colsB := tc.k, tc.n
	if tc.transB {
		rowsB, colsB = tc.n, tc.k
	}
	lda, ldb, ldc = max(colsA, 1)+tc.pad, max(colsB, 1)+tc.pad, max(tc.n, 1)+tc.pad
	fill := func(rows, ld int) []float32 {
		s := make([]float32, rows*ld)
		for i := range s {
			s[i] = float32(rng.NormFloat64())
		}
		return s
	}
	a, b, c = fill(rowsA, lda), fill(rowsB, ldb), fill(tc.m, ldc)
	if tc.beta == 0 {
		for i := range c {
			c[i] = float32(math.NaN())
		}
	}
	return a, lda, b, ldb, c, ldc
}

// sgemmWant returns SgemmRef's result for tc on the given inputs, and for
// each element of C the bound on its error: 1e-5 of the sum of the magnitudes
// of its terms, alpha·Σ|a||b| + |beta·c0|. A float32 sum of k terms is good to
// about k·2⁻²⁴ of that in the worst case, and far better on random data,
// whose rounding errors partly cancel.
func sgemmWant(tc sgemmCase, a []float32, lda int, b []float32, ldb int, c0 []float32, ldc int) (want []float32, bound []float64) {
	want = append([]float32(nil), c0...)
	SgemmRef(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, a, lda, b, ldb, tc.beta, want, ldc)
	absA := make([]float32, len(a))
	for i, v := range a {
		absA[i] = float32(math.Abs(float64(v)))
	}
	absB := make([]float32, len(b))
	for i, v := range b {
		absB[i] = float32(math.Abs(float64(v)))
	}
	mag := make([]float32, len(c0))
	SgemmRef(tc.transA, tc.transB, tc.m, tc.n, tc.k, 1, absA, lda, absB, ldb, 0, mag, ldc)
	bound = make([]float64, len(c0))
	for i := range bound {
		m := math.Abs(float64(tc.alpha)) * float64(mag[i])
		if tc.beta != 0 {
			m += math.Abs(float64(tc.beta) * float64(c0[i]))
		}
		bound[i] = 1e-5 * m
	}
	return want, bound
}

// sgemmCompare reports the first element of got outside its bound, and any
// change to the padding between the rows of C.
func sgemmCompare(tc sgemmCase, c0, got, want []float32, bound []float64, ldc int) error {
	for i := 0; i < tc.m; i++ {
		for j := 0; j < ldc && i*ldc+j < len(got); j++ {
			x := i*ldc + j
			if j >= tc.n {
				if math.Float32bits(got[x]) != math.Float32bits(c0[x]) {
					return fmt.Errorf("padding C[%d][%d] changed from %v to %v", i, j, c0[x], got[x])
				}
				continue
			}
			if d := math.Abs(float64(got[x]) - float64(want[x])); !(d <= bound[x]) {
				return fmt.Errorf("C[%d][%d] = %v, reference %v (|diff| %g, bound %g)", i, j, got[x], want[x], d, bound[x])
			}
		}
	}
	return nil
}

// sgemmAsmShapes are the tiles and blocking of the assembly micro-kernels,
// whether or not this build has them.
var sgemmAsmShapes = []*sgemmMicroKernel{
	{mr: 12, nr: 32, mc: 240, kc: 160, nc: 4096}, // avx512
	{mr: 6, nr: 16, mc: 144, kc: 256, nc: 4096},  // avx2
}

// sgemmTileKernel returns a plain Go micro-kernel for mr×nr tiles, with the
// tile and blocking of shape. It lets the packing and the edge handling of
// every assembly kernel's tile shape run on any CPU.
func sgemmTileKernel(shape *sgemmMicroKernel) *sgemmMicroKernel {
	k := *shape
	k.name = fmt.Sprintf("go%dx%d", k.mr, k.nr)
	mr, nr := k.mr, k.nr
	k.fn = func(kc int, a, b, c []float32, ldc int, alpha, beta float32) {
		var acc [sgemmMaxTile]float32
		for p := 0; p < kc; p++ {
			bp := b[p*nr : p*nr+nr]
			for r, ar := range a[p*mr : p*mr+mr] {
				row := acc[r*nr : r*nr+nr]
				for j, bj := range bp {
					row[j] += ar * bj
				}
			}
		}
		for r := 0; r < mr; r++ {
			for j := 0; j < nr; j++ {
				if beta == 0 {
					c[r*ldc+j] = alpha * acc[r*nr+j]
				} else {
					c[r*ldc+j] = alpha*acc[r*nr+j] + beta*c[r*ldc+j]
				}
			}
		}
	}
	return &k
}

// sgemmTestKernels returns the micro-kernels this CPU and build can run, and
// plain Go kernels with the tile shapes of the assembly ones, each with its
// own blocking and again with blocks of a few tiles, so that small products
// also cross every block boundary.
func sgemmTestKernels() []*sgemmMicroKernel {
	ks := append([]*sgemmMicroKernel(nil), sgemmKernels...)
	for _, shape := range sgemmAsmShapes {
		ks = append(ks, sgemmTileKernel(shape))
	}
	var out []*sgemmMicroKernel
	for _, k := range ks {
		small := *k
		small.name += "-smallblocks"
		small.mc, small.kc, small.nc = 2*k.mr, 5, 3*k.nr
		out = append(out, k, &small)
	}
	return out
}

func TestSgemmMatchesReference(t *testing.T) {
	// Sizes around every tile (4, 6, 12, 16, 32) and block (144, 256) edge,
	// and products large enough for two or three goroutines that share out
	// columns (64×256×128, 100×300×200) or rows.
	sizes := [][3]int{ // m, n, k
		{1, 1, 1}, {7, 15, 17}, {16, 16, 16}, {17, 33, 31}, {31, 7, 33},
		{33, 31, 7}, {15, 17, 1}, {1, 257, 255}, {257, 1, 33}, {13, 300, 3},
		{255, 33, 257}, {257, 255, 31}, {64, 256, 128}, {100, 300, 200}, {150, 100, 513},
	}
	if sgemmRace {
		sizes = sizes[:len(sizes)-1]
	}
	kernels := sgemmTestKernels()
	rng := rand.New(rand.NewPCG(1, 2))
	for i, s := range sizes {
		for _, tr := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
			for _, beta := range []float32{0, 1, 0.5} {
				tc := sgemmCase{
					transA: tr[0], transB: tr[1], m: s[0], n: s[1], k: s[2],
					pad: []int{0, 3}[i%2], alpha: []float32{1, -1.5}[(i/2)%2], beta: beta,
				}
				a, lda, b, ldb, c0, ldc := sgemmOperands(rng, tc)
				want, bound := sgemmWant(tc, a, lda, b, ldb, c0, ldc)
				c := make([]float32, len(c0))
				one := make([]float32, len(c0)) // the result with one thread
				for _, ker := range kernels {
					for _, threads := range []int{1, 2, 3} {
						if (threads > 1 || sgemmRace) && strings.HasPrefix(ker.name, "go") {
							continue // slow, and the threads are tested with the others
						}
						copy(c, c0)
						g := &Gemm{Threads: threads, kern: ker}
						g.Sgemm(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, a, lda, b, ldb, tc.beta, c, ldc)
						if err := sgemmCompare(tc, c0, c, want, bound, ldc); err != nil {
							t.Errorf("%v, kernel %s, %d threads: %v", tc, ker.name, threads, err)
						}
						// However the goroutines share the work, every
						// element is summed in the same order.
						if threads == 1 {
							copy(one, c)
						} else if k := sgemmFirstDifference(one, c); k >= 0 {
							t.Errorf("%v, kernel %s, %d threads: element %d is %v, %v with one thread", tc, ker.name, threads, k, c[k], one[k])
						}
					}
				}
			}
		}
	}
}

// sgemmFirstDifference returns the first index where x and y differ in
// their bits, or -1.
func sgemmFirstDifference(x, y []float32) int {
	for k := range x {
		if math.Float32bits(x[k]) != math.Float32bits(y[k]) {
			return k
		}
	}
	return -1
}

// TestSgemmKernels runs each micro-kernel on a product that needs two blocks
// of rows and of depth with its own blocking, and shows which kernels this CPU
// lets the other tests reach.
// TestSgemmPackPanelsMatchesGo compares the panel copy that packs op(B) and
// op(A)ᵀ (in assembly where the CPU has AVX) with its plain Go loop, for the
// panel widths of every micro-kernel and others, on block heights around
// the assembly's blocks of 8 rows, and checks that nothing past the panels
// is written.
func TestSgemmPackPanelsMatchesGo(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, width := range []int{2, 4, 6, 10, 12, 16, 32} {
		for _, kc := range []int{1, 7, 8, 9, 17, 157} {
			for _, panels := range []int{1, 3} {
				lds := panels*width + 5
				src := make([]float32, kc*lds)
				for i := range src {
					src[i] = rng.Float32()
				}
				n := kc * width * panels
				want := make([]float32, n)
				sgemmPackPanelsGo(want, src, lds, kc, width, panels)
				got := make([]float32, n+3)
				got[n], got[n+1], got[n+2] = -1, -1, -1
				sgemmPackPanels(got[:n], src, lds, kc, width, panels)
				if k := sgemmFirstDifference(got[:n], want); k >= 0 {
					t.Fatalf("width %d, kc %d, %d panels: element %d is %v, want %v", width, kc, panels, k, got[k], want[k])
				}
				if got[n] != -1 || got[n+1] != -1 || got[n+2] != -1 {
					t.Fatalf("width %d, kc %d, %d panels: wrote past the panels", width, kc, panels)
				}
			}
		}
	}
}

func TestSgemmKernels(t *testing.T) {
	for _, name := range []string{"avx512", "avx2", "generic"} {
		var ker *sgemmMicroKernel
		for _, k := range sgemmKernels {
			if k.name == name {
				ker = k
			}
		}
		t.Run(name, func(t *testing.T) {
			if ker == nil {
				t.Skipf("micro-kernel %s not supported by this CPU or build", name)
			}
			rng := rand.New(rand.NewPCG(3, 4))
			tc := sgemmCase{transA: true, m: ker.mc + ker.mr + 1, n: 5*ker.nr + 3, k: ker.kc + 7, alpha: 0.5, beta: 0.5, pad: 1}
			a, lda, b, ldb, c0, ldc := sgemmOperands(rng, tc)
			want, bound := sgemmWant(tc, a, lda, b, ldb, c0, ldc)
			c := make([]float32, len(c0))
			for _, threads := range []int{1, 2} {
				copy(c, c0)
				g := &Gemm{Threads: threads, kern: ker}
				g.Sgemm(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, a, lda, b, ldb, tc.beta, c, ldc)
				if err := sgemmCompare(tc, c0, c, want, bound, ldc); err != nil {
					t.Errorf("%v, %d threads: %v", tc, threads, err)
				}
			}
		})
	}
}

func TestSgemmDegenerate(t *testing.T) {
	nan := float32(math.NaN())
	for _, tc := range []struct {
		name        string
		m, n, k     int
		alpha, beta float32
		c, want     []float32
	}{
		{"k=0 beta=0 clears NaN", 2, 2, 0, 1, 0, []float32{nan, nan, nan, nan}, []float32{0, 0, 0, 0}},
		{"k=0 beta=2 scales", 2, 2, 0, 1, 2, []float32{1, 2, 3, 4}, []float32{2, 4, 6, 8}},
		{"alpha=0 beta=1 keeps C", 2, 2, 3, 0, 1, []float32{1, 2, nan, 4}, []float32{1, 2, nan, 4}},
		{"alpha=0 beta=0 clears NaN", 2, 2, 3, 0, 0, []float32{nan, 1, nan, 4}, []float32{0, 0, 0, 0}},
		{"m=0", 0, 2, 3, 1, 0, nil, nil},
		{"n=0", 2, 0, 3, 1, 0, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := []float32{1, 2, 3, 4, 5, 6}
			b := []float32{1, 2, 3, 4, 5, 6}
			lda, ldb, ldc := max(tc.k, 1), max(tc.n, 1), max(tc.n, 1)
			var g Gemm
			g.Sgemm(false, false, tc.m, tc.n, tc.k, tc.alpha, a, lda, b, ldb, tc.beta, tc.c, ldc)
			for i := range tc.want {
				if g, w := tc.c[i], tc.want[i]; g != w && !(g != g && w != w) {
					t.Errorf("c[%d] = %v, want %v", i, g, w)
				}
			}
		})
	}
}

func TestSgemmPanics(t *testing.T) {
	s := make([]float32, 100)
	for _, tc := range []struct {
		name                   string
		transA, transB         bool
		m, n, k, lda, ldb, ldc int
		lenA, lenB, lenC       int
		want                   string
	}{
		{"negative m", false, false, -1, 2, 2, 2, 2, 2, 100, 100, 100, "kernels: Sgemm: m < 0"},
		{"negative n", false, false, 2, -1, 2, 2, 2, 2, 100, 100, 100, "kernels: Sgemm: n < 0"},
		{"negative k", false, false, 2, 2, -1, 2, 2, 2, 100, 100, 100, "kernels: Sgemm: k < 0"},
		{"lda < k", false, false, 2, 3, 4, 3, 3, 3, 100, 100, 100, "kernels: Sgemm: bad lda"},
		{"lda < m transposed", true, false, 5, 3, 4, 4, 3, 3, 100, 100, 100, "kernels: Sgemm: bad lda"},
		{"ldb < n", false, false, 2, 3, 4, 4, 2, 3, 100, 100, 100, "kernels: Sgemm: bad ldb"},
		{"ldb < k transposed", false, true, 2, 3, 4, 4, 3, 3, 100, 100, 100, "kernels: Sgemm: bad ldb"},
		{"ldc < n", false, false, 2, 3, 4, 4, 3, 2, 100, 100, 100, "kernels: Sgemm: bad ldc"},
		{"ld zero", false, false, 2, 0, 0, 0, 1, 1, 100, 100, 100, "kernels: Sgemm: bad lda"},
		{"short a", false, false, 2, 3, 4, 4, 3, 3, 7, 100, 100, "kernels: Sgemm: insufficient length of a"},
		{"short b", false, false, 2, 3, 4, 4, 3, 3, 100, 11, 100, "kernels: Sgemm: insufficient length of b"},
		{"short c", false, false, 2, 3, 4, 4, 3, 5, 100, 100, 7, "kernels: Sgemm: insufficient length of c"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, f := range []struct {
				name string
				call func()
			}{
				{"Sgemm", func() {
					var g Gemm
					g.Sgemm(tc.transA, tc.transB, tc.m, tc.n, tc.k, 1, s[:tc.lenA], tc.lda, s[:tc.lenB], tc.ldb, 0, s[:tc.lenC], tc.ldc)
				}},
				{"SgemmRef", func() {
					SgemmRef(tc.transA, tc.transB, tc.m, tc.n, tc.k, 1, s[:tc.lenA], tc.lda, s[:tc.lenB], tc.ldb, 0, s[:tc.lenC], tc.ldc)
				}},
			} {
				func() {
					defer func() {
						if r := recover(); r != tc.want {
							t.Errorf("%s panicked with %v, want %q", f.name, r, tc.want)
						}
					}()
					f.call()
				}()
			}
		})
	}
}

// TestSgemmSliceLengths checks that the smallest slices the documentation
// allows are accepted: the last row of each matrix need not be padded.
func TestSgemmSliceLengths(t *testing.T) {
	const m, n, k, pad = 19, 21, 23, 5
	rng := rand.New(rand.NewPCG(5, 6))
	tc := sgemmCase{m: m, n: n, k: k, pad: pad, alpha: 1, beta: 0.5}
	a, lda, b, ldb, c, ldc := sgemmOperands(rng, tc)
	a, b, c = a[:(m-1)*lda+k], b[:(k-1)*ldb+n], c[:(m-1)*ldc+n]
	c0 := append([]float32(nil), c...)
	want, bound := sgemmWant(tc, a, lda, b, ldb, c0, ldc)
	for _, ker := range sgemmTestKernels() {
		copy(c, c0)
		g := &Gemm{kern: ker}
		g.Sgemm(false, false, m, n, k, tc.alpha, a, lda, b, ldb, tc.beta, c, ldc)
		if err := sgemmCompare(tc, c0, c, want, bound, ldc); err != nil {
			t.Errorf("kernel %s: %v", ker.name, err)
		}
	}
}

func TestSgemmAllocs(t *testing.T) {
	if sgemmRace {
		t.Skip("the race detector allocates")
	}
	const m, n, k = 64, 300, 200
	rng := rand.New(rand.NewPCG(7, 8))
	for _, tr := range [][2]bool{{false, false}, {false, true}, {true, false}} {
		tc := sgemmCase{transA: tr[0], transB: tr[1], m: m, n: n, k: k, alpha: 1, beta: 0}
		a, lda, b, ldb, c, ldc := sgemmOperands(rng, tc)
		var g Gemm
		allocs := testing.AllocsPerRun(20, func() {
			g.Sgemm(tc.transA, tc.transB, m, n, k, 1, a, lda, b, ldb, 0, c, ldc)
		})
		if allocs != 0 {
			t.Errorf("%v: %v allocations per call, want 0", tc, allocs)
		}
	}
}

// TestSgemmConcurrentUse calls one Gemm from several goroutines at once, as
// its documentation allows; run with -race.
func TestSgemmConcurrentUse(t *testing.T) {
	g := &Gemm{Threads: 2}
	tc := sgemmCase{transB: true, m: 70, n: 90, k: 300, alpha: 1, beta: 0.5}
	const callers = 4
	errs := make(chan error, callers)
	for w := 0; w < callers; w++ {
		rng := rand.New(rand.NewPCG(uint64(w), 9))
		a, lda, b, ldb, c0, ldc := sgemmOperands(rng, tc)
		want, bound := sgemmWant(tc, a, lda, b, ldb, c0, ldc)
		go func() {
			c := make([]float32, len(c0))
			for range 5 {
				copy(c, c0)
				g.Sgemm(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, a, lda, b, ldb, tc.beta, c, ldc)
				if err := sgemmCompare(tc, c0, c, want, bound, ldc); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range callers {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

// tf32Ref rounds x to TF32 by float64 arithmetic, sharing no code with
// RoundTF32's bit manipulation: to nearest with ties away from zero, 11
// significant bits; below float32's normal range the spacing stays that
// of the smallest normals' TF32 values.
func tf32Ref(x float32) float32 {
	if x == 0 || math.IsInf(float64(x), 0) || math.IsNaN(float64(x)) {
		return x
	}
	_, e := math.Frexp(float64(x)) // x = f·2^e, 0.5 ≤ |f| < 1
	keep := max(e, -125) - 11
	return float32(math.Ldexp(math.Round(math.Ldexp(float64(x), -keep)), keep))
}

func TestRoundTF32(t *testing.T) {
	bits := []uint32{
		0x3f801000, 0xbf801000, // 1 + 2⁻¹¹: a tie, away from zero
		0x3f800fff, 0xbf800fff, // just below the tie: down
		0x3f803000, 0x3f801001, // tie above an odd last bit; just above a tie
		0x00001000, 0x80003000, 0x00000fff, 0x00000001, // subnormals
		0x7f7fffff, 0xff7fffff, // largest floats: up to ±Inf
		0x7f800000, 0xff800000, 0, 0x80000000, // ±Inf, ±0
	}
	rng := rand.New(rand.NewPCG(11, 12))
	for range 5000 {
		bits = append(bits, rng.Uint32()&^0x7f800000|uint32(rng.IntN(254)+1)<<23)
	}
	for _, b := range bits {
		x := math.Float32frombits(b)
		if got, want := RoundTF32(x), tf32Ref(x); math.Float32bits(got) != math.Float32bits(want) {
			t.Errorf("RoundTF32(%#08x) = %#08x, want %#08x", b, math.Float32bits(got), math.Float32bits(want))
		}
	}
	for _, b := range []uint32{0x7fc00000, 0x7f800001, 0xffbfffff} {
		if got := RoundTF32(math.Float32frombits(b)); !math.IsNaN(float64(got)) {
			t.Errorf("RoundTF32(NaN %#08x) = %v", b, got)
		}
	}
}

// With TF32 set, a product equals, bit for bit, the plain product of the
// rounded operands, and leaves the operands as they were.
func TestSgemmTF32(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	for _, tr := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
		tc := sgemmCase{transA: tr[0], transB: tr[1], m: 37, n: 70, k: 130, pad: 3, alpha: 1, beta: 0.5}
		a, lda, b, ldb, c0, ldc := sgemmOperands(rng, tc)
		a0, b0 := append([]float32(nil), a...), append([]float32(nil), b...)
		ra, rb := make([]float32, len(a)), make([]float32, len(b))
		for i, v := range a {
			ra[i] = tf32Ref(v)
		}
		for i, v := range b {
			rb[i] = tf32Ref(v)
		}
		got, want := append([]float32(nil), c0...), append([]float32(nil), c0...)
		(&Gemm{Threads: 2, TF32: true}).Sgemm(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, a, lda, b, ldb, tc.beta, got, ldc)
		(&Gemm{Threads: 2}).Sgemm(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, ra, lda, rb, ldb, tc.beta, want, ldc)
		if k := sgemmFirstDifference(got, want); k >= 0 {
			t.Errorf("%v: element %d is %v, %v from the rounded operands", tc, k, got[k], want[k])
		}
		if sgemmFirstDifference(a, a0) >= 0 || sgemmFirstDifference(b, b0) >= 0 {
			t.Errorf("%v: the operands changed", tc)
		}
		if sgemmFirstDifference(ra, a) < 0 {
			t.Errorf("%v: rounding to TF32 changed nothing", tc)
		}
	}
}

// A narrow C (the output layer's n = 10 classes) is computed as Cᵀ where
// that pads less (narrow), and sgemmTransposed gives the same result, bit
// for bit, as the direct computation, for every kernel, transposition,
// thread count and alpha, with C's padding left alone.
func TestSgemmNarrowTransposed(t *testing.T) {
	tile12x32, tile6x16, tile4x4 := &sgemmMicroKernel{mr: 12, nr: 32}, &sgemmMicroKernel{mr: 6, nr: 16}, &sgemmMicroKernel{mr: 4, nr: 4}
	for _, tc := range []struct {
		ker  *sgemmMicroKernel
		m, n int
		want bool
	}{
		{tile12x32, 256, 10, true},
		{tile12x32, 128, 16, true},
		{tile12x32, 10, 256, false},
		{tile12x32, 256, 256, false},
		{tile6x16, 256, 10, true},
		{tile6x16, 256, 256, false},
		{tile4x4, 256, 10, false},
	} {
		if got := tc.ker.narrow(tc.m, tc.n); got != tc.want {
			t.Errorf("%dx%d tile: narrow(%d, %d) = %v, want %v", tc.ker.mr, tc.ker.nr, tc.m, tc.n, got, tc.want)
		}
	}
	rng := rand.New(rand.NewPCG(5, 6))
	for _, ker := range sgemmKernels {
		for _, shape := range []struct{ m, n, k int }{{256, 10, 256}, {128, 10, 784}, {784, 10, 128}, {300, 1, 33}, {37, 5, 7}, {250, 16, 161}} {
			for _, tA := range []bool{false, true} {
				for _, tB := range []bool{false, true} {
					for _, alpha := range []float32{0.3, 1} {
						tc := sgemmCase{transA: tA, transB: tB, m: shape.m, n: shape.n, k: shape.k, alpha: alpha, pad: 3}
						a, lda, b, ldb, c0, ldc := sgemmOperands(rng, tc)
						for i := range c0 {
							c0[i] = 7 // beta is 0: only the padding must keep its value
						}
						for _, threads := range []int{1, 2} {
							g := &Gemm{Threads: threads, kern: ker}
							want, got := slices.Clone(c0), slices.Clone(c0)
							g.sgemm(ker, tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, a, lda, b, ldb, 0, want, ldc)
							g.sgemmTransposed(ker, tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, a, lda, b, ldb, got, ldc)
							for i := range want {
								if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
									t.Fatalf("%s, %v, %d threads: element %d (row %d, column %d) = %v, the direct product's %v",
										ker.name, tc, threads, i, i/ldc, i%ldc, got[i], want[i])
								}
							}
						}
					}
				}
			}
		}
	}
}
