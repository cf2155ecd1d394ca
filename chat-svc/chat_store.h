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
    CHAT_BAD_REPLY  /* reply_to_id is not a message of this conversation */
} chat_status_t;

typedef struct {
    chat_status_t status;
    int64_t message_id, seq, created_us;
} chat_posted_t;

int chat_store_post(PGconn *db, int64_t conv, const char *sender, chat_str_t content,
                    const int64_t *reply_to, chat_str_t attachments, chat_str_t temp_id,
                    chat_posted_t *out);

/* Does the conversation exist, and is `user` a participant? */
int chat_store_access(PGconn *db, int64_t conv, const char *user, int *exists, int *member);

/* Create a conversation (or find the existing direct one). `participants` are
   distinct user ids including the creator. *created tells whether it is new. */
int chat_store_create(PGconn *db, const char *kind, chat_str_t title, const char *creator,
                      const char *const *participants, size_t n, int64_t *conv, int *created);

/* Conversations as rows: id, kind, title, last_seq, participants (joined by 0x1f),
   unread_count. For one user (all of theirs) or one conversation (unread for `user`).
   Caller PQclear()s. NULL on database failure. */
PGresult *chat_store_user_conversations(PGconn *db, const char *user);
PGresult *chat_store_conversation(PGconn *db, int64_t conv, const char *user);
#define CHAT_CONV_COLS 6

/* History page rows in ascending seq order after the caller reverses a descending
   read: columns id, conversation_id, seq, sender_id, content, reply_to_id,
   attachments (bytea), created_us, edited_us, deleted, temp_id. `after`/`before` < 0
   mean absent. Reads limit+1 rows so the caller can tell has_more. */
PGresult *chat_store_history(PGconn *db, int64_t conv, int64_t after, int64_t before,
                             int64_t limit_plus_one, int descending);
enum {
    HC_ID = 0, HC_CONV, HC_SEQ, HC_SENDER, HC_CONTENT, HC_REPLY, HC_ATT,
    HC_CREATED, HC_EDITED, HC_DELETED, HC_TEMP
};

#endif
