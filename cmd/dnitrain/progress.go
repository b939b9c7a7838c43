package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/dnitrain/dnitrain/engine"
)

// progress shows how an epoch advances: a redrawn bar on a terminal, a plain
// line every plainEvery otherwise, nothing when quiet.
type progress struct {
	w             io.Writer
	tty, quiet    bool
	epoch, epochs int
	last          time.Time
	drawn         bool
}

const (
	redrawEvery = 100 * time.Millisecond
	plainEvery  = 30 * time.Second
	barWidth    = 30
)

func newProgress(w io.Writer, quiet bool) *progress {
	f, ok := w.(*os.File)
	return &progress{w: w, quiet: quiet, tty: ok && term.IsTerminal(int(f.Fd()))}
}

func (p *progress) startEpoch(epoch, epochs int) {
	p.epoch, p.epochs, p.last = epoch, epochs, time.Now()
}

func (p *progress) update(s engine.Progress) {
	if p.quiet {
		return
	}
	every := plainEvery
	if p.tty {
		every = redrawEvery
	}
	if time.Since(p.last) < every && s.Step < s.Steps {
		return
	}
	p.last = time.Now()
	rate := float64(s.Samples) / s.Elapsed.Seconds()
	eta := time.Duration(float64(s.Elapsed) * float64(s.Steps-s.Step) / float64(s.Step)).Round(time.Second)
	if !p.tty {
		if s.Step < s.Steps {
			fmt.Fprintf(p.w, "epoch %d/%d: %d/%d steps  %.0f samples/s  loss %.4f  ETA %v\n", p.epoch, p.epochs, s.Step, s.Steps, rate, s.Loss, eta)
		}
		return
	}
	filled := barWidth * s.Step / s.Steps
	bar := strings.Repeat("=", filled) + strings.Repeat(" ", barWidth-filled)
	fmt.Fprintf(p.w, "\repoch %d/%d [%s] %d/%d  %.0f samples/s  loss %.4f  ETA %v\x1b[K", p.epoch, p.epochs, bar, s.Step, s.Steps, rate, s.Loss, eta)
	p.drawn = true
}

// clear removes the bar so that the next line starts clean.
func (p *progress) clear() {
	if p.drawn {
		fmt.Fprint(p.w, "\r\x1b[K")
		p.drawn = false
	}
}
