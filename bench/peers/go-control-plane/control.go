package main

import (
	"encoding/json"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// control is the bench's HTTP surface, the same as bench/harness_xdscp.py serves:
// POST /change?i=K and GET /stats.
type control struct {
	mu        sync.Mutex
	fleet     *Fleet
	publisher publisher
	stats     *Stats
}

func (c *control) serve(listener net.Listener) error {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /change", c.change)
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, _ *http.Request) {
		c.mu.Lock()
		versions := c.versions()
		c.mu.Unlock()
		report := c.stats.report()
		report["versions"] = versions
		writeJSON(w, report)
	})
	return http.Serve(listener, mux)
}

func (c *control) versions() map[string]string {
	out := map[string]string{}
	for typeURL, short := range shortNames {
		out[short] = c.publisher.version(typeURL)
	}
	return out
}

func (c *control) change(w http.ResponseWriter, r *http.Request) {
	i, err := strconv.Atoi(r.URL.Query().Get("i"))
	if err != nil || i < 0 || i >= len(c.fleet.clusters) {
		http.Error(w, "i: a cluster index", http.StatusBadRequest)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	started := time.Now()
	c.fleet.change(i)
	if err := c.publisher.publishChange(c.fleet, i); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	writeJSON(w, map[string]any{
		"publish_seconds": time.Since(started).Seconds(),
		"versions":        c.versions(),
	})
}

func writeJSON(w http.ResponseWriter, value any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(value)
}
