package kernels

import (
	"sync"
	"sync/atomic"
)

// Gemm multiplies single-precision matrices. It is a packed, cache-blocked
// matrix multiply in the style of GotoBLAS and BLIS: panels of op(A) and op(B)
// are copied into contiguous buffers sized for the caches and a register-
// blocked micro-kernel, in assembly where the CPU allows, computes the
// product one small tile of C at a time.
//
// The zero value is ready to use and runs on the calling goroutine only. A
// Gemm keeps its packing buffers between calls, so that a call in the steady
// state does not allocate, but for starting its helper goroutines when it
// uses more than one. It is safe for concurrent use by several goroutines,
// and must not be copied after first use.
type Gemm struct {
	// Threads is the number of goroutines a call may use, the calling one
	// included. Values below 2 keep the work on the calling goroutine.
	// Small products use fewer goroutines than Threads, as the cost of
	// starting one would outweigh the work it takes over.
	Threads int

	// kern, when not nil, replaces the micro-kernel chosen for this CPU.
	// Tests use it to reach every kernel the machine can run.
	kern *sgemmMicroKernel

	pool sync.Pool // of *sgemmWorkspace
}

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
// an order that depends on the blocking, the micro-kernel and the number of
// threads; every element is within a few float32 rounding errors, relative
// to alpha·Σ|a||b| + |beta·c|, of the exact result.
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
	threads := g.Threads
	if limit := 2 * m * n * k / sgemmParallelFlops; threads > limit {
		threads = limit
	}
	threads = max(threads, 1)

	ws := g.workspace()
	j := &ws.job
	*j = sgemmJob{
		g: g, ker: ker, threads: threads,
		transA: transA, transB: transB, m: m, n: n, k: k,
		alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc,
	}
	j.run(ws)
	*j = sgemmJob{} // drop references to the caller's slices
	g.pool.Put(ws)
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

	// The calling goroutine's workspace also holds what it uses to steer
	// the helper goroutines of a call.
	phase chan sgemmPhase
	wg    sync.WaitGroup
}

// sgemmPhase is what the calling goroutine tells the helpers of a call to do.
type sgemmPhase int8

const (
	sgemmPhasePackB   sgemmPhase = iota // pack chunks of the block of op(B)
	sgemmPhaseCompute                   // compute chunks of the block of C
	sgemmPhaseStop                      // return: the call is done
)

func (g *Gemm) workspace() *sgemmWorkspace {
	if ws, ok := g.pool.Get().(*sgemmWorkspace); ok {
		return ws
	}
	return new(sgemmWorkspace)
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
// then holds up the others only for the chunk it is working on.
type sgemmJob struct {
	g       *Gemm
	ker     *sgemmMicroKernel
	threads int

	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	a, b, c        []float32
	lda, ldb, ldc  int

	kcb       int  // depth of every k-block but the last
	mcb       int  // rows of every block of op(A) but the last
	splitRows bool // goroutines share out rows of C, not columns
	fused     bool // panels of op(B) are packed just before their first use
	chunk     int  // rows or columns of C per chunk of work
	next      atomic.Int64

	// The current block of op(B): columns jc..jc+nc, steps p0..p0+kc of k.
	jc, nc, ncPad int // ncPad is nc rounded up to a multiple of nr
	p0, kc        int
	bp            []float32 // the packed block, kc×ncPad
	wsMain        *sgemmWorkspace
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
	if j.threads > 1 {
		j.startHelpers()
		defer j.stopHelpers()
	}
	for j.jc = 0; j.jc < j.n; j.jc += ker.nc {
		j.nc = min(ker.nc, j.n-j.jc)
		j.ncPad = (j.nc + ker.nr - 1) / ker.nr * ker.nr
		j.plan()
		for j.p0 = 0; j.p0 < j.k; j.p0 += j.kcb {
			j.kc = min(j.kcb, j.k-j.p0)
			ws.b = sgemmGrow(ws.b, j.kc*j.ncPad)
			j.bp = ws.b
			switch {
			case j.threads == 1:
				j.serial(ws)
			case j.fused:
				j.parallel(true)
			default:
				j.parallel(false)
				j.parallel(true)
			}
		}
	}
}

// plan decides how the goroutines share the current block of columns.
// Sharing rows makes each goroutine pack its own rows of op(A) and all use
// the one packed block of op(B); sharing columns makes each pack all of
// op(A), which is cheap only when op(A) has few rows.
func (j *sgemmJob) plan() {
	mr, nr := j.ker.mr, j.ker.nr
	rowPanels := (j.m + mr - 1) / mr
	colPanels := j.ncPad / nr
	j.splitRows = j.threads == 1 || j.m > j.mcb || rowPanels >= 4*j.threads || rowPanels >= colPanels
	// Unless goroutines share its panels, a panel of Bᵀ is packed just
	// before its first use, when it is then still in the L1 cache for the
	// micro-kernel. A panel of B (not transposed) is better packed together
	// with the others, row by row of B: alone it is a narrow column, every
	// element of which lies on another page when ldb is large.
	j.fused = j.transB && (j.threads == 1 || !j.splitRows)
	if j.splitRows {
		j.chunk = min(j.mcb, sgemmChunk(j.m, mr, j.threads))
	} else {
		j.chunk = sgemmChunk(j.nc, nr, j.threads)
	}
}

// serial runs the current block on the calling goroutine alone.
func (j *sgemmJob) serial(ws *sgemmWorkspace) {
	if !j.fused {
		sgemmPackB(j.bp, j.transB, j.b, j.ldb, j.p0, j.jc, j.kc, j.nc, j.ker.nr)
	}
	ws.a = sgemmGrow(ws.a, j.mcb*j.kc)
	beta := j.blockBeta()
	for i := 0; i < j.m; i += j.mcb {
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

// startHelpers starts the threads-1 goroutines that help the calling one
// through the call.
func (j *sgemmJob) startHelpers() {
	ws := j.wsMain
	if ws.phase == nil {
		ws.phase = make(chan sgemmPhase)
	}
	for w := 1; w < j.threads; w++ {
		go j.helper(j.g, ws.phase, &ws.wg)
	}
}

// stopHelpers tells the helpers to return.
func (j *sgemmJob) stopHelpers() {
	for w := 1; w < j.threads; w++ {
		j.wsMain.phase <- sgemmPhaseStop
	}
}

// helper does its share of every phase it is told of, until told to stop.
// It reads g rather than j.g on stopping, since the calling goroutine may
// already be clearing j.
func (j *sgemmJob) helper(g *Gemm, phase <-chan sgemmPhase, wg *sync.WaitGroup) {
	var ws *sgemmWorkspace
	for {
		switch <-phase {
		case sgemmPhasePackB:
			j.packB()
		case sgemmPhaseCompute:
			if ws == nil {
				ws = g.workspace()
			}
			j.compute(ws)
		case sgemmPhaseStop:
			if ws != nil {
				g.pool.Put(ws)
			}
			return
		}
		wg.Done()
	}
}

// parallel runs packB (compute false) or compute on every goroutine of the
// call, the calling one included, and waits for them. A helper may take two
// of the messages of one phase, if it is done with the first before another
// helper takes it: the chunks are shared out by j.next, not by message.
func (j *sgemmJob) parallel(compute bool) {
	j.next.Store(0)
	ws := j.wsMain
	ws.wg.Add(j.threads - 1)
	phase := sgemmPhasePackB
	if compute {
		phase = sgemmPhaseCompute
	}
	for w := 1; w < j.threads; w++ {
		ws.phase <- phase
	}
	if compute {
		j.compute(ws)
	} else {
		j.packB()
	}
	ws.wg.Wait()
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

// compute runs the macro-kernel over chunks of the current block of C until
// none is left.
func (j *sgemmJob) compute(ws *sgemmWorkspace) {
	beta := j.blockBeta()
	packedA := false
	for {
		lo := int(j.next.Add(1)-1) * j.chunk
		if j.splitRows {
			if lo >= j.m {
				return
			}
			mc := min(j.chunk, j.m-lo)
			ws.a = sgemmGrow(ws.a, j.chunk*j.kc)
			sgemmPackA(ws.a, j.transA, j.a, j.lda, lo, j.p0, mc, j.kc, j.ker.mr)
			j.macro(ws, lo, mc, 0, j.nc, beta, false)
			continue
		}
		if lo >= j.nc {
			return
		}
		if !packedA {
			// plan shares columns only when op(A) is a single block.
			ws.a = sgemmGrow(ws.a, j.mcb*j.kc)
			sgemmPackA(ws.a, j.transA, j.a, j.lda, 0, j.p0, j.m, j.kc, j.ker.mr)
			packedA = true
		}
		j.macro(ws, 0, j.m, lo, min(lo+j.chunk, j.nc), beta, j.fused)
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
