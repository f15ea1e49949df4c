package audit

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kurier/kurier/node/store"
	fsstore "github.com/kurier/kurier/node/store/fs"
	"github.com/kurier/kurier/node/store/miniotest"
	s3store "github.com/kurier/kurier/node/store/s3"
)

// TestEntriesLocked: in a bucket with Object Lock every entry is under
// governance retention for the configured time: deleting its version
// fails, overwriting it fails, and the entry reads back unchanged (on both
// drivers). Without a retention a plain bucket works as before.
func TestEntriesLocked(t *testing.T) {
	drivers := map[string]func(t *testing.T) store.Store{
		"fs": func(t *testing.T) store.Store {
			st, err := fsstore.New(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			return st
		},
		"S3": func(t *testing.T) store.Store {
			srv := miniotest.Start(t)
			st, err := s3store.New(s3store.Config{Endpoint: srv.Endpoint, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, Region: "us-east-1"})
			if err != nil {
				t.Fatal(err)
			}
			return st
		},
	}
	for name, open := range drivers {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			st := open(t)
			if err := st.EnsureBucket(ctx, "evidence", true); err != nil {
				t.Fatal(err)
			}
			b := st.Bucket("evidence")
			log := New(b, 30*24*time.Hour)
			now := time.Now().UTC().Truncate(time.Second)
			if err := log.Record(ctx, Event{Time: now, Actor: "alice", Action: "POST /api/v1/indicators", Status: 201}); err != nil {
				t.Fatal(err)
			}
			var key string
			for info, err := range b.List(ctx, Prefix, "") {
				if err != nil {
					t.Fatal(err)
				}
				key = info.Key
			}
			if key == "" {
				t.Fatal("no entry stored")
			}
			vs, err := b.Versions(ctx, key)
			if err != nil || len(vs) != 1 {
				t.Fatalf("versions: %v %v", vs, err)
			}
			ret, err := b.GetRetention(ctx, key, vs[0].VersionID)
			if err != nil {
				t.Fatal(err)
			}
			if ret == nil || ret.Mode != store.Governance || ret.Until.Before(now.Add(29*24*time.Hour)) {
				t.Fatalf("entry retention: %+v", ret)
			}
			if err := b.Delete(ctx, key, store.DeleteOptions{VersionID: vs[0].VersionID}); !errors.Is(err, store.ErrLocked) {
				t.Fatalf("deleting a locked audit entry: %v", err)
			}
			if _, err := b.Put(ctx, key, strings.NewReader("{}"), store.PutOptions{IfAbsent: true, Size: 2}); !errors.Is(err, store.ErrExists) {
				t.Fatalf("overwriting an audit entry: %v", err)
			}
			var got []Event
			for e, err := range log.Events(ctx, time.Time{}) {
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, e)
			}
			if len(got) != 1 || got[0].Actor != "alice" {
				t.Fatalf("entries after the attempts: %+v", got)
			}
		})
	}
}
