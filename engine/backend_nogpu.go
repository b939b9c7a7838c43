//go:build !gpu

package engine

import "fmt"

// cudaBackend reports that this build has no GPU backend.
func cudaBackend(_ Config, ordinal int) (Backend, error) {
	return nil, fmt.Errorf("device cuda:%d: this dnitrain was built without GPU support (build it with -tags gpu)", ordinal)
}
