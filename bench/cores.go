package bench

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/dnitrain/dnitrain/kernels"
)

// CoreSpeed is how fast one CPU multiplies matrices alone: the rate of
// one-thread kernels.Gemm products of 256×256×256 on a goroutine confined
// to that CPU, at the suite's start and at its end. On a shared
// or virtual machine the CPUs need not be equal, and a phase of a step
// split evenly over two threads lasts as long as the slower CPU needs.
type CoreSpeed struct {
	CPU         int     `json:"cpu"`
	StartGFLOPS float64 `json:"start_gflops"`
	EndGFLOPS   float64 `json:"end_gflops"`
}

const (
	coreProbeSize = 256 // m, n and k of the probe's product
	// Each CPU is probed for coreProbeTime, or less on machines with more
	// CPUs than coreProbeTotal/coreProbeTime, so that a probe of them all
	// takes about coreProbeTotal, but never less than coreProbeLeast.
	coreProbeTime  = 100 * time.Millisecond
	coreProbeTotal = 2 * time.Second
	coreProbeLeast = 10 * time.Millisecond
)

// coreProbeFor returns how long each of n CPUs is probed.
func coreProbeFor(n int) time.Duration {
	return max(coreProbeLeast, min(coreProbeTime, coreProbeTotal/time.Duration(max(n, 1))))
}

// sgemmRate returns the GFLOP/s of one-thread products of coreProbeSize³
// on the calling goroutine, measured over d after one product that warms
// the caches and the packing buffers.
func sgemmRate(d time.Duration) float64 {
	const n = coreProbeSize
	a, b, c := make([]float32, n*n), make([]float32, n*n), make([]float32, n*n)
	for i := range a {
		a[i], b[i] = float32(i%7)-3, float32(i%5)-2
	}
	var g kernels.Gemm
	g.Sgemm(false, false, n, n, n, 1, a, n, b, n, 0, c, n)
	calls, start := 0, time.Now()
	for ; calls == 0 || time.Since(start) < d; calls++ {
		g.Sgemm(false, false, n, n, n, 1, a, n, b, n, 0, c, n)
	}
	return 2 * n * n * n * float64(calls) / time.Since(start).Seconds() / 1e9
}

// probeCores measures every CPU the process may run on, one after the
// other, into r.Cores: a new entry per CPU when end is false, the entries'
// EndGFLOPS when it is true (if the start measured them). It measures
// nothing where a goroutine cannot be confined to a CPU (cpuRates).
func (r *Report) probeCores(end bool) {
	if end && len(r.Cores) == 0 {
		return // not measured at the start either
	}
	rates, err := cpuRates(func(cpus int) func() float64 {
		d := coreProbeFor(cpus)
		return func() float64 { return sgemmRate(d) }
	})
	if err != nil {
		r.logf("cores: not measured: %v", err)
		return
	}
	if !end {
		r.Cores = make([]CoreSpeed, len(rates))
	} else if len(rates) != len(r.Cores) {
		r.logf("cores: %d CPUs at the end, %d at the start: the end not recorded", len(rates), len(r.Cores))
		return
	}
	for i, c := range rates {
		if end {
			r.Cores[i].EndGFLOPS = c.rate
		} else {
			r.Cores[i] = CoreSpeed{CPU: c.cpu, StartGFLOPS: c.rate}
		}
	}
	r.logf("cores: %s", coreRates(r.Cores, end))
}

// cpuRate is one CPU's result of cpuRates.
type cpuRate struct {
	cpu  int
	rate float64
}

// coreRates lists the CPUs' rates at the start, or at the end, for the log.
func coreRates(cores []CoreSpeed, end bool) string {
	parts := make([]string, len(cores))
	for i, c := range cores {
		v := c.StartGFLOPS
		if end {
			v = c.EndGFLOPS
		}
		parts[i] = fmt.Sprintf("cpu %d %.0f GFLOP/s", c.CPU, v)
	}
	return strings.Join(parts, ", ")
}

// slowestOverFastest returns the slowest CPU's rate over the fastest's.
func slowestOverFastest(rates []float64) float64 {
	if len(rates) == 0 || slices.Max(rates) <= 0 {
		return 0
	}
	return slices.Min(rates) / slices.Max(rates)
}

// writeCores writes the report's section on the CPUs' speeds, if it has
// them.
func (r *Report) writeCores(b *strings.Builder) {
	if len(r.Cores) == 0 {
		return
	}
	fmt.Fprintf(b, "## Cores\n\nEach CPU alone, at the suite's start and end: one-thread products of %d×%d×%d on a goroutine confined to it.\n\n", coreProbeSize, coreProbeSize, coreProbeSize)
	b.WriteString("| CPU | GFLOP/s at the start | at the end |\n|---|---|---|\n")
	var start, end []float64
	for _, c := range r.Cores {
		endCell := "–" // the suite stopped before the end's probe
		if c.EndGFLOPS > 0 {
			endCell = fmt.Sprintf("%.0f", c.EndGFLOPS)
			end = append(end, c.EndGFLOPS)
		}
		fmt.Fprintf(b, "| %d | %.0f | %s |\n", c.CPU, c.StartGFLOPS, endCell)
		start = append(start, c.StartGFLOPS)
	}
	if len(r.Cores) > 1 {
		fmt.Fprintf(b, "\nThe slowest CPU ran at **%.2f** of the fastest's speed at the start", slowestOverFastest(start))
		if len(end) == len(start) {
			fmt.Fprintf(b, " and %.2f at the end", slowestOverFastest(end))
		}
		b.WriteString(". A phase of a step split evenly over threads lasts as long as the slowest CPU needs for its share.\n")
	}
	b.WriteString("\n")
}
