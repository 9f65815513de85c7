package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
)

const service = "/envoy.service.discovery.v3.AggregatedDiscoveryService/"

// rawCodec passes frames through as bytes: the load generator decodes only what it needs.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return *(v.(*[]byte)), nil }
func (rawCodec) Unmarshal(data []byte, v any) error {
	*(v.(*[]byte)) = data
	return nil
}
func (rawCodec) Name() string { return "raw" }

// clock is shared by all streams: when the change started (0: not yet) and the last receipt.
type clock struct {
	changeStarted atomic.Int64
	lastReceived  atomic.Int64
}

// stream subscribes like Envoy (all clusters, then their endpoints) and ACKs every response.
type stream struct {
	id       int
	delta    bool
	clock    *clock
	synced   sync.Once
	syncedCh chan struct{}
	// After the change: when clusters and endpoints first arrived, and what was received.
	clustersAt, endpointsAt atomic.Int64
	bytes, resources        atomic.Int64
	err                     error
}

func newStream(id int, delta bool, c *clock) *stream {
	return &stream{id: id, delta: delta, clock: c, syncedCh: make(chan struct{})}
}

func (s *stream) run(ctx context.Context, conn *grpc.ClientConn) {
	defer s.synced.Do(func() { close(s.syncedCh) })
	method := service + "StreamAggregatedResources"
	if s.delta {
		method = service + "DeltaAggregatedResources"
	}
	desc := &grpc.StreamDesc{ServerStreams: true, ClientStreams: true}
	call, err := conn.NewStream(ctx, desc, method, grpc.ForceCodec(rawCodec{}))
	if err != nil {
		s.err = err
		return
	}
	nodeID := fmt.Sprintf("loadgen-%d", s.id)
	names := map[string][]string{}
	send := func(frame []byte) error { return call.SendMsg(&frame) }
	if s.delta {
		err = send(deltaRequest(nodeID, clusterType, "", nil))
	} else {
		err = send(sotwRequest(nodeID, clusterType, "", "", nil))
	}
	for err == nil {
		var frame []byte
		if err = call.RecvMsg(&frame); err != nil {
			break
		}
		now := time.Now().UnixNano()
		s.clock.lastReceived.Store(now)
		var r response
		if r, err = parseResponse(frame); err != nil {
			break
		}
		s.record(r, len(frame), now)
		first := false
		if r.typeURL == clusterType && names[endpointType] == nil {
			first = true
			for _, resource := range r.resources {
				names[endpointType] = append(names[endpointType], resourceName(resource, s.delta))
			}
		}
		if s.delta {
			err = send(deltaRequest("", r.typeURL, r.nonce, nil))
		} else {
			err = send(sotwRequest("", r.typeURL, r.version, r.nonce, names[r.typeURL]))
		}
		if err == nil && first {
			if s.delta {
				err = send(deltaRequest("", endpointType, "", names[endpointType]))
			} else {
				err = send(sotwRequest("", endpointType, "", "", names[endpointType]))
			}
		}
		if r.typeURL == endpointType {
			s.synced.Do(func() { close(s.syncedCh) })
		}
	}
	if ctx.Err() == nil {
		s.err = err
	}
}

func (s *stream) record(r response, size int, now int64) {
	started := s.clock.changeStarted.Load()
	if started == 0 {
		return
	}
	s.bytes.Add(int64(size))
	s.resources.Add(int64(len(r.resources)))
	switch r.typeURL {
	case clusterType:
		s.clustersAt.CompareAndSwap(0, now)
	case endpointType:
		s.endpointsAt.CompareAndSwap(0, now)
	}
}

// received is when the stream had both the changed clusters and endpoints (0: not yet).
func (s *stream) received() int64 {
	clusters, endpoints := s.clustersAt.Load(), s.endpointsAt.Load()
	if clusters == 0 || endpoints == 0 {
		return 0
	}
	return max(clusters, endpoints)
}
