# xdscp as a container: non-root, nothing written at run time (run it with a read-only root).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY xdscp ./xdscp
RUN pip install --no-cache-dir . && useradd --uid 10001 --no-create-home xdscp
USER 10001
# 18000: xDS (gRPC ADS); 9901: admin (health, status, metrics).
EXPOSE 18000 9901
ENTRYPOINT ["xdscp"]
CMD ["serve", "/policies", "--xds-address", "0.0.0.0:18000", "--admin-host", "0.0.0.0"]
