package stix

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
)

// Bundle is a STIX bundle. Properties other than "objects" (type, id, and
// anything else the producer put there) are kept losslessly.
type Bundle struct {
	ID      string
	Objects []*Object

	props map[string]json.RawMessage // excluding "objects"
	keys  []string                   // including "objects" where it appeared
}

// NewBundle returns a bundle with a fresh random id.
func NewBundle(objects ...*Object) *Bundle {
	id := NewID("bundle")
	b := &Bundle{ID: id, Objects: objects, props: map[string]json.RawMessage{}}
	b.props["type"] = json.RawMessage(`"bundle"`)
	idRaw, _ := json.Marshal(id)
	b.props["id"] = idRaw
	b.keys = []string{"type", "id", "objects"}
	return b
}

// Prop returns a raw top-level bundle property (not "objects").
func (b *Bundle) Prop(name string) (json.RawMessage, bool) {
	v, ok := b.props[name]
	return v, ok
}

// MarshalJSON writes the bundle with its properties in their original order.
func (b *Bundle) MarshalJSON() ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte('{')
	wroteObjects := false
	first := true
	writeKey := func(k string) {
		if !first {
			buf.WriteByte(',')
		}
		first = false
		kb, _ := json.Marshal(k)
		buf.Write(kb)
		buf.WriteByte(':')
	}
	writeObjects := func() error {
		writeKey("objects")
		buf.WriteByte('[')
		for i, o := range b.Objects {
			if i > 0 {
				buf.WriteByte(',')
			}
			ob, err := o.MarshalJSON()
			if err != nil {
				return err
			}
			buf.Write(ob)
		}
		buf.WriteByte(']')
		wroteObjects = true
		return nil
	}
	for _, k := range b.keys {
		if k == "objects" {
			if err := writeObjects(); err != nil {
				return nil, err
			}
			continue
		}
		writeKey(k)
		buf.Write(b.props[k])
	}
	if !wroteObjects && len(b.Objects) > 0 {
		if err := writeObjects(); err != nil {
			return nil, err
		}
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// UnmarshalJSON implements json.Unmarshaler via DecodeBundle.
func (b *Bundle) UnmarshalJSON(data []byte) error {
	v, err := DecodeBundle(bytes.NewReader(data))
	if err != nil {
		return err
	}
	*b = *v
	return nil
}

// DecodeBundle reads a whole bundle with DefaultLimits.
func DecodeBundle(r io.Reader) (*Bundle, error) {
	d := NewBundleDecoder(r, DefaultLimits)
	for {
		o, err := d.Next()
		if err == io.EOF {
			return d.Bundle(), nil
		}
		if err != nil {
			return nil, err
		}
		d.b.Objects = append(d.b.Objects, o)
	}
}

// BundleDecoder decodes a bundle incrementally: Next returns one object at
// a time, so a large bundle never needs to be held in memory as a whole.
type BundleDecoder struct {
	lim   Limits
	cr    *countingReader
	dec   *json.Decoder
	state int // 0 start, 1 in bundle object, 2 in objects array, 3 done
	b     *Bundle
	n     int
	err   error
}

type countingReader struct {
	r   io.Reader
	n   int64
	max int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	if c.n > c.max {
		return 0, fmt.Errorf("%w: bundle larger than %d bytes", ErrTooLarge, c.max)
	}
	if int64(len(p)) > c.max-c.n+1 {
		p = p[:c.max-c.n+1]
	}
	n, err := c.r.Read(p)
	c.n += int64(n)
	if c.n > c.max {
		return n, fmt.Errorf("%w: bundle larger than %d bytes", ErrTooLarge, c.max)
	}
	return n, err
}

// NewBundleDecoder returns a decoder reading from r within lim.
func NewBundleDecoder(r io.Reader, lim Limits) *BundleDecoder {
	if lim.MaxBundleBytes <= 0 {
		lim.MaxBundleBytes = DefaultLimits.MaxBundleBytes
	}
	if lim.MaxObjectBytes <= 0 {
		lim.MaxObjectBytes = DefaultLimits.MaxObjectBytes
	}
	if lim.MaxObjects <= 0 {
		lim.MaxObjects = DefaultLimits.MaxObjects
	}
	cr := &countingReader{r: r, max: lim.MaxBundleBytes}
	return &BundleDecoder{lim: lim, cr: cr, dec: json.NewDecoder(cr), b: &Bundle{props: map[string]json.RawMessage{}}}
}

// Bundle returns the bundle's non-object properties read so far (and the
// objects appended by DecodeBundle).
func (d *BundleDecoder) Bundle() *Bundle { return d.b }

// BytesRead reports how many bytes have been consumed (for progress bars).
func (d *BundleDecoder) BytesRead() int64 { return d.cr.n }

func (d *BundleDecoder) fail(index int, err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) || err == io.EOF {
		err = errors.New("unexpected end of input")
	}
	off := d.dec.InputOffset()
	if o := offsetOf(err); o >= 0 {
		off = o
	}
	d.err = newDecodeError(index, off, err)
	return d.err
}

// headID reads an object's id without keeping anything else.
func headID(raw []byte) (string, bool) {
	var h struct {
		ID string `json:"id"`
	}
	err := json.Unmarshal(raw, &h)
	return h.ID, err == nil && h.ID != ""
}

// Next returns the next object of the bundle, or io.EOF after the bundle
// has been read completely and checked.
func (d *BundleDecoder) Next() (*Object, error) {
	if d.err != nil {
		return nil, d.err
	}
	for {
		switch d.state {
		case 0:
			tok, err := d.dec.Token()
			if err != nil {
				return nil, d.fail(-1, err)
			}
			if dl, ok := tok.(json.Delim); !ok || dl != '{' {
				return nil, d.fail(-1, errors.New("bundle must be a JSON object"))
			}
			d.state = 1
		case 1:
			if !d.dec.More() {
				if _, err := d.dec.Token(); err != nil {
					return nil, d.fail(-1, err)
				}
				if _, err := d.dec.Token(); err != io.EOF {
					if err == nil {
						err = errors.New("trailing data after bundle")
					}
					return nil, d.fail(-1, err)
				}
				if _, ok := d.b.props["type"]; !ok {
					return nil, d.fail(-1, errors.New(`bundle has no "type" property`))
				}
				d.state = 3
				continue
			}
			tok, err := d.dec.Token()
			if err != nil {
				return nil, d.fail(-1, err)
			}
			k := tok.(string)
			if _, dup := d.b.props[k]; dup || (k == "objects" && slices.Contains(d.b.keys, "objects")) {
				return nil, d.fail(-1, fmt.Errorf("duplicate bundle property %q", k))
			}
			d.b.keys = append(d.b.keys, k)
			if k == "objects" {
				tok, err := d.dec.Token()
				if err != nil {
					return nil, d.fail(-1, err)
				}
				if dl, ok := tok.(json.Delim); !ok || dl != '[' {
					return nil, d.fail(-1, errors.New(`bundle "objects" must be a list`))
				}
				d.state = 2
				continue
			}
			var raw json.RawMessage
			if err := d.dec.Decode(&raw); err != nil {
				return nil, d.fail(-1, err)
			}
			var buf bytes.Buffer
			_ = json.Compact(&buf, raw)
			d.b.props[k] = buf.Bytes()
			switch k {
			case "type":
				var t string
				if json.Unmarshal(raw, &t) != nil || t != "bundle" {
					return nil, d.fail(-1, fmt.Errorf(`not a bundle: "type" is %s`, raw))
				}
			case "id":
				_ = json.Unmarshal(raw, &d.b.ID)
			}
		case 2:
			if !d.dec.More() {
				if _, err := d.dec.Token(); err != nil {
					return nil, d.fail(-1, err)
				}
				d.state = 1
				continue
			}
			if d.n >= d.lim.MaxObjects {
				return nil, d.fail(d.n, fmt.Errorf("%w: more than %d objects", ErrTooLarge, d.lim.MaxObjects))
			}
			var raw json.RawMessage
			if err := d.dec.Decode(&raw); err != nil {
				return nil, d.fail(d.n, err)
			}
			if len(raw) > d.lim.MaxObjectBytes {
				id, _ := headID(raw)
				return nil, d.fail(d.n, &propError{id: id, err: fmt.Errorf("%w: object is %d bytes, limit %d", ErrTooLarge, len(raw), d.lim.MaxObjectBytes)})
			}
			start := d.dec.InputOffset() - int64(len(raw))
			keys, props, err := decodeProps(raw)
			if err != nil {
				// Offsets inside raw become offsets in the input.
				if o := offsetOf(err); o >= 0 {
					d.err = newDecodeError(d.n, start+o, err)
					return nil, d.err
				}
				return nil, d.fail(d.n, err)
			}
			o := &Object{props: props, keys: keys}
			o.parseCommon()
			d.n++
			return o, nil
		case 3:
			return nil, io.EOF
		}
	}
}
