package kernels

// Cores is a number of places for goroutines that compute, shared by the
// goroutines of one job that take part, so that no more of them compute at
// once than it has places: a goroutine takes a place before it computes and
// gives it back when it stops or waits. A Gemm with Cores set takes the
// places of its helper goroutines from it (helpers that spin for the next
// call, briefly, hold none). Make one with NewCores: the zero Cores has no
// places, and Acquire on it would wait for ever.
type Cores struct {
	places chan struct{}
}

// NewCores returns n places (at least one).
func NewCores(n int) *Cores {
	return &Cores{places: make(chan struct{}, max(n, 1))}
}

// Len returns the number of places.
func (c *Cores) Len() int { return cap(c.places) }

// Acquire takes a place, waiting for one to be free.
func (c *Cores) Acquire() { c.places <- struct{}{} }

// TryAcquire takes as many as n places as are free, without waiting, and
// returns how many it took.
func (c *Cores) TryAcquire(n int) int {
	for got := 0; got < n; got++ {
		select {
		case c.places <- struct{}{}:
		default:
			return got
		}
	}
	return n
}

// free reports whether a place is free; false for a nil Cores.
func (c *Cores) free() bool { return c != nil && len(c.places) < cap(c.places) }

// Release gives back n places; it panics if fewer are taken, a programming
// error that would otherwise wait for ever.
func (c *Cores) Release(n int) {
	for range n {
		select {
		case <-c.places:
		default:
			panic("kernels: Cores.Release: more places than are taken")
		}
	}
}
