package bench

import (
	"testing"
	"time"
)

func TestCoreProbeFor(t *testing.T) {
	for _, c := range []struct {
		cpus int
		want time.Duration
	}{{1, coreProbeTime}, {2, coreProbeTime}, {20, coreProbeTime}, {40, 50 * time.Millisecond}, {1000, coreProbeLeast}} {
		if got := coreProbeFor(c.cpus); got != c.want {
			t.Errorf("coreProbeFor(%d) = %v, want %v", c.cpus, got, c.want)
		}
	}
}
