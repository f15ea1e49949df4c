package taxii

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/kurier/kurier/node/indicator"
	"github.com/kurier/kurier/node/stix"
)

// BenchmarkObjectsPaging pages a TLP:GREEN collection of 100,000 objects
// (the figure issue 3 asks for; KURIER_TAXII_BENCH_OBJECTS changes it for
// quick runs) through real HTTP with limit=1000, following `next` as a
// TAXII client polls it, and reports objects/s and pages/s.
//
//	go test -run '^$' -bench ObjectsPaging -benchtime 3x -timeout 30m ./node/taxii
func BenchmarkObjectsPaging(b *testing.B) {
	n := 100000
	if v, err := strconv.Atoi(os.Getenv("KURIER_TAXII_BENCH_OBJECTS")); err == nil && v > 0 {
		n = v
	}
	f := newFixture(b)
	ctx := context.Background()
	base := time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC)
	start := time.Now()
	for done := 0; done < n; {
		batch := min(5000, n-done)
		objs := make([]*stix.Object, batch)
		for i := range objs {
			u, err := newUUID()
			if err != nil {
				b.Fatal(err)
			}
			o, err := stix.DecodeObject(indicatorJSON("indicator--"+u, base, stix.TLPGreen, done+i))
			if err != nil {
				b.Fatal(err)
			}
			objs[i] = o
		}
		res, err := f.svc.ImportBundle(ctx, stix.NewBundle(objs...))
		if err != nil || len(res.Failures) > 0 {
			b.Fatalf("ingest: %v %v", err, firstFailure(res))
		}
		done += batch
	}
	b.Logf("ingested %d objects in %s", n, time.Since(start).Round(time.Millisecond))

	client := &http.Client{}
	b.ResetTimer()
	total, pages := 0, 0
	for b.Loop() {
		next := ""
		for {
			u := f.srv.URL + objectsPath(CollectionGreen, append([]string{"limit", "1000"}, nextParam(next)...)...)
			req, _ := http.NewRequest(http.MethodGet, u, nil)
			req.Header.Set("Accept", MediaType)
			req.Header.Set("Authorization", "Bearer "+f.bearer["analyst"])
			resp, err := client.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			var env envelope
			err = json.NewDecoder(resp.Body).Decode(&env)
			resp.Body.Close()
			if err != nil || resp.StatusCode != http.StatusOK {
				b.Fatalf("page: %d %v", resp.StatusCode, err)
			}
			total += len(env.Objects)
			pages++
			if !env.More {
				break
			}
			next = env.Next
		}
	}
	if total != n*b.N {
		b.Fatalf("paged %d objects, want %d", total, n*b.N)
	}
	b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "objects/s")
	b.ReportMetric(float64(pages)/b.Elapsed().Seconds(), "pages/s")
}

func firstFailure(res indicator.Result) string {
	if len(res.Failures) == 0 {
		return ""
	}
	return fmt.Sprintf("%+v", res.Failures[0])
}
