package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/kurier/kurier/evidence"
	"github.com/kurier/kurier/federation"
	"github.com/kurier/kurier/node"
	"github.com/kurier/kurier/node/identity"
	"github.com/kurier/kurier/node/seal"
)

// mountEvidence builds the evidence service on the node's evidence bucket
// (Object Lock) and key, and mounts /api/v1/evidence.
//
// Peer keys (recipients of packages, signers of received ones) are read
// from <data dir>/peer-keys/*.asc (armored, as `kurier key export` prints
// them).
func mountEvidence(n *node.Node) error {
	ring, err := readPeerKeys(filepath.Join(n.Config.DataDir, "peer-keys"))
	if err != nil {
		return err
	}
	return mountEvidenceWithPeers(n, func() openpgp.EntityList { return ring })
}

// mountEvidenceWithPeers is mountEvidence with the peer keys from peers,
// asked at each act.
func mountEvidenceWithPeers(n *node.Node, peers func() openpgp.EntityList) error {
	_, err := newEvidence(n, peers, nil)
	return err
}

// mountEvidenceFederated mounts evidence on the federation channel: it
// trusts federation's pinned peer keys, sends packages to peers over it
// (POST /api/v1/evidence/{pkg}/send) and receives theirs
// (POST /federation/v1/evidence).
func mountEvidenceFederated(n *node.Node, fed *federation.Federation) (*evidence.Service, error) {
	svc, err := newEvidence(n, fed.PeerKeys, evidenceTransport{fed})
	if err != nil {
		return nil, err
	}
	fed.SetEvidenceReceiver(evidenceReceiver{svc})
	return svc, nil
}

func newEvidence(n *node.Node, peers func() openpgp.EntityList, tr evidence.PeerTransport) (*evidence.Service, error) {
	svc, err := evidence.New(context.Background(), evidence.Options{
		Bucket:    n.Evidence,
		Sealer:    seal.New(n.Identity, nil),
		Peers:     peers,
		Transport: tr,
		// evidence.retention_days (validated by config: 1 to 36500).
		Retention: n.Config.Evidence.RetentionDays.D(),
		NodeName:  n.Config.Node.Name, Country: n.Config.Node.Country,
		Registerer: n.Registry, Logger: n.Log.With("component", "evidence"),
	})
	if err != nil {
		return nil, fmt.Errorf("evidence: %w", err)
	}
	svc.Mount(n.API)
	return svc, nil
}

// evidenceSweepEvery is how often `serve` moves packages past their
// deadline to expired (listing does it too, so this only bounds how stale
// metrics can be).
const evidenceSweepEvery = 10 * time.Minute

// evidenceTransport sends transfer streams over federation.
type evidenceTransport struct{ fed *federation.Federation }

func (t evidenceTransport) SendEvidence(ctx context.Context, peer string, write func(to string, w io.Writer) error) ([]byte, error) {
	b, err := t.fed.SendEvidence(ctx, peer, write)
	if errors.Is(err, federation.ErrUnknownPeer) {
		return nil, fmt.Errorf("%w: %v", evidence.ErrUnknownPeer, err)
	}
	return b, err
}

// evidenceReceiver answers a peer's transfer with the signed receipt.
type evidenceReceiver struct{ svc *evidence.Service }

func (r evidenceReceiver) ReceiveEvidence(ctx context.Context, from string, in io.Reader) ([]byte, error) {
	sr, err := r.svc.ReceiveFrom(ctx, from, in)
	if len(sr.Receipt) == 0 {
		return nil, err
	}
	b, merr := json.Marshal(sr)
	if merr != nil {
		return nil, merr
	}
	return b, err
}

func readPeerKeys(dir string) (openpgp.EntityList, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.asc"))
	if err != nil {
		return nil, err
	}
	var ring openpgp.EntityList
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			return nil, fmt.Errorf("evidence: peer key: %w", err)
		}
		el, err := identity.ReadPublicKeys(fh)
		fh.Close()
		if err != nil {
			return nil, fmt.Errorf("evidence: peer key %s: %w", f, err)
		}
		ring = append(ring, el...)
	}
	return ring, nil
}
