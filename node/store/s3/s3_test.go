package s3_test

import (
	"context"
	"errors"
	"net"
	"os"
	"testing"
	"time"

	"github.com/kurier/kurier/node/store"
	"github.com/kurier/kurier/node/store/miniotest"
	"github.com/kurier/kurier/node/store/s3"
	"github.com/kurier/kurier/node/store/storetest"
)

func newStore(tb testing.TB, srv *miniotest.Server, partSize uint64) *s3.Store {
	tb.Helper()
	s, err := s3.New(s3.Config{
		Endpoint:  srv.Endpoint,
		AccessKey: srv.AccessKey,
		SecretKey: srv.SecretKey,
		Region:    "us-east-1",
		PartSize:  partSize,
	})
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// TestS3Contract runs the store contract against a real MinIO server (one
// server for all sub-tests; each sub-test makes its own buckets). Parts are
// storetest.BigPart (5 MiB, the S3 minimum), so the suite's 12 MiB objects
// take three parts.
func TestS3Contract(t *testing.T) {
	srv := miniotest.Start(t)
	s := newStore(t, srv, storetest.BigPart)
	storetest.Run(t, func(*testing.T) store.Store { return s })
	if t.Failed() {
		t.Logf("minio log:\n%s", srv.Log())
	}
}

// TestS3PingUnavailable is what /readyz relies on: when MinIO goes away,
// Ping fails fast with ErrUnavailable.
func TestS3PingUnavailable(t *testing.T) {
	srv := miniotest.Start(t)
	s := newStore(t, srv, 0)
	ctx := t.Context()
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping while up: %v", err)
	}
	if err := s.EnsureBucket(ctx, "ping-target", false); err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping with a bucket: %v", err)
	}
	srv.Stop()
	t0 := time.Now()
	err := s.Ping(ctx)
	if !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Ping while down = %v, want ErrUnavailable", err)
	}
	if d := time.Since(t0); d > 5*time.Second {
		t.Errorf("Ping took %v to notice", d)
	}
	// The caller's own deadline wins over the default timeout.
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	t0 = time.Now()
	if err := s.Ping(short); err == nil {
		t.Error("Ping with short deadline while down: no error")
	}
	if d := time.Since(t0); d > 2*time.Second {
		t.Errorf("Ping ignored the caller's deadline (%v)", d)
	}
}

// TestPingClosedPort needs no server: nothing listens on the port.
func TestPingClosedPort(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	s, err := s3.New(s3.Config{Endpoint: addr, AccessKey: "a", SecretKey: "b", Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(t.Context()); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Ping = %v, want ErrUnavailable", err)
	}
}

func TestNewValidates(t *testing.T) {
	good := s3.Config{Endpoint: "127.0.0.1:9000", AccessKey: "a", SecretKey: "b"}
	if s, err := s3.New(good); err != nil || s.Driver() != "s3" {
		t.Fatalf("New(good) = %v, %v", s, err)
	}
	bad := map[string]func(*s3.Config){
		"empty endpoint": func(c *s3.Config) { c.Endpoint = "" },
		"scheme":         func(c *s3.Config) { c.Endpoint = "http://127.0.0.1:9000" },
		"path":           func(c *s3.Config) { c.Endpoint = "127.0.0.1:9000/bucket" },
		"no access key":  func(c *s3.Config) { c.AccessKey = "" },
		"no secret key":  func(c *s3.Config) { c.SecretKey = "" },
		"part too small": func(c *s3.Config) { c.PartSize = 1 << 20 },
		"part too large": func(c *s3.Config) { c.PartSize = 6 << 30 },
	}
	for name, mutate := range bad {
		c := good
		mutate(&c)
		if _, err := s3.New(c); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// BenchmarkPut1GiB streams 1 GiB through Put and Get against MinIO with the
// default 16 MiB parts; see storetest.Big. Run with
// KURIER_BIG=1 go test -run '^$' -bench BenchmarkPut1GiB -benchtime 1x.
func BenchmarkPut1GiB(b *testing.B) {
	if os.Getenv("KURIER_BIG") != "1" {
		b.Skip("set KURIER_BIG=1")
	}
	srv := miniotest.Start(b)
	storetest.Big(b, newStore(b, srv, 0), 1<<30)
}
