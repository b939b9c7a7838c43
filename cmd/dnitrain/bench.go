package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/dnitrain/dnitrain/bench"
	"github.com/dnitrain/dnitrain/engine"
)

func benchCmd(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("bench", "Runs the benchmark suite: learning curves of every mode, throughput against workers,\nthe async-against-sync check and the paper's MNIST table; writes a report folder.", stderr)
	quick := fs.Bool("quick", false, "the short profile (a subset of the data, under half a minute on 2 cores), for CI")
	out := fs.String("out", "", "report folder (default bench-report-full or bench-report-quick)")
	dataDir := fs.String("data", "", "folder with the four MNIST-layout files (default: the embedded MNIST)")
	device := fs.String("device", "cpu", "where the networks train: cpu, or cuda:N (a build with -tags gpu)")
	rounds := fs.Int("rounds", 0, "rounds of the throughput runs (0: the profile's, 5 or 3 with --quick); more rounds narrow the medians on a noisy machine")
	sectionList := fs.String("sections", "all", "comma-separated parts of the suite to run: "+strings.Join(bench.Sections, ", ")+" (async reads the throughput runs, which it adds)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if strings.TrimSpace(*sectionList) == "" {
		return usageError{"--sections is empty (name some of " + strings.Join(bench.Sections, ", ") + ", or all)"}
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
	if err := engine.CheckDevice(*device); err != nil {
		return usageError{err.Error()}
	}
	if *out == "" {
		*out = "bench-report-" + profile.Name
	}
	// The report folder is made and checked first: the suite takes minutes.
	// The folders made here are removed again if the suite writes nothing.
	made := missingFolders(*out)
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return fmt.Errorf("--out %s: %w", *out, pathless(err))
	}
	defer func() {
		for _, dir := range made {
			os.Remove(dir) // only if empty
		}
	}()
	if err := checkOpenable("out", filepath.Join(*out, "report.md")); err != nil {
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
		return sig.stopped(writeIncomplete(report, *out, err))
	}
	if err := report.Write(*out); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "report written to %s (report.md, report.json, *.png)\n", *out)
	return nil
}

// writeIncomplete writes the report of a suite that stopped with err, if it
// measured anything, and returns err with where that report went: into dir,
// unless dir holds a complete report, which is kept, and the incomplete one
// goes beside it, into dir + ".incomplete", or, when that holds a complete
// report too, into the first of dir + ".incomplete2", ".incomplete3", …
// that does not.
func writeIncomplete(r *bench.Report, dir string, err error) error {
	if !r.Measured() {
		return fmt.Errorf("%w; nothing was measured", err)
	}
	dir = filepath.Clean(dir) // DIR/ + ".incomplete" would name a folder inside DIR
	for k, base := 1, dir; complete(dir); k++ {
		dir = base + ".incomplete"
		if k > 1 {
			dir += strconv.Itoa(k)
		}
	}
	if werr := r.Write(dir); werr != nil {
		return fmt.Errorf("%w; the report of what was measured could not be written: %v", err, werr)
	}
	return fmt.Errorf("%w; what was measured before is in %s", err, dir)
}

// complete reports whether dir holds the report of a suite that ran to its
// end.
func complete(dir string) bool {
	earlier, err := bench.ReadReport(dir)
	return err == nil && earlier.Incomplete == ""
}

// missingFolders returns dir and those of its parents that do not exist,
// innermost first: the folders os.MkdirAll(dir) would make.
func missingFolders(dir string) []string {
	var missing []string
	for {
		if _, err := os.Lstat(dir); err == nil {
			return missing
		}
		missing = append(missing, dir)
		parent := filepath.Dir(dir)
		if parent == dir {
			return missing
		}
		dir = parent
	}
}
