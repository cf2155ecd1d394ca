/*  broker_guard: who may use the bus. Runs CZMQ's zauth (the ZAP handler, admitting
    only the public keys in BUS_CLIENT_KEYS_DIR) and counts the handshakes the broker's
    sockets refused, from their libzmq monitors.
    The one thing to know: both live beside the forwarding loop, never in it. zauth
    and the monitor reader are CZMQ actors (threads) in the broker's ZeroMQ context,
    which is therefore CZMQ's (zsys_init), and the loop reads one atomic counter when
    /metrics is scraped. A refused handshake costs the pump nothing. */
#ifndef BROKER_GUARD_H
#define BROKER_GUARD_H

#include <stdint.h>

typedef struct broker_guard_t broker_guard_t;

/* Why a handshake was refused (label `reason` of the metric). */
typedef enum {
    BROKER_REFUSED_KEY = 0,  /* a CURVE client whose public key is not in the allow-list */
    BROKER_REFUSED_PROTOCOL, /* not CURVE (a plain client), the wrong server key, garbage */
    BROKER_REFUSED_ABORTED,  /* the peer hung up mid-handshake: a plain ZeroMQ client that
                                saw the mismatch first, or a TCP probe or port scan */
    BROKER_REFUSED_REASONS
} broker_refused_t;

/* Start the guard. `keys_dir`: the allow-list directory (zauth reloads it when files
   are added or removed), or NULL for a plain bus (no zauth; refusals are still
   counted: a CURVE client knocking at a plain broker). Call before any socket binds.
   NULL on failure (logged). */
broker_guard_t *broker_guard_new(const char *keys_dir);
void broker_guard_destroy(broker_guard_t **self_p);

/* Count the refused handshakes of `sock` (a broker socket, before it binds); `name`
   names it in the log (a static string). 0 or -1 (logged). */
int broker_guard_watch(broker_guard_t *self, void *sock, const char *name);

/* Refused handshakes so far, by reason (safe from any thread). */
uint64_t broker_guard_refused(broker_guard_t *self, broker_refused_t reason);

#endif
