package cuda

// Launch shapes of the kernels, mirrored from the #defines of the CUDA
// headers (TestShapesMatchHeaders holds the two together).
const (
	blockThreads = 256   // threads per block of the elementwise kernels (ELEMENTWISE_BLOCK)
	columnCols   = 8     // columns per block of the column reductions (COLUMN_COLS)
	maxGrid1D    = 65535 // blocks of a 1-D elementwise kernel at most (ELEMENTWISE_MAX_GRID)
	gemmBM       = 128   // rows of C per gemm_tf32 block (GEMM_BM)
	gemmBN       = 128   // columns of C per gemm_tf32 block (GEMM_BN)
	gemmThreads  = 256   // threads per gemm_tf32 block (GEMM_THREADS)
	gemmBK       = 16    // depth of a gemm_tf32 k-tile (GEMM_BK)
)

// Split K (see gemm.cuh): each split of a product keeps at least
// gemmMinSplitTiles k-tiles, and a product splits at most gemmMaxSplits
// ways.
const (
	gemmMinSplitTiles = 4
	gemmMaxSplits     = 16
)

// gemmSplits is how many ways Gemm splits K for an m×n×k product on a
// device of sms multiprocessors: 1 when the output alone has blocks for
// half the SMs, else enough splits for the blocks to cover every SM
// (ceil(sms/blocks), so the last wave may be partial), as far as
// gemmMinSplitTiles and gemmMaxSplits allow, evened out so that no split
// is empty.
func gemmSplits(m, n, k, sms int) int {
	blocks := ceilDiv(m, gemmBM) * ceilDiv(n, gemmBN)
	tiles := ceilDiv(k, gemmBK)
	splits := min(ceilDiv(sms, blocks), tiles/gemmMinSplitTiles, gemmMaxSplits)
	if 2*blocks >= sms || splits < 2 {
		return 1
	}
	return ceilDiv(tiles, ceilDiv(tiles, splits))
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// MMAPeakFlopsPerWarpIteration is the floating-point work of one warp in
// one iteration of mma_peak: 8 independent m16n8k8 TF32 mma.sync, each
// 2·16·8·8 = 2048 flops.
const MMAPeakFlopsPerWarpIteration = 8 * 2048

// kernelNames are the kernels Open looks up in the module.
var kernelNames = []string{
	"gemm_tf32", "gemm_splitk_reduce", "mma_peak",
	"bias_activate", "activation_backward", "column_sums", "scale", "concat_columns",
	"batchnorm_forward_train", "batchnorm_forward_eval", "batchnorm_backward",
	"softmax_cross_entropy", "squared_error", "adam_step", "momentum_step",
}
