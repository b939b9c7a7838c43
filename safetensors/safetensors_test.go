package safetensors

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"
)

// sampleTensors covers several dtypes and shapes, including a scalar and
// empty tensors.
func sampleTensors() []Tensor {
	return []Tensor{
		F32("layer1.weight", []int{2, 3}, []float32{1, -2, 3.5, float32(math.Inf(1)), float32(math.Copysign(0, -1)), 1e-30}),
		F64("lr", []int{}, []float64{0.001}),
		I64("step", []int{4}, []int64{0, -1, math.MaxInt64, math.MinInt64}),
		{Name: "mask", DType: DTypeU8, Shape: []int{3}, Data: []byte{0, 1, 255}},
		{Name: "empty.u8", DType: DTypeU8, Shape: []int{0}, Data: []byte{}},
		F32("empty.f32", []int{0, 5}, nil),
		{Name: "bf16", DType: DTypeBF16, Shape: []int{2, 1}, Data: []byte{0x80, 0x3f, 0x00, 0xc0}},
		F64("nan", []int{1, 1, 2}, []float64{math.NaN(), math.Inf(-1)}),
	}
}

func encode(t testing.TB, tensors []Tensor, meta map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Encode(&buf, tensors, meta); err != nil {
		t.Fatalf("Encode: %v", err)
	}
	return buf.Bytes()
}

// raw builds a file from a literal header and data buffer, for crafting
// inputs that Encode would refuse to write.
func raw(header string, data []byte) []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	b = append(b, header...)
	return append(b, data...)
}

// decodeNoPanic runs Decode, turning a panic into a test failure.
func decodeNoPanic(t *testing.T, b []byte) (f *File, err error) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("Decode panicked: %v", r)
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return Decode(b)
}

func sameTensor(a, b Tensor) bool {
	return a.Name == b.Name && a.DType == b.DType &&
		slices.Equal(a.Shape, b.Shape) && bytes.Equal(a.Data, b.Data)
}

func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name    string
		tensors []Tensor
		meta    map[string]string
	}{
		{"all samples", sampleTensors(), map[string]string{"format": "pt", "epoch": "3", "": "empty key", "unicode": "héllo\n\"quoted\""}},
		{"scalar only", []Tensor{F32("s", []int{}, []float32{42})}, nil},
		{"empty tensor only", []Tensor{F64("e", []int{3, 0}, nil)}, map[string]string{}},
		{"no tensors", nil, map[string]string{"note": "nothing"}},
		{"odd names", []Tensor{I64("a/b.c<d>&é", []int{1}, []int64{7}), I64(`quote"back\slash`, []int{1}, []int64{8})}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := encode(t, tt.tensors, tt.meta)
			f, err := Decode(b)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !f.Checksummed() {
				t.Error("Checksummed() = false for a file written by Encode")
			}
			if len(f.Tensors) != len(tt.tensors) {
				t.Errorf("decoded %d tensors, want %d", len(f.Tensors), len(tt.tensors))
			}
			for _, want := range tt.tensors {
				got, err := f.Tensor(want.Name)
				if err != nil {
					t.Errorf("Tensor(%q): %v", want.Name, err)
					continue
				}
				if !sameTensor(got, want) {
					t.Errorf("tensor %q = %+v, want %+v", want.Name, got, want)
				}
			}
			if len(f.Metadata) != len(tt.meta)+1 {
				t.Errorf("metadata = %q, want %q plus sha256", f.Metadata, tt.meta)
			}
			for k, v := range tt.meta {
				if f.Metadata[k] != v {
					t.Errorf("metadata[%q] = %q, want %q", k, f.Metadata[k], v)
				}
			}
		})
	}
}

func TestAccessors(t *testing.T) {
	f32 := []float32{1.5, -2, float32(math.Inf(-1))}
	f64 := []float64{math.Pi, -0.25}
	i64 := []int64{math.MinInt64, 0, 9}
	f, err := Decode(encode(t, []Tensor{
		F32("f32", []int{3}, f32),
		F64("f64", []int{2, 1}, f64),
		I64("i64", []int{3}, i64),
	}, nil))
	if err != nil {
		t.Fatal(err)
	}
	mustTensor := func(name string) Tensor {
		t.Helper()
		x, err := f.Tensor(name)
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	if got, err := mustTensor("f32").Float32s(); err != nil || !slices.Equal(got, f32) {
		t.Errorf("Float32s() = %v, %v; want %v", got, err, f32)
	}
	if got, err := mustTensor("f64").Float64s(); err != nil || !slices.Equal(got, f64) {
		t.Errorf("Float64s() = %v, %v; want %v", got, err, f64)
	}
	if got, err := mustTensor("i64").Int64s(); err != nil || !slices.Equal(got, i64) {
		t.Errorf("Int64s() = %v, %v; want %v", got, err, i64)
	}

	// Each accessor refuses the other dtypes.
	if _, err := mustTensor("f64").Float32s(); err == nil {
		t.Error("Float32s() on an F64 tensor succeeded")
	}
	if _, err := mustTensor("i64").Float64s(); err == nil {
		t.Error("Float64s() on an I64 tensor succeeded")
	}
	if _, err := mustTensor("f32").Int64s(); err == nil {
		t.Error("Int64s() on an F32 tensor succeeded")
	}
	// A hand-built tensor with a partial element is refused too.
	if _, err := (Tensor{Name: "x", DType: DTypeF32, Data: make([]byte, 5)}).Float32s(); err == nil {
		t.Error("Float32s() on 5 bytes of data succeeded")
	}

	if _, err := f.Tensor("missing"); err == nil || err.Error() != `no tensor "missing"` {
		t.Errorf(`Tensor("missing") error = %v, want no tensor "missing"`, err)
	}
}

func TestConstructorsCopyShape(t *testing.T) {
	shape := []int{2}
	x := F32("x", shape, []float32{1, 2})
	shape[0] = 99
	if x.Shape[0] != 2 {
		t.Errorf("F32 kept a reference to the caller's shape: %v", x.Shape)
	}
}

func TestDeterministic(t *testing.T) {
	tensors := sampleTensors()
	want := encode(t, tensors, map[string]string{"a": "1", "b": "2", "c": "3"})

	for i := range 20 {
		perm := slices.Clone(tensors)
		// A fixed, varied reordering per iteration.
		for j := range perm {
			k := (j*7 + i*3) % len(perm)
			perm[j], perm[k] = perm[k], perm[j]
		}
		meta := map[string]string{}
		for _, k := range []string{"c", "a", "b"}[i%3:] {
			meta[k] = map[string]string{"a": "1", "b": "2", "c": "3"}[k]
		}
		for _, k := range []string{"c", "a", "b"}[:i%3] {
			meta[k] = map[string]string{"a": "1", "b": "2", "c": "3"}[k]
		}
		if got := encode(t, perm, meta); !bytes.Equal(got, want) {
			t.Fatalf("permutation %d encoded differently:\n got %q\nwant %q", i, got, want)
		}
	}
}

// TestHeaderFormat parses Encode's output independently of Decode and checks
// it against the format description.
func TestHeaderFormat(t *testing.T) {
	tensors := sampleTensors()
	b := encode(t, tensors, map[string]string{"framework": "dnitrain"})

	n := binary.LittleEndian.Uint64(b)
	if n > uint64(len(b)-8) {
		t.Fatalf("header length %d exceeds file size %d", n, len(b))
	}
	if (8+n)%8 != 0 {
		t.Errorf("data buffer starts at %d, not 8-byte aligned", 8+n)
	}
	header, buf := b[8:8+n], b[8+n:]
	trimmed := bytes.TrimRight(header, " ")
	if !bytes.HasSuffix(trimmed, []byte("}")) {
		t.Errorf("header is padded with something other than spaces: %q", header)
	}

	type info struct {
		DType       string   `json:"dtype"`
		Shape       []int    `json:"shape"`
		DataOffsets [2]int64 `json:"data_offsets"`
	}
	var entries map[string]json.RawMessage
	if err := json.Unmarshal(header, &entries); err != nil {
		t.Fatalf("header is not a JSON object: %v\n%s", err, header)
	}
	var meta map[string]string
	if err := json.Unmarshal(entries["__metadata__"], &meta); err != nil {
		t.Fatalf("__metadata__: %v", err)
	}
	var specs []specTensor
	for name, raw := range entries {
		if name == "__metadata__" {
			continue
		}
		var in info
		if err := json.Unmarshal(raw, &in); err != nil {
			t.Fatal(err)
		}
		specs = append(specs, specTensor{name, in.DType, in.Shape, buf[in.DataOffsets[0]:in.DataOffsets[1]]})
	}
	if sum := specChecksum(specs, meta); meta["sha256"] != hex.EncodeToString(sum[:]) {
		t.Errorf("metadata sha256 = %q, want %x", meta["sha256"], sum)
	}
	if meta["framework"] != "dnitrain" {
		t.Errorf("metadata framework = %q", meta["framework"])
	}
	if len(entries) != len(tensors)+1 {
		t.Errorf("header has %d entries, want %d tensors plus __metadata__", len(entries), len(tensors))
	}

	// Tensors appear in the buffer sorted by name, packed without gaps.
	sorted := slices.Clone(tensors)
	slices.SortFunc(sorted, func(a, b Tensor) int { return strings.Compare(a.Name, b.Name) })
	var off int64
	for _, want := range sorted {
		var got info
		if err := json.Unmarshal(entries[want.Name], &got); err != nil {
			t.Fatalf("tensor %q: %v", want.Name, err)
		}
		if got.DType != string(want.DType) || !slices.Equal(got.Shape, want.Shape) || got.Shape == nil {
			t.Errorf("tensor %q: dtype %s shape %v, want %s %v", want.Name, got.DType, got.Shape, want.DType, want.Shape)
		}
		end := off + int64(len(want.Data))
		if got.DataOffsets != [2]int64{off, end} {
			t.Errorf("tensor %q: data_offsets %v, want [%d %d]", want.Name, got.DataOffsets, off, end)
		} else if !bytes.Equal(buf[off:end], want.Data) {
			t.Errorf("tensor %q: buffer holds %x, want %x", want.Name, buf[off:end], want.Data)
		}
		off = end
	}
	if off != int64(len(buf)) {
		t.Errorf("tensors cover %d bytes of a %d-byte buffer", off, len(buf))
	}
}

func TestEncodeErrors(t *testing.T) {
	ok := F32("ok", []int{1}, []float32{1})
	tests := []struct {
		name    string
		tensors []Tensor
		meta    map[string]string
		want    string
	}{
		{"empty name", []Tensor{F32("", []int{1}, []float32{1})}, nil, "empty name"},
		{"reserved name", []Tensor{F32("__metadata__", []int{1}, []float32{1})}, nil, "reserved"},
		{"duplicate name", []Tensor{ok, F64("x", nil, []float64{1}), ok}, nil, `duplicate tensor name "ok"`},
		{"invalid UTF-8 name", []Tensor{F32("a\xffb", []int{1}, []float32{1})}, nil, "not valid UTF-8"},
		{"too little data", []Tensor{F32("x", []int{2, 2}, []float32{1, 2, 3})}, nil, "needs 16 bytes of data, have 12"},
		{"too much data", []Tensor{F32("x", []int{}, []float32{1, 2})}, nil, "needs 4 bytes of data, have 8"},
		{"negative dimension", []Tensor{{Name: "x", DType: DTypeU8, Shape: []int{-1}}}, nil, "negative dimension"},
		{"negative dimensions cancelling", []Tensor{{Name: "x", DType: DTypeU8, Shape: []int{-1, -1}, Data: []byte{0}}}, nil, "negative dimension"},
		{"overflowing shape", []Tensor{{Name: "x", DType: DTypeU8, Shape: []int{1 << 32, 1 << 32}}}, nil, "too many elements"},
		{"overflowing byte size", []Tensor{{Name: "x", DType: DTypeF64, Shape: []int{1 << 61}}}, nil, "too many elements"},
		{"unknown dtype", []Tensor{{Name: "x", DType: "F33", Shape: []int{}, Data: []byte{0}}}, nil, `unknown dtype "F33"`},
		{"empty dtype", []Tensor{{Name: "x", Shape: []int{}}}, nil, "unknown dtype"},
		{"sha256 in metadata", []Tensor{ok}, map[string]string{"sha256": "abc"}, `metadata key "sha256" is reserved`},
		{"invalid UTF-8 metadata value", []Tensor{ok}, map[string]string{"k": "\xc3"}, "not valid UTF-8"},
		{"invalid UTF-8 metadata key", []Tensor{ok}, map[string]string{"\xc3": "v"}, "not valid UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			err := Encode(&buf, tt.tensors, tt.meta)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Encode error = %v, want one containing %q", err, tt.want)
			}
			if buf.Len() != 0 {
				t.Errorf("Encode wrote %d bytes before failing", buf.Len())
			}
		})
	}
}

type failingWriter struct{ n int }

func (w *failingWriter) Write(p []byte) (int, error) {
	if w.n <= 0 {
		return 0, errors.New("disk full")
	}
	w.n--
	return len(p), nil
}

func TestEncodeWriteError(t *testing.T) {
	for n := range 4 {
		err := Encode(&failingWriter{n: n}, sampleTensors()[:2], nil)
		if err == nil || !strings.Contains(err.Error(), "disk full") {
			t.Errorf("failing after %d writes: error = %v, want disk full", n, err)
		}
	}
}

// validHeader describes one 8-byte F32 tensor "a" for an 8-byte buffer.
const validHeader = `{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`

var data8 = []byte{1, 2, 3, 4, 5, 6, 7, 8}

func TestDecodeErrors(t *testing.T) {
	lenPrefix := func(n uint64, rest string) []byte {
		return append(binary.LittleEndian.AppendUint64(nil, n), rest...)
	}
	sum8 := specChecksum([]specTensor{{"a", "F32", []int{2}, data8}}, nil)
	tests := []struct {
		name string
		in   []byte
		want string
	}{
		{"empty file", nil, "too short"},
		{"7 bytes", []byte{1, 0, 0, 0, 0, 0, 0}, "too short"},
		{"header length 1<<62", lenPrefix(1<<62, "{}"), "exceeds the 100 MiB limit"},
		{"header length max uint64", lenPrefix(math.MaxUint64, "{}"), "exceeds the 100 MiB limit"},
		{"header length just over limit", lenPrefix(100<<20+1, "{}"), "exceeds the 100 MiB limit"},
		{"header length past end of file", lenPrefix(100, "{}"), "exceeds the 2 bytes that follow it"},
		{"header length zero", lenPrefix(0, ""), "not a JSON object"},
		{"header is an array", raw(`[]`, nil), "not a JSON object"},
		{"header starts with space", raw(` {}`, nil), "not a JSON object"},
		{"header invalid UTF-8", raw("{\"a\xff\":{}}", nil), "not valid UTF-8"},
		{"header truncated JSON", raw(`{"a":{"dtype":"F32"`, nil), "invalid header JSON"},
		{"header bad JSON syntax", raw(`{"a" {}}`, nil), "invalid header JSON"},
		{"header non-string key", raw(`{1:2}`, nil), "invalid header JSON"},
		{"data after header object", raw(`{} {}`, nil), "data after the JSON object"},
		{"garbage after header object", raw(`{}x`, nil), "data after the JSON object"},
		{"NUL padding", raw("{}\x00\x00", nil), "data after the JSON object"},
		{"tensor info not an object", raw(`{"a":[0,8]}`, data8), `tensor "a": invalid header JSON at byte 5: expected '{', found an array`},
		{"tensor info null", raw(`{"a":null}`, data8), `tensor "a": invalid header JSON at byte 5: expected '{', found null`},
		{"unknown dtype", raw(`{"a":{"dtype":"F33","shape":[2],"data_offsets":[0,8]}}`, data8), `unknown dtype "F33"`},
		{"lowercase dtype", raw(`{"a":{"dtype":"f32","shape":[2],"data_offsets":[0,8]}}`, data8), `unknown dtype "f32"`},
		{"dtype not a string", raw(`{"a":{"dtype":4,"shape":[2],"data_offsets":[0,8]}}`, data8), "dtype must be a string, found a number"},
		{"dtype null", raw(`{"a":{"dtype":null,"shape":[2],"data_offsets":[0,8]}}`, data8), "dtype must be a string, found null"},
		{"negative dimension", raw(`{"a":{"dtype":"U8","shape":[-8],"data_offsets":[0,8]}}`, data8), "negative dimension -8"},
		{"negative dimensions cancelling", raw(`{"a":{"dtype":"U8","shape":[-2,-4],"data_offsets":[0,8]}}`, data8), "negative dimension -2"},
		{"fractional dimension", raw(`{"a":{"dtype":"U8","shape":[8.0],"data_offsets":[0,8]}}`, data8), "dimension 8.0 is not an integer"},
		{"exponent dimension", raw(`{"a":{"dtype":"U8","shape":[8e0],"data_offsets":[0,8]}}`, data8), "not an integer"},
		{"dimension past int64", raw(`{"a":{"dtype":"U8","shape":[99999999999999999999],"data_offsets":[0,8]}}`, data8), "too large"},
		{"dimension string", raw(`{"a":{"dtype":"U8","shape":["8"],"data_offsets":[0,8]}}`, data8), "expected an integer"},
		{"nested shape", raw(`{"a":{"dtype":"U8","shape":[[8]],"data_offsets":[0,8]}}`, data8), "expected an integer"},
		{"shape null", raw(`{"a":{"dtype":"U8","shape":null,"data_offsets":[0,8]}}`, data8), "shape must be an array of integers, found null"},
		{"element count overflows", raw(`{"a":{"dtype":"U8","shape":[4294967296,4294967296],"data_offsets":[0,8]}}`, data8), "too many elements"},
		{"byte count overflows", raw(`{"a":{"dtype":"F64","shape":[2305843009213693952],"data_offsets":[0,8]}}`, data8), "too many elements"},
		{"1<<40 elements in 8 bytes", raw(`{"a":{"dtype":"F32","shape":[1099511627776],"data_offsets":[0,8]}}`, data8), "needs 4398046511104 bytes"},
		{"1<<40 elements past buffer", raw(`{"a":{"dtype":"F32","shape":[1099511627776],"data_offsets":[0,4398046511104]}}`, data8), "extend past the 8-byte data buffer"},
		{"shape disagrees with range", raw(`{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}`, data8), "needs 12 bytes, data_offsets [0, 8] hold 8"},
		{"missing dtype", raw(`{"a":{"shape":[2],"data_offsets":[0,8]}}`, data8), "missing dtype"},
		{"missing shape", raw(`{"a":{"dtype":"F32","data_offsets":[0,8]}}`, data8), "missing shape"},
		{"missing data_offsets", raw(`{"a":{"dtype":"F32","shape":[2]}}`, data8), "missing data_offsets"},
		{"unknown field", raw(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"extra":1}}`, data8), `unknown field "extra"`},
		{"field in wrong case", raw(`{"a":{"DTYPE":"F32","shape":[2],"data_offsets":[0,8]}}`, data8), `unknown field "DTYPE"`},
		{"duplicate field", raw(`{"a":{"dtype":"F32","shape":[2],"dtype":"F32","data_offsets":[0,8]}}`, data8), `duplicate field "dtype"`},
		{"duplicate tensor", raw(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, data8[:4]), `duplicate tensor "a"`},
		{"empty tensor name", raw(`{"":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, data8), "empty tensor name"},
		{"one data offset", raw(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[8]}}`, data8), "data_offsets has 1 elements, want 2"},
		{"three data offsets", raw(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8,8]}}`, data8), "want 2"},
		{"negative data offset", raw(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[-8,0]}}`, data8), "negative data offset -8"},
		{"begin after end", raw(`{"a":{"dtype":"U8","shape":[0],"data_offsets":[8,0]}}`, data8), "data_offsets [8, 0] begin after they end"},
		{"end past buffer", raw(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}`, data8), "extend past the 8-byte data buffer"},
		{"huge offsets", raw(`{"a":{"dtype":"U8","shape":[0],"data_offsets":[9223372036854775807,9223372036854775807]}}`, data8), "extend past"},
		{"gap at start", raw(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, data8), "gap in the data buffer: bytes [0, 4)"},
		{"gap between tensors", raw(`{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"U8","shape":[4],"data_offsets":[4,8]}}`, data8), "gap in the data buffer: bytes [2, 4)"},
		{"trailing bytes", raw(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, data8), "gap in the data buffer: bytes [4, 8)"},
		{"no tensors but data", raw(`{}`, data8), "gap in the data buffer: bytes [0, 8)"},
		{"overlap", raw(`{"a":{"dtype":"U8","shape":[6],"data_offsets":[0,6]},"b":{"dtype":"U8","shape":[4],"data_offsets":[4,8]}}`, data8), `tensors "a" and "b" overlap`},
		{"same range twice", raw(`{"a":{"dtype":"U8","shape":[8],"data_offsets":[0,8]},"b":{"dtype":"U8","shape":[8],"data_offsets":[0,8]}}`, data8), "overlap"},
		{"empty tensor inside another", raw(`{"a":{"dtype":"U8","shape":[8],"data_offsets":[0,8]},"b":{"dtype":"U8","shape":[0],"data_offsets":[4,4]}}`, data8), "overlap"},
		{"control character in name", raw("{\"a\tb\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", data8), "control character 0x09 in string"},
		{"control character in escaped name", raw("{\"\\n\nb\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", data8), "control character 0x0a in string"},
		{"invalid escape", raw(`{"a\x41":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, data8), "invalid escape sequence"},
		{"invalid unicode escape", raw(`{"a\u12G4":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, data8), "invalid \\u escape"},
		{"truncated unicode escape", raw(`{"a\u12`, nil), "truncated \\u escape"},
		{"unterminated string", raw(`{"abc`, nil), "unterminated string"},
		{"unterminated escaped string", raw(`{"a\n`, nil), "unterminated string"},
		{"backslash at end", raw(`{"a\`, nil), "unterminated string"},
		{"lone high surrogate", raw(`{"\ud800":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, data8), "unpaired UTF-16 surrogate"},
		{"lone low surrogate", raw(`{"\udc00":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, data8), "unpaired UTF-16 surrogate"},
		{"high surrogate then letter", raw(`{"\ud800\u0041":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, data8), "unpaired UTF-16 surrogate"},
		{"leading zero", raw(`{"a":{"dtype":"F32","shape":[02],"data_offsets":[0,8]}}`, data8), "expected ',' or ']' in shape"},
		{"bare minus", raw(`{"a":{"dtype":"F32","shape":[-],"data_offsets":[0,8]}}`, data8), "invalid number in shape"},
		{"fraction without digits", raw(`{"a":{"dtype":"F32","shape":[2.],"data_offsets":[0,8]}}`, data8), "invalid number in shape"},
		{"exponent without digits", raw(`{"a":{"dtype":"F32","shape":[2e+],"data_offsets":[0,8]}}`, data8), "invalid number in shape"},
		{"trailing comma in array", raw(`{"a":{"dtype":"F32","shape":[2,],"data_offsets":[0,8]}}`, data8), "shape: expected an integer, found ']'"},
		{"trailing comma in object", raw(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},}`, data8), `expected '"', found '}'`},
		{"missing comma", raw(`{"a":{"dtype":"F32" "shape":[2],"data_offsets":[0,8]}}`, data8), "expected ',' or '}', found a string"},
		{"single quotes", raw(`{'a':{}}`, nil), `expected '"', found '\''`},
		{"metadata not an object", raw(`{"__metadata__":["a"]}`, nil), "__metadata__ must be an object of strings"},
		{"metadata null", raw(`{"__metadata__":null}`, nil), "__metadata__ must be an object of strings"},
		{"metadata number value", raw(`{"__metadata__":{"epoch":3}}`, nil), `__metadata__ must be an object of strings: key "epoch"`},
		{"metadata null value", raw(`{"__metadata__":{"epoch":null}}`, nil), `key "epoch"`},
		{"metadata nested object", raw(`{"__metadata__":{"a":{"b":"c"}}}`, nil), `key "a"`},
		{"duplicate metadata key", raw(`{"__metadata__":{"a":"1","a":"2"}}`, nil), `duplicate metadata key "a"`},
		{"duplicate metadata", raw(`{"__metadata__":{},"__metadata__":{}}`, nil), `duplicate key "__metadata__"`},
		{"sha256 not hex", raw(`{"__metadata__":{"sha256":"xyz"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, data8), "not a hex SHA-256"},
		{"sha256 too short", raw(`{"__metadata__":{"sha256":"abcd"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, data8), "not a hex SHA-256"},
		{"sha256 of other data", raw(`{"__metadata__":{"sha256":"`+hex.EncodeToString(sum8[:])+`"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, []byte{1, 2, 3, 4, 5, 6, 7, 9}), "checksum mismatch: file is corrupted"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := decodeNoPanic(t, tt.in)
			if err == nil {
				t.Fatalf("Decode succeeded with %d tensors, want error containing %q", len(f.Tensors), tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Decode error = %q, want one containing %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("Decode error spans several lines: %q", err)
			}
		})
	}
}

func TestDecodeAccepts(t *testing.T) {
	sum8 := specChecksum([]specTensor{{"a", "F32", []int{2}, data8}}, nil)
	tests := []struct {
		name        string
		in          []byte
		checksummed bool
	}{
		{"foreign file without checksum", raw(validHeader, data8), false},
		{"padded header", raw(validHeader+"     ", data8), false},
		{"whitespace inside header", raw("{ \"a\" :\n{\"dtype\":\"F32\",\t\"shape\":[ 2 ],\"data_offsets\":[0,8]} }", data8), false},
		{"tensors out of buffer order", raw(`{"b":{"dtype":"U8","shape":[4],"data_offsets":[4,8]},"a":{"dtype":"U8","shape":[2,2],"data_offsets":[0,4]}}`, data8), false},
		{"empty tensors between others", raw(`{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"z":{"dtype":"F64","shape":[0,3],"data_offsets":[4,4]},"y":{"dtype":"I64","shape":[0],"data_offsets":[4,4]},"b":{"dtype":"U8","shape":[4],"data_offsets":[4,8]}}`, data8), false},
		{"huge zero-sized shape", raw(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"z":{"dtype":"U8","shape":[9223372036854775807,0,9223372036854775807],"data_offsets":[8,8]}}`, data8), false},
		{"uppercase checksum", raw(`{"__metadata__":{"sha256":"`+strings.ToUpper(hex.EncodeToString(sum8[:]))+`"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, data8), true},
		{"empty file", raw(`{}`, nil), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := decodeNoPanic(t, tt.in)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if f.Checksummed() != tt.checksummed {
				t.Errorf("Checksummed() = %v, want %v", f.Checksummed(), tt.checksummed)
			}
			if f.Metadata == nil {
				t.Error("Metadata is nil")
			}
		})
	}
}

func TestDecodeStrings(t *testing.T) {
	tests := []struct {
		key  string // as written in the header
		want string
	}{
		{`plain`, "plain"},
		{`caf\u00e9`, "café"},
		{`café`, "café"},
		{`\"q\" \\ \/ \b\f\n\r\t`, "\"q\" \\ / \b\f\n\r\t"},
		{`\u0000nul`, "\x00nul"},
		{`\ud83d\ude00 grin`, "\U0001F600 grin"},
		{`\uD83D\uDE00`, "\U0001F600"},
		{`\u2028`, "\u2028"},
		{`esc\u0041pe then raw é`, "escApe then raw é"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			header := `{"__metadata__":{"` + tt.key + `":"` + tt.key + `"},"` + tt.key + `":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}`
			f, err := decodeNoPanic(t, raw(header, []byte{1}))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.Tensor(tt.want); err != nil {
				t.Errorf("tensor names = %q, want %q", slices.Collect(maps.Keys(f.Tensors)), tt.want)
			}
			if f.Metadata[tt.want] != tt.want {
				t.Errorf("metadata = %q, want %q: %q", f.Metadata, tt.want, tt.want)
			}
		})
	}
}

func TestDecodeDataIsCapped(t *testing.T) {
	b := encode(t, []Tensor{
		{Name: "a", DType: DTypeU8, Shape: []int{2}, Data: []byte{1, 2}},
		{Name: "b", DType: DTypeU8, Shape: []int{2}, Data: []byte{3, 4}},
	}, nil)
	f, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	a := f.Tensors["a"]
	_ = append(a.Data, 99) // must not write into tensor b
	if got := f.Tensors["b"].Data; !bytes.Equal(got, []byte{3, 4}) {
		t.Errorf("appending to tensor a changed tensor b to %v", got)
	}
}

func TestDecodeFlippedDataByte(t *testing.T) {
	b := encode(t, sampleTensors(), nil)
	dataStart := 8 + int(binary.LittleEndian.Uint64(b))
	if dataStart >= len(b) {
		t.Fatal("sample has no data")
	}
	for i := dataStart; i < len(b); i++ {
		for _, mask := range []byte{0x01, 0x80} {
			c := bytes.Clone(b)
			c[i] ^= mask
			_, err := decodeNoPanic(t, c)
			if !errors.Is(err, ErrChecksumMismatch) || err.Error() != "checksum mismatch: file is corrupted" {
				t.Fatalf("flipping bit %#x of byte %d: error = %v, want checksum mismatch", mask, i, err)
			}
		}
	}
}

func TestDecodeTruncated(t *testing.T) {
	for _, tt := range []struct {
		name string
		b    []byte
	}{
		{"encoded", encode(t, sampleTensors(), map[string]string{"k": "v"})},
		{"foreign", raw(validHeader, data8)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Decode(tt.b); err != nil {
				t.Fatalf("untruncated file: %v", err)
			}
			for n := range len(tt.b) {
				if _, err := decodeNoPanic(t, tt.b[:n]); err == nil {
					t.Errorf("file truncated to %d of %d bytes decoded without error", n, len(tt.b))
				}
			}
			// Extra bytes at the end are an error as well.
			if _, err := decodeNoPanic(t, append(bytes.Clone(tt.b), 0)); err == nil {
				t.Error("file with a trailing byte decoded without error")
			}
		})
	}
}

// TestDecodeAllocationBounded checks that crafted headers cannot make Decode
// allocate much more than the size of its input.
func TestDecodeAllocationBounded(t *testing.T) {
	manyDims := `{"a":{"dtype":"U8","shape":[` + strings.Repeat("1,", 200000) + `1],"data_offsets":[0,1]}}`
	var manyTensors strings.Builder
	manyTensors.WriteString("{")
	for i := range 20000 {
		if i > 0 {
			manyTensors.WriteString(",")
		}
		fmt.Fprintf(&manyTensors, `"%d":{"dtype":"U8","shape":[0],"data_offsets":[0,0]}`, i)
	}
	manyTensors.WriteString("}")
	var manyMeta strings.Builder
	manyMeta.WriteString(`{"__metadata__":{`)
	for i := range 50000 {
		if i > 0 {
			manyMeta.WriteString(",")
		}
		fmt.Fprintf(&manyMeta, `"%d":""`, i)
	}
	manyMeta.WriteString("}}")

	tests := []struct {
		name    string
		in      []byte
		succeed bool
	}{
		{"1<<40 elements", raw(`{"a":{"dtype":"F64","shape":[1099511627776],"data_offsets":[0,8796093022208]}}`, data8), false},
		{"many dimensions", raw(manyDims, []byte{0}), true},
		{"many tensors", raw(manyTensors.String(), nil), true},
		{"many metadata keys", raw(manyMeta.String(), nil), true},
		{"long name", raw(`{"`+strings.Repeat("n", 1<<20)+`":{"dtype":"U8","shape":[1],"data_offsets":[0,2]}}`, data8[:1]), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			_, err := Decode(tt.in)
			runtime.ReadMemStats(&after)
			if (err == nil) != tt.succeed {
				t.Fatalf("Decode error = %v, want success %v", err, tt.succeed)
			}
			if err != nil && len(err.Error()) > 300 {
				t.Errorf("error message is %d bytes long", len(err.Error()))
			}
			alloc := after.TotalAlloc - before.TotalAlloc
			if limit := uint64(32*len(tt.in) + 64<<10); alloc > limit {
				t.Errorf("Decode of %d bytes allocated %d bytes, over the limit of %d", len(tt.in), alloc, limit)
			}
			t.Logf("Decode of %d bytes allocated %d bytes (%.1fx)", len(tt.in), alloc, float64(alloc)/float64(len(tt.in)))
		})
	}
}

// specTensor is a tensor as the checksum's specification sees it.
type specTensor struct {
	name, dtype string
	shape       []int
	data        []byte
}

// specChecksum is the "sha256" metadata entry written out from its
// definition: SHA-256 over the tensors' data in name order, then each
// tensor's name, dtype and shape, then each metadata entry but "sha256" in
// key order, strings and counts as little-endian uint64 length prefixes.
func specChecksum(tensors []specTensor, meta map[string]string) [32]byte {
	sort.Slice(tensors, func(i, j int) bool { return tensors[i].name < tensors[j].name })
	var b []byte
	for _, t := range tensors {
		b = append(b, t.data...)
	}
	str := func(s string) { b = binary.LittleEndian.AppendUint64(b, uint64(len(s))); b = append(b, s...) }
	for _, t := range tensors {
		str(t.name)
		str(t.dtype)
		b = binary.LittleEndian.AppendUint64(b, uint64(len(t.shape)))
		for _, d := range t.shape {
			b = binary.LittleEndian.AppendUint64(b, uint64(d))
		}
	}
	var keys []string
	for k := range meta {
		if k != "sha256" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		str(k)
		str(meta[k])
	}
	return sha256.Sum256(b)
}

// The checksum covers the header too: a changed metadata value or a
// transposed shape of the same size is refused.
func TestChecksumCoversHeader(t *testing.T) {
	var b bytes.Buffer
	if err := Encode(&b, []Tensor{F32("w", []int{2, 3}, []float32{1, 2, 3, 4, 5, 6})}, map[string]string{"config": `{"lr":0.0003}`}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ from, to string }{
		{`0.0003`, `0.0009`},
		{`"shape":[2,3]`, `"shape":[3,2]`},
	} {
		tampered := bytes.Replace(b.Bytes(), []byte(tc.from), []byte(tc.to), 1)
		if bytes.Equal(tampered, b.Bytes()) {
			t.Fatalf("%q not found in the encoding", tc.from)
		}
		if _, err := Decode(tampered); !errors.Is(err, ErrChecksumMismatch) {
			t.Errorf("%s → %s: Decode error %v, want a checksum mismatch", tc.from, tc.to, err)
		}
	}
}
