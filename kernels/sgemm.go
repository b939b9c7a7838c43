package kernels

import (
	"math"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Gemm multiplies single-precision matrices. It is a packed, cache-blocked
// matrix multiply in the style of GotoBLAS and BLIS: panels of op(A) and op(B)
// are copied into contiguous buffers sized for the caches and a register-
// blocked micro-kernel, in assembly where the CPU allows, computes the
// product one small tile of C at a time.
//
// The zero value is ready to use and runs on the calling goroutine only.
// Packing buffers are kept between calls, in workspaces that all Gemms
// share, so that a call in the steady state does not allocate. With more
// than one thread a workspace also keeps helper goroutines, which wait
// between calls by spinning for up to 100 µs (up to 1 ms while a place of
// the call's Cores is free), then block, and return after 10 ms without
// work; a call after that starts them again (a few allocations). A Gemm is
// safe for concurrent use by several goroutines.
type Gemm struct {
	// Threads is the number of goroutines a call may use, the calling one
	// included. Values below 2 keep the work on the calling goroutine.
	// Small products use fewer goroutines than Threads, as the cost of
	// starting one would outweigh the work it takes over.
	Threads int
	// Cores, when not nil, is shared with other goroutines that compute at
	// the same time as the caller, who holds a place of it: a call takes
	// the places of its goroutines beyond the first from Cores, as many as
	// are free (up to Threads−1), when it starts and again between blocks
	// of its work, and gives them back when it returns.
	Cores *Cores
	// TF32, when set, rounds A and B to TF32 (see RoundTF32) before
	// multiplying, as NVIDIA's tensor cores do with float32 inputs: the
	// products are then those of the GPU backend, up to the order of the
	// float32 sums, which lets the two be compared closely. It costs a
	// rounded copy of both operands per call.
	TF32 bool

	// kern, when not nil, replaces the micro-kernel chosen for this CPU.
	// Tests use it to reach every kernel the machine can run.
	kern *sgemmMicroKernel
}

// sgemmWorkspaces holds the workspaces of calls that have returned, with
// their helpers, for every Gemm: a goroutine's next call, whichever Gemm it
// is made on, mostly takes the workspace of its last one (sync.Pool keeps
// one per processor) and finds its helpers still spinning.
//
// Calls that run on their calling goroutine alone take theirs from
// sgemmSerialWorkspaces instead. Such calls run inside the parts of a
// Shards call, and took the place, in sgemmWorkspaces, of the Shards
// call's workspace: the next Shards call then took another workspace and
// woke its parked helpers, while the first ones spun on the same core, and
// the parts waited for them (kernels/README.md has the cost).
var sgemmWorkspaces, sgemmSerialWorkspaces sync.Pool // of *sgemmWorkspace

// sgemmMicroKernel describes one register-blocked micro-kernel and the cache
// blocking that suits it.
type sgemmMicroKernel struct {
	name   string
	mr, nr int // tile of C computed per call: mr rows, nr columns
	mc, kc int // rows and depth of a packed block of op(A), sized for L2
	nc     int // columns of a packed block of op(B), sized for L3

	// fn sets the mr×nr tile at c (row stride ldc) to
	// alpha·A·B + beta·C, where A is the kc×mr packed panel a (mr elements
	// per step of k) and B the kc×nr packed panel b. When beta is zero, c is
	// written without being read. kc ≥ 1.
	fn func(kc int, a, b, c []float32, ldc int, alpha, beta float32)
}

// SgemmKernel names the micro-kernel Sgemm runs on this CPU and its tile:
// "avx512 12×32", "avx2 6×16", or "generic 4×4" (other CPUs, -tags noasm).
func SgemmKernel() string {
	k := sgemmKernels[0]
	return k.name + " " + strconv.Itoa(k.mr) + "×" + strconv.Itoa(k.nr)
}

// sgemmMaxTile bounds mr·nr over all micro-kernels; the edge-tile buffer has
// this many elements.
const sgemmMaxTile = 12 * 32

// sgemmParallelFlops is the least work, in floating-point operations, that a
// goroutine beyond the first is started for.
const sgemmParallelFlops = 1 << 21

// Sgemm computes
//
//	C = alpha·op(A)·op(B) + beta·C
//
// where op(X) is X, or Xᵀ when the matching trans flag is set. All matrices
// are row-major: op(A) is m×k, op(B) is k×n and C is m×n, and element (i, j)
// of a stored matrix x with leading dimension ldx is x[i·ldx+j]. A is thus
// stored as m×k (k×m if transA) and B as k×n (n×k if transB).
//
// When beta is zero C is not read, so NaN and Inf already in C do not
// propagate, as in the reference BLAS. Sums are accumulated in float32, in
// an order that depends on the blocking and the micro-kernel but not on the
// number of threads (the result is the same bit for bit); every element is
// within a few float32 rounding errors, relative to alpha·Σ|a||b| +
// |beta·c|, of the exact result.
//
// Sgemm panics if a dimension is negative, a leading dimension is smaller
// than the row length of its matrix (or below 1), or a slice is too short
// for the matrix it holds. These are programming errors, as in gonum's
// blas package.
func (g *Gemm) Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	sgemmCheckArgs(transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
	if m == 0 || n == 0 {
		return
	}
	if k == 0 || alpha == 0 {
		sgemmScale(m, n, beta, c, ldc)
		return
	}
	ker := g.kern
	if ker == nil {
		ker = sgemmKernels[0]
	}
	if beta == 0 && ker.narrow(m, n) {
		g.sgemmTransposed(ker, transA, transB, m, n, k, alpha, a, lda, b, ldb, c, ldc)
		return
	}
	g.sgemm(ker, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// narrow reports whether C, m×n, is so much narrower than the kernel's
// tile that computing Cᵀ instead pads a quarter or more less: the output
// layer's products, n = 10 classes, fill 10 of the 32 columns of the
// AVX-512 tile, and 10 of the 12 rows of Cᵀ's.
func (ker *sgemmMicroKernel) narrow(m, n int) bool {
	roundUp := func(x, unit int) int { return (x + unit - 1) / unit * unit }
	direct := roundUp(m, ker.mr) * roundUp(n, ker.nr)
	transposed := roundUp(n, ker.mr) * roundUp(m, ker.nr)
	return 4*transposed <= 3*direct
}

// sgemmTransposed sets C = alpha·op(A)·op(B) by computing Cᵀ =
// alpha·op(B)ᵀ·op(A)ᵀ into a buffer and copying it out transposed. Each
// element is the same sum, of the same products in the same order, as
// sgemm would form: the results are the same bit for bit.
func (g *Gemm) sgemmTransposed(ker *sgemmMicroKernel, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	ws := takeWorkspace(&sgemmSerialWorkspaces)
	if cap(ws.ct) < n*m {
		ws.ct = make([]float32, n*m)
	}
	ct := ws.ct[:n*m]
	g.sgemm(ker, !transB, !transA, n, m, k, alpha, b, ldb, a, lda, 0, ct, m)
	for i := range m {
		row := c[i*ldc : i*ldc+n]
		for j := range row {
			row[j] = ct[j*m+i]
		}
	}
	sgemmSerialWorkspaces.Put(ws)
}

// sgemm is Sgemm with its arguments checked and its kernel chosen.
func (g *Gemm) sgemm(ker *sgemmMicroKernel, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	threads := g.Threads
	if limit := 2 * m * n * k / sgemmParallelFlops; threads > limit {
		threads = limit
	}
	threads = max(threads, 1)

	pool := &sgemmWorkspaces
	if threads == 1 { // the call cannot grow (sgemmJob.grow)
		pool = &sgemmSerialWorkspaces
	}
	ws := takeWorkspace(pool)
	if g.TF32 {
		ws.tf32A, ws.tf32B = roundTF32(ws.tf32A, a), roundTF32(ws.tf32B, b)
		a, b = ws.tf32A, ws.tf32B
	}
	j := &ws.job
	*j = sgemmJob{
		ker: ker, threads: threads, want: threads, cores: g.Cores,
		transA: transA, transB: transB, m: m, n: n, k: k,
		alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc,
	}
	if j.cores != nil {
		j.threads = 1
		j.grow()
	}
	j.run(ws)
	if j.held > 0 {
		j.cores.Release(j.held)
	}
	*j = sgemmJob{} // drop references to the caller's slices
	pool.Put(ws)
}

// A Sharder is a job in a fixed number of parts, each done whole by one
// goroutine: Shard(p) does part p.
type Sharder interface{ Shard(p int) }

// Shards runs c.Shard(p) for every part p in 0..n: on the calling goroutine
// and, as Threads and Cores allow (as for a product), on the helpers that
// share the calling goroutine's products, which are then spinning between
// them. With t goroutines, goroutine i does parts i, i+t, i+2t, … (the
// calling goroutine is goroutine 0), so that the parts of consecutive calls
// with the same number of parts and goroutines fall on the same goroutines:
// part p of one call finds what part p of the call before it wrote in the
// caches of its core. A goroutine done with its parts takes those that
// others have not started, so that one the scheduler sets aside holds up
// the call for no more than the part it is working on. What c computes
// must not depend on which goroutine runs a part.
func (g *Gemm) Shards(n int, c Sharder) {
	threads := min(g.Threads, n)
	if threads < 2 {
		for p := range n {
			c.Shard(p)
		}
		return
	}
	ws := takeWorkspace(&sgemmWorkspaces)
	j := &ws.job
	*j = sgemmJob{threads: threads, want: threads, cores: g.Cores, m: n, shards: c, wsMain: ws}
	if j.cores != nil {
		j.threads = 1
		j.grow()
	}
	if j.threads > 1 {
		j.startHelpers()
		if len(ws.claims) < n {
			ws.claims = make([]atomic.Bool, n)
		}
		for p := range ws.claims[:n] {
			ws.claims[p].Store(false)
		}
		j.parallel(sgemmPhaseShards, 0)
	} else {
		for p := range n {
			c.Shard(p)
		}
	}
	if j.held > 0 {
		j.cores.Release(j.held)
	}
	*j = sgemmJob{}
	sgemmWorkspaces.Put(ws)
}

// ShardRange returns the bounds of part p of n parts of total elements.
// The parts start at multiples of unit, tile 0..total in order, and are
// as even as that allows: each holds a share of the units that cover
// total, within one unit of the others', the last cut short at total. unit
// and n must be positive.
func ShardRange(total, unit, p, n int) (lo, hi int) {
	if unit < 1 || n < 1 {
		panic("kernels: ShardRange: unit and n must be positive")
	}
	units := (total + unit - 1) / unit
	lo = min(total, units*p/n*unit)
	hi = min(total, units*(p+1)/n*unit)
	return lo, hi
}

func sgemmCheckArgs(transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	if m < 0 {
		panic("kernels: Sgemm: m < 0")
	}
	if n < 0 {
		panic("kernels: Sgemm: n < 0")
	}
	if k < 0 {
		panic("kernels: Sgemm: k < 0")
	}
	rowsA, colsA := m, k
	if transA {
		rowsA, colsA = k, m
	}
	rowsB, colsB := k, n
	if transB {
		rowsB, colsB = n, k
	}
	if lda < max(1, colsA) {
		panic("kernels: Sgemm: bad lda")
	}
	if ldb < max(1, colsB) {
		panic("kernels: Sgemm: bad ldb")
	}
	if ldc < max(1, n) {
		panic("kernels: Sgemm: bad ldc")
	}
	if !sgemmLongEnough(len(a), rowsA, colsA, lda) {
		panic("kernels: Sgemm: insufficient length of a")
	}
	if !sgemmLongEnough(len(b), rowsB, colsB, ldb) {
		panic("kernels: Sgemm: insufficient length of b")
	}
	if !sgemmLongEnough(len(c), m, n, ldc) {
		panic("kernels: Sgemm: insufficient length of c")
	}
}

// sgemmLongEnough reports whether a slice of length l holds a rows×cols matrix
// with leading dimension ld.
func sgemmLongEnough(l, rows, cols, ld int) bool {
	return rows == 0 || cols == 0 || l >= (rows-1)*ld+cols
}

// sgemmScale sets C = beta·C, writing zeros without reading C when beta is 0.
func sgemmScale(m, n int, beta float32, c []float32, ldc int) {
	if beta == 1 {
		return
	}
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(row)
			continue
		}
		for j := range row {
			row[j] *= beta
		}
	}
}

// sgemmWorkspace holds the buffers of one goroutine taking part in a call.
type sgemmWorkspace struct {
	a    []float32 // packed block of op(A)
	b    []float32 // packed block of op(B), used by the calling goroutine's workspace only
	tile [sgemmMaxTile]float32
	job  sgemmJob // the call's shared description, in the calling goroutine's workspace

	tf32A, tf32B []float32 // the operands rounded to TF32, when Gemm.TF32 is set
	ct           []float32 // Cᵀ, for a narrow C (Gemm.sgemmTransposed)

	// The calling goroutine's workspace also holds its helpers, and the
	// number of them still working on the current phase.
	helpers []*sgemmHelper
	pending atomic.Int32
	// claims[p] is set by the goroutine that runs part p of a Shards call.
	claims []atomic.Bool
}

// sgemmPhase is what the calling goroutine tells the helpers of a call to do.
type sgemmPhase uint64

const (
	sgemmPhasePackB   sgemmPhase = iota // pack chunks of the block of op(B)
	sgemmPhaseCompute                   // compute chunks of the block of C
	sgemmPhaseShards                    // run the parts of a Shards
)

// takeWorkspace takes a workspace from pool, or makes one.
func takeWorkspace(pool *sync.Pool) *sgemmWorkspace {
	if ws, ok := pool.Get().(*sgemmWorkspace); ok {
		return ws
	}
	return new(sgemmWorkspace)
}

// RoundTF32 rounds x to TF32, the format of the tensor cores' float32
// inputs: 10 mantissa bits, to nearest with ties away from zero (PTX's
// cvt.rna.tf32.f32). Infinities and NaN are kept; values past the largest
// TF32 round to infinity.
func RoundTF32(x float32) float32 {
	b := math.Float32bits(x)
	if b&0x7f800000 == 0x7f800000 {
		return x
	}
	return math.Float32frombits((b + 0x1000) &^ 0x1fff)
}

// roundTF32 returns buf, grown to len(x) elements, holding x rounded to
// TF32.
func roundTF32(buf, x []float32) []float32 {
	buf = sgemmGrow(buf, len(x))
	for i, v := range x {
		buf[i] = RoundTF32(v)
	}
	return buf
}

// sgemmGrow returns buf resliced to n elements, reallocated if it is too short.
func sgemmGrow(buf []float32, n int) []float32 {
	if cap(buf) < n {
		return make([]float32, n)
	}
	return buf[:n]
}

// sgemmJob is one call of Sgemm, shared by the goroutines working on it.
//
// The loops follow BLIS. For each block of nc columns and kc steps of k, the
// block of op(B) is packed into panels of nr columns; then blocks of rows of
// op(A) are packed into panels of mr rows, and the macro-kernel runs the
// micro-kernel over every pair of panels, the panel of op(B) staying in the
// L1 cache while the panels of op(A) stream from L2.
//
// With several goroutines, the block of C is cut into chunks of rows (or of
// columns, when op(A) has few rows), which the goroutines take in turn from a
// shared counter: a goroutine that the scheduler sets aside on a busy machine
// then holds up the others only for the chunk it is working on. The chunks
// shrink as the work runs out (see grab), so that the goroutines also finish
// close together when none is set aside.
type sgemmJob struct {
	ker     *sgemmMicroKernel
	threads int
	// With cores set, the call takes the places of its goroutines beyond
	// the first from cores: as many as are free, up to want-1, when it
	// starts, and more at the start of any later block of op(B), or
	// between the blocks of rows of a block it runs alone, while it has
	// fewer. held is how many it holds.
	cores      *Cores
	want, held int

	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	a, b, c        []float32
	lda, ldb, ldc  int

	kcb       int          // depth of every k-block but the last
	mcb       int          // rows of every block of op(A) but the last
	splitRows bool         // goroutines share out rows of C, not columns
	fused     bool         // panels of op(B) are packed just before their first use
	chunk     int          // most rows or columns of C in a chunk of work
	next      atomic.Int64 // chunks of packB taken, or rows or columns of C given out

	// The current block of op(B): columns jc..jc+nc, steps p0..p0+kc of k.
	jc, nc, ncPad int // ncPad is nc rounded up to a multiple of nr
	p0, kc        int
	bp            []float32 // the packed block, kc×ncPad
	wsMain        *sgemmWorkspace

	// A Shards call: the job in m parts.
	shards Sharder
}

// sgemmBlockSize splits total into the fewest blocks of at most limit and
// returns their common size, rounded up to a multiple of unit.
func sgemmBlockSize(total, limit, unit int) int {
	nb := (total + limit - 1) / limit
	s := (total + nb - 1) / nb
	return (s + unit - 1) / unit * unit
}

// sgemmChunk returns the size, a multiple of unit, of the chunks that split
// total elements into about four a goroutine.
func sgemmChunk(total, unit, threads int) int {
	s := (total + 4*threads - 1) / (4 * threads)
	return max(unit, (s+unit-1)/unit*unit)
}

func (j *sgemmJob) run(ws *sgemmWorkspace) {
	ker := j.ker
	j.wsMain = ws
	j.kcb = sgemmBlockSize(j.k, ker.kc, 1)
	j.mcb = sgemmBlockSize(j.m, ker.mc, ker.mr)
	if j.threads > 1 && j.m <= 2*ker.mc {
		// A few hundred rows (a batch): one block of op(A), which every
		// goroutine packs whole, so that they can share out columns (see
		// plan). With the AVX2 kernel that is up to 288 KiB, still within
		// a 512 KiB L2 cache.
		j.mcb = sgemmBlockSize(j.m, j.m, ker.mr)
	}
	if j.threads > 1 {
		j.startHelpers()
	}
	for j.jc = 0; j.jc < j.n; j.jc += ker.nc {
		j.nc = min(ker.nc, j.n-j.jc)
		j.ncPad = (j.nc + ker.nr - 1) / ker.nr * ker.nr
		for j.p0 = 0; j.p0 < j.k; j.p0 += j.kcb {
			if (j.jc > 0 || j.p0 > 0) && j.grow() {
				j.startHelpers()
			}
			j.plan()
			j.kc = min(j.kcb, j.k-j.p0)
			ws.b = sgemmGrow(ws.b, j.kc*j.ncPad)
			j.bp = ws.b
			switch {
			case j.threads == 1:
				j.serial(ws)
			case j.fused || !j.splitRows:
				j.parallel(sgemmPhaseCompute, 0)
			default:
				j.parallel(sgemmPhasePackB, 0)
				j.parallel(sgemmPhaseCompute, 0)
			}
		}
	}
}

// grow takes free places of j.cores for more goroutines, up to j.want, and
// reports whether it got any. The sums do not depend on the number of
// goroutines, so a call may change it between blocks.
func (j *sgemmJob) grow() bool {
	if j.cores == nil || j.threads >= j.want {
		return false
	}
	got := j.cores.TryAcquire(j.want - j.threads)
	j.held += got
	j.threads += got
	return got > 0
}

// plan decides how the goroutines share the current block of columns.
// Sharing rows makes each goroutine pack its own rows of op(A) and all read
// the whole packed block of op(B), half of which another core packed and
// holds in its cache; sharing columns makes each pack all of op(A), and pack
// and read only its own columns of op(B), with no wait between the two.
// When op(A) is one block, columns are shared as soon as there are four
// chunks' worth of them per goroutine: that made a training step with the
// 2×1024 DNI synthesizer about 10% shorter (README.md).
func (j *sgemmJob) plan() {
	mr, nr := j.ker.mr, j.ker.nr
	rowPanels := (j.m + mr - 1) / mr
	colPanels := j.ncPad / nr
	switch {
	case j.threads == 1 || j.m > j.mcb:
		j.splitRows = true
	case colPanels >= 4*j.threads:
		j.splitRows = false
	default:
		j.splitRows = rowPanels >= 4*j.threads || rowPanels >= colPanels
	}
	// Unless goroutines share its panels, a panel of Bᵀ is packed just
	// before its first use, when it is then still in the L1 cache for the
	// micro-kernel. A panel of B (not transposed) is better packed together
	// with the others, row by row of B: alone it is a narrow column, every
	// element of which lies on another page when ldb is large. So B is
	// packed a chunk of columns at a time when goroutines share columns
	// (see compute), and whole before the goroutines share rows.
	j.fused = j.transB && (j.threads == 1 || !j.splitRows)
	if j.splitRows {
		j.chunk = j.mcb
	} else {
		j.chunk = j.ncPad
	}
}

// serial runs the current block on the calling goroutine alone. When it
// finds places of j.cores free between its blocks of rows, it shares the rows
// left with helpers on them: by then the block of op(B) is packed whole. A
// weight gradient (k the batch, one block of op(B)) thus spreads onto a core
// that another goroutine frees in the middle of the call.
func (j *sgemmJob) serial(ws *sgemmWorkspace) {
	if !j.fused {
		sgemmPackB(j.bp, j.transB, j.b, j.ldb, j.p0, j.jc, j.kc, j.nc, j.ker.nr)
	}
	ws.a = sgemmGrow(ws.a, j.mcb*j.kc)
	beta := j.blockBeta()
	for i := 0; i < j.m; i += j.mcb {
		if i > 0 && j.grow() {
			j.startHelpers()
			j.splitRows, j.fused, j.chunk = true, false, j.mcb
			j.parallel(sgemmPhaseCompute, i)
			return
		}
		mc := min(j.mcb, j.m-i)
		sgemmPackA(ws.a, j.transA, j.a, j.lda, i, j.p0, mc, j.kc, j.ker.mr)
		j.macro(ws, i, mc, 0, j.nc, beta, j.fused && i == 0)
	}
}

// blockBeta returns the factor of C for the current k-block: beta for the
// first, 1 for the others, which add to what the first left in C.
func (j *sgemmJob) blockBeta() float32 {
	if j.p0 > 0 {
		return 1
	}
	return j.beta
}

// The helpers of a workspace wait for the next phase by spinning for
// sgemmSpin, or for up to sgemmSpinFree while a place of their last call's
// Cores is free, then park, and return after sgemmIdle parked.
const (
	sgemmSpin     = 100 * time.Microsecond
	sgemmSpinFree = time.Millisecond
	sgemmIdle     = 10 * time.Millisecond
	sgemmYield    = 64 // polls of an atomic between calls of runtime.Gosched
)

// The states of a helper.
const (
	sgemmHelperGone    int32 = iota // returned, or not started yet
	sgemmHelperRunning              // working on a phase, or spinning for one
	sgemmHelperParked               // blocked on its wake channel
)

// sgemmHelper is a goroutine that helps the calling goroutine of one
// workspace through the parallel phases of its calls. It outlives the call:
// starting a goroutine for every call, and waking a blocked one for every
// phase, took as long as the phases of the products of a training step and
// left the second core idle for much of a call. So between phases a helper
// spins, polling post, and yields the processor every so often to whatever
// else is runnable; only after sgemmSpin without work does it park, and after
// sgemmIdle parked it returns, to be started again by the next call. A
// workspace that the pool drops thus takes its helpers with it soon after,
// and a Gemm needs no Close.
//
// A parked helper is slow to wake: in a scheduler trace of a backprop epoch
// on two threads of the project's build machine (dnitrain train --trace),
// woken helpers waited 154 µs on average to run, while a layer's product
// takes a few hundred µs. So while a place of the call's Cores is
// free, no other goroutine of the job wanting it, the helper spins longer
// (sgemmSpinFree): through the elementwise passes and updates between the
// products of a training step.
type sgemmHelper struct {
	// post is the phase to run: four times the number of phases posted so
	// far plus the sgemmPhase. Only the calling goroutine writes it.
	post  atomic.Uint64
	cores atomic.Pointer[Cores] // the Cores of the last call posted
	state atomic.Int32          // sgemmHelperGone, Running or Parked
	wake  chan struct{}         // wakes a parked helper; buffer of 1
	// seen is the last post run. A goroutine of h that returns leaves it
	// to the next, which the state gone orders after it.
	seen  uint64
	ws    sgemmWorkspace
	index int // the helper's number among the goroutines of a call, from 1
}

// startHelpers makes sure that the workspace of the calling goroutine has
// threads-1 helpers; send starts their goroutines.
func (j *sgemmJob) startHelpers() {
	ws := j.wsMain
	for len(ws.helpers) < j.threads-1 {
		ws.helpers = append(ws.helpers, &sgemmHelper{wake: make(chan struct{}, 1), index: len(ws.helpers) + 1})
	}
}

// loop runs the phases posted to h, on the job of the workspace main, until
// h has been idle for long enough.
func (h *sgemmHelper) loop(main *sgemmWorkspace) {
	idle := time.NewTimer(sgemmIdle)
	idle.Stop()
	for {
		post, ok := h.await(h.seen, idle)
		if !ok {
			return
		}
		h.seen = post
		j := &main.job
		j.runPhase(sgemmPhase(post&3), &h.ws, h.index)
		main.pending.Add(-1)
	}
}

// await returns the next post after seen, or false when h has been idle for
// sgemmSpin+sgemmIdle and has marked itself gone.
func (h *sgemmHelper) await(seen uint64, idle *time.Timer) (uint64, bool) {
	start := time.Now()
	for i := 1; ; i++ {
		if post := h.post.Load(); post != seen {
			return post, true
		}
		if i%sgemmYield == 0 {
			if !h.spin(time.Since(start)) {
				break
			}
			runtime.Gosched()
		}
	}
	for {
		h.state.Store(sgemmHelperParked)
		// A post stored before the state was is seen here; one stored
		// after is followed by a wake-up.
		if post := h.post.Load(); post != seen {
			if !h.state.CompareAndSwap(sgemmHelperParked, sgemmHelperRunning) {
				<-h.wake // the poster saw h parked and is waking it
			}
			return post, true
		}
		idle.Reset(sgemmIdle)
		select {
		case <-h.wake:
			idle.Stop()
		case <-idle.C:
			if h.state.CompareAndSwap(sgemmHelperParked, sgemmHelperGone) {
				return 0, false
			}
			<-h.wake
		}
		if post := h.post.Load(); post != seen {
			return post, true
		}
		// The wake-up was for a post that h saw and ran before the poster
		// saw it parked again: park again.
	}
}

// spin reports whether h, having waited for d, should go on spinning: for
// sgemmSpin, and while a place of its Cores is free up to sgemmSpinFree.
func (h *sgemmHelper) spin(d time.Duration) bool {
	return d <= sgemmSpin || (d <= sgemmSpinFree && h.cores.Load().free())
}

// send posts phase to h, on the job of the workspace main, and makes sure
// that h will see it: it wakes h if h is parked, and starts it if it is
// gone. A helper can go idle for long enough to return in the middle of a
// call too, when the calling goroutine's share of a phase runs long.
func (h *sgemmHelper) send(main *sgemmWorkspace, phase sgemmPhase) {
	h.cores.Store(main.job.cores)
	h.post.Store((h.post.Load()>>2+1)<<2 | uint64(phase))
	state := h.state.Load()
	if state == sgemmHelperParked {
		if h.state.CompareAndSwap(sgemmHelperParked, sgemmHelperRunning) {
			h.wake <- struct{}{}
			return
		}
		// h left parked by itself: it saw the post (and may even be
		// parked again, done with it), or it gave up and returned.
		// Waking it now would leave a stale wake-up behind.
		state = h.state.Load()
	}
	if state == sgemmHelperGone {
		// A helper goes from parked to gone only by itself, and from
		// gone to running only here: once gone, it no longer uses h.
		h.state.Store(sgemmHelperRunning)
		go h.loop(main)
	}
}

// parallel runs phase on every goroutine of the call, the calling one
// included, and waits for them. The chunks of the phase are shared out by
// j.next, which starts at first: a number of chunks of packB, or of rows or
// columns of C, that are done already.
func (j *sgemmJob) parallel(phase sgemmPhase, first int) {
	j.next.Store(int64(first))
	ws := j.wsMain
	ws.pending.Store(int32(j.threads - 1))
	for _, h := range ws.helpers[:j.threads-1] {
		h.send(ws, phase)
	}
	j.runPhase(phase, ws, 0)
	// The helpers are running: they were working or spinning a moment
	// ago, or have just been woken. Waiting for them by spinning keeps the
	// barrier to a fraction of a microsecond.
	for i := 1; ws.pending.Load() != 0; i++ {
		if i%sgemmYield == 0 {
			runtime.Gosched()
		}
	}
}

// runPhase runs the share of phase of goroutine index of the call (0 for
// the calling goroutine, whose workspace is ws).
func (j *sgemmJob) runPhase(phase sgemmPhase, ws *sgemmWorkspace, index int) {
	switch phase {
	case sgemmPhasePackB:
		j.packB()
	case sgemmPhaseCompute:
		j.compute(ws)
	default:
		j.runShards(index)
	}
}

// runShards runs the parts of the Shards call in j that fall to goroutine
// index, then any that no goroutine has started.
func (j *sgemmJob) runShards(index int) {
	claims := j.wsMain.claims[:j.m]
	for p := index; p < j.m; p += j.threads {
		if claims[p].CompareAndSwap(false, true) {
			j.shards.Shard(p)
		}
	}
	for p := range claims {
		if claims[p].CompareAndSwap(false, true) {
			j.shards.Shard(p)
		}
	}
}

// packB packs chunks of the column panels of the current block of op(B)
// until none is left.
func (j *sgemmJob) packB() {
	nr := j.ker.nr
	size := sgemmChunk(j.nc, nr, j.threads)
	for {
		lo := int(j.next.Add(1)-1) * size
		if lo >= j.nc {
			return
		}
		hi := min(lo+size, j.nc)
		sgemmPackB(j.bp[lo*j.kc:j.ncPad*j.kc], j.transB, j.b, j.ldb, j.p0, j.jc+lo, j.kc, hi-lo, nr)
	}
}

// grab takes the next chunk of the total rows or columns of the current
// block of C and returns its bounds, lo == hi when none is left. Each chunk
// is a multiple of unit and 1/(2·threads) of what is left (guided
// self-scheduling), at most j.chunk and at least 2·unit: the first chunks
// are large, for few packings of op(A) and reloads of the panels of op(B),
// and the last small, so that the goroutines finish within a small chunk
// of one another. Fixed chunks of an eighth of 256 rows left one goroutine
// with 24 panels of rows and the other with 19.
func (j *sgemmJob) grab(total, unit int) (lo, hi int) {
	for {
		lo := int(j.next.Load())
		if lo >= total {
			return total, total
		}
		s := (total - lo + 2*j.threads - 1) / (2 * j.threads)
		s = min(j.chunk, max(2*unit, (s+unit-1)/unit*unit))
		hi := min(lo+s, total)
		if j.next.CompareAndSwap(int64(lo), int64(hi)) {
			return lo, hi
		}
	}
}

// compute runs the macro-kernel over chunks of the current block of C until
// none is left.
func (j *sgemmJob) compute(ws *sgemmWorkspace) {
	beta := j.blockBeta()
	packedA := false
	for {
		if j.splitRows {
			lo, hi := j.grab(j.m, j.ker.mr)
			if lo == hi {
				return
			}
			ws.a = sgemmGrow(ws.a, j.chunk*j.kc)
			sgemmPackA(ws.a, j.transA, j.a, j.lda, lo, j.p0, hi-lo, j.kc, j.ker.mr)
			j.macro(ws, lo, hi-lo, 0, j.nc, beta, false)
			continue
		}
		lo, hi := j.grab(j.nc, j.ker.nr)
		if lo == hi {
			return
		}
		if !packedA {
			// plan shares columns only when op(A) is a single block.
			ws.a = sgemmGrow(ws.a, j.mcb*j.kc)
			sgemmPackA(ws.a, j.transA, j.a, j.lda, 0, j.p0, j.m, j.kc, j.ker.mr)
			packedA = true
		}
		if !j.fused { // pack this chunk's columns of B, read by this goroutine alone
			sgemmPackB(j.bp[lo*j.kc:j.ncPad*j.kc], j.transB, j.b, j.ldb, j.p0, j.jc+lo, j.kc, hi-lo, j.ker.nr)
		}
		j.macro(ws, 0, j.m, lo, hi, beta, j.fused)
	}
}

// macro multiplies the packed mc×kc block of op(A) in ws.a by columns c0..c1
// of the packed kc×ncPad block of op(B), into rows i0..i0+mc of C. With
// packB set, it packs each panel of op(B) first.
func (j *sgemmJob) macro(ws *sgemmWorkspace, i0, mc, c0, c1 int, beta float32, packB bool) {
	ker := j.ker
	mr, nr, kc := ker.mr, ker.nr, j.kc
	fn := ker.fn
	alpha, ldc := j.alpha, j.ldc
	for jr := c0; jr < c1; jr += nr {
		nrr := min(nr, c1-jr)
		bp := j.bp[jr*kc : (jr+nr)*kc]
		if packB {
			sgemmPackB(bp, j.transB, j.b, j.ldb, j.p0, j.jc+jr, kc, nrr, nr)
		}
		for ir := 0; ir < mc; ir += mr {
			mrr := min(mr, mc-ir)
			ap := ws.a[ir*kc : (ir+mr)*kc]
			off := (i0+ir)*ldc + j.jc + jr
			if mrr == mr && nrr == nr {
				fn(kc, ap, bp, j.c[off:off+(mr-1)*ldc+nr], ldc, alpha, beta)
				continue
			}
			// Edge tile: compute it whole into ws.tile, then keep the part
			// inside C.
			tile := ws.tile[:mr*nr]
			fn(kc, ap, bp, tile, nr, alpha, 0)
			for r := 0; r < mrr; r++ {
				src := tile[r*nr : r*nr+nrr]
				dst := j.c[off+r*ldc : off+r*ldc+nrr]
				switch beta {
				case 0:
					copy(dst, src)
				case 1:
					for x, v := range src {
						dst[x] += v
					}
				default:
					for x, v := range src {
						dst[x] = v + beta*dst[x]
					}
				}
			}
		}
	}
}

// sgemmPackA copies rows i0..i0+mc and columns p0..p0+kc of op(A) into dst as
// consecutive panels of mr rows, each stored column by column (mr elements per
// step of k). Rows past mc in the last panel are zero.
func sgemmPackA(dst []float32, trans bool, a []float32, lda, i0, p0, mc, kc, mr int) {
	full := mc / mr
	if trans && full > 0 {
		// op(A)[i][p] = a[p·lda+i]: each step of k of a panel is
		// contiguous, and so is each step of k across the panels.
		sgemmPackPanels(dst, a[p0*lda+i0:], lda, kc, mr, full)
	}
	for ip := 0; ip < mc; ip += mr {
		rows := min(mr, mc-ip)
		d := dst[ip*kc : (ip+mr)*kc]
		switch {
		case trans && rows == mr:
			// Packed above.
		case trans:
			for p := 0; p < kc; p++ {
				src := a[(p0+p)*lda+i0+ip:]
				dp := d[p*mr : p*mr+mr]
				copy(dp, src[:rows])
				clear(dp[rows:])
			}
		case rows == mr:
			sgemmPackTransposed(d, a[(i0+ip)*lda+p0:], lda, kc, mr)
		default:
			sgemmPackStrided(d, a[(i0+ip)*lda+p0:], lda, kc, rows, mr)
		}
	}
}

// sgemmPackPanelsGo copies a kc×(panels·width) block of src, rows lds
// elements apart, into panels consecutive kc×width panels of d, each stored
// row by row: element (p, q·width+x) goes to d[q·kc·width + p·width + x].
func sgemmPackPanelsGo(d, src []float32, lds, kc, width, panels int) {
	for q := 0; q < panels; q++ {
		sgemmPackContiguousGo(d[q*kc*width:(q+1)*kc*width], src[q*width:], lds, kc, width)
	}
}

// sgemmPackContiguousGo copies kc rows of width elements, lds apart in src,
// to consecutive rows of d. The common widths are spelled out element by
// element: the compiler turns copy and array assignment into calls of
// memmove, which costs more than the copy itself at these sizes.
func sgemmPackContiguousGo(d, src []float32, lds, kc, width int) {
	d = d[:kc*width]
	switch width {
	case 6:
		for p := 0; p < kc; p++ {
			s := src[p*lds : p*lds+6 : p*lds+6]
			t := d[6*p : 6*p+6 : 6*p+6]
			t[0], t[1], t[2], t[3], t[4], t[5] = s[0], s[1], s[2], s[3], s[4], s[5]
		}
	case 4, 12, 16, 32:
		for p := 0; p < kc; p++ {
			s := src[p*lds : p*lds+width : p*lds+width]
			t := d[width*p : width*p+width : width*p+width]
			for x := 0; x+4 <= len(t) && x+4 <= len(s); x += 4 {
				t[x], t[x+1], t[x+2], t[x+3] = s[x], s[x+1], s[x+2], s[x+3]
			}
		}
	default:
		for p := 0; p < kc; p++ {
			copy(d[p*width:p*width+width], src[p*lds:])
		}
	}
}

// sgemmPackStrided transposes: element p of row r of src (rows lds apart)
// goes to d[p·width+r], for r < rows and p < kc. Rows rows..width of d are
// zeroed.
func sgemmPackStrided(d, src []float32, lds, kc, rows, width int) {
	d = d[:kc*width]
	for r := 0; r < rows; r++ {
		s := src[r*lds:]
		s = s[:kc]
		dr := d[r:]
		for p, v := range s {
			dr[p*width] = v
		}
	}
	for r := rows; r < width; r++ {
		for p := 0; p < kc; p++ {
			d[p*width+r] = 0
		}
	}
}

// sgemmPackTransposedGo transposes: element p of row r of src (rows lds
// apart) goes to d[p·width+r], for r < width and p < kc.
func sgemmPackTransposedGo(d, src []float32, lds, kc, width int) {
	if width == 6 {
		// Six rows at once: the loads stream along the rows and the stores
		// along d.
		r0 := src[:kc]
		r1 := src[lds:][:kc]
		r2 := src[2*lds:][:kc]
		r3 := src[3*lds:][:kc]
		r4 := src[4*lds:][:kc]
		r5 := src[5*lds:][:kc]
		d = d[:6*kc]
		for p := range r0 {
			dp := d[6*p : 6*p+6 : 6*p+6]
			dp[0], dp[1], dp[2], dp[3], dp[4], dp[5] = r0[p], r1[p], r2[p], r3[p], r4[p], r5[p]
		}
		return
	}
	sgemmPackStrided(d, src, lds, kc, width, width)
}

// sgemmPackB copies rows p0..p0+kc and columns j0..j0+nc of op(B) into dst as
// consecutive panels of nr columns, each stored row by row (nr elements per
// step of k). Columns past nc in the last panel are zero.
func sgemmPackB(dst []float32, trans bool, b []float32, ldb, p0, j0, kc, nc, nr int) {
	full := nc / nr
	if !trans && full > 0 {
		// op(B)[p][j] = b[p·ldb+j]: each step of k is contiguous, across
		// the panels too.
		sgemmPackPanels(dst, b[p0*ldb+j0:], ldb, kc, nr, full)
	}
	for jp := 0; jp < nc; jp += nr {
		cols := min(nr, nc-jp)
		d := dst[jp*kc : (jp+nr)*kc]
		switch {
		case !trans && cols == nr:
			// Packed above.
		case !trans:
			for p := 0; p < kc; p++ {
				src := b[(p0+p)*ldb+j0+jp:]
				dp := d[p*nr : p*nr+nr]
				copy(dp, src[:cols])
				clear(dp[cols:])
			}
		case cols == nr:
			// op(B)[p][j] = b[j·ldb+p]: each column is a contiguous row of b.
			sgemmPackTransposed(d, b[(j0+jp)*ldb+p0:], ldb, kc, nr)
		default:
			sgemmPackStrided(d, b[(j0+jp)*ldb+p0:], ldb, kc, cols, nr)
		}
	}
}
