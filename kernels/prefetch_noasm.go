//go:build !amd64 || noasm

package kernels

// prefetchLines does nothing without assembly: Go has no prefetch.
func prefetchLines(b []byte) {}
