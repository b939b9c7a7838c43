package gpu

import (
	"slices"
	"testing"
)

func TestParamOffsets(t *testing.T) {
	for _, c := range []struct {
		name    string
		sizes   []int
		offsets []int
		total   int
	}{
		{name: "none", total: 0},
		{name: "one aligned", sizes: []int{64}, offsets: []int{0}, total: 64},
		{name: "a dense layer with batch norm", sizes: []int{784 * 256, 256, 256}, offsets: []int{0, 200704, 200960}, total: 201216},
		{name: "odd sizes", sizes: []int{1, 10, 33, 7}, offsets: []int{0, 32, 64, 128}, total: 160},
	} {
		t.Run(c.name, func(t *testing.T) {
			offsets, total := paramOffsets(c.sizes)
			if !slices.Equal(offsets, c.offsets) || total != c.total {
				t.Errorf("offsets %v, total %d; want %v, %d", offsets, total, c.offsets, c.total)
			}
			for k, off := range offsets {
				if off%paramAlign != 0 {
					t.Errorf("parameter %d at %d: not aligned", k, off)
				}
				if end := off + c.sizes[k]; end > total || k+1 < len(offsets) && end > offsets[k+1] {
					t.Errorf("parameter %d [%d, %d) overlaps the next or passes the end (%d)", k, off, end, total)
				}
			}
		})
	}
}
