package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	server "github.com/envoyproxy/go-control-plane/pkg/server/v3"
)

var shortNames = map[string]string{
	resource.ClusterType:  "cds",
	resource.EndpointType: "eds",
	resource.ListenerType: "lds",
	resource.RouteType:    "rds",
}

// Stats counts what /stats reports, from go-control-plane's server callbacks.
type Stats struct {
	mu             sync.Mutex
	streams        int
	acks           map[string]int
	nacks          map[string]int
	lastAckNs      map[string]int64
	lastAckVersion map[string]string
	deltaVersions  map[string]string // stream/nonce -> system version, until answered
}

func newStats() *Stats {
	return &Stats{
		acks:           map[string]int{},
		nacks:          map[string]int{},
		lastAckNs:      map[string]int64{},
		lastAckVersion: map[string]string{},
		deltaVersions:  map[string]string{},
	}
}

func (s *Stats) answer(typeURL, version string, nack bool) {
	short := shortNames[typeURL]
	if nack {
		s.nacks[short]++
		return
	}
	s.acks[short]++
	s.lastAckNs[short] = time.Now().UnixNano()
	s.lastAckVersion[short] = version
}

func (s *Stats) open(context.Context, int64, string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.streams++
	return nil
}

func (s *Stats) closed(int64, *core.Node) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.streams--
}

func (s *Stats) callbacks() server.Callbacks {
	return server.CallbackFuncs{
		StreamOpenFunc:        s.open,
		StreamClosedFunc:      s.closed,
		DeltaStreamOpenFunc:   s.open,
		DeltaStreamClosedFunc: s.closed,
		StreamRequestFunc: func(_ int64, r *discovery.DiscoveryRequest) error {
			if r.GetResponseNonce() != "" {
				s.mu.Lock()
				defer s.mu.Unlock()
				s.answer(r.GetTypeUrl(), r.GetVersionInfo(), r.GetErrorDetail() != nil)
			}
			return nil
		},
		StreamDeltaResponseFunc: func(id int64, _ *discovery.DeltaDiscoveryRequest, r *discovery.DeltaDiscoveryResponse) {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.deltaVersions[fmt.Sprint(id, "/", r.GetNonce())] = r.GetSystemVersionInfo()
		},
		StreamDeltaRequestFunc: func(id int64, r *discovery.DeltaDiscoveryRequest) error {
			key := fmt.Sprint(id, "/", r.GetResponseNonce())
			s.mu.Lock()
			defer s.mu.Unlock()
			if version, ok := s.deltaVersions[key]; ok {
				delete(s.deltaVersions, key)
				s.answer(r.GetTypeUrl(), version, r.GetErrorDetail() != nil)
			}
			return nil
		},
	}
}

func (s *Stats) report() map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	rss, hwm := memory()
	return map[string]any{
		"streams":          s.streams,
		"acks":             copyMap(s.acks),
		"nacks":            copyMap(s.nacks),
		"last_ack_ns":      copyMap(s.lastAckNs),
		"last_ack_version": copyMap(s.lastAckVersion),
		"rss_bytes":        rss,
		"hwm_bytes":        hwm,
		"cpu_seconds":      cpuSeconds(),
	}
}

func copyMap[V any](m map[string]V) map[string]V {
	out := make(map[string]V, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func cpuSeconds() float64 {
	var usage syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &usage); err != nil {
		return 0
	}
	seconds := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return seconds(usage.Utime) + seconds(usage.Stime)
}

// memory returns the resident set and its high-water mark, in bytes, from /proc/self/status.
func memory() (rss, hwm int64) {
	file, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, 0
	}
	defer file.Close()
	scanner := bufio.NewScanner(file)
	for scanner.Scan() {
		fields := strings.Fields(scanner.Text())
		if len(fields) < 2 {
			continue
		}
		kib, _ := strconv.ParseInt(fields[1], 10, 64)
		switch fields[0] {
		case "VmRSS:":
			rss = kib * 1024
		case "VmHWM:":
			hwm = kib * 1024
		}
	}
	return rss, hwm
}
