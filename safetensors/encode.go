package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

const (
	// metadataKey is the reserved header entry holding string metadata.
	metadataKey = "__metadata__"
	// checksumKey is the metadata key under which Encode records the
	// lowercase hex SHA-256 of the data buffer.
	checksumKey = "sha256"
	// headerAlign is the alignment of the data buffer within the file.
	headerAlign = 8
)

// Encode writes tensors and metadata to w in the safetensors format.
//
// Tensors are written sorted by name, so the output does not depend on the
// order of the slice. Every tensor must have a unique, non-empty, valid UTF-8
// name other than "__metadata__", a supported dtype, non-negative dimensions,
// and exactly as many bytes of data as its shape and dtype require.
//
// Encode adds the metadata key "sha256", the lowercase hex SHA-256 of the
// data buffer followed by every tensor's name, dtype and shape and every
// other metadata entry (see checksum); metadata must not contain that key
// itself. Metadata keys and
// values must be valid UTF-8.
//
// Encode validates everything before writing, so on a validation error
// nothing has been written to w.
func Encode(w io.Writer, tensors []Tensor, metadata map[string]string) error {
	sorted := slices.Clone(tensors)
	slices.SortFunc(sorted, func(a, b Tensor) int { return strings.Compare(a.Name, b.Name) })

	for i, t := range sorted {
		if err := validateTensor(t); err != nil {
			return err
		}
		if i > 0 && sorted[i-1].Name == t.Name {
			return fmt.Errorf("duplicate tensor name %q", t.Name)
		}
	}
	for k, v := range metadata {
		if k == checksumKey {
			return fmt.Errorf("metadata key %q is reserved: Encode computes it", checksumKey)
		}
		if !utf8.ValidString(k) {
			return fmt.Errorf("metadata key %q is not valid UTF-8", k)
		}
		if !utf8.ValidString(v) {
			return fmt.Errorf("metadata value for key %q is not valid UTF-8", k)
		}
	}

	meta := make(map[string]string, len(metadata)+1)
	for k, v := range metadata {
		meta[k] = v
	}
	sum := checksum(sorted, metadata)
	meta[checksumKey] = hex.EncodeToString(sum[:])

	header, err := encodeHeader(sorted, meta)
	if err != nil {
		return err
	}
	var prefix [8]byte
	binary.LittleEndian.PutUint64(prefix[:], uint64(len(header)))
	if _, err := w.Write(prefix[:]); err != nil {
		return err
	}
	if _, err := w.Write(header); err != nil {
		return err
	}
	for _, t := range sorted {
		if _, err := w.Write(t.Data); err != nil {
			return err
		}
	}
	return nil
}

func validateTensor(t Tensor) error {
	switch {
	case t.Name == "":
		return errors.New("tensor with empty name")
	case t.Name == metadataKey:
		return fmt.Errorf("tensor name %q is reserved", metadataKey)
	case !utf8.ValidString(t.Name):
		return fmt.Errorf("tensor name %q is not valid UTF-8", t.Name)
	}
	n, err := byteSize(t.DType, t.Shape)
	if err != nil {
		return fmt.Errorf("tensor %q: %v", t.Name, err)
	}
	if len(t.Data) != n {
		return fmt.Errorf("tensor %q: shape %s with dtype %s needs %d bytes of data, have %d",
			t.Name, formatShape(t.Shape), t.DType, n, len(t.Data))
	}
	return nil
}

// encodeHeader returns the JSON header for tensors, which must be sorted and
// validated, padded with spaces so that the data buffer starts at a multiple
// of headerAlign bytes into the file.
func encodeHeader(tensors []Tensor, meta map[string]string) ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	b.WriteString(strconv.Quote(metadataKey))
	b.WriteByte(':')
	mj, err := json.Marshal(meta) // map keys are sorted
	if err != nil {
		return nil, err
	}
	b.Write(mj)

	var off int
	for _, t := range tensors {
		name, err := json.Marshal(t.Name)
		if err != nil {
			return nil, err
		}
		b.WriteByte(',')
		b.Write(name)
		b.WriteString(`:{"dtype":`)
		b.WriteString(strconv.Quote(string(t.DType)))
		b.WriteString(`,"shape":[`)
		for i, d := range t.Shape {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strconv.Itoa(d))
		}
		b.WriteString(`],"data_offsets":[`)
		b.WriteString(strconv.Itoa(off))
		b.WriteByte(',')
		off += len(t.Data)
		b.WriteString(strconv.Itoa(off))
		b.WriteString("]}")
	}
	b.WriteByte('}')

	if r := (8 + b.Len()) % headerAlign; r != 0 {
		b.WriteString(strings.Repeat(" ", headerAlign-r))
	}
	if b.Len() > maxHeaderLen {
		return nil, fmt.Errorf("header is %d bytes, over the %d-byte limit", b.Len(), maxHeaderLen)
	}
	return b.Bytes(), nil
}
