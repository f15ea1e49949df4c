package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/kurier/kurier/evidence"
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
	svc, err := evidence.New(context.Background(), evidence.Options{
		Bucket:   n.Evidence,
		Sealer:   seal.New(n.Identity, nil),
		Peers:    peers,
		NodeName: n.Config.Node.Name, Country: n.Config.Node.Country,
		Registerer: n.Registry, Logger: n.Log.With("component", "evidence"),
	})
	if err != nil {
		return fmt.Errorf("evidence: %w", err)
	}
	svc.Mount(n.API)
	return nil
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
