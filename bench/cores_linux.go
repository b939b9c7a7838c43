package bench

import (
	"runtime"

	"golang.org/x/sys/unix"
)

// cpuRates runs probeFor(n), n being the number of CPUs in the process's
// affinity mask, on each of them, one after the other, each time on a
// goroutine whose thread is confined to that CPU alone, and returns what
// it measured, by CPU.
func cpuRates(probeFor func(cpus int) func() float64) ([]cpuRate, error) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return nil, err
	}
	probe := probeFor(set.Count())
	var rates []cpuRate
	for cpu := 0; len(rates) < set.Count(); cpu++ {
		if !set.IsSet(cpu) {
			continue
		}
		rate, err := onCPU(cpu, probe)
		if err != nil {
			return nil, err
		}
		rates = append(rates, cpuRate{cpu: cpu, rate: rate})
	}
	return rates, nil
}

// onCPU runs f on a new goroutine locked to its thread, the thread
// confined to cpu. The goroutine ends still locked, so that the runtime
// ends the thread rather than give the confined thread other goroutines.
func onCPU(cpu int, f func() float64) (float64, error) {
	type result struct {
		v   float64
		err error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: see above
		var one unix.CPUSet
		one.Set(cpu)
		if err := unix.SchedSetaffinity(0, &one); err != nil {
			done <- result{err: err}
			return
		}
		done <- result{v: f()}
	}()
	r := <-done
	return r.v, r.err
}
