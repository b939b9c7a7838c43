package main

import (
	"fmt"
	"io"

	"github.com/dnitrain/dnitrain/data"
	"github.com/dnitrain/dnitrain/engine"
)

func infoCmd(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("info", "Describes the model the flags (or a checkpoint) define, its parameters and the data set.", stderr)
	var m modelFlags
	m.register(fs)
	dataDir := fs.String("data", "", "folder with the four MNIST-layout files (default: the embedded MNIST)")
	ckptPath := fs.String("checkpoint", "", "describe the model saved in this checkpoint instead")
	if err := parse(fs, args); err != nil {
		return err
	}
	ck, err := m.start(setFlags(fs), *ckptPath)
	if err != nil {
		return err
	}
	pair, err := loadData(*dataDir)
	if err != nil {
		return err
	}
	tr, err := newRun(&m, pair, ck)
	if err != nil {
		return err
	}
	defer tr.Network().Close()
	describeRun(stdout, tr.Network(), pair, tr)
	if err := tr.Trainable(); err != nil && !tr.Done() {
		fmt.Fprintf(stdout, "note:   train would refuse this: %v\n", err)
	}
	return nil
}

// describeRun prints the data set, the model with its parameter counts, and
// the training schedule.
func describeRun(w io.Writer, net *engine.Network, pair *data.Pair, tr *engine.Trainer) {
	cfg := net.Config()
	fmt.Fprintf(w, "data:   %s: %d training and %d test images of %d×%d, %d classes\n",
		pair.Source, pair.Train.N, pair.Test.N, pair.Train.Rows, pair.Train.Cols, pair.Train.Classes)
	fmt.Fprintf(w, "model:  %s, %d weight layers\n", cfg.Mode, cfg.Layers)
	for _, mi := range net.Describe() {
		fmt.Fprintf(w, "  %-8s %-52s %10d parameters\n", mi.Name, mi.What, mi.Params)
	}
	layers, synths := net.ParamCount()
	fmt.Fprintf(w, "params: %d in layers, %d in synthesizers\n", layers, synths)
	fmt.Fprintf(w, "runs:   %s, exec %s\n", net.Where(), net.Execution())
	opt := cfg.Optimizer
	fmt.Fprintf(w, "train:  %s lr %g", opt.Kind, opt.LR)
	if cfg.Mode.Decoupled() {
		fmt.Fprintf(w, " (synthesizers %g)", cfg.SGOptim.LR)
	}
	if len(opt.DecaySteps) > 0 {
		fmt.Fprintf(w, ", ×%g at steps %v", opt.DecayFactor, opt.DecaySteps)
	}
	fmt.Fprintf(w, "; batch %d, %s per epoch, %s, seed %d; at step %d\n",
		cfg.Batch, count(tr.StepsPerEpoch(), "step"), count(cfg.Epochs, "epoch"), cfg.Seed, tr.Step())
}

// count returns n and the noun unit, "1 epoch" or "3 epochs".
func count(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}
