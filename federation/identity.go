package federation

import (
	"encoding/json"
	"net/http"
	"sync"

	"github.com/kurier/kurier/federation/wire"
	"github.com/kurier/kurier/node/api/problem"
	"github.com/kurier/kurier/node/stix"
)

// STIXIdentityID is the STIX identity id of the node with this fingerprint.
func STIXIdentityID(fingerprint string) string { return stix.NodeIdentityID(fingerprint) }

type identityDoc struct {
	once sync.Once
	body []byte
	err  error
}

// IdentityDocument builds this node's signed identity document.
func (f *Federation) IdentityDocument() (wire.Identity, error) {
	pub, err := f.self.ArmoredPublicKey()
	if err != nil {
		return wire.Identity{}, err
	}
	created := stix.NewTimestamp(f.self.Entity().PrimaryKey.CreationTime)
	props := []stix.Property{
		stix.P("type", "identity"), stix.P("spec_version", "2.1"), stix.P("id", STIXIdentityID(f.fpr)),
		stix.P("created", created), stix.P("modified", created), stix.P("name", f.opts.Node.Name),
		stix.P("identity_class", "organization"),
	}
	if f.opts.Node.Organization != "" {
		props = append(props, stix.P("description", f.opts.Node.Organization))
	}
	props = append(props, stix.P("x_kurier_fingerprint", f.fpr))
	if f.opts.Node.Country != "" {
		props = append(props, stix.P("x_kurier_country", f.opts.Node.Country))
	}
	o, err := stix.NewObject(props...)
	if err != nil {
		return wire.Identity{}, err
	}
	raw, err := o.MarshalJSON()
	if err != nil {
		return wire.Identity{}, err
	}
	d := wire.Identity{
		Protocol: wire.Protocol, Name: f.opts.Node.Name, Country: f.opts.Node.Country, Organization: f.opts.Node.Organization,
		Fingerprint: f.fpr, KeyProfile: string(f.self.Profile()), PublicKey: string(pub), STIX: raw,
		Endpoints: map[string]string{
			"identity": wire.BasePath + wire.PathIdentity, "feed": wire.BasePath + wire.PathFeed, "notify": wire.BasePath + wire.PathNotify,
		},
	}
	return wire.SignIdentity(d, f.signer())
}

// serveIdentity answers GET /federation/v1/identity (public).
func (f *Federation) serveIdentity(w http.ResponseWriter, r *http.Request) {
	f.identity.once.Do(func() {
		d, err := f.IdentityDocument()
		if err == nil {
			f.identity.body, err = json.MarshalIndent(d, "", "  ")
		}
		f.identity.err = err
	})
	if f.identity.err != nil {
		f.log.Error("identity document", "err", f.identity.err)
		f.opts.API.Problems().Write(w, r, problem.New(problem.Internal, http.StatusInternalServerError, "identity document unavailable"))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "max-age=300")
	_, _ = w.Write(append(f.identity.body, '\n'))
}
