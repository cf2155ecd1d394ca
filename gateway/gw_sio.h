/*  gw_sio: the Engine.IO v4 / Socket.IO v5 codec (WebSocket transport only).
    Pure functions: no gateway state, no libwebsockets, no allocation beyond the
    caller's buffers, so the unit tests and the fuzz target drive them directly.
    The one thing to know: every input parsed here comes from a client and is hostile.
    Nothing trusts a length, a count or an id it reads; payloads are JSON and go through
    pl_json (syntax, depth and escapes checked) before anything looks inside them.
    The other direction (gw_sio_from_json) turns one of our own JSON frames, built once
    for every recipient, into the Socket.IO packet a Socket.IO connection needs.

    Wire forms (one Engine.IO packet per WebSocket text frame):
      Engine.IO  <type digit><data>        0 open · 1 close · 2 ping · 3 pong ·
                                           4 message · 5 upgrade · 6 noop
      Socket.IO  <type digit>[<n>-][<nsp>,][<ack id>][<JSON>] inside a message (4):
                 0 CONNECT · 1 DISCONNECT · 2 EVENT · 3 ACK · 4 CONNECT_ERROR ·
                 5 BINARY_EVENT · 6 BINARY_ACK
    so a Socket.IO EVENT travels as `42["name",{…}]`, an ACK as `43<id>[…]`. */
#ifndef GW_SIO_H
#define GW_SIO_H

#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>

#include "pl_buf.h"

#define GW_SIO_NSP_MAX 128        /* bytes of a namespace name, "/" included */
#define GW_SIO_ACK_DIGITS 15      /* ack ids are 0 .. 10^15-1 (JS numbers stay exact) */
#define GW_SIO_EVENT_NAME_MAX 64  /* bytes of an event name */
#define GW_SIO_ATTACHMENTS_MAX 10 /* binary attachments a binary packet may announce */

typedef enum {
    GW_EIO_OPEN = 0,
    GW_EIO_CLOSE,
    GW_EIO_PING,
    GW_EIO_PONG,
    GW_EIO_MESSAGE,
    GW_EIO_UPGRADE,
    GW_EIO_NOOP,
} gw_eio_type_t;

typedef enum {
    GW_SIO_CONNECT = 0,
    GW_SIO_DISCONNECT,
    GW_SIO_EVENT,
    GW_SIO_ACK,
    GW_SIO_CONNECT_ERROR,
    GW_SIO_BINARY_EVENT,
    GW_SIO_BINARY_ACK,
} gw_sio_type_t;

/* One Engine.IO packet: its type and the data after the type digit (points into the
   frame, not NUL-terminated). */
typedef struct {
    gw_eio_type_t type;
    const char *data;
    size_t len;
} gw_eio_packet_t;

/* One Socket.IO packet; every pointer points into the parsed text. */
typedef struct {
    gw_sio_type_t type;
    uint32_t attachments; /* binary packets: binary frames announced to follow */
    const char *nsp;      /* "/" when the packet names none */
    size_t nsp_len;
    int64_t ack;      /* ack id, -1 when none */
    const char *data; /* JSON payload text, NULL when none */
    size_t data_len;
} gw_sio_packet_t;

/* Parse one Engine.IO packet (a whole WebSocket text frame). Returns 0, or -1 when the
   frame is empty or its type is not one of Engine.IO's. */
int gw_eio_parse(const char *frame, size_t len, gw_eio_packet_t *out);

/* Parse one Socket.IO packet (the data of an Engine.IO message). The JSON payload is
   only located here, not parsed. Returns 0, or -1 with a short client-safe reason in err
   (unknown type, bad attachment count, namespace too long or with control bytes, ack id
   too long). */
int gw_sio_parse(const char *text, size_t len, gw_sio_packet_t *out, char *err, size_t errlen);

/* Is the packet for the default namespace "/"? */
int gw_sio_default_nsp(const gw_sio_packet_t *p);

/* An EVENT payload `["name", {…}]`, converted from JSON once (PL_JSON_RAW_TEXT:
   invalid UTF-8 and NUL are refused later by proto_validate, field by field, as for a
   raw WebSocket frame). Everything points into the caller's sb and up, which hold the
   one conversion and must outlive it. */
typedef struct {
    const msgpack_object *name; /* str, 1..GW_SIO_EVENT_NAME_MAX bytes: the request type */
    const msgpack_object *arg;  /* map: the argument (an empty map when none, or null) */
    const char *body;           /* the argument's MessagePack bytes, as converted */
    size_t body_len;
} gw_sio_event_t;

/* Parse an EVENT payload into `out` (sb and up initialised by the caller, destroyed by
   it whatever the result). The argument's own "type" or "id" members, if any, are left
   in place: the request's type is the name and its id the ack, whatever they say, and
   the router drops both keys from what it forwards (proto_pack_request_body).
   Returns 0, or -1 with a client-safe reason in err (not JSON, not a list, no name, name
   empty or longer than GW_SIO_EVENT_NAME_MAX, argument not an object, more than one
   argument). */
int gw_sio_event_parse(const char *data, size_t len, msgpack_sbuffer *sb, msgpack_unpacked *up,
                       gw_sio_event_t *out, char *err, size_t errlen);

/* What a CONNECT auth payload `{"token":"…"}` holds. */
typedef enum {
    GW_SIO_TOKEN_FOUND = 1, /* copied NUL-terminated into out ("Bearer " dropped) */
    GW_SIO_TOKEN_NONE = 0,  /* no payload, or no (or an empty) "token" */
    GW_SIO_TOKEN_NOT_OBJECT = -1, /* the payload is not a JSON object */
    GW_SIO_TOKEN_BAD = -2,  /* "token" is not a string, or does not fit in cap */
} gw_sio_token_t;
gw_sio_token_t gw_sio_auth_token(const char *data, size_t len, char *out, size_t cap);

/* ---- encoders (append to out; 0, or -1 when out could not grow) ---- */

/* Engine.IO open: 0{"sid":…,"upgrades":[],"pingInterval":…,"pingTimeout":…,"maxPayload":…} */
int gw_eio_open(pl_buf_t *out, const char *sid, int64_t ping_interval_ms, int64_t ping_timeout_ms,
                int64_t max_payload);

/* Socket.IO CONNECT accepted on "/": 40{"sid":…} */
int gw_sio_connect_ok(pl_buf_t *out, const char *sid);

/* Socket.IO CONNECT_ERROR: 44[<nsp>,]{"message":…,"data":{"code":…}}. nsp may be NULL
   (or "/") for the default namespace; it is echoed only after gw_sio_parse accepted it. */
int gw_sio_connect_error(pl_buf_t *out, const char *nsp, size_t nsp_len, const char *code,
                         const char *message);

/* One of our JSON frames (an object whose "type" is a string; "id" present when it
   answers a request) as a Socket.IO packet:
     with a non-negative integer "id": the answer to an emit with an ack, with its type,
       without its id:                 43<id>[{"type":"message_sent",…}]
     otherwise an event named by its type, without the type:
                                       42["new_message",{…}]
   Member order does not matter; the JSON is scanned, not parsed. Returns 0, or -1 when
   the text is not an object with a string "type" (out is then left as it was). */
int gw_sio_from_json(const char *json, size_t len, pl_buf_t *out);

#endif
