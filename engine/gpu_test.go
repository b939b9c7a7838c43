//go:build gpu

package engine

import (
	"context"
	"math"
	"testing"

	"github.com/dnitrain/dnitrain/optim"
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
				cfg := smallConfig(mode)
				cfg.Device, cfg.Epochs = device, 3
				cfg.Optimizer, cfg.SGOptim = optim.DefaultAdam(1e-3), optim.DefaultAdam(1e-3)
				tr := newTrainer(t, cfg, set)
				var losses []float64
				for !tr.Done() {
					if _, err := tr.RunEpoch(context.Background(), func(p Progress) { losses = append(losses, p.Loss) }); err != nil {
						t.Fatal(err)
					}
				}
				ev, err := tr.Evaluate(set)
				if err != nil {
					t.Fatal(err)
				}
				return losses, ev.Error
			}
			gpuLoss, gpuErr := run("cuda:0")
			cpuLoss, cpuErr := run("cpu")
			if len(gpuLoss) != len(cpuLoss) {
				t.Fatalf("%d steps on the GPU, %d on the CPU", len(gpuLoss), len(cpuLoss))
			}
			for i := range cpuLoss {
				if math.Abs(gpuLoss[i]-cpuLoss[i]) > 2e-2*math.Max(1, cpuLoss[i]) {
					t.Fatalf("step %d: loss %v on the GPU, %v on the CPU", i, gpuLoss[i], cpuLoss[i])
				}
			}
			if math.Abs(gpuErr-cpuErr) > 2 { // percentage points
				t.Fatalf("training-set error %.2f%% on the GPU, %.2f%% on the CPU", gpuErr, cpuErr)
			}
		})
	}
}
