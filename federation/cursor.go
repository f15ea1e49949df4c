package federation

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/kurier/kurier/node/durable"
)

// feedCursor is the position of a peer in this node's change feed. It is
// opaque to the peer (base64url JSON) and not trusted: a forged cursor can
// only make the server send again what the current policy allows.
//
// The feed walks every stored version in date_added order (distinct and
// increasing on a node), so "everything added after A" is exact, and it
// covers new versions and revocations like new objects.
type feedCursor struct {
	// A is the date_added of the last version the peer has been given a
	// decision for (sent or withheld).
	A time.Time `json:"a,omitzero"`
	// P is the version of this node's policy document for the peer that
	// decided everything up to A.
	P int `json:"p,omitempty"`
	// S is a sweep in progress: the policy changed since P, and versions
	// up to A are being re-decided (newly allowed ones sent, newly denied
	// ones retracted with tombstones) before the feed moves on.
	S *sweep `json:"s,omitempty"`
}

type sweep struct {
	// To is the policy version the sweep applies.
	To int `json:"to"`
	// Pos is the date_added of the last version re-decided.
	Pos time.Time `json:"pos,omitzero"`
}

const cursorFormat = "1."

func (c feedCursor) encode() string {
	b, _ := json.Marshal(c)
	return cursorFormat + base64.RawURLEncoding.EncodeToString(b)
}

var errBadCursor = errors.New("federation: bad cursor")

func decodeFeedCursor(s string) (feedCursor, error) {
	if s == "" {
		return feedCursor{}, nil
	}
	if len(s) > 1024 || len(s) < len(cursorFormat) || s[:len(cursorFormat)] != cursorFormat {
		return feedCursor{}, errBadCursor
	}
	b, err := base64.RawURLEncoding.DecodeString(s[len(cursorFormat):])
	if err != nil {
		return feedCursor{}, errBadCursor
	}
	var c feedCursor
	if err := json.Unmarshal(b, &c); err != nil || c.P < 0 || (c.S != nil && c.S.To <= 0) {
		return feedCursor{}, errBadCursor
	}
	return c, nil
}

// pullState is what this node remembers of its pull from one peer: the
// peer's cursor, written only after the batch it follows is stored
// (at-least-once delivery; storing is idempotent, so nothing is lost and
// nothing duplicated after a crash).
type pullState struct {
	Peer        string    `json:"peer"`
	Fingerprint string    `json:"fingerprint"`
	Cursor      string    `json:"cursor"`
	Position    int64     `json:"position"` // feed entries the peer has examined for us
	Updated     time.Time `json:"updated"`
}

// cursorStore keeps pull states as small files in the data directory.
// Losing them only costs a full resync (every version arrives again and is
// recognised as a duplicate).
type cursorStore struct {
	dir string
}

func (c *cursorStore) path(peer string) string { return filepath.Join(c.dir, peer+".json") }

func (c *cursorStore) load(peer, fpr string) (pullState, error) {
	b, err := os.ReadFile(c.path(peer))
	if errors.Is(err, os.ErrNotExist) {
		return pullState{Peer: peer, Fingerprint: fpr}, nil
	}
	if err != nil {
		return pullState{}, fmt.Errorf("federation: read cursor: %w", err)
	}
	var s pullState
	if err := json.Unmarshal(b, &s); err != nil || s.Fingerprint != fpr {
		// Another key under this name is another node: start over.
		return pullState{Peer: peer, Fingerprint: fpr}, nil
	}
	return s, nil
}

func (c *cursorStore) save(s pullState) error {
	if err := os.MkdirAll(c.dir, 0o700); err != nil {
		return fmt.Errorf("federation: cursor dir: %w", err)
	}
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	if err := durable.WriteFile(c.path(s.Peer), b, 0o600); err != nil {
		return fmt.Errorf("federation: write cursor: %w", err)
	}
	return nil
}
