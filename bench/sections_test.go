package bench

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dnitrain/dnitrain/data"
	"github.com/dnitrain/dnitrain/engine"
)

func TestParseSections(t *testing.T) {
	for _, tc := range []struct {
		list string
		want []string
	}{
		{"", Sections},
		{"all", Sections},
		{" all ", Sections},
		{"table", []string{"table"}},
		{"async", []string{"throughput", "async"}},
		{"table, curves", []string{"curves", "table"}},
		{"async,curves,throughput", []string{"curves", "throughput", "async"}},
	} {
		got, err := ParseSections(tc.list)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("ParseSections(%q) = %v, %v; want %v", tc.list, got, err, tc.want)
		}
	}
	for _, bad := range []string{"curve", "table,", "all,table"} {
		if _, err := ParseSections(bad); err == nil {
			t.Errorf("ParseSections(%q) accepted", bad)
		}
	}
}

// tinyPair is a data pair of random 4×4 images, small enough for the
// suite's runs to take a step or two each.
func tinyPair() *data.Pair {
	rng := rand.New(rand.NewPCG(1, 2))
	set := func(name string, n int) *data.Set {
		s := &data.Set{Name: name, N: n, Rows: 4, Cols: 4, Classes: 10, Pixels: make([]uint8, n*16), Labels: make([]uint8, n)}
		for i := range s.Pixels {
			s.Pixels[i] = uint8(rng.IntN(256))
		}
		for i := range s.Labels {
			s.Labels[i] = uint8(rng.IntN(10))
		}
		return s
	}
	return &data.Pair{Train: set("train", 64), Test: set("test", 32), Source: "random 4×4 images"}
}

// Run runs the sections asked for, and no others, but for the throughput
// runs that the async check reads; it refuses a section it does not know.
func TestRunSections(t *testing.T) {
	profile := Profile{Name: "test", TableEpoch: 1, Rounds: 1}
	r, err := Run(context.Background(), Options{Profile: profile, Data: tinyPair(), Sections: []string{"table"}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(r.Sections, []string{"table"}) || len(r.Table) != 12 || len(r.Curves) > 0 || len(r.Throughput) > 0 || r.Async != nil || r.Incomplete != "" {
		t.Errorf("sections %v, %d table rows, %d curves, %d throughput set-ups, async %v, incomplete %q",
			r.Sections, len(r.Table), len(r.Curves), len(r.Throughput), r.Async, r.Incomplete)
	}
	r, err = Run(context.Background(), Options{Profile: profile, Data: tinyPair(), Sections: []string{"async"}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(r.Sections, []string{"throughput", "async"}) || len(r.Throughput) == 0 || r.Async == nil || !(r.Async.SpeedupThreads1 > 0) {
		t.Fatalf("async alone: sections %v, %d throughput set-ups, async %+v", r.Sections, len(r.Throughput), r.Async)
	}
	// One round: the round's ratio is the ratio of the medians; the scaling
	// curve starts at one worker over itself.
	a := r.Async
	if len(a.RoundsThreads1) != 1 || a.RoundsThreads1[0] != a.SpeedupThreads1 || len(a.Scaling) < 2 || a.Scaling[0] != 1 ||
		len(a.RoundsScaling2) != 1 || a.RoundsScaling2[0] != a.Scaling[1] {
		t.Errorf("rounds %v against %v; scaling %v, round by round %v", a.RoundsThreads1, a.SpeedupThreads1, a.Scaling, a.RoundsScaling2)
	}
	if _, err := Run(context.Background(), Options{Profile: profile, Data: tinyPair(), Sections: []string{"tables"}}); err == nil {
		t.Error("Run took an unknown section")
	}
}

// The curves record the gradient comparisons of the decoupled runs, and
// the inputs' comparisons of the unlocked run alone.
func TestCurvesRecordAgreement(t *testing.T) {
	r, err := Run(context.Background(), Options{Profile: Profile{Name: "test", Epochs: 1}, Data: tinyPair(), Sections: []string{"curves"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range r.Curves {
		p := c.Points[len(c.Points)-1]
		sg, inputs := 2, 0 // 3 layers: two hidden layers, two layers above the first
		if c.Name == "bprop" {
			sg = 0
		}
		if strings.Contains(c.Name, "unlocked") {
			inputs = 2
		}
		if len(p.SGCosine) != sg || len(p.InputCosine) != inputs {
			t.Errorf("%s: gradient cosines %v, input cosines %v; want %d and %d", c.Name, p.SGCosine, p.InputCosine, sg, inputs)
		}
	}
	if len(r.Curves) != 5 {
		t.Errorf("%d curves, want 5", len(r.Curves))
	}
}

// cancelOn is a log that cancels a context once a line contains text.
type cancelOn struct {
	text   string
	cancel context.CancelFunc
}

func (c cancelOn) Write(p []byte) (int, error) {
	if strings.Contains(string(p), c.text) {
		c.cancel()
	}
	return len(p), nil
}

// Throughput runs stopped in their second round keep the first, whole.
func TestThroughputStoppedKeepsWholeRounds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r, err := Run(ctx, Options{Profile: Profile{Name: "test", Rounds: 3}, Data: tinyPair(), Sections: []string{"throughput"},
		Log: cancelOn{"round 2", cancel}})
	if !errors.Is(err, context.Canceled) || !strings.HasPrefix(r.Incomplete, "throughput: ") {
		t.Fatalf("Run: %v, incomplete %q", err, r.Incomplete)
	}
	if len(r.Throughput) == 0 {
		t.Fatal("no throughput set-up kept")
	}
	for _, s := range r.Throughput {
		if len(s.Rounds) != 1 || s.SamplesPerSec != s.Rounds[0] {
			t.Errorf("%s: rounds %v, median %v", s.Name, s.Rounds, s.SamplesPerSec)
		}
	}
}

// A suite stopped early returns the error and what it measured, and its
// report says where it stopped and shows only what ran.
func TestRunStoppedEarly(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r, err := Run(ctx, Options{Profile: Profile{Name: "test", Epochs: 1, TableEpoch: 1, Rounds: 1}, Data: tinyPair()})
	if !errors.Is(err, context.Canceled) || r == nil {
		t.Fatalf("Run with a cancelled context: %v, report %v", err, r)
	}
	if !strings.HasPrefix(r.Incomplete, "curves: ") || !slices.Equal(r.Sections, []string{"curves"}) {
		t.Errorf("incomplete %q after sections %v", r.Incomplete, r.Sections)
	}
	dir := t.TempDir()
	if err := r.Write(dir); err != nil {
		t.Fatal(err)
	}
	md, _ := os.ReadFile(filepath.Join(dir, "report.md"))
	if !strings.Contains(string(md), "**Incomplete:** the suite stopped early (curves: ") || strings.Contains(string(md), "## Throughput") || strings.Contains(string(md), "Async with") {
		t.Errorf("report.md of the stopped suite:\n%s", md)
	}
	if _, err := os.Stat(filepath.Join(dir, "throughput.png")); err == nil {
		t.Error("throughput.png written without throughput runs")
	}
}

// A report written where another stands removes the other's plots of
// sections it does not have. (The earlier report's curve has one point: its
// time plot cannot take a log scale, and must not panic.)
func TestWriteRemovesStalePlots(t *testing.T) {
	dir := t.TempDir()
	full := &Report{Curves: []Curve{{Name: "cdni", Points: []Point{{Epoch: 1, Step: 10, Seconds: 1, TestError: 9, SGCosine: []float64{0.5}}}}},
		Throughput: []Throughput{{Name: "async, 1 worker", Exec: "async", Workers: 1, Threads: 1, SamplesPerSec: 10, Rounds: []float64{10}}}}
	if err := full.Write(dir); err != nil {
		t.Fatal(err)
	}
	tableOnly := &Report{Table: []TableRow{{Layers: 3, Mode: "bprop", Epochs: 1, TestError: 5}}}
	if err := tableOnly.Write(dir); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"error_vs_time.png", "error_vs_steps.png", "sg_agreement.png", "throughput.png"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			t.Errorf("%s of the earlier report is still there", name)
		}
	}
}

// A run on a budget of training time evaluates once an epoch, the last when the
// budget runs out, never twice at one step: with one step an epoch, the
// budget mostly runs out inside an epoch's last step, and the epoch after
// it would take no step.
func TestBudgetPointsAdvance(t *testing.T) {
	r := &Report{pair: tinyPair()}
	cfg := r.config(engine.CDNI, 3)
	cfg.Batch, cfg.Epochs = 64, 100000 // one step an epoch
	for range 3 {
		points, _, err := r.train(context.Background(), cfg, 30*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		for k := 1; k < len(points); k++ {
			if points[k].Step <= points[k-1].Step {
				t.Fatalf("evaluations %d and %d both at step %d", k-1, k, points[k].Step)
			}
		}
	}
}
