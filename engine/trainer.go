package engine

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"gorgonia.org/tensor"

	"github.com/dnitrain/dnitrain/data"
	"github.com/dnitrain/dnitrain/fused"
	"github.com/dnitrain/dnitrain/kernels"
)

// Trainer drives a network through epochs of a training set. Its only
// progress state is the number of steps taken: the order of every epoch is
// derived from the seed and the epoch number, so a run resumed from a
// checkpoint sees exactly the batches an uninterrupted one would.
//
// A Trainer is not safe for concurrent use: one goroutine at a time calls
// its methods (an asynchronous epoch runs its own workers inside RunEpoch).
// While RunEpoch trains, its other methods that read or change the network
// refuse to run (from RunEpoch's onStep, say).
type Trainer struct {
	net   *Network
	train *data.Set
	step  int
	// running is set while RunEpoch trains.
	running bool
	// batches caches the input buffers of each batch size, allocated once,
	// in two sets: batch k is filled in set k%2, so that the next batch can
	// be filled while a step reads the current one.
	batches [2]map[int]*batch
	// others caches the buffers of evaluations and comparisons, each
	// filled before it is read, one call at a time (otherBuffers).
	others map[int]*batch
	// order is the current epoch's permutation of the training set.
	order      []int
	orderEpoch int
}

// batch holds the tensors fed to the network for one batch size.
type batch struct {
	x, labels *tensor.Dense // inputs and one-hot labels
	classes   []uint8       // the labels as class indices
}

// NewTrainer returns a trainer for net on the training set train, which
// must pass data.Set.Check, be non-empty, have the network's inputs per
// sample, and no more classes than it has outputs. Evaluate and Predict ask
// the same of their sets. The trainer reads train as it trains: the set
// must not change while the trainer is in use. A network trains with one
// trainer at a time.
func NewTrainer(net *Network, train *data.Set) (*Trainer, error) {
	if net == nil {
		return nil, fmt.Errorf("no network")
	}
	if err := checkSet(net.cfg, train); err != nil {
		return nil, err
	}
	return &Trainer{net: net, train: train, batches: [2]map[int]*batch{{}, {}}, others: map[int]*batch{}, orderEpoch: -1}, nil
}

func checkSet(cfg Config, s *data.Set) error {
	if err := s.Check(); err != nil {
		return err
	}
	if s.Features() != cfg.Inputs {
		return fmt.Errorf("%s set has %d features per sample (%d×%d), the model expects %d", s.Name, s.Features(), s.Rows, s.Cols, cfg.Inputs)
	}
	if s.Classes > cfg.Classes {
		return fmt.Errorf("%s set has %d classes, the model has %d outputs", s.Name, s.Classes, cfg.Classes)
	}
	if s.N == 0 {
		return fmt.Errorf("%s set is empty", s.Name)
	}
	return nil
}

// Network returns the network being trained.
func (t *Trainer) Network() *Network { return t.net }

// Step returns the number of training steps taken so far.
func (t *Trainer) Step() int { return t.step }

// StepsPerEpoch returns the number of batches in one epoch (the last one may
// be smaller than the batch size).
func (t *Trainer) StepsPerEpoch() int { return (t.train.N + t.net.cfg.Batch - 1) / t.net.cfg.Batch }

// Epoch returns the number of completed epochs.
func (t *Trainer) Epoch() int { return t.step / t.StepsPerEpoch() }

// Done reports whether the configured number of epochs has been trained.
func (t *Trainer) Done() bool { return t.Epoch() >= t.net.cfg.Epochs }

// EpochStats summarises the training steps of one epoch.
type EpochStats struct {
	Epoch      int     // 1-based number of the epoch
	Steps      int     // steps run in this call (fewer than an epoch after a resume)
	Samples    int     // samples those steps saw
	TrainLoss  float64 // mean cross-entropy over those steps' samples
	TrainError float64 // percent of those samples misclassified before their update
	SGLoss     float64 // mean synthesizer L2 loss (0 in bprop)
	Seconds    float64 // wall time of the training steps
	// WorkerBusy holds, with async execution, each worker's share of
	// Seconds spent other than waiting for a batch, a target or a free
	// buffer (and for a free place, kernels.Cores, after such a wait), or
	// done with the epoch before the others, from the bottom worker up: how
	// evenly the layers are shared out (nil in sync). A worker waiting for
	// its own finisher's job counts as busy.
	WorkerBusy []float64
}

// SamplesPerSec returns the training throughput.
func (s EpochStats) SamplesPerSec() float64 { return float64(s.Samples) / s.Seconds }

// Progress is reported after every step of RunEpoch.
type Progress struct {
	Step, Steps int     // steps of this epoch done, and in all
	Loss        float64 // mean loss of the epoch so far
	Samples     int     // samples seen in this epoch so far
	Elapsed     time.Duration
}

// Trainable returns the reason RunEpoch would refuse to train, or nil:
// the run has trained all its epochs, or the model has batch norm and the
// training set's last batch would hold one sample.
func (t *Trainer) Trainable() error {
	if t.Done() {
		return fmt.Errorf("the run has trained all its %d epochs (raise Config.Epochs to go on)", t.net.cfg.Epochs)
	}
	if t.train.N%t.net.cfg.Batch == 1 && t.net.cfg.batchNormed() {
		return fmt.Errorf("the %d training samples leave a last batch of one sample, which batch norm normalises to zero: use another batch size", t.train.N)
	}
	return nil
}

// RunEpoch trains the remaining steps of the current epoch. It stops early,
// between steps, when ctx is cancelled, returning ctx's error with the stats
// so far. onStep, when not nil, is called after every step. It refuses to
// train past the configured epochs, and, for a model with batch norm, a
// training set whose last batch would hold one sample.
func (t *Trainer) RunEpoch(ctx context.Context, onStep func(Progress)) (_ EpochStats, err error) {
	if err := t.idle("RunEpoch"); err != nil {
		return EpochStats{}, err
	}
	if err := t.Trainable(); err != nil {
		return EpochStats{}, err
	}
	t.running = true
	defer func() { t.running = false }()
	if t.net.cfg.Exec == ExecAsync {
		return t.runEpochAsync(ctx, onStep)
	}
	per := t.StepsPerEpoch()
	epoch := t.Epoch()
	end := (epoch + 1) * per
	stats := EpochStats{Epoch: epoch + 1}
	var lossSum, sgSum float64
	var wrong int
	start := time.Now()
	var loader *loader
	if t.net.fillParts == nil {
		loader = t.startLoader(epoch)
		defer loader.stop()
		loader.want <- t.step % per // t.step < end: the epoch is not done
	}
	f, stop := t.startSyncFinisher()
	defer func() {
		if ferr := stop(); err == nil && ferr != nil {
			err = ferr // it names its step
		}
		err = t.net.explain(err)
	}()
	for t.step < end {
		if err := ctx.Err(); err != nil {
			return t.finish(stats, lossSum, sgSum, wrong, start), err
		}
		var b *batch
		if loader == nil {
			b = t.fillInParts(epoch, t.step%per)
		} else {
			b = <-loader.got
			if t.step+1 < end {
				loader.want <- (t.step + 1) % per // filled while this step runs
			}
		}
		res, err := t.net.trainStep(f, b.x, b.labels, t.step)
		if err != nil {
			return t.finish(stats, lossSum, sgSum, wrong, start), atStep(t.step, err)
		}
		n := len(b.classes)
		t.step++
		stats.Steps++
		stats.Samples += n
		lossSum += res.loss * float64(n)
		sgSum += res.sgLoss
		wrong += countWrong(res.logits, b.classes)
		if onStep != nil {
			onStep(Progress{Step: t.step - epoch*per, Steps: per, Loss: lossSum / float64(stats.Samples), Samples: stats.Samples, Elapsed: time.Since(start)})
		}
	}
	return t.finish(stats, lossSum, sgSum, wrong, start), nil
}

// idle returns an error naming the method verb when RunEpoch is training:
// its steps may still be computing, on other goroutines, what the method
// would read or change.
func (t *Trainer) idle(verb string) error {
	if t.running {
		return fmt.Errorf("%s called while RunEpoch trains (from its onStep?): call it between epochs", verb)
	}
	return nil
}

// startSyncFinisher returns the finisher of the synchronous loop, and stop,
// which waits for its last jobs and returns their first error. The loop
// holds a place of the network's cores from now until stop.
//
// In the decoupled modes, with two or more places, the loop leaves the
// weight gradients and updates to a finisher (as the async workers do): a
// layer's update is not needed until its next forward pass, nor a
// synthesizer's until its next prediction, so they overlap the layers
// above. Where the synthesizers outweigh the layers (DNI's), the finisher
// takes the lower layers' whole steps instead (Network.overlappedStep). The
// results are the same bit for bit. Backprop and BP(λ) gain nothing from
// it (each layer's update is on the way to its next forward pass), and
// neither do one place or modules that compute in parts of rows, but for
// the overlapped step (Network.syncFinisher): f is then nil.
func (t *Trainer) startSyncFinisher() (f *finisher, stop func() error) {
	n := t.net
	n.cores.Acquire()
	if !n.syncFinisher() {
		return nil, func() error { n.cores.Release(1); return nil }
	}
	f = startFinisher(n, false)
	return f, func() error {
		err := f.stop()
		n.cores.Release(1)
		return err
	}
}

func (t *Trainer) finish(s EpochStats, lossSum, sgSum float64, wrong int, start time.Time) EpochStats {
	s.Seconds = time.Since(start).Seconds()
	if s.Samples > 0 {
		s.TrainLoss = lossSum / float64(s.Samples)
		s.TrainError = 100 * float64(wrong) / float64(s.Samples)
		s.SGLoss = sgSum / float64(s.Steps)
	}
	return s
}

// loader fills batches on a goroutine of its own, so that a step's input is
// ready when the step before it ends. At most one batch is asked for at a
// time, and each is read from got before the next is asked for.
type loader struct {
	want chan int    // the batch to fill next
	got  chan *batch // filled batches
	done chan struct{}
}

// startLoader starts a loader of the batches of epoch e.
func (t *Trainer) startLoader(e int) *loader {
	l := &loader{want: make(chan int, 1), got: make(chan *batch, 1), done: make(chan struct{})}
	go func() {
		defer close(l.done)
		for k := range l.want {
			l.got <- t.loadBatch(e, k)
		}
	}()
	return l
}

// fillInParts fills batch k of epoch e on the loop's goroutines, in the
// parts of rows in which the network's modules compute it
// (fused.Options.Parts), each part on the goroutine that computes it
// first: the rows of the input are then in that core's cache. The sync
// loop does this when its modules compute in parts on two or more threads:
// a loader goroutine, running beside them, takes a core from a goroutine
// that the others then wait for at the next sum over the batch. Two-thread
// backprop ran at 189,700–229,000 samples/s with the loader and at
// 222,200–231,600 with the loop filling each batch alone (3 interleaved
// runs of --mode bprop --epochs 3); filling in parts spreads that work too.
func (t *Trainer) fillInParts(e, k int) *batch {
	idx := t.batchSamples(e, k)
	b := t.buffers(t.batches[k%2], len(idx))
	fp := t.net.fillParts
	fp.b, fp.set, fp.idx, fp.cfg = b, t.train, idx, t.net.cfg
	fp.parts = fp.opts.Parts(len(idx))
	fp.gemm.Shards(fp.parts, fp)
	return b
}

// partFiller fills a batch in parts of its rows (a kernels.Sharder).
type partFiller struct {
	opts  fused.Options // of the network's modules
	gemm  *kernels.Gemm // Shards on their goroutines
	parts int
	b     *batch
	set   *data.Set
	idx   []int
	cfg   Config
}

func (f *partFiller) Shard(p int) {
	lo, hi := kernels.ShardRange(len(f.idx), 1, p, f.parts)
	fillRows(f.b, f.set, f.idx, lo, hi, f.cfg)
}

// stop ends the loader's goroutine, after the batch it may be filling.
func (l *loader) stop() {
	close(l.want)
	<-l.done
}

// loadBatch fills the buffers for batch k of epoch e, in buffer set k%2.
func (t *Trainer) loadBatch(e, k int) *batch {
	idx := t.batchSamples(e, k)
	b := t.buffers(t.batches[k%2], len(idx))
	fillBatch(b, t.train, idx, t.net.cfg)
	return b
}

// batchSamples returns the training samples of batch k of epoch e, in
// order.
func (t *Trainer) batchSamples(e, k int) []int {
	if e != t.orderEpoch {
		// A fresh stream per epoch: the order depends on (seed, epoch) only.
		rng := rand.New(rand.NewPCG(t.net.cfg.Seed, uint64(1000+e)))
		if len(t.order) != t.train.N {
			t.order = make([]int, t.train.N)
		}
		for i := range t.order {
			t.order[i] = i
		}
		rng.Shuffle(len(t.order), func(i, j int) { t.order[i], t.order[j] = t.order[j], t.order[i] })
		t.orderEpoch = e
	}
	lo := k * t.net.cfg.Batch
	return t.order[lo:min(lo+t.net.cfg.Batch, t.train.N)]
}

func (t *Trainer) buffers(cache map[int]*batch, size int) *batch {
	if b, ok := cache[size]; ok {
		return b
	}
	cfg := t.net.cfg
	b := &batch{
		x:       t.net.host.matrix(size, cfg.Inputs),
		labels:  t.net.host.matrix(size, cfg.Classes),
		classes: make([]uint8, size),
	}
	cache[size] = b
	return b
}

// otherBuffers returns the buffers of size samples for an evaluation or a
// comparison, which use them one at a time: rows of the largest such
// buffers made so far when those hold enough, so that sets of many sizes
// take no more memory than the largest batch.
func (t *Trainer) otherBuffers(size int) *batch {
	if b, ok := t.others[size]; ok {
		return b
	}
	most := 0
	for n := range t.others {
		most = max(most, n)
	}
	if most < size {
		return t.buffers(t.others, size)
	}
	big := t.others[most]
	rows := func(m *tensor.Dense) *tensor.Dense {
		cols := m.Shape()[1]
		return tensor.New(tensor.WithShape(size, cols), tensor.WithBacking(m.Float32s()[:size*cols]))
	}
	b := &batch{x: rows(big.x), labels: rows(big.labels), classes: big.classes[:size]}
	t.others[size] = b
	return b
}

// InputStats returns the mean and standard deviation of all the inputs of
// s, for Config.InputMean and InputStd: 0 and 1 for a set without inputs
// (or nil).
func InputStats(s *data.Set) (mean, std float64) {
	if s == nil || len(s.Pixels) == 0 {
		return 0, 1
	}
	var sum, sq float64
	for _, p := range s.Pixels {
		v := float64(data.PixelValue(p))
		sum += v
		sq += v * v
	}
	n := float64(len(s.Pixels))
	mean = sum / n
	return mean, math.Sqrt(max(sq/n-mean*mean, 0))
}

// fillBatch copies the samples idx of s into b, standardised: each pixel
// byte becomes (PixelValue(p) − mean)/std, computed as kernels.ScaleBytes
// does, eight bytes at a time: the same bits as a table of the 256 values
// looked up one pixel at a time. The samples lie at random in memory, so
// fillBatch asks for the cache lines of each sample fillAhead samples
// before it copies it (kernels.Prefetch), and of the first fillAhead at
// the start: the lines are on their way together, and in the cache when
// their turn comes. BenchmarkFillBatch: 126 µs a batch with the table and
// no read-ahead, 79 with ScaleBytes and loads of a byte of each line 8
// samples ahead (which wait for the line, and hold up what follows), 36
// with prefetches.
func fillBatch(b *batch, s *data.Set, idx []int, cfg Config) {
	fillRows(b, s, idx, 0, len(idx), cfg)
}

// fillRows is fillBatch for rows lo..hi of the batch alone, samples
// idx[lo:hi].
func fillRows(b *batch, s *data.Set, idx []int, lo, hi int, cfg Config) {
	x := b.x.Float32s() // Data() would allocate on every call
	y := b.labels.Float32s()
	f, c := s.Features(), b.labels.Shape()[1]
	clear(y[lo*c : hi*c])
	mean, inv := float32(cfg.InputMean), float32(1/cfg.InputStd)
	for _, i := range idx[lo:min(lo+fillAhead, hi)] {
		kernels.Prefetch(s.Image(i))
	}
	for r := lo; r < hi; r++ {
		i := idx[r]
		if r+fillAhead < hi {
			kernels.Prefetch(s.Image(idx[r+fillAhead]))
		}
		kernels.ScaleBytes(x[r*f:], s.Image(i), data.PixelMax, mean, inv)
		b.classes[r] = s.Labels[i]
		y[r*c+int(s.Labels[i])] = 1
	}
}

// fillAhead is how many samples ahead fillBatch asks for: with prefetches,
// BenchmarkFillBatch took 36 µs a batch with 4, 35 with 6, 36 with 8, 39
// with 16 and 43 with 32 (medians of 3).
const fillAhead = 8

// countWrong counts the rows whose largest logit is not the label's.
func countWrong(logits *tensor.Dense, classes []uint8) int {
	wrong := 0
	for r, label := range classes {
		if argmax(logits, r) != int(label) {
			wrong++
		}
	}
	return wrong
}

// argmax returns the class of the largest logit of row r (the first of
// equals).
func argmax(logits *tensor.Dense, r int) int {
	c := logits.Shape()[1]
	row := logits.Float32s()[r*c : (r+1)*c]
	best := 0
	for j, x := range row {
		if x > row[best] {
			best = j
		}
	}
	return best
}

// Evaluation is a model's loss and error rate on a data set.
type Evaluation struct {
	Loss  float64 // mean cross-entropy
	Error float64 // percent misclassified
	N     int     // samples
}

// Evaluate runs the network in inference mode over all of s.
func (t *Trainer) Evaluate(s *data.Set) (Evaluation, error) {
	var lossSum float64
	var wrong int
	err := t.infer(s, "evaluate", func(b *batch, loss float64, logits *tensor.Dense) {
		lossSum += loss * float64(len(b.classes))
		wrong += countWrong(logits, b.classes)
	})
	if err != nil {
		return Evaluation{}, err
	}
	return Evaluation{Loss: lossSum / float64(s.N), Error: 100 * float64(wrong) / float64(s.N), N: s.N}, nil
}

// Predict runs the network in inference mode over all of s and returns the
// class it predicts for each sample (the largest logit). The set's labels
// are not used but must be valid (data.Set.Check): zeros will do.
func (t *Trainer) Predict(s *data.Set) ([]int, error) {
	var classes []int // infer goes through the batches in order
	err := t.infer(s, "predict", func(b *batch, _ float64, logits *tensor.Dense) {
		for r := range b.classes {
			classes = append(classes, argmax(logits, r))
		}
	})
	if err != nil {
		return nil, err
	}
	return classes, nil
}

// infer runs the network in inference mode over s, batch after batch of at
// most EvalBatch samples in order, and hands each batch's loss and logits
// to use; verb names the caller in errors.
func (t *Trainer) infer(s *data.Set, verb string, use func(b *batch, loss float64, logits *tensor.Dense)) error {
	if err := t.idle(verb); err != nil {
		return err
	}
	if err := checkSet(t.net.cfg, s); err != nil {
		return err
	}
	idx := make([]int, s.N)
	for i := range idx {
		idx[i] = i
	}
	for lo := 0; lo < s.N; lo += t.net.cfg.EvalBatch {
		hi := min(lo+t.net.cfg.EvalBatch, s.N)
		b := t.otherBuffers(hi - lo)
		fillBatch(b, s, idx[lo:hi], t.net.cfg)
		loss, logits, err := t.net.evaluate(b.x, b.labels)
		if err != nil {
			return fmt.Errorf("%s %s set: %w", verb, s.Name, err)
		}
		use(b, loss, logits)
	}
	return nil
}
