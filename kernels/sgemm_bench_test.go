package kernels

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// sgemmBenchShape is one layer of the network: a batch of inputs through a
// dense layer with in inputs and out outputs.
type sgemmBenchShape struct{ batch, in, out int }

// sgemmBenchShapes are the layers of the MNIST networks: the hidden layers,
// DNI's synthesizer layers, and the output layer of 10 classes, whose
// forward product and weight gradient have a narrow C (Gemm.sgemmTransposed).
var sgemmBenchShapes = []sgemmBenchShape{{256, 784, 256}, {256, 256, 256}, {256, 1024, 1024}, {256, 256, 10}}

// sgemmBenchCase is one of the three products a dense layer computes.
type sgemmBenchCase struct {
	name           string
	transA, transB bool
	m, n, k        int
}

// sgemmBenchCases returns the products of a dense layer with weights W
// (in×out), input x (batch×in) and output gradient g (batch×out): the forward
// x·W (NN), the input gradient g·Wᵀ (NT) and the weight gradient xᵀ·g (TN).
// All three take 2·batch·in·out floating-point operations.
func sgemmBenchCases(s sgemmBenchShape) []sgemmBenchCase {
	return []sgemmBenchCase{
		{"NN", false, false, s.batch, s.out, s.in},
		{"NT", false, true, s.batch, s.in, s.out},
		{"TN", true, false, s.in, s.out, s.batch},
	}
}

func (c sgemmBenchCase) String() string {
	return fmt.Sprintf("%s/m=%d,n=%d,k=%d", c.name, c.m, c.n, c.k)
}

// sgemmBenchOperands returns random, minimally strided operands for c.
func sgemmBenchOperands(c sgemmBenchCase) (a []float32, lda int, b []float32, ldb int, cc []float32, ldc int) {
	rng := rand.New(rand.NewPCG(1, 1))
	random := func(n int) []float32 {
		s := make([]float32, n)
		for i := range s {
			s[i] = rng.Float32()*2 - 1
		}
		return s
	}
	lda, ldb = c.k, c.n
	if c.transA {
		lda = c.m
	}
	if c.transB {
		ldb = c.k
	}
	return random(c.m * c.k), lda, random(c.k * c.n), ldb, random(c.m * c.n), c.n
}

// sgemmBenchPair times ours and peer, each one call of the product c,
// alternately in the same loop, so that both see the same load on a shared
// machine, and reports the speed of each and their ratio.
func sgemmBenchPair(b *testing.B, c sgemmBenchCase, peerName string, ours, peer func()) {
	ours()
	peer()
	var tOurs, tPeer time.Duration
	for b.Loop() {
		t0 := time.Now()
		ours()
		t1 := time.Now()
		peer()
		tOurs += t1.Sub(t0)
		tPeer += time.Since(t1)
	}
	flops := 2 * float64(c.m) * float64(c.n) * float64(c.k) * float64(b.N)
	b.ReportMetric(flops/tOurs.Seconds()/1e9, "GFLOP/s")
	b.ReportMetric(flops/tPeer.Seconds()/1e9, peerName+"-GFLOP/s")
	b.ReportMetric(tPeer.Seconds()/tOurs.Seconds(), "x-"+peerName)
}

// BenchmarkSgemm times Sgemm with each micro-kernel on the products of the
// network's dense layers, with one goroutine and with two, alternately with
// gonum's pure-Go Sgemm on the same operands (see sgemmBenchPair). Gonum's
// Sgemm starts as many goroutines as GOMAXPROCS allows, so GOMAXPROCS is set
// to the thread count while the pair runs.
func BenchmarkSgemm(b *testing.B) {
	for _, s := range sgemmBenchShapes {
		for _, c := range sgemmBenchCases(s) {
			a, lda, bm, ldb, cm, ldc := sgemmBenchOperands(c)
			tA, tB := blas.NoTrans, blas.NoTrans
			if c.transA {
				tA = blas.Trans
			}
			if c.transB {
				tB = blas.Trans
			}
			var impl gonum.Implementation
			for _, threads := range []int{1, 2} {
				for _, ker := range sgemmKernels {
					g := &Gemm{Threads: threads, kern: ker}
					b.Run(fmt.Sprintf("%dx%dx%d/%v/%s/threads=%d", s.batch, s.in, s.out, c, ker.name, threads), func(b *testing.B) {
						defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(threads))
						sgemmBenchPair(b, c, "gonum", func() {
							g.Sgemm(c.transA, c.transB, c.m, c.n, c.k, 1, a, lda, bm, ldb, 0, cm, ldc)
						}, func() {
							impl.Sgemm(tA, tB, c.m, c.n, c.k, 1, a, lda, bm, ldb, 0, cm, ldc)
						})
					})
				}
			}
		}
	}
}

// BenchmarkSgemmKernel times each micro-kernel alone on packed panels that
// stay in the L1 cache, which bounds what Sgemm can reach.
func BenchmarkSgemmKernel(b *testing.B) {
	const kc = 256
	for _, ker := range sgemmKernels {
		b.Run(ker.name, func(b *testing.B) {
			a := make([]float32, kc*ker.mr)
			bp := make([]float32, kc*ker.nr)
			c := make([]float32, ker.mr*ker.nr)
			for i := range a {
				a[i] = 1
			}
			for b.Loop() {
				ker.fn(kc, a, bp, c, ker.nr, 1, 1)
			}
			flops := 2 * float64(kc*ker.mr*ker.nr)
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

// BenchmarkSgemmThreads times Sgemm with two goroutines against Sgemm on
// one, on the products of the network's dense layers: blocks of 16 calls of
// each in turn, so that both see the same load on a shared machine and the
// two-goroutine calls follow one another, as a training step's do, with
// the helpers still spinning. Calls alternating one by one would catch the
// helpers parked at every call.
func BenchmarkSgemmThreads(b *testing.B) {
	const block = 16
	for _, s := range sgemmBenchShapes {
		for _, c := range sgemmBenchCases(s) {
			a, lda, bm, ldb, cm, ldc := sgemmBenchOperands(c)
			one, two := &Gemm{Threads: 1}, &Gemm{Threads: 2}
			b.Run(fmt.Sprintf("%dx%dx%d/%v", s.batch, s.in, s.out, c), func(b *testing.B) {
				var t [2]time.Duration
				for b.Loop() {
					for k, g := range []*Gemm{two, one} {
						t0 := time.Now()
						for range block {
							g.Sgemm(c.transA, c.transB, c.m, c.n, c.k, 1, a, lda, bm, ldb, 0, cm, ldc)
						}
						t[k] += time.Since(t0)
					}
				}
				flops := 2 * float64(c.m) * float64(c.n) * float64(c.k) * float64(b.N*block)
				b.ReportMetric(flops/t[0].Seconds()/1e9, "GFLOP/s")
				b.ReportMetric(flops/t[1].Seconds()/1e9, "1thread-GFLOP/s")
				b.ReportMetric(t[1].Seconds()/t[0].Seconds(), "x-1thread")
			})
		}
	}
}

// BenchmarkSgemmPack times the packing of one k-block of op(B) (panels of
// nr columns) and of one block of op(A) and of op(A)ᵀ (mc rows, panels of
// mr), with the blocking of each micro-kernel this CPU runs, as the layers'
// products pack them, in GB/s of packed data.
func BenchmarkSgemmPack(b *testing.B) {
	src := make([]float32, 1024*1024)
	for i := range src {
		src[i] = float32(i)
	}
	for _, ker := range sgemmKernels {
		kc := ker.kc
		dst := make([]float32, kc*1024)
		for _, ld := range []int{256, 1024} {
			b.Run(fmt.Sprintf("%s/B/ldb=%d", ker.name, ld), func(b *testing.B) {
				b.SetBytes(int64(kc * ld * 4))
				for b.Loop() {
					sgemmPackB(dst, false, src, ld, 0, 0, kc, ld, ker.nr)
				}
			})
			b.Run(fmt.Sprintf("%s/At/lda=%d", ker.name, ld), func(b *testing.B) {
				b.SetBytes(int64(kc * ker.mc * 4))
				for b.Loop() {
					sgemmPackA(dst, true, src, ld, 0, 0, ker.mc, kc, ker.mr)
				}
			})
			b.Run(fmt.Sprintf("%s/A/lda=%d", ker.name, ld), func(b *testing.B) {
				b.SetBytes(int64(kc * ker.mc * 4))
				for b.Loop() {
					sgemmPackA(dst, false, src, ld, 0, 0, ker.mc, kc, ker.mr)
				}
			})
		}
	}
}
