package gpu

import (
	"math"
	"testing"
)

func TestIntervals(t *testing.T) {
	for _, c := range []struct {
		name      string
		xs, cover []Interval
		union     []Interval
		covered   float64
	}{
		{name: "empty", covered: 0},
		{name: "disjoint", xs: []Interval{{0, 1}}, cover: []Interval{{2, 3}}, union: []Interval{{2, 3}}, covered: 0},
		{name: "inside", xs: []Interval{{1, 2}}, cover: []Interval{{0, 3}}, union: []Interval{{0, 3}}, covered: 1},
		{name: "half", xs: []Interval{{0, 2}}, cover: []Interval{{1, 5}}, union: []Interval{{1, 5}}, covered: 0.5},
		{name: "overlapping cover merged", xs: []Interval{{0, 4}, {6, 8}},
			cover: []Interval{{3, 7}, {1, 2}, {1.5, 3.5}}, union: []Interval{{1, 7}}, covered: 4.0 / 6},
	} {
		t.Run(c.name, func(t *testing.T) {
			u := Union(c.cover)
			want := c.union
			if len(u) != len(want) {
				t.Fatalf("Union(%v) = %v, want %v", c.cover, u, want)
			}
			for i := range u {
				if u[i] != want[i] {
					t.Fatalf("Union(%v) = %v, want %v", c.cover, u, want)
				}
			}
			for i := 1; i < len(u); i++ {
				if u[i].Begin <= u[i-1].End {
					t.Fatalf("Union(%v) = %v: not disjoint and ordered", c.cover, u)
				}
			}
			if got := Covered(c.xs, u); math.Abs(got-c.covered) > 1e-12 {
				t.Errorf("Covered(%v, %v) = %v, want %v", c.xs, u, got, c.covered)
			}
		})
	}
}
