package bench

import (
	"encoding/json"
	"errors"
	"fmt"
	"image/color"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// Write saves the report into dir: report.md (the summary), report.json
// (every figure), and the plots of the sections that ran:
// error_vs_time.png, error_vs_steps.png and sg_agreement.png (curves),
// throughput.png; it removes those of sections that did not.
func (r *Report) Write(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	raw, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "report.json"), append(raw, '\n'), 0o644); err != nil {
		return err
	}
	// A plot of a section that did not run is removed, so that an earlier
	// report's does not stand beside this one.
	plots := []struct {
		name string
		ran  bool
		plot func(path string) error
	}{
		{"error_vs_time.png", len(r.Curves) > 0, func(path string) error {
			return r.plotCurves(path, "training time (s)", true, func(p Point) float64 { return p.Seconds })
		}},
		{"error_vs_steps.png", len(r.Curves) > 0, func(path string) error {
			return r.plotCurves(path, "steps", false, func(p Point) float64 { return float64(p.Step) })
		}},
		{"sg_agreement.png", r.agreementMeasured(), r.plotAgreement},
		{"throughput.png", len(r.Throughput) > 0, r.plotThroughput},
	}
	for _, p := range plots {
		path := filepath.Join(dir, p.name)
		if !p.ran {
			if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
			continue
		}
		if err := p.plot(path); err != nil {
			return err
		}
	}
	return os.WriteFile(filepath.Join(dir, "report.md"), []byte(r.Markdown()), 0o644)
}

// ReadReport reads the report that Write saved into dir, from its
// report.json.
func ReadReport(dir string) (*Report, error) {
	raw, err := os.ReadFile(filepath.Join(dir, "report.json"))
	if err != nil {
		return nil, err
	}
	r := new(Report)
	if err := json.Unmarshal(raw, r); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, "report.json"), err)
	}
	return r, nil
}

// Measured reports whether r holds any result of a section.
func (r *Report) Measured() bool {
	return len(r.Curves) > 0 || len(r.Throughput) > 0 || r.Async != nil || len(r.Table) > 0
}

// Markdown returns the report's summary.
func (r *Report) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# dnitrain benchmark report (%s profile)\n\n", r.Profile)
	fmt.Fprintf(&b, "%s, %d CPUs, device %s, %s; the suite took %.0f s.\n\n", r.Started.UTC().Format("2006-01-02 15:04 MST"), r.CPUs, r.Device, r.Data, r.Seconds)
	if r.Incomplete != "" {
		fmt.Fprintf(&b, "**Incomplete:** the suite stopped early (%s). The sections below hold what it measured before that.\n\n", r.Incomplete)
	}
	r.writeCores(&b)
	r.writeCurves(&b)
	r.writeThroughput(&b)
	r.writeAsync(&b)
	r.writeTable(&b)
	return b.String()
}

// writeCurves writes the section of the learning curves, if they ran.
func (r *Report) writeCurves(b *strings.Builder) {
	if len(r.Curves) == 0 {
		return
	}
	b.WriteString("## Learning curves (3 layers)\n\n![test error against time](error_vs_time.png) ![test error against steps](error_vs_steps.png)\n\n")
	if r.agreementMeasured() {
		b.WriteString("![synthetic against true gradients](sg_agreement.png)\n\n")
	}
	b.WriteString("| run | epochs | steps | training s | test error | synthetic · true gradient (cosine, by layer) | synthetic · real input (cosine, by layer) | peak heap (MiB) |\n|---|---|---|---|---|---|---|---|\n")
	for _, c := range r.Curves {
		if len(c.Points) == 0 {
			continue
		}
		p := c.Points[len(c.Points)-1]
		fmt.Fprintf(b, "| %s | %d | %d | %.1f | %.2f%% | %s | %s | %.1f |\n", c.Name, p.Epoch, p.Step, p.Seconds, p.TestError, cosines(p.SGCosine), cosines(p.InputCosine), c.PeakHeapMiB)
	}
	fmt.Fprintf(b, "\nPeak heap: the most memory the Go heap held during the run (network, buffers, optimizer state, the buffers of the evaluations and gradient comparisons, and garbage not yet collected), above what was live before it (the data set among it); sampled every %v.\n\n", heapSampleEvery)
}

// writeThroughput writes the section of the throughput runs, if they ran.
func (r *Report) writeThroughput(b *strings.Builder) {
	if len(r.Throughput) == 0 {
		return
	}
	b.WriteString("## Throughput (cDNI, 4 layers, one epoch)\n\n![throughput](throughput.png)\n\n")
	rounds := len(r.Throughput[0].Rounds)
	if rounds > 1 {
		median := "the median round"
		if rounds%2 == 0 {
			median += " (of an even number, the lower of the two middle ones)"
		}
		fmt.Fprintf(b, "Each set-up trained one epoch in each of %d rounds, the set-ups taking turns; the table gives %s and the range.\n\n", rounds, median)
	}
	b.WriteString("| execution | workers | threads per worker | samples/s (median) | range | test error after the epoch | workers busy |\n|---|---|---|---|---|---|---|\n")
	for _, t := range r.Throughput {
		spread := "–"
		if len(t.Rounds) > 0 {
			spread = fmt.Sprintf("%.0f–%.0f", slices.Min(t.Rounds), slices.Max(t.Rounds))
		}
		exec, workers := t.Exec, t.Workers
		if t.Jobs > 0 {
			exec, workers = fmt.Sprintf("%s, %d separate jobs", t.Exec, t.Jobs), t.Jobs
		}
		busy := "–"
		if len(t.WorkerBusy) > 0 {
			parts := make([]string, len(t.WorkerBusy))
			for i, v := range t.WorkerBusy {
				parts[i] = fmt.Sprintf("%.0f%%", 100*v)
			}
			busy = strings.Join(parts, ", ")
		}
		fmt.Fprintf(b, "| %s | %d | %d | %.0f | %s | %.2f%% | %s |\n", exec, workers, t.Threads, t.SamplesPerSec, spread, t.TestError, busy)
	}
	if rounds > 0 {
		b.WriteString("\nWorkers busy: each async worker's share of the epoch spent other than waiting for a batch, a target or a buffer (and for a core after such a wait), or done with the epoch before the others, bottom worker first (the median round's).\n")
	}
	b.WriteString("\n")
}

// writeAsync writes the async-against-sync check, if it ran, under the
// throughput section.
func (r *Report) writeAsync(b *strings.Builder) {
	a := r.Async
	if a == nil {
		return
	}
	fmt.Fprintf(b, "Async with 2 workers of 1 thread: **%.2f×** the throughput of sync with 1 thread, **%.2f×** sync with %d threads. "+
		"Test error after one epoch: %.2f%% async, %.2f%% sync.\n",
		a.SpeedupThreads1, a.SpeedupThreadsAll, r.CPUs, a.ErrorAsync, a.ErrorSync)
	if len(a.RoundsThreads1) > 1 {
		fmt.Fprintf(b, "\nRound by round (each round's set-ups ran one after the other), async with 2 workers over sync with 1 thread: %s; over sync with %d threads: %s.\n",
			spread(a.RoundsThreads1), r.CPUs, spread(a.RoundsThreadsAll))
	}
	if len(a.Scaling) > 1 {
		parts := make([]string, len(a.Scaling)-1)
		for i, s := range a.Scaling[1:] {
			parts[i] = fmt.Sprintf("**%.2f×** with %d", s, i+2)
			if i == 0 && len(a.RoundsScaling2) > 1 {
				parts[i] += fmt.Sprintf(" (round by round %s)", spread(a.RoundsScaling2))
			}
		}
		fmt.Fprintf(b, "\nAsync workers over one worker (1 thread each): %s.\n", strings.Join(parts, ", "))
	}
	if a.SeparateJobs > 0 {
		fmt.Fprintf(b, "\nTwo separate networks trained at once, each in the synchronous loop on 1 thread, share nothing: together they give **%.2f×** the throughput of one alone, "+
			"the most two workers could reach on these cores. Async with 2 workers reaches **%.2f** of theirs", a.SeparateJobs, a.OfSeparateJobs)
		if len(a.RoundsSeparateJob) > 1 {
			fmt.Fprintf(b, " (round by round %s)", spread(a.RoundsSeparateJob))
		}
		b.WriteString(".\n")
	}
	if len(a.Budgets) > 0 {
		b.WriteString("\nAfter equal budgets of training time (the evaluations after each epoch not counted), async with 2 workers of 1 thread against sync with 1 thread, each budget a run of its own that stops when it is spent:\n\n")
		fmt.Fprintf(b, "| training time | async test error | async steps | sync test error | sync steps | async, last %d evaluations | sync, last %d evaluations |\n|---|---|---|---|---|---|---|\n", recentEvals, recentEvals)
		for _, c := range a.Budgets {
			fmt.Fprintf(b, "| %g s | %.2f%% | %d | %.2f%% | %d | %.2f–%.2f%% | %.2f–%.2f%% |\n", c.Seconds, c.ErrorAsync, c.StepsAsync, c.ErrorSync, c.StepsSync,
				c.RecentAsync[0], c.RecentAsync[1], c.RecentSync[0], c.RecentSync[1])
		}
		fmt.Fprintf(b, "\nThe last two columns give the range of each run's test error over its last %d evaluations (one after each epoch, the last where the budget ran out). "+
			"Once both runs have reached the error they hover around, a difference between them smaller than those swings says nothing about which learns faster.\n", recentEvals)
	}
	b.WriteString("\n")
}

// spread describes ratios by their median and range.
func spread(ratios []float64) string {
	return fmt.Sprintf("median %.2f, %.2f–%.2f", ratios[medianIndex(ratios)], slices.Min(ratios), slices.Max(ratios))
}

// writeTable writes the paper-table reproduction, if it ran.
func (r *Report) writeTable(b *strings.Builder) {
	if len(r.Table) == 0 {
		return
	}
	b.WriteString("## The paper's MNIST table, on this machine's schedule\n\n")
	b.WriteString("Test error (%) of fully connected networks; the paper trained 500k steps, these runs far fewer.\n\n")
	b.WriteString("| layers | bprop | dni | cdni | paper bprop | paper dni | paper cdni | epochs |\n|---|---|---|---|---|---|---|---|\n")
	for layers := 3; layers <= 6; layers++ {
		cells := map[string]string{"bprop": "–", "dni": "–", "cdni": "–"}
		paper := map[string]string{"bprop": "–", "dni": "–", "cdni": "–"}
		epochs := 0
		for _, row := range r.Table {
			if row.Layers != layers {
				continue
			}
			cells[row.Mode] = fmt.Sprintf("%.2f", row.TestError)
			if row.Paper > 0 {
				paper[row.Mode] = fmt.Sprintf("%.1f", row.Paper)
			}
			epochs = row.Epochs
		}
		if epochs == 0 {
			continue
		}
		fmt.Fprintf(b, "| %d | %s | %s | %s | %s | %s | %s | %d |\n", layers, cells["bprop"], cells["dni"], cells["cdni"], paper["bprop"], paper["dni"], paper["cdni"], epochs)
	}
	var agreement strings.Builder
	for _, row := range r.Table {
		if len(row.SGCosine) > 0 {
			fmt.Fprintf(&agreement, "| %d | %s | %s |\n", row.Layers, row.Mode, cosines(row.SGCosine))
		}
	}
	if agreement.Len() > 0 {
		b.WriteString("\nSynthetic against true gradients at the end of these runs (engine.Trainer.SGAgreement):\n\n")
		b.WriteString("| layers | mode | cosine, hidden layers from the bottom |\n|---|---|---|\n")
		b.WriteString(agreement.String())
	}
}

// cosines formats the agreement of synthetic and true gradients, a layer
// each, or a dash for none.
func cosines(xs []float64) string {
	if len(xs) == 0 {
		return "–"
	}
	each := make([]string, len(xs))
	for i, x := range xs {
		each[i] = fmt.Sprintf("%.3f", x)
	}
	return strings.Join(each, ", ")
}

// plotCurves plots the curves' test errors against x, on a log scale when
// logX asks for one and the points span a range of positive values (a
// single point, or a zero, would leave the scale without a range).
func (r *Report) plotCurves(path, xLabel string, logX bool, x func(Point) float64) error {
	p := plot.New()
	p.Title.Text = "MNIST, 3 layers"
	p.Y.Label.Text = "test error (%)"
	lo, hi := math.Inf(1), math.Inf(-1)
	for i, c := range r.Curves {
		xys := make(plotter.XYs, len(c.Points))
		for j, pt := range c.Points {
			xys[j] = plotter.XY{X: x(pt), Y: pt.TestError}
			lo, hi = min(lo, xys[j].X), max(hi, xys[j].X)
		}
		line, points, err := plotter.NewLinePoints(xys)
		if err != nil {
			return err
		}
		line.Color, points.Color = plotutil.Color(i), plotutil.Color(i)
		points.Shape = plotutil.Shape(i)
		p.Add(line, points)
		p.Legend.Add(c.Name, line, points)
	}
	p.Legend.Top = true
	if logX && lo > 0 && hi > lo { // dni takes ten times longer than the others
		p.X.Scale, p.X.Tick.Marker = plot.LogScale{}, plot.LogTicks{Prec: -1}
		if unit, ok := strings.CutSuffix(xLabel, ")"); ok {
			xLabel = unit + ", log scale)"
		} else {
			xLabel += " (log scale)"
		}
	}
	p.X.Label.Text = xLabel
	return p.Save(6*vg.Inch, 4*vg.Inch, path)
}

// agreementMeasured reports whether a curve holds the agreement of
// synthetic and true gradients (the decoupled modes' curves do).
func (r *Report) agreementMeasured() bool {
	for _, c := range r.Curves {
		for _, p := range c.Points {
			if len(p.SGCosine) > 0 {
				return true
			}
		}
	}
	return false
}

// plotAgreement plots, for each curve of a decoupled mode, the cosine
// between each hidden layer's synthetic and true gradient after every
// epoch: a colour per curve, solid for the bottom layer, dashed above.
// The legend names the curves alone, so that it covers less of the plot.
func (r *Report) plotAgreement(path string) error {
	p := plot.New()
	p.Title.Text = "MNIST, 3 layers: synthetic against true gradient"
	p.X.Label.Text = "epoch"
	p.Y.Label.Text = "cosine (solid: layer0, dashed: layer1)"
	for i, c := range r.Curves {
		layers := 0
		for _, pt := range c.Points {
			layers = max(layers, len(pt.SGCosine))
		}
		for l := range layers {
			var xys plotter.XYs
			for _, pt := range c.Points {
				if l < len(pt.SGCosine) {
					xys = append(xys, plotter.XY{X: float64(pt.Epoch), Y: pt.SGCosine[l]})
				}
			}
			line, points, err := plotter.NewLinePoints(xys)
			if err != nil {
				return err
			}
			line.Color, points.Color = plotutil.Color(i), plotutil.Color(i)
			points.Shape = plotutil.Shape(i)
			if l > 0 {
				line.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
			}
			p.Add(line, points)
			if l == 0 {
				p.Legend.Add(c.Name, line, points)
			}
		}
	}
	p.Legend.Top = true
	p.Y.Max = 1
	return p.Save(6*vg.Inch, 4*vg.Inch, path)
}

func (r *Report) plotThroughput(path string) error {
	p := plot.New()
	p.Title.Text = "cDNI, 4 layers: throughput against workers (1 thread each)"
	p.X.Label.Text = "workers"
	p.Y.Label.Text = "samples/s"
	var async, ideal plotter.XYs
	var base float64
	for _, t := range r.Throughput {
		if t.Exec != "async" {
			continue
		}
		if t.Workers == 1 {
			base = t.SamplesPerSec
		}
		async = append(async, plotter.XY{X: float64(t.Workers), Y: t.SamplesPerSec})
	}
	for _, pt := range async {
		ideal = append(ideal, plotter.XY{X: pt.X, Y: base * pt.X})
	}
	if err := plotutil.AddLinePoints(p, "async", async, "linear in workers", ideal); err != nil {
		return err
	}
	grays := 0
	for _, t := range r.Throughput {
		if t.Exec != "sync" {
			continue
		}
		l := plotter.NewFunction(func(float64) float64 { return t.SamplesPerSec })
		if t.Jobs > 0 { // the most the workers could reach: dotted, in a colour of its own
			l.Color = plotutil.Color(2)
			l.Dashes = []vg.Length{vg.Points(1.5), vg.Points(2.5)}
		} else {
			l.Color = color.Gray{Y: uint8(min(60+70*grays, 200))}
			l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
			grays++
		}
		p.Add(l)
		p.Legend.Add(t.Name, l)
	}
	p.Legend.Top, p.Legend.Left = true, true
	p.Y.Min = 0
	return p.Save(6*vg.Inch, 4*vg.Inch, path)
}
