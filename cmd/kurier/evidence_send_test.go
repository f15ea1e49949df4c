package main

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kurier/kurier/evidence"
	"github.com/kurier/kurier/federation"
	"github.com/kurier/kurier/federation/peers"
	"github.com/kurier/kurier/federation/policy"
	"github.com/kurier/kurier/federation/wire"
	"github.com/kurier/kurier/node"
	"github.com/kurier/kurier/node/auth"
	"github.com/kurier/kurier/node/config"
	"github.com/kurier/kurier/node/identity"
	"github.com/kurier/kurier/node/seal"
	"github.com/kurier/kurier/node/store/miniotest"
)

// evidencePeer is a node in this process wired as `kurier serve` wires
// it: federation, and evidence over the federation channel.
type evidencePeer struct {
	n       *node.Node
	fed     *federation.Federation
	svc     *evidence.Service
	url     string
	liaison string
}

func startEvidencePeer(t *testing.T, name, country string, s3 *miniotest.Server) *evidencePeer {
	t.Helper()
	return startEvidencePeerWith(t, name, country, s3, federation.Options{})
}

// startEvidencePeerWith is startEvidencePeer with federation limits other
// than the defaults.
func startEvidencePeerWith(t *testing.T, name, country string, s3 *miniotest.Server, fopts federation.Options) *evidencePeer {
	t.Helper()
	env := fedEnv(t)
	cfg := config.Default(func(k string) string { return env[k] })
	cfg.Node.Name, cfg.Node.Country = name, country
	cfg.DataDir = t.TempDir()
	cfg.HTTP.MaxBodyBytes = 1 << 20 // transfers (MiBs below) stream past the node's body limit
	if s3 != nil {
		cfg.Store.Driver = "s3"
		cfg.Store.S3.Endpoint, cfg.Store.S3.AccessKey, cfg.Store.S3.SecretKey = s3.Endpoint, s3.AccessKey, s3.SecretKey
	}
	n, err := node.Open(context.Background(), cfg, node.Options{Env: func(k string) string { return env[k] }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	fed, err := mountFederationWith(ctx, n, fopts)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := mountEvidenceFederated(n, fed)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- n.Serve(ctx, ln) }()
	t.Cleanup(func() { fed.Stop(); cancel(); <-done; _ = n.Close() })
	tok, _, err := n.Tokens.Create(ctx, "liaison.weber", auth.Liaison)
	if err != nil {
		t.Fatal(err)
	}
	return &evidencePeer{n: n, fed: fed, svc: svc, url: "http://" + ln.Addr().String(), liaison: tok}
}

// pin adds other as a peer of p, and loads it at once.
func (p *evidencePeer) pin(t *testing.T, name string, other *evidencePeer) {
	t.Helper()
	pub, _ := other.n.Identity.ArmoredPublicKey()
	doc, err := peers.New(name, other.url, pub, other.n.Identity.Fingerprint(), policy.Default(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := peers.NewStore(p.n.Objects).Add(ctx, doc); err != nil {
		t.Fatal(err)
	}
	if err := p.fed.Reload(ctx); err != nil {
		t.Fatal(err)
	}
}

func (p *evidencePeer) state(t *testing.T, id string) evidence.State {
	t.Helper()
	for _, pkg := range p.svc.List(evidence.Filter{}) {
		if pkg.ID == id {
			return pkg.State
		}
	}
	return ""
}

func (p *evidencePeer) evidenceKeys(t *testing.T) []string {
	t.Helper()
	var keys []string
	for info, err := range p.n.Evidence.List(context.Background(), "", "") {
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, info.Key)
	}
	return keys
}

func (p *evidencePeer) lastEvent(t *testing.T, id string) evidence.Event {
	t.Helper()
	events, err := p.svc.Custody(context.Background(), officer, id)
	if err != nil {
		t.Fatal(err)
	}
	// Custody records the read itself last.
	for i := len(events) - 1; i >= 0; i-- {
		if events[i].Event.Kind != evidence.EvAccessed {
			return events[i].Event
		}
	}
	t.Fatal("no events")
	return evidence.Event{}
}

var officer = evidence.Actor{Person: "liaison.weber", Role: "liaison"}

// sealedRequest creates and seals a preservation request from a to b with
// one item of size bytes.
func sealedRequest(t *testing.T, a, b *evidencePeer, size int) string {
	t.Helper()
	data := make([]byte, size)
	rand.Read(data)
	return sealedRequestFrom(t, a, b, bytes.NewReader(data))
}

// sealedRequestFrom is sealedRequest with the item streamed from r.
func sealedRequestFrom(t testing.TB, a, b *evidencePeer, r io.Reader) string {
	t.Helper()
	now := time.Now().UTC()
	m := preservationManifest(a.n.Identity.Fingerprint(), b.n.Identity.Fingerprint(), now)
	m.Format, m.Created = evidence.FormatVersion, evidence.T(now)
	raw, _ := json.Marshal(m)
	ctx := context.Background()
	pkg, err := a.svc.Create(ctx, officer, raw)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.svc.AddItem(ctx, officer, pkg.ID, evidence.ItemInput{Name: "request.pdf"}, r); err != nil {
		t.Fatal(err)
	}
	if _, err := a.svc.Seal(ctx, officer, pkg.ID); err != nil {
		t.Fatal(err)
	}
	return pkg.ID
}

// postTransfer posts body to p's evidence endpoint signed by signer (as
// a peer would), optionally changing the body after signing.
func postTransfer(t *testing.T, p *evidencePeer, signer *identity.Identity, body []byte, change func([]byte) []byte) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, p.url+wire.BasePath+wire.PathEvidence, nil)
	if _, err := wire.Sign(req, seal.New(signer, nil), p.n.Identity.Fingerprint(), body, time.Now()); err != nil {
		t.Fatal(err)
	}
	if change != nil {
		body = change(bytes.Clone(body))
	}
	req.Body, req.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, data
}

// flipItemByte flips one byte in the middle of the first item of a
// transfer stream (re-encoding the tar stream).
func flipItemByte(t *testing.T, stream []byte) []byte {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(stream))
	var out bytes.Buffer
	tw := tar.NewWriter(&out)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(tr)
		if strings.HasPrefix(h.Name, "items/") {
			data[len(data)/2] ^= 0x01
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write(data)
	}
	tw.Close()
	return out.Bytes()
}

// tmpFiles lists the files (spools, upload parts) left under
// <data_dir>/tmp.
func tmpFiles(t *testing.T, n *node.Node) []string {
	t.Helper()
	var files []string
	_ = filepath.WalkDir(filepath.Join(n.Config.DataDir, "tmp"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, p)
		}
		return nil
	})
	return files
}

// TestEvidenceSend: two nodes on loopback (A on the embedded store, B on
// MinIO when available) pinned to each other; `kurier evidence send`
// moves a preservation request A→B over the federation channel with the
// receipt filed on A and both custody chains verifying; a resend is
// reported as a duplicate; a tampered transfer is quarantined on B with a
// rejected receipt telling A why; an unpinned node and a body changed
// after signing are refused with 401 and nothing stored.
func TestEvidenceSend(t *testing.T) {
	var s3 *miniotest.Server
	if _, err := miniotest.Binary(); err == nil {
		s3 = miniotest.Start(t)
	}
	a := startEvidencePeer(t, "kurier-de", "DE", nil)
	b := startEvidencePeer(t, "kurier-fr", "FR", s3)
	t.Logf("A on %s, B on %s", a.n.Store.Driver(), b.n.Store.Driver())
	a.pin(t, "fr", b)
	b.pin(t, "de", a)
	ctx := context.Background()

	// 1. A preservation request with a 3 MiB item, sent with the CLI.
	id := sealedRequest(t, a, b, 3<<20)
	out, err := evidenceCLI(t, a.url, a.liaison, "send", id, "--to", "fr")
	if err != nil || !strings.Contains(out, "accepted: kurier-fr received and verified package "+id) {
		t.Fatalf("send: %v\n%s", err, out)
	}
	if st := a.state(t, id); st != evidence.Acknowledged {
		t.Fatalf("A's request is %q after the receipt", st)
	}
	if st := b.state(t, id); st != evidence.Verified {
		t.Fatalf("B's copy is %q", st)
	}
	if ev := a.lastEvent(t, id); ev.Kind != evidence.EvDelivered || ev.Attrs["receiver"] != b.n.Identity.Fingerprint() {
		t.Fatalf("receipt not filed on A: %+v", ev)
	}
	for _, p := range []*evidencePeer{a, b} {
		rep, err := p.svc.Verify(ctx, officer, id)
		if err != nil || !rep.OK {
			t.Fatalf("verify on %s: %v %+v", p.n.Config.Node.Name, err, rep)
		}
	}

	// 2. Sending it again (as after a lost answer) is reported clearly.
	out, err = evidenceCLI(t, a.url, a.liaison, "send", id, "--to", "fr")
	if err == nil || !strings.Contains(out, "already holds package "+id) {
		t.Fatalf("resend: %v\n%s", err, out)
	}
	if ev := a.lastEvent(t, id); ev.Kind != evidence.EvDeliveryFailed {
		t.Fatalf("resend not filed on A: %+v", ev)
	}

	// 3. An unknown peer name.
	if out, err := evidenceCLI(t, a.url, a.liaison, "send", id, "--to", "nl"); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("send to an unknown peer: %v\n%s", err, out)
	}

	// 4. A transfer whose item was changed before signing (by a faulty or
	// compromised sender): B answers with a rejected receipt and
	// quarantines the transfer; A files it and is told why.
	tampered := sealedRequest(t, a, b, 2<<20)
	var stream bytes.Buffer
	if err := a.svc.WriteTransfer(ctx, officer, tampered, b.n.Identity.Fingerprint(), &stream); err != nil {
		t.Fatal(err)
	}
	bad := flipItemByte(t, stream.Bytes())
	code, body := postTransfer(t, b, a.n.Identity, bad, nil)
	if code != http.StatusOK {
		t.Fatalf("tampered transfer: %d %s", code, body)
	}
	var sr evidence.SignedReceipt
	if err := json.Unmarshal(body, &sr); err != nil {
		t.Fatal(err)
	}
	rb, err := a.svc.FileReceipt(ctx, officer, sr)
	if err != nil || rb.Result != evidence.ResultRejected || len(rb.Violations) == 0 || rb.Violations[0].Rule != evidence.RuleItemHash {
		t.Fatalf("receipt for the tampered transfer: %v %+v", err, rb)
	}
	if ev := a.lastEvent(t, tampered); ev.Kind != evidence.EvDeliveryFailed || !strings.Contains(ev.Why, "request.pdf") {
		t.Fatalf("A not told why: %+v", ev)
	}
	if b.state(t, tampered) != "" {
		t.Fatal("tampered package listed on B")
	}
	keysB := b.evidenceKeys(t)
	if !strings.Contains(strings.Join(keysB, " "), "quarantine/") {
		t.Fatalf("not quarantined on B: %v", keysB)
	}

	// 5. Refused before anything is stored: a node B has not pinned, and a
	// body changed after signing.
	stranger, err := identity.Generate("Node XX", "", identity.ProfileDefault, time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	other := sealedRequest(t, a, b, 64<<10)
	stream.Reset()
	if err := a.svc.WriteTransfer(ctx, officer, other, b.n.Identity.Fingerprint(), &stream); err != nil {
		t.Fatal(err)
	}
	if code, body := postTransfer(t, b, stranger, stream.Bytes(), nil); code != http.StatusUnauthorized {
		t.Fatalf("unpinned node: %d %s", code, body)
	}
	if code, body := postTransfer(t, b, a.n.Identity, stream.Bytes(), func(d []byte) []byte { return flipItemByte(t, d) }); code != http.StatusUnauthorized {
		t.Fatalf("body changed after signing: %d %s", code, body)
	}
	if got := b.evidenceKeys(t); len(got) != len(keysB) {
		t.Fatalf("refused requests stored objects on B: %d -> %d", len(keysB), len(got))
	}
	if b.state(t, other) != "" {
		t.Fatal("refused package listed on B")
	}
	// The same stream from A itself is accepted.
	if code, body := postTransfer(t, b, a.n.Identity, stream.Bytes(), nil); code != http.StatusOK || !strings.Contains(string(body), "receipt") {
		t.Fatalf("genuine transfer: %d %s", code, body)
	}
	if st := b.state(t, other); st != evidence.Verified {
		t.Fatalf("B's copy is %q", st)
	}
	for _, p := range []*evidencePeer{a, b} {
		if left := tmpFiles(t, p.n); len(left) != 0 {
			t.Fatalf("temporary files left on %s: %v", p.n.Config.Node.Name, left)
		}
	}
}

// TestEvidenceSendLarge sends a package with a 1 GiB item A→B over the
// federation channel with `kurier evidence send`, then verifies both
// custody chains and reports the peak RSS of the process holding both
// nodes. Run it with KURIER_BIG=1 (it writes several GiB to disk).
func TestEvidenceSendLarge(t *testing.T) {
	if os.Getenv("KURIER_BIG") != "1" {
		t.Skip("set KURIER_BIG=1 to send a 1 GiB item")
	}
	a := startEvidencePeer(t, "kurier-de", "DE", nil)
	b := startEvidencePeer(t, "kurier-fr", "FR", nil)
	a.pin(t, "fr", b)
	b.pin(t, "de", a)
	const size = 1 << 30
	start := time.Now()
	id := sealedRequestFrom(t, a, b, io.LimitReader(mrand.NewChaCha8([32]byte{1}), size))
	sealed := time.Since(start)
	start = time.Now()
	out, err := evidenceCLI(t, a.url, a.liaison, "send", id, "--to", "fr")
	if err != nil || !strings.Contains(out, "accepted") {
		t.Fatalf("send: %v\n%s", err, out)
	}
	sent := time.Since(start)
	for _, p := range []*evidencePeer{a, b} {
		rep, err := p.svc.Verify(context.Background(), officer, id)
		if err != nil || !rep.OK {
			t.Fatalf("verify on %s: %v %+v", p.n.Config.Node.Name, err, rep)
		}
	}
	status, _ := os.ReadFile("/proc/self/status")
	hwm := ""
	for _, l := range strings.Split(string(status), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			hwm = strings.TrimSpace(strings.TrimPrefix(l, "VmHWM:"))
		}
	}
	t.Logf("1 GiB item: sealed in %s (%.0f MB/s), sent and verified in %s (%.0f MB/s); peak RSS of both nodes: %s",
		sealed.Round(time.Millisecond), size/sealed.Seconds()/1e6, sent.Round(time.Millisecond), size/sent.Seconds()/1e6, hwm)
}

// pinAt is pin with other reached at url (a proxy in front of it).
func (p *evidencePeer) pinAt(t *testing.T, name string, other *evidencePeer, url string) {
	t.Helper()
	saved := other.url
	other.url = url
	defer func() { other.url = saved }()
	p.pin(t, name, other)
}

// cutProxy forwards TCP connections to a node, and cuts the connection
// that carries the cutAfter-th byte sent to the node (once). It counts the
// bytes sent to the node before and after the cut.
type cutProxy struct {
	url      string
	target   string
	cutAfter int64

	mu     sync.Mutex
	sent   int64 // bytes forwarded to the node in all
	cut    bool
	before int64 // bytes forwarded when the cut happened
}

func startCutProxy(t *testing.T, targetURL string, cutAfter int64) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{url: "http://" + ln.Addr().String(), target: strings.TrimPrefix(targetURL, "http://"), cutAfter: cutAfter}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.serve(c)
		}
	}()
	return p
}

func (p *cutProxy) serve(c net.Conn) {
	defer c.Close()
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	defer up.Close()
	go func() { io.Copy(c, up); c.Close() }()
	buf := make([]byte, 32<<10)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			p.mu.Lock()
			k := int64(n)
			cutNow := !p.cut && p.sent+k >= p.cutAfter
			if cutNow {
				k = p.cutAfter - p.sent
				p.cut, p.before = true, p.cutAfter
			}
			p.sent += k
			p.mu.Unlock()
			if _, werr := up.Write(buf[:k]); werr != nil {
				return
			}
			if cutNow {
				return // both connections closed: a dropped link mid-request
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *cutProxy) counts() (cut bool, before, after int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cut, p.before, p.sent - p.before
}

// signedUpload sends a signed request to p's upload endpoint for stream
// sum (as a peer would): a chunk PUT (chunk non-nil, optionally changed
// after signing) or a status GET.
func signedUpload(t *testing.T, p *evidencePeer, signer *identity.Identity, method, sum string, off, length int64, chunk []byte, change func([]byte) []byte) (*http.Response, []byte) {
	t.Helper()
	u := p.url + wire.BasePath + wire.PathEvidenceUploads + sum
	if method == http.MethodPut {
		u += "?" + url.Values{wire.UploadOffset: {strconv.FormatInt(off, 10)}, wire.UploadLength: {strconv.FormatInt(length, 10)}}.Encode()
	}
	req, _ := http.NewRequest(method, u, nil)
	if _, err := wire.Sign(req, seal.New(signer, nil), p.n.Identity.Fingerprint(), chunk, time.Now()); err != nil {
		t.Fatal(err)
	}
	if change != nil {
		chunk = change(bytes.Clone(chunk))
	}
	if chunk != nil {
		req.Body, req.ContentLength = io.NopCloser(bytes.NewReader(chunk)), int64(len(chunk))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp, data
}

// TestEvidenceSendResume: a send whose connection drops mid-way resumes
// from what the peer holds (only the rest crosses the wire again) and the
// package verifies on both sides; on the upload endpoint a chunk at the
// wrong offset is refused with the expected offset, a chunk changed after
// signing and a node the receiver has not pinned are refused with 401 and
// nothing kept, and the completed upload is received like a POST.
func TestEvidenceSendResume(t *testing.T) {
	// Small chunks, so that a resume shows with a 3 MiB package.
	small := federation.Options{EvidenceChunkBytes: 256 << 10}
	a := startEvidencePeerWith(t, "kurier-de", "DE", nil, small)
	b := startEvidencePeerWith(t, "kurier-fr", "FR", nil, small)
	const cutAfter = 1<<20 + 100<<10
	proxy := startCutProxy(t, b.url, cutAfter)
	a.pinAt(t, "fr", b, proxy.url)
	b.pin(t, "de", a)
	ctx := context.Background()

	// 1. The link drops after 1.1 MiB of a 3 MiB package: the send resumes.
	const item = 3 << 20
	id := sealedRequest(t, a, b, item)
	out, err := evidenceCLI(t, a.url, a.liaison, "send", id, "--to", "fr")
	if err != nil || !strings.Contains(out, "accepted: kurier-fr received and verified package "+id) {
		t.Fatalf("send: %v\n%s", err, out)
	}
	cut, before, after := proxy.counts()
	t.Logf("cut after %d bytes; %d bytes sent after the cut", before, after)
	if !cut {
		t.Fatal("the proxy never cut the connection")
	}
	// Without resume the whole stream (more than the item) is sent again.
	if after >= item-cutAfter+256<<10+64<<10 {
		t.Fatalf("%d bytes sent after the cut at %d: the upload restarted instead of resuming", after, before)
	}
	if st := b.state(t, id); st != evidence.Verified {
		t.Fatalf("B's copy is %q", st)
	}
	if st := a.state(t, id); st != evidence.Acknowledged {
		t.Fatalf("A's request is %q after the receipt", st)
	}
	for _, p := range []*evidencePeer{a, b} {
		rep, err := p.svc.Verify(ctx, officer, id)
		if err != nil || !rep.OK {
			t.Fatalf("verify on %s: %v %+v", p.n.Config.Node.Name, err, rep)
		}
		if left := tmpFiles(t, p.n); len(left) != 0 {
			t.Fatalf("temporary files left on %s: %v", p.n.Config.Node.Name, left)
		}
	}

	// 2. The upload endpoint, driven by hand.
	other := sealedRequest(t, a, b, 300<<10)
	var stream bytes.Buffer
	if err := a.svc.WriteTransfer(ctx, officer, other, b.n.Identity.Fingerprint(), &stream); err != nil {
		t.Fatal(err)
	}
	data := stream.Bytes()
	length := int64(len(data))
	h := sha256.Sum256(data)
	sum := hex.EncodeToString(h[:])
	const first = 100 << 10
	stranger, err := identity.Generate("Node XX", "", identity.ProfileDefault, time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	// A node B has not pinned can neither upload nor ask.
	if resp, body := signedUpload(t, b, stranger, http.MethodPut, sum, 0, length, data[:first], nil); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("unpinned node: %d %s", resp.StatusCode, body)
	}
	if resp, body := signedUpload(t, b, stranger, http.MethodGet, sum, 0, 0, nil, nil); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("unpinned node asking: %d %s", resp.StatusCode, body)
	}
	if left := tmpFiles(t, b.n); len(left) != 0 {
		t.Fatalf("a refused upload left %v", left)
	}
	// A chunk changed after signing: 401, nothing kept.
	flip := func(d []byte) []byte { d[10] ^= 1; return d }
	if resp, body := signedUpload(t, b, a.n.Identity, http.MethodPut, sum, 0, length, data[:first], flip); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("chunk changed after signing: %d %s", resp.StatusCode, body)
	}
	if left := tmpFiles(t, b.n); len(left) != 0 {
		t.Fatalf("a refused chunk left %v", left)
	}
	// The first chunk from A.
	if resp, body := signedUpload(t, b, a.n.Identity, http.MethodPut, sum, 0, length, data[:first], nil); resp.StatusCode != http.StatusAccepted || !strings.Contains(string(body), `"offset":102400`) {
		t.Fatalf("first chunk: %d %s", resp.StatusCode, body)
	}
	// Chunks at the wrong offset are refused with the expected one.
	for _, off := range []int64{0, first + 10} {
		resp, body := signedUpload(t, b, a.n.Identity, http.MethodPut, sum, off, length, data[off:off+1000], nil)
		if resp.StatusCode != http.StatusConflict || resp.Header.Get(wire.HeaderUploadOffset) != strconv.Itoa(first) {
			t.Fatalf("chunk at offset %d: %d %v %s", off, resp.StatusCode, resp.Header, body)
		}
	}
	// The next chunk changed after signing: 401, and the part is cut back.
	if resp, body := signedUpload(t, b, a.n.Identity, http.MethodPut, sum, first, length, data[first:], flip); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("second chunk changed after signing: %d %s", resp.StatusCode, body)
	}
	if resp, body := signedUpload(t, b, a.n.Identity, http.MethodGet, sum, 0, 0, nil, nil); resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"offset":102400`) {
		t.Fatalf("status: %d %s", resp.StatusCode, body)
	}
	if b.state(t, other) != "" {
		t.Fatal("an unfinished upload is listed on B")
	}
	// The rest completes it: B answers with its receipt.
	resp, body := signedUpload(t, b, a.n.Identity, http.MethodPut, sum, first, length, data[first:], nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "receipt") {
		t.Fatalf("last chunk: %d %s", resp.StatusCode, body)
	}
	if st := b.state(t, other); st != evidence.Verified {
		t.Fatalf("B's copy is %q", st)
	}
	if left := tmpFiles(t, b.n); len(left) != 0 {
		t.Fatalf("temporary files left on B: %v", left)
	}
	// An upload whose bytes do not match the hash it is sent under is
	// discarded when complete.
	if resp, body := signedUpload(t, b, a.n.Identity, http.MethodPut, strings.Repeat("0", 64), 0, 1000, data[:1000], nil); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("stream not matching its hash: %d %s", resp.StatusCode, body)
	}
	if left := tmpFiles(t, b.n); len(left) != 0 {
		t.Fatalf("temporary files left on B: %v", left)
	}
}
