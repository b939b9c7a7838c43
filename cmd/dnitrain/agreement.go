package main

import (
	"fmt"
	"strings"

	"github.com/dnitrain/dnitrain/data"
	"github.com/dnitrain/dnitrain/engine"
)

// agreements are what --sg-agreement compares: each hidden layer's
// synthetic against its true gradient and, with unlocked inputs, each
// layer's synthetic against its real input.
type agreements struct {
	gradients, inputs []engine.Agreement
}

// compareSynthetic makes the comparisons of --sg-agreement on s, and
// returns those it made before an error with it.
func compareSynthetic(tr *engine.Trainer, s *data.Set) (agreements, error) {
	var a agreements
	var err error
	if a.gradients, err = tr.SGAgreement(s); err != nil {
		return agreements{}, err
	}
	if tr.Network().Config().Unlock {
		a.inputs, err = tr.InputAgreement(s) // the gradients' figures stand either way
	}
	return a, err
}

// String describes the comparisons in a line each, indented: the
// gradients of the hidden layers from layer0 up, the inputs of the layers
// from layer1 up.
func (a agreements) String() string {
	var b strings.Builder
	describe := func(what string, first int, xs []engine.Agreement) {
		if len(xs) == 0 {
			return
		}
		if b.Len() > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "  synthetic against %s (cosine, norm ratio):", what)
		for i, x := range xs {
			fmt.Fprintf(&b, "  layer%d %.3g %.3g", first+i, x.Cosine, x.NormRatio)
		}
	}
	describe("true gradient", 0, a.gradients)
	describe("real input", 1, a.inputs)
	return b.String()
}

// split returns the figures' cosines and norm ratios.
func split(xs []engine.Agreement) (cosines, ratios []float64) {
	for _, x := range xs {
		cosines, ratios = append(cosines, x.Cosine), append(ratios, x.NormRatio)
	}
	return cosines, ratios
}

// join is split's inverse.
func join(cosines, ratios []float64) []engine.Agreement {
	var xs []engine.Agreement
	for i := range cosines {
		xs = append(xs, engine.Agreement{Cosine: cosines[i], NormRatio: ratios[i]})
	}
	return xs
}
