package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync/atomic"

	"gorgonia.org/tensor"

	"github.com/dnitrain/dnitrain/data"
	"github.com/dnitrain/dnitrain/kernels"
	"github.com/dnitrain/dnitrain/safetensors"
)

// checkpointFormat marks a safetensors file as a dnitrain checkpoint.
const checkpointFormat = "dnitrain-checkpoint-v1"

// Metadata keys of a checkpoint.
const (
	metaFormat = "format"
	metaConfig = "config"
	metaStep   = "step"
	// metaTrainSamples is the size of the training set the run trained
	// on: its epochs are counted in batches of it.
	metaTrainSamples = "train_samples"
)

// Save writes the trainer's full state to path in the safetensors format:
// every layer's and synthesizer's weights, batch-norm statistics, optimizer
// state, and metadata holding the config, the step and the size of the
// training set. The write is atomic:
// a crash leaves either the old file or the new one.
func (t *Trainer) Save(path string) error {
	if err := t.idle("Save"); err != nil {
		return err
	}
	cfg, err := json.Marshal(t.net.cfg)
	if err != nil {
		return fmt.Errorf("save %s: %w", path, err)
	}
	if err := t.net.syncHost(); err != nil {
		return fmt.Errorf("save %s: %w", path, err)
	}
	meta := map[string]string{metaFormat: checkpointFormat, metaConfig: string(cfg), metaStep: strconv.Itoa(t.step),
		metaTrainSamples: strconv.Itoa(t.train.N)}
	var ts []safetensors.Tensor
	for _, m := range t.net.modules() {
		for _, st := range stateOf(m) {
			v := st.value.Float32s()
			if k := kernels.FirstNonFinite(v); k >= 0 {
				return fmt.Errorf("save %s: %s holds %v at element %d: the run diverged (try a smaller --lr)", path, st.name, v[k], k)
			}
			ts = append(ts, safetensors.F32(st.name, st.value.Shape().Clone(), v))
		}
		ts = append(ts, safetensors.I64(m.Name()+".optimizer_steps", []int{}, []int64{int64(m.Optimizer().Steps())}))
	}
	return safetensors.WriteFile(path, ts, meta)
}

// namedTensor is one tensor of a module's saved state.
type namedTensor struct {
	name  string
	value *tensor.Dense
}

// stateOf lists everything of m that a checkpoint holds, but the optimizer's
// step count: parameters, statistics and per-parameter optimizer slots.
func stateOf(m module) []namedTensor {
	var out []namedTensor
	opt := m.Optimizer()
	for k, p := range m.Params() {
		out = append(out, namedTensor{p.Name, p.Value})
		for j, slot := range opt.Slots(k) {
			out = append(out, namedTensor{p.Name + "." + opt.SlotNames()[j], slot})
		}
	}
	for _, p := range m.Stats() {
		out = append(out, namedTensor{p.Name, p.Value})
	}
	return out
}

// Checkpoint is a decoded checkpoint file.
type Checkpoint struct {
	// Config is the run's configuration. Epochs may be raised before
	// calling Network, to train further.
	Config Config
	// Step is the number of training steps taken when it was written.
	Step int
	// TrainSamples is the size of the training set it trained on (0 in a
	// checkpoint written before it was recorded).
	TrainSamples int
	path         string
	file         *safetensors.File
	id           uint64 // what Network tags its network with, for Resume
}

// checkpoints numbers the checkpoints read (Checkpoint.id).
var checkpoints atomic.Uint64

// LoadCheckpoint reads and checks a checkpoint written by Save.
func LoadCheckpoint(path string) (*Checkpoint, error) {
	f, err := safetensors.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return newCheckpoint(path, f)
}

// DecodeCheckpoint is LoadCheckpoint for a file's content; name is used in
// errors. The checkpoint reads its tensors from b (safetensors.Decode), so
// b must not change until Network has returned.
func DecodeCheckpoint(name string, b []byte) (*Checkpoint, error) {
	f, err := safetensors.Decode(b)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	return newCheckpoint(name, f)
}

// CheckHeader returns nil when the header of the file at path says that
// Save wrote it, and otherwise why not, without reading the rest: a quick
// look before a checkpoint is replaced. LoadCheckpoint checks it all.
func CheckHeader(path string) error {
	meta, err := safetensors.ReadMetadata(path)
	if err != nil {
		return err
	}
	return checkFormat(path, meta)
}

// checkFormat returns an error unless meta is a checkpoint's metadata.
func checkFormat(path string, meta map[string]string) error {
	if meta[metaFormat] != checkpointFormat {
		return fmt.Errorf("%s: not a dnitrain checkpoint (format %q, want %q)", path, meta[metaFormat], checkpointFormat)
	}
	return nil
}

func newCheckpoint(path string, f *safetensors.File) (*Checkpoint, error) {
	if err := checkFormat(path, f.Metadata); err != nil {
		return nil, err
	}
	var err error
	if !f.Checksummed() { // Save always writes one
		return nil, fmt.Errorf("%s: the checkpoint has no checksum: it was changed after it was written", path)
	}
	c := &Checkpoint{path: path, file: f, id: checkpoints.Add(1)}
	// Checkpoints from before the input models had a shape of their own
	// built them as synthesizers: absent fields keep these marks.
	c.Config.InputHidden, c.Config.InputWidth = -1, -1
	if err := json.Unmarshal([]byte(f.Metadata[metaConfig]), &c.Config); err != nil {
		return nil, fmt.Errorf("%s: config: %w", path, err)
	}
	if c.Config.InputHidden == -1 && c.Config.InputWidth == -1 {
		c.Config.InputHidden, c.Config.InputWidth = c.Config.SGHidden, c.Config.SGWidth
	}
	if err := c.Config.Validate(); err != nil {
		return nil, fmt.Errorf("%s: config: %w", path, err)
	}
	if c.Step, err = strconv.Atoi(f.Metadata[metaStep]); err != nil || c.Step < 0 {
		return nil, fmt.Errorf("%s: bad step %q", path, f.Metadata[metaStep])
	}
	if n, ok := f.Metadata[metaTrainSamples]; ok {
		if c.TrainSamples, err = strconv.Atoi(n); err != nil || c.TrainSamples < 1 {
			return nil, fmt.Errorf("%s: bad training set size %q", path, n)
		}
	}
	return c, nil
}

// Network builds the network of c.Config and loads the saved state into it.
// Every tensor the network needs must be in the file with its exact shape,
// and the file must hold nothing else.
func (c *Checkpoint) Network() (_ *Network, err error) {
	if c.file == nil {
		return nil, errors.New("the checkpoint holds no saved state: read it with LoadCheckpoint or DecodeCheckpoint")
	}
	net, err := NewNetwork(c.Config)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c.path, err)
	}
	defer func() {
		if err != nil {
			net.Close() // its device memory, on a GPU
		}
	}()
	used := map[string]bool{}
	for _, m := range net.modules() {
		for _, st := range stateOf(m) {
			if err := c.load(st.name, st.value); err != nil {
				return nil, err
			}
			used[st.name] = true
		}
		name := m.Name() + ".optimizer_steps"
		steps, err := c.int(name)
		if err != nil {
			return nil, err
		}
		m.Optimizer().SetSteps(steps)
		used[name] = true
		if d, ok := m.(deviceModule); ok {
			if err := d.SyncDevice(); err != nil {
				return nil, fmt.Errorf("%s: %w", c.path, err)
			}
		}
	}
	for name := range c.file.Tensors {
		if !used[name] {
			return nil, fmt.Errorf("%s: unexpected tensor %q for this configuration", c.path, name)
		}
	}
	net.checkpoint = c.id
	return net, nil
}

func (c *Checkpoint) load(name string, dst *tensor.Dense) error {
	t, err := c.file.Tensor(name)
	if err != nil {
		return fmt.Errorf("%s: %w", c.path, err)
	}
	if !slices.Equal(t.Shape, []int(dst.Shape())) {
		return fmt.Errorf("%s: tensor %q has shape %v, the configuration needs %v", c.path, name, t.Shape, dst.Shape())
	}
	v, err := t.Float32s()
	if err != nil {
		return fmt.Errorf("%s: tensor %q: %w", c.path, name, err)
	}
	// Save refuses a diverged run: such values come from elsewhere.
	if k := kernels.FirstNonFinite(v); k >= 0 {
		return fmt.Errorf("%s: tensor %q holds %v at element %d", c.path, name, v[k], k)
	}
	copy(dst.Data().([]float32), v)
	return nil
}

func (c *Checkpoint) int(name string) (int, error) {
	t, err := c.file.Tensor(name)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", c.path, err)
	}
	v, err := t.Int64s()
	if err != nil || len(v) != 1 || v[0] < 0 {
		return 0, fmt.Errorf("%s: tensor %q is not a non-negative count", c.path, name)
	}
	return int(v[0]), nil
}

// TrainsOn returns an error when the run of c cannot go on training on
// the set train: one of another size than the set it trained on, whose
// epochs would be counted in other batches (a checkpoint written before
// the size was recorded passes).
func (c *Checkpoint) TrainsOn(train *data.Set) error {
	if train == nil {
		return errors.New("no training set")
	}
	if c.TrainSamples > 0 && c.TrainSamples != train.N {
		return fmt.Errorf("%s: the run trained on a set of %d samples, this training set has %d: resume it on the same data", c.path, c.TrainSamples, train.N)
	}
	return nil
}

// Resume sets the step count of a trainer built on the network of c
// (Checkpoint.Network). It refuses another network: one that c's Network
// did not build (its weights would not be the saved ones). To train on,
// check the training set with TrainsOn first.
func (t *Trainer) Resume(c *Checkpoint) error {
	if err := t.idle("Resume"); err != nil {
		return err
	}
	if c == nil {
		return errors.New("no checkpoint to resume from")
	}
	if c.id == 0 || t.net.checkpoint != c.id {
		return fmt.Errorf("%s: the trainer's network is not the checkpoint's: build it with Checkpoint.Network", c.path)
	}
	t.step = c.Step
	return nil
}
