// Command dnitrain trains neural networks whose layers are decoupled by
// synthetic gradients (Decoupled Neural Interfaces), and the backprop
// baseline, on MNIST-layout data sets.
//
// Usage:
//
//	dnitrain train [flags]   train a model (MNIST, embedded, by default)
//	dnitrain eval  [flags]   evaluate a checkpoint on the test set
//	dnitrain info  [flags]   describe a model and its data set
//	dnitrain bench [flags]   run the benchmark suite, write a report
//	dnitrain version         print the version, CPU kernel and GPU support
//
// Run "dnitrain <command> -h" for the flags of each command.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Exit codes.
const (
	exitError       = 1   // the command failed
	exitUsage       = 2   // bad command line
	exitInterrupted = 130 // stopped by SIGINT
	exitTerminated  = 143 // stopped by SIGTERM
)

// usageError marks an error in the command line: exit code 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// exitCode is an error that carries its own exit status.
type exitCode struct {
	code int
	err  error
}

func (e exitCode) Error() string { return e.err.Error() }

const topUsage = `dnitrain trains networks decoupled by synthetic gradients.

Usage:
  dnitrain train [flags]   train a model (the embedded MNIST by default)
  dnitrain eval  [flags]   evaluate a checkpoint on a test set
  dnitrain info  [flags]   describe a model, its parameters and its data set
  dnitrain bench [flags]   run the benchmark suite and write a report folder
  dnitrain version         print the version, the CPU kernel and GPU support

Run "dnitrain <command> -h" for a command's flags.
`

func main() {
	// A closed pipe on stdout or stderr (dnitrain train | head) is a write
	// error, which a command reports once its work is done and saved,
	// rather than a signal that kills it mid-run.
	signal.Ignore(syscall.SIGPIPE)
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes the command line args and returns the exit status. A
// command whose output could not be written to stdout fails, once it has
// done the rest of its work (a checkpoint, say).
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, topUsage)
		return exitUsage
	}
	out := &stickyWriter{w: stdout}
	code := runCommand(args, out, stderr)
	if out.err != nil && code == 0 {
		fmt.Fprintf(stderr, "dnitrain %s: write standard output: %v\n", args[0], out.err)
		return exitError
	}
	return code
}

// stickyWriter writes to w until a write fails, and keeps that error.
type stickyWriter struct {
	w   io.Writer
	err error
}

func (s *stickyWriter) Write(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	n, err := s.w.Write(p)
	s.err = err
	return n, err
}

// runCommand runs the command args[0] with its arguments and returns the
// exit status.
func runCommand(args []string, stdout, stderr io.Writer) int {
	var err error
	switch args[0] {
	case "train":
		err = trainCmd(args[1:], stdout, stderr)
	case "eval":
		err = evalCmd(args[1:], stdout, stderr)
	case "info":
		err = infoCmd(args[1:], stdout, stderr)
	case "bench":
		err = benchCmd(args[1:], stdout, stderr)
	case "version", "-version", "--version":
		err = versionCmd(args[1:], stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, topUsage)
		return 0
	default:
		fmt.Fprintf(stderr, "dnitrain: unknown command %q: the commands are train, eval, info, bench and version (dnitrain help)\n", args[0])
		return exitUsage
	}
	var usage usageError
	var code exitCode
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &usage):
		fmt.Fprintf(stderr, "dnitrain %s: %v\n", args[0], err)
		return exitUsage
	case errors.As(err, &code):
		fmt.Fprintf(stderr, "dnitrain %s: %v\n", args[0], err)
		return code.code
	default:
		fmt.Fprintf(stderr, "dnitrain %s: %v\n", args[0], err)
		return exitError
	}
}
