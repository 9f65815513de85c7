package main

import (
	"sort"
	"time"

	"github.com/envoyproxy/go-control-plane/pkg/cache/v3"
)

// publishBench times what xdscp's Snapshot.build is compared with: build every message, hand
// them to the cache, and serialize and hash each once (what the cache does, lazily, on the
// first delta response; a state-of-the-world response marshals again per stream).
func publishBench(o options) map[string]any {
	var build, set, serialize, total, change []float64
	startRSS, _ := memory()
	for range o.publishBench {
		started := time.Now()
		fleet := newFleet(o.n, o.listenerAddress, uint32(o.listenerPort))
		built := time.Now()
		p := newPublisher(o.cacheKind)
		must(p.publishAll(fleet))
		published := time.Now()
		for _, items := range fleet.byType() {
			for _, item := range items {
				body, err := cache.MarshalResource(item)
				must(err)
				_ = cache.HashResource(body)
			}
		}
		done := time.Now()
		build = append(build, seconds(built.Sub(started)))
		set = append(set, seconds(published.Sub(built)))
		serialize = append(serialize, seconds(done.Sub(published)))
		total = append(total, seconds(done.Sub(started)))
		for k := range 5 {
			i := (k*7919 + o.n/2) % o.n
			changed := time.Now()
			fleet.change(i)
			must(p.publishChange(fleet, i))
			if s, ok := p.(*snapshotPublisher); ok {
				snapshot, err := s.snapshots.GetSnapshot(group)
				must(err)
				must(snapshot.ConstructVersionMap())
			}
			change = append(change, seconds(time.Since(changed)))
		}
	}
	_, hwm := memory()
	return map[string]any{
		"n":                     o.n,
		"cache":                 o.cacheKind,
		"runtime":               runtimeInfo(),
		"build_seconds":         median(build),
		"set_seconds":           median(set),
		"serialize_seconds":     median(serialize),
		"publish_seconds":       median(total),
		"publish_seconds_min":   minimum(total),
		"change_seconds":        median(change),
		"peak_rss_growth_bytes": hwm - startRSS,
	}
}

func median(values []float64) float64 {
	sorted := append([]float64(nil), values...)
	sort.Float64s(sorted)
	return sorted[len(sorted)/2]
}

func minimum(values []float64) float64 {
	sorted := append([]float64(nil), values...)
	sort.Float64s(sorted)
	return sorted[0]
}
