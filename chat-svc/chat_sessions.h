/*  chat_sessions: the session_opens of one batch, read with three statements in one
    round trip instead of three each (see chat_sessions.c). */
#ifndef CHAT_SESSIONS_H
#define CHAT_SESSIONS_H

#include <libpq-fe.h>

#include "chat_store.h"
#include "pl_service.h"

typedef struct chat_sessions chat_sessions_t;

/* One user's answer: rows [first, first + rows) of convs, and the notification count. */
typedef struct {
    const PGresult *convs;
    int first, rows;
    int64_t notifications;
} chat_session_rows_t;

/* Clears what the previous batch read; when reqs hold two session_opens or more,
   marks their users connected and reads their answers (*self_p then holds them).
   0, or -1 when the database failed. */
int chat_sessions_prepare(chat_sessions_t **self_p, PGconn *db, const proto_request_t *const *reqs,
                          size_t n);
/* 1 and *out when user's answer was read ahead, else 0 (the handler reads it). */
int chat_sessions_find(const chat_sessions_t *self, const char *user, chat_session_rows_t *out);
void chat_sessions_clear(chat_sessions_t **self_p);

#endif
