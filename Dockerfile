# xdscp as a container: non-root, nothing written at run time (run it with a read-only root).
# BASE_IMAGE: any image with Python 3.11+ and pip on the PATH (tests build on a local one).
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}
WORKDIR /app
# Dependencies first, in their own layer: a change to the code alone reuses it.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" >requirements.txt \
    && pip install --no-cache-dir -r requirements.txt
COPY README.md ./
COPY xdscp ./xdscp
RUN pip install --no-cache-dir --no-deps . && useradd --uid 10001 --no-create-home xdscp
USER 10001
# 18000: xDS (gRPC ADS). The admin endpoint (health, status, metrics) stays on the container's
# loopback, 127.0.0.1:9901: health checks run inside the container (compose's healthcheck, and
# `docker compose exec xdscp xdscp status`); Kubernetes, whose probes come from the node, binds
# it to the pod's address with --admin-host (deploy/kubernetes/). Not exposed, so `-P` never
# publishes it.
EXPOSE 18000
ENTRYPOINT ["xdscp"]
CMD ["serve", "/policies", "--xds-address", "0.0.0.0:18000"]
