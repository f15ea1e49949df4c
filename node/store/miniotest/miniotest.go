// Package miniotest starts a real MinIO server for tests, so that the s3
// driver is tested against the server it will meet in production rather than
// a mock that agrees with our assumptions.
//
// The binary is found through $KURIER_MINIO_BIN, then "minio" on $PATH, then
// $HOME/.cache/kurier-tools/bin/minio. Without one, tests skip, unless
// KURIER_REQUIRE_TOOLS=1 (as in CI), where a missing tool fails the test: CI
// must never pass by skipping.
package miniotest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// StartedMarker starts the log line Start writes, so the test summary can
// count the tests that really ran against MinIO.
const StartedMarker = "miniotest: MinIO server started at"

// Server is a running MinIO server with one drive in a temporary directory.
type Server struct {
	// Endpoint is host:port, without scheme (plain HTTP).
	Endpoint  string
	AccessKey string
	SecretKey string

	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
	waitErr error
	stop    sync.Once
}

// readyTimeout bounds the wait for a starting server; MinIO formats its
// drive on first start, which takes a moment on a loaded CI runner.
const readyTimeout = 60 * time.Second

// Binary locates the MinIO server binary.
func Binary() (string, error) {
	if p := os.Getenv("KURIER_MINIO_BIN"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("miniotest: KURIER_MINIO_BIN: %w", err)
		}
		return p, nil
	}
	if p, err := exec.LookPath("minio"); err == nil {
		return p, nil
	}
	if home, err := os.UserHomeDir(); err == nil {
		p := filepath.Join(home, ".cache", "kurier-tools", "bin", "minio")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", errors.New("miniotest: minio not installed (set KURIER_MINIO_BIN, put minio on PATH, or install it in $HOME/.cache/kurier-tools/bin)")
}

// Start starts a MinIO server for tb and stops it when tb's test ends. It
// skips tb when no binary is found, or fails it if KURIER_REQUIRE_TOOLS=1.
func Start(tb testing.TB) *Server {
	tb.Helper()
	bin, err := Binary()
	if err != nil {
		if os.Getenv("KURIER_REQUIRE_TOOLS") == "1" {
			tb.Fatalf("%v (KURIER_REQUIRE_TOOLS=1)", err)
		}
		tb.Skip("minio not installed")
	}
	// The free port found below may be taken before MinIO binds it; retry
	// with fresh ports rather than fail a test on that race.
	var lastErr error
	for range 3 {
		s, err := start(tb, bin)
		if err == nil {
			tb.Cleanup(s.Stop)
			// scripts/testsummary counts the tests that print this line.
			tb.Logf("%s %s", StartedMarker, s.Endpoint)
			return s
		}
		lastErr = err
	}
	tb.Fatalf("miniotest: %v", lastErr)
	return nil
}

func start(tb testing.TB, bin string) (*Server, error) {
	dir := tb.TempDir()
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	s := &Server{
		Endpoint:  net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0])),
		AccessKey: "kurier-test",
		SecretKey: randomSecret(),
		logPath:   filepath.Join(dir, "minio.log"),
		done:      make(chan struct{}),
	}
	logf, err := os.Create(s.logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	data := filepath.Join(dir, "data")
	s.cmd = exec.Command(bin, "server",
		"--quiet",
		"--address", s.Endpoint,
		"--console-address", net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[1])),
		"--certs-dir", filepath.Join(dir, "certs"),
		data)
	s.cmd.Env = append(os.Environ(),
		"MINIO_ROOT_USER="+s.AccessKey,
		"MINIO_ROOT_PASSWORD="+s.SecretKey,
		"MINIO_BROWSER=off",
		"MINIO_UPDATE=off",
		"MINIO_CI_CD=on",
		"HOME="+dir, // MinIO writes ~/.minio; keep it out of the real home
	)
	s.cmd.Stdout = logf
	s.cmd.Stderr = logf
	setSysProcAttr(s.cmd)
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	go func() {
		s.waitErr = s.cmd.Wait()
		close(s.done)
	}()
	if err := s.waitReady(); err != nil {
		s.Stop()
		return nil, fmt.Errorf("%w\n--- minio log ---\n%s", err, s.logTail())
	}
	return s, nil
}

// waitReady polls MinIO's readiness probe, then a signed S3 call: the
// probe can answer 200 while the object layer is still initialising, when
// every S3 request fails with XMinioServerNotInitialized (seen on a loaded
// 2-core machine).
func (s *Server) waitReady() error {
	url := "http://" + s.Endpoint + "/minio/health/ready"
	client := &http.Client{Timeout: time.Second}
	s3c, err := minio.New(s.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(s.AccessKey, s.SecretKey, ""), Region: "us-east-1"})
	if err != nil {
		return fmt.Errorf("miniotest: client: %w", err)
	}
	deadline := time.Now().Add(readyTimeout)
	probed := false
	var lastErr error
	for time.Now().Before(deadline) {
		select {
		case <-s.done:
			return fmt.Errorf("minio exited before it was ready: %v", s.waitErr)
		default:
		}
		if !probed {
			resp, err := client.Get(url)
			if err == nil {
				resp.Body.Close()
				probed = resp.StatusCode == http.StatusOK
			}
		}
		if probed {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_, lastErr = s3c.ListBuckets(ctx)
			cancel()
			if lastErr == nil {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("minio not ready after %s (last S3 error: %v)", readyTimeout, lastErr)
}

// Stop kills the server and waits for it to exit. It is safe to call more
// than once; tests use it to make the backend unavailable.
func (s *Server) Stop() {
	s.stop.Do(func() {
		if s.cmd.Process != nil {
			_ = s.cmd.Process.Kill()
		}
		select {
		case <-s.done:
		case <-time.After(10 * time.Second):
		}
	})
}

// Log returns the end of the server's log, for failing tests.
func (s *Server) Log() string { return s.logTail() }

func (s *Server) logTail() string {
	b, err := os.ReadFile(s.logPath)
	if err != nil {
		return err.Error()
	}
	if len(b) > 4096 {
		b = b[len(b)-4096:]
	}
	return string(bytes.TrimSpace(b))
}

// freePorts finds n free TCP ports on 127.0.0.1 by binding them all at once
// (so they differ) and releasing them.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func randomSecret() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
