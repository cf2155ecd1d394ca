/*  chat_store: every SQL statement of chat-svc, behind typed functions.
    The one thing to know: functions run inside the transaction the service runtime
    opened for the batch; they return -1 only when the database failed (the runtime
    then rolls back and retries), and report "not allowed / not found" as data. */
#ifndef CHAT_STORE_H
#define CHAT_STORE_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

#include "pl_pg.h"

extern const pl_migration_t chat_migrations[];
extern const pl_stmt_t chat_stmts[];

/* A string that is not NUL-terminated (it points into a request). */
typedef struct {
    const char *ptr;
    size_t len;
} chat_str_t;

typedef enum {
    CHAT_OK = 0,
    CHAT_NOT_FOUND,
    CHAT_FORBIDDEN,
    CHAT_DUPLICATE, /* temp_id seen before: the original is returned */
    CHAT_BAD_REPLY, /* reply_to_id is not a message of this conversation */
    CHAT_GONE,      /* the message is deleted: it can be neither edited nor reacted to */
    CHAT_TOO_MANY,  /* the user holds the maximum number of reactions on the message */
    CHAT_LIMITED,   /* over a per-user limit (conversations created per minute) */
    CHAT_UNDECIDED  /* chat_store_post_many: not the common case, ask chat_store_post */
} chat_status_t;

typedef struct {
    chat_status_t status;
    int64_t message_id, seq, created_us;
} chat_posted_t;

/* Store one message (see chat_schema.c for how seq stays gapless). out->status:
   OK, DUPLICATE (the original is in out), NOT_FOUND, FORBIDDEN or BAD_REPLY. */
int chat_store_post(PGconn *db, int64_t conv, const char *sender, chat_str_t content,
                    const int64_t *reply_to, chat_str_t attachments, chat_str_t temp_id,
                    chat_posted_t *out);

/* One message to post, for chat_store_post_many. Nothing is copied: the pointers
   must stay valid during the call. */
typedef struct {
    int64_t conv;
    const char *sender;
    chat_str_t content;
    const int64_t *reply_to; /* NULL: none */
    chat_str_t attachments;  /* MessagePack, or {NULL, 0} */
    chat_str_t temp_id;      /* {NULL, 0}: none */
} chat_post_t;

/* The common case of `n` messages at once: one set-based statement for the whole
   batch (after one that locks its conversations in id order), sent in one pipeline,
   so the batch waits for the database once and pays one statement, not one each.
   out[i].status is OK when message i was posted, UNDECIDED when the common case did
   not apply (a refusal or a retry: chat_store_post decides it). -1 on database
   failure: the transaction is then unusable (the runtime rolls it back). */
/* A system message (the server API's, no sender): stored with sender_id '' (packed as
   null), no membership check. Same outcome statuses as chat_store_post, but never
   CHAT_FORBIDDEN. */
int chat_store_post_system(PGconn *db, int64_t conv, chat_str_t content, const int64_t *reply_to,
                           chat_str_t attachments, chat_str_t temp_id, chat_posted_t *out);
int chat_store_post_many(PGconn *db, const chat_post_t *posts, size_t n, chat_posted_t *out);

/* Does the conversation exist, and is `user` a participant? */
int chat_store_access(PGconn *db, int64_t conv, const char *user, int *exists, int *member);

/* Create a conversation (or find the existing direct one). `participants` are
   distinct user ids including the creator. *status: OK (created: *conv is new),
   DUPLICATE (the existing direct conversation is *conv) or LIMITED (the creator
   created `per_min` or more conversations in the last minute, counted in the
   database under a per-user lock, so across instances; per_min 0: no limit). */
int chat_store_create(PGconn *db, const char *kind, chat_str_t title, const char *creator,
                      const char *const *participants, size_t n, int64_t per_min, int64_t *conv,
                      chat_status_t *status);

/* Conversations as rows (columns CV_*): id, kind, title, last_seq, participants
   (sorted, joined by 0x1f), unread_count (for `user`), and every participant's read
   position (decimal, joined by ',', in the participants' order). For one user (all
   of theirs) or one conversation. Caller PQclear()s. NULL on database failure. */
PGresult *chat_store_user_conversations(PGconn *db, const char *user);
PGresult *chat_store_conversation(PGconn *db, int64_t conv, const char *user);
/* CV_USER: only in chat_store_sessions' rows. */
enum { CV_ID = 0, CV_KIND, CV_TITLE, CV_LAST_SEQ, CV_PARTICIPANTS, CV_UNREAD, CV_READ_SEQS, CV_USER };

/* History page rows in ascending seq order after the caller reverses a descending
   read: columns id, conversation_id, seq, sender_id, content, reply_to_id,
   attachments (bytea), created_us, edited_us, deleted, temp_id, has_reactions.
   `after`/`before` < 0 mean absent. Reads limit+1 rows so the caller can tell
   has_more. Caller PQclear()s; NULL on database failure. */
PGresult *chat_store_history(PGconn *db, int64_t conv, int64_t after, int64_t before,
                             int64_t limit_plus_one, int descending);
enum {
    HC_ID = 0, HC_CONV, HC_SEQ, HC_SENDER, HC_CONTENT, HC_REPLY, HC_ATT,
    HC_CREATED, HC_EDITED, HC_DELETED, HC_TEMP, HC_HAS_REACTIONS
};

/* One message, as one history row (0 rows when unknown). Caller PQclear()s. */
PGresult *chat_store_message(PGconn *db, int64_t message_id);

/* Reactions of these messages: rows (message_id, emoji, user_id), grouped by
   message, then by emoji in the order each emoji was first used, then by time.
   Caller PQclear()s; NULL on database failure. */
PGresult *chat_store_reactions(PGconn *db, const int64_t *message_ids, size_t n);
enum { RC_MSG = 0, RC_EMOJI, RC_USER };

/* mark_read: the read position never moves backwards and is clamped to last_seq. */
typedef struct {
    chat_status_t status; /* OK, NOT_FOUND, FORBIDDEN */
    int64_t read_seq;     /* the position after the call */
    int moved;            /* it advanced (notifications up to it were cleared) */
    int64_t read_us;      /* when it last moved */
} chat_read_t;
int chat_store_mark_read(PGconn *db, int64_t conv, const char *user, int64_t seq,
                         chat_read_t *out);

/* Edit (del = 0: new content) or soft-delete (del = 1: content ignored) the user's
   own message. *out: OK, NOT_FOUND, FORBIDDEN (not the sender) or GONE (deleted). */
int chat_store_change(PGconn *db, int64_t message_id, const char *user, chat_str_t content,
                      int del, chat_status_t *out);

/* Add or remove one reaction. At most `max` reactions per user and message. */
typedef struct {
    chat_status_t status; /* OK, NOT_FOUND, FORBIDDEN, GONE, TOO_MANY */
    int64_t conv;
    int changed; /* 0: it was already so (no event to send) */
} chat_reacted_t;
int chat_store_react(PGconn *db, int64_t message_id, const char *user, chat_str_t emoji,
                     int add, int max, chat_reacted_t *out);

/* ---- who is connected, and in-app notifications ---------------------------------- */

/* Mark a user connected (online = 1) or not (0). */
int chat_store_set_online(PGconn *db, const char *user, int online);
/* The same for many users in one statement. */
int chat_store_set_online_many(PGconn *db, const chat_str_t *users, size_t n, int online);
/* Users marked connected whose mark was last checked more than `older_ms` ago,
   oldest first, at most `limit`: rows (user_id, now_us), now_us being the database's
   clock (epoch µs) at the read. Caller PQclear()s. */
PGresult *chat_store_online_stale(PGconn *db, int64_t older_ms, int limit);
/* Presence answered about `user` (asked at asked_us, epoch µs): keep the mark
   (online) or drop it unless it was set again after the question. */
int chat_store_online_checked(PGconn *db, const char *user, int online, int64_t asked_us);
/* Pending in-app notifications of a user (messages not read, not deleted). */
int chat_store_notification_count(PGconn *db, const char *user, int64_t *count);

/* Other services' asks. Which pairs (askers[i], others[i]) share a conversation:
   one row per pair that does, holding its 1-based position (bigint). NULL on
   failure. */
PGresult *chat_store_shared(PGconn *db, const chat_str_t *askers, const chat_str_t *others,
                            size_t n);
/* The participants of `conv` among users: one row (user_id) each. NULL on failure. */
PGresult *chat_store_members_among(PGconn *db, int64_t conv, const chat_str_t *users, size_t n);

/* Retention: delete up to `limit` rows older than `days` (the database's clock),
   oldest first; rows locked elsewhere are left for the next time. */
int chat_store_notif_expire(PGconn *db, int64_t days, int limit, int64_t *deleted);

/* The per-user cap: users who got rows since the last sweep keep their
   `max_per_user` newest. Reads at most `scan` new rows and deletes at most `budget`
   rows per user. Does nothing when another instance is sweeping. */
typedef struct {
    int64_t deleted; /* rows deleted */
    int more;        /* work is left: call again soon */
} chat_trim_t;
int chat_store_notif_trim(PGconn *db, int64_t max_per_user, int scan, int budget, chat_trim_t *out);

/* ---- the server API (chat_api.c) ---- */
/* A conversation as the system sees it: the columns of chat_store_conversation, with
   unread_count 0 (the system reads nothing). */
PGresult *chat_store_conversation_system(PGconn *db, int64_t conv);
/* Lock the conversation's row (before any participant row: the lock order) and say
   whether it exists, is direct, and how many participants it has. 0 or -1. */
int chat_store_conv_lock(PGconn *db, int64_t conv, int *exists, int *direct, int64_t *count);
/* *added / *removed: whether a row changed (already one / not one: 0). 0 or -1. The
   removed user's notification rows of that conversation go with it. */
int chat_store_add_participant(PGconn *db, int64_t conv, const char *user, int *added);
int chat_store_remove_participant(PGconn *db, int64_t conv, const char *user, int *removed);

/* Sessions opening together (chat_sessions.c): marks the users connected, then reads
   their notification counts (rows user_id, count; users without rows are absent) and
   their conversations (CONV columns then user_id, by user then conversation), in one
   round trip. 0 (both results the caller's), or -1 when the database failed. */
int chat_store_sessions(PGconn *db, const chat_str_t *users, size_t n, PGresult **counts,
                        PGresult **convs);

#endif
