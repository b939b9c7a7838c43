//go:build gpu

package cuda

import (
	"errors"
	"math/rand/v2"
	"slices"
	"testing"
)

// A captured graph runs nothing until launched, and then each launch does
// what the recorded work did: here a split-K product (through the stream's
// work buffer) and a scaling, launched twice.
func TestCaptureReplays(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	const m, n, k = 64, 96, 1024
	a, b := randomFloats(rng, m*k, 1), randomFloats(rng, k*n, 1)
	ad, bd := onDevice(t, a), onDevice(t, b)
	direct, cd := onDevice(t, make([]float32, m*n)), onDevice(t, make([]float32, m*n))
	x := randomFloats(rng, 1000, 1)
	xd := onDevice(t, x)
	queue := func(c Buffer, scale bool) error {
		if err := stream.GemmSplit(c, ad, bd, Buffer{}, m, n, k, k, n, n, false, false, 0, 0, 4); err != nil {
			return err
		}
		if scale {
			return stream.Scale(xd, 2)
		}
		return nil
	}
	if err := queue(direct, false); err != nil {
		t.Fatal(err)
	}
	g, err := stream.Capture(func() error { return queue(cd, true) })
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if got := fromDevice(t, xd, len(x)); !slices.Equal(got, x) {
		t.Fatal("the captured work ran at capture")
	}
	for range 2 {
		if err := stream.Launch(g); err != nil {
			t.Fatal(err)
		}
	}
	want := make([]float32, len(x))
	for i, v := range x {
		want[i] = 4 * v
	}
	if got := fromDevice(t, xd, len(x)); !slices.Equal(got, want) {
		t.Errorf("after two launches: %v…, want %v…", got[:3], want[:3])
	}
	if got, d := fromDevice(t, cd, m*n), fromDevice(t, direct, m*n); !slices.Equal(got, d) {
		t.Error("the graph's product differs from the direct one's")
	}
	// A failing queue returns its error and leaves the stream working.
	bad := errors.New("queue failed")
	if _, err := stream.Capture(func() error { stream.Scale(xd, 2); return bad }); err != bad {
		t.Errorf("capture of a failing queue: %v", err)
	}
	if _, err := stream.Capture(func() error { return nil }); err == nil {
		t.Error("an empty capture gave a graph")
	}
	if err := stream.Scale(xd, 0.25); err != nil {
		t.Fatal(err)
	}
	if got := fromDevice(t, xd, len(x)); !slices.Equal(got, x) {
		t.Error("the stream after the failed captures: wrong result")
	}
}
