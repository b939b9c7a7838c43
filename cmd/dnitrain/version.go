package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/dnitrain/dnitrain/engine"
	"github.com/dnitrain/dnitrain/kernels"
)

func versionCmd(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("version", "Prints the version of dnitrain, the Go toolchain that built it, its CPU kernel and whether it has the GPU backend.", stderr)
	if err := parse(fs, args); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "dnitrain %s, %s %s/%s, sgemm micro-kernel %s, GPU backend %s\n",
		moduleVersion(), runtime.Version(), runtime.GOOS, runtime.GOARCH, kernels.SgemmKernel(), gpuSupport())
	return nil
}

// moduleVersion returns the version of the main module as the build
// recorded it: a release tag, or the commit of a build from a checkout.
func moduleVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "(unknown)"
	}
	v := bi.Main.Version
	if v != "" && v != "(devel)" {
		return v
	}
	var rev, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				modified = " (modified)"
			}
		}
	}
	if rev == "" {
		return "(devel)"
	}
	return "commit " + rev[:min(12, len(rev))] + modified
}

func gpuSupport() string {
	if engine.GPUBuilt() {
		return "built in (tag gpu)"
	}
	return "not built (build with -tags gpu)"
}
