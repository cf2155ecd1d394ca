/*  presence_reconcile: reading a gateway's gw_reconcile, the list of its live
    connections with ids in [lo, hi] (docs/design/presence.md, "Healing lost
    notices"). The one thing to know: the message comes off the bus and is checked
    whole before anything is done with it; one bad entry refuses the message (the
    gateway sends the list again two leases later). */
#ifndef PRESENCE_RECONCILE_H
#define PRESENCE_RECONCILE_H

#include <msgpack.h>

#include "presence_store.h"

/* Fill rc from a gw_reconcile body: lo <= hi (unsigned, at most INT64_MAX); c, u, r, n
   arrays of one length, at most PROTO_RECONCILE_CHUNK_MAX; ids strictly increasing
   inside [lo, hi]; user ids 1..128 bytes without control characters; roles student,
   mentor or admin; names nil or at most 128 bytes without control characters. Strings
   point into body. 0, or -1 (rc then unspecified). */
int presence_reconcile_read(const msgpack_object *body, presence_reconcile_t *rc);

#endif
