package cuda

import (
	"fmt"
	"math/rand/v2"
	"os"
	"regexp"
	"strconv"
	"testing"
)

// The Go side launches the kernels with the shapes the headers define.
func TestShapesMatchHeaders(t *testing.T) {
	for _, c := range []struct {
		file, name string
		want       int
	}{
		{"elementwise.cuh", "ELEMENTWISE_BLOCK", blockThreads},
		{"elementwise.cuh", "ELEMENTWISE_MAX_GRID", maxGrid1D},
		{"elementwise.cuh", "COLUMN_COLS", columnCols},
		{"gemm.cuh", "GEMM_BM", gemmBM},
		{"gemm.cuh", "GEMM_BN", gemmBN},
		{"gemm.cuh", "GEMM_THREADS", gemmThreads},
		{"gemm.cuh", "GEMM_BK", gemmBK},
	} {
		src, err := os.ReadFile(c.file)
		if err != nil {
			t.Fatal(err)
		}
		// A macro (#define NAME 128) or an enumerator (NAME = 256).
		m := regexp.MustCompile(`(?m)(?:^#define ` + c.name + ` +|\b` + c.name + ` = )([0-9]+)`).FindSubmatch(src)
		if m == nil {
			t.Errorf("%s: no definition of %s", c.file, c.name)
			continue
		}
		if got, _ := strconv.Atoi(string(m[1])); got != c.want {
			t.Errorf("%s: %s is %d, the Go side launches with %d", c.file, c.name, got, c.want)
		}
	}
}

// Both PTX modules define every kernel the Go side looks up.
func TestPTXHasEveryKernel(t *testing.T) {
	for _, ptx := range []struct{ name, text string }{{"sm_80", ptxSM80}, {"sm_90", ptxSM90}} {
		for _, k := range kernelNames {
			if !regexp.MustCompile(fmt.Sprintf(`(?m)^\.visible \.entry %s\(`, k)).MatchString(ptx.text) {
				t.Errorf("the %s PTX has no kernel %s", ptx.name, k)
			}
		}
	}
}

func TestGemmSplits(t *testing.T) {
	for _, tc := range []struct{ m, n, k, sms, want int }{
		{4096, 4096, 4096, 132, 1}, // 1024 blocks
		{1024, 1152, 1024, 132, 1}, // 72 blocks: over half the SMs
		{1024, 1024, 1024, 132, 3}, // 64 blocks
		{256, 256, 784, 132, 10},   // 4 blocks, 49 k-tiles: 12 splits of 5 would leave 2 empty
		{256, 1024, 1024, 132, 8},  // 16 blocks, 64 k-tiles
		{784, 256, 256, 132, 4},    // 16 k-tiles: at least 4 each
		{256, 10, 256, 132, 4},
		{256, 256, 784, 16, 4}, // a smaller device
		{256, 256, 63, 132, 1}, // 4 k-tiles: one split's worth
		{1, 1, 1, 132, 1},
	} {
		if got := gemmSplits(tc.m, tc.n, tc.k, tc.sms); got != tc.want {
			t.Errorf("gemmSplits(%d, %d, %d, %d) = %d, want %d", tc.m, tc.n, tc.k, tc.sms, got, tc.want)
		}
	}
	// No split is ever empty, or short of its share.
	rng := rand.New(rand.NewPCG(1, 1))
	for range 10000 {
		m, n, k, sms := 1+rng.IntN(3000), 1+rng.IntN(3000), 1+rng.IntN(5000), 1+rng.IntN(200)
		s, tiles := gemmSplits(m, n, k, sms), ceilDiv(k, gemmBK)
		per := ceilDiv(tiles, s)
		if s < 1 || s > gemmMaxSplits || (s > 1 && (per < gemmMinSplitTiles || (s-1)*per >= tiles)) {
			t.Fatalf("gemmSplits(%d, %d, %d, %d) = %d: %d k-tiles, %d per split", m, n, k, sms, s, tiles, per)
		}
	}
}
