package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"runtime/trace"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"

	"github.com/dnitrain/dnitrain/data"
	"github.com/dnitrain/dnitrain/engine"
)

func trainCmd(args []string, stdout, stderr io.Writer) (err error) {
	fs := newFlagSet("train", "Trains a model and evaluates it on the test set after every epoch.", stderr)
	var m modelFlags
	m.register(fs)
	dataDir := fs.String("data", "", "folder with the four MNIST-layout files (default: the embedded MNIST)")
	metricsPath := fs.String("metrics", "", "append one JSON object per epoch to this file")
	ckptPath := fs.String("checkpoint", "", "write a checkpoint (safetensors) here after every epoch")
	resumePath := fs.String("resume", "", "continue the run saved in this checkpoint")
	quiet := fs.Bool("quiet", false, "print nothing but errors")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the training epochs here (for go tool pprof)")
	tracePath := fs.String("trace", "", "write an execution trace of the training epochs here (for go tool trace)")
	agreement := fs.Bool("sg-agreement", false, "after every epoch, compare each synthetic gradient with the true gradient, and with --unlock each synthetic input with the real one, on a batch of the test set (cosine, norm ratio; dni, cdni)")
	if err := parse(fs, args); err != nil {
		return err
	}
	// The flags and outputs are checked before the data are loaded, to
	// fail early, and nothing is written to the outputs before training
	// starts.
	outputs := []output{{"checkpoint", *ckptPath}, {"metrics", *metricsPath}, {"cpuprofile", *cpuProfile}, {"trace", *tracePath}}
	inputs := []output{{"resume", *resumePath}}
	if *dataDir != "" {
		for _, path := range data.DirFiles(*dataDir) {
			inputs = append(inputs, output{"data", path})
		}
	}
	if err := checkOutputs(outputs, inputs); err != nil {
		return err
	}
	ck, err := m.start(setFlags(fs), *resumePath, "sg-agreement")
	if err != nil {
		return err
	}
	pair, err := loadData(*dataDir)
	if err != nil {
		return err
	}
	if ck != nil {
		if err := ck.TrainsOn(pair.Train); err != nil {
			return err
		}
	}
	tr, err := newRun(&m, pair, ck)
	if err != nil {
		return err
	}
	defer tr.Network().Close()
	if tr.Done() {
		return usageError{fmt.Sprintf("the run has already trained %s; raise --epochs to continue", count(tr.Epoch(), "epoch"))}
	}
	if err := tr.Trainable(); err != nil { // before any output is opened
		return usageError{err.Error()}
	}
	if *agreement {
		// A comparison that cannot be made fails here, not after an
		// epoch's training; it changes nothing that training reads.
		if _, err := compareSynthetic(tr, pair.Test); err != nil {
			return err
		}
	}
	var metrics *os.File
	if *metricsPath != "" {
		if metrics, err = os.OpenFile(*metricsPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644); err != nil {
			return err
		}
		defer metrics.Close()
	}
	out := stdout
	if *quiet {
		out = io.Discard
	}
	describeRun(out, tr.Network(), pair, tr)

	stopProfiles, err := startProfiles(*cpuProfile, *tracePath)
	if err != nil {
		return err
	}
	defer func() {
		if perr := stopProfiles(); err == nil {
			err = perr
		}
	}()
	ctx, sig := interruptible()
	defer sig.stop()
	bar := newProgress(stderr, *quiet)
	cfg := tr.Network().Config()
	for !tr.Done() {
		bar.startEpoch(tr.Epoch()+1, cfg.Epochs)
		stats, err := tr.RunEpoch(ctx, bar.update)
		bar.clear()
		if err != nil {
			if ctx.Err() != nil && errors.Is(err, context.Canceled) {
				return sig.interrupted(tr, *ckptPath, true)
			}
			return err // a failure, whether or not a signal came too
		}
		ev, err := tr.Evaluate(pair.Test)
		if err != nil {
			return err
		}
		rec := newRecord(cfg, tr, stats, ev)
		var agreementErr error // reported once the epoch is saved
		if *agreement {
			var a agreements
			a, agreementErr = compareSynthetic(tr, pair.Test)
			rec.SGCosine, rec.SGNormRatio = split(a.gradients)
			rec.InputCosine, rec.InputNormRatio = split(a.inputs)
		}
		// A line that cannot be printed (a closed pipe), or written to the
		// metrics, stops the run once the epoch is saved.
		_, printErr := fmt.Fprintln(out, rec.line(cfg.Epochs))
		var metricsErr error
		if metrics != nil {
			if err := rec.append(metrics); err != nil {
				metricsErr = fmt.Errorf("write %s: %w", *metricsPath, pathless(err))
			}
		}
		if *ckptPath != "" {
			if err := tr.Save(*ckptPath); err != nil {
				return both(metricsErr, err)
			}
		}
		if metricsErr != nil {
			return metricsErr
		}
		if agreementErr != nil {
			return agreementErr
		}
		if printErr != nil {
			return fmt.Errorf("write standard output: %w; training stopped after epoch %d", pathless(printErr), rec.Epoch)
		}
		if ctx.Err() != nil { // a signal came at the epoch's end: it is saved
			return sig.interrupted(tr, *ckptPath, false)
		}
	}
	return nil
}

// startProfiles starts writing a CPU profile to cpuPath and an execution
// trace to tracePath, each unless its path is empty, and returns the
// function that stops both and returns the first error in writing either.
func startProfiles(cpuPath, tracePath string) (stop func() error, err error) {
	var stops []func() error
	stop = func() error {
		var first error
		for _, s := range slices.Backward(stops) {
			if err := s(); first == nil {
				first = err
			}
		}
		return first
	}
	for _, p := range []struct {
		path  string
		start func(io.Writer) error
		stop  func()
		what  string
	}{
		{cpuPath, pprof.StartCPUProfile, pprof.StopCPUProfile, "profile"},
		{tracePath, trace.Start, trace.Stop, "trace"},
	} {
		if p.path == "" {
			continue
		}
		f, err := os.Create(p.path)
		if err != nil {
			return nil, both(err, stop())
		}
		w := &stickyWriter{w: f}
		if err := p.start(w); err != nil {
			f.Close()
			return nil, both(fmt.Errorf("%s %s: %w", p.what, p.path, err), stop())
		}
		stops = append(stops, func() error {
			p.stop()
			werr := w.err
			if cerr := f.Close(); werr == nil {
				werr = cerr
			}
			if werr != nil {
				return fmt.Errorf("write %s: %w", p.path, pathless(werr))
			}
			return nil
		})
	}
	return stop, nil
}

// both returns errors a and b, either of which may be nil, as one error
// with a one-line message.
func both(a, b error) error {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	}
	return fmt.Errorf("%w; %w", a, b)
}

// newRun builds a fresh trainer from the flags, or one resumed from the
// checkpoint ck that modelFlags.start returned.
func newRun(m *modelFlags, pair *data.Pair, ck *engine.Checkpoint) (*engine.Trainer, error) {
	if ck == nil {
		cfg, err := m.config(pair.Train)
		if err != nil {
			return nil, err
		}
		net, err := engine.NewNetwork(cfg)
		if err != nil {
			return nil, err
		}
		tr, err := engine.NewTrainer(net, pair.Train)
		if err != nil {
			net.Close()
		}
		return tr, err
	}
	net, err := ck.Network()
	if err != nil {
		return nil, err
	}
	tr, err := engine.NewTrainer(net, pair.Train)
	if err == nil {
		err = tr.Resume(ck)
	}
	if err != nil {
		net.Close()
		return nil, err
	}
	return tr, nil
}

// signals turns SIGINT and SIGTERM into a cancelled context and remembers
// which one came. A second signal kills the process the default way.
type signals struct {
	ch   chan os.Signal
	got  atomic.Value // os.Signal
	stop func()
}

func interruptible() (context.Context, *signals) {
	ctx, cancel := context.WithCancel(context.Background())
	s := &signals{ch: make(chan os.Signal, 1)}
	signal.Notify(s.ch, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case sg := <-s.ch:
			s.got.Store(sg)
			signal.Stop(s.ch)
			cancel()
		case <-done:
		}
	}()
	s.stop = func() { signal.Stop(s.ch); close(done); cancel() }
	return ctx, s
}

// received returns the exit status and the name of the signal received.
func (s *signals) received() (code int, name string) {
	switch sg, _ := s.got.Load().(os.Signal); sg {
	case nil:
		return 0, ""
	case syscall.SIGTERM:
		return exitTerminated, "SIGTERM"
	}
	return exitInterrupted, "SIGINT"
}

// stopped returns err, with the conventional exit status and the signal's
// name when a signal stopped the command.
func (s *signals) stopped(err error) error {
	code, name := s.received()
	if code == 0 {
		return err
	}
	return exitCode{code, fmt.Errorf("stopped by %s: %w", name, err)}
}

// interrupted ends a run stopped by a signal after its current step: it
// writes the checkpoint, if one was asked for and save is set (it is written
// already otherwise), and returns the conventional exit status.
func (s *signals) interrupted(tr *engine.Trainer, ckptPath string, save bool) error {
	code, name := s.received()
	msg := fmt.Sprintf("stopped by %s after step %d", name, tr.Step())
	if ckptPath != "" {
		if save {
			if err := tr.Save(ckptPath); err != nil {
				return exitCode{code, fmt.Errorf("%s; checkpoint not written: %w", msg, err)}
			}
		}
		msg += "; checkpoint written to " + ckptPath + " (continue with --resume)"
	}
	return exitCode{code, errors.New(msg)}
}

// record is one line of the --metrics file.
type record struct {
	Epoch         int     `json:"epoch"`
	Step          int     `json:"step"`
	Mode          string  `json:"mode"`
	TestError     float64 `json:"test_error"`
	TestLoss      float64 `json:"test_loss"`
	TrainLoss     float64 `json:"train_loss"`
	TrainError    float64 `json:"train_error"`
	SGLoss        float64 `json:"sg_loss"`
	Seconds       float64 `json:"seconds"`
	SamplesPerSec float64 `json:"samples_per_sec"`
	Steps         int     `json:"steps"`
	// WorkerBusy is engine.EpochStats.WorkerBusy: async only.
	WorkerBusy []float64 `json:"worker_busy,omitempty"`
	// SGCosine and SGNormRatio are engine.Trainer.SGAgreement's figures,
	// a hidden layer each from the bottom up, and InputCosine and
	// InputNormRatio engine.Trainer.InputAgreement's, a layer each from
	// layer1 up: with --sg-agreement only (the inputs with --unlock).
	SGCosine       []float64 `json:"sg_cosine,omitempty"`
	SGNormRatio    []float64 `json:"sg_norm_ratio,omitempty"`
	InputCosine    []float64 `json:"input_cosine,omitempty"`
	InputNormRatio []float64 `json:"input_norm_ratio,omitempty"`
}

func newRecord(cfg engine.Config, tr *engine.Trainer, s engine.EpochStats, ev engine.Evaluation) record {
	return record{Epoch: s.Epoch, Step: tr.Step(), Mode: string(cfg.Mode), TestError: ev.Error, TestLoss: ev.Loss,
		TrainLoss: s.TrainLoss, TrainError: s.TrainError, SGLoss: s.SGLoss, Seconds: s.Seconds,
		SamplesPerSec: s.SamplesPerSec(), Steps: s.Steps, WorkerBusy: s.WorkerBusy}
}

func (r record) line(epochs int) string {
	l := fmt.Sprintf("epoch %d/%d  train loss %.4f  train error %.2f%%  test error %.2f%%  test loss %.4f",
		r.Epoch, epochs, r.TrainLoss, r.TrainError, r.TestError, r.TestLoss)
	if r.Mode != string(engine.Backprop) {
		l += fmt.Sprintf("  sg loss %.3g", r.SGLoss)
	}
	l += fmt.Sprintf("  %.1fs  %.0f samples/s", r.Seconds, r.SamplesPerSec)
	if len(r.WorkerBusy) > 0 {
		l += "  workers busy"
		for _, b := range r.WorkerBusy {
			l += fmt.Sprintf(" %.0f%%", 100*b)
		}
	}
	if a := r.agreements().String(); a != "" {
		l += "\n" + a
	}
	return l
}

// agreements returns the record's comparisons of synthetic and real
// gradients and inputs.
func (r record) agreements() agreements {
	return agreements{join(r.SGCosine, r.SGNormRatio), join(r.InputCosine, r.InputNormRatio)}
}

func (r record) append(f *os.File) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, err = f.Write(append(b, '\n'))
	return err
}

// An output is a file a flag names for the run to write, or "" for none.
type output struct{ flag, path string }

// checkOutputs checks the outputs of a run before it spends time on
// training: that no two name the same file, that none names one of the
// inputs but the checkpoint, which may name the checkpoint resumed from
// (flag "resume"), and that each can be written: the checkpoint by
// replacing it (checkReplaceable), the others in place (checkOpenable).
func checkOutputs(outs, inputs []output) error {
	for i, o := range outs {
		if o.path == "" {
			continue
		}
		for _, p := range outs[:i] {
			if sameFile(o.path, p.path) {
				return usageError{fmt.Sprintf("--%s and --%s name the same file %s", p.flag, o.flag, o.path)}
			}
		}
		for _, in := range inputs {
			switch {
			case !sameFile(o.path, in.path) || o.flag == "checkpoint" && in.flag == "resume":
			case in.flag == "resume":
				return usageError{fmt.Sprintf("--%s names the checkpoint to resume from, %s", o.flag, o.path)}
			default:
				return usageError{fmt.Sprintf("--%s names a file of the --%s set, %s", o.flag, in.flag, o.path)}
			}
		}
		check := checkOpenable
		if o.flag == "checkpoint" {
			check = checkReplaceable
		}
		if err := check(o.flag, o.path); err != nil {
			return err
		}
	}
	return nil
}

// sameFile reports whether the paths a and b (b may be "") name one file:
// the same path once made absolute, with the links among its folders
// followed, or the same existing file.
func sameFile(a, b string) bool {
	if b == "" {
		return false
	}
	if resolved(a) == resolved(b) {
		return true
	}
	sa, errA := os.Stat(a)
	sb, errB := os.Stat(b)
	return errA == nil && errB == nil && os.SameFile(sa, sb)
}

// resolved returns path made absolute, its folder's symbolic links
// followed where the folder exists.
func resolved(path string) string {
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	if dir, err := filepath.EvalSymlinks(filepath.Dir(path)); err == nil {
		path = filepath.Join(dir, filepath.Base(path))
	}
	return path
}

// checkReplaceable reports, unless path is empty, why the file that flag
// names could not be replaced by a new checkpoint, as Trainer.Save
// replaces one (a temporary file beside it, then renamed): something there
// other than a regular file or a link, a file that is neither empty nor a
// checkpoint (it is kept), or a folder around it that is missing or refuses
// a new file.
func checkReplaceable(flag, path string) error {
	if path == "" {
		return nil
	}
	if st, err := os.Lstat(path); err == nil && !st.Mode().IsRegular() && st.Mode()&os.ModeSymlink == 0 {
		if st.IsDir() {
			return fmt.Errorf("--%s %s is a folder", flag, path)
		}
		return fmt.Errorf("--%s %s is not a regular file", flag, path)
	}
	if st, err := os.Stat(path); err == nil && st.Size() > 0 {
		if err := engine.CheckHeader(path); err != nil {
			why := strings.TrimPrefix(strings.TrimPrefix(err.Error(), "read "), path+": ")
			return usageError{fmt.Sprintf("--%s %s: a run replaces only a checkpoint or an empty file, and this one is not (%s): remove it or name another file", flag, path, why)}
		}
	}
	return checkFolder(flag, path)
}

// checkOpenable reports, unless path is empty, why the file that flag names
// could not be written in place: a named pipe, an existing file that does
// not open for writing (it is not truncated), or else a folder that refuses
// a new file.
func checkOpenable(flag, path string) error {
	if path == "" {
		return nil
	}
	if st, err := os.Lstat(path); err == nil && st.Mode()&os.ModeNamedPipe != 0 {
		// Opened to check it, it would tell its reader that the stream
		// has ended; and with none, opening it waits for one.
		return fmt.Errorf("--%s %s is a named pipe: name a regular file (or /dev/stdout to stream it)", flag, path)
	}
	st, err := os.Stat(path)
	switch {
	case err == nil && st.IsDir():
		return fmt.Errorf("--%s %s is a folder", flag, path)
	case err == nil:
		// Without waiting, should it lead to a pipe with no reader.
		f, err := os.OpenFile(path, os.O_WRONLY|syscall.O_NONBLOCK, 0)
		if err != nil {
			return fmt.Errorf("--%s %s: %w", flag, path, pathless(err))
		}
		return f.Close()
	}
	return checkFolder(flag, path)
}

// checkFolder reports why the folder of path, which flag names, refuses a
// new file: it is missing, or not writable.
func checkFolder(flag, path string) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".dnitrain-check-*")
	if err != nil {
		return fmt.Errorf("--%s %s: cannot create a file in %s: %w", flag, path, dir, pathless(err))
	}
	f.Close()
	return os.Remove(f.Name())
}

// pathless returns the cause of a file operation's error without the path
// and operation, for a message that names the file itself.
func pathless(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
