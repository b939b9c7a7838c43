package engine

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/dnitrain/dnitrain/fused"
	"github.com/dnitrain/dnitrain/optim"
)

// EstimateMemory returns about how many bytes training the network of cfg
// takes, the data set aside: every parameter with its gradient and
// optimizer state, the weight gradients of the parts of a batch (see
// fused.TransformParts), and the per-batch buffers of layers and
// synthesizers for the training and evaluation batch sizes. The reference
// backend's Gorgonia graphs hold about twice the buffers.
func EstimateMemory(cfg Config) uint64 {
	const f32 = 4
	perParam := uint64(3) // value, gradient, one slot (SGD)
	if cfg.Optimizer.Kind != optim.SGD {
		perParam = 4 // Adam's two moments
	}
	var params, units, sgUnits uint64 // units: activations per sample
	var partGrads uint64              // the parts' own weight gradients, per copy of the model
	dev, _ := ParseDevice(cfg.Device)
	weights := func(in, out uint64) uint64 {
		if cfg.Backend == CPU && dev < 0 {
			parts := fused.TransformParts(cfg.threads(), cfg.Batch, int(in), int(out))
			partGrads += uint64(parts-1) * in * out
		}
		return in * out
	}
	in := uint64(cfg.Inputs)
	hidden := uint64(cfg.Hidden)
	for i := 0; i < cfg.Layers-1; i++ {
		params += weights(in, hidden) + 4*hidden
		units += 5 * hidden // output, its gradient, x̂, δ, an evaluation output
		in = hidden
	}
	params += weights(in, uint64(cfg.Classes)) + uint64(cfg.Classes)
	units += 3*uint64(cfg.Classes) + in
	// model returns the parameters and the per-sample training units of
	// copies models in → layers × width → out (synthesizers, input
	// models), and counts their parts' weight gradients.
	model := func(in, layers, width, out, copies uint64) (p, u uint64) {
		before := partGrads
		w := in
		for range layers {
			p += weights(w, width) + 4*width
			u += 4 * width
			w = width
		}
		p += weights(w, out) + out
		u += 3*out + in
		partGrads = before + copies*(partGrads-before)
		return copies * p, copies * u
	}
	if cfg.Mode.Decoupled() {
		sgIn, n := hidden, uint64(cfg.Layers-1) // a synthesizer a hidden layer
		if cfg.Mode == CDNI {
			sgIn += uint64(cfg.Classes)
		}
		p, u := model(sgIn, uint64(cfg.SGHidden), uint64(cfg.SGWidth), hidden, n)
		params, sgUnits = params+p, u // synthesizers train only
		if cfg.Unlock {               // and an input model x → … → h_i a hidden layer
			p, u := model(uint64(cfg.Inputs), uint64(cfg.InputHidden), uint64(cfg.InputWidth), hidden, n)
			params, sgUnits = params+p, sgUnits+u
		}
	}
	batches := uint64(cfg.Batch + cfg.EvalBatch)
	var apart uint64 // δ products moved down: see fused.InputGradient
	if cfg.Exec == ExecAsync {
		batches += uint64(3*cfg.Queue+1) * uint64(cfg.Batch)
		if cfg.Mode.Decoupled() && cfg.Backend == CPU && dev < 0 {
			// At most every target buffer between two workers holds a
			// copy of W_i, dz_i and the δ computed from them.
			boundaries := uint64(cfg.workers() - 1)
			apart = boundaries * uint64(cfg.Queue) * (hidden*hidden + 2*uint64(cfg.Batch)*hidden)
		}
	}
	buffers := units*batches + sgUnits*uint64(cfg.Batch) + apart
	if cfg.Backend == Reference {
		buffers *= 2
	}
	return f32 * (perParam*params + partGrads + buffers)
}

// checkMemory refuses a configuration whose estimate exceeds the memory
// available (0: unknown, no check); where names that memory.
func checkMemory(cfg Config, available uint64, where string) error {
	need := EstimateMemory(cfg)
	if available == 0 || need <= available {
		return nil
	}
	return fmt.Errorf("the model needs about %s to train, more than the %s of %s: use fewer or narrower layers, or a smaller --batch", gib(need), gib(available), where)
}

func gib(b uint64) string { return fmt.Sprintf("%.1f GiB", float64(b)/(1<<30)) }

// availableMemory reads MemAvailable from /proc/meminfo; 0 when unknown.
func availableMemory() uint64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "MemAvailable:" {
			kb, err := strconv.ParseUint(fields[1], 10, 64)
			if err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}
