package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/dnitrain/dnitrain/data"
	"github.com/dnitrain/dnitrain/engine"
)

// Profile sizes a run of the suite.
type Profile struct {
	Name       string
	TrainN     int // training samples used (0: all)
	TestN      int // test samples used (0: all)
	Epochs     int // epochs of each learning curve
	TableEpoch int // epochs of each paper-table run
	Rounds     int // rounds of the throughput runs, every set-up once a round
	// Budgets are the training-time budgets (evaluations not counted) of
	// the async-against-sync runs, from one still early on the learning
	// curve to one where it has flattened.
	Budgets []time.Duration
}

// The profiles: Quick checks that everything runs, in under half a minute
// on two cores; Full makes the README's figures.
var (
	Quick = Profile{Name: "quick", TrainN: 5120, TestN: 2000, Epochs: 2, TableEpoch: 1, Rounds: 3, Budgets: []time.Duration{time.Second, 3 * time.Second}}
	Full  = Profile{Name: "full", Epochs: 10, TableEpoch: 3, Rounds: 5, Budgets: []time.Duration{5 * time.Second, 10 * time.Second, 30 * time.Second}}
)

// Options configure a run of the suite.
type Options struct {
	Profile Profile
	Data    *data.Pair
	Device  string    // where every network trains: "cpu" (or empty) or "cuda:N"
	Log     io.Writer // progress lines; nil for none
	// Sections are the parts of the suite to run, from Sections (nil: all
	// of them), in any order: Run takes them as ParseSections does.
	Sections []string
}

// Sections are the parts of the suite, in the order they run: the
// learning curves, the throughput runs, the async-against-sync check
// (which reads the throughput runs) and the paper's table.
var Sections = []string{"curves", "throughput", "async", "table"}

// ParseSections returns the sections that a comma-separated list names,
// each once, in the order of Sections, with the throughput runs added where
// the async check needs them; "" or "all" (alone) gives them all.
func ParseSections(list string) ([]string, error) {
	if list = strings.TrimSpace(list); list == "" || list == "all" {
		return slices.Clone(Sections), nil
	}
	want := map[string]bool{}
	for _, name := range strings.Split(list, ",") {
		name = strings.TrimSpace(name)
		if !slices.Contains(Sections, name) {
			return nil, fmt.Errorf("unknown section %q (want %s, or all)", name, strings.Join(Sections, ", "))
		}
		want[name] = true
	}
	if want["async"] {
		want["throughput"] = true
	}
	var out []string
	for _, name := range Sections {
		if want[name] {
			out = append(out, name)
		}
	}
	return out, nil
}

// Report is everything the suite measured.
type Report struct {
	Profile string    `json:"profile"`
	Started time.Time `json:"started"`
	CPUs    int       `json:"cpus"`
	Device  string    `json:"device"`
	Data    string    `json:"data"`
	// Cores is each CPU's speed alone, at the start and the end (Linux
	// only; empty elsewhere or when it could not be measured).
	Cores    []CoreSpeed `json:"cores,omitempty"`
	Sections []string    `json:"sections"` // those that ran, or began to
	// Incomplete says why the suite stopped before the end of its
	// sections, and is empty when it did not: the report then holds what
	// was measured before that.
	Incomplete string       `json:"incomplete,omitempty"`
	Curves     []Curve      `json:"curves"`
	Throughput []Throughput `json:"throughput"`
	Async      *AsyncCheck  `json:"async,omitempty"`
	Table      []TableRow   `json:"table"`
	Seconds    float64      `json:"seconds"`
	log        io.Writer
	pair       *data.Pair
	profile    Profile
}

// Curve is the test error of one configuration after every epoch.
type Curve struct {
	Name   string  `json:"name"`
	Points []Point `json:"points"`
	// PeakHeapMiB is the most memory the Go heap held for the run: its
	// network, buffers and optimizer state, above what was live before
	// it (the data set among it), sampled every heapSampleEvery; the
	// buffers of the evaluations and of the gradient comparisons count
	// too.
	PeakHeapMiB float64 `json:"peak_heap_mib"`
}

// Point is one evaluation of a curve.
type Point struct {
	Epoch     int     `json:"epoch"`
	Step      int     `json:"step"`
	Seconds   float64 `json:"seconds"` // training time so far
	TestError float64 `json:"test_error"`
	// SGCosine is, in the decoupled modes, the cosine between each hidden
	// layer's synthetic and true gradient (engine.Trainer.SGAgreement),
	// from the bottom up.
	SGCosine []float64 `json:"sg_cosine,omitempty"`
	// InputCosine is, with unlocked inputs, the cosine between each layer's
	// synthetic input and the real output of the layer below
	// (engine.Trainer.InputAgreement), from the second layer up.
	InputCosine []float64 `json:"input_cosine,omitempty"`
}

// Throughput is the training speed of one execution set-up: one epoch in
// each round of the suite's throughput runs, the set-ups taking turns, so
// that a change in the machine's load falls on all of them.
//
// The set-up with Jobs set is not one network but Jobs separate ones, each
// training its own epoch in the synchronous loop on Threads threads, all at
// once: their combined samples/s is what the machine's cores give to work
// that shares nothing, the most that Jobs workers could reach on them.
type Throughput struct {
	Name          string    `json:"name"`
	Exec          string    `json:"exec"`
	Workers       int       `json:"workers"`
	Threads       int       `json:"threads"`
	Jobs          int       `json:"jobs,omitempty"`  // separate networks at once; 0 for one
	SamplesPerSec float64   `json:"samples_per_sec"` // the median round's
	TestError     float64   `json:"test_error"`      // after the median round's epoch
	Rounds        []float64 `json:"rounds_samples_per_sec"`
	// WorkerBusy is the median round's engine.EpochStats.WorkerBusy: async
	// only.
	WorkerBusy []float64 `json:"worker_busy,omitempty"`
}

// AsyncCheck compares asynchronous and synchronous execution of cDNI with 4
// layers: throughput and test error after one epoch, and test error after
// equal budgets of training time.
type AsyncCheck struct {
	SpeedupThreads1   float64 `json:"speedup_vs_sync_threads1"`    // async 2 workers ×1 thread over sync ×1 thread
	SpeedupThreadsAll float64 `json:"speedup_vs_sync_threads_all"` // over sync with every CPU in its kernels
	// OfSeparateJobs is async's throughput over that of two separate
	// one-thread jobs at once (Throughput.Jobs), and SeparateJobs theirs
	// over one alone: how much of what the cores give two workers async
	// reaches, and what they give. 0 with one CPU.
	OfSeparateJobs float64 `json:"async_over_separate_jobs,omitempty"`
	SeparateJobs   float64 `json:"separate_jobs_over_sync_threads1,omitempty"`
	// The same ratios round by round (each round's set-ups ran one after
	// the other): their spread is how much the run's noise moves them.
	RoundsThreads1    []float64 `json:"rounds_speedup_vs_sync_threads1,omitempty"`
	RoundsThreadsAll  []float64 `json:"rounds_speedup_vs_sync_threads_all,omitempty"`
	RoundsSeparateJob []float64 `json:"rounds_async_over_separate_jobs,omitempty"`
	// Scaling is the throughput of async with 1, 2, … workers (1 thread
	// each) over that with one: the curve that the workers' scaling
	// target reads; RoundsScaling2 is its value for 2 workers round by
	// round.
	Scaling        []float64     `json:"scaling_over_one_worker,omitempty"`
	RoundsScaling2 []float64     `json:"rounds_two_workers_over_one,omitempty"`
	ErrorAsync     float64       `json:"error_async_one_epoch"`
	ErrorSync      float64       `json:"error_sync_one_epoch"`
	Budgets        []BudgetCheck `json:"budgets"`
}

// BudgetCheck is the test error of async (2 workers × 1 thread) and of sync
// (1 thread) after training for the same wall time, each in a run of its
// own that stops when the budget is spent. RecentAsync and RecentSync are
// the least and the greatest test error of each run's last recentEvals
// evaluations (one after each epoch, the last where the budget ran out):
// how far a run's error still moves, falling early in a run and swinging
// from epoch to epoch once it has reached its floor, against which the
// difference between the two reads.
type BudgetCheck struct {
	Seconds     float64    `json:"seconds"`
	ErrorAsync  float64    `json:"error_async"`
	ErrorSync   float64    `json:"error_sync"`
	StepsAsync  int        `json:"steps_async"`
	StepsSync   int        `json:"steps_sync"`
	RecentAsync [2]float64 `json:"recent_error_range_async"`
	RecentSync  [2]float64 `json:"recent_error_range_sync"`
}

// recentEvals is how many of a budget run's last evaluations BudgetCheck's
// ranges cover.
const recentEvals = 5

// errorRange returns the least and the greatest test error of the last n
// points (all of them, when there are fewer).
func errorRange(points []Point, n int) [2]float64 {
	points = points[max(0, len(points)-n):]
	r := [2]float64{points[0].TestError, points[0].TestError}
	for _, p := range points[1:] {
		r[0], r[1] = min(r[0], p.TestError), max(r[1], p.TestError)
	}
	return r
}

// TableRow is one cell group of the paper-table reproduction.
type TableRow struct {
	Layers    int     `json:"layers"`
	Mode      string  `json:"mode"`
	Epochs    int     `json:"epochs"`
	TestError float64 `json:"test_error"`
	Paper     float64 `json:"paper_test_error"` // 0 when the paper gives none
	// SGCosine is the last Point's: the decoupled modes' agreement of
	// synthetic and true gradients, a hidden layer each from the bottom.
	SGCosine []float64 `json:"sg_cosine,omitempty"`
}

// Run runs the suite's sections (o.Sections, or all of them). When one
// fails or ctx is cancelled, it returns the error with the report of what
// was measured before, its Incomplete saying where it stopped.
func Run(ctx context.Context, o Options) (*Report, error) {
	p := o.Profile
	pair := &data.Pair{Train: o.Data.Train.Head(orAll(p.TrainN, o.Data.Train.N)), Test: o.Data.Test.Head(orAll(p.TestN, o.Data.Test.N)), Source: o.Data.Source}
	device := o.Device
	if device == "" {
		device = "cpu"
	}
	r := &Report{Profile: p.Name, Started: time.Now(), CPUs: runtime.GOMAXPROCS(0), Device: device, log: o.Log, pair: pair, profile: p,
		Data: fmt.Sprintf("%s: %d training, %d test samples", pair.Source, pair.Train.N, pair.Test.N)}
	sections, err := ParseSections(strings.Join(o.Sections, ","))
	if err != nil {
		return r, err
	}
	steps := map[string]func(context.Context) error{"curves": r.curves, "throughput": r.throughput, "async": r.asyncCheck, "table": r.table}
	r.probeCores(false)
	for _, name := range sections {
		step := steps[name]
		r.Sections = append(r.Sections, name)
		if err := step(ctx); err != nil {
			r.Incomplete = fmt.Sprintf("%s: %v", name, err)
			r.Seconds = time.Since(r.Started).Seconds()
			return r, err
		}
	}
	r.probeCores(true)
	r.Seconds = time.Since(r.Started).Seconds()
	return r, nil
}

func orAll(n, all int) int {
	if n <= 0 {
		return all
	}
	return n
}

func (r *Report) logf(format string, args ...any) {
	if r.log != nil {
		fmt.Fprintf(r.log, format+"\n", args...)
	}
}

// config returns the suite's base configuration: the CLI's defaults on the
// suite's data.
func (r *Report) config(mode engine.Mode, layers int) engine.Config {
	c := engine.DefaultConfig(r.pair.Train.Features(), r.pair.Train.Classes)
	c.InputMean, c.InputStd = engine.InputStats(r.pair.Train)
	c.Mode, c.Layers, c.Device = mode, layers, r.Device
	if mode == engine.DNI {
		c.SGHidden = 2
	}
	return c
}

// train runs cfg for its epochs, evaluating after each, and returns the
// points (the last one's Step is the steps taken) and the run's peak heap
// in MiB (see Curve). A non-zero budget stops training when it is spent.
func (r *Report) train(ctx context.Context, cfg engine.Config, budget time.Duration) (points []Point, peakMiB float64, err error) {
	heap := startHeapPeak()
	defer func() { peakMiB = heap.Stop() }()
	net, err := engine.NewNetwork(cfg)
	if err != nil {
		return nil, 0, err
	}
	defer net.Close()
	tr, err := engine.NewTrainer(net, r.pair.Train)
	if err != nil {
		return nil, 0, err
	}
	var seconds float64
	for !tr.Done() {
		ectx, cancel := ctx, context.CancelFunc(func() {})
		if budget > 0 {
			ectx, cancel = context.WithTimeout(ctx, budget-time.Duration(seconds*float64(time.Second)))
		}
		stats, err := tr.RunEpoch(ectx, nil)
		cancel()
		seconds += stats.Seconds
		outOfTime := budget > 0 && errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil
		if err != nil && !outOfTime {
			return nil, 0, err
		}
		if outOfTime && stats.Steps == 0 && len(points) > 0 {
			break // the budget ran out with the last epoch: no new point
		}
		ev, err := tr.Evaluate(r.pair.Test)
		if err != nil {
			return nil, 0, err
		}
		pt := Point{Epoch: stats.Epoch, Step: tr.Step(), Seconds: seconds, TestError: ev.Error}
		if cfg.Mode.Decoupled() && budget == 0 { // a budget run keeps its error alone
			a, err := tr.SGAgreement(r.pair.Test)
			if err != nil {
				return nil, 0, err
			}
			pt.SGCosine = cosinesOf(a)
		}
		if cfg.Unlock && budget == 0 {
			a, err := tr.InputAgreement(r.pair.Test)
			if err != nil {
				return nil, 0, err
			}
			pt.InputCosine = cosinesOf(a)
		}
		points = append(points, pt)
		if outOfTime {
			break
		}
	}
	return points, 0, nil
}

// cosinesOf returns the cosines of a.
func cosinesOf(a []engine.Agreement) []float64 {
	c := make([]float64, len(a))
	for i, x := range a {
		c[i] = x.Cosine
	}
	return c
}

// curves records test error against steps and time for each mode, and for
// asynchronous cDNI.
func (r *Report) curves(ctx context.Context) error {
	type run struct {
		name string
		cfg  engine.Config
	}
	var runs []run
	for _, m := range []engine.Mode{engine.Backprop, engine.DNI, engine.CDNI} {
		runs = append(runs, run{string(m), r.config(m, 3)})
	}
	async := r.config(engine.CDNI, 3)
	async.Exec, async.Workers, async.Threads = engine.ExecAsync, 2, 1
	runs = append(runs, run{"cdni async (2 workers)", async})
	unlock := async
	unlock.Unlock = true
	runs = append(runs, run{"cdni async unlocked (2 workers)", unlock})
	for _, rn := range runs {
		rn.cfg.Epochs = r.profile.Epochs
		points, peak, err := r.train(ctx, rn.cfg, 0)
		if err != nil {
			return fmt.Errorf("curve %s: %w", rn.name, err)
		}
		r.Curves = append(r.Curves, Curve{Name: rn.name, Points: points, PeakHeapMiB: peak})
		last := points[len(points)-1]
		r.logf("curve %-24s %d epochs  %.1fs  test error %.2f%%  peak heap %.1f MiB", rn.name, last.Epoch, last.Seconds, last.TestError, peak)
	}
	return nil
}

// throughput measures one epoch of 4-layer cDNI under each execution
// set-up, in rounds, and keeps each set-up's median round.
func (r *Report) throughput(ctx context.Context) error {
	cpus := runtime.GOMAXPROCS(0)
	setups := []Throughput{{Name: "sync, 1 thread", Exec: engine.ExecSync, Threads: 1}}
	if cpus > 1 {
		setups = append(setups, Throughput{Name: fmt.Sprintf("sync, %d threads", cpus), Exec: engine.ExecSync, Threads: cpus})
	}
	for w := 1; w <= max(2, cpus)+1 && w <= 4; w++ {
		name := fmt.Sprintf("async, %d workers", w)
		if w == 1 {
			name = "async, 1 worker"
		}
		setups = append(setups, Throughput{Name: name, Exec: engine.ExecAsync, Workers: w, Threads: 1})
	}
	if cpus > 1 {
		setups = append(setups, Throughput{Name: "sync, 2 separate jobs of 1 thread", Exec: engine.ExecSync, Workers: 1, Threads: 1, Jobs: 2})
	}
	errs := make([][]float64, len(setups))   // test errors, by set-up and round
	busy := make([][][]float64, len(setups)) // workers busy, by set-up and round
	// The set-ups' medians go into the report when the rounds end, and when
	// they stop early, over the rounds that every set-up completed.
	defer func() {
		done := len(setups[len(setups)-1].Rounds)
		if done == 0 {
			return
		}
		for k, s := range setups {
			s.Rounds = s.Rounds[:done]
			i := medianIndex(s.Rounds)
			s.SamplesPerSec, s.TestError, s.WorkerBusy = s.Rounds[i], errs[k][i], busy[k][i]
			r.Throughput = append(r.Throughput, s)
		}
	}()
	for round := 1; round <= max(1, r.profile.Rounds); round++ {
		for k := range setups {
			s := &setups[k]
			cfg := r.config(engine.CDNI, 4)
			cfg.Exec, cfg.Workers, cfg.Threads, cfg.Epochs = s.Exec, s.Workers, s.Threads, 1
			if s.Exec == engine.ExecSync {
				s.Workers = 1
			}
			stats, ev, err := r.epochs(ctx, cfg, max(1, s.Jobs))
			if err != nil {
				return fmt.Errorf("throughput %s: %w", s.Name, err)
			}
			s.Rounds = append(s.Rounds, stats.SamplesPerSec())
			errs[k] = append(errs[k], ev.Error)
			busy[k] = append(busy[k], stats.WorkerBusy)
			r.logf("throughput %-20s round %d  %8.0f samples/s  test error %.2f%%", s.Name, round, stats.SamplesPerSec(), ev.Error)
		}
	}
	return nil
}

// roundRatios returns a's throughput over b's in each round both ran.
func roundRatios(a, b Throughput) []float64 {
	ratios := make([]float64, min(len(a.Rounds), len(b.Rounds)))
	for i := range ratios {
		ratios[i] = a.Rounds[i] / b.Rounds[i]
	}
	return ratios
}

// medianIndex returns the index of the median of xs (of the lower middle
// one when len(xs) is even).
func medianIndex(xs []float64) int {
	order := make([]int, len(xs))
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(a, b int) bool { return xs[order[a]] < xs[order[b]] })
	return order[(len(xs)-1)/2]
}

// epochs trains one epoch of cfg on each of jobs separate networks at once
// and evaluates the first on the test set. The stats are their combined
// samples over the longest epoch's time (with the workers busy of one job).
func (r *Report) epochs(ctx context.Context, cfg engine.Config, jobs int) (engine.EpochStats, engine.Evaluation, error) {
	trainers := make([]*engine.Trainer, jobs)
	for i := range trainers {
		net, err := engine.NewNetwork(cfg)
		if err != nil {
			return engine.EpochStats{}, engine.Evaluation{}, err
		}
		defer net.Close()
		if trainers[i], err = engine.NewTrainer(net, r.pair.Train); err != nil {
			return engine.EpochStats{}, engine.Evaluation{}, err
		}
	}
	stats := make([]engine.EpochStats, jobs)
	errs := make([]error, jobs)
	var wg sync.WaitGroup
	for i, tr := range trainers {
		wg.Go(func() { stats[i], errs[i] = tr.RunEpoch(ctx, nil) })
	}
	wg.Wait()
	all := engine.EpochStats{Epoch: stats[0].Epoch}
	if jobs == 1 {
		all.WorkerBusy = stats[0].WorkerBusy
	}
	for _, s := range stats {
		all.Steps += s.Steps
		all.Samples += s.Samples
		all.Seconds = max(all.Seconds, s.Seconds)
	}
	if err := errors.Join(errs...); err != nil {
		return all, engine.Evaluation{}, err
	}
	ev, err := trainers[0].Evaluate(r.pair.Test)
	return all, ev, err
}

// asyncCheck compares async (2 workers, 1 thread each) with sync, from the
// throughput runs, and after equal budgets of training time.
func (r *Report) asyncCheck(ctx context.Context) error {
	find := func(exec string, workers, threads, jobs int) Throughput {
		for _, t := range r.Throughput {
			if t.Exec == exec && t.Threads == threads && t.Jobs == jobs && (exec == engine.ExecSync || t.Workers == workers) {
				return t
			}
		}
		return Throughput{}
	}
	async, sync1 := find(engine.ExecAsync, 2, 1, 0), find(engine.ExecSync, 1, 1, 0)
	syncAll := find(engine.ExecSync, 1, runtime.GOMAXPROCS(0), 0)
	if async.SamplesPerSec == 0 || sync1.SamplesPerSec == 0 || syncAll.SamplesPerSec == 0 {
		return errors.New("the throughput runs it compares are missing")
	}
	a := &AsyncCheck{}
	r.Async = a
	a.SpeedupThreads1 = async.SamplesPerSec / sync1.SamplesPerSec
	a.SpeedupThreadsAll = async.SamplesPerSec / syncAll.SamplesPerSec
	a.RoundsThreads1, a.RoundsThreadsAll = roundRatios(async, sync1), roundRatios(async, syncAll)
	if jobs := find(engine.ExecSync, 1, 1, 2); jobs.SamplesPerSec > 0 {
		a.OfSeparateJobs = async.SamplesPerSec / jobs.SamplesPerSec
		a.SeparateJobs = jobs.SamplesPerSec / sync1.SamplesPerSec
		a.RoundsSeparateJob = roundRatios(async, jobs)
	}
	one := find(engine.ExecAsync, 1, 1, 0)
	for w := 1; one.SamplesPerSec > 0; w++ {
		t := find(engine.ExecAsync, w, 1, 0)
		if t.SamplesPerSec == 0 {
			break
		}
		a.Scaling = append(a.Scaling, t.SamplesPerSec/one.SamplesPerSec)
	}
	if one.SamplesPerSec > 0 {
		a.RoundsScaling2 = roundRatios(async, one)
	}
	a.ErrorAsync, a.ErrorSync = async.TestError, sync1.TestError
	r.logf("async: %.2f× sync (1 thread), %.2f× sync (%d threads), %.2f of 2 separate jobs (%.2f× sync, 1 thread)",
		a.SpeedupThreads1, a.SpeedupThreadsAll, runtime.GOMAXPROCS(0), a.OfSeparateJobs, a.SeparateJobs)
	for _, budget := range r.profile.Budgets {
		c := BudgetCheck{Seconds: budget.Seconds()}
		for _, exec := range []string{engine.ExecAsync, engine.ExecSync} {
			cfg := r.config(engine.CDNI, 4)
			cfg.Exec, cfg.Workers, cfg.Threads, cfg.Epochs = exec, 2, 1, 1000
			points, _, err := r.train(ctx, cfg, budget)
			if err != nil {
				return fmt.Errorf("budget run %s: %w", exec, err)
			}
			last, recent := points[len(points)-1], errorRange(points, recentEvals)
			if exec == engine.ExecAsync {
				c.ErrorAsync, c.StepsAsync, c.RecentAsync = last.TestError, last.Step, recent
			} else {
				c.ErrorSync, c.StepsSync, c.RecentSync = last.TestError, last.Step, recent
			}
		}
		a.Budgets = append(a.Budgets, c)
		r.logf("after %gs: async %.2f%% (%d steps), sync %.2f%% (%d steps)", c.Seconds, c.ErrorAsync, c.StepsAsync, c.ErrorSync, c.StepsSync)
	}
	return nil
}

// table reproduces the paper's MNIST table of fully connected networks on
// this machine's schedule.
func (r *Report) table(ctx context.Context) error {
	for layers := 3; layers <= 6; layers++ {
		for _, m := range []engine.Mode{engine.Backprop, engine.DNI, engine.CDNI} {
			cfg := r.config(m, layers)
			cfg.Epochs = r.profile.TableEpoch
			points, _, err := r.train(ctx, cfg, 0)
			if err != nil {
				return fmt.Errorf("table %d layers %s: %w", layers, m, err)
			}
			last := points[len(points)-1]
			row := TableRow{Layers: layers, Mode: string(m), Epochs: cfg.Epochs, TestError: last.TestError, Paper: paperMNIST[paperKey{layers, m}], SGCosine: last.SGCosine}
			r.Table = append(r.Table, row)
			r.logf("table %d layers %-5s %.2f%%", layers, m, row.TestError)
		}
	}
	return nil
}

type paperKey struct {
	layers int
	mode   engine.Mode
}

// paperMNIST holds the paper's MNIST test errors (%) of fully connected
// networks after 500k steps (Jaderberg et al. 2017), where we have them:
// about 2.0 (bprop), 1.9 (dni) and 2.2 (cdni) for 3 layers.
var paperMNIST = map[paperKey]float64{
	{3, engine.Backprop}: 2.0,
	{3, engine.DNI}:      1.9,
	{3, engine.CDNI}:     2.2,
}
