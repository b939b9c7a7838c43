package kernels

import (
	"sync"
)

// Gemm multiplies single-precision matrices. It is a packed, cache-blocked
// matrix multiply in the style of GotoBLAS and BLIS: panels of op(A) and op(B)
// are copied into contiguous buffers sized for the caches and a register-
// blocked micro-kernel, in assembly where the CPU allows, computes the
// product one small tile of C at a time.
//
// The zero value is ready to use and runs on the calling goroutine only. A
// Gemm keeps its packing buffers between calls, so that a call in the steady
// state does not allocate; it is safe for concurrent use by several
// goroutines, and must not be copied after first use.
type Gemm struct {
	// Threads is the number of goroutines a call may use, the calling one
	// included. Values below 2 keep the work on the calling goroutine.
	// Small products use fewer goroutines than Threads, as the cost of
	// starting one would outweigh the work it takes over.
	Threads int

	// kern, when not nil, replaces the micro-kernel chosen for this CPU.
	// Tests use it to reach every kernel the machine can run.
	kern *microKernel

	pool sync.Pool // of *gemmWorkspace
}

// microKernel describes one register-blocked micro-kernel and the cache
// blocking that suits it.
type microKernel struct {
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

// sgemmMaxTile bounds mr·nr over all micro-kernels; the edge-tile buffer has this
// many elements.
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
	checkSgemm(transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
	if m == 0 || n == 0 {
		return
	}
	if k == 0 || alpha == 0 {
		gemmScale(m, n, beta, c, ldc)
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

func checkSgemm(transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
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
	if !gemmLongEnough(len(a), rowsA, colsA, lda) {
		panic("kernels: Sgemm: insufficient length of a")
	}
	if !gemmLongEnough(len(b), rowsB, colsB, ldb) {
		panic("kernels: Sgemm: insufficient length of b")
	}
	if !gemmLongEnough(len(c), m, n, ldc) {
		panic("kernels: Sgemm: insufficient length of c")
	}
}

// gemmLongEnough reports whether a slice of length l holds a rows×cols matrix
// with leading dimension ld.
func gemmLongEnough(l, rows, cols, ld int) bool {
	return rows == 0 || cols == 0 || l >= (rows-1)*ld+cols
}

// gemmScale sets C = beta·C, writing zeros without reading C when beta is 0.
func gemmScale(m, n int, beta float32, c []float32, ldc int) {
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

// gemmWorkspace holds the buffers of one goroutine taking part in a call.
type gemmWorkspace struct {
	a    []float32 // packed block of op(A)
	b    []float32 // packed block of op(B), used by the calling goroutine's workspace only
	tile [sgemmMaxTile]float32
	job  sgemmJob // the call's shared description, in the calling goroutine's workspace
	wg   sync.WaitGroup
}

func (g *Gemm) workspace() *gemmWorkspace {
	if ws, ok := g.pool.Get().(*gemmWorkspace); ok {
		return ws
	}
	return new(gemmWorkspace)
}

// gemmGrow returns buf resliced to n elements, reallocated if it is too short.
func gemmGrow(buf []float32, n int) []float32 {
	if cap(buf) < n {
		return make([]float32, n)
	}
	return buf[:n]
}

// sgemmJob is one call of Sgemm, shared read-only by the goroutines working
// on it. The loops follow BLIS: for each block of nc columns, every k-block of
// op(B) is packed (the goroutines sharing the panels), then each goroutine
// takes a rectangle of that column block of C, packs blocks of op(A) for its
// rows, and runs the micro-kernel over them.
type sgemmJob struct {
	g       *Gemm
	ker     *microKernel
	threads int

	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	a, b, c        []float32
	lda, ldb, ldc  int

	// Set per block of columns.
	jc, nc int       // first column and width of the block
	ncPad  int       // nc rounded up to a multiple of nr
	kcb    int       // depth of every k-block but the last
	mcb    int       // rows of every block of op(A) but the last of a rectangle
	bp     []float32 // packed op(B) for columns jc..jc+nc, all k-blocks
	gridM  int       // rectangles stacked along m; threads/gridM along n
	wsMain *gemmWorkspace
}

// gemmBlockSize splits total into the fewest blocks of at most limit and returns
// their common size, rounded up to a multiple of unit.
func gemmBlockSize(total, limit, unit int) int {
	nb := (total + limit - 1) / limit
	s := (total + nb - 1) / nb
	return (s + unit - 1) / unit * unit
}

func (j *sgemmJob) run(ws *gemmWorkspace) {
	ker := j.ker
	j.wsMain = ws
	j.kcb = gemmBlockSize(j.k, ker.kc, 1)
	j.mcb = gemmBlockSize(min(j.m, ker.mc), ker.mc, ker.mr)
	for j.jc = 0; j.jc < j.n; j.jc += ker.nc {
		j.nc = min(ker.nc, j.n-j.jc)
		j.ncPad = (j.nc + ker.nr - 1) / ker.nr * ker.nr
		ws.b = gemmGrow(ws.b, j.k*j.ncPad)
		j.bp = ws.b
		j.chooseGrid()
		if j.threads == 1 {
			j.packB(0)
			j.compute(0, ws)
			continue
		}
		j.parallel(false)
		j.parallel(true)
	}
}

// parallel runs packB (compute false) or compute on every goroutine of the
// job, the calling one included, and waits for them.
func (j *sgemmJob) parallel(compute bool) {
	wg := &j.wsMain.wg
	wg.Add(j.threads - 1)
	for w := 1; w < j.threads; w++ {
		go j.worker(w, compute, wg)
	}
	if compute {
		j.compute(0, j.wsMain)
	} else {
		j.packB(0)
	}
	wg.Wait()
}

func (j *sgemmJob) worker(w int, compute bool, wg *sync.WaitGroup) {
	defer wg.Done()
	if !compute {
		j.packB(w)
		return
	}
	ws := j.g.workspace()
	j.compute(w, ws)
	j.g.pool.Put(ws)
}

// chooseGrid picks how the column block of C is cut into rectangles, one per
// goroutine. Cutting along m makes every goroutine pack its own rows of op(A);
// cutting along n makes each pack all of op(A) again, so m is preferred unless
// it has too few row panels to share.
func (j *sgemmJob) chooseGrid() {
	mp := (j.m + j.ker.mr - 1) / j.ker.mr
	np := j.ncPad / j.ker.nr
	switch {
	case mp >= 4*j.threads || mp >= np:
		j.gridM = j.threads
	default:
		j.gridM = 1
	}
}

// gemmSplit returns the w-th of parts nearly equal ranges of units·size elements
// out of total elements, with boundaries on multiples of size.
func gemmSplit(total, size, parts, w int) (lo, hi int) {
	units := (total + size - 1) / size
	lo = min(units*w/parts*size, total)
	hi = min(units*(w+1)/parts*size, total)
	return lo, hi
}

// packB packs goroutine w's share of the column panels of op(B) for the
// current block of columns, across all k-blocks.
func (j *sgemmJob) packB(w int) {
	nr := j.ker.nr
	lo, hi := gemmSplit(j.nc, nr, j.threads, w)
	if lo >= hi {
		return
	}
	for p0 := 0; p0 < j.k; p0 += j.kcb {
		kc := min(j.kcb, j.k-p0)
		dst := j.bp[p0*j.ncPad+lo*kc : p0*j.ncPad+j.ncPad*kc]
		sgemmPackB(dst, j.transB, j.b, j.ldb, p0, j.jc+lo, kc, hi-lo, nr)
	}
}

// compute runs the macro-kernel over goroutine w's rectangle of the current
// block of columns of C.
func (j *sgemmJob) compute(w int, ws *gemmWorkspace) {
	ker := j.ker
	gridN := j.threads / j.gridM
	if w >= j.gridM*gridN {
		return
	}
	i0, i1 := gemmSplit(j.m, ker.mr, j.gridM, w/gridN)
	c0, c1 := gemmSplit(j.nc, ker.nr, gridN, w%gridN)
	if i0 >= i1 || c0 >= c1 {
		return
	}
	mcb := min(j.mcb, (i1-i0+ker.mr-1)/ker.mr*ker.mr)
	ws.a = gemmGrow(ws.a, mcb*j.kcb)
	for p0 := 0; p0 < j.k; p0 += j.kcb {
		kc := min(j.kcb, j.k-p0)
		beta := j.beta
		if p0 > 0 {
			beta = 1
		}
		bBlock := j.bp[p0*j.ncPad : p0*j.ncPad+j.ncPad*kc]
		for i := i0; i < i1; i += mcb {
			mc := min(mcb, i1-i)
			sgemmPackA(ws.a, j.transA, j.a, j.lda, i, p0, mc, kc, ker.mr)
			j.macro(ws, kc, i, mc, c0, c1, bBlock, beta)
		}
	}
}

// macro multiplies the packed mc×kc block of op(A) in ws.a by columns c0..c1
// of the packed kc×ncPad block of op(B), into rows i0..i0+mc of C.
func (j *sgemmJob) macro(ws *gemmWorkspace, kc, i0, mc, c0, c1 int, bBlock []float32, beta float32) {
	ker := j.ker
	mr, nr := ker.mr, ker.nr
	fn := ker.fn
	alpha, ldc := j.alpha, j.ldc
	for jr := c0; jr < c1; jr += nr {
		nrr := min(nr, c1-jr)
		bp := bBlock[jr*kc : (jr+nr)*kc]
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
	for ip := 0; ip < mc; ip += mr {
		rows := min(mr, mc-ip)
		d := dst[ip*kc : (ip+mr)*kc]
		if trans {
			// op(A)[i][p] = a[p·lda+i]: each step of k is contiguous.
			for p := 0; p < kc; p++ {
				src := a[(p0+p)*lda+i0+ip:]
				dp := d[p*mr : p*mr+mr]
				copy(dp, src[:rows])
				clear(dp[rows:])
			}
			continue
		}
		if rows == mr && mr == 6 {
			sgemmPackRows6(d, a, lda, i0+ip, p0, kc)
			continue
		}
		for r := 0; r < rows; r++ {
			src := a[(i0+ip+r)*lda+p0:]
			src = src[:kc]
			for p, v := range src {
				d[p*mr+r] = v
			}
		}
		for r := rows; r < mr; r++ {
			for p := 0; p < kc; p++ {
				d[p*mr+r] = 0
			}
		}
	}
}

// sgemmPackRows6 interleaves six rows of a, starting at row i and column p0, into
// d, six elements per step of k.
func sgemmPackRows6(d, a []float32, lda, i, p0, kc int) {
	r0 := a[i*lda+p0:][:kc]
	r1 := a[(i+1)*lda+p0:][:kc]
	r2 := a[(i+2)*lda+p0:][:kc]
	r3 := a[(i+3)*lda+p0:][:kc]
	r4 := a[(i+4)*lda+p0:][:kc]
	r5 := a[(i+5)*lda+p0:][:kc]
	d = d[:6*kc]
	for p := range r0 {
		dp := d[6*p : 6*p+6 : 6*p+6]
		dp[0] = r0[p]
		dp[1] = r1[p]
		dp[2] = r2[p]
		dp[3] = r3[p]
		dp[4] = r4[p]
		dp[5] = r5[p]
	}
}

// sgemmPackB copies rows p0..p0+kc and columns j0..j0+nc of op(B) into dst as
// consecutive panels of nr columns, each stored row by row (nr elements per
// step of k). Columns past nc in the last panel are zero.
func sgemmPackB(dst []float32, trans bool, b []float32, ldb, p0, j0, kc, nc, nr int) {
	for jp := 0; jp < nc; jp += nr {
		cols := min(nr, nc-jp)
		d := dst[jp*kc : (jp+nr)*kc]
		if !trans {
			// op(B)[p][j] = b[p·ldb+j]: each step of k is contiguous.
			for p := 0; p < kc; p++ {
				src := b[(p0+p)*ldb+j0+jp:]
				dp := d[p*nr : p*nr+nr]
				copy(dp, src[:cols])
				clear(dp[cols:])
			}
			continue
		}
		// op(B)[p][j] = b[j·ldb+p]: each column is a contiguous row of b.
		for c := 0; c < cols; c++ {
			src := b[(j0+jp+c)*ldb+p0:]
			src = src[:kc]
			for p, v := range src {
				d[p*nr+c] = v
			}
		}
		for c := cols; c < nr; c++ {
			for p := 0; p < kc; p++ {
				d[p*nr+c] = 0
			}
		}
	}
}
