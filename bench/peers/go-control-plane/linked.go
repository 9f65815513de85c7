package main

import (
	"sync"

	"github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
)

// linkedSnapshot versions each ClusterLoadAssignment by its content and its cluster's, as xdscp
// does: in delta, a changed cluster then gets its endpoints again and Envoy does not keep it
// warming for initial_fetch_timeout. This is the snapshot cache's ResourceSnapshot interface,
// the extension point go-control-plane offers for it.
type linkedSnapshot struct {
	*cache.Snapshot
	once      sync.Once
	err       error
	endpoints map[string]string
}

func newLinkedSnapshot(s *cache.Snapshot) *linkedSnapshot { return &linkedSnapshot{Snapshot: s} }

func (s *linkedSnapshot) ConstructVersionMap() error {
	s.once.Do(func() {
		if s.err = s.Snapshot.ConstructVersionMap(); s.err != nil {
			return
		}
		clusters := s.Snapshot.GetVersionMap(resource.ClusterType)
		own := s.Snapshot.GetVersionMap(resource.EndpointType)
		s.endpoints = make(map[string]string, len(own))
		for name, version := range own {
			s.endpoints[name] = cache.HashResource([]byte(version + clusters[name]))
		}
	})
	return s.err
}

func (s *linkedSnapshot) GetVersionMap(typeURL string) map[string]string {
	if typeURL == resource.EndpointType {
		return s.endpoints
	}
	return s.Snapshot.GetVersionMap(typeURL)
}
