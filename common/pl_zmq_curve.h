/*  pl_zmq_curve: the bus's CURVE keys, read from configuration and applied to sockets.
    The one thing to know: every ZeroMQ socket in Parley is a CURVE socket unless the
    process was started with BUS_INSECURE=1 (plain TCP, warned about at start). The
    broker is the one CURVE server; every other process is a client that knows the
    broker's public key, and the broker admits a client only if its public key is in
    BUS_CLIENT_KEYS_DIR (docs/design/topology.md, "Who may use the bus").

    Files are CZMQ certificates (zcert_save format, made by parley-keygen): NAME holds
    the public key, NAME_secret both keys. BUS_CERT_FILE names NAME; the secret file
    beside it is what is read. */
#ifndef PL_ZMQ_CURVE_H
#define PL_ZMQ_CURVE_H

#include <stddef.h>

#define PL_Z85_KEY_LEN 40

typedef struct {
    int insecure;                        /* BUS_INSECURE=1: plain, no keys */
    char public_key[PL_Z85_KEY_LEN + 1]; /* this process's pair (Z85) */
    char secret_key[PL_Z85_KEY_LEN + 1];
    char server_key[PL_Z85_KEY_LEN + 1]; /* the broker's public key; clients only */
} pl_bus_keys_t;

/* A client of the broker (gateway, services, test tools): BUS_INSECURE [0], or
   BUS_CERT_FILE and BUS_SERVER_KEY_FILE (the broker's public certificate). 0, or -1
   after one clear log line (the process must exit non-zero). Logs a warning when
   insecure. */
int pl_bus_keys_client_from_env(pl_bus_keys_t *out);

/* The broker: BUS_INSECURE [0], or BUS_CERT_FILE and BUS_CLIENT_KEYS_DIR (copied to
   dir, at most cap bytes with its NUL). Same return convention. */
int pl_bus_keys_server_from_env(pl_bus_keys_t *out, char *dir, size_t cap);

/* Load a certificate file: its public key, and its secret key when want_secret (from
   FILE_secret; a certificate without one is an error). 0 or -1 (logged, naming `var`). */
int pl_bus_cert_load(const char *var, const char *file, int want_secret, char *public_key,
                     char *secret_key);

/* Make `sock` a CURVE client of the broker (nothing when insecure). 0 or -1, errno. */
int pl_bus_keys_apply_client(const pl_bus_keys_t *keys, void *sock);
/* Make `sock` a CURVE server that asks the ZAP handler about every client and refuses
   all when no handler answers (nothing when insecure). 0 or -1, errno. */
int pl_bus_keys_apply_server(const pl_bus_keys_t *keys, void *sock);

#endif
