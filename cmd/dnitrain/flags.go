package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/dnitrain/dnitrain/data"
	"github.com/dnitrain/dnitrain/engine"
	"github.com/dnitrain/dnitrain/optim"
)

// modelFlags are the flags that define a model and its training, shared by
// train and info.
type modelFlags struct {
	mode, activation, optimizer, lrDecay string
	backend, device, updateProb, exec    string
	workers, queue                       int
	threads, sgWarmup                    int
	lambda                               float64
	layers, hidden, sgHidden, sgWidth    int
	inputHidden, inputWidth              int
	batch, evalBatch, epochs             int
	batchNorm, sgBatchNorm, normalize    bool
	unlock                               bool
	sgScale, lr, sgLR, momentum, decay   float64
	seed                                 uint64
}

// flagsFixedByCheckpoint are the model flags a run takes from the
// checkpoint it resumes or describes; where it runs (--epochs, --backend,
// --device, --threads, --exec, --workers, --queue) may change.
var flagsFixedByCheckpoint = []string{"mode", "layers", "hidden", "activation", "batchnorm", "sg-hidden",
	"sg-width", "sg-batchnorm", "sg-scale", "batch", "eval-batch", "optimizer", "lr", "sg-lr", "momentum",
	"lr-decay", "lr-decay-factor", "seed", "normalize", "sg-warmup", "lambda", "update-prob", "unlock",
	"input-hidden", "input-width"}

// sgHiddenAuto asks for the mode's default synthesizer depth.
const sgHiddenAuto = -1

// autoInt is an int flag whose default, sgHiddenAuto, depends on other
// flags: it prints as empty, so that the usage shows no default of its own.
type autoInt struct{ v *int }

func (a autoInt) String() string {
	if a.v == nil || *a.v == sgHiddenAuto {
		return ""
	}
	return strconv.Itoa(*a.v)
}

func (a autoInt) Set(s string) error {
	n, err := strconv.ParseInt(s, 0, strconv.IntSize)
	if err != nil {
		return errors.New("not an integer")
	}
	*a.v = int(n)
	return nil
}

func (m *modelFlags) register(fs *flag.FlagSet) {
	d := engine.DefaultConfig(1, 2)
	fs.StringVar(&m.mode, "mode", string(d.Mode), "training mode: bprop, dni or cdni")
	fs.StringVar(&m.backend, "backend", d.Backend, "compute backend: cpu (fused kernels) or reference (Gorgonia graphs, slow)")
	fs.StringVar(&m.device, "device", "cpu", "where to train: cpu, or cuda:N for GPU N (needs a build with -tags gpu)")
	fs.IntVar(&m.threads, "threads", d.Threads, "goroutines that compute at once: each batch is computed in that many parts of its rows, and in dni the loop's finisher shares them (0: all CPUs; async: per worker)")
	fs.StringVar(&m.exec, "exec", d.Exec, "execution: sync (one loop, deterministic) or async (layers on concurrent workers)")
	fs.IntVar(&m.workers, "workers", d.Workers, "async: workers, each running consecutive layers and sharing its --threads with a finisher (0: one per CPU, at most one per layer)")
	fs.IntVar(&m.queue, "queue", d.Queue, "async: batches in flight between two workers, which bounds how stale a target may be")
	fs.IntVar(&m.layers, "layers", d.Layers, "weight layers, the output layer included")
	fs.IntVar(&m.hidden, "hidden", d.Hidden, "units per hidden layer")
	fs.StringVar(&m.activation, "activation", d.Activation, "hidden activation: relu, tanh, sigmoid or identity")
	fs.BoolVar(&m.batchNorm, "batchnorm", d.BatchNorm, "batch normalisation in the hidden layers (--batchnorm=false to leave it out)")
	m.sgHidden = sgHiddenAuto
	fs.Var(autoInt{&m.sgHidden}, "sg-hidden", "hidden layers of each synthesizer, an `int` (default 0 for cdni, 2 for dni)")
	fs.IntVar(&m.sgWidth, "sg-width", d.SGWidth, "units per synthesizer hidden layer")
	fs.BoolVar(&m.sgBatchNorm, "sg-batchnorm", d.SGBatchNorm, "batch normalisation in the synthesizers' hidden layers")
	fs.Float64Var(&m.sgScale, "sg-scale", d.SGScale, "factor applied to every synthetic gradient")
	fs.IntVar(&m.sgWarmup, "sg-warmup", 0, "steps during which the synthesizers train but hidden layers do not update")
	fs.BoolVar(&m.unlock, "unlock", false, "synthetic inputs too: layer i > 0 trains on Î_i(x), a model of h_{i-1} learnt from the real one (dni, cdni)")
	fs.IntVar(&m.inputHidden, "input-hidden", d.InputHidden, "--unlock: hidden ReLU layers of each input model Î_i (0: linear)")
	fs.IntVar(&m.inputWidth, "input-width", d.InputWidth, "--unlock: units per input-model hidden layer")
	fs.Float64Var(&m.lambda, "lambda", 0, "BP(λ): weight of the true gradient in every update (0 synthetic only, 1 backprop)")
	fs.StringVar(&m.updateProb, "update-prob", "", "probability that a layer updates at a step: one value, or one per layer, comma-separated (default 1)")
	fs.BoolVar(&m.normalize, "normalize", true, "standardise inputs with the training set's mean and std")
	fs.IntVar(&m.batch, "batch", d.Batch, "training batch size")
	fs.IntVar(&m.evalBatch, "eval-batch", d.EvalBatch, "evaluation batch size")
	fs.IntVar(&m.epochs, "epochs", d.Epochs, "epochs to train (in all, when resuming)")
	fs.StringVar(&m.optimizer, "optimizer", string(d.Optimizer.Kind), "optimizer: adam or sgd (with --momentum)")
	fs.Float64Var(&m.lr, "lr", d.Optimizer.LR, "learning rate of the layers")
	fs.Float64Var(&m.sgLR, "sg-lr", 0, "learning rate of the synthesizers (default: --lr)")
	fs.Float64Var(&m.momentum, "momentum", 0.9, "momentum of --optimizer sgd")
	fs.StringVar(&m.lrDecay, "lr-decay", "", "comma-separated steps at which the learning rates are multiplied by --lr-decay-factor")
	fs.Float64Var(&m.decay, "lr-decay-factor", 0.1, "learning-rate factor applied at each --lr-decay step")
	fs.Uint64Var(&m.seed, "seed", d.Seed, "random seed: weights, and the order of every epoch")
}

// start checks the flags before the data are loaded. For a new model
// (ckpt == "") it checks them all; for the model of the checkpoint at ckpt,
// which it loads and returns, it refuses the flags the checkpoint fixes and
// applies those of how the run executes. Either way it refuses a flag that
// would have no effect, the model's and the command's own flags named in
// more, and a device this build cannot train on.
func (m *modelFlags) start(set map[string]bool, ckpt string, more ...string) (*engine.Checkpoint, error) {
	// The values that stand for "not given" cannot be given.
	if set["sg-hidden"] && m.sgHidden == sgHiddenAuto {
		return nil, usageError{fmt.Sprintf("--sg-hidden must be 0 or more, got %d", m.sgHidden)}
	}
	if set["sg-lr"] && m.sgLR == 0 {
		return nil, usageError{"--sg-lr must be a positive number (leave it out for --lr)"}
	}
	var c engine.Config
	var ck *engine.Checkpoint
	var err error
	if ckpt == "" {
		if c, err = m.config(nil); err != nil {
			return nil, err
		}
	} else {
		for _, name := range flagsFixedByCheckpoint {
			if set[name] {
				return nil, usageError{fmt.Sprintf("--%s cannot be changed: the checkpoint fixes it (only --epochs and how the run executes can)", name)}
			}
		}
		if ck, err = engine.LoadCheckpoint(ckpt); err != nil {
			return nil, err
		}
		m.overrideRuntime(&ck.Config, set)
		if err := ck.Config.Validate(); err != nil {
			return nil, usageError{err.Error()}
		}
		c = ck.Config
	}
	for _, name := range slices.Concat(flagsFixedByCheckpoint, []string{"workers", "queue"}, more) {
		if why := ineffective(c, name); set[name] && why != "" {
			return nil, usageError{fmt.Sprintf("--%s has no effect with %s", name, why)}
		}
	}
	if err := engine.CheckDevice(c.Device); err != nil {
		return nil, usageError{err.Error()}
	}
	return ck, nil
}

// ineffective says why the flag name would have no effect on the model and
// run of c ("--exec sync"), or "" when it has one.
func ineffective(c engine.Config, name string) string {
	synthBN := c.SGHidden > 0 || c.Unlock && c.InputHidden > 0
	switch {
	case (name == "workers" || name == "queue") && c.Exec != engine.ExecAsync:
		return "--exec " + c.Exec
	case (name == "hidden" || name == "activation" || name == "batchnorm") && c.Layers == 1:
		return "--layers 1, which has no hidden layers"
	case strings.HasPrefix(name, "sg-") && !c.Mode.Decoupled():
		return "--mode bprop, which has no synthesizers"
	case name == "sg-width" && c.SGHidden == 0:
		return "--sg-hidden 0"
	case name == "sg-batchnorm" && !synthBN:
		return "no hidden layers in the synthesizers or input models"
	case strings.HasPrefix(name, "input-") && !c.Unlock:
		return "no --unlock"
	case name == "input-width" && c.InputHidden == 0:
		return "--input-hidden 0"
	case name == "momentum" && c.Optimizer.Kind != optim.SGD:
		return "--optimizer " + string(c.Optimizer.Kind)
	case name == "lr-decay-factor" && len(c.Optimizer.DecaySteps) == 0:
		return "no --lr-decay"
	}
	return ""
}

// config turns the flags into an engine config for the training set train
// (nil to check the flags alone).
func (m *modelFlags) config(train *data.Set) (engine.Config, error) {
	c := engine.DefaultConfig(1, 2)
	if train != nil {
		c = engine.DefaultConfig(train.Features(), train.Classes)
		if m.normalize {
			c.InputMean, c.InputStd = engine.InputStats(train)
		}
	}
	mode, err := engine.ParseMode(m.mode)
	if err != nil {
		return c, usageError{"--mode: " + err.Error()}
	}
	c.Mode, c.Backend, c.Device, c.Threads = mode, m.backend, m.device, m.threads
	c.Exec, c.Workers, c.Queue = m.exec, m.workers, m.queue
	c.Layers, c.Hidden, c.Activation, c.BatchNorm = m.layers, m.hidden, m.activation, m.batchNorm
	c.SGHidden, c.SGWidth, c.SGBatchNorm, c.SGScale = m.sgHidden, m.sgWidth, m.sgBatchNorm, m.sgScale
	c.SGWarmup, c.Lambda, c.Unlock = m.sgWarmup, m.lambda, m.unlock
	c.InputHidden, c.InputWidth = m.inputHidden, m.inputWidth
	if c.UpdateProb, err = parseList(m.updateProb, parseFloat); err != nil {
		return c, usageError{"--update-prob: " + err.Error()}
	}
	if m.sgHidden == sgHiddenAuto {
		c.SGHidden = 0
		if mode == engine.DNI {
			c.SGHidden = 2
		}
	}
	c.Batch, c.EvalBatch, c.Epochs, c.Seed = m.batch, m.evalBatch, m.epochs, m.seed
	steps, err := parseList(m.lrDecay, strconv.Atoi)
	if err != nil {
		return c, usageError{"--lr-decay: " + err.Error()}
	}
	opt := func(lr float64) optim.Config {
		o := optim.DefaultAdam(lr)
		o.Kind = optim.Kind(m.optimizer)
		if o.Kind == optim.SGD {
			o = optim.Config{Kind: optim.SGD, LR: lr, Momentum: m.momentum}
		}
		o.DecaySteps, o.DecayFactor = steps, m.decay
		return o
	}
	c.Optimizer = opt(m.lr)
	sgLR := m.sgLR
	if sgLR == 0 {
		sgLR = m.lr
	}
	c.SGOptim = opt(sgLR)
	if err := c.Validate(); err != nil {
		return c, usageError{err.Error()}
	}
	return c, nil
}

// parseList parses a comma-separated list of values; parse reports a bad
// element.
func parseList[T any](s string, parse func(string) (T, error)) ([]T, error) {
	if s == "" {
		return nil, nil
	}
	var out []T
	for _, f := range strings.Split(s, ",") {
		v, err := parse(strings.TrimSpace(f))
		switch {
		case errors.Is(err, strconv.ErrRange):
			return nil, fmt.Errorf("%q is out of range", f)
		case err != nil:
			return nil, fmt.Errorf("%q is not a number", f)
		}
		out = append(out, v)
	}
	return out, nil
}

func parseFloat(s string) (float64, error) { return strconv.ParseFloat(s, 64) }

// newFlagSet returns a flag set that reports errors instead of exiting.
func newFlagSet(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: dnitrain %s [flags]\n\n%s\n\nFlags:\n", name, synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses args and rejects positional arguments. A bad flag is a
// one-line error; -h prints the usage.
func parse(fs *flag.FlagSet, args []string) error {
	usage, out := fs.Usage, fs.Output()
	fs.Usage = func() {}
	fs.SetOutput(io.Discard)
	err := fs.Parse(args)
	fs.Usage = usage
	fs.SetOutput(out)
	if err == flag.ErrHelp {
		fs.Usage()
		return err
	}
	if err != nil {
		return usageError{fmt.Sprintf("%v (dnitrain %s -h lists the flags)", err, fs.Name())}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	return nil
}

// loadData reads the data set: the embedded MNIST, or the folder dir.
func loadData(dir string) (*data.Pair, error) {
	if dir == "" {
		return data.LoadMNIST()
	}
	return data.LoadDir(dir)
}

// overrideRuntime applies the flags that may differ from a checkpoint's
// config: where the run executes, not what it computes.
func (m *modelFlags) overrideRuntime(c *engine.Config, set map[string]bool) {
	if set["backend"] {
		c.Backend = m.backend
	}
	if set["device"] {
		c.Device = m.device
	}
	if set["threads"] {
		c.Threads = m.threads
	}
	if set["exec"] {
		c.Exec = m.exec
	}
	if set["workers"] {
		c.Workers = m.workers
	}
	if set["queue"] {
		c.Queue = m.queue
	}
	if set["epochs"] {
		c.Epochs = m.epochs
	}
}

// setFlags returns the names of the flags given on the command line.
func setFlags(fs *flag.FlagSet) map[string]bool {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	return set
}
