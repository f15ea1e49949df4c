package taxii

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/kurier/kurier/node/api"
	"github.com/kurier/kurier/node/api/problem"
	"github.com/kurier/kurier/node/auth"
	"github.com/kurier/kurier/node/indicator"
	"github.com/kurier/kurier/node/stix"
	"github.com/kurier/kurier/node/store"
)

// StatusPrefix is where status resources are kept in the status bucket.
const StatusPrefix = "taxii/status/"

type statusDetail struct {
	ID      string `json:"id"`
	Version string `json:"version"`
	Message string `json:"message,omitempty"`
}

// statusResource is the TAXII 2.1 status resource. Kurier processes an
// envelope before answering, so a status is always complete.
type statusResource struct {
	ID               string         `json:"id"`
	Status           string         `json:"status"`
	RequestTimestamp string         `json:"request_timestamp,omitempty"`
	TotalCount       int            `json:"total_count"`
	SuccessCount     int            `json:"success_count"`
	Successes        []statusDetail `json:"successes"`
	FailureCount     int            `json:"failure_count"`
	Failures         []statusDetail `json:"failures"`
	PendingCount     int            `json:"pending_count"`
	Pendings         []statusDetail `json:"pendings"`
}

// storedStatus is what the status bucket keeps: the resource and who may
// read it (the token that created it, and admins).
type storedStatus struct {
	OwnerTokenID string         `json:"owner_token_id"`
	OwnerName    string         `json:"owner_name,omitempty"`
	Collection   string         `json:"collection"`
	Status       statusResource `json:"status"`
}

func statusKey(id string) string { return StatusPrefix + id + ".json" }

func newUUID() (string, error) {
	var u [16]byte
	if _, err := rand.Read(u[:]); err != nil {
		return "", err
	}
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return formatUUID(u), nil
}

// addObjects is POST …/collections/{inbox}/objects/: an envelope of STIX
// objects, processed object by object, answered with a complete status.
func (s *Server) addObjects(w http.ResponseWriter, r *http.Request) {
	c, ok := s.visible(w, r)
	if !ok {
		return
	}
	if !c.Inbox() {
		s.fail(w, r, problem.Forbidden, http.StatusForbidden,
			"collection "+c.ID+" is read-only (can_write false); add objects to the inbox collection "+CollectionInbox)
		return
	}
	if ct := r.Header.Get("Content-Type"); !taxiiContent(ct) {
		s.ind.Rejected(indicator.ReasonMediaType, 1)
		s.fail(w, r, problem.UnsupportedMedia, http.StatusUnsupportedMediaType,
			fmt.Sprintf("Content-Type %q is not supported; send a TAXII envelope as %s", ct, MediaType))
		return
	}
	requested := s.opts.Now()
	if r.ContentLength > s.opts.MaxContentLength {
		s.ind.Rejected(indicator.ReasonTooLarge, 1)
		s.tooLarge(w, r)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.opts.MaxContentLength))
	if err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			s.ind.Rejected(indicator.ReasonTooLarge, 1)
			s.tooLarge(w, r)
			return
		}
		s.ind.Rejected(indicator.ReasonMalformed, 1)
		s.writeProblem(w, r, api.BodyProblem(err))
		return
	}
	raws, p := decodeEnvelope(body)
	if p != nil {
		s.ind.Rejected(indicator.ReasonMalformed, 1)
		s.writeProblem(w, r, p)
		return
	}

	st := statusResource{
		Status: "complete", RequestTimestamp: formatAdded(requested), TotalCount: len(raws),
		Successes: []statusDetail{}, Failures: []statusDetail{}, Pendings: []statusDetail{},
	}
	var objs []*stix.Object
	for i, raw := range raws {
		o, err := stix.DecodeObject(raw)
		if err != nil {
			id, version := headOf(raw)
			reason := indicator.DecodeReason(err)
			s.ind.Rejected(reason, 1)
			st.Failures = append(st.Failures, statusDetail{ID: id, Version: version,
				Message: fmt.Sprintf("objects[%d] is not a STIX object: %v (reason: %s)", i, err, reason)})
			continue
		}
		objs = append(objs, o)
	}
	if len(objs) > 0 {
		res, err := s.ind.ImportBundle(r.Context(), stix.NewBundle(objs...))
		if err != nil {
			// Nothing is acknowledged: a retry is safe (a version already
			// stored is reported as a success again).
			s.internal(w, r, err)
			return
		}
		for _, x := range res.Successes {
			st.Successes = append(st.Successes, statusDetail{ID: x.ID, Version: x.Version, Message: successMessage(x)})
		}
		for _, x := range res.Failures {
			st.Failures = append(st.Failures, statusDetail{ID: x.ID, Version: x.Version, Message: failureMessage(x)})
		}
	}
	st.SuccessCount, st.FailureCount = len(st.Successes), len(st.Failures)
	s.m.received.WithLabelValues("success").Add(float64(st.SuccessCount))
	s.m.received.WithLabelValues("failure").Add(float64(st.FailureCount))

	if st.ID, err = newUUID(); err != nil {
		s.internal(w, r, err)
		return
	}
	pr := principal(r)
	if err := s.saveStatus(r.Context(), storedStatus{OwnerTokenID: pr.TokenID, OwnerName: pr.Name, Collection: c.ID, Status: st}); err != nil {
		// The objects are stored; only the status could not be kept. The
		// client still gets it now.
		s.log.Error("taxii: keep status", "err", err, "status", st.ID, "request_id", api.RequestID(r.Context()))
	}
	writeTAXII(w, http.StatusAccepted, st)
}

func (s *Server) tooLarge(w http.ResponseWriter, r *http.Request) {
	s.fail(w, r, problem.TooLarge, http.StatusRequestEntityTooLarge,
		fmt.Sprintf("the envelope exceeds max_content_length (%d bytes); split it", s.opts.MaxContentLength))
}

// decodeEnvelope reads {"objects":[…]} (other envelope members, such as
// more and next, are ignored) and returns each object's raw JSON.
func decodeEnvelope(body []byte) ([]json.RawMessage, *problem.Problem) {
	var env struct {
		Objects *[]json.RawMessage `json:"objects"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&env); err != nil {
		var typ *json.UnmarshalTypeError
		if errors.As(err, &typ) {
			return nil, problem.New(problem.BadRequest, http.StatusBadRequest,
				"the body must be a TAXII envelope: a JSON object whose \"objects\" is a list").With("property", "objects")
		}
		p := api.BodyProblem(err)
		// Name the object and property being read where the error lies.
		if loc, ok := stix.Locate(body); ok {
			if loc.Index >= 0 {
				p.With("object_index", loc.Index)
				p.Detail = fmt.Sprintf("objects[%d]: %s", loc.Index, p.Detail)
			}
			if loc.ID != "" {
				p.With("object", loc.ID)
			}
			if loc.Property != "" {
				p.With("property", loc.Property)
			}
		}
		return nil, p
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, problem.New(problem.BadRequest, http.StatusBadRequest, "the body holds more than one JSON value")
	}
	if env.Objects == nil {
		return nil, problem.New(problem.BadRequest, http.StatusBadRequest,
			"the envelope has no \"objects\" list").With("property", "objects")
	}
	return *env.Objects, nil
}

// headOf extracts what it can name an undecodable object by.
func headOf(raw json.RawMessage) (id, version string) {
	var h struct {
		ID       any `json:"id"`
		Modified any `json:"modified"`
		Created  any `json:"created"`
	}
	if json.Unmarshal(raw, &h) != nil {
		return "", ""
	}
	id, _ = h.ID.(string)
	version, _ = h.Modified.(string)
	if version == "" {
		version, _ = h.Created.(string)
	}
	return id, version
}

func successMessage(x indicator.Status) string {
	switch x.Outcome {
	case "stored":
		return "stored"
	case "duplicate":
		return "this version is already stored; nothing changed"
	case "older":
		return "older than the stored current version; ignored"
	}
	return x.Outcome
}

func failureMessage(x indicator.Status) string {
	msg := x.Message
	if msg == "" {
		msg = "rejected"
	}
	if x.Reason != "" {
		msg += " (reason: " + x.Reason + ")"
	}
	return msg
}

func (s *Server) saveStatus(ctx context.Context, st storedStatus) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	// The request may be cancelled once the objects are stored; the status
	// must still be kept.
	ctx = context.WithoutCancel(ctx)
	_, err = s.statuses.Put(ctx, statusKey(st.Status.ID), bytes.NewReader(b), store.PutOptions{
		IfAbsent: true, Size: int64(len(b)), ContentType: "application/json",
	})
	return err
}

// status is GET /taxii2/api/status/{id}/: readable by the token that
// created it and by admins; 404 for anyone else.
func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "status")
	notFound := func() { s.fail(w, r, problem.NotFound, http.StatusNotFound, "no status "+id) }
	if _, err := stix.ParseUUID(id); err != nil {
		notFound()
		return
	}
	rc, _, err := s.statuses.Get(r.Context(), statusKey(id), "")
	if errors.Is(err, store.ErrNotFound) {
		notFound()
		return
	}
	if err != nil {
		s.internal(w, r, err)
		return
	}
	defer rc.Close()
	var st storedStatus
	if err := json.NewDecoder(io.LimitReader(rc, 64<<20)).Decode(&st); err != nil {
		s.internal(w, r, fmt.Errorf("taxii: status %s: %w", id, err))
		return
	}
	p := principal(r)
	if p.Role != auth.Admin && (st.OwnerTokenID == "" || p.TokenID != st.OwnerTokenID) {
		notFound()
		return
	}
	writeTAXII(w, http.StatusOK, st.Status)
}
