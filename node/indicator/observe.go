package indicator

import (
	"sync"

	"github.com/kurier/kurier/node/index"
)

// Observer is told about every batch of object versions the service has
// committed (stored in a segment and indexed), in commit order, with their
// date_added. Federation uses it to send push notices to peers.
//
// It runs inside the write path with the service's lock held: it must
// return quickly, must not block, must not call back into the Service, and
// must not modify the entries.
type Observer func(entries []index.Entry)

// observers is the list of registered observers (copy on write).
type observers struct {
	mu  sync.Mutex
	fns []Observer
}

// Observe registers fn for every future commit.
func (s *Service) Observe(fn Observer) {
	if fn == nil {
		return
	}
	s.obs.mu.Lock()
	defer s.obs.mu.Unlock()
	fns := make([]Observer, 0, len(s.obs.fns)+1)
	fns = append(fns, s.obs.fns...)
	s.obs.fns = append(fns, fn)
}

func (o *observers) notify(entries []index.Entry) {
	o.mu.Lock()
	fns := o.fns
	o.mu.Unlock()
	for _, fn := range fns {
		fn(entries)
	}
}
