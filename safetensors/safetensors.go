// Package safetensors reads and writes checkpoints in the Hugging Face
// safetensors format.
//
// A safetensors file is an 8-byte little-endian header length N, followed by
// N bytes of UTF-8 JSON describing the tensors, followed by a byte buffer
// holding every tensor's data, little-endian and packed without gaps:
//
//	{
//	  "__metadata__": {"sha256": "..."},
//	  "bias":   {"dtype": "F32", "shape": [3],    "data_offsets": [0, 12]},
//	  "weight": {"dtype": "F32", "shape": [3, 2], "data_offsets": [12, 36]}
//	}
//
// Data offsets are relative to the start of the byte buffer. Encode writes
// tensors sorted by name, so the same tensors always produce the same bytes,
// and records a SHA-256 of the byte buffer and of the header's content under
// the metadata key "sha256".
// Decode verifies that checksum when it is present; files written by other
// tools usually lack it, which Decode accepts (see File.Checksummed).
//
// The checksum covers the tensor data and, through a canonical encoding,
// every tensor's name, dtype and shape and every other metadata entry; only
// the data offsets and the header's layout are left to Decode's structural
// checks (which require the tensors to tile the buffer exactly).
package safetensors

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
)

// DType names the element type of a tensor, spelled as in the header's
// "dtype" field.
type DType string

// Element types supported by this package. The sub-byte float types of the
// format (F4, F6_*) are not supported.
const (
	DTypeBool   DType = "BOOL"
	DTypeU8     DType = "U8"
	DTypeI8     DType = "I8"
	DTypeF8E5M2 DType = "F8_E5M2"
	DTypeF8E4M3 DType = "F8_E4M3"
	DTypeF8E8M0 DType = "F8_E8M0"
	DTypeI16    DType = "I16"
	DTypeU16    DType = "U16"
	DTypeF16    DType = "F16"
	DTypeBF16   DType = "BF16"
	DTypeI32    DType = "I32"
	DTypeU32    DType = "U32"
	DTypeF32    DType = "F32"
	DTypeI64    DType = "I64"
	DTypeU64    DType = "U64"
	DTypeF64    DType = "F64"
)

// Size returns the size in bytes of one element of type d, or 0 if d is not
// a supported type.
func (d DType) Size() int {
	switch d {
	case DTypeBool, DTypeU8, DTypeI8, DTypeF8E5M2, DTypeF8E4M3, DTypeF8E8M0:
		return 1
	case DTypeI16, DTypeU16, DTypeF16, DTypeBF16:
		return 2
	case DTypeI32, DTypeU32, DTypeF32:
		return 4
	case DTypeI64, DTypeU64, DTypeF64:
		return 8
	}
	return 0
}

// Tensor is one named tensor's raw little-endian bytes.
//
// Shape lists the dimensions, outermost first; an empty Shape is a scalar
// holding one element. Data holds product(Shape) elements of DType, packed in
// row-major order.
type Tensor struct {
	Name  string
	DType DType
	Shape []int
	Data  []byte
}

// F32 returns a tensor of type F32 holding v. The shape is copied; Encode
// checks that it agrees with len(v).
func F32(name string, shape []int, v []float32) Tensor {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return Tensor{Name: name, DType: DTypeF32, Shape: cloneShape(shape), Data: b}
}

// F64 returns a tensor of type F64 holding v. The shape is copied; Encode
// checks that it agrees with len(v).
func F64(name string, shape []int, v []float64) Tensor {
	b := make([]byte, 8*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint64(b[8*i:], math.Float64bits(x))
	}
	return Tensor{Name: name, DType: DTypeF64, Shape: cloneShape(shape), Data: b}
}

// I64 returns a tensor of type I64 holding v. The shape is copied; Encode
// checks that it agrees with len(v).
func I64(name string, shape []int, v []int64) Tensor {
	b := make([]byte, 8*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint64(b[8*i:], uint64(x))
	}
	return Tensor{Name: name, DType: DTypeI64, Shape: cloneShape(shape), Data: b}
}

// Float32s returns the elements of an F32 tensor. It returns an error if the
// tensor has another type or its data is not a whole number of elements.
func (t Tensor) Float32s() ([]float32, error) {
	if err := t.checkElems(DTypeF32); err != nil {
		return nil, err
	}
	v := make([]float32, len(t.Data)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(t.Data[4*i:]))
	}
	return v, nil
}

// Float64s returns the elements of an F64 tensor. It returns an error if the
// tensor has another type or its data is not a whole number of elements.
func (t Tensor) Float64s() ([]float64, error) {
	if err := t.checkElems(DTypeF64); err != nil {
		return nil, err
	}
	v := make([]float64, len(t.Data)/8)
	for i := range v {
		v[i] = math.Float64frombits(binary.LittleEndian.Uint64(t.Data[8*i:]))
	}
	return v, nil
}

// Int64s returns the elements of an I64 tensor. It returns an error if the
// tensor has another type or its data is not a whole number of elements.
func (t Tensor) Int64s() ([]int64, error) {
	if err := t.checkElems(DTypeI64); err != nil {
		return nil, err
	}
	v := make([]int64, len(t.Data)/8)
	for i := range v {
		v[i] = int64(binary.LittleEndian.Uint64(t.Data[8*i:]))
	}
	return v, nil
}

func (t Tensor) checkElems(want DType) error {
	if t.DType != want {
		return fmt.Errorf("tensor %q has dtype %s, not %s", t.Name, t.DType, want)
	}
	if len(t.Data)%want.Size() != 0 {
		return fmt.Errorf("tensor %q: %d bytes of data is not a whole number of %s elements", t.Name, len(t.Data), want)
	}
	return nil
}

// File is a decoded safetensors file.
//
// Tensors maps each tensor's name to the tensor. Metadata holds the header's
// "__metadata__" entries, including "sha256" when the file carries one; it is
// never nil after a successful Decode.
type File struct {
	Tensors  map[string]Tensor
	Metadata map[string]string

	checksummed bool
}

// Tensor returns the tensor called name, or an error if the file has none.
func (f *File) Tensor(name string) (Tensor, error) {
	t, ok := f.Tensors[name]
	if !ok {
		return Tensor{}, fmt.Errorf("no tensor %q", name)
	}
	return t, nil
}

// Checksummed reports whether the file carried a "sha256" checksum of its
// data, which Decode verified. Files written by Encode always do; files
// written by other tools usually do not.
func (f *File) Checksummed() bool {
	return f.checksummed
}

// numElements returns the number of elements of a tensor with the given
// shape, or ok == false if a dimension is negative or the count does not fit
// in an int.
func numElements(shape []int) (n int, ok bool) {
	n = 1
	for _, d := range shape {
		if d < 0 {
			return 0, false
		}
		if d != 0 && n > math.MaxInt/d {
			return 0, false
		}
		n *= d
	}
	return n, true
}

// byteSize returns the number of bytes occupied by a tensor of the given
// dtype and shape, or an error describing why it has none.
func byteSize(dtype DType, shape []int) (int, error) {
	size := dtype.Size()
	if size == 0 {
		return 0, fmt.Errorf("unknown dtype %q", string(dtype))
	}
	for _, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("negative dimension %d in shape %s", d, formatShape(shape))
		}
	}
	n, ok := numElements(shape)
	if !ok || n > math.MaxInt/size {
		return 0, fmt.Errorf("shape %s has too many elements", formatShape(shape))
	}
	return n * size, nil
}

// formatShape formats a shape for an error message, eliding the middle of
// very long shapes.
func formatShape(shape []int) string {
	const max = 8
	if len(shape) <= max {
		return fmt.Sprint(shape)
	}
	head := strings.Trim(fmt.Sprint(shape[:max/2]), "[]")
	tail := strings.Trim(fmt.Sprint(shape[len(shape)-max/2:]), "[]")
	return fmt.Sprintf("[%s ... %s] (%d dimensions)", head, tail, len(shape))
}

func cloneShape(shape []int) []int {
	if shape == nil {
		return []int{}
	}
	return slices.Clone(shape)
}

// checksum returns the SHA-256 recorded under "sha256": of the tensors'
// data in name order (the data buffer of an encoded file), then of each
// tensor's name, dtype and shape, then of each metadata entry but "sha256"
// in key order, every string length-prefixed. It covers the header as well
// as the data, so a changed shape, name or configuration is caught too.
func checksum(sorted []Tensor, metadata map[string]string) [sha256.Size]byte {
	h := sha256.New()
	for _, t := range sorted {
		h.Write(t.Data)
	}
	var n [8]byte
	put := func(s string) {
		binary.LittleEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		io.WriteString(h, s)
	}
	for _, t := range sorted {
		put(t.Name)
		put(string(t.DType))
		binary.LittleEndian.PutUint64(n[:], uint64(len(t.Shape)))
		h.Write(n[:])
		for _, d := range t.Shape {
			binary.LittleEndian.PutUint64(n[:], uint64(d))
			h.Write(n[:])
		}
	}
	keys := make([]string, 0, len(metadata))
	for k := range metadata {
		if k != checksumKey {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		put(k)
		put(metadata[k])
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum
}
