# Parley: one image with every binary (gateway, broker, chat, presence, call, hooks, bench).
# docker-compose.yml runs each process from it with a different command.
#
#   docker build -t parley .
#   docker run --rm parley parley-gateway        # needs a broker and services: use compose
#
# Stage 1 builds with Debian bookworm's -dev packages; stage 2 carries only the runtime
# libraries, the binaries and the demo page, and runs as an unprivileged user.

# ---- build ----------------------------------------------------------------------------
FROM debian:bookworm AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential cmake pkg-config \
      libwebsockets-dev libzmq3-dev libmsgpack-dev libpq-dev libjwt-dev \
      libuv1-dev libjansson-dev libssl-dev libczmq-dev libcurl4-openssl-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Sources only (no build directories, no node_modules, no local database).
COPY CMakeLists.txt ./
COPY common/ common/
COPY proto/ proto/
COPY service/ service/
COPY broker/ broker/
COPY gateway/ gateway/
COPY chat-svc/ chat-svc/
COPY presence-svc/ presence-svc/
COPY call-svc/ call-svc/
COPY hooks/ hooks/
COPY bench/ bench/
COPY tests/CMakeLists.txt tests/
COPY tests/unit/ tests/unit/
COPY tests/integration/CMakeLists.txt tests/integration/
COPY tests/bus_probe/ tests/bus_probe/
RUN cmake -S /src -B /build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPARLEY_WERROR=OFF \
 && cmake --build /build -j"$(nproc)" \
 && strip --strip-debug /build/bin/parley-*

# ---- runtime --------------------------------------------------------------------------
FROM debian:bookworm-slim AS runtime
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libwebsockets17 libwebsockets-evlib-uv libuv1 libzmq5 libmsgpackc2 libpq5 libjwt0 \
      libjansson4 libssl3 libczmq4 libcurl4 ca-certificates curl openssl \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 parley \
 && useradd --system --uid 10001 --gid parley --home-dir /nonexistent --shell /usr/sbin/nologin parley \
 && install -d -o parley -g parley -m 0700 /var/lib/parley/keys \
 && install -d -o parley -g parley -m 0755 /var/lib/parley/tls
COPY --from=build /build/bin/parley-* /usr/local/bin/
COPY web/ /usr/share/parley/web/
# Fail the image build, not the first start, if a runtime library is missing.
RUN for b in /usr/local/bin/parley-*; do \
      if ldd "$b" | grep -q 'not found'; then ldd "$b"; exit 1; fi; \
    done
# The development certificate maker (compose's one-shot tlscert service; openssl above).
COPY scripts/tls-dev-cert.sh /usr/local/bin/parley-tls-dev-cert
# /var/lib/parley/keys: the bus's CURVE keys (compose mounts a volume there; a new
# volume takes this directory's owner, so the unprivileged keygen can write it);
# /var/lib/parley/tls: the same for the development TLS certificate (tlscert).
# Container defaults: listen on every interface of the container's network.
ENV WEB_ROOT=/usr/share/parley/web \
    BROKER_BIND=0.0.0.0 \
    METRICS_BIND=0.0.0.0
USER parley:parley
# gateway HTTP/WebSocket; broker 5550-5557; METRICS_PORT of broker, services and hooks (compose: 9100-9104)
EXPOSE 8080 5550-5557 9100-9104
STOPSIGNAL SIGTERM
CMD ["parley-gateway"]
