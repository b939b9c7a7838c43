package cuda

import (
	_ "embed"
	"fmt"
)

var (
	//go:embed dnitrain_sm80.ptx
	ptxSM80 string
	//go:embed dnitrain_sm90.ptx
	ptxSM90 string
)

// PTX returns the kernels compiled for the newest architecture the
// committed PTX covers that a device of compute capability major.minor can
// run (PTX is forward compatible: the driver JIT-compiles it for newer
// devices).
func PTX(major, minor int) (string, error) {
	switch cc := major*10 + minor; {
	case cc >= 90:
		return ptxSM90, nil
	case cc >= 80:
		return ptxSM80, nil
	default:
		return "", fmt.Errorf("compute capability %d.%d: dnitrain's kernels need 8.0 or newer (tensor-core TF32)", major, minor)
	}
}
