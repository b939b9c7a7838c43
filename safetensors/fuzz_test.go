package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// FuzzDecode checks that Decode never panics and that whatever it accepts
// survives a round trip through Encode unchanged.
func FuzzDecode(f *testing.F) {
	f.Add(encode(f, sampleTensors(), map[string]string{"epoch": "3"}))
	f.Add(raw(validHeader, data8))
	f.Add(raw(`{"a":{"dtype":"U8","shape":[0],"data_offsets":[0,0]}}`, nil))
	f.Add(raw(`{"a":{"dtype":"F32","shape":[1099511627776],"data_offsets":[0,8]}}`, data8))

	f.Fuzz(func(t *testing.T, b []byte) {
		file, err := Decode(b)
		if err != nil {
			return
		}
		if _, ok := file.Metadata["sha256"]; file.Checksummed() != ok {
			t.Fatalf("Checksummed() = %v with metadata %q", file.Checksummed(), file.Metadata)
		}
		checkAgainstEncodingJSON(t, b, file)
		tensors := slices.Collect(maps.Values(file.Tensors))
		meta := maps.Clone(file.Metadata)
		delete(meta, "sha256")

		var buf bytes.Buffer
		if err := Encode(&buf, tensors, meta); err != nil {
			t.Fatalf("re-encoding a decoded file: %v", err)
		}
		again, err := Decode(buf.Bytes())
		if err != nil {
			t.Fatalf("decoding a re-encoded file: %v", err)
		}
		if !again.Checksummed() {
			t.Error("re-encoded file is not checksummed")
		}
		if len(again.Tensors) != len(file.Tensors) {
			t.Fatalf("round trip changed the tensor count from %d to %d", len(file.Tensors), len(again.Tensors))
		}
		for name, want := range file.Tensors {
			if got := again.Tensors[name]; !sameTensor(got, want) {
				t.Errorf("round trip changed tensor %q from %+v to %+v", name, want, got)
			}
		}
		gotMeta := maps.Clone(again.Metadata)
		delete(gotMeta, "sha256")
		if !maps.Equal(gotMeta, meta) {
			t.Errorf("round trip changed metadata from %q to %q", meta, gotMeta)
		}

		// Encoding is a fixed point: re-encoding the re-decoded file gives
		// the same bytes.
		var buf2 bytes.Buffer
		if err := Encode(&buf2, slices.Collect(maps.Values(again.Tensors)), gotMeta); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf.Bytes(), buf2.Bytes()) {
			t.Error("encoding is not deterministic")
		}
	})
}

// checkAgainstEncodingJSON checks that a header Decode accepted is valid JSON
// that encoding/json reads the same way.
func checkAgainstEncodingJSON(t *testing.T, b []byte, file *File) {
	header := b[8 : 8+binary.LittleEndian.Uint64(b)]
	if !json.Valid(header) {
		t.Fatalf("Decode accepted a header that is not valid JSON: %q", header)
	}
	var entries map[string]json.RawMessage
	if err := json.Unmarshal(header, &entries); err != nil {
		t.Fatalf("encoding/json cannot read an accepted header: %v", err)
	}
	if raw, ok := entries["__metadata__"]; ok {
		var meta map[string]string
		if err := json.Unmarshal(raw, &meta); err != nil {
			t.Fatalf("encoding/json cannot read accepted metadata: %v", err)
		}
		if !maps.Equal(meta, file.Metadata) {
			t.Fatalf("metadata: encoding/json reads %q, Decode %q", meta, file.Metadata)
		}
		delete(entries, "__metadata__")
	} else if len(file.Metadata) != 0 {
		t.Fatalf("Decode found metadata %q in a header without any", file.Metadata)
	}
	if len(entries) != len(file.Tensors) {
		t.Fatalf("encoding/json reads %d tensors, Decode %d", len(entries), len(file.Tensors))
	}
	for name, raw := range entries {
		var info map[string]json.RawMessage
		if err := json.Unmarshal(raw, &info); err != nil {
			t.Fatalf("tensor %q: %v", name, err)
		}
		var dtype string
		var shape, offsets []int
		if json.Unmarshal(info["dtype"], &dtype) != nil ||
			json.Unmarshal(info["shape"], &shape) != nil ||
			json.Unmarshal(info["data_offsets"], &offsets) != nil {
			t.Fatalf("tensor %q: encoding/json cannot read %s", name, raw)
		}
		got, ok := file.Tensors[name]
		if !ok || string(got.DType) != dtype || !slices.Equal(got.Shape, shape) ||
			len(offsets) != 2 || len(got.Data) != offsets[1]-offsets[0] {
			t.Fatalf("tensor %q: encoding/json reads %s, Decode %+v", name, raw, got)
		}
	}
}

// TestFuzzSeedCorpus checks that the committed seeds named valid-* decode and
// those named broken-* do not, so that the corpus keeps covering both.
func TestFuzzSeedCorpus(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("testdata", "fuzz", "FuzzDecode", "*"))
	if err != nil {
		t.Fatal(err)
	}
	var valid, broken int
	for _, path := range paths {
		content, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(string(content)), "\n")
		if len(lines) != 2 || lines[0] != "go test fuzz v1" ||
			!strings.HasPrefix(lines[1], "[]byte(") || !strings.HasSuffix(lines[1], ")") {
			t.Fatalf("%s: not a single []byte seed", path)
		}
		b, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[1], "[]byte("), ")"))
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		_, err = Decode([]byte(b))
		switch name := filepath.Base(path); {
		case strings.HasPrefix(name, "valid-"):
			valid++
			if err != nil {
				t.Errorf("%s: %v", name, err)
			}
		case strings.HasPrefix(name, "broken-"):
			broken++
			if err == nil {
				t.Errorf("%s decoded without error", name)
			}
		}
	}
	if valid == 0 || broken == 0 {
		t.Errorf("corpus has %d valid and %d broken seeds, want some of each", valid, broken)
	}
}
