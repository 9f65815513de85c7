"""Benchmarks for xdscp beside a floor (raw protobuf) and a peer (go-control-plane).

`python -m bench.run` runs them; `make bench` and `make bench-quick` are the entry points.
"""
