// Package federation is how Kurier nodes exchange STIX objects: each node
// serves a change feed of its object versions, filtered by its policy for
// the requesting peer, and pulls its peers' feeds with a persisted cursor.
//
// A request between nodes is signed with the requesting node's key
// (wire.Sign) and accepted only from pinned peers; a feed batch is signed
// by the serving node and encrypted to the requester, and every object in
// it keeps its origin's detached signature, which the receiver verifies
// before applying its own inbound policy and storing the object. Push
// notices wake a peer's pull after every local write, so new objects
// arrive within a second; the periodic pull, with backoff and jitter on
// failure, converges without them. docs/federation.md has the protocol
// and its reasoning.
//
// The parts, one file each: peers and their policy (packages peers and
// policy), request authentication (auth.go), the identity document
// (identity.go), the change feed (feed.go) with tombstones
// (tombstone.go), the pull client (client.go, pull.go, receive.go), push
// notices (notify.go), the operator API (operator.go) and metrics.
package federation

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kurier/kurier/federation/peers"
	"github.com/kurier/kurier/federation/policy"
	"github.com/kurier/kurier/node"
	"github.com/kurier/kurier/node/api"
	"github.com/kurier/kurier/node/identity"
	"github.com/kurier/kurier/node/index"
	"github.com/kurier/kurier/node/indicator"
	"github.com/kurier/kurier/node/seal"
	"github.com/kurier/kurier/node/stix"
	"github.com/kurier/kurier/node/store"
)

// Indicators is what federation needs of the node's indicator service.
type Indicators interface {
	Entries(q index.Query) (index.Page, error)
	Load(ctx context.Context, entries []index.Entry) ([]indicator.Stored, error)
	Store(ctx context.Context, subs []indicator.Submission) (indicator.Result, error)
	Versions(ctx context.Context, id string) ([]indicator.Stored, error)
	Observe(fn indicator.Observer)
	Revoke(ctx context.Context, id string, now time.Time) (*stix.Object, error)
	Remark(ctx context.Context, id string, tlp stix.TLP, now time.Time) (*stix.Object, error)
}

// Index is what federation reads directly from the node's index.
type Index interface {
	Versions(id string) ([]index.Entry, error)
	Current(id string) (index.Entry, bool, error)
	Incomplete() bool
	Stats() (index.Stats, error)
	LastAdded() time.Time
}

// NodeInfo names this node in its identity document.
type NodeInfo struct {
	Name, Country, Organization string
}

// Options are federation's dependencies and limits. Zero limits take the
// defaults below.
type Options struct {
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	Self       *identity.Identity
	Node       NodeInfo
	// Objects is the node's objects bucket: peer documents, origin keys,
	// relayed tombstones and conflicts live under federation/.
	Objects    store.Bucket
	Indicators Indicators
	Index      Index
	API        *api.Server
	// DataDir holds the pull cursors (DataDir/federation/cursors).
	DataDir string

	// ReloadInterval: how often peer documents are re-read (default 2s).
	ReloadInterval time.Duration
	// ClockSkew: accepted difference of a request's date (default 5m).
	ClockSkew time.Duration
	// RequestTimeout bounds one federation request, either side (default 2m).
	RequestTimeout time.Duration
	// IdleTimeout aborts a response that stops arriving (slow sender,
	// default 20s without a byte).
	IdleTimeout time.Duration
	// MaxBatchBytes caps a feed batch, ciphertext and plaintext (default 64 MiB).
	MaxBatchBytes int64
	// BatchLimit is how many feed entries a pull asks for (default 5000,
	// at most MaxBatchLimit).
	BatchLimit int
	// MaxBackoff caps the wait after failed pulls (default 5m).
	MaxBackoff time.Duration
	// MaxConcurrentFeeds bounds feed requests served at once (default 4).
	MaxConcurrentFeeds int
	// MaxEvidenceBytes caps an incoming evidence transfer, spooled to
	// DataDir/tmp before it is verified (default 64 GiB).
	MaxEvidenceBytes int64
	// EvidenceIdleTimeout and EvidenceMinRate bound how slowly an evidence
	// transfer body may arrive: a pause longer than the timeout, or an
	// average below the rate (bytes/s, after a grace of the timeout), cuts
	// the sender off (zero: api.DefaultStreamLimits, 30 s and 16 KiB/s).
	EvidenceIdleTimeout time.Duration
	EvidenceMinRate     int64
	// EvidenceChunkBytes is the chunk size of evidence uploads this node
	// sends (default and most 16 MiB, what a receiver reads per chunk);
	// tests make it small so that a resume shows with small packages.
	EvidenceChunkBytes int64
	// Transport overrides the HTTP transport of outgoing requests (tests).
	Transport http.RoundTripper
	// Now is the clock (tests).
	Now func() time.Time
}

// Defaults.
const (
	defaultReload       = 2 * time.Second
	defaultSkew         = 5 * time.Minute
	defaultTimeout      = 2 * time.Minute
	defaultIdle         = 20 * time.Second
	defaultMaxBatch     = 64 << 20
	defaultBatchLimit   = 5000
	MaxBatchLimit       = 5000
	defaultMaxBackoff   = 5 * time.Minute
	defaultFeeds        = 4
	maxNoticeBody       = 64 << 10
	noticeTimeout       = 5 * time.Second
	feedPlaintextBudget = 32 << 20
)

// Federation is one node's federation component.
type Federation struct {
	opts  Options
	log   *slog.Logger
	self  *identity.Identity
	fpr   string
	m     *metrics
	peers *peers.Store
	ind   Indicators
	idx   Index
	now   func() time.Time

	set     atomic.Pointer[peerSet]
	nonces  *nonceCache
	http    *http.Client
	tombs   *tombstones
	keys    *originKeys
	notify  *notifier
	cursors *cursorStore

	selfSealer  *seal.Sealer
	identity    identityDoc
	started     time.Time
	policyMu    sync.Mutex
	policyCache map[string]policy.Policy

	feedMu      sync.Mutex // feed requests in progress, in all and by peer
	feedsActive int
	feedsByPeer map[string]int

	evMu    sync.RWMutex // evidence transfers (evidence.go)
	evRecv  EvidenceReceiver
	evHTTP  *http.Client
	uploads uploadLocks

	mu      sync.Mutex
	pullers map[string]*puller
	runCtx  context.Context
	stop    context.CancelFunc
	wg      sync.WaitGroup
}

// New builds the federation component. Call Mount before the node serves
// and Start to begin pulling.
func New(opts Options) (*Federation, error) {
	if opts.Self == nil || opts.Objects == nil || opts.Indicators == nil || opts.Index == nil || opts.API == nil {
		return nil, errors.New("federation: self, objects bucket, indicators, index and API are required")
	}
	if opts.DataDir == "" {
		return nil, errors.New("federation: a data directory is required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Registerer == nil {
		opts.Registerer = prometheus.NewRegistry()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&opts.ReloadInterval, defaultReload)
	def(&opts.ClockSkew, defaultSkew)
	def(&opts.RequestTimeout, defaultTimeout)
	def(&opts.IdleTimeout, defaultIdle)
	def(&opts.MaxBackoff, defaultMaxBackoff)
	if opts.MaxBatchBytes <= 0 {
		opts.MaxBatchBytes = defaultMaxBatch
	}
	if opts.BatchLimit <= 0 {
		opts.BatchLimit = defaultBatchLimit
	}
	opts.BatchLimit = min(opts.BatchLimit, MaxBatchLimit)
	if opts.MaxEvidenceBytes <= 0 {
		opts.MaxEvidenceBytes = defaultMaxEvidence
	}
	if opts.EvidenceChunkBytes <= 0 || opts.EvidenceChunkBytes > maxEvidenceChunk {
		opts.EvidenceChunkBytes = maxEvidenceChunk
	}
	if opts.MaxConcurrentFeeds <= 0 {
		opts.MaxConcurrentFeeds = defaultFeeds
	}
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, err
	}
	warmEntity(opts.Self.Entity())
	f := &Federation{
		opts: opts, log: opts.Logger.With("component", "federation"), self: opts.Self, fpr: opts.Self.Fingerprint(),
		m: m, peers: peers.NewStore(opts.Objects), ind: opts.Indicators, idx: opts.Index, now: opts.Now,
		nonces: newNonceCache(2 * opts.ClockSkew), feedsByPeer: map[string]int{},
		pullers: map[string]*puller{}, selfSealer: seal.New(opts.Self, nil), policyCache: map[string]policy.Policy{},
		started: opts.Now().Truncate(time.Second),
		cursors: &cursorStore{dir: filepath.Join(opts.DataDir, "federation", "cursors")},
	}
	f.http = newHTTPClient(opts.Transport)
	f.evHTTP = newEvidenceClient(opts.Transport)
	f.tombs = newTombstones(f)
	f.keys = &originKeys{bucket: opts.Objects, cache: map[string]*openpgp.Entity{}}
	f.notify = newNotifier(f)
	f.set.Store(&peerSet{byName: map[string]*peerState{}, byFpr: map[string]*peerState{}, verifier: seal.New(opts.Self, nil)})
	return f, nil
}

// Mount builds federation for a node from its parts and mounts its routes
// on the node's API (before the node serves). opts may override limits;
// its dependency fields are filled from n.
func Mount(n *node.Node, opts Options) (*Federation, error) {
	opts.Logger = n.Log
	opts.Registerer = n.Registry
	opts.Self = n.Identity
	opts.Node = NodeInfo{Name: n.Config.Node.Name, Country: n.Config.Node.Country, Organization: n.Config.Node.Organization}
	opts.Objects = n.Objects
	opts.Indicators = n.Indicators
	opts.Index = n.Index
	opts.API = n.API
	opts.DataDir = n.Config.DataDir
	f, err := New(opts)
	if err != nil {
		return nil, err
	}
	f.Mount()
	return f, nil
}

// Start loads the peers, starts a pull loop per peer, the push notices and
// the reload loop. It returns after the first load; everything runs until
// ctx ends or Stop.
func (f *Federation) Start(ctx context.Context) error {
	f.mu.Lock()
	if f.stop != nil {
		f.mu.Unlock()
		return errors.New("federation: already started")
	}
	f.runCtx, f.stop = context.WithCancel(ctx)
	f.mu.Unlock()
	if err := f.Reload(f.runCtx); err != nil {
		f.log.Error("load peers", "err", err)
	}
	f.ind.Observe(f.notify.observe)
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		t := time.NewTicker(f.opts.ReloadInterval)
		defer t.Stop()
		// Abandoned uploads are swept here, not per request: it reads
		// the whole directory, and they are only removed after a day.
		f.sweepUploads()
		swept := time.Now()
		for {
			select {
			case <-f.runCtx.Done():
				return
			case now := <-t.C:
				if err := f.Reload(f.runCtx); err != nil && f.runCtx.Err() == nil {
					f.log.Warn("reload peers", "err", err)
				}
				if now.Sub(swept) >= uploadSweepInterval {
					f.sweepUploads()
					swept = now
				}
			}
		}
	}()
	return nil
}

// Stop ends the pull loops and notices and waits for them.
func (f *Federation) Stop() {
	f.mu.Lock()
	stop := f.stop
	f.mu.Unlock()
	if stop != nil {
		stop()
	}
	f.wg.Wait()
	f.notify.wait()
}

// Reload re-reads the peer documents, rebuilds the peer set used to
// authenticate requests, and starts, updates or stops pull loops.
func (f *Federation) Reload(ctx context.Context) error {
	list, errs := f.peers.List(ctx)
	for _, err := range errs {
		f.log.Warn("peer document skipped", "err", err)
	}
	if len(errs) > 0 && len(list) == 0 {
		// A store outage must not drop every peer: keep the old set.
		return fmt.Errorf("federation: no peer document readable: %w", errors.Join(errs...))
	}
	old := f.set.Load()
	ns := newPeerSet(f.self, list, old, f.log)
	f.set.Store(ns)

	f.mu.Lock()
	defer f.mu.Unlock()
	if f.runCtx == nil || f.runCtx.Err() != nil {
		return nil
	}
	for name, p := range f.pullers {
		if ps, ok := ns.byName[name]; !ok || ps.fpr != p.fpr {
			p.cancel()
			delete(f.pullers, name)
			if !ok {
				f.m.removePeer(name)
				f.log.Info("peer removed", "peer", name)
			}
		}
	}
	for name, ps := range ns.byName {
		if _, ok := f.pullers[name]; ok {
			if prev, was := old.byName[name]; was && prev.cfg.Version != ps.cfg.Version {
				// The policy for this peer changed: tell it to pull, so
				// what it may no longer see is retracted without delay.
				f.notify.kick(f.runCtx, name)
				f.log.Info("peer document changed", "peer", name, "policy_version", ps.cfg.Version)
			}
			continue
		}
		f.m.addPeer(name)
		p := newPuller(f, ps)
		f.pullers[name] = p
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			p.run(f.runCtx)
		}()
		f.log.Info("peer loaded", "peer", name, "url", ps.cfg.URL, "fingerprint", ps.fpr, "policy_version", ps.cfg.Version)
	}
	return nil
}

// Peers returns the loaded peer documents.
func (f *Federation) Peers() []peers.Peer {
	s := f.set.Load()
	out := make([]peers.Peer, 0, len(s.byName))
	for _, ps := range s.byName {
		out = append(out, ps.cfg)
	}
	return out
}

func (f *Federation) puller(name string) *puller {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.pullers[name]
}

// peerState is one loaded peer.
type peerState struct {
	cfg    peers.Peer
	fpr    string
	entity *openpgp.Entity
	// sealer opens this peer's batches (its key is the only trusted one
	// besides ours) and signs our requests.
	sealer *seal.Sealer
}

// peerSet is an immutable snapshot of the loaded peers.
type peerSet struct {
	byName map[string]*peerState
	byFpr  map[string]*peerState
	// verifier trusts every peer's key: a request signature that verifies
	// with another peer's key than the one claimed is an impersonation.
	verifier *seal.Sealer
}

func newPeerSet(self *identity.Identity, list []peers.Peer, old *peerSet, log *slog.Logger) *peerSet {
	s := &peerSet{byName: map[string]*peerState{}, byFpr: map[string]*peerState{}}
	var ring openpgp.EntityList
	for _, p := range list {
		if p.Fingerprint == self.Fingerprint() {
			log.Warn("peer document pins this node's own key; ignored", "peer", p.Name)
			continue
		}
		if other, dup := s.byFpr[p.Fingerprint]; dup {
			log.Warn("two peers pin the same key; the second is ignored", "peer", p.Name, "other", other.cfg.Name)
			continue
		}
		if prev, ok := old.byName[p.Name]; ok && prev.cfg.Version == p.Version && prev.fpr == p.Fingerprint {
			s.byName[p.Name], s.byFpr[p.Fingerprint] = prev, prev
			ring = append(ring, prev.entity)
			continue
		}
		e, err := p.Entity()
		if err != nil {
			log.Warn("peer key unusable", "peer", p.Name, "err", err)
			continue
		}
		warmEntity(e)
		ps := &peerState{cfg: p, fpr: p.Fingerprint, entity: e, sealer: seal.New(self, openpgp.EntityList{e})}
		s.byName[p.Name], s.byFpr[p.Fingerprint] = ps, ps
		ring = append(ring, e)
	}
	s.verifier = seal.New(self, ring)
	return s
}

// signer signs and seals as this node.
func (f *Federation) signer() *seal.Sealer { return f.selfSealer }

// PeerKeys returns the pinned public keys of the loaded peers that are not
// paused, from the current snapshot (safe to call at every act). Other
// components that trust the same peers (evidence transfer) can use it
// instead of a key directory of their own.
func (f *Federation) PeerKeys() openpgp.EntityList {
	s := f.set.Load()
	out := make(openpgp.EntityList, 0, len(s.byName))
	for _, ps := range s.byName {
		if !ps.cfg.Paused {
			out = append(out, ps.entity)
		}
	}
	return out
}
