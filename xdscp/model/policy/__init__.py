"""BackendConfigPolicy's spec, one module per block, with the rules of kgateway's CRD.

Each block validates as the API server with that CRD installed would admit it: schema, CEL
rules (with kgateway's messages) and defaults. A few rules Envoy adds on top are checked too,
worded "Envoy requires ...", so that a policy Envoy would refuse is refused here instead.
"""
