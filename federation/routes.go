package federation

import (
	"github.com/go-chi/chi/v5"

	"github.com/kurier/kurier/federation/wire"
	"github.com/kurier/kurier/node/api"
	"github.com/kurier/kurier/node/auth"
)

// Mount adds federation's routes to the node's API: the public identity
// document, the signed peer endpoints, and the operator API. Call it
// before the node serves.
func (f *Federation) Mount() {
	a := f.opts.API
	// Created once here, not per upload request (a PUT re-creates it
	// should it have been removed since).
	if err := f.makeUploadsDir(); err != nil {
		f.log.Error("create the evidence uploads directory", "err", err)
	}
	a.Public(func(r chi.Router) {
		r.Get(wire.BasePath+wire.PathIdentity, f.serveIdentity)
		r.Group(func(r chi.Router) {
			r.Use(f.authenticate)
			r.Get(wire.BasePath+wire.PathFeed, f.serveFeed)
			r.Post(wire.BasePath+wire.PathNotify, f.serveNotify)
			r.Get(wire.BasePath+wire.PathEvidenceUploads+"{sha256}", f.serveEvidenceUploadStatus)
		})
	})
	// Evidence transfers are signed like the feed but stream large bodies:
	// capped at MaxEvidenceBytes, no request deadline, but the body must
	// keep arriving (EvidenceIdleTimeout, EvidenceMinRate; evidence.go).
	limits := api.StreamLimits{MaxBody: f.opts.MaxEvidenceBytes, Idle: f.opts.EvidenceIdleTimeout, MinRate: f.opts.EvidenceMinRate}
	a.PublicStreaming(limits, func(r chi.Router) {
		r.Post(wire.BasePath+wire.PathEvidence, f.serveEvidence)
		r.Put(wire.BasePath+wire.PathEvidenceUploads+"{sha256}", f.serveEvidenceUpload)
	})
	a.Authenticated(func(r chi.Router) {
		r.Group(func(r chi.Router) {
			r.Use(a.Require(auth.Operator))
			r.Get("/api/v1/federation/peers", f.listStatus)
			r.Post("/api/v1/federation/peers/{name}/sync", f.syncPeer)
			r.Get("/api/v1/federation/peers/{name}/preview", f.previewPeer)
			r.Get("/api/v1/federation/conflicts", f.listConflicts)
			r.Get("/api/v1/federation/objects/{id}/provenance", f.objectProvenance)
		})
		r.With(a.Require(auth.Analyst)).Post("/api/v1/federation/objects/{id}/retract", f.retract)
	})
}
