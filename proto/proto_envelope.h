/*  proto_envelope: encode and decode the internal envelope (docs/internals.md).
    The one thing to know: a request is decoded into a flat struct of copied scalars
    plus a pointer to the body map; the body points into the received bytes, so the
    ZeroMQ message must outlive the struct. */
#ifndef PROTO_ENVELOPE_H
#define PROTO_ENVELOPE_H

#include <msgpack.h>
#include <stdint.h>

#include "proto.h"

#define PROTO_GWID_LEN 16

typedef struct {
    char ev[48];   /* canonical event */
    char as[48];   /* as sent */
    char gw[PROTO_GWID_LEN + 1];
    uint64_t cn, rq;
    char uid[129];
    char role[16];
    char nm[129];
    int64_t dl;                 /* deadline, epoch ms (0 = none) */
    int64_t ts;                 /* when the gateway sent it, epoch ms (0 = not stamped:
                                   never shed as `overloaded`, see pl_service.c) */
    const msgpack_object *body; /* map; never NULL after a successful decode */
} proto_request_t;

/* Decode a request from an unpacked object. 0, or -1 when a required key is missing
   or ill-typed (the message is then dropped and logged by the caller). */
int proto_request_decode(const msgpack_object *root, proto_request_t *out);

/* Pack the request envelope header, leaving the packer ready for the body map
   (the caller packs exactly one object next: the body). */
int proto_pack_request_head(msgpack_packer *pk, const char *ev, const char *as, const char *gw,
                            uint64_t cn, uint64_t rq, const char *uid, const char *role,
                            const char *nm, int64_t dl);
/* The same with the send time `ts` (wall clock, epoch ms; 0 = none). The gateway stamps
   exactly the requests a service may refuse `overloaded` when they queued too long:
   its clients' requests and the server API's. Internal ones stay unstamped. */
int proto_pack_request_head_ts(msgpack_packer *pk, const char *ev, const char *as, const char *gw,
                               uint64_t cn, uint64_t rq, const char *uid, const char *role,
                               const char *nm, int64_t dl, int64_t ts);

/* The request body from a client's map as converted from JSON (buf[0..len), exactly
   one map), appended to `out` right after proto_pack_request_head: the same bytes,
   copied, less the top-level `type` and `id` (the envelope's, never the service's).
   No re-encoding: what the gateway converted once is what the service reads.
   0, or -1 when the bytes are not one map or out cannot grow. */
int proto_pack_request_body(msgpack_sbuffer *out, const char *buf, size_t len);

/* Reply header: {cn, rq, [sub: [ids]], b: <body follows>}. */
int proto_pack_reply_head(msgpack_packer *pk, uint64_t cn, uint64_t rq, const int64_t *sub,
                          size_t nsub);

typedef struct {
    const char *gw; /* with cn: skip that one connection */
    uint64_t cn;
    const char *uid; /* skip every connection of this user */
} proto_exclude_t;

/* Event header: {[xg, xc], [xu], [sub], b: <body follows>}. sub <= 0 means none. */
int proto_pack_event_head(msgpack_packer *pk, const proto_exclude_t *x, int64_t sub);

#endif
