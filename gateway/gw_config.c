/*  gw_config: read and validate the gateway's environment. */
#include "gw_config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pl_config.h"
#include "pl_log.h"
#include "proto.h"

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = malloc(65536);
    size_t n = buf ? fread(buf, 1, 65535, f) : 0;
    fclose(f);
    if (!buf || n == 0) {
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

static int load_key(gw_config_t *cfg)
{
    cfg->jwt_alg = pl_env_str("JWT_ALG", "HS256");
    if (strcmp(cfg->jwt_alg, "HS256") == 0) {
        cfg->jwt_secret = pl_env_str("JWT_SECRET", NULL);
        if (!cfg->jwt_secret) {
            pl_error("bad configuration", "var=JWT_SECRET reason=\"required\"");
            return -1;
        }
        cfg->jwt_key_len = strlen(cfg->jwt_secret);
        cfg->jwt_key = strdup(cfg->jwt_secret);
        return cfg->jwt_key ? 0 : -1;
    }
    if (strcmp(cfg->jwt_alg, "RS256") != 0 && strcmp(cfg->jwt_alg, "ES256") != 0) {
        pl_error("bad configuration", "var=JWT_ALG reason=\"HS256, RS256 or ES256\"");
        return -1;
    }
    const char *path = pl_env_str("JWT_PUBLIC_KEY_FILE", NULL);
    if (!path || !(cfg->jwt_key = read_file(path, &cfg->jwt_key_len))) {
        pl_error("bad configuration",
                 "var=JWT_PUBLIC_KEY_FILE reason=\"a readable PEM public key is required for %s\"",
                 cfg->jwt_alg);
        return -1;
    }
    return 0;
}

/* The contract's configurable size limits; they hold for every request this gateway
   checks. A limit above MAX_FRAME_BYTES is allowed but the frame limit still applies. */
static int load_limits(void)
{
    proto_limits_t l;
    if (pl_env_int("MESSAGE_MAX_CHARS", PROTO_CONTENT_MAX, 1, 16 * 1024 * 1024, &l.content_max) ||
        pl_env_int("STATUS_MESSAGE_MAX_CHARS", PROTO_STATUS_MESSAGE_MAX, 0, 1024 * 1024,
                   &l.status_message_max) ||
        pl_env_int("SIGNAL_MAX_BYTES", PROTO_SIGNAL_MAX, 2, 16 * 1024 * 1024, &l.signal_max))
        return -1;
    proto_set_limits(&l);
    return 0;
}

/* TLS is on with both files or off with neither; the files are read by gw_tls. */
static int load_tls_paths(gw_config_t *cfg)
{
    cfg->tls_cert_file = pl_env_str("TLS_CERT_FILE", NULL);
    cfg->tls_key_file = pl_env_str("TLS_KEY_FILE", NULL);
    if (!cfg->tls_cert_file != !cfg->tls_key_file) {
        pl_error("bad configuration", "var=%s reason=\"required when %s is set\"",
                 cfg->tls_cert_file ? "TLS_KEY_FILE" : "TLS_CERT_FILE",
                 cfg->tls_cert_file ? "TLS_CERT_FILE" : "TLS_KEY_FILE");
        return -1;
    }
    return 0;
}

int gw_config_load(gw_config_t *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    int64_t port;
    if (pl_env_int("PORT", 8080, 1, 65535, &port) ||
        pl_env_int("AUTH_TIMEOUT_MS", 10000, 1, 3600000, &cfg->auth_timeout_ms) ||
        pl_env_int("MAX_FRAME_BYTES", 131072, 1024, 16 * 1024 * 1024, &cfg->max_frame_bytes) ||
        pl_env_int("RATE_LIMIT_PER_S", 20, 0, 1000000, &cfg->rate_per_s) ||
        pl_env_int("RATE_LIMIT_BURST", 40, 1, 1000000, &cfg->rate_burst) ||
        pl_env_int("REQUEST_TIMEOUT_MS", 5000, 1, 600000, &cfg->request_timeout_ms) ||
        pl_env_int("MAX_INFLIGHT_PER_SERVICE", 4096, 1, 10000000,
                   &cfg->max_inflight_per_service) ||
        pl_env_int("OUT_QUEUE_MAX", 1024, 16, 1000000, &cfg->out_queue_max) ||
        pl_env_int("OUT_QUEUE_MAX_BYTES", 8 * 1024 * 1024, 64 * 1024, INT64_C(1) << 34,
                   &cfg->out_queue_max_bytes) ||
        pl_env_int("MAX_CONNECTIONS", 16000, 1, 10000000, &cfg->max_connections) ||
        pl_env_int("MAX_CONNECTIONS_PER_IP", 256, 1, 10000000, &cfg->max_connections_per_ip) ||
        pl_env_int("MAX_CONNECTIONS_PER_USER", 32, 1, 10000000, &cfg->max_connections_per_user) ||
        pl_env_int("CONNECT_RATE_PER_IP", 50, 0, 1000000, &cfg->connect_rate_per_ip) ||
        pl_env_int("CONNECT_BURST_PER_IP", 200, 1, 1000000, &cfg->connect_burst_per_ip) ||
        pl_env_int("WS_PING_INTERVAL_S", 30, 1, 3600, &cfg->ping_interval_s) ||
        pl_env_int("TYPING_TTL_MS", 6000, 1, 600000, &cfg->typing_ttl_ms) ||
        pl_env_int("REQUEST_FLUSH_MS", 1, 0, 100, &cfg->request_flush_ms) ||
        pl_env_int("GW_LEASE_INTERVAL_MS", 2000, 100, 600000, &cfg->lease_interval_ms) ||
        pl_env_int("SIO_PING_INTERVAL_MS", 25000, 100, 3600000, &cfg->sio_ping_interval_ms) ||
        pl_env_int("SIO_PING_TIMEOUT_MS", 20000, 100, 3600000, &cfg->sio_ping_timeout_ms) ||
        pl_env_int("TOKEN_EXPIRING_NOTICE_S", 60, 0, 86400, &cfg->token_notice_s) ||
        load_limits() || pl_broker_client_from_env(&cfg->broker) || load_key(cfg))
        return -1;
    cfg->port = (int)port;
    cfg->cors_origin = pl_env_str("CORS_ORIGIN", NULL);
    cfg->trusted_proxies = pl_env_str("TRUSTED_PROXIES", NULL);
    cfg->jwt_issuer = pl_env_str("JWT_ISSUER", NULL);
    cfg->jwt_audience = pl_env_str("JWT_AUDIENCE", NULL);
    return load_tls_paths(cfg);
}

void gw_config_free(gw_config_t *cfg)
{
    free(cfg->jwt_key);
    cfg->jwt_key = NULL;
}

int gw_config_origin_allowed(const gw_config_t *cfg, const char *origin, size_t len)
{
    if (!cfg->cors_origin)
        return 1;
    const char *p = cfg->cors_origin;
    while (*p) {
        while (*p == ' ' || *p == ',')
            p++;
        const char *end = p;
        while (*end && *end != ',')
            end++;
        const char *last = end;
        while (last > p && last[-1] == ' ')
            last--;
        if ((size_t)(last - p) == len && len && memcmp(p, origin, len) == 0)
            return 1;
        if ((size_t)(last - p) == 1 && *p == '*')
            return 1;
        p = end;
    }
    return 0;
}
