/*  pl_zmq_curve: CURVE keys from configuration, onto sockets (see pl_zmq_curve.h).
    CZMQ reads the certificate files (zcert); libzmq's own socket options carry the
    keys, so the sockets on the hot path stay plain libzmq sockets. */
#include "pl_zmq_curve.h"

#include <czmq.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <zmq.h>

#include "pl_config.h"
#include "pl_log.h"

/* A draft option in libzmq 4.3 (Debian builds it): without it, a CURVE server whose
   ZAP handler is missing admits every client that knows its public key. */
#ifndef ZMQ_ZAP_ENFORCE_DOMAIN
#define ZMQ_ZAP_ENFORCE_DOMAIN 93
#endif

#define NO_KEYS_HINT "make one with parley-keygen, or set BUS_INSECURE=1 for plain TCP"

static const char s_zero_key[] = "0000000000000000000000000000000000000000";

int pl_bus_cert_load(const char *var, const char *file, int want_secret, char *public_key,
                     char *secret_key)
{
    zcert_t *cert = zcert_load(file);
    if (!cert) {
        pl_error("bad configuration", "var=%s file=%s reason=\"not a readable certificate\"", var,
                 file);
        return -1;
    }
    int rc = 0;
    if (want_secret && strcmp(zcert_secret_txt(cert), s_zero_key) == 0) {
        pl_error("bad configuration", "var=%s file=%s reason=\"no secret key: %s_secret missing\"",
                 var, file, file);
        rc = -1;
    } else {
        snprintf(public_key, PL_Z85_KEY_LEN + 1, "%s", zcert_public_txt(cert));
        if (want_secret)
            snprintf(secret_key, PL_Z85_KEY_LEN + 1, "%s", zcert_secret_txt(cert));
    }
    zcert_destroy(&cert);
    return rc;
}

/* BUS_INSECURE, and this process's own certificate. 1 insecure, 0 keys loaded, -1. */
static int load_own(pl_bus_keys_t *out)
{
    memset(out, 0, sizeof *out);
    int64_t insecure;
    if (pl_env_int("BUS_INSECURE", 0, 0, 1, &insecure))
        return -1;
    if (insecure) {
        out->insecure = 1;
        pl_warn("bus is not secured",
                "reason=\"BUS_INSECURE=1: plain TCP, no authentication; anything that reaches "
                "the broker can act as any user\"");
        return 1;
    }
    const char *file = pl_env_str("BUS_CERT_FILE", NULL);
    if (!file) {
        pl_error("bad configuration", "var=BUS_CERT_FILE reason=\"unset: " NO_KEYS_HINT "\"");
        return -1;
    }
    return pl_bus_cert_load("BUS_CERT_FILE", file, 1, out->public_key, out->secret_key);
}

int pl_bus_keys_client_from_env(pl_bus_keys_t *out)
{
    int rc = load_own(out);
    if (rc != 0)
        return rc < 0 ? -1 : 0;
    const char *file = pl_env_str("BUS_SERVER_KEY_FILE", NULL);
    if (!file) {
        pl_error("bad configuration",
                 "var=BUS_SERVER_KEY_FILE reason=\"unset: the broker's public certificate\"");
        return -1;
    }
    return pl_bus_cert_load("BUS_SERVER_KEY_FILE", file, 0, out->server_key, NULL);
}

int pl_bus_keys_server_from_env(pl_bus_keys_t *out, char *dir, size_t cap)
{
    dir[0] = '\0';
    int rc = load_own(out);
    if (rc != 0)
        return rc < 0 ? -1 : 0;
    const char *d = pl_env_str("BUS_CLIENT_KEYS_DIR", NULL);
    if (!d) {
        pl_error("bad configuration",
                 "var=BUS_CLIENT_KEYS_DIR reason=\"unset: the directory of the public "
                 "certificates the broker admits\"");
        return -1;
    }
    struct stat st;
    if (strlen(d) >= cap || stat(d, &st) != 0 || !S_ISDIR(st.st_mode)) {
        pl_error("bad configuration", "var=BUS_CLIENT_KEYS_DIR dir=%s reason=\"not a directory\"",
                 d);
        return -1;
    }
    snprintf(dir, cap, "%s", d);
    return 0;
}

int pl_bus_keys_apply_client(const pl_bus_keys_t *keys, void *sock)
{
    if (keys->insecure)
        return 0;
    if (zmq_setsockopt(sock, ZMQ_CURVE_SERVERKEY, keys->server_key, PL_Z85_KEY_LEN) ||
        zmq_setsockopt(sock, ZMQ_CURVE_PUBLICKEY, keys->public_key, PL_Z85_KEY_LEN) ||
        zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, keys->secret_key, PL_Z85_KEY_LEN))
        return -1;
    return 0;
}

int pl_bus_keys_apply_server(const pl_bus_keys_t *keys, void *sock)
{
    if (keys->insecure)
        return 0;
    int one = 1;
    if (zmq_setsockopt(sock, ZMQ_CURVE_SERVER, &one, sizeof one) ||
        zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, keys->secret_key, PL_Z85_KEY_LEN) ||
        zmq_setsockopt(sock, ZMQ_ZAP_DOMAIN, "parley", 6))
        return -1;
    if (zmq_setsockopt(sock, ZMQ_ZAP_ENFORCE_DOMAIN, &one, sizeof one) != 0) {
        /* A libzmq built without draft options: the broker still starts its ZAP
           handler before it binds, so nothing is admitted unchecked while it runs. */
        static int warned;
        if (errno != EINVAL)
            return -1;
        if (!warned++)
            pl_warn("libzmq lacks ZMQ_ZAP_ENFORCE_DOMAIN",
                    "effect=\"clients are admitted unchecked should the ZAP handler stop\"");
    }
    return 0;
}
