# smsemu in a container: `smsemu up` (the SMSC, the IP server, two handsets and
# their control API) over SQLite in the volume /data.  compose.yaml runs it,
# compose.postgres.yaml puts it on PostgreSQL; README, "Docker", says more.

# A wheel from the repository (no tests, no caches: .dockerignore).
FROM python:3.11-slim AS build
WORKDIR /src
COPY . .
RUN pip wheel --no-cache-dir --disable-pip-version-check --no-deps --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
COPY --from=build /wheels /tmp/wheels
# With the PostgreSQL driver, so that one image serves both compose files.
RUN pip install "$(echo /tmp/wheels/smsemu-*.whl)[postgres]" \
    && rm -rf /tmp/wheels \
    && useradd --system --user-group --uid 10001 --home-dir /data --no-create-home smsemu \
    && mkdir /data \
    && chown smsemu:smsemu /data
USER smsemu
WORKDIR /data
VOLUME /data

# Radio link, IP server, admin API, handsets' control API, SMPP.
EXPOSE 7101 7102 7180 7190 2775

# Healthy once the handsets are up: the control API lists them only then (with
# the API token of the data directory).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["smsemu", "handset", "list", "--data-dir", "/data"]

# Inside a container a listener must take every interface to be reachable
# through a published port; compose publishes them on the host's 127.0.0.1.
ENTRYPOINT ["smsemu"]
CMD ["up", "--data-dir", "/data", \
     "--link", "tcp:7101:interface=0.0.0.0", \
     "--ip-server", "tcp:7102:interface=0.0.0.0", \
     "--admin", "tcp:7180:interface=0.0.0.0", \
     "--control", "tcp:7190:interface=0.0.0.0", \
     "--smpp", "tcp:2775:interface=0.0.0.0"]
