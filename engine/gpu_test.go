//go:build gpu

package engine

import (
	"math"
	"testing"
)

func init() { testDevices = append(testDevices, "cuda:0") }

// A short run on the GPU follows the CPU run's training curve: same seed,
// same batches, losses within the drift that TF32 tensor-core products
// (10-bit mantissas) allow over a few hundred Adam steps.
func TestGPUFollowsCPUCurve(t *testing.T) {
	for _, mode := range []Mode{Backprop, DNI, CDNI} {
		t.Run(string(mode), func(t *testing.T) {
			set := toySet("train", 512, 1)
			run := func(device string) ([]float64, float64) {
				cfg := curveConfig(mode)
				cfg.Device = device
				tr := newTrainer(t, cfg, set)
				losses := trainCurve(t, tr)
				ev, err := tr.Evaluate(set)
				if err != nil {
					t.Fatal(err)
				}
				return losses, ev.Error
			}
			gpuLoss, gpuErr := run("cuda:0")
			cpuLoss, cpuErr := run("cpu")
			requireSameCurve(t, gpuLoss, cpuLoss, 2e-2)
			if math.Abs(gpuErr-cpuErr) > 2 { // percentage points
				t.Fatalf("training-set error %.2f%% on the GPU, %.2f%% on the CPU", gpuErr, cpuErr)
			}
		})
	}
}
