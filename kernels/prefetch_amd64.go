//go:build amd64 && !noasm

package kernels

// prefetchLines asks for every cache line of b (PREFETCHT0), without
// waiting for any.
//
//go:noescape
func prefetchLines(b []byte)
