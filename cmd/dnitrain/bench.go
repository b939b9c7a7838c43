package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/dnitrain/dnitrain/bench"
	"github.com/dnitrain/dnitrain/engine"
)

func benchCmd(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("bench", "Runs the benchmark suite: learning curves of every mode, throughput against workers,\nthe async-against-sync check and the paper's MNIST table; writes a report folder.", stderr)
	quick := fs.Bool("quick", false, "the short profile (a subset of the data, a minute or so), for CI")
	out := fs.String("out", "", "report folder (default bench-report-full or bench-report-quick)")
	dataDir := fs.String("data", "", "folder with the four MNIST-layout files (default: the embedded MNIST)")
	device := fs.String("device", "cpu", "where the networks train: cpu, or cuda:N (a build with -tags gpu)")
	rounds := fs.Int("rounds", 0, "rounds of the throughput runs (0: the profile's, 5 or 3 with --quick); more rounds narrow the medians on a noisy machine")
	sectionList := fs.String("sections", "all", "comma-separated parts of the suite to run: "+strings.Join(bench.Sections, ", ")+" (async reads the throughput runs, which it adds)")
	if err := parse(fs, args); err != nil {
		return err
	}
	sections, err := bench.ParseSections(*sectionList)
	if err != nil {
		return usageError{"--sections: " + err.Error()}
	}
	profile := bench.Full
	if *quick {
		profile = bench.Quick
	}
	switch {
	case *rounds < 0 || *rounds > 1000:
		return usageError{fmt.Sprintf("--rounds must be in 0..1000 (0: the profile's), got %d", *rounds)}
	case *rounds > 0:
		profile.Rounds = *rounds
	}
	if _, err := engine.ParseDevice(*device); err != nil {
		return usageError{"--device: " + err.Error()}
	}
	if *out == "" {
		*out = "bench-report-" + profile.Name
	}
	// The report folder is made and checked first: the suite takes minutes.
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return fmt.Errorf("--out %s: %w", *out, err)
	}
	if err := checkWritable("out", filepath.Join(*out, "report.md")); err != nil {
		return err
	}
	pair, err := loadData(*dataDir)
	if err != nil {
		return err
	}
	ctx, sig := interruptible()
	defer sig.stop()
	report, err := bench.Run(ctx, bench.Options{Profile: profile, Data: pair, Device: *device, Log: stdout, Sections: sections})
	if err != nil {
		// What was measured before the suite stopped is written all the same.
		if werr := report.Write(*out); werr != nil {
			err = fmt.Errorf("%w; the report of what was measured could not be written: %v", err, werr)
		} else {
			err = fmt.Errorf("%w; what was measured before is in %s", err, *out)
		}
		return sig.stopped(err)
	}
	if err := report.Write(*out); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "report written to %s (report.md, report.json, *.png)\n", *out)
	return nil
}
