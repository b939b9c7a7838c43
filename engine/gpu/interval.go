package gpu

import "slices"

// Interval is a span of device time in milliseconds from a timeline's
// start.
type Interval struct{ Begin, End float64 }

// Union returns the union of the intervals as disjoint intervals in order.
func Union(in []Interval) []Interval {
	in = slices.Clone(in)
	slices.SortFunc(in, func(a, b Interval) int {
		switch {
		case a.Begin < b.Begin:
			return -1
		case a.Begin > b.Begin:
			return 1
		}
		return 0
	})
	var out []Interval
	for _, iv := range in {
		if n := len(out); n > 0 && iv.Begin <= out[n-1].End {
			out[n-1].End = max(out[n-1].End, iv.End)
			continue
		}
		out = append(out, iv)
	}
	return out
}

// Length returns the summed length of the intervals.
func Length(in []Interval) float64 {
	var sum float64
	for _, iv := range in {
		sum += iv.End - iv.Begin
	}
	return sum
}

// Covered returns the fraction of the total length of xs that lies inside
// the disjoint, ordered intervals of cover (0 when xs is empty).
func Covered(xs, cover []Interval) float64 {
	var in float64
	for _, x := range xs {
		for _, c := range cover {
			if lo, hi := max(x.Begin, c.Begin), min(x.End, c.End); hi > lo {
				in += hi - lo
			}
		}
	}
	if total := Length(xs); total > 0 {
		return in / total
	}
	return 0
}
