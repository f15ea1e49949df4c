package main

import (
	"context"

	"github.com/kurier/kurier/federation"
	"github.com/kurier/kurier/node"
)

// mountFederation mounts federation on the node's API (the identity
// document, the signed peer endpoints, the operator API) and starts the
// pull loops, push notices and the reload of peer documents. Call it
// after node.Open and before n.Serve; call Stop before n.Close.
func mountFederation(ctx context.Context, n *node.Node) (*federation.Federation, error) {
	return mountFederationWith(ctx, n, federation.Options{})
}

// mountFederationWith is mountFederation with limits other than the
// defaults (tests).
func mountFederationWith(ctx context.Context, n *node.Node, opts federation.Options) (*federation.Federation, error) {
	f, err := federation.Mount(n, opts)
	if err != nil {
		return nil, err
	}
	if err := f.Start(ctx); err != nil {
		return nil, err
	}
	return f, nil
}
