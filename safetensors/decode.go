package safetensors

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// maxHeaderLen bounds the JSON header. Real headers are a few hundred bytes
// per tensor; the bound keeps a corrupt length from costing anything.
const maxHeaderLen = 100 << 20

// ErrChecksumMismatch is returned by Decode (and ReadFile) when the data
// buffer does not match the "sha256" recorded in the header.
var ErrChecksumMismatch = errors.New("checksum mismatch: file is corrupted")

// Decode parses a safetensors file held in b.
//
// Decode is strict: it rejects malformed or non-UTF-8 JSON, duplicate keys,
// unknown or missing tensor fields, unknown dtypes, negative dimensions,
// element counts that overflow, data offsets that disagree with the shape or
// fall outside the buffer, gaps or overlaps between tensors, trailing bytes,
// empty tensor names, and metadata that is not a string-to-string object. If
// the metadata holds "sha256", the data buffer must match it, or Decode
// returns ErrChecksumMismatch.
//
// The memory Decode allocates is a small multiple of len(b), whatever the
// header claims. The returned tensors' Data slices alias b, so b must not be
// modified while they are in use.
func Decode(b []byte) (*File, error) {
	if len(b) < 8 {
		return nil, fmt.Errorf("file is %d bytes, too short for the 8-byte header length", len(b))
	}
	n, err := headerLen(b[:8], len(b)-8)
	if err != nil {
		return nil, err
	}
	header, buf := b[8:8+n], b[8+n:]

	f := &File{Tensors: map[string]Tensor{}, Metadata: map[string]string{}}
	type span struct {
		name       string
		begin, end int
	}
	var spans []span
	err = parseHeader(header, len(buf), f.Metadata, func(t Tensor, begin, end int) error {
		if _, dup := f.Tensors[t.Name]; dup {
			return fmt.Errorf("duplicate tensor %s", quote(t.Name))
		}
		t.Data = buf[begin:end:end]
		f.Tensors[t.Name] = t
		spans = append(spans, span{t.Name, begin, end})
		return nil
	})
	if err != nil {
		return nil, err
	}

	// The tensors must tile the buffer exactly: sorted by position, each one
	// starts where the previous one ended, and the last ends with the buffer.
	slices.SortFunc(spans, func(a, b span) int {
		if a.begin != b.begin {
			return a.begin - b.begin
		}
		return a.end - b.end
	})
	pos, prev := 0, ""
	for _, s := range spans {
		if s.begin < pos {
			return nil, fmt.Errorf("tensors %s and %s overlap in the data buffer", quote(prev), quote(s.name))
		}
		if s.begin > pos {
			return nil, fmt.Errorf("gap in the data buffer: bytes [%d, %d) belong to no tensor", pos, s.begin)
		}
		pos, prev = s.end, s.name
	}
	if pos != len(buf) {
		return nil, fmt.Errorf("gap in the data buffer: bytes [%d, %d) belong to no tensor", pos, len(buf))
	}

	if sum, ok := f.Metadata[checksumKey]; ok {
		want, err := hex.DecodeString(sum)
		if err != nil || len(want) != sha256.Size {
			return nil, fmt.Errorf("metadata %q is not a hex SHA-256: %s", checksumKey, quote(sum))
		}
		sorted := make([]Tensor, 0, len(f.Tensors))
		for _, t := range f.Tensors {
			sorted = append(sorted, t)
		}
		slices.SortFunc(sorted, func(a, b Tensor) int { return strings.Compare(a.Name, b.Name) })
		got := checksum(sorted, f.Metadata)
		if !bytes.Equal(got[:], want) {
			return nil, ErrChecksumMismatch
		}
		f.checksummed = true
	}
	return f, nil
}

// headerLen returns the header length that the 8 bytes b give, checked
// against the limit and the rest bytes that follow them.
func headerLen(b []byte, rest int) (int, error) {
	n := binary.LittleEndian.Uint64(b)
	if n > maxHeaderLen {
		return 0, fmt.Errorf("header length %d exceeds the %d MiB limit", n, maxHeaderLen>>20)
	}
	if n > uint64(rest) {
		return 0, fmt.Errorf("header length %d exceeds the %d bytes that follow it", n, rest)
	}
	return int(n), nil
}

// parseHeader parses the JSON header of a file whose data buffer holds
// bufLen bytes: the metadata into meta, and each tensor, with the span
// [begin, end) of the buffer that it claims, to tensor.
func parseHeader(header []byte, bufLen int, meta map[string]string, tensor func(t Tensor, begin, end int) error) error {
	if !utf8.Valid(header) {
		return errors.New("header is not valid UTF-8")
	}
	if len(header) == 0 || header[0] != '{' {
		return errors.New("header is not a JSON object")
	}
	hasMeta := false
	p := &parser{b: header}
	err := p.object(func(key string) error {
		if key == metadataKey {
			if hasMeta {
				return fmt.Errorf("duplicate key %s", quote(key))
			}
			hasMeta = true
			return p.metadata(meta)
		}
		if key == "" {
			return errors.New("empty tensor name")
		}
		t, begin, end, err := p.tensor(key, bufLen)
		if err != nil {
			return fmt.Errorf("tensor %s: %w", quote(key), err)
		}
		return tensor(t, begin, end)
	})
	if err != nil {
		return err
	}
	if p.skipSpace(); p.pos != len(p.b) {
		return fmt.Errorf("invalid header JSON at byte %d: data after the JSON object", p.pos)
	}
	return nil
}

// parser reads the JSON header. It understands only the JSON the format
// uses (objects, arrays of integers, and strings), which lets it reject
// duplicate keys, nulls and wrongly typed values that a general decoder
// would quietly accept, and keeps its allocations proportional to the
// header.
type parser struct {
	b   []byte
	pos int
}

func (p *parser) errorf(format string, args ...any) error {
	return fmt.Errorf("invalid header JSON at byte %d: %s", p.pos, fmt.Sprintf(format, args...))
}

func (p *parser) skipSpace() {
	for p.pos < len(p.b) {
		switch p.b[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

// peek skips white space and returns the next byte, or 0 at the end.
func (p *parser) peek() byte {
	p.skipSpace()
	if p.pos == len(p.b) {
		return 0
	}
	return p.b[p.pos]
}

// next describes the upcoming input for an error message.
func (p *parser) next() string {
	c := p.peek()
	rest := p.b[p.pos:]
	switch {
	case len(rest) == 0:
		return "end of header"
	case c == '"':
		return "a string"
	case c == '{':
		return "an object"
	case c == '[':
		return "an array"
	case c == '-' || '0' <= c && c <= '9':
		return "a number"
	}
	for _, lit := range []string{"null", "true", "false"} {
		if bytes.HasPrefix(rest, []byte(lit)) {
			return lit
		}
	}
	r, _ := utf8.DecodeRune(rest)
	return strconv.QuoteRune(r)
}

func (p *parser) expect(c byte) error {
	if p.peek() != c {
		return p.errorf("expected %q, found %s", c, p.next())
	}
	p.pos++
	return nil
}

// object parses an object, calling value for each key with the parser
// positioned at the key's value, which value must consume.
func (p *parser) object(value func(key string) error) error {
	if err := p.expect('{'); err != nil {
		return err
	}
	if p.peek() == '}' {
		p.pos++
		return nil
	}
	for {
		key, err := p.str()
		if err != nil {
			return err
		}
		if err := p.expect(':'); err != nil {
			return err
		}
		if err := value(key); err != nil {
			return err
		}
		switch p.peek() {
		case ',':
			p.pos++
		case '}':
			p.pos++
			return nil
		default:
			return p.errorf("expected ',' or '}', found %s", p.next())
		}
	}
}

// str parses a string.
func (p *parser) str() (string, error) {
	if err := p.expect('"'); err != nil {
		return "", err
	}
	start := p.pos
	for ; p.pos < len(p.b); p.pos++ {
		switch c := p.b[p.pos]; {
		case c == '"':
			s := string(p.b[start:p.pos])
			p.pos++
			return s, nil
		case c == '\\':
			return p.escapedStr(start)
		case c < 0x20:
			return "", p.errorf("control character %#02x in string", c)
		}
	}
	return "", p.errorf("unterminated string")
}

// escapedStr finishes parsing a string that began at start and contains an
// escape sequence at p.pos.
func (p *parser) escapedStr(start int) (string, error) {
	s := slices.Clone(p.b[start:p.pos])
	for p.pos < len(p.b) {
		c := p.b[p.pos]
		switch {
		case c == '"':
			p.pos++
			return string(s), nil
		case c < 0x20:
			return "", p.errorf("control character %#02x in string", c)
		case c != '\\':
			s = append(s, c)
			p.pos++
			continue
		}
		if p.pos+1 == len(p.b) {
			break
		}
		e := p.b[p.pos+1]
		p.pos += 2
		switch e {
		case '"', '\\', '/':
			s = append(s, e)
		case 'b':
			s = append(s, '\b')
		case 'f':
			s = append(s, '\f')
		case 'n':
			s = append(s, '\n')
		case 'r':
			s = append(s, '\r')
		case 't':
			s = append(s, '\t')
		case 'u':
			r, err := p.hex4()
			if err != nil {
				return "", err
			}
			if utf16.IsSurrogate(r) {
				// A surrogate must be the first half of a pair.
				var r2 rune = -1
				if bytes.HasPrefix(p.b[p.pos:], []byte(`\u`)) {
					p.pos += 2
					if r2, err = p.hex4(); err != nil {
						return "", err
					}
				}
				if r = utf16.DecodeRune(r, r2); r == utf8.RuneError {
					return "", p.errorf("unpaired UTF-16 surrogate in string")
				}
			}
			s = utf8.AppendRune(s, r)
		default:
			p.pos--
			return "", p.errorf("invalid escape sequence in string")
		}
	}
	return "", p.errorf("unterminated string")
}

// hex4 parses the four hex digits of a \u escape.
func (p *parser) hex4() (rune, error) {
	if len(p.b)-p.pos < 4 {
		return 0, p.errorf("truncated \\u escape in string")
	}
	v, err := strconv.ParseUint(string(p.b[p.pos:p.pos+4]), 16, 16)
	if err != nil {
		return 0, p.errorf("invalid \\u escape in string")
	}
	p.pos += 4
	return rune(v), nil
}

// metadata parses the "__metadata__" object into m.
func (p *parser) metadata(m map[string]string) error {
	if p.peek() != '{' {
		return fmt.Errorf("__metadata__ must be an object of strings, found %s", p.next())
	}
	return p.object(func(key string) error {
		if _, dup := m[key]; dup {
			return fmt.Errorf("duplicate metadata key %s", quote(key))
		}
		if p.peek() != '"' {
			return fmt.Errorf("__metadata__ must be an object of strings: key %s has %s", quote(key), p.next())
		}
		v, err := p.str()
		if err != nil {
			return err
		}
		m[key] = v
		return nil
	})
}

// tensor parses one tensor's {"dtype", "shape", "data_offsets"} object and
// checks it against a data buffer of bufLen bytes. It returns the tensor,
// without its data, and its byte range in the buffer.
func (p *parser) tensor(name string, bufLen int) (t Tensor, begin, end int, err error) {
	var dtype string
	var shape, offsets []int
	var haveDType, haveShape, haveOffsets bool
	err = p.object(func(field string) error {
		var dup bool
		switch field {
		case "dtype":
			dup, haveDType = haveDType, true
			if p.peek() != '"' {
				return fmt.Errorf("dtype must be a string, found %s", p.next())
			}
			s, err := p.str()
			if err != nil {
				return err
			}
			if DType(s).Size() == 0 {
				return fmt.Errorf("unknown dtype %s", quote(s))
			}
			dtype = s
		case "shape":
			dup, haveShape = haveShape, true
			var err error
			if shape, err = p.ints("shape", "dimension"); err != nil {
				return err
			}
		case "data_offsets":
			dup, haveOffsets = haveOffsets, true
			var err error
			if offsets, err = p.ints("data_offsets", "data offset"); err != nil {
				return err
			}
			if len(offsets) != 2 {
				return fmt.Errorf("data_offsets has %d elements, want 2", len(offsets))
			}
		default:
			return fmt.Errorf("unknown field %s", quote(field))
		}
		if dup {
			return fmt.Errorf("duplicate field %q", field)
		}
		return nil
	})
	switch {
	case err != nil:
		return t, 0, 0, err
	case !haveDType:
		return t, 0, 0, errors.New("missing dtype")
	case !haveShape:
		return t, 0, 0, errors.New("missing shape")
	case !haveOffsets:
		return t, 0, 0, errors.New("missing data_offsets")
	}

	t = Tensor{Name: name, DType: DType(dtype), Shape: shape}
	size, err := byteSize(t.DType, shape)
	if err != nil {
		return t, 0, 0, err
	}
	begin, end = offsets[0], offsets[1]
	switch {
	case begin > end:
		return t, 0, 0, fmt.Errorf("data_offsets [%d, %d] begin after they end", begin, end)
	case end > bufLen:
		return t, 0, 0, fmt.Errorf("data_offsets [%d, %d] extend past the %d-byte data buffer", begin, end, bufLen)
	case end-begin != size:
		return t, 0, 0, fmt.Errorf("shape %s with dtype %s needs %d bytes, data_offsets [%d, %d] hold %d",
			formatShape(shape), dtype, size, begin, end, end-begin)
	}
	return t, begin, end, nil
}

// ints parses an array of non-negative integers that fit in an int. field
// and what name the array and its elements in error messages.
func (p *parser) ints(field, what string) ([]int, error) {
	if p.peek() != '[' {
		return nil, fmt.Errorf("%s must be an array of integers, found %s", field, p.next())
	}
	p.pos++
	// Size the slice from the number of commas before the closing bracket,
	// so that long arrays are allocated once.
	n := 0
	if end := bytes.IndexByte(p.b[p.pos:], ']'); end > 0 {
		n = bytes.Count(p.b[p.pos:p.pos+end], []byte{','}) + 1
	}
	v := make([]int, 0, n)
	if p.peek() == ']' {
		p.pos++
		return v, nil
	}
	for {
		x, err := p.integer(field, what)
		if err != nil {
			return nil, err
		}
		v = append(v, x)
		switch p.peek() {
		case ',':
			p.pos++
		case ']':
			p.pos++
			return v, nil
		default:
			return nil, p.errorf("expected ',' or ']' in %s, found %s", field, p.next())
		}
	}
}

// integer parses a JSON number that must be a non-negative integer.
func (p *parser) integer(field, what string) (int, error) {
	p.skipSpace()
	b, start, i := p.b, p.pos, p.pos
	digits := func() int {
		j := i
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
		return i - j
	}
	neg := i < len(b) && b[i] == '-'
	if neg {
		i++
	}
	if i == len(b) || b[i] < '0' || b[i] > '9' {
		if !neg {
			return 0, fmt.Errorf("%s: expected an integer, found %s", field, p.next())
		}
		p.pos = i
		return 0, p.errorf("invalid number in %s", field)
	}
	if b[i] == '0' {
		i++
	} else {
		digits()
	}
	intEnd := i
	fraction := false
	if i < len(b) && b[i] == '.' {
		i++
		if digits() == 0 {
			p.pos = i
			return 0, p.errorf("invalid number in %s", field)
		}
		fraction = true
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if digits() == 0 {
			p.pos = i
			return 0, p.errorf("invalid number in %s", field)
		}
		fraction = true
	}
	p.pos = i
	num := quoteNumber(b[start:i])
	switch {
	case neg:
		return 0, fmt.Errorf("%s: negative %s %s", field, what, num)
	case fraction:
		return 0, fmt.Errorf("%s: %s %s is not an integer", field, what, num)
	}
	x := 0
	for _, c := range b[start:intEnd] {
		d := int(c - '0')
		if x > (math.MaxInt-d)/10 {
			return 0, fmt.Errorf("%s: %s %s is too large", field, what, num)
		}
		x = x*10 + d
	}
	return x, nil
}

// quoteNumber returns a number's text for an error message, shortened if
// it is very long.
func quoteNumber(b []byte) string {
	if len(b) > 32 {
		return string(b[:32]) + "..."
	}
	return string(b)
}

// quote quotes s for an error message, shortening it so that a crafted
// header cannot produce an enormous error.
func quote(s string) string {
	const max = 64
	if len(s) <= max {
		return strconv.Quote(s)
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strconv.Quote(s[:cut]) + "..."
}
