/*  proto: the single definition of Parley's messages.
    The one thing to know: the client event table in proto_events.c is data. The gateway
    validates every client frame against it before anything leaves the edge, and the
    services read fields by the same names, so the two sides cannot disagree. The
    internal envelope keys and topics below are the whole internal wire format
    (docs/internals.md explains them). */
#ifndef PROTO_H
#define PROTO_H

#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>

/* ---- Who handles an event ------------------------------------------------------ */
typedef enum {
    PROTO_SVC_GATEWAY = 0, /* handled by the gateway itself (auth, ping, ...) */
    PROTO_SVC_CHAT,
    PROTO_SVC_PRESENCE,
    PROTO_SVC_CALL,
    PROTO_SVC_COUNT
} proto_svc_t;

/* Service kind names, also the topic frame of requests on the queues. */
const char *proto_svc_name(proto_svc_t svc);
/* Offset of a service's queue front (gateways PUSH) from BROKER_PORT; back is +1. */
int proto_svc_queue_offset(proto_svc_t svc);

#define PROTO_PORT_EVENTS_IN 0  /* broker XSUB: services PUB here */
#define PROTO_PORT_EVENTS_OUT 1 /* broker XPUB: gateways SUB here */
#define PROTO_PORT_COUNT 8      /* the broker uses BROKER_PORT … BROKER_PORT + 7 */

/* ---- Client event names (the canonical ones; aliases live in proto_events.c) ----
   Spelled once here: the event table, the gateway and the services' handler tables
   all use these. */
#define PROTO_EV_AUTH "auth"
#define PROTO_EV_PING "ping"
#define PROTO_EV_REFRESH "refresh"
#define PROTO_EV_UNSUBSCRIBE_CONVERSATION "unsubscribe_conversation"
#define PROTO_EV_CREATE_CONVERSATION "create_conversation"
#define PROTO_EV_SUBSCRIBE_CONVERSATION "subscribe_conversation"
#define PROTO_EV_MESSAGE "message"
#define PROTO_EV_HISTORY "history"
#define PROTO_EV_TYPING_START "typing_start"
#define PROTO_EV_TYPING_STOP "typing_stop"
#define PROTO_EV_MARK_READ "mark_read"
#define PROTO_EV_EDIT_MESSAGE "edit_message"
#define PROTO_EV_DELETE_MESSAGE "delete_message"
#define PROTO_EV_REACT "react"
#define PROTO_EV_UNREACT "unreact"
#define PROTO_EV_SET_STATUS "set_status"
#define PROTO_EV_MENTOR_AVAILABLE "mentor_available"
#define PROTO_EV_MENTOR_BUSY "mentor_busy"
#define PROTO_EV_GET_PRESENCE "get_presence"
#define PROTO_EV_LIST_MENTORS "list_mentors"
#define PROTO_EV_INITIATE_CALL "initiate_call"
#define PROTO_EV_ACCEPT_CALL "accept_call"
#define PROTO_EV_REJECT_CALL "reject_call"
#define PROTO_EV_END_CALL "end_call"
#define PROTO_EV_CALL_SIGNAL "call_signal"
#define PROTO_EV_CALL_HISTORY "call_history"
#define PROTO_EV_STUDENT_REQUEST_HELP "student_request_help"
#define PROTO_EV_ACCEPT_HELP "accept_help"
#define PROTO_EV_DECLINE_HELP "decline_help"
#define PROTO_EV_CANCEL_HELP "cancel_help"
#define PROTO_EV_END_HELP "end_help"

/* ---- Field schema -------------------------------------------------------------- */
typedef enum {
    PF_STR = 1,  /* string; min/max in Unicode code points */
    PF_INT,      /* integer; min/max inclusive */
    PF_BOOL,
    PF_ID,       /* string (1..max bytes) or integer: ids chosen by the client */
    PF_STR_LIST, /* array of strings; min/max = item count; item_max = bytes per item */
    PF_OBJECT,   /* map; max = bytes of its JSON text (0 = no limit beyond the frame) */
    PF_LIST,     /* array of anything; min/max = item count */
} proto_ftype_t;

#define PF_REQUIRED 1u
#define PF_TOO_LARGE 2u /* a string over max is `too_large`, not `bad_request` (PF_STR_LIST:
                           an item over item_max; too many items stay `bad_request`) */
#define PF_LIMIT 4u /* max is a configurable limit (proto_set_limits), found by field name */

typedef struct {
    const char *name;
    proto_ftype_t type;
    unsigned flags;
    int64_t min, max;
    int64_t item_max;   /* PF_STR_LIST: max bytes per item */
    const char *one_of; /* PF_STR: allowed values, '|' separated, or NULL */
} proto_field_t;

typedef struct {
    const char *name;  /* canonical name */
    const char *alias; /* accepted alternative name, or NULL */
    proto_svc_t svc;
    const proto_field_t *fields; /* terminated by {NULL} */
} proto_event_t;

/* Look up a client event by name or alias; NULL if unknown. */
const proto_event_t *proto_event_find(const char *name, size_t len);
/* Every event, for documentation and tests; *count receives the table size. */
const proto_event_t *proto_events(size_t *count);

/* The server → client event types: the `type` of every frame a client can receive
   (docs/protocol.md), in a fixed order (the gateway counts frames out by index). */
const char *const *proto_server_events(size_t *count);

typedef enum { PROTO_OK = 0, PROTO_BAD_REQUEST, PROTO_TOO_LARGE } proto_verdict_t;

/* Validate the client's object `body` (a map that still holds `type` and `id`, which
   are skipped) against ev's fields: required fields present, types right, values in
   range, unknown fields ignored, optional fields given as null treated as absent.
   Every string of the body but `type` and `id`, at any depth and in unknown fields
   too, keys included, must be valid UTF-8 without NUL (bad_request): nothing past the
   edge needs to check again. On failure writes a client-safe reason naming the field
   ("content: must be 1 to 16384 characters", "attachments[0].url: must not contain
   NUL characters"). */
proto_verdict_t proto_validate(const proto_event_t *ev, const msgpack_object *body, char *why,
                               size_t whylen);

/* ---- Internal envelope keys (docs/internals.md) ------------------------------- */
#define PK_EV "ev"     /* request: canonical event name */
#define PK_AS "as"     /* request: event name as the client sent it */
#define PK_GW "gw"     /* request: gateway id */
#define PK_CN "cn"     /* request/reply: connection id */
#define PK_RQ "rq"     /* request/reply: request id */
#define PK_UID "uid"   /* request: user id */
#define PK_ROLE "role" /* request: user role */
#define PK_NM "nm"     /* request: display name */
#define PK_DL "dl"     /* request: deadline, epoch ms */
#define PK_TS "ts"     /* request: when the gateway sent it, epoch ms (shedding by age) */
#define PK_B "b"       /* request body / reply or event payload */
#define PK_SUB "sub"   /* reply: conversation ids to subscribe to; event: one id */
#define PK_XG "xg"     /* event: excluded connection's gateway */
#define PK_XC "xc"     /* event: excluded connection id */
#define PK_XU "xu"     /* event: excluded user */

/* Internal request names that do not come from clients. Notifications (rq 0) get
   no reply. */
#define PROTO_EV_HEALTH "health"             /* gateway → every service: liveness probe */
#define PROTO_EV_SESSION_OPEN "session_open" /* gateway → chat: list conversations at auth */
#define PROTO_EV_CONN_OPEN "conn_open"   /* gateway → presence (notification): an
                                            authenticated connection; body {} */
#define PROTO_EV_CONN_CLOSE "conn_close" /* gateway → presence and call (notification):
                                            it closed; body {} */
#define PROTO_EV_PRESENCE_QUERY "presence_query" /* any service → presence (ask):
                                            {user_ids} → {type:"presence_info", users:[{user_id,
                                            role, status, online, connections}]} */
#define PROTO_EV_AVAILABLE_MENTORS "available_mentors" /* any service → presence (ask): {} →
                                            {type:"available_mentors", mentors:[user_id...]} */
#define PROTO_EV_SHARED_CONTACTS "shared_contacts" /* any service → chat (ask): {queries:
                                            [{user_id, user_ids:[...]}]} → {type:
                                            "shared_contacts", results:[[user_id...]...]}:
                                            per query, in its order, those of its user_ids
                                            who share a conversation with its user_id */
#define PROTO_EV_CONV_MEMBERS "conversation_members" /* any service → chat (ask):
                                            {conversation_id, user_ids} → {type:
                                            "conversation_members", conversation_id,
                                            members:[...]}: those of user_ids who are its
                                            participants (none if it does not exist) */
#define PROTO_EV_ACTIVITY "activity" /* call → presence (notification): {user_id, busy:
                                        bool, ref}: a mentor entered/left a call or help
                                        session; presence shows busy, then restores */
#define PROTO_EV_API_POST_MESSAGE "api_post_message" /* server API → chat: {conversation_id,
                                            content, temp_id?, reply_to_id?, attachments?}
                                            as uid (a participant) or as the system (uid
                                            ""); reply {type:"message", http: 201|200,
                                            message} */
#define PROTO_EV_API_CREATE_CONV "api_create_conversation" /* server API → chat:
                                            {participants, kind?, title?} → {type:
                                            "conversation", http, conversation} */
#define PROTO_EV_API_ADD_PARTICIPANTS "api_add_participants" /* server API → chat:
                                            {conversation_id, user_ids} → {type:
                                            "conversation", conversation} */
#define PROTO_EV_API_REMOVE_PARTICIPANT "api_remove_participant" /* server API → chat:
                                            {conversation_id, user_id} → {type:
                                            "removed", http: 204} */
#define PROTO_EV_API_DISCONNECT "api_disconnect" /* server API → presence: {user_id,
                                            reason?, revoke?} → {type:"disconnected", http:
                                            202, connections}; publishes `disconnect` on the
                                            gateways' topic */
#define PROTO_EV_REVOCATIONS "revocations" /* gateway → presence at start (cn 0): {} →
                                            {type:"revocations", users:[[user_id,
                                            before_s]...]} */
#define PROTO_EV_API_GET_CALL "api_get_call" /* server API → call: {call_id} → {type:
                                            "call", call} */
#define PROTO_EV_API_USER_CALLS "api_user_calls" /* server API → call: {user_id, limit?} →
                                            {type:"calls", calls} (newest first) */
#define PROTO_EV_API_HELP_REQUESTS "api_help_requests" /* server API → call: {state?,
                                            limit?} → {type:"help_requests", requests} */
#define PROTO_EV_API_WEBHOOK_DEAD "api_webhook_dead_letters" /* server API → chat, presence
                                            and call (each its own): {limit} → {type:
                                            "dead_letters", events} */
#define PROTO_EV_API_WEBHOOK_REPLAY "api_webhook_replay" /* server API → the service the
                                            event id names: {event_id} → {type:"replayed",
                                            http: 202} or not_found */
#define PROTO_TOPIC_CHAT_EVENTS "ichat" /* internal topic chat-svc publishes on, for its
                                           own instances: participant_removed
                                           {conversation_id, user_id} */
#define PROTO_TOPIC_PRESENCE_EVENTS "ipresence" /* internal topic presence publishes on */
#define PROTO_EV_GW_LEASE "gw_lease"     /* gateway → presence (notification), every
                                            GW_LEASE_INTERVAL_MS: body {ttl_ms}; a gateway
                                            whose lease lapses is dead, with all its
                                            connections */
#define PROTO_EV_GW_RECONCILE "gw_reconcile" /* gateway → presence (notification), every
                                            GW_RECONCILE_EVERY_LEASES leases: the
                                            gateway's live connections with ids in
                                            [lo, hi], as parallel arrays {lo, hi, c: [cn],
                                            u: [uid], r: [role], n: [name|nil]}; presence
                                            closes its other rows of that range and opens
                                            the missing ones (docs/design/presence.md) */
#define PROTO_RECONCILE_CHUNK_MAX 256 /* connections per gw_reconcile: with ids and names
                                         at their caps, under 80 KB */

/* The role of requests from the server API (gateway/gw_api.c): the platform's
   backend acting as the system. No token carries it (pl_jwt knows only student,
   mentor, admin), so only the API listener can send it; `uid` is then the user the
   system acts for, or "" for none. */
#define PROTO_ROLE_SYSTEM "system"

/* Topic prefixes (a topic is prefix + id + '\0'). */
#define PROTO_TOPIC_GATEWAY 'g'
#define PROTO_TOPIC_USER 'u'
#define PROTO_TOPIC_CONV 'c'
#define PROTO_TOPIC_ROLE 'r'     /* r<role>: every connection of users with that role */
#define PROTO_TOPIC_PRESENCE 'p' /* p<user_id>: that user's presence, for every local
                                    connection watching the user (contacts, own devices) */
#define PROTO_TOPIC_GATEWAYS 'b' /* "b" alone: every gateway hears it (the server API's
                                    disconnect {user_id, reason, before_s?}) */
#define PROTO_TOPIC_INTERNAL 'i' /* i<name>: service-to-service events, never clients */

#define PROTO_TOPIC_MAX 160
/* Build a topic into out (cap >= PROTO_TOPIC_MAX); returns its length including the
   terminating NUL, or -1 if the id is too long. */
int proto_topic(char *out, size_t cap, char prefix, const char *id, size_t idlen);
int proto_topic_int(char *out, size_t cap, char prefix, int64_t id);

/* The contract's size limits, defaults. The gateway checks requests against them and
   may change them at start-up (MESSAGE_MAX_CHARS, STATUS_MESSAGE_MAX_CHARS,
   SIGNAL_MAX_BYTES); the services trust the gateway's check. */
#define PROTO_CONTENT_MAX 16384
#define PROTO_STATUS_MESSAGE_MAX 140
#define PROTO_SIGNAL_MAX 65536

typedef struct {
    int64_t content_max;        /* characters of a message's content */
    int64_t status_message_max; /* characters of a status message */
    int64_t signal_max;         /* bytes of a call signal's JSON text */
} proto_limits_t;

/* Replace the limits proto_check applies. Call once at start-up, before any check. */
void proto_set_limits(const proto_limits_t *limits);
const proto_limits_t *proto_limits(void);

/* Limits that are not configurable. */
#define PROTO_HISTORY_DEFAULT 50
#define PROTO_HISTORY_MAX 200

#endif
