package main

import (
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
)

// Fleet holds the current Envoy message of every resource; a change rebuilds one cluster.
type Fleet struct {
	generation  []int
	clusters    []types.Resource
	assignments []types.Resource
	listeners   []types.Resource
	routes      []types.Resource
}

func newFleet(n int, listenerAddress string, listenerPort uint32) *Fleet {
	f := &Fleet{
		generation:  make([]int, n),
		clusters:    make([]types.Resource, n),
		assignments: make([]types.Resource, n),
		listeners:   []types.Resource{buildListener(listenerAddress, listenerPort)},
		routes:      []types.Resource{buildRoute()},
	}
	for i := range n {
		f.clusters[i] = buildCluster(i, 0)
		f.assignments[i] = buildLoadAssignment(i)
	}
	return f
}

// change gives cluster i a new keepalive time, as saving policy i does in xdscp.
func (f *Fleet) change(i int) {
	f.generation[i]++
	f.clusters[i] = buildCluster(i, f.generation[i])
}

func (f *Fleet) byType() map[resource.Type][]types.Resource {
	return map[resource.Type][]types.Resource{
		resource.ClusterType:  f.clusters,
		resource.EndpointType: f.assignments,
		resource.ListenerType: f.listeners,
		resource.RouteType:    f.routes,
	}
}
