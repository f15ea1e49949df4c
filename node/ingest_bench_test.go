package node

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kurier/kurier/node/auth"
	"github.com/kurier/kurier/node/store"
	"github.com/kurier/kurier/node/store/miniotest"
	s3store "github.com/kurier/kurier/node/store/s3"
)

// benchIndicators is how many indicators one ingest run sends.
const benchIndicators = 100_000

// makeBundles builds bundles of distinct, valid indicators (each with a
// different IPv4 pattern), as an analyst's tooling would send them.
func makeBundles(total, per int) [][]byte {
	var out [][]byte
	now := time.Now().UTC().Format("2006-01-02T15:04:05.000Z")
	for start := 0; start < total; start += per {
		var buf bytes.Buffer
		fmt.Fprintf(&buf, `{"type":"bundle","id":"bundle--%s","objects":[`, uuid4())
		for i := start; i < min(start+per, total); i++ {
			if i > start {
				buf.WriteByte(',')
			}
			fmt.Fprintf(&buf, `{"type":"indicator","spec_version":"2.1","id":"indicator--%s","created":"%s","modified":"%s",`+
				`"name":"bench %d","indicator_types":["malicious-activity"],"pattern":"[ipv4-addr:value = '10.%d.%d.%d']",`+
				`"pattern_type":"stix","valid_from":"%s","labels":["bench"],"object_marking_refs":["marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"]}`,
				uuid4(), now, now, i, (i>>16)&255, (i>>8)&255, i&255, now)
		}
		buf.WriteString("]}")
		out = append(out, buf.Bytes())
	}
	return out
}

func uuid4() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// ingest posts the bundles with a few concurrent clients and returns the
// objects/s rate.
func ingest(b *testing.B, url, token string, bundles [][]byte, clients int) float64 {
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	var failed atomic.Int64
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if int(i) >= len(bundles) {
					return
				}
				req, _ := http.NewRequest(http.MethodPost, url+"/api/v1/bundles", bytes.NewReader(bundles[i]))
				req.Header.Set("Authorization", "Bearer "+token)
				req.Header.Set("Content-Type", "application/stix+json")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					failed.Add(1)
					continue
				}
				var sum struct {
					Stored int `json:"stored_count"`
				}
				_ = json.NewDecoder(resp.Body).Decode(&sum)
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || sum.Stored == 0 {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if failed.Load() > 0 {
		b.Fatalf("%d bundles failed", failed.Load())
	}
	return float64(benchIndicators) / elapsed.Seconds()
}

// rawSignRate is the detached-signing rate of the node's key on 1 KiB, on
// all cores (as ingest signs in parallel).
func rawSignRate(n *Node) float64 {
	doc := bytes.Repeat([]byte("x"), 1024)
	const per = 4000
	workers := 2
	var wg sync.WaitGroup
	start := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range per {
				_ = n.Sealer.SignDetached(io.Discard, bytes.NewReader(doc))
			}
		}()
	}
	wg.Wait()
	return float64(workers*per) / time.Since(start).Seconds()
}

// rawPutRate is 1 KiB PUTs/s into a bucket from 16 writers for 3 s.
func rawPutRate(b *testing.B, bucket store.Bucket) float64 {
	doc := bytes.Repeat([]byte("y"), 1024)
	var count atomic.Int64
	deadline := time.Now().Add(3 * time.Second)
	var wg sync.WaitGroup
	start := time.Now()
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; time.Now().Before(deadline); i++ {
				if _, err := bucket.Put(context.Background(), fmt.Sprintf("bench/raw/%02d/%08d", w, i), bytes.NewReader(doc), store.PutOptions{Size: 1024}); err != nil {
					b.Error(err)
					return
				}
				count.Add(1)
			}
		}()
	}
	wg.Wait()
	return float64(count.Load()) / time.Since(start).Seconds()
}

// BenchmarkIngest100k sends 100,000 indicators through the HTTP API
// (validated, signed, sealed, stored, indexed, acknowledged) on the fs
// store and on MinIO, and prints the raw signing and PUT rates beside it.
//
//	go test -run '^$' -bench BenchmarkIngest100k -benchtime 1x -timeout 30m ./node
func BenchmarkIngest100k(b *testing.B) {
	bundles := makeBundles(benchIndicators, 1000)
	for _, driver := range []string{"fs", "s3"} {
		b.Run(driver, func(b *testing.B) {
			for range b.N {
				b.StopTimer()
				cfg := testConfig(b)
				var raw store.Bucket
				if driver == "s3" {
					srv := miniotest.Start(b)
					cfg.Store.Driver = "s3"
					cfg.Store.S3.Endpoint, cfg.Store.S3.AccessKey, cfg.Store.S3.SecretKey = srv.Endpoint, srv.AccessKey, srv.SecretKey
					st, err := s3store.New(s3store.Config{Endpoint: srv.Endpoint, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey})
					if err != nil {
						b.Fatal(err)
					}
					if err := st.EnsureBucket(context.Background(), "bench-raw", false); err != nil {
						b.Fatal(err)
					}
					raw = st.Bucket("bench-raw")
				}
				n, url, _, _ := startNode(b, cfg, nil)
				token, _, err := n.Tokens.Create(context.Background(), "bench", auth.Analyst)
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				rate := ingest(b, url, token, bundles, 2)
				b.StopTimer()
				sign := rawSignRate(n)
				b.ReportMetric(rate, "objects/s")
				b.ReportMetric(sign, "raw-signatures/s")
				b.ReportMetric(rate/sign, "ingest/sign-ratio")
				msg := fmt.Sprintf("%s: ingest %.0f objects/s; raw detached signing %.0f/s (ratio %.2f)", driver, rate, sign, rate/sign)
				if raw != nil {
					put := rawPutRate(b, raw)
					b.ReportMetric(put, "raw-PUTs/s")
					b.ReportMetric(rate/put, "ingest/PUT-ratio")
					msg += fmt.Sprintf("; raw MinIO 1 KiB PUT %.0f/s (ingest is %.1fx)", put, rate/put)
				}
				b.Log(msg)
			}
		})
	}
}
