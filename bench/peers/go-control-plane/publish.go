package main

import (
	"context"
	"strconv"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
)

// publisher puts the fleet into one of go-control-plane's caches.
type publisher interface {
	cache() cache.Cache
	publishAll(f *Fleet) error
	publishChange(f *Fleet, i int) error
	version(typeURL string) string
}

const group = "fleet"

// oneGroup serves every Envoy the same snapshot, as xdscp does.
type oneGroup struct{}

func (oneGroup) ID(*core.Node) string { return group }

// snapshotPublisher uses the snapshot cache, one version per type, bumped when the type changes.
type snapshotPublisher struct {
	snapshots cache.SnapshotCache
	versions  map[string]int
}

func newSnapshotPublisher() *snapshotPublisher {
	return &snapshotPublisher{
		snapshots: cache.NewSnapshotCache(true, oneGroup{}, nil),
		versions:  map[string]int{},
	}
}

func (p *snapshotPublisher) cache() cache.Cache { return p.snapshots }

func (p *snapshotPublisher) version(typeURL string) string {
	return strconv.Itoa(p.versions[typeURL])
}

func (p *snapshotPublisher) publish(f *Fleet, changed ...string) error {
	for _, typeURL := range changed {
		p.versions[typeURL]++
	}
	snapshot := &cache.Snapshot{}
	for typeURL, items := range f.byType() {
		snapshot.Resources[cache.GetResponseType(typeURL)] = cache.NewResources(p.version(typeURL), items)
	}
	if err := snapshot.Consistent(); err != nil {
		return err
	}
	return p.snapshots.SetSnapshot(context.Background(), group, newLinkedSnapshot(snapshot))
}

func (p *snapshotPublisher) publishAll(f *Fleet) error {
	return p.publish(f, resource.ClusterType, resource.EndpointType, resource.ListenerType, resource.RouteType)
}

func (p *snapshotPublisher) publishChange(f *Fleet, _ int) error {
	return p.publish(f, resource.ClusterType, resource.EndpointType)
}

// linearPublisher uses one linear cache per type, muxed by type URL. Each linear cache counts
// its updates as its version; updates mirrors those counts for /stats.
type linearPublisher struct {
	linear  map[string]*cache.LinearCache
	mux     *cache.MuxCache
	updates map[string]int
}

func newLinearPublisher() *linearPublisher {
	p := &linearPublisher{linear: map[string]*cache.LinearCache{}, updates: map[string]int{}}
	caches := map[string]cache.Cache{}
	for _, typeURL := range []string{resource.ClusterType, resource.EndpointType, resource.ListenerType, resource.RouteType} {
		p.linear[typeURL] = cache.NewLinearCache(typeURL)
		caches[typeURL] = p.linear[typeURL]
	}
	p.mux = &cache.MuxCache{
		Classify:      func(r *cache.Request) string { return r.GetTypeUrl() },
		ClassifyDelta: func(r *cache.DeltaRequest) string { return r.GetTypeUrl() },
		Caches:        caches,
	}
	return p
}

func (p *linearPublisher) cache() cache.Cache { return p.mux }

func (p *linearPublisher) version(typeURL string) string { return strconv.Itoa(p.updates[typeURL]) }

func (p *linearPublisher) publishAll(f *Fleet) error {
	for typeURL, items := range f.byType() {
		byName := make(map[string]types.Resource, len(items))
		for _, item := range items {
			byName[cache.GetResourceName(item)] = item
		}
		p.linear[typeURL].SetResources(byName)
		p.updates[typeURL]++
	}
	return nil
}

// publishChange sets the changed cluster, then its endpoints again: Envoy warms a changed
// cluster until it gets them. In delta the linear cache versions a resource by its content, so
// the unchanged ClusterLoadAssignment is not resent (see bench/README.md).
func (p *linearPublisher) publishChange(f *Fleet, i int) error {
	name := clusterName(i)
	p.updates[resource.ClusterType]++
	p.updates[resource.EndpointType]++
	if err := p.linear[resource.ClusterType].UpdateResource(name, f.clusters[i]); err != nil {
		return err
	}
	return p.linear[resource.EndpointType].UpdateResource(name, f.assignments[i])
}
