// Package stix is Kurier's STIX 2.1 model: a lossless object representation,
// a size-limited streaming bundle decoder, validation as the specification
// requires, TLP 2.0 markings, deterministic SCO identifiers and extraction of
// observable values for the index.
//
// Objects are kept as their original JSON properties (in their original
// order): unknown and custom properties survive decode → store → export and
// MarshalJSON reproduces the input (equal as JSON values; byte-equal up to
// insignificant whitespace). The common properties are additionally parsed
// into typed fields, and typed views of every specification object type are
// available through As / (*Object).Typed.
package stix

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"time"

	"github.com/gowebpki/jcs"

	"github.com/kurier/kurier/node/stix/internal/stixtime"
)

// Timestamp is a STIX timestamp. It keeps the original text so that the
// original precision survives a round trip.
type Timestamp struct {
	raw string
	t   time.Time
}

// ParseTimestamp parses an RFC 3339 UTC timestamp with a "Z" suffix.
func ParseTimestamp(s string) (Timestamp, error) {
	t, _, err := stixtime.Parse(s)
	if err != nil {
		return Timestamp{}, fmt.Errorf("invalid timestamp %q: %w", s, err)
	}
	return Timestamp{raw: s, t: t}, nil
}

// NewTimestamp returns t in UTC with millisecond precision, the precision
// STIX requires for created and modified.
func NewTimestamp(t time.Time) Timestamp {
	t = t.UTC().Truncate(time.Millisecond)
	return Timestamp{raw: t.Format("2006-01-02T15:04:05.000Z"), t: t}
}

// Time returns the parsed time (UTC).
func (ts Timestamp) Time() time.Time { return ts.t }

// String returns the original text.
func (ts Timestamp) String() string { return ts.raw }

// IsZero reports whether the timestamp is unset.
func (ts Timestamp) IsZero() bool { return ts.raw == "" }

// Precision returns the number of fractional-second digits in the text.
func (ts Timestamp) Precision() int {
	_, p, _ := stixtime.Parse(ts.raw)
	return p
}

// Compare compares the instants: -1, 0 or +1.
func (ts Timestamp) Compare(o Timestamp) int { return ts.t.Compare(o.t) }

// MarshalJSON implements json.Marshaler.
func (ts Timestamp) MarshalJSON() ([]byte, error) { return json.Marshal(ts.raw) }

// UnmarshalJSON implements json.Unmarshaler.
func (ts *Timestamp) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("timestamp must be a string")
	}
	v, err := ParseTimestamp(s)
	if err != nil {
		return err
	}
	*ts = v
	return nil
}

// ExternalReference is an entry of external_references.
type ExternalReference struct {
	SourceName  string            `json:"source_name"`
	Description string            `json:"description,omitempty"`
	URL         string            `json:"url,omitempty"`
	Hashes      map[string]string `json:"hashes,omitempty"`
	ExternalID  string            `json:"external_id,omitempty"`
}

// GranularMarking is an entry of granular_markings.
type GranularMarking struct {
	Lang       string   `json:"lang,omitempty"`
	MarkingRef string   `json:"marking_ref,omitempty"`
	Selectors  []string `json:"selectors"`
}

// KillChainPhase is an entry of kill_chain_phases.
type KillChainPhase struct {
	KillChainName string `json:"kill_chain_name"`
	PhaseName     string `json:"phase_name"`
}

// Object is a STIX object (SDO, SRO, SCO, marking definition or any custom
// object). The typed fields are a parsed view of the common properties; the
// property map is authoritative and is what MarshalJSON writes. Use Set and
// Delete to change properties (they keep the typed view in sync).
type Object struct {
	Type               string
	ID                 string
	SpecVersion        string
	Created            Timestamp
	Modified           Timestamp
	CreatedByRef       string
	Revoked            bool
	Labels             []string
	ObjectMarkingRefs  []string
	GranularMarkings   []GranularMarking
	ExternalReferences []ExternalReference
	Confidence         *int
	Lang               string
	Extensions         map[string]json.RawMessage

	props map[string]json.RawMessage
	keys  []string
	// problems found while parsing the common properties; reported by Validate.
	decodeErrs []*ValidationError
}

// Limits bounds what the decoders accept.
type Limits struct {
	MaxBundleBytes int64 // whole bundle document
	MaxObjectBytes int   // one object
	MaxObjects     int   // objects in one bundle
}

// DefaultLimits are used by DecodeBundle and DecodeObject.
var DefaultLimits = Limits{
	MaxBundleBytes: 256 << 20,
	MaxObjectBytes: 8 << 20,
	MaxObjects:     1_000_000,
}

// ErrTooLarge is returned (wrapped) when input exceeds a Limits bound.
var ErrTooLarge = errors.New("stix: input exceeds size limit")

// DecodeError describes malformed input.
type DecodeError struct {
	Index    int    // index of the object in the bundle's objects, or -1
	Offset   int64  // byte offset in the input where the problem was noticed, or -1
	ID       string // the object's id, when it was read before the problem
	Property string // the top-level property being read, when known
	Err      error
}

func (e *DecodeError) Error() string {
	s := "stix: "
	if e.Index >= 0 {
		s += fmt.Sprintf("objects[%d]: ", e.Index)
	}
	if e.ID != "" {
		s += e.ID + ": "
	}
	if e.Property != "" {
		s += "property " + strconv.Quote(e.Property) + ": "
	}
	if e.Offset >= 0 {
		s += fmt.Sprintf("at byte %d: ", e.Offset)
	}
	return s + e.Err.Error()
}

// Locate fills in the object's id and property from the whole input
// (streaming decoders cannot look back), for syntax errors.
func (e *DecodeError) Locate(data []byte) {
	// Only a syntax error has a position to locate; for any other, a later
	// syntax error in data would name an unrelated property.
	if e.Offset < 0 || e.ID != "" && e.Property != "" {
		return
	}
	loc, ok := Locate(data)
	if !ok {
		return
	}
	if e.Index < 0 {
		e.Index = loc.Index
	}
	if e.ID == "" {
		e.ID = loc.ID
	}
	if e.Property == "" {
		e.Property = loc.Property
	}
}

// propError is a decoding problem in one property of an object.
type propError struct {
	id, prop string
	err      error
}

func (e *propError) Error() string { return e.err.Error() }
func (e *propError) Unwrap() error { return e.err }

// newDecodeError builds a DecodeError, taking id and property from a
// propError.
func newDecodeError(index int, offset int64, err error) *DecodeError {
	de := &DecodeError{Index: index, Offset: offset, Err: err}
	var pe *propError
	if errors.As(err, &pe) {
		de.ID, de.Property, de.Err = pe.id, pe.prop, pe.err
	}
	return de
}

func (e *DecodeError) Unwrap() error { return e.Err }

// DecodeObject decodes one STIX object. It fails only on malformed JSON, a
// JSON value that is not an object, duplicate property names or oversize
// input; everything else (missing or ill-typed properties) is left to
// Validate so that problems can be reported per property.
func DecodeObject(b []byte) (*Object, error) {
	if len(b) > DefaultLimits.MaxObjectBytes {
		return nil, &DecodeError{Index: -1, Offset: -1, Err: fmt.Errorf("%w: object is %d bytes, limit %d", ErrTooLarge, len(b), DefaultLimits.MaxObjectBytes)}
	}
	keys, props, err := decodeProps(b)
	if err != nil {
		return nil, newDecodeError(-1, offsetOf(err), err)
	}
	o := &Object{props: props, keys: keys}
	o.parseCommon()
	return o, nil
}

func offsetOf(err error) int64 {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return se.Offset
	}
	return -1
}

// decodeProps decodes a JSON object into its keys (in order) and compacted
// raw values, rejecting duplicate keys and trailing data.
func decodeProps(b []byte) ([]string, map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	tok, err := dec.Token()
	if err != nil {
		return nil, nil, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, nil, errors.New("STIX object must be a JSON object")
	}
	var keys []string
	props := make(map[string]json.RawMessage)
	id := ""
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, &propError{id: id, err: err}
		}
		k := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, nil, &propError{id: id, prop: k, err: err}
		}
		if _, dup := props[k]; dup {
			return nil, nil, &propError{id: id, prop: k, err: fmt.Errorf("duplicate property %q", k)}
		}
		var buf bytes.Buffer
		buf.Grow(len(raw))
		if err := json.Compact(&buf, raw); err != nil {
			return nil, nil, &propError{id: id, prop: k, err: err}
		}
		if k == "id" {
			_ = json.Unmarshal(raw, &id)
		}
		props[k] = buf.Bytes()
		keys = append(keys, k)
	}
	if _, err := dec.Token(); err != nil {
		return nil, nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		if err == nil {
			err = errors.New("trailing data after JSON object")
		}
		return nil, nil, err
	}
	return keys, props, nil
}

// UnmarshalJSON implements json.Unmarshaler with DecodeObject's rules.
func (o *Object) UnmarshalJSON(b []byte) error {
	v, err := DecodeObject(b)
	if err != nil {
		return err
	}
	*o = *v
	return nil
}

// MarshalJSON writes the object's properties in their original order.
func (o *Object) MarshalJSON() ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(o.size())
	buf.WriteByte('{')
	for i, k := range o.keys {
		if i > 0 {
			buf.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		buf.Write(kb)
		buf.WriteByte(':')
		buf.Write(o.props[k])
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

func (o *Object) size() int {
	n := 2
	for k, v := range o.props {
		n += len(k) + len(v) + 4
	}
	return n
}

// Canonical returns the RFC 8785 (JCS) canonical form of the object, the
// form that is hashed and signed.
func (o *Object) Canonical() ([]byte, error) {
	b, err := o.MarshalJSON()
	if err != nil {
		return nil, err
	}
	return jcs.Transform(b)
}

// Keys returns the property names in order.
func (o *Object) Keys() []string { return slices.Clone(o.keys) }

// Has reports whether the property is present.
func (o *Object) Has(name string) bool {
	_, ok := o.props[name]
	return ok
}

// Prop returns the raw JSON of a property.
func (o *Object) Prop(name string) (json.RawMessage, bool) {
	v, ok := o.props[name]
	return v, ok
}

// StringProp returns a string-valued property ("" and false if absent or
// not a string).
func (o *Object) StringProp(name string) (string, bool) {
	raw, ok := o.props[name]
	if !ok {
		return "", false
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

// Get unmarshals a property into v.
func (o *Object) Get(name string, v any) error {
	raw, ok := o.props[name]
	if !ok {
		return fmt.Errorf("stix: property %q not present", name)
	}
	return json.Unmarshal(raw, v)
}

// Set sets a property (appending it if new) to the JSON encoding of v, or to
// v itself if v is a json.RawMessage.
func (o *Object) Set(name string, v any) error {
	var raw []byte
	if r, ok := v.(json.RawMessage); ok {
		if !json.Valid(r) {
			return fmt.Errorf("stix: invalid JSON for property %q", name)
		}
		var buf bytes.Buffer
		_ = json.Compact(&buf, r)
		raw = buf.Bytes()
	} else {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		raw = b
	}
	if o.props == nil {
		o.props = make(map[string]json.RawMessage)
	}
	if _, ok := o.props[name]; !ok {
		o.keys = append(o.keys, name)
	}
	o.props[name] = raw
	o.parseCommon()
	return nil
}

// Delete removes a property.
func (o *Object) Delete(name string) {
	if _, ok := o.props[name]; !ok {
		return
	}
	delete(o.props, name)
	o.keys = slices.DeleteFunc(o.keys, func(k string) bool { return k == name })
	o.parseCommon()
}

// Clone returns a deep copy.
func (o *Object) Clone() *Object {
	c := &Object{props: make(map[string]json.RawMessage, len(o.props)), keys: slices.Clone(o.keys)}
	for k, v := range o.props {
		c.props[k] = slices.Clone(v)
	}
	c.parseCommon()
	return c
}

// Decode unmarshals the whole object into v (e.g. a typed struct).
func (o *Object) Decode(v any) error {
	b, err := o.MarshalJSON()
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// NewObject builds an object from properties in the given order. Values are
// JSON-encoded (json.RawMessage is used as is).
func NewObject(props ...Property) (*Object, error) {
	o := &Object{props: make(map[string]json.RawMessage)}
	for _, p := range props {
		if _, dup := o.props[p.Name]; dup {
			return nil, fmt.Errorf("stix: duplicate property %q", p.Name)
		}
		if err := o.Set(p.Name, p.Value); err != nil {
			return nil, err
		}
	}
	return o, nil
}

// Property is a name/value pair for NewObject.
type Property struct {
	Name  string
	Value any
}

// P is shorthand for Property{name, value}.
func P(name string, value any) Property { return Property{Name: name, Value: value} }

// parseCommon (re)builds the typed view of the common properties.
func (o *Object) parseCommon() {
	*o = Object{props: o.props, keys: o.keys}
	str := func(name string, dst *string) {
		raw, ok := o.props[name]
		if !ok {
			return
		}
		if json.Unmarshal(raw, dst) != nil || string(raw) == "null" {
			o.decodeErrs = append(o.decodeErrs, &ValidationError{Property: name, Reason: "must be a string"})
		}
	}
	str("type", &o.Type)
	str("id", &o.ID)
	str("spec_version", &o.SpecVersion)
	str("created_by_ref", &o.CreatedByRef)
	str("lang", &o.Lang)
	for _, p := range []struct {
		name string
		dst  *Timestamp
	}{{"created", &o.Created}, {"modified", &o.Modified}} {
		var s string
		str(p.name, &s)
		if s == "" {
			continue
		}
		ts, err := ParseTimestamp(s)
		if err != nil {
			o.decodeErrs = append(o.decodeErrs, &ValidationError{Property: p.name, Reason: err.Error()})
			continue
		}
		*p.dst = ts
	}
	into := func(name string, dst any, reason string) {
		raw, ok := o.props[name]
		if !ok {
			return
		}
		if string(raw) == "null" || json.Unmarshal(raw, dst) != nil {
			o.decodeErrs = append(o.decodeErrs, &ValidationError{Property: name, Reason: reason})
		}
	}
	into("revoked", &o.Revoked, "must be a boolean")
	into("labels", &o.Labels, "must be a list of strings")
	into("object_marking_refs", &o.ObjectMarkingRefs, "must be a list of identifiers")
	into("granular_markings", &o.GranularMarkings, "must be a list of granular markings")
	into("external_references", &o.ExternalReferences, "must be a list of external references")
	into("extensions", &o.Extensions, "must be a dictionary")
	if raw, ok := o.props["confidence"]; ok {
		var n json.Number
		if err := json.Unmarshal(raw, &n); err != nil {
			o.decodeErrs = append(o.decodeErrs, &ValidationError{Property: "confidence", Reason: "must be an integer"})
		} else if i, err := n.Int64(); err != nil {
			o.decodeErrs = append(o.decodeErrs, &ValidationError{Property: "confidence", Reason: "must be an integer"})
		} else {
			c := int(i)
			if int64(c) == i {
				o.Confidence = &c
			}
			if i < 0 || i > 100 {
				o.decodeErrs = append(o.decodeErrs, &ValidationError{Property: "confidence", Reason: "must be between 0 and 100"})
			}
		}
	}
}
