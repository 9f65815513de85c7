# httpbin served by gunicorn on port 80, as kennethreitz/httpbin runs it.
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
ARG HTTPBIN_VERSION
ARG GUNICORN_VERSION
RUN pip install --no-cache-dir "httpbin==${HTTPBIN_VERSION}" "gunicorn==${GUNICORN_VERSION}"
EXPOSE 80
CMD ["gunicorn", "-b", "0.0.0.0:80", "httpbin:app", "-k", "gthread", "--threads", "4"]
