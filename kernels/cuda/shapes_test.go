package cuda

import (
	"fmt"
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
		{"gemm.cuh", "GEMM_BM", gemmBM},
		{"gemm.cuh", "GEMM_BN", gemmBN},
		{"gemm.cuh", "GEMM_THREADS", gemmThreads},
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
