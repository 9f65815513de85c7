// Command gcp-peer serves the xdscp benchmark fleet through go-control-plane's server and one
// of its caches (snapshot or linear), behind the same control surface as the xdscp harness.
// With -publish-bench it times building and publishing the fleet instead, prints JSON, exits.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"runtime"
	"time"

	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	server "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
)

// A delta reconnect names every resource version it holds: allow far more than 4 MiB.
const maxMessageBytes = 64 << 20

type options struct {
	n               int
	cacheKind       string
	listenerAddress string
	listenerPort    uint
	xdsAddress      string
	controlAddress  string
	readyFile       string
	publishBench    int
}

func main() {
	var o options
	flag.IntVar(&o.n, "n", 1000, "services in the fleet")
	flag.StringVar(&o.cacheKind, "cache", "snapshot", "snapshot or linear")
	flag.StringVar(&o.listenerAddress, "listener-address", "127.0.0.1", "where the Gateway listener binds")
	flag.UintVar(&o.listenerPort, "listener-port", 10080, "the Gateway listener's port")
	flag.StringVar(&o.xdsAddress, "xds-address", "127.0.0.1:0", "gRPC ADS address")
	flag.StringVar(&o.controlAddress, "control-address", "127.0.0.1:0", "control HTTP address")
	flag.StringVar(&o.readyFile, "ready-file", "", "write the bound ports here as JSON")
	flag.IntVar(&o.publishBench, "publish-bench", 0, "time publishing this many times, print JSON, exit")
	flag.Parse()
	if o.publishBench > 0 {
		must(json.NewEncoder(os.Stdout).Encode(publishBench(o)))
		return
	}
	must(serve(o))
}

func newPublisher(kind string) publisher {
	switch kind {
	case "snapshot":
		return newSnapshotPublisher()
	case "linear":
		return newLinearPublisher()
	}
	log.Fatalf("unknown cache %q", kind)
	return nil
}

func serve(o options) error {
	fleet := newFleet(o.n, o.listenerAddress, uint32(o.listenerPort))
	publisher := newPublisher(o.cacheKind)
	if err := publisher.publishAll(fleet); err != nil {
		return err
	}
	stats := newStats()
	xds := server.NewServer(context.Background(), publisher.cache(), stats.callbacks())
	grpcServer := grpc.NewServer(
		grpc.MaxRecvMsgSize(maxMessageBytes),
		grpc.MaxSendMsgSize(maxMessageBytes),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{PermitWithoutStream: true}),
	)
	discovery.RegisterAggregatedDiscoveryServiceServer(grpcServer, xds)
	xdsListener, err := net.Listen("tcp", o.xdsAddress)
	if err != nil {
		return err
	}
	controlListener, err := net.Listen("tcp", o.controlAddress)
	if err != nil {
		return err
	}
	c := &control{fleet: fleet, publisher: publisher, stats: stats}
	go func() { must(c.serve(controlListener)) }()
	if o.readyFile != "" {
		ready, _ := json.Marshal(map[string]int{
			"xds_port":     xdsListener.Addr().(*net.TCPAddr).Port,
			"control_port": controlListener.Addr().(*net.TCPAddr).Port,
		})
		if err := os.WriteFile(o.readyFile, ready, 0o644); err != nil {
			return err
		}
	}
	return grpcServer.Serve(xdsListener)
}

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// runtimeInfo reports GOMAXPROCS as the runtime sees it (the runner sets the variable).
func runtimeInfo() map[string]any {
	return map[string]any{"gomaxprocs": runtime.GOMAXPROCS(0), "go": runtime.Version()}
}

func seconds(d time.Duration) float64 { return d.Seconds() }
