package kernels

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestCores(t *testing.T) {
	c := NewCores(3)
	c.Acquire()
	for _, tc := range []struct{ ask, want int }{{5, 2}, {1, 0}} {
		if got := c.TryAcquire(tc.ask); got != tc.want {
			t.Fatalf("TryAcquire(%d) = %d, want %d", tc.ask, got, tc.want)
		}
	}
	c.Release(2)
	if got := c.TryAcquire(1); got != 1 {
		t.Fatalf("after Release(2), TryAcquire(1) = %d", got)
	}
	if NewCores(0).Len() != 1 {
		t.Fatal("NewCores(0) has no place")
	}
}

// A helper spins for sgemmSpin after its last phase, and on while a place
// of its Cores is free, up to sgemmSpinFree; then it parks.
func TestSgemmHelperSpin(t *testing.T) {
	free, full := NewCores(2), NewCores(1)
	full.Acquire()
	for _, tc := range []struct {
		name  string
		cores *Cores
		d     time.Duration
		want  bool
	}{
		{"no cores", nil, sgemmSpin / 2, true},
		{"no cores", nil, 2 * sgemmSpin, false},
		{"no place free", full, sgemmSpin / 2, true},
		{"no place free", full, 2 * sgemmSpin, false},
		{"a place free", free, 2 * sgemmSpin, true},
		{"a place free", free, sgemmSpinFree + time.Microsecond, false},
	} {
		var h sgemmHelper
		h.cores.Store(tc.cores)
		if got := h.spin(tc.d); got != tc.want {
			t.Errorf("%s, after %v: spin %v, want %v", tc.name, tc.d, got, tc.want)
		}
	}
}

// A Gemm with Cores takes what places are free for its helpers, computes
// the same bits with however many it got, and gives them back.
func TestSgemmTakesPlacesFromCores(t *testing.T) {
	tc := sgemmCase{m: 100, n: 300, k: 200, alpha: 1}
	a, lda, b, ldb, c0, ldc := sgemmOperands(rand.New(rand.NewPCG(3, 4)), tc)
	one := make([]float32, len(c0))
	(&Gemm{}).Sgemm(false, false, tc.m, tc.n, tc.k, 1, a, lda, b, ldb, 0, one, ldc)
	for _, tc := range []struct{ places, held int }{{1, 1}, {2, 1}, {3, 1}, {4, 2}} {
		cores := NewCores(tc.places)
		cores.TryAcquire(tc.held) // the caller's place, and another goroutine's
		c := make([]float32, len(c0))
		(&Gemm{Threads: 3, Cores: cores}).Sgemm(false, false, 100, 300, 200, 1, a, lda, b, ldb, 0, c, ldc)
		if k := sgemmFirstDifference(one, c); k >= 0 {
			t.Errorf("%d places, %d held: element %d is %v, %v with one thread", tc.places, tc.held, k, c[k], one[k])
		}
		if free := cores.TryAcquire(tc.places); free != tc.places-tc.held {
			t.Errorf("%d places, %d held: %d free after the call", tc.places, tc.held, free)
		}
	}
}

// A call that finds a place freed between its blocks of work takes it for a
// helper: whenever that happens, the sums are the same.
func TestSgemmGrowsIntoFreedPlaces(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	cores := NewCores(2)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { // another goroutine that computes now and then
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			cores.Acquire()
			time.Sleep(50 * time.Microsecond)
			cores.Release(1)
			time.Sleep(50 * time.Microsecond)
		}
	}()
	defer func() { close(stop); <-done }()
	for _, tr := range [][2]bool{{false, false}, {true, false}, {false, true}} {
		tc := sgemmCase{transA: tr[0], transB: tr[1], m: 256, n: 100, k: 1000, alpha: 1}
		a, lda, b, ldb, c0, ldc := sgemmOperands(rng, tc)
		one := make([]float32, len(c0))
		(&Gemm{}).Sgemm(tc.transA, tc.transB, tc.m, tc.n, tc.k, 1, a, lda, b, ldb, 0, one, ldc)
		g := &Gemm{Threads: 2, Cores: cores}
		for range 20 {
			c := make([]float32, len(c0))
			cores.Acquire() // the caller's place
			g.Sgemm(tc.transA, tc.transB, tc.m, tc.n, tc.k, 1, a, lda, b, ldb, 0, c, ldc)
			cores.Release(1)
			if k := sgemmFirstDifference(one, c); k >= 0 {
				t.Fatalf("%v: element %d is %v, %v with one thread", tc, k, c[k], one[k])
			}
		}
	}
}

// A call that starts alone, with one block of op(B) (k ≤ kc, n ≤ nc, as in
// a weight gradient), takes a place freed in the middle of that block for a
// helper, which computes rows of C from the next block of rows on: the
// micro-kernel frees the other goroutine's place on its first call, and the
// helper's calls then run with every place taken.
func TestSgemmGrowsWithinABlock(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, tr := range [][2]bool{{true, false}, {false, true}, {false, false}} {
		tc := sgemmCase{transA: tr[0], transB: tr[1], m: 600, n: 100, k: 100, alpha: 1}
		a, lda, b, ldb, c0, ldc := sgemmOperands(rng, tc)
		base := *sgemmKernels[0]
		base.mc, base.kc, base.nc = 8*base.mr, tc.k, 8*base.nr*4
		one := make([]float32, len(c0))
		(&Gemm{kern: &base}).Sgemm(tc.transA, tc.transB, tc.m, tc.n, tc.k, 1, a, lda, b, ldb, 0, one, ldc)

		cores := NewCores(2)
		cores.TryAcquire(2) // the caller's place and another goroutine's
		var calls, full atomic.Int32
		ker := base
		ker.fn = func(kc int, a, b, c []float32, ldc int, alpha, beta float32) {
			if calls.Add(1) == 1 {
				cores.Release(1) // the other goroutine stops
			} else if len(cores.places) == 2 {
				full.Add(1)
			}
			base.fn(kc, a, b, c, ldc, alpha, beta)
		}
		c := make([]float32, len(c0))
		(&Gemm{Threads: 2, Cores: cores, kern: &ker}).Sgemm(tc.transA, tc.transB, tc.m, tc.n, tc.k, 1, a, lda, b, ldb, 0, c, ldc)
		if k := sgemmFirstDifference(one, c); k >= 0 {
			t.Errorf("%v: element %d is %v, %v with one thread", tc, k, c[k], one[k])
		}
		if full.Load() == 0 {
			t.Errorf("%v: took no helper in %d calls of the micro-kernel", tc, calls.Load())
		}
		if free := cores.TryAcquire(2); free != 1 {
			t.Errorf("%v: %d places free after the call, want 1", tc, free)
		}
	}
}

func TestSgemmJobGrows(t *testing.T) {
	cores := NewCores(3)
	cores.Acquire() // the caller's place
	j := &sgemmJob{threads: 1, want: 4, cores: cores}
	if !j.grow() || j.threads != 3 || j.held != 2 {
		t.Fatalf("first grow: %d goroutines, %d places held", j.threads, j.held)
	}
	if j.grow() {
		t.Fatal("grew with no place free")
	}
	cores.Release(1) // another goroutine stops
	if !j.grow() || j.threads != 4 || j.held != 3 {
		t.Fatalf("second grow: %d goroutines, %d places held", j.threads, j.held)
	}
	if j.grow() {
		t.Fatal("grew beyond want")
	}
}

// chunkLog records the chunks of a Split.
type chunkLog struct {
	mu     sync.Mutex
	chunks [][2]int
	hits   []int32
}

func (c *chunkLog) Chunk(lo, hi int) {
	c.mu.Lock()
	c.chunks = append(c.chunks, [2]int{lo, hi})
	c.mu.Unlock()
	for i := lo; i < hi; i++ {
		atomic.AddInt32(&c.hits[i], 1)
	}
}

// Split covers every index once, in chunks that start at multiples of the
// grain, and leaves small jobs, one thread or no free place to the calling
// goroutine in one chunk.
func TestGemmSplit(t *testing.T) {
	full := NewCores(2)
	full.TryAcquire(2)
	for _, tc := range []struct {
		name       string
		g          *Gemm
		n, grain   int
		manyChunks bool
	}{
		{"two threads", &Gemm{Threads: 2}, 10*64 + 5, 64, true},
		{"a free place", &Gemm{Threads: 2, Cores: NewCores(2)}, 10 * 64, 64, true},
		{"no free place", &Gemm{Threads: 2, Cores: full}, 10 * 64, 64, false},
		{"one thread", &Gemm{Threads: 1}, 10 * 64, 64, false},
		{"under two grains", &Gemm{Threads: 2}, 2*64 - 1, 64, false},
		{"empty", &Gemm{Threads: 2}, 0, 64, false},
	} {
		c := &chunkLog{hits: make([]int32, tc.n)}
		tc.g.Split(tc.n, tc.grain, c)
		for i, h := range c.hits {
			if h != 1 {
				t.Fatalf("%s: index %d done %d times", tc.name, i, h)
			}
		}
		for _, ch := range c.chunks {
			if ch[0]%tc.grain != 0 {
				t.Errorf("%s: a chunk starts at %d", tc.name, ch[0])
			}
		}
		if many := len(c.chunks) > 1; many != tc.manyChunks {
			t.Errorf("%s: %d chunks", tc.name, len(c.chunks))
		}
	}
}
