// Package bench is dnitrain's benchmark suite and its benchmarks.
//
// Run trains the networks the suite compares and returns a Report: each
// CPU's speed alone, the learning curves of every mode, the throughput of
// 4-layer cDNI under each execution set-up (the synchronous loop on one
// thread and on all, async on 1, 2, … workers, two separate jobs), the
// async-against-sync check built on those runs, with the ratios round by
// round, and the paper's MNIST table on this machine's schedule. The
// decoupled modes' curves and table runs also record the agreement of
// synthetic and true gradients (engine.Trainer.SGAgreement).
// Report.Write saves it as a folder: report.md, report.json and plots.
// Options.Sections runs parts of the suite alone; a suite stopped early
// returns the report of what it measured, marked Incomplete.
//
// The package's Go benchmarks time a training step of each mode on real
// MNIST batches (go test -bench Step ./bench), and with -tags gpu the GPU
// backend's products, kernels and stream overlap; the scripts beside it
// reproduce the README's tables, among them the comparison with PyTorch.
package bench
