//go:build !linux

package bench

import "errors"

// cpuRates reports that this system's goroutines cannot be confined to a
// CPU here (the suite does so on Linux only).
func cpuRates(probeFor func(cpus int) func() float64) ([]cpuRate, error) {
	return nil, errors.New("confining a thread to a CPU is implemented on Linux only")
}
