//go:build !amd64 || noasm

package kernels

// adamVector updates nothing: this build has no vector Adam.
func adamVector(w, g, m, v []float32, c adamConsts) int { return 0 }
