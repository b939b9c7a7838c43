//go:build !gpu

package engine

// gpuBuild says whether this build has the GPU backend.
const gpuBuild = false

// cudaBackend reports that this build has no GPU backend.
func cudaBackend(_ Config, ordinal int) (Backend, error) {
	return nil, errNoGPU(ordinal)
}
