package main

import (
	"fmt"
	"io"

	"github.com/dnitrain/dnitrain/engine"
)

func evalCmd(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("eval", "Evaluates a checkpoint on the test set (or the training set).", stderr)
	ckptPath := fs.String("checkpoint", "", "the checkpoint to evaluate (required)")
	dataDir := fs.String("data", "", "folder with the four MNIST-layout files (default: the embedded MNIST)")
	which := fs.String("set", "test", "which set to evaluate: test or train")
	device := fs.String("device", "cpu", "where to evaluate: cpu, or cuda:N for GPU N (needs a build with -tags gpu), whatever the checkpoint was trained on")
	agreement := fs.Bool("sg-agreement", false, "also compare each synthetic gradient with the true gradient, and with --unlock each synthetic input with the real one, on a batch of the set (cosine, norm ratio; dni, cdni)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := engine.CheckDevice(*device); err != nil {
		return usageError{err.Error()}
	}
	if *ckptPath == "" {
		return usageError{"--checkpoint is required"}
	}
	if *which != "test" && *which != "train" {
		return usageError{fmt.Sprintf("--set must be test or train, got %q", *which)}
	}
	ck, err := engine.LoadCheckpoint(*ckptPath)
	if err != nil {
		return err
	}
	if why := ineffective(ck.Config, "sg-agreement"); setFlags(fs)["sg-agreement"] && why != "" {
		return usageError{"--sg-agreement has no effect with " + why}
	}
	ck.Config.Device = *device
	net, err := ck.Network()
	if err != nil {
		return err
	}
	defer net.Close()
	pair, err := loadData(*dataDir)
	if err != nil {
		return err
	}
	set := pair.Test
	if *which == "train" {
		set = pair.Train
	}
	tr, err := engine.NewTrainer(net, pair.Train)
	if err != nil {
		return err
	}
	ev, err := tr.Evaluate(set)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s set of %s (%d samples), %s model at step %d: error %.2f%%, loss %.4f\n",
		*which, pair.Source, ev.N, ck.Config.Mode, ck.Step, ev.Error, ev.Loss)
	if *agreement {
		a, err := compareSynthetic(tr, set)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, a)
	}
	return nil
}
