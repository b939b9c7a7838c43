package bench

import (
	"runtime"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

// threadCPU returns the one CPU the calling thread may run on, or -1 when
// it may run on several.
func threadCPU() float64 {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil || set.Count() != 1 {
		return -1
	}
	for cpu := 0; ; cpu++ {
		if set.IsSet(cpu) {
			return float64(cpu)
		}
	}
}

// cpuRates runs its probe once on each CPU of the process's mask, confined
// to that CPU, and leaves the caller's thread as it was.
func TestCPURatesConfineTheProbe(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var before, after unix.CPUSet
	if err := unix.SchedGetaffinity(0, &before); err != nil {
		t.Skip(err)
	}
	rates, err := cpuRates(func(int) func() float64 { return threadCPU })
	if err != nil {
		t.Fatal(err)
	}
	if len(rates) != before.Count() {
		t.Fatalf("%d CPUs probed, the mask holds %d", len(rates), before.Count())
	}
	for _, r := range rates {
		if !before.IsSet(r.cpu) || r.rate != float64(r.cpu) {
			t.Errorf("the probe for CPU %d ran confined to %v", r.cpu, r.rate)
		}
	}
	if err := unix.SchedGetaffinity(0, &after); err != nil || after != before {
		t.Errorf("the caller's mask changed: %v, then %v (%v)", before, after, err)
	}
	// No thread confined by the probes went back to the runtime: goroutines
	// locked to threads, old or new, all find the process's mask.
	n := 4 * runtime.GOMAXPROCS(0)
	masks := make(chan unix.CPUSet, n)
	var wg sync.WaitGroup
	release := make(chan struct{})
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			var set unix.CPUSet
			unix.SchedGetaffinity(0, &set)
			masks <- set
			<-release // hold the thread, so that each goroutine has its own
		}()
	}
	for range n {
		if set := <-masks; set != before {
			t.Errorf("a thread of the runtime is confined to %v, the process's mask is %v", set, before)
		}
	}
	close(release)
	wg.Wait()
}

func TestSgemmRate(t *testing.T) {
	// Any CPU that runs the tests multiplies faster than 0.1 GFLOP/s and
	// slower than 10 TFLOP/s on one thread.
	if r := sgemmRate(coreProbeLeast); !(r > 0.1 && r < 1e4) {
		t.Errorf("sgemmRate = %v GFLOP/s", r)
	}
}
