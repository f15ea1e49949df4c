package identity

import "github.com/kurier/kurier/node/stix"

// stixNamespace derives a node's STIX identity id from its key fingerprint,
// so every node computes the same id for a peer without asking it.
var stixNamespace, _ = stix.ParseUUID("01686beb-6580-46a6-85cd-a870b1fe8187")

// STIXIdentityID is the STIX identity id (identity--UUIDv5) of the node
// whose key has this fingerprint.
func STIXIdentityID(fingerprint string) string {
	return "identity--" + stix.NewUUIDv5(stixNamespace, []byte(fingerprint)).String()
}

// STIXID is this node's STIX identity id.
func (id *Identity) STIXID() string { return STIXIdentityID(id.Fingerprint()) }
