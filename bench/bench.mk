# Benchmarks beside a floor and go-control-plane (bench/README.md). Included from the Makefile.
# `bench` builds the Go peer and load generator once into ~/.cache/xdscp/bench/ and runs all;
# `bench-quick` runs the floor and xdscp only. Both print JSON, then a table on stderr.

bench: $(BIN)/xdscp
	@$(BIN)/python -m bench.run $(ARGS)

bench-quick: $(BIN)/xdscp
	@$(BIN)/python -m bench.run --quick $(ARGS)

# Profiles of the two slowest paths into bench/results/profiles/ (pyinstrument, a dev pin).
bench-profile: $(BIN)/xdscp
	$(BIN)/python -m bench.profile $(ARGS)

# Push latency to a live Envoy with and without issue 18's hostile clients (bench/hostile.py).
bench-hostile: $(BIN)/xdscp
	@$(BIN)/python -m bench.hostile $(ARGS)

.PHONY: bench bench-quick bench-profile bench-hostile
