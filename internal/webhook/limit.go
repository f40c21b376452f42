package webhook

import (
	"net"
	"sync"
	"time"
)

// limitKey is what failures are counted by: the address, or for IPv6 its
// /64, which one host usually has whole.
func limitKey(source string) string {
	ip := net.ParseIP(source)
	if ip == nil || ip.To4() != nil {
		return source
	}
	return ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
}

// failLimiter counts failed signature checks per source address in fixed
// windows; past the limit, the address gets 429 until the window ends.
// Its memory is bounded: at most maxSources addresses are tracked.
type failLimiter struct {
	limit  int
	window time.Duration
	mu     sync.Mutex
	counts map[string]*failCount
}

type failCount struct {
	n     int
	start time.Time
}

const maxSources = 10000

func newFailLimiter(limit int, window time.Duration) *failLimiter {
	return &failLimiter{limit: limit, window: window, counts: map[string]*failCount{}}
}

// blocked reports whether source has failed too often in this window.
func (l *failLimiter) blocked(source string, now time.Time) bool {
	source = limitKey(source)
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.counts[source]
	return c != nil && now.Sub(c.start) < l.window && c.n >= l.limit
}

// fail records a failed check.
func (l *failLimiter) fail(source string, now time.Time) {
	source = limitKey(source)
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.counts[source]
	if c == nil || now.Sub(c.start) >= l.window {
		if len(l.counts) >= maxSources {
			for k, v := range l.counts {
				if now.Sub(v.start) >= l.window {
					delete(l.counts, k)
				}
			}
			if len(l.counts) >= maxSources {
				clear(l.counts) // a flood from many addresses: start over rather than grow
			}
		}
		c = &failCount{start: now}
		l.counts[source] = c
	}
	c.n++
}
