package localcluster

import (
	"sync"

	"github.com/zerodrop/zerodrop/internal/localcluster/vnode"
)

// eventHub fans pod events out to subscribers without dropping any: each
// subscriber has an unbounded queue drained by its own goroutine.
type eventHub struct {
	mu     sync.Mutex
	subs   map[*subscriber]struct{}
	closed bool
}

type subscriber struct {
	mu     sync.Mutex
	queue  []vnode.Event
	wake   chan struct{}
	out    chan vnode.Event
	cancel chan struct{}
	once   sync.Once
}

func newEventHub() *eventHub { return &eventHub{subs: map[*subscriber]struct{}{}} }

func (h *eventHub) subscribe() (<-chan vnode.Event, func()) {
	s := &subscriber{wake: make(chan struct{}, 1), out: make(chan vnode.Event), cancel: make(chan struct{})}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		close(s.out)
		return s.out, func() {}
	}
	h.subs[s] = struct{}{}
	h.mu.Unlock()
	go s.pump()
	return s.out, func() {
		h.mu.Lock()
		delete(h.subs, s)
		h.mu.Unlock()
		s.stop()
	}
}

func (h *eventHub) publish(e vnode.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		s.mu.Lock()
		s.queue = append(s.queue, e)
		s.mu.Unlock()
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

// close ends every subscription after its queued events are delivered or
// the subscriber cancels.
func (h *eventHub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for s := range h.subs {
		s.mu.Lock()
		s.queue = append(s.queue, vnode.Event{Type: eventHubClosed})
		s.mu.Unlock()
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
	h.subs = map[*subscriber]struct{}{}
}

// eventHubClosed is an internal marker that ends a subscriber's pump.
const eventHubClosed vnode.EventType = "zerodrop.dev/hub-closed"

func (s *subscriber) stop() { s.once.Do(func() { close(s.cancel) }) }

func (s *subscriber) pump() {
	defer close(s.out)
	for {
		s.mu.Lock()
		batch := s.queue
		s.queue = nil
		s.mu.Unlock()
		for _, e := range batch {
			if e.Type == eventHubClosed {
				return
			}
			select {
			case s.out <- e:
			case <-s.cancel:
				return
			}
		}
		select {
		case <-s.wake:
		case <-s.cancel:
			return
		}
	}
}
