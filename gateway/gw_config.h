/*  gw_config: the gateway's environment (names and defaults: README.md, Configuration). */
#ifndef GW_CONFIG_H
#define GW_CONFIG_H

#include <stdint.h>

#include "pl_zmq.h"

typedef struct {
    int port;
    const char *jwt_secret;
    const char *jwt_alg;   /* HS256, or RS256/ES256 with JWT_PUBLIC_KEY_FILE */
    char *jwt_key;         /* owned: the secret or the PEM */
    size_t jwt_key_len;
    const char *jwt_issuer;   /* JWT_ISSUER: required `iss`, NULL = not checked */
    const char *jwt_audience; /* JWT_AUDIENCE: required in `aud`, NULL = not checked */
    int64_t token_notice_s;   /* token_expiring goes out this long before exp (0: never) */
    const char *cors_origin; /* comma-separated, NULL = any */
    int64_t auth_timeout_ms;
    int64_t max_frame_bytes;
    int64_t rate_per_s, rate_burst;
    int64_t request_timeout_ms;
    int64_t max_inflight_per_service; /* client requests pending per kind (overloaded) */
    int64_t out_queue_max;  /* frames queued for one client before it is cut off */
    int64_t out_queue_max_bytes; /* ... and bytes */
    int64_t max_connections;          /* WebSocket connections on this gateway (503) */
    int64_t max_connections_per_ip;   /* ... from one client address (429) */
    int64_t max_connections_per_user; /* ... of one user on this gateway (429) */
    int64_t connect_rate_per_ip, connect_burst_per_ip; /* new connections per address (429) */
    const char *trusted_proxies; /* addresses/CIDRs whose X-Forwarded-For is believed */
    const char *tls_cert_file;   /* TLS_CERT_FILE: PEM certificate (+ chain); NULL = no TLS */
    const char *tls_key_file;    /* TLS_KEY_FILE: its PEM key; set exactly when the above is */
    int64_t ping_interval_s;
    int64_t typing_ttl_ms;     /* receiver-side typing expiry */
    int64_t request_flush_ms;  /* least time between two sends of requests to the broker */
    int64_t lease_interval_ms; /* gw_lease notifications to presence */
    int64_t sio_ping_interval_ms, sio_ping_timeout_ms; /* Engine.IO heartbeat */
    pl_broker_addr_t broker;
} gw_config_t;

/* 0, or -1 after logging one clear line naming the bad variable. */
int gw_config_load(gw_config_t *cfg);
void gw_config_free(gw_config_t *cfg);
/* Is `origin` (len bytes) allowed by CORS_ORIGIN? */
int gw_config_origin_allowed(const gw_config_t *cfg, const char *origin, size_t len);

#endif
