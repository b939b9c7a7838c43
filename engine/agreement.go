package engine

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"gorgonia.org/tensor"

	"github.com/dnitrain/dnitrain/data"
)

// Agreement is how a synthetic quantity compares with the real one on one
// batch, each taken over the whole batch as one vector: a synthetic
// gradient ĝ_i = M_i(h_i) with the true gradient g_i = ∂L/∂h_i
// (SGAgreement), or a synthetic input Î(x) with the real output of the
// layer below (InputAgreement).
type Agreement struct {
	Cosine    float64 // cos(ĝ, g): 1 when they point alike, 0 when unrelated (or either is zero)
	NormRatio float64 // ‖ĝ‖/‖g‖ (0 when g is zero)
}

// SGAgreement compares, for every hidden layer i from the bottom up, the
// synthetic gradient of M_i with the true gradient of the loss, which
// backpropagation through the current network gives, on the first Batch
// samples of s (all of them when s holds fewer). The layers run in
// training mode, as in a training step, so batch norm uses the batch's
// statistics, and each takes the real output of the layer below (with
// unlocked inputs too, where training gives the layers above the first
// the input models' predictions). The running statistics that the
// forward passes move are put back; the gradients and forward caches it
// overwrites are computed afresh by every training step before it reads
// them; no update is applied: a run that calls SGAgreement between epochs
// trains bit for bit as one that does not. Only the decoupled modes have
// synthesizers.
func (t *Trainer) SGAgreement(s *data.Set) ([]Agreement, error) {
	cfg := t.net.cfg
	if !cfg.Mode.Decoupled() {
		return nil, fmt.Errorf("mode %s has no synthetic gradients to compare", cfg.Mode)
	}
	return t.compareOn(s, "synthetic gradients", cfg.SGHidden > 0 && cfg.SGBatchNorm, t.net.agreement)
}

// InputAgreement compares, for every layer above the first, the synthetic
// input Î(x) that it trains on with unlocked inputs against the real
// output of the layer below, from the bottom up (the top layer's input
// last), as SGAgreement does its gradients: on the first Batch samples of
// s, the layers in training mode, nothing updated and the batch-norm
// running statistics put back. Only a run with unlocked inputs has input
// models.
func (t *Trainer) InputAgreement(s *data.Set) ([]Agreement, error) {
	cfg := t.net.cfg
	if !cfg.Unlock {
		return nil, errors.New("a run without unlocked inputs has no synthetic inputs to compare")
	}
	return t.compareOn(s, "synthetic inputs", cfg.InputHidden > 0 && cfg.SGBatchNorm, t.net.inputAgreement)
}

// compareOn runs compare on a batch of the first Batch samples of s (all
// of them when s holds fewer) with the network's batch-norm running
// statistics kept and put back afterwards; what names the comparison in
// its errors, and modelBN says whether the models it runs use batch norm.
func (t *Trainer) compareOn(s *data.Set, what string, modelBN bool, compare func(x, labels *tensor.Dense) ([]Agreement, error)) (a []Agreement, err error) {
	if err := t.idle("compare " + what); err != nil {
		return nil, err
	}
	if s == nil {
		return nil, fmt.Errorf("compare %s: no data set", what)
	}
	defer func() {
		if err != nil {
			err = fmt.Errorf("compare %s on the %s set: %w", what, s.Name, err)
		}
	}()
	cfg := t.net.cfg
	if err := checkSet(cfg, s); err != nil {
		return nil, err
	}
	n := min(cfg.Batch, s.N)
	if n == 1 && (cfg.BatchNorm || modelBN) {
		return nil, errors.New("a batch of one sample, which batch norm normalises to zero, cannot be compared")
	}
	b := t.headBatch(s, n)
	restore, err := t.net.keepStats()
	if err != nil {
		return nil, err
	}
	defer func() {
		if rerr := restore(); err == nil {
			err = rerr
		}
	}()
	return compare(b.x, b.labels)
}

// headBatch returns a batch of the first n samples of s, in the buffers
// of evaluations.
func (t *Trainer) headBatch(s *data.Set, n int) *batch {
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	b := t.otherBuffers(n)
	fillBatch(b, s, idx, t.net.cfg)
	return b
}

// agreement computes SGAgreement's figures on the batch x with one-hot
// labels: a forward pass through the layers, the true gradient from the
// top layer down through their backward passes, and each synthesizer's
// prediction.
func (n *Network) agreement(x, labels *tensor.Dense) ([]Agreement, error) {
	hs, grads, err := n.backpropGradients(x, labels)
	if err != nil {
		return nil, err
	}
	out := make([]Agreement, len(n.hidden))
	for i, h := range hs {
		if k, v := firstNonFinite(grads[i]); k >= 0 {
			return nil, fmt.Errorf("the run diverged: the true gradient of layer%d has %v at element %d (try a smaller --lr)", i, v, k)
		}
		gHat, err := n.predict(i, h, labels) // checked to be finite
		if err != nil {
			return nil, err
		}
		out[i] = agreementOf(gHat.Float32s(), grads[i].Float32s())
	}
	return out, nil
}

// inputAgreement computes InputAgreement's figures on the batch x: a
// forward pass through the layers, and each input model's prediction of
// the layer output it stands for.
func (n *Network) inputAgreement(x, _ *tensor.Dense) ([]Agreement, error) {
	hs, err := n.trainForward(x)
	if err != nil {
		return nil, err
	}
	out := make([]Agreement, len(n.inputs))
	for i, h := range hs {
		if k, v := firstNonFinite(h); k >= 0 {
			return nil, fmt.Errorf("the run diverged: the output of layer%d has %v at element %d (try a smaller --lr)", i, v, k)
		}
		in, err := n.inputs[i].Predict(x, nil)
		if err != nil {
			return nil, err
		}
		if k, v := firstNonFinite(in); k >= 0 {
			return nil, fmt.Errorf("the run diverged: synthetic input of layer%d has %v at element %d (try a smaller --lr or --sg-lr)", i+1, v, k)
		}
		out[i] = agreementOf(in.Float32s(), h.Float32s())
	}
	return out, nil
}

// trainForward runs the hidden layers on the batch x in training mode and
// returns each one's output h_i. It moves the batch-norm running
// statistics.
func (n *Network) trainForward(x *tensor.Dense) ([]*tensor.Dense, error) {
	hs := make([]*tensor.Dense, len(n.hidden))
	h := x
	var err error
	for i, layer := range n.hidden {
		if h, err = layer.Forward(h, true); err != nil {
			return nil, err
		}
		hs[i] = h
	}
	return hs, nil
}

// backpropGradients runs the hidden layers on the batch x in training mode
// and the true gradient of the loss down from the top layer: it returns
// each hidden layer's output h_i and a copy of ∂L/∂h_i. It applies no
// update, but the forward passes move the batch-norm running statistics.
func (n *Network) backpropGradients(x, labels *tensor.Dense) (hs, grads []*tensor.Dense, err error) {
	if hs, err = n.trainForward(x); err != nil {
		return nil, nil, err
	}
	h := x
	if len(hs) > 0 {
		h = hs[len(hs)-1]
	}
	_, _, g, err := n.top.Train(h, labels)
	if err != nil {
		return nil, nil, err
	}
	grads = make([]*tensor.Dense, len(n.hidden))
	for i := len(n.hidden) - 1; i >= 0; i-- {
		grads[i] = g.Clone().(*tensor.Dense)
		if i > 0 {
			if g, err = n.hidden[i].Backward(g); err != nil {
				return nil, nil, err
			}
		}
	}
	return hs, grads, nil
}

// agreementOf returns the cosine and norm ratio of gHat against g, both
// finite, summed in float64. Where a vector is zero, so that a figure is undefined, it is
// 0: the cosine when either is, the norm ratio when g is.
func agreementOf(gHat, g []float32) Agreement {
	var dot, nh, ng float64
	for k := range g {
		a, b := float64(gHat[k]), float64(g[k])
		dot += a * b
		nh += a * a
		ng += b * b
	}
	var out Agreement
	if nh > 0 && ng > 0 {
		out.Cosine = dot / math.Sqrt(nh*ng)
	}
	if ng > 0 {
		out.NormRatio = math.Sqrt(nh / ng)
	}
	return out
}

// keepStats saves the batch-norm running statistics of the network's
// modules (brought to the host first where they live on a device) and
// returns the function that puts them back.
func (n *Network) keepStats() (restore func() error, err error) {
	if err := n.syncHost(); err != nil {
		return nil, err
	}
	var saved [][]float32
	for _, m := range n.modules() {
		for _, p := range m.Stats() {
			saved = append(saved, slices.Clone(p.Value.Float32s()))
		}
	}
	return func() error {
		k := 0
		for _, m := range n.modules() {
			for _, p := range m.Stats() {
				copy(p.Value.Float32s(), saved[k])
				k++
			}
			if d, ok := m.(deviceModule); ok {
				if err := d.SyncDevice(); err != nil {
					return err
				}
			}
		}
		return nil
	}, nil
}
