package kernels

import (
	"math/rand/v2"
	"runtime"
	"strconv"
	"strings"
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
	// Two are taken: giving back four is a programming error.
	defer func() {
		if r := recover(); r == nil {
			t.Error("Release of more places than taken did not panic")
		}
	}()
	c.Release(4)
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

// partLog records which goroutine runs each part of a Shards call, and
// the order in which the parts start. With holdHelpers set, a part that
// runs on another goroutine than caller sleeps first.
type partLog struct {
	mu          sync.Mutex
	goroutines  []uint64
	order       []int
	caller      uint64
	holdHelpers bool
}

func (c *partLog) Shard(p int) {
	if c.holdHelpers && goroutineID() != c.caller {
		time.Sleep(50 * time.Millisecond)
	}
	c.mu.Lock()
	c.goroutines[p] = goroutineID()
	c.order = append(c.order, p)
	c.mu.Unlock()
}

// goroutineID returns the number the runtime gives the calling goroutine
// in stack traces.
func goroutineID() uint64 {
	var buf [32]byte
	f := strings.Fields(string(buf[:runtime.Stack(buf[:], false)]))
	id, _ := strconv.ParseUint(f[1], 10, 64)
	return id
}

// Shards runs every part once; with no second goroutine, in order on the
// calling goroutine. While a helper is held up in a part, the calling
// goroutine takes all the others. (Which goroutine runs which part is
// otherwise not certain: a goroutine that the scheduler sets aside after
// the call starts may find its parts taken.)
func TestGemmShards(t *testing.T) {
	full := NewCores(2)
	full.TryAcquire(2)
	for _, tc := range []struct {
		name   string
		g      *Gemm
		n      int
		hold   bool // hold the helpers up
		serial bool // one goroutine runs the parts
	}{
		{"two threads", &Gemm{Threads: 2}, 7, false, false},
		{"a free place", &Gemm{Threads: 2, Cores: NewCores(2)}, 4, false, false},
		{"a helper held up", &Gemm{Threads: 2}, 6, true, false},
		{"no free place", &Gemm{Threads: 2, Cores: full}, 4, false, true},
		{"one thread", &Gemm{Threads: 1}, 5, false, true},
		{"one part", &Gemm{Threads: 2}, 1, false, true},
		{"none", &Gemm{Threads: 2}, 0, false, true},
	} {
		caller := goroutineID()
		c := &partLog{goroutines: make([]uint64, tc.n), caller: caller, holdHelpers: tc.hold}
		tc.g.Shards(tc.n, c)
		if len(c.order) != tc.n {
			t.Fatalf("%s: %d parts run, want %d", tc.name, len(c.order), tc.n)
		}
		elsewhere := 0
		for p, g := range c.goroutines {
			if g == 0 {
				t.Fatalf("%s: part %d did not run", tc.name, p)
			}
			if tc.serial && g != caller {
				t.Errorf("%s: part %d ran on another goroutine", tc.name, p)
			}
			if g != caller {
				elsewhere++
			}
		}
		if tc.serial {
			for k, p := range c.order {
				if p != k {
					t.Errorf("%s: parts ran in the order %v", tc.name, c.order)
					break
				}
			}
		}
		if tc.hold && elsewhere > 1 {
			t.Errorf("%s: %d parts ran beside the calling goroutine", tc.name, elsewhere)
		}
	}
}

func TestShardRange(t *testing.T) {
	for _, tc := range []struct{ total, unit, n int }{
		{256, 1, 2}, {255, 1, 2}, {300, 1, 3}, {1, 1, 2}, {0, 16, 2}, {200704, 16, 2}, {1000, 16, 3}, {10, 16, 4},
	} {
		at := 0
		for p := range tc.n {
			lo, hi := ShardRange(tc.total, tc.unit, p, tc.n)
			if lo != at || hi < lo || (hi != tc.total && hi%tc.unit != 0) {
				t.Fatalf("%+v: part %d is %d..%d after %d", tc, p, lo, hi, at)
			}
			if even := (tc.total + tc.n - 1) / tc.n; hi-lo > even+tc.unit {
				t.Errorf("%+v: part %d has %d elements", tc, p, hi-lo)
			}
			at = hi
		}
		if at != tc.total {
			t.Errorf("%+v: the parts end at %d", tc, at)
		}
	}
}

// noParts is a Sharder with nothing to do.
type noParts struct{}

func (noParts) Shard(int) {}

// BenchmarkGemmShards times a Shards call of two empty parts on two
// threads: the cost of sharing a pass out, which a training step in parts
// pays at every pass.
func BenchmarkGemmShards(b *testing.B) {
	g := &Gemm{Threads: 2, Cores: NewCores(2)}
	g.Cores.Acquire() // the caller's place, as a training loop holds it
	defer g.Cores.Release(1)
	for b.Loop() {
		g.Shards(2, noParts{})
	}
}
