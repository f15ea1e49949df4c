package index

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"time"
)

// Key layout (all integers big-endian so byte order is numeric order):
//
//	ids      id                                         -> num (8)
//	objs     num (8)                                    -> objRecord: current modified, flags, posting bodies
//	versions num (8) + modified (12)                    -> encoded Entry
//	feeds    scope + dim [+ uvarint len + value] + suf  -> "" (suf = added (12) + num (8) + modified (12))
//	postings scope + body + num (8) [+ modified (12) in scope 'h']   -> encoded sources
//	counts   counter name                               -> uint64
//	meta     name                                       -> value
//
// num is a per-index number given to each object id on first sight: it keeps
// keys short and makes new objects append at the end of the versions bucket.
// Scope 'c' holds the current version of each object, scope 'h' every other
// (older, superseded) version; a query over all versions merges both.

const (
	timeKeyLen = 12
	numLen     = 8
	suffixLen  = timeKeyLen + numLen + timeKeyLen

	scopeCurrent = 'c'
	scopeHistory = 'h'

	dimAll    = '*'
	dimType   = 't'
	dimTLP    = 'l'
	dimOrigin = 'o'
	dimLabel  = 'b'
)

var (
	bucketIDs      = []byte("ids")
	bucketObjs     = []byte("objs")
	bucketVersions = []byte("versions")
	bucketFeeds    = []byte("feeds")
	bucketPostings = []byte("postings")
	bucketCounts   = []byte("counts")
	bucketMeta     = []byte("meta")
	allBuckets     = [][]byte{bucketIDs, bucketObjs, bucketVersions, bucketFeeds, bucketPostings, bucketCounts, bucketMeta}

	metaSchema     = []byte("schema")
	metaLastAdded  = []byte("last_added")
	metaIncomplete = []byte("incomplete")
)

// schemaVersion names the key layout and normalisation rules. Change it when
// either changes: Open then wipes the index and reports it Incomplete, so the
// node rebuilds it from the store.
const schemaVersion = "kurier-index/1"

var errCorrupt = errors.New("index: corrupt record")

// timeKey encodes t as 12 bytes that sort in time order: seconds since 1970
// with the sign bit flipped, then nanoseconds.
func timeKey(t time.Time) []byte {
	b := make([]byte, timeKeyLen)
	putTimeKey(b, t)
	return b
}

func putTimeKey(b []byte, t time.Time) {
	binary.BigEndian.PutUint64(b, uint64(t.Unix())^(1<<63))
	binary.BigEndian.PutUint32(b[8:], uint32(t.Nanosecond()))
}

func timeFromKey(b []byte) time.Time {
	sec := int64(binary.BigEndian.Uint64(b) ^ (1 << 63))
	return time.Unix(sec, int64(binary.BigEndian.Uint32(b[8:]))).UTC()
}

func numKey(n uint64) []byte {
	return binary.BigEndian.AppendUint64(make([]byte, 0, numLen), n)
}

func versionKey(num []byte, mod []byte) []byte {
	k := make([]byte, 0, numLen+timeKeyLen)
	return append(append(k, num...), mod...)
}

func suffix(added, num, mod []byte) []byte {
	s := make([]byte, 0, suffixLen)
	return append(append(append(s, added...), num...), mod...)
}

// maxInlineDim is the longest type, TLP, origin or label kept in a feed key
// as is; a longer one is replaced by its SHA-256 (queries re-check the real
// value, so a collision could only cost time).
const maxInlineDim = 128

// dimPrefix is the feeds (and counts) prefix of one stream.
func dimPrefix(scope, dim byte, value string) []byte {
	if len(value) > maxInlineDim {
		h := sha256.Sum256([]byte(value))
		value = "\xff#" + string(h[:])
	}
	p := make([]byte, 0, 2+binary.MaxVarintLen64+len(value))
	p = append(p, scope, dim)
	if dim != dimAll {
		p = binary.AppendUvarint(p, uint64(len(value)))
		p = append(p, value...)
	}
	return p
}

// jointKey is the counts key of current objects by type and TLP.
// Absurdly long names (the STIX layer allows types up to 250 bytes) are cut
// to keep keys and metric labels bounded.
func jointKey(typ, tlp string) string {
	typ, tlp = typ[:min(len(typ), 256)], tlp[:min(len(tlp), 64)]
	b := []byte{'x'}
	b = binary.AppendUvarint(b, uint64(len(typ)))
	b = append(b, typ...)
	b = append(b, tlp...)
	return string(b)
}

func splitJointKey(k string) (typ, tlp string, ok bool) {
	n, w := binary.Uvarint([]byte(k[1:]))
	if w <= 0 || uint64(len(k)-1-w) < n {
		return "", "", false
	}
	rest := k[1+w:]
	return rest[:n], rest[n:], true
}

const (
	countValues  = "v" // postings of current versions
	countRevoked = "r" // current versions that are revoked
)

// ---- a small binary encoder ----

type enc struct{ b []byte }

func (e *enc) str(s string) {
	e.b = binary.AppendUvarint(e.b, uint64(len(s)))
	e.b = append(e.b, s...)
}
func (e *enc) bytes(p []byte) {
	e.b = binary.AppendUvarint(e.b, uint64(len(p)))
	e.b = append(e.b, p...)
}
func (e *enc) uvarint(n uint64) { e.b = binary.AppendUvarint(e.b, n) }
func (e *enc) varint(n int64)   { e.b = binary.AppendVarint(e.b, n) }
func (e *enc) time(t time.Time) {
	e.varint(t.Unix())
	e.uvarint(uint64(t.Nanosecond()))
}

type dec struct {
	b   []byte
	err error
}

func (d *dec) fail() {
	if d.err == nil {
		d.err = errCorrupt
	}
	d.b = nil
}
func (d *dec) uvarint() uint64 {
	n, w := binary.Uvarint(d.b)
	if w <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[w:]
	return n
}
func (d *dec) varint() int64 {
	n, w := binary.Varint(d.b)
	if w <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[w:]
	return n
}
func (d *dec) raw() []byte {
	n := d.uvarint()
	if uint64(len(d.b)) < n {
		d.fail()
		return nil
	}
	p := d.b[:n]
	d.b = d.b[n:]
	return p
}
func (d *dec) str() string { return string(d.raw()) }
func (d *dec) byte1() byte {
	if len(d.b) < 1 {
		d.fail()
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}
func (d *dec) time() time.Time {
	sec := d.varint()
	nsec := d.uvarint()
	if nsec >= 1e9 {
		d.fail()
		return time.Time{}
	}
	return time.Unix(sec, int64(nsec)).UTC()
}

const entryFormat = 1

func encodeEntry(e *Entry) []byte {
	w := enc{b: make([]byte, 0, 128+len(e.ID)+32*len(e.Values))}
	w.b = append(w.b, entryFormat)
	w.str(e.ID)
	w.str(e.Type)
	w.str(e.SpecVersion)
	w.time(e.Created)
	w.time(e.Modified)
	w.time(e.Added)
	w.str(e.Origin)
	w.str(e.CreatedBy)
	w.str(e.TLP)
	w.uvarint(uint64(len(e.Labels)))
	for _, l := range e.Labels {
		w.str(l)
	}
	if e.Revoked {
		w.b = append(w.b, 1)
	} else {
		w.b = append(w.b, 0)
	}
	w.uvarint(uint64(len(e.Values)))
	for _, v := range e.Values {
		w.str(v.Kind)
		w.str(v.Value)
	}
	w.str(e.Loc.Segment)
	w.varint(e.Loc.Offset)
	w.varint(e.Loc.Length)
	return w.b
}

func decodeEntry(b []byte) (Entry, error) {
	d := dec{b: b}
	if d.byte1() != entryFormat {
		return Entry{}, errCorrupt
	}
	var e Entry
	e.ID = d.str()
	e.Type = d.str()
	e.SpecVersion = d.str()
	e.Created = d.time()
	e.Modified = d.time()
	e.Added = d.time()
	e.Origin = d.str()
	e.CreatedBy = d.str()
	e.TLP = d.str()
	if n := d.uvarint(); n > 0 && n <= uint64(len(d.b)) {
		e.Labels = make([]string, n)
		for i := range e.Labels {
			e.Labels[i] = d.str()
		}
	} else if n > 0 {
		d.fail()
	}
	e.Revoked = d.byte1() == 1
	if n := d.uvarint(); n > 0 && n <= uint64(len(d.b)) {
		e.Values = make([]Value, n)
		for i := range e.Values {
			e.Values[i].Kind = d.str()
			e.Values[i].Value = d.str()
		}
	} else if n > 0 {
		d.fail()
	}
	e.Loc.Segment = d.str()
	e.Loc.Offset = d.varint()
	e.Loc.Length = d.varint()
	if d.err != nil {
		return Entry{}, d.err
	}
	return e, nil
}

// objRecord is the objs bucket value: which version is current, whether it
// is revoked, and the posting bodies it has in scope 'c' (kept so they can be
// removed exactly, whatever normalisation produced them).
type objRecord struct {
	mod     []byte // timeKey of the current version's modified
	revoked bool
	bodies  [][]byte
}

func encodeObj(o objRecord) []byte {
	w := enc{b: make([]byte, 0, timeKeyLen+2+24*len(o.bodies))}
	w.b = append(w.b, o.mod...)
	if o.revoked {
		w.b = append(w.b, 1)
	} else {
		w.b = append(w.b, 0)
	}
	w.uvarint(uint64(len(o.bodies)))
	for _, b := range o.bodies {
		w.bytes(b)
	}
	return w.b
}

// decodeObj copies what it returns (the input may be bbolt memory).
func decodeObj(b []byte, withBodies bool) (objRecord, error) {
	if len(b) < timeKeyLen+1 {
		return objRecord{}, errCorrupt
	}
	o := objRecord{mod: append([]byte(nil), b[:timeKeyLen]...), revoked: b[timeKeyLen] == 1}
	if !withBodies {
		return o, nil
	}
	d := dec{b: b[timeKeyLen+1:]}
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		return objRecord{}, errCorrupt
	}
	o.bodies = make([][]byte, 0, n)
	for range n {
		o.bodies = append(o.bodies, append([]byte(nil), d.raw()...))
	}
	return o, d.err
}

// source is the value of an entry that a posting came from: the value itself,
// or (derived) a URL or e-mail address whose host the posting is.
type source struct {
	Value
	derived bool
}

func encodeSources(ss []source) []byte {
	w := enc{}
	w.uvarint(uint64(len(ss)))
	for _, s := range ss {
		if s.derived {
			w.b = append(w.b, 1)
		} else {
			w.b = append(w.b, 0)
		}
		w.str(s.Kind)
		w.str(s.Value.Value)
	}
	return w.b
}

func decodeSources(b []byte) ([]source, error) {
	d := dec{b: b}
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		return nil, errCorrupt
	}
	out := make([]source, 0, n)
	for range n {
		var s source
		s.derived = d.byte1() == 1
		s.Kind = d.str()
		s.Value.Value = d.str()
		out = append(out, s)
	}
	return out, d.err
}
