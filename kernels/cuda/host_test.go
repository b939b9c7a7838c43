package cuda

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// hostBuilds holds the host builds of the test drivers made by this test
// binary, one per source file.
var hostBuilds sync.Map // source file → *hostBuild

type hostBuild struct {
	once sync.Once
	path string
	err  error
	out  []byte
}

// hostProgram compiles the test driver src (a *_host.cpp file of this
// package, which includes the kernels' headers) with the host C++ compiler
// and returns the program's path. Builds are kept in the user's cache
// directory under a hash of the compiler and of every source they may
// include, so unchanged sources are not compiled again. The test is
// skipped where there is no C++ compiler; a compile error fails it.
func hostProgram(t *testing.T, src string) string {
	t.Helper()
	cxx := os.Getenv("CXX")
	if cxx == "" {
		cxx = "g++"
	}
	cxxPath, err := exec.LookPath(cxx)
	if err != nil {
		t.Skipf("no host C++ compiler (%s) to build %s", cxx, src)
	}
	v, _ := hostBuilds.LoadOrStore(src, &hostBuild{})
	b := v.(*hostBuild)
	b.once.Do(func() { b.path, b.out, b.err = buildHost(cxxPath, src) })
	if b.err != nil {
		t.Fatalf("building %s: %v\n%s", src, b.err, b.out)
	}
	return b.path
}

// hostFlags are the flags of every host build.
var hostFlags = []string{"-std=c++14", "-O2", "-Wall", "-Werror"}

// buildHost compiles src with the compiler at cxx into the cache, unless
// the cache already holds that build.
func buildHost(cxx, src string) (path string, out []byte, err error) {
	h := sha256.New()
	fmt.Fprintln(h, cxx, hostFlags, src)
	sources, err := filepath.Glob("*.[ch]*") // *.cpp, *.cuh, *.h
	if err != nil {
		return "", nil, err
	}
	for _, f := range sources {
		b, err := os.ReadFile(f)
		if err != nil {
			return "", nil, err
		}
		fmt.Fprintln(h, f, len(b))
		h.Write(b)
	}
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	dir = filepath.Join(dir, "dnitrain", "cuda-host")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", nil, err
	}
	path = filepath.Join(dir, fmt.Sprintf("%s-%x", strings.TrimSuffix(src, ".cpp"), h.Sum(nil)[:8]))
	if _, err := os.Stat(path); err == nil {
		return path, nil, nil
	}
	// Build under a temporary name and rename, so that a concurrent test
	// binary never runs a half-written program.
	tmp := fmt.Sprintf("%s.%d.tmp", path, os.Getpid())
	out, err = exec.Command(cxx, append(hostFlags, "-o", tmp, src)...).CombinedOutput()
	if err != nil {
		os.Remove(tmp)
		return "", out, err
	}
	return path, out, os.Rename(tmp, path)
}

// runHost runs a host test driver with the given arguments, writes the
// arrays ins to its stdin and reads back arrays of the lengths outLens.
func runHost(t *testing.T, prog string, args []any, ins [][]float32, outLens ...int) [][]float32 {
	t.Helper()
	var argv []string
	for _, a := range args {
		switch a := a.(type) {
		case int:
			argv = append(argv, strconv.Itoa(a))
		case float64:
			argv = append(argv, strconv.FormatFloat(a, 'g', -1, 64))
		case string:
			argv = append(argv, a)
		default:
			t.Fatalf("runHost: argument %v of type %T", a, a)
		}
	}
	var stdin bytes.Buffer
	for _, in := range ins {
		if err := binary.Write(&stdin, binary.LittleEndian, in); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(prog, argv...)
	cmd.Stdin = &stdin
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", filepath.Base(prog), argv, err, stderr.Bytes())
	}
	r := bytes.NewReader(stdout)
	outs := make([][]float32, len(outLens))
	for i, n := range outLens {
		outs[i] = make([]float32, n)
		if err := binary.Read(r, binary.LittleEndian, outs[i]); err != nil {
			t.Fatalf("%s %v: reading output %d (%d floats) of %d bytes: %v", filepath.Base(prog), argv, i, n, len(stdout), err)
		}
	}
	if r.Len() != 0 {
		t.Fatalf("%s %v: %d bytes of output left over", filepath.Base(prog), argv, r.Len())
	}
	return outs
}
