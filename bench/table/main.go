// Command table prints a markdown table summarising dnitrain --metrics files:
// one row per file with its mode, epochs, best and final test error, and
// the mean training seconds per epoch.
//
//	go run ./bench/table runs/results/*.jsonl
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// epoch is the part of a --metrics record the table uses.
type epoch struct {
	Epoch         int     `json:"epoch"`
	Mode          string  `json:"mode"`
	TestError     float64 `json:"test_error"`
	Seconds       float64 `json:"seconds"`
	SamplesPerSec float64 `json:"samples_per_sec"`
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: table METRICS.jsonl...")
		os.Exit(2)
	}
	fmt.Println("| run | mode | epochs | best test error | final test error | s/epoch | samples/s | curve (test error % per epoch) |")
	fmt.Println("|---|---|---|---|---|---|---|---|")
	for _, path := range os.Args[1:] {
		recs, err := read(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, "table:", err)
			os.Exit(1)
		}
		if len(recs) == 0 {
			continue
		}
		best, secs, rate := recs[0].TestError, 0.0, 0.0
		var curve []string
		for _, r := range recs {
			best = min(best, r.TestError)
			secs += r.Seconds
			rate += r.SamplesPerSec
			curve = append(curve, fmt.Sprintf("%.2f", r.TestError))
		}
		n := float64(len(recs))
		last := recs[len(recs)-1]
		fmt.Printf("| %s | %s | %d | %.2f%% | %.2f%% | %.1f | %.0f | %s |\n", strings.TrimSuffix(filepath.Base(path), ".jsonl"),
			last.Mode, last.Epoch, best, last.TestError, secs/n, rate/n, strings.Join(curve, " "))
	}
}

func read(path string) ([]epoch, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var recs []epoch
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r epoch
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		recs = append(recs, r)
	}
	return recs, sc.Err()
}
