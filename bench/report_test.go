package bench

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestReportWrite(t *testing.T) {
	r := &Report{
		Profile: "quick", Started: time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC), CPUs: 2, Data: "toy", Seconds: 12,
		Cores: []CoreSpeed{{CPU: 0, StartGFLOPS: 180, EndGFLOPS: 170}, {CPU: 1, StartGFLOPS: 150.4, EndGFLOPS: 170}},
		Curves: []Curve{
			{Name: "bprop", Points: []Point{{Epoch: 1, Step: 10, Seconds: 1.5, TestError: 9.5}, {Epoch: 2, Step: 20, Seconds: 3.1, TestError: 7.25}}, PeakHeapMiB: 12.34},
			{Name: "cdni", Points: []Point{{Epoch: 1, Step: 10, Seconds: 2.5, TestError: 12, SGCosine: []float64{0.41, 0.6}},
				{Epoch: 2, Step: 20, Seconds: 5, TestError: 8, SGCosine: []float64{0.5, 0.7255}, InputCosine: []float64{0.9}}}},
		},
		Throughput: []Throughput{
			{Name: "sync, 1 thread", Exec: "sync", Workers: 1, Threads: 1, SamplesPerSec: 1000, TestError: 9, Rounds: []float64{1000, 900, 1100}},
			{Name: "async, 1 worker", Exec: "async", Workers: 1, Threads: 1, SamplesPerSec: 990, TestError: 9, Rounds: []float64{990, 990, 990}},
			{Name: "async, 2 workers", Exec: "async", Workers: 2, Threads: 1, SamplesPerSec: 1500, TestError: 9.5, Rounds: []float64{1200, 1500, 1600.4}, WorkerBusy: []float64{0.954, 0.9}},
			{Name: "sync, 2 separate jobs of 1 thread", Exec: "sync", Workers: 1, Threads: 1, Jobs: 2, SamplesPerSec: 1700, TestError: 9, Rounds: []float64{1700, 1650, 1750}},
		},
		Async: &AsyncCheck{SpeedupThreads1: 1.5, SpeedupThreadsAll: 1.2, OfSeparateJobs: 0.88, SeparateJobs: 1.7,
			RoundsThreads1: []float64{1.2, 1.667, 1.455}, RoundsThreadsAll: []float64{1.1, 1.3, 1.2}, RoundsSeparateJob: []float64{0.7, 0.9, 0.95},
			Scaling: []float64{1, 1.52}, RoundsScaling2: []float64{1.3, 1.5, 1.6},
			Budgets: []BudgetCheck{{Seconds: 1, ErrorAsync: 20.5, StepsAsync: 90, ErrorSync: 25, StepsSync: 50, RecentAsync: [2]float64{20.5, 30}, RecentSync: [2]float64{25, 25}},
				{Seconds: 3, ErrorAsync: 10, StepsAsync: 270, ErrorSync: 11.25, StepsSync: 150, RecentAsync: [2]float64{9.5, 12}, RecentSync: [2]float64{11.25, 14}}}},
		Table: []TableRow{{Layers: 3, Mode: "bprop", Epochs: 1, TestError: 4.5, Paper: 2}, {Layers: 3, Mode: "cdni", Epochs: 1, TestError: 5.25, SGCosine: []float64{0.25, 0.5}}},
	}
	dir := t.TempDir()
	if err := r.Write(dir); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"report.md", "report.json", "error_vs_time.png", "error_vs_steps.png", "sg_agreement.png", "throughput.png"} {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", name, err)
		}
	}
	md, _ := os.ReadFile(filepath.Join(dir, "report.md"))
	for _, want := range []string{"| bprop | 2 | 20 | 3.1 | 7.25% | – | – | 12.3 |", "| cdni | 2 | 20 | 5.0 | 8.00% | 0.500, 0.726 | 0.900 | 0.0 |", "![synthetic against true gradients](sg_agreement.png)", "| async | 2 | 1 | 1500 | 1200–1600 | 9.50% | 95%, 90% |", "each of 3 rounds", "**1.50×**", "| sync, 2 separate jobs | 2 | 1 | 1700 | 1650–1750 | 9.00% | – |", "**1.70×** the throughput of one alone", "reaches **0.88** of theirs (round by round median 0.90, 0.70–0.95).",
		"over sync with 1 thread: median 1.46, 1.20–1.67; over sync with 2 threads: median 1.20, 1.10–1.30.",
		"Async workers over one worker (1 thread each): **1.52×** with 2 (round by round median 1.50, 1.30–1.60).", "| 1 s | 20.50% | 90 | 25.00% | 50 | 20.50–30.00% | 25.00–25.00% |", "| 3 s | 10.00% | 270 | 11.25% | 150 | 9.50–12.00% | 11.25–14.00% |", "over its last 5 evaluations", "| 3 | 4.50 | – | 5.25 | 2.0 | – | – | 1 |",
		"| 1 | 150 | 170 |", "| 3 | cdni | 0.250, 0.500 |", "**0.84** of the fastest's speed at the start and 1.00 at the end"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("report.md lacks %q:\n%s", want, md)
		}
	}
}

func TestMedianIndex(t *testing.T) {
	for _, tc := range []struct {
		xs   []float64
		want int
	}{
		{[]float64{5}, 0},
		{[]float64{3, 1, 2}, 2},
		{[]float64{9, 7, 8, 1, 2}, 1}, // 7
		{[]float64{4, 3}, 1},          // the lower middle of two
	} {
		if got := medianIndex(tc.xs); got != tc.want {
			t.Errorf("medianIndex(%v) = %d, want %d", tc.xs, got, tc.want)
		}
	}
}

// A heapPeak sees a buffer that is allocated and held while it samples, and
// not the memory that was live before it started.
func TestHeapPeak(t *testing.T) {
	before := make([]byte, 32<<20) // live across the whole test
	h := startHeapPeak()
	held := make([]byte, 16<<20)
	for i := range held {
		held[i] = byte(i)
	}
	time.Sleep(3 * heapSampleEvery)
	peak := h.Stop()
	runtime.KeepAlive(held)
	runtime.KeepAlive(before)
	if peak < 16 || peak > 32 {
		t.Errorf("peak heap %.1f MiB, want the 16 MiB held (and not the 32 live before)", peak)
	}
}

func TestErrorRange(t *testing.T) {
	pts := func(errs ...float64) []Point {
		var p []Point
		for _, e := range errs {
			p = append(p, Point{TestError: e})
		}
		return p
	}
	for _, tc := range []struct {
		points []Point
		n      int
		want   [2]float64
	}{
		{pts(3), 5, [2]float64{3, 3}},
		{pts(9, 2, 4), 5, [2]float64{2, 9}},
		{pts(9, 2, 4, 3), 2, [2]float64{3, 4}}, // the 9 and the 2 are older
		{pts(1, 8, 5, 6, 7, 5.5), 5, [2]float64{5, 8}},
	} {
		if got := errorRange(tc.points, tc.n); got != tc.want {
			t.Errorf("errorRange(%v, %d) = %v, want %v", tc.points, tc.n, got, tc.want)
		}
	}
}
