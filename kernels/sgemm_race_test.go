//go:build race

package kernels

// sgemmRace reports whether the race detector is on: it allocates, and it
// makes the tests slow enough to be worth trimming.
const sgemmRace = true
