//go:build amd64 && !noasm

package kernels

import (
	"fmt"
	"testing"
)

// The kernels that prefetch with intent to write where the CPU has
// PREFETCHW (the micro-kernels' C tile, Adam's weights) match the reference
// on either path: with it, where this CPU has it, and without (read
// prefetches in the micro-kernels, none in Adam), as on a CPU without it.
func TestWithAndWithoutPrefetchW(t *testing.T) {
	saved := hasPrefetchW
	defer func() { hasPrefetchW = saved }()
	for _, on := range []bool{false, true} {
		t.Run(fmt.Sprintf("prefetchw=%v", on), func(t *testing.T) {
			if on && !saved {
				t.Skip("this CPU has no PREFETCHW")
			}
			hasPrefetchW = on
			TestAdamMatchesReference(t)
			TestSgemmKernels(t)
		})
	}
}
