package main

// The benchmark fleet as Envoy messages, built the way xdscp translates bench/fleet.py: one EDS
// cluster with a keepalive policy and one ClusterLoadAssignment per Service, one listener and
// its route configuration. The bytes must match xdscp's; the runner compares their hashes.

import (
	"fmt"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	router "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

const (
	namespace     = "bench"
	servicePort   = 8080
	host          = "bench.example.com"
	keepaliveTime = 30
	listenerName  = "bench/bench/http"
)

func clusterName(i int) string {
	return fmt.Sprintf("kube_%s_svc-%05d_%d", namespace, i, servicePort)
}

func endpointAddress(i int) string {
	return fmt.Sprintf("127.1.%d.%d", i/250, i%250+1)
}

func ads() *core.ConfigSource {
	return &core.ConfigSource{
		ConfigSourceSpecifier: &core.ConfigSource_Ads{Ads: &core.AggregatedConfigSource{}},
		ResourceApiVersion:    core.ApiVersion_V3,
	}
}

func socketAddress(address string, port uint32) *core.Address {
	return &core.Address{Address: &core.Address_SocketAddress{SocketAddress: &core.SocketAddress{
		Address:       address,
		PortSpecifier: &core.SocketAddress_PortValue{PortValue: port},
	}}}
}

func buildCluster(i, generation int) *cluster.Cluster {
	return &cluster.Cluster{
		Name:                 clusterName(i),
		ClusterDiscoveryType: &cluster.Cluster_Type{Type: cluster.Cluster_EDS},
		EdsClusterConfig:     &cluster.Cluster_EdsClusterConfig{EdsConfig: ads()},
		ConnectTimeout:       durationpb.New(5e9),
		Metadata:             &core.Metadata{},
		UpstreamConnectionOptions: &cluster.UpstreamConnectionOptions{
			TcpKeepalive: &core.TcpKeepalive{
				KeepaliveProbes:   wrapperspb.UInt32(3),
				KeepaliveTime:     wrapperspb.UInt32(uint32(keepaliveTime + generation)),
				KeepaliveInterval: wrapperspb.UInt32(5),
			},
		},
	}
}

func buildLoadAssignment(i int) *endpoint.ClusterLoadAssignment {
	return &endpoint.ClusterLoadAssignment{
		ClusterName: clusterName(i),
		Endpoints: []*endpoint.LocalityLbEndpoints{{
			LbEndpoints: []*endpoint.LbEndpoint{{
				HostIdentifier: &endpoint.LbEndpoint_Endpoint{Endpoint: &endpoint.Endpoint{
					Address: socketAddress(endpointAddress(i), servicePort),
				}},
				HealthStatus: core.HealthStatus_HEALTHY,
			}},
			// A locality weighs as many as its ready endpoints, as xdscp writes it.
			LoadBalancingWeight: wrapperspb.UInt32(1),
		}},
	}
}

func mustPack(message proto.Message) *anypb.Any {
	packed, err := anypb.New(message)
	if err != nil {
		panic(err)
	}
	return packed
}

func buildListener(address string, port uint32) *listener.Listener {
	manager := &hcm.HttpConnectionManager{
		StatPrefix: "bench_bench_http",
		RouteSpecifier: &hcm.HttpConnectionManager_Rds{Rds: &hcm.Rds{
			ConfigSource: ads(), RouteConfigName: listenerName,
		}},
		HttpFilters: []*hcm.HttpFilter{{
			Name:       "envoy.filters.http.router",
			ConfigType: &hcm.HttpFilter_TypedConfig{TypedConfig: mustPack(&router.Router{})},
		}},
	}
	return &listener.Listener{
		Name:    listenerName,
		Address: socketAddress(address, port),
		FilterChains: []*listener.FilterChain{{Filters: []*listener.Filter{{
			Name:       "envoy.filters.network.http_connection_manager",
			ConfigType: &listener.Filter_TypedConfig{TypedConfig: mustPack(manager)},
		}}}},
	}
}

func buildRoute() *route.RouteConfiguration {
	return &route.RouteConfiguration{
		Name: listenerName,
		VirtualHosts: []*route.VirtualHost{{
			Name:    listenerName + "/" + host,
			Domains: []string{host},
			Routes: []*route.Route{{
				Match: &route.RouteMatch{PathSpecifier: &route.RouteMatch_Prefix{Prefix: "/"}},
				Action: &route.Route_Route{Route: &route.RouteAction{
					ClusterSpecifier: &route.RouteAction_Cluster{Cluster: clusterName(0)},
				}},
			}},
		}},
		// As xdscp writes every Gateway's routes: a Host header's port does not decide.
		IgnorePortInHostMatching: true,
	}
}
