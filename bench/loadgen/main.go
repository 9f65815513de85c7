// Command loadgen opens many ADS streams to one server on loopback, subscribes each like
// Envoy, waits until all are in sync, asks the server (POST /change) to change one cluster,
// and reports when every stream had it. It is bounded in streams and time and stops by itself.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"sort"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

const (
	maxStreams = 5000
	maxMessage = 512 << 20
)

type options struct {
	xds, control  string
	streams       int
	channels      int
	syncing       int
	delta         bool
	change        int
	deadline      time.Duration
	changeTimeout time.Duration
}

func main() {
	var o options
	flag.StringVar(&o.xds, "xds", "127.0.0.1:18000", "the server's ADS address (loopback only)")
	flag.StringVar(&o.control, "control", "", "the server's control surface, http://127.0.0.1:PORT")
	flag.IntVar(&o.streams, "streams", 1000, "ADS streams")
	flag.IntVar(&o.channels, "channels", 20, "HTTP/2 connections the streams share")
	flag.IntVar(&o.syncing, "syncing", 100, "streams opened but not yet in sync, at most")
	flag.BoolVar(&o.delta, "delta", false, "incremental xDS instead of state of the world")
	flag.IntVar(&o.change, "change", 1, "the cluster to change")
	flag.DurationVar(&o.deadline, "deadline", 3*time.Minute, "the whole run")
	flag.DurationVar(&o.changeTimeout, "change-timeout", 60*time.Second, "for every stream to have the change")
	flag.Parse()
	report, err := run(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
	_ = json.NewEncoder(os.Stdout).Encode(report)
}

func loopback(address string) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("%s is not a loopback address", address)
	}
	return nil
}

func run(o options) (map[string]any, error) {
	control, err := url.Parse(o.control)
	if err != nil {
		return nil, err
	}
	for _, address := range []string{o.xds, control.Host} {
		if err := loopback(address); err != nil {
			return nil, err
		}
	}
	if o.streams < 1 || o.streams > maxStreams || o.channels < 1 {
		return nil, fmt.Errorf("streams must be 1..%d and channels at least 1", maxStreams)
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.deadline)
	defer cancel()
	conns := make([]*grpc.ClientConn, o.channels)
	for i := range conns {
		conn, err := grpc.NewClient(o.xds,
			grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxMessage), grpc.MaxCallSendMsgSize(maxMessage)),
		)
		if err != nil {
			return nil, err
		}
		defer conn.Close()
		conns[i] = conn
	}
	c := &clock{}
	streams := make([]*stream, o.streams)
	started := time.Now()
	// Streams open in a rolling window: a server that accepts calls slowly is not made to
	// cancel them (gRPC core drops calls left unaccepted for 30 s); sync time is reported.
	window := make(chan struct{}, o.syncing)
	for i := range streams {
		streams[i] = newStream(i, o.delta, c)
	}
	go func() {
		for i, s := range streams {
			select {
			case window <- struct{}{}:
			case <-ctx.Done():
				return
			}
			go func() { <-s.syncedCh; <-window }()
			go s.run(ctx, conns[i%o.channels])
		}
	}()
	for _, s := range streams {
		select {
		case <-s.syncedCh:
		case <-ctx.Done():
			return nil, errors.New("streams did not sync before the deadline")
		}
		if s.err != nil {
			return nil, fmt.Errorf("stream %d: %w", s.id, s.err)
		}
	}
	syncSeconds := time.Since(started).Seconds()
	quiet(c, 300*time.Millisecond, 10*time.Second)
	before, err := getJSON(o.control + "/stats")
	if err != nil {
		return nil, err
	}
	c.changeStarted.Store(time.Now().UnixNano())
	changed, err := postJSON(fmt.Sprintf("%s/change?i=%d", o.control, o.change))
	if err != nil {
		return nil, err
	}
	clusters, both := waitAll(streams, c, c.changeStarted.Load(), o.changeTimeout)
	after, err := getJSON(o.control + "/stats")
	if err != nil {
		return nil, err
	}
	var bytes, resources int64
	for _, s := range streams {
		bytes += s.bytes.Load()
		resources += s.resources.Load()
	}
	return map[string]any{
		"streams":              o.streams,
		"channels":             o.channels,
		"syncing":              o.syncing,
		"delta":                o.delta,
		"sync_seconds":         syncSeconds,
		"received":             len(both),
		"latency_ms":           summary(both),
		"received_clusters":    len(clusters),
		"clusters_latency_ms":  summary(clusters),
		"publish_seconds":      changed["publish_seconds"],
		"bytes_per_stream":     bytes / int64(o.streams),
		"resources_per_stream": float64(resources) / float64(o.streams),
		"server_before":        before,
		"server_after":         after,
	}, nil
}

// quiet waits until no stream has received anything for `still`, at most `limit`.
func quiet(c *clock, still, limit time.Duration) {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if time.Since(time.Unix(0, c.lastReceived.Load())) >= still {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitAll waits until every stream has the changed clusters and endpoints, or has had the
// clusters and nothing more for five seconds (a server may never resend the endpoints), or the
// timeout. It returns, in milliseconds after `start`, when each stream had the clusters, and
// when it had both.
func waitAll(streams []*stream, c *clock, start int64, timeout time.Duration) (clusters, both []float64) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		withClusters, withBoth := 0, 0
		for _, s := range streams {
			if s.clustersAt.Load() != 0 {
				withClusters++
			}
			if s.received() != 0 {
				withBoth++
			}
		}
		idle := time.Since(time.Unix(0, c.lastReceived.Load())) > 5*time.Second
		if withBoth == len(streams) || (withClusters == len(streams) && idle) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	for _, s := range streams {
		if at := s.clustersAt.Load(); at != 0 {
			clusters = append(clusters, float64(at-start)/1e6)
		}
		if at := s.received(); at != 0 {
			both = append(both, float64(at-start)/1e6)
		}
	}
	sort.Float64s(clusters)
	sort.Float64s(both)
	return clusters, both
}

func summary(sorted []float64) map[string]float64 {
	if len(sorted) == 0 {
		return nil
	}
	at := func(q float64) float64 { return sorted[min(len(sorted)-1, int(q*float64(len(sorted))))] }
	return map[string]float64{"p50": at(0.5), "p99": at(0.99), "last": sorted[len(sorted)-1]}
}

func getJSON(url string) (map[string]any, error) { return decode(http.Get(url)) }

func postJSON(url string) (map[string]any, error) { return decode(http.Post(url, "", nil)) }

func decode(response *http.Response, err error) (map[string]any, error) {
	if err != nil {
		return nil, err
	}
	defer response.Body.Close()
	if response.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", response.Request.URL, response.Status)
	}
	var out map[string]any
	return out, json.NewDecoder(response.Body).Decode(&out)
}
