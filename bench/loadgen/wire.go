package main

// Just enough of the xDS wire format to subscribe and ACK like Envoy, without decoding the
// resources: field numbers from envoy/service/discovery/v3/discovery.proto.

import (
	"google.golang.org/protobuf/encoding/protowire"
)

const (
	clusterType  = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
	endpointType = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"
)

// response is a DiscoveryResponse or DeltaDiscoveryResponse, its resources left encoded.
type response struct {
	typeURL   string
	version   string
	nonce     string
	resources [][]byte // Any (state of the world) or Resource (delta)
}

func parseResponse(frame []byte) (response, error) {
	var r response
	for len(frame) > 0 {
		number, kind, n := protowire.ConsumeTag(frame)
		if n < 0 {
			return r, protowire.ParseError(n)
		}
		frame = frame[n:]
		if kind != protowire.BytesType {
			n = protowire.ConsumeFieldValue(number, kind, frame)
			if n < 0 {
				return r, protowire.ParseError(n)
			}
			frame = frame[n:]
			continue
		}
		value, n := protowire.ConsumeBytes(frame)
		if n < 0 {
			return r, protowire.ParseError(n)
		}
		frame = frame[n:]
		switch number {
		case 1:
			r.version = string(value)
		case 2:
			r.resources = append(r.resources, value)
		case 4:
			r.typeURL = string(value)
		case 5:
			r.nonce = string(value)
		}
	}
	return r, nil
}

// field returns the first length-delimited field `number` of a message.
func field(message []byte, number protowire.Number) []byte {
	for len(message) > 0 {
		got, kind, n := protowire.ConsumeTag(message)
		if n < 0 {
			return nil
		}
		message = message[n:]
		n = protowire.ConsumeFieldValue(got, kind, message)
		if n < 0 {
			return nil
		}
		if got == number && kind == protowire.BytesType {
			value, _ := protowire.ConsumeBytes(message)
			return value
		}
		message = message[n:]
	}
	return nil
}

// resourceName is a cluster's name: Any.value (2) -> Cluster.name (1), or Resource.name (3).
func resourceName(resource []byte, delta bool) string {
	if delta {
		return string(field(resource, 3))
	}
	return string(field(field(resource, 2), 1))
}

func appendString(b []byte, number protowire.Number, value string) []byte {
	if value == "" {
		return b
	}
	b = protowire.AppendTag(b, number, protowire.BytesType)
	return protowire.AppendString(b, value)
}

func node(id string) []byte {
	return appendString(appendString(nil, 1, id), 2, "loadgen")
}

// sotwRequest is a DiscoveryRequest: version_info 1, node 2, resource_names 3, type_url 4,
// response_nonce 5.
func sotwRequest(nodeID, typeURL, version, nonce string, names []string) []byte {
	b := appendString(nil, 1, version)
	if nodeID != "" {
		b = protowire.AppendTag(b, 2, protowire.BytesType)
		b = protowire.AppendBytes(b, node(nodeID))
	}
	for _, name := range names {
		b = appendString(b, 3, name)
	}
	b = appendString(b, 4, typeURL)
	return appendString(b, 5, nonce)
}

// deltaRequest is a DeltaDiscoveryRequest: node 1, type_url 2, resource_names_subscribe 3,
// response_nonce 6.
func deltaRequest(nodeID, typeURL, nonce string, subscribe []string) []byte {
	var b []byte
	if nodeID != "" {
		b = protowire.AppendTag(b, 1, protowire.BytesType)
		b = protowire.AppendBytes(b, node(nodeID))
	}
	b = appendString(b, 2, typeURL)
	for _, name := range subscribe {
		b = appendString(b, 3, name)
	}
	return appendString(b, 6, nonce)
}
