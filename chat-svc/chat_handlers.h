/*  chat_handlers: one function per client event of chat-svc, and the entry points the
    service runtime calls (requests, bus events, the tick). The one thing to know:
    handlers run inside the batch's transaction and reply through the runtime's outbox
    (sent after COMMIT); they return -1 only when the database failed. */
#ifndef CHAT_HANDLERS_H
#define CHAT_HANDLERS_H

#include "chat_members.h"
#include "chat_sessions.h"
#include "chat_store.h"
#include "chat_temp_id.h"
#include "pl_map.h"
#include "pl_service.h"

/* Limits that are chat-svc's own (the contract's are in proto/). */
/* in one conversation, the creator included */
#define CHAT_MAX_PARTICIPANTS 256
#define CHAT_MAX_REACTIONS_PER_USER 20 /* different emoji one user may put on a message */

typedef struct chat_staged chat_staged_t; /* a batched message read ahead, see below */

/* What chat-svc keeps between requests. Nothing here is needed for correctness:
   a restarted instance starts empty and behaves the same. */
typedef struct {
    chat_members_t *members; /* membership cache (typing, history) */
    int64_t resync_ms;       /* re-check a connected mark with presence after this */
    int64_t next_resync_ms;  /* monotonic time of the next re-check */
    chat_staged_t *staged;   /* this transaction's messages stored ahead (chat_prepare) */
    size_t nstaged, staged_cap;
    chat_sessions_t *sessions; /* this transaction's session_opens read ahead (chat_prepare) */
    pl_map_t *marks;         /* user -> latest presence heard, not yet in chat.online */

    /* Limits (main.c reads them) */
    int64_t creates_per_min;      /* CREATE_CONVERSATIONS_PER_MIN per user (0: no limit) */
    int64_t notif_retention_days; /* NOTIFICATION_RETENTION_DAYS */
    int64_t notif_max_per_user;   /* NOTIFICATION_MAX_PER_USER */
    int64_t next_sweep_ms;        /* monotonic time of the next notification sweep */
} chat_app_t;

/* ---- runtime entry points (app is a chat_app_t) -------------------------------- */
extern const pl_handler_t chat_handlers[]; /* what chat-svc serves */
int64_t chat_order_key(const proto_request_t *req);
int chat_on_event(void *app, pl_service_t *svc, const char *topic, size_t topic_len,
                  const msgpack_object *root);
int chat_tick(void *app, pl_service_t *svc, int64_t now_ms);
/* The runtime's prepare step: before the handlers of a transaction, with its
   requests in handling order, stores the common-case messages among them in one
   pipeline (chat_store_post_many); their handlers then only reply. A message it did
   not store (a refusal, a retry, a lone message) is stored by its handler. Several
   session_opens are read together the same way (chat_sessions.c). */
int chat_prepare(void *app, pl_service_t *svc, const proto_request_t *const *reqs, size_t n);

/* ---- event families (chat_handlers[] names them) ----------------------- */
/* Handlers get the chat_app_t as `app` (the runtime's pl_handler_fn). */
typedef pl_handler_fn chat_handler_fn;

/* chat_messages.c */
chat_handler_fn chat_on_message, chat_on_history, chat_on_edit, chat_on_delete, chat_on_react,
    chat_on_unreact;
/* chat_notify.c: retention and per-user cap of notification rows, from the tick
   (its own pace: at most once a second unless a backlog is left). */
int chat_notify_sweep(chat_app_t *app, pl_service_t *svc);

/* chat_receipts.c */
chat_handler_fn chat_on_typing_start, chat_on_typing_stop, chat_on_mark_read;
/* chat_asks.c: other services' questions about conversations */
chat_handler_fn chat_on_shared_contacts, chat_on_conversation_members;

/* chat_api.c: the server API's requests (role PROTO_ROLE_SYSTEM, from gw_api.c) */
chat_handler_fn chat_on_api_post_message, chat_on_api_create_conversation,
    chat_on_api_add_participants, chat_on_api_remove_participant;

/* A message request (`message`, api_post_message) read and checked; the strings point
   into the request, `in` and `att` (the caller's, receiving the normalised
   attachments). 0, or -1 with why and the error code. */
typedef struct {
    chat_post_t post;
    int64_t reply;
    char temp[CHAT_TEMP_ID_STORED_MAX];
} chat_message_in_t;

/* A message of the current batch that chat_prepare read (once: its handler uses this
   instead of reading the request again) and stored in the batch's pipeline. */
struct chat_staged {
    const proto_request_t *req;
    chat_message_in_t in; /* strings point into req, in.temp and att */
    msgpack_sbuffer att;  /* the normalised attachments, owned */
    chat_posted_t posted; /* the pipeline's outcome, when stored */
    int stored;
};

/* Frees what chat_prepare staged (the next batch, and shutdown, call it). */
void chat_staged_clear(chat_app_t *app);
/* What a create_conversation (client or server API) asks for: the kind (`kind` if
   given, else direct for two users and group for more) and the title ({NULL, 0}: none).
   n counts the participants, the creator included. */
const char *chat_requested_kind(const proto_request_t *req, int n);
chat_str_t chat_requested_title(const proto_request_t *req);

/* Answers a message the store refused (status FORBIDDEN, BAD_REPLY, or not found)
   with the contract's error; forbidden_why says who is not a participant. */
void chat_post_refused(pl_service_t *svc, const proto_request_t *req, chat_status_t status,
                       const char *forbidden_why);

int chat_read_message(const proto_request_t *req, chat_message_in_t *in, msgpack_sbuffer *att,
                      const char **why, const char **code);
/* Reactions of the first `rows` rows of message rows `r`, in one query (*out NULL when
   none has any). -1 on database failure. */
int chat_load_reactions(PGconn *db, const PGresult *r, int rows, PGresult **out);

/* chat_webhooks.c: message.created to the webhook outbox (nothing when webhooks are
   off). `message` is the message object, packed; sender "" for a system message.
   0, or -1 when the database failed. */
int chat_webhook_message(PGconn *db, int64_t conv, const char *sender, const char *message,
                         size_t len);

/* Replies not_found / forbidden itself. Returns 1 if `req->uid` is a participant of
   `conv`, 0 if refused, -1 on database failure. */
int chat_check_member(chat_app_t *app, pl_service_t *svc, const proto_request_t *req,
                      int64_t conv);

#endif
