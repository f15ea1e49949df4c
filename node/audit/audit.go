// Package audit keeps the append-only record of every authenticated write
// and every read of evidence: who, when, what, from where. Each entry is its
// own object written create-if-absent, so nothing can overwrite an entry,
// and, in a bucket with Object Lock, under governance retention, so nothing
// short of a privileged bypass can delete one.
package audit

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"iter"
	"strings"
	"time"

	"github.com/kurier/kurier/node/store"
)

// Prefix is where audit entries live in their bucket.
const Prefix = "audit/"

// Event is one audit entry.
type Event struct {
	Time      time.Time `json:"time"`
	Actor     string    `json:"actor"`    // token name
	TokenID   string    `json:"token_id"` // token id (never the secret)
	Role      string    `json:"role"`
	Action    string    `json:"action"` // e.g. "POST /api/v1/tokens"
	Route     string    `json:"route"`  // route pattern
	Target    string    `json:"target"` // request path
	Status    int       `json:"status"`
	Remote    string    `json:"remote"`
	RequestID string    `json:"request_id,omitempty"`
	Detail    string    `json:"detail,omitempty"`
}

// Log appends events to a bucket.
type Log struct {
	bucket    store.Bucket
	retention time.Duration
	now       func() time.Time
}

// New returns an audit log kept in bucket. With retention > 0 each entry
// is locked (governance) for that long, which needs a bucket with Object
// Lock; 0 writes entries without a lock.
func New(bucket store.Bucket, retention time.Duration) *Log {
	return &Log{bucket: bucket, retention: retention, now: time.Now}
}

// Record appends e. Keys sort by time, so listing the prefix reads the log
// in order; the random suffix keeps concurrent entries apart.
func (l *Log) Record(ctx context.Context, e Event) error {
	if e.Time.IsZero() {
		e.Time = l.now()
	}
	e.Time = e.Time.UTC()
	b, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("audit: encode: %w", err)
	}
	suffix := make([]byte, 6)
	if _, err := rand.Read(suffix); err != nil {
		return fmt.Errorf("audit: random: %w", err)
	}
	key := Prefix + e.Time.Format("2006/01/02/20060102T150405.000000000Z") + "-" + hex.EncodeToString(suffix) + ".json"
	opts := store.PutOptions{IfAbsent: true, Size: int64(len(b)), ContentType: "application/json"}
	if l.retention > 0 {
		opts.Retention = &store.Retention{Mode: store.Governance, Until: e.Time.Add(l.retention)}
	}
	if _, err := l.bucket.Put(ctx, key, bytes.NewReader(b), opts); err != nil {
		return fmt.Errorf("audit: append: %w", err)
	}
	return nil
}

// Events yields entries from since (inclusive, by day) in time order.
func (l *Log) Events(ctx context.Context, since time.Time) iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		start := ""
		if !since.IsZero() {
			// start-after the previous day's prefix end: list from since's day.
			start = Prefix + since.UTC().Format("2006/01/02/")
			start = start[:len(start)-1]
		}
		for info, err := range l.bucket.List(ctx, Prefix, start) {
			if err != nil {
				yield(Event{}, fmt.Errorf("audit: list: %w", err))
				return
			}
			if !strings.HasSuffix(info.Key, ".json") {
				continue
			}
			e, err := l.read(ctx, info.Key)
			if !yield(e, err) || err != nil {
				return
			}
		}
	}
}

func (l *Log) read(ctx context.Context, key string) (Event, error) {
	rc, _, err := l.bucket.Get(ctx, key, "")
	if err != nil {
		return Event{}, fmt.Errorf("audit: read %s: %w", key, err)
	}
	defer rc.Close()
	var e Event
	if err := json.NewDecoder(io.LimitReader(rc, 1<<20)).Decode(&e); err != nil {
		return Event{}, fmt.Errorf("audit: decode %s: %w", key, err)
	}
	return e, nil
}

type markKey struct{}

// Marker lets a handler ask for its (read) request to be audited.
type Marker struct{ on bool }

// WithMarker prepares ctx so that Mark can flag the request.
func WithMarker(ctx context.Context) (context.Context, *Marker) {
	m := &Marker{}
	return context.WithValue(ctx, markKey{}, m), m
}

// Mark flags the request as one to audit even though it is a read (every
// read of evidence is audited).
func Mark(ctx context.Context) {
	if m, ok := ctx.Value(markKey{}).(*Marker); ok {
		m.on = true
	}
}

// Marked reports whether Mark was called.
func (m *Marker) Marked() bool { return m != nil && m.on }
