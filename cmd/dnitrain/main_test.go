package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dnitrain/dnitrain/bench"
)

// writeIDX writes a small MNIST-layout data set of 4×4 images into dir:
// class c images are bright in row c, so that a model can learn them.
func writeIDX(t *testing.T, dir string, nTrain, nTest int) {
	t.Helper()
	write := func(name string, magic uint32, dims []uint32, body []byte) {
		var b bytes.Buffer
		binary.Write(&b, binary.BigEndian, magic)
		for _, d := range dims {
			binary.Write(&b, binary.BigEndian, d)
		}
		b.Write(body)
		if err := os.WriteFile(filepath.Join(dir, name), b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	set := func(prefix string, n int) {
		imgs, labels := make([]byte, n*16), make([]byte, n)
		for i := 0; i < n; i++ {
			c := i % 4
			labels[i] = byte(c)
			for j := 0; j < 16; j++ {
				imgs[i*16+j] = byte((i*7 + j*13) % 60)
				if j/4 == c {
					imgs[i*16+j] += 180
				}
			}
		}
		write(prefix+"-images-idx3-ubyte", 0x803, []uint32{uint32(n), 4, 4}, imgs)
		write(prefix+"-labels-idx1-ubyte", 0x801, []uint32{uint32(n)}, labels)
	}
	set("train", nTrain)
	set("t10k", nTest)
}

func runCLI(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestBadCommandLines(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{nil, exitUsage, "Usage"},
		{[]string{"fly"}, exitUsage, `unknown command "fly"`},
		{[]string{"train", "--no-such-flag"}, exitUsage, "no-such-flag"},
		{[]string{"train", "--batch", "abc"}, exitUsage, `invalid value "abc" for flag -batch`},
		{[]string{"train", "--epochs"}, exitUsage, "needs an argument"},
		{[]string{"info", "--bogus"}, exitUsage, "dnitrain info -h"},
		{[]string{"eval", "--bogus"}, exitUsage, "dnitrain eval -h"},
		{[]string{"bench", "--rounds", "99999999999999999999"}, exitUsage, "out of range"},
		{[]string{"train", "--mode", "sideways"}, exitUsage, "unknown mode"},
		{[]string{"train", "--layers", "0"}, exitUsage, "--layers"},
		{[]string{"train", "--batch", "-3"}, exitUsage, "--batch"},
		{[]string{"train", "--lr", "-1"}, exitUsage, "learning rate"},
		{[]string{"train", "--lr", "1e300"}, exitUsage, "float32's range"},
		{[]string{"train", "--sg-hidden", "-1"}, exitUsage, "--sg-hidden must be 0 or more"},
		{[]string{"train", "--sg-lr", "0"}, exitUsage, "--sg-lr must be a positive number"},
		{[]string{"train", "--mode", "bprop", "--layers", "1", "--hidden", "-5"}, exitUsage, "--hidden has no effect with --layers 1"},
		{[]string{"info", "--mode", "bprop", "--layers", "1", "--activation", "tanh"}, exitUsage, "--activation has no effect"},
		{[]string{"train", "--epochs", "0"}, exitUsage, "--epochs"},
		{[]string{"train", "--sg-hidden", "2", "--sg-width", "0"}, exitUsage, "--sg-width"},
		{[]string{"train", "--optimizer", "rmsprop"}, exitUsage, "unknown optimizer"},
		{[]string{"train", "--lr-decay", "10,x"}, exitUsage, "--lr-decay"},
		{[]string{"train", "--lr-decay", "99999999999999999999"}, exitUsage, "out of range"},
		{[]string{"train", "--metrics", "m.jsonl", "--trace", "./m.jsonl"}, exitUsage, "--metrics and --trace name the same file"},
		{[]string{"train", "--checkpoint", "a.st", "--cpuprofile", "a.st"}, exitUsage, "--checkpoint and --cpuprofile name the same file"},
		{[]string{"train", "--resume", "a.st", "--cpuprofile", "a.st"}, exitUsage, "--cpuprofile names the checkpoint to resume from"},
		{[]string{"train", "extra"}, exitUsage, "unexpected argument"},
		{[]string{"train", "--lambda", "2"}, exitUsage, "--lambda"},
		{[]string{"train", "--mode", "bprop", "--lambda", "0.5"}, exitUsage, "--lambda"},
		{[]string{"train", "--update-prob", "0"}, exitUsage, "--update-prob"},
		{[]string{"train", "--update-prob", "0.5,1"}, exitUsage, "--update-prob"},
		{[]string{"train", "--update-prob", "x"}, exitUsage, "--update-prob"},
		{[]string{"train", "--sg-warmup", "-1"}, exitUsage, "--sg-warmup"},
		{[]string{"train", "--backend", "gpu"}, exitUsage, "unknown backend"},
		{[]string{"train", "--device", "tpu:0"}, exitUsage, "unknown --device"},
		{[]string{"train", "--device", "cuda:-1"}, exitUsage, "unknown --device"},
		{[]string{"bench", "--device", "gpu0"}, exitUsage, "--device"},
		{[]string{"train", "--threads", "-1"}, exitUsage, "--threads"},
		{[]string{"train", "--exec", "later"}, exitUsage, "--exec"},
		{[]string{"train", "--exec", "async", "--mode", "bprop"}, exitUsage, "--exec async"},
		{[]string{"train", "--queue", "0"}, exitUsage, "--queue"},
		{[]string{"train", "--unlock", "--mode", "bprop"}, exitUsage, "--unlock"},
		{[]string{"train", "--unlock", "--input-hidden", "17"}, exitUsage, "--input-hidden"},
		{[]string{"train", "--input-hidden", "-1"}, exitUsage, "--input-hidden"},
		{[]string{"train", "--unlock", "--input-width", "0"}, exitUsage, "--input-width"},
		{[]string{"train", "--resume", "x.safetensors", "--hidden", "3"}, exitUsage, "--hidden cannot be changed"},
		{[]string{"info", "--checkpoint", "x.safetensors", "--mode", "dni"}, exitUsage, "--mode cannot be changed"},
		{[]string{"train", "--workers", "3"}, exitUsage, "--workers has no effect with --exec sync"},
		{[]string{"train", "--queue", "4"}, exitUsage, "--queue has no effect with --exec sync"},
		{[]string{"train", "--mode", "bprop", "--sg-scale", "5"}, exitUsage, "--sg-scale has no effect with --mode bprop"},
		{[]string{"train", "--mode", "bprop", "--sg-agreement"}, exitUsage, "--sg-agreement has no effect with --mode bprop"},
		{[]string{"train", "--mode", "bprop", "--sg-agreement=false"}, exitUsage, "--sg-agreement has no effect with --mode bprop"},
		{[]string{"train", "--mode", "cdni", "--sg-width", "512"}, exitUsage, "--sg-width has no effect with --sg-hidden 0"},
		{[]string{"train", "--sg-batchnorm=false"}, exitUsage, "--sg-batchnorm has no effect"},
		{[]string{"train", "--input-width", "9"}, exitUsage, "--input-width has no effect with no --unlock"},
		{[]string{"train", "--unlock", "--input-hidden", "0", "--input-width", "9"}, exitUsage, "--input-width has no effect with --input-hidden 0"},
		{[]string{"train", "--momentum", "0.5"}, exitUsage, "--momentum has no effect with --optimizer adam"},
		{[]string{"train", "--lr-decay-factor", "0.5"}, exitUsage, "--lr-decay-factor has no effect with no --lr-decay"},
		{[]string{"train", "--batch", "1"}, exitUsage, "--batch 1 with batch norm"},
		{[]string{"train", "--data", "/nonexistent-folder"}, exitError, "nonexistent-folder"},
		{[]string{"train", "--cpuprofile", "/nonexistent-folder/cpu.prof"}, exitError, "nonexistent-folder"},
		{[]string{"train", "--trace", "/nonexistent-folder/trace.out"}, exitError, "nonexistent-folder"},
		{[]string{"train", "--metrics", "/nonexistent-folder/m.jsonl"}, exitError, "nonexistent-folder"},
		{[]string{"train", "--checkpoint", "/nonexistent-folder/run.safetensors"}, exitError, "nonexistent-folder"},
		{[]string{"train", "--checkpoint", os.TempDir()}, exitError, "is a folder"},
		{[]string{"train", "--checkpoint", os.DevNull}, exitError, "is not a regular file"},
		{[]string{"train", "--metrics", os.TempDir()}, exitError, "is a folder"},
		{[]string{"bench", "--out", "/dev/null/report"}, exitError, "/dev/null"},
		{[]string{"bench", "--sections", "curves,bogus"}, exitUsage, "--sections"},
		{[]string{"bench", "--rounds", "-2"}, exitUsage, "--rounds"},
		{[]string{"bench", "--sections", " "}, exitUsage, "--sections is empty"},
		{[]string{"eval"}, exitUsage, "--checkpoint is required"},
		{[]string{"version", "extra"}, exitUsage, "unexpected argument"},
		{[]string{"eval", "--checkpoint", "/nonexistent.safetensors"}, exitError, "nonexistent.safetensors"},
	} {
		code, _, stderr := runCLI(tc.args...)
		if code != tc.code || !strings.Contains(stderr, tc.msg) {
			t.Errorf("%q: exit %d, stderr %q; want exit %d mentioning %q", tc.args, code, stderr, tc.code, tc.msg)
		}
		if tc.args != nil && strings.Count(strings.TrimSpace(stderr), "\n") > 0 {
			t.Errorf("%q: error is not one line: %q", tc.args, stderr)
		}
	}
}

// bench --sections runs those parts of the suite alone and writes their
// report; --rounds sets the throughput runs' rounds.
func TestBenchSections(t *testing.T) {
	dir := t.TempDir()
	writeIDX(t, dir, 96, 40)
	out := filepath.Join(dir, "report")
	code, stdout, stderr := runCLI("bench", "--quick", "--data", dir, "--sections", "throughput,table", "--rounds", "2", "--out", out)
	if code != 0 {
		t.Fatalf("bench: exit %d: %s", code, stderr)
	}
	md, err := os.ReadFile(filepath.Join(out, "report.md"))
	if err != nil || !strings.Contains(string(md), "## The paper's MNIST table") || strings.Contains(string(md), "## Learning curves") {
		t.Errorf("report.md (%v):\n%s", err, md)
	}
	var report struct {
		Throughput []struct {
			Rounds []float64 `json:"rounds_samples_per_sec"`
		} `json:"throughput"`
	}
	raw, err := os.ReadFile(filepath.Join(out, "report.json"))
	if err == nil {
		err = json.Unmarshal(raw, &report)
	}
	if err != nil || len(report.Throughput) == 0 || len(report.Throughput[0].Rounds) != 2 {
		t.Errorf("report.json (%v): %+v", err, report.Throughput)
	}
	if !strings.Contains(stdout, "report written to "+out) {
		t.Errorf("bench output:\n%s", stdout)
	}
}

func TestTrainResumeEvalInfo(t *testing.T) {
	dir := t.TempDir()
	writeIDX(t, dir, 96, 40)
	ckpt := filepath.Join(dir, "run.safetensors")
	metrics := filepath.Join(dir, "metrics.jsonl")
	common := []string{"--data", dir, "--hidden", "16", "--batch", "32", "--lr", "0.01", "--metrics", metrics, "--checkpoint", ckpt}

	profile, traceOut := filepath.Join(dir, "cpu.prof"), filepath.Join(dir, "trace.out")
	code, stdout, stderr := runCLI(append([]string{"train", "--epochs", "2", "--cpuprofile", profile, "--trace", traceOut}, common...)...)
	if code != 0 {
		t.Fatalf("train: exit %d: %s", code, stderr)
	}
	if fi, err := os.Stat(profile); err != nil || fi.Size() == 0 {
		t.Errorf("--cpuprofile wrote no profile: %v", err)
	}
	if fi, err := os.Stat(traceOut); err != nil || fi.Size() == 0 {
		t.Errorf("--trace wrote no trace: %v", err)
	}
	if !strings.Contains(stdout, "epoch 2/2") {
		t.Errorf("train output lacks the epoch lines:\n%s", stdout)
	}
	// Resuming with more epochs continues from step 6 (3 steps per epoch),
	// here on two async workers, comparing its synthetic gradients.
	code, _, stderr = runCLI("train", "--resume", ckpt, "--epochs", "3", "--exec", "async", "--workers", "2", "--data", dir, "--metrics", metrics, "--checkpoint", ckpt, "--quiet", "--sg-agreement")
	if code != 0 {
		t.Fatalf("resume: exit %d: %s", code, stderr)
	}
	if stderr != "" {
		t.Errorf("--quiet printed %q", stderr)
	}
	f, err := os.Open(metrics)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var recs []record
	for sc := bufio.NewScanner(f); sc.Scan(); {
		var r record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("metrics line %q: %v", sc.Text(), err)
		}
		recs = append(recs, r)
	}
	if len(recs) != 3 {
		t.Fatalf("%d metrics records, want 3", len(recs))
	}
	for i, r := range recs {
		workers, compared := 0, 0 // sync, without --sg-agreement
		if i == 2 {
			workers, compared = 2, 2
		}
		if r.Epoch != i+1 || r.Step != 3*(i+1) || r.Mode != "cdni" || !(r.Seconds > 0) || !(r.SamplesPerSec > 0) || len(r.WorkerBusy) != workers ||
			len(r.SGCosine) != compared || len(r.SGNormRatio) != compared {
			t.Errorf("record %d: %+v", i, r)
		}
		for k, c := range r.SGCosine {
			if !(c >= -1 && c <= 1) || !(r.SGNormRatio[k] >= 0) {
				t.Errorf("record %d: layer%d cosine %v, norm ratio %v", i, k, c, r.SGNormRatio[k])
			}
		}
		for _, b := range r.WorkerBusy {
			if !(b >= 0 && b <= 1) {
				t.Errorf("record %d: worker busy %v", i, b)
			}
		}
	}
	if last := recs[2]; last.TestError > 50 {
		t.Errorf("test error %.1f%% after 3 epochs of an easy problem", last.TestError)
	}
	// A resumed run refuses what would have no effect on it, before the data.
	if code, _, stderr = runCLI("train", "--resume", ckpt, "--epochs", "4", "--exec", "sync", "--workers", "3", "--data", "/nonexistent"); code != exitUsage || !strings.Contains(stderr, "--workers has no effect with --exec sync") {
		t.Errorf("--workers with --exec sync on resuming: exit %d, %q", code, stderr)
	}
	// Training further than the checkpoint's epochs needs --epochs.
	if code, _, stderr = runCLI("train", "--resume", ckpt, "--data", dir); code != exitUsage || !strings.Contains(stderr, "--epochs") {
		t.Errorf("finished run resumed: exit %d, %q", code, stderr)
	}

	code, stdout, stderr = runCLI("eval", "--checkpoint", ckpt, "--data", dir)
	if code != 0 || !strings.Contains(stdout, "step 9") || !strings.Contains(stdout, "error") {
		t.Errorf("eval: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	// The comparison of the last epoch's record, made again from the
	// checkpoint that epoch wrote: the same figures.
	code, stdout, stderr = runCLI("eval", "--checkpoint", ckpt, "--data", dir, "--sg-agreement")
	if want := recs[2].agreements().String(); code != 0 || want == "" || !strings.Contains(stdout, want) {
		t.Errorf("eval --sg-agreement: exit %d, stdout %q (want %q), stderr %q", code, stdout, want, stderr)
	}
	code, stdout, stderr = runCLI("info", "--data", dir, "--mode", "dni", "--hidden", "16", "--sg-width", "8")
	if code != 0 || !strings.Contains(stdout, "2×8 relu") || !strings.Contains(stdout, "96 training and 40 test images of 4×4") {
		t.Errorf("info: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	// A file that is not a checkpoint is refused with a clear message.
	os.WriteFile(filepath.Join(dir, "garbage.safetensors"), []byte("not a checkpoint"), 0o644)
	if code, _, stderr = runCLI("eval", "--checkpoint", filepath.Join(dir, "garbage.safetensors"), "--data", dir); code != exitError || !strings.Contains(stderr, "garbage.safetensors") {
		t.Errorf("garbage checkpoint: exit %d, %q", code, stderr)
	}
}

// Outputs are refused when two name one file, through a link to their
// folder too; a profile may go to a device such as /dev/null.
func TestOutputPaths(t *testing.T) {
	dir := t.TempDir()
	real, link := filepath.Join(dir, "real"), filepath.Join(dir, "link")
	if err := os.Mkdir(real, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(real, link); err != nil {
		t.Skip("no symbolic links:", err)
	}
	code, _, stderr := runCLI("train", "--metrics", filepath.Join(real, "m"), "--trace", filepath.Join(link, "m"))
	if code != exitUsage || !strings.Contains(stderr, "--metrics and --trace name the same file") {
		t.Errorf("one file through a linked folder: exit %d, %q", code, stderr)
	}
	writeIDX(t, dir, 64, 20)
	short := []string{"train", "--data", dir, "--hidden", "8", "--batch", "32", "--epochs", "1", "--quiet"}
	if code, _, stderr := runCLI(append(short, "--cpuprofile", os.DevNull)...); code != 0 {
		t.Errorf("--cpuprofile %s: exit %d, %q", os.DevNull, code, stderr)
	}
	// No output may name a file of the data set, whether it is there or
	// not (LoadDir reads either the plain or the gzipped file).
	for _, o := range []struct{ flag, name string }{{"metrics", "t10k-labels-idx1-ubyte"}, {"trace", "train-images-idx3-ubyte.gz"}, {"checkpoint", "train-labels-idx1-ubyte"}} {
		path := filepath.Join(dir, o.name)
		before, _ := os.ReadFile(path)
		code, _, stderr := runCLI(append(short, "--"+o.flag, path)...)
		if code != exitUsage || !strings.Contains(stderr, "names a file of the --data set") {
			t.Errorf("--%s naming %s: exit %d, %q", o.flag, o.name, code, stderr)
		}
		if after, _ := os.ReadFile(path); !bytes.Equal(after, before) {
			t.Errorf("%s changed", o.name)
		}
	}
	// A checkpoint replaces an earlier one, or an empty file, but no other
	// file.
	notes, empty := filepath.Join(dir, "notes.txt"), filepath.Join(dir, "empty")
	os.WriteFile(notes, []byte("keep me"), 0o644)
	os.WriteFile(empty, nil, 0o644)
	if code, _, stderr := runCLI(append(short, "--checkpoint", notes)...); code != exitUsage || !strings.Contains(stderr, "a run replaces only a checkpoint or an empty file") {
		t.Errorf("--checkpoint naming a text file: exit %d, %q", code, stderr)
	}
	if b, err := os.ReadFile(notes); err != nil || string(b) != "keep me" {
		t.Errorf("the text file holds %q (%v)", b, err)
	}
	for range 2 {
		if code, _, stderr := runCLI(append(short, "--checkpoint", empty)...); code != 0 {
			t.Errorf("--checkpoint naming an empty file, then a checkpoint: exit %d, %q", code, stderr)
		}
	}
}

// A run that fails before training leaves the files it would have written
// as they were: data that cannot be read, a batch size that leaves a last
// batch of one sample for batch norm (which info points out).
func TestFailedRunKeepsOutputs(t *testing.T) {
	for _, tc := range []struct {
		name string
		args func(dir string) []string
		code int
	}{
		{"missing data", func(dir string) []string { return []string{"--data", filepath.Join(dir, "missing")} }, exitError},
		{"last batch of one", func(dir string) []string {
			writeIDX(t, dir, 33, 10)
			return []string{"--data", dir, "--batch", "32"}
		}, exitUsage},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			old := map[string]string{"checkpoint": earlierCheckpoint(t)}
			args := append([]string{"train"}, tc.args(dir)...)
			for _, flag := range []string{"checkpoint", "metrics", "cpuprofile", "trace"} {
				path := filepath.Join(dir, flag)
				if old[path] = old[flag]; flag != "checkpoint" {
					old[path] = "an earlier " + flag
				}
				delete(old, flag)
				if err := os.WriteFile(path, []byte(old[path]), 0o644); err != nil {
					t.Fatal(err)
				}
				args = append(args, "--"+flag, path)
			}
			code, _, stderr := runCLI(args...)
			if code != tc.code || strings.Count(stderr, "\n") != 1 {
				t.Fatalf("exit %d, want %d: %s", code, tc.code, stderr)
			}
			if tc.code == exitUsage { // info describes the run, and says why train would refuse it
				info := append([]string{"info"}, tc.args(dir)...)
				if code, stdout, stderr := runCLI(info...); code != 0 || !strings.Contains(stdout, "train would refuse this: the 33 training samples leave a last batch of one sample") {
					t.Errorf("info: exit %d, %q, %q", code, stdout, stderr)
				}
			}
			for path, want := range old {
				if got, err := os.ReadFile(path); err != nil || string(got) != want {
					t.Errorf("%s holds %q (%v), want %q", filepath.Base(path), got, err, want)
				}
			}
		})
	}
}

// earlierCheckpoint returns the contents of a checkpoint of a short run.
func earlierCheckpoint(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	writeIDX(t, dir, 64, 20)
	path := filepath.Join(dir, "earlier.safetensors")
	if code, _, stderr := runCLI("train", "--data", dir, "--hidden", "8", "--batch", "32", "--epochs", "1", "--quiet", "--checkpoint", path); code != 0 {
		t.Fatalf("train: exit %d: %s", code, stderr)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A suite that stops early writes what it measured, but never over a
// complete report: that one stays, and the incomplete one goes beside it.
func TestBenchIncompleteKeepsEarlierReport(t *testing.T) {
	stop := errors.New("stopped")
	row := []bench.TableRow{{Layers: 3, Mode: "bprop", Epochs: 1, TestError: 2.5}}
	dir := filepath.Join(t.TempDir(), "report")

	if err := writeIncomplete(&bench.Report{}, dir, stop); !strings.Contains(err.Error(), "nothing was measured") {
		t.Errorf("empty report: %v", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("an empty report was written: %v", err)
	}
	// With no report there yet, the incomplete one goes into dir, and
	// another incomplete one replaces it.
	for range 2 {
		err := writeIncomplete(&bench.Report{Incomplete: "table: stopped", Table: row}, dir, stop)
		if !strings.HasSuffix(err.Error(), "is in "+dir) {
			t.Errorf("first incomplete report: %v", err)
		}
	}
	if err := (&bench.Report{Table: row}).Write(dir); err != nil {
		t.Fatal(err)
	}
	err := writeIncomplete(&bench.Report{Incomplete: "table: stopped", Table: row}, dir, stop)
	if !errors.Is(err, stop) || !strings.HasSuffix(err.Error(), "is in "+dir+".incomplete") {
		t.Errorf("incomplete after a complete report: %v", err)
	}
	// A complete report in dir.incomplete (the --out of another suite) is
	// kept as well.
	if err := (&bench.Report{Table: row}).Write(dir + ".incomplete"); err != nil {
		t.Fatal(err)
	}
	err = writeIncomplete(&bench.Report{Incomplete: "table: stopped again", Table: row}, dir, stop)
	if !errors.Is(err, stop) || !strings.HasSuffix(err.Error(), "is in "+dir+".incomplete2") {
		t.Errorf("incomplete after two complete reports: %v", err)
	}
	// A folder named with a trailing slash is the same folder.
	err = writeIncomplete(&bench.Report{Incomplete: "table: stopped again", Table: row}, dir+string(filepath.Separator), stop)
	if !strings.HasSuffix(err.Error(), "is in "+dir+".incomplete2") {
		t.Errorf("incomplete, --out with a trailing slash: %v", err)
	}
	for d, want := range map[string]string{dir: "", dir + ".incomplete": "", dir + ".incomplete2": "table: stopped again"} {
		if r, err := bench.ReadReport(d); err != nil {
			t.Error(err)
		} else if r.Incomplete != want {
			t.Errorf("%s: incomplete %q, want %q", d, r.Incomplete, want)
		}
	}
	// A suite that cannot start leaves no folder behind.
	fresh := filepath.Join(t.TempDir(), "fresh")
	if code, _, _ := runCLI("bench", "--data", "/nonexistent", "--out", fresh); code != exitError {
		t.Errorf("bench with missing data: exit %d", code)
	}
	if _, err := os.Stat(fresh); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("bench with missing data left its --out folder: %v", err)
	}
}

// A run resumes only on a training set of the size it trained on; info
// describes its checkpoint with any data.
func TestResumeOnOtherData(t *testing.T) {
	dir, other := t.TempDir(), t.TempDir()
	writeIDX(t, dir, 96, 20)
	writeIDX(t, other, 64, 20)
	ckpt := filepath.Join(t.TempDir(), "run.safetensors")
	if code, _, stderr := runCLI("train", "--data", dir, "--epochs", "1", "--batch", "32", "--quiet", "--checkpoint", ckpt); code != 0 {
		t.Fatalf("train: exit %d: %s", code, stderr)
	}
	code, _, stderr := runCLI("train", "--resume", ckpt, "--data", other, "--epochs", "2", "--quiet")
	if code != exitError || !strings.Contains(stderr, "trained on a set of 96 samples, this training set has 64") {
		t.Errorf("resume on other data: exit %d, %q", code, stderr)
	}
	if code, stdout, stderr := runCLI("info", "--checkpoint", ckpt, "--data", other); code != 0 || !strings.Contains(stdout, "at step 3") {
		t.Errorf("info on other data: exit %d, %q, %q", code, stdout, stderr)
	}
}

// failingWriter fails every write, as a full disk does.
type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("no space left on device") }

// A command whose output is lost fails, in one line.
func TestLostOutputFails(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"info", "--layers", "2"}} {
		var errb bytes.Buffer
		code := run(args, failingWriter{}, &errb)
		want := "dnitrain " + args[0] + ": write standard output: no space left on device\n"
		if code != exitError || errb.String() != want {
			t.Errorf("%v: exit %d, %q; want %d, %q", args, code, errb.String(), exitError, want)
		}
	}
}

func TestVersion(t *testing.T) {
	code, stdout, stderr := runCLI("version")
	if code != 0 || stderr != "" || !strings.HasPrefix(stdout, "dnitrain ") || !strings.Contains(stdout, "sgemm micro-kernel ") ||
		!strings.Contains(stdout, "GPU backend ") || strings.Count(stdout, "\n") != 1 {
		t.Errorf("version: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

// eval refuses --sg-agreement, set either way, for a model without
// synthesizers.
func TestEvalAgreementNeedsSynthesizers(t *testing.T) {
	dir := t.TempDir()
	writeIDX(t, dir, 96, 40)
	ckpt := filepath.Join(dir, "bprop.safetensors")
	if code, _, stderr := runCLI("train", "--mode", "bprop", "--epochs", "1", "--hidden", "16", "--batch", "32", "--data", dir, "--checkpoint", ckpt, "--quiet"); code != 0 {
		t.Fatalf("train: exit %d: %s", code, stderr)
	}
	for _, flag := range []string{"--sg-agreement", "--sg-agreement=false"} {
		code, _, stderr := runCLI("eval", "--checkpoint", ckpt, "--data", dir, flag)
		if code != exitUsage || !strings.Contains(stderr, "--sg-agreement has no effect with --mode bprop") {
			t.Errorf("eval %s: exit %d, %q", flag, code, stderr)
		}
	}
}

// With unlocked inputs, --sg-agreement compares the synthetic inputs too,
// a layer each from layer1 up.
func TestAgreementOfUnlockedInputs(t *testing.T) {
	dir := t.TempDir()
	writeIDX(t, dir, 96, 40)
	metrics := filepath.Join(dir, "m.jsonl")
	code, stdout, stderr := runCLI("train", "--unlock", "--layers", "4", "--epochs", "1", "--hidden", "16", "--batch", "32", "--data", dir, "--sg-agreement", "--metrics", metrics)
	if code != 0 {
		t.Fatalf("train: exit %d: %s", code, stderr)
	}
	raw, err := os.ReadFile(metrics)
	if err != nil {
		t.Fatal(err)
	}
	var r record
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatal(err)
	}
	if len(r.SGCosine) != 3 || len(r.InputCosine) != 3 || len(r.InputNormRatio) != 3 {
		t.Errorf("record %+v: want 3 gradients and 3 inputs compared", r)
	}
	if want := r.agreements().String(); !strings.Contains(stdout, want) || !strings.Contains(want, "real input (cosine, norm ratio):  layer1 ") {
		t.Errorf("output lacks %q:\n%s", want, stdout)
	}
}

// Each command's -h lists its flags with their defaults; --sg-hidden,
// whose default depends on --mode, shows no number of its own.
func TestHelp(t *testing.T) {
	for _, cmd := range []string{"train", "eval", "info", "bench"} {
		code, stdout, stderr := runCLI(cmd, "-h")
		if code != 0 || !strings.Contains(stdout+stderr, "-data string") {
			t.Errorf("%s -h: exit %d, %q", cmd, code, stdout+stderr)
		}
		if cmd == "train" || cmd == "info" {
			if help := stdout + stderr; !strings.Contains(help, "-sg-hidden int\n") || strings.Contains(help, "(default -1)") {
				t.Errorf("%s -h on --sg-hidden: %q", cmd, help)
			}
		}
	}
}
