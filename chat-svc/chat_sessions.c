/*  chat_sessions: the session_opens of one batch, read together.
    The one thing to know: a reconnect storm is a flood of session_open, and each one
    alone costs three statements (mark the user connected, count notifications, list
    conversations), each with its round trip and its executor start-up in
    PostgreSQL. When a batch holds several, chat_prepare reads all of theirs with
    three set-based statements in one round trip (chat_store_sessions), and each
    handler answers from those rows. The rows belong to this transaction only:
    chat_prepare clears them before every batch, including the one-by-one retry. */
#include "chat_sessions.h"

#include <stdlib.h>
#include <string.h>

#include "pl_log.h"
#include "pl_map.h"

/* One user's rows: where their conversations start in `convs`, how many, and their
   notification count. */
typedef struct {
    int first, rows;
    int64_t notifications;
} user_rows_t;

struct chat_sessions {
    PGresult *counts, *convs;
    pl_map_t *users;  /* user id -> user_rows_t in `rows` */
    user_rows_t *rows; /* one per distinct user */
    size_t nusers;
};

void chat_sessions_clear(chat_sessions_t **self_p)
{
    chat_sessions_t *self = *self_p;
    if (!self)
        return;
    PQclear(self->counts);
    PQclear(self->convs);
    pl_map_destroy(&self->users);
    free(self->rows);
    free(self);
    *self_p = NULL;
}

/* The distinct users of the batch's session_opens into users[] (at most n). */
static size_t distinct_users(const proto_request_t *const *reqs, size_t n, pl_map_t *seen,
                             chat_str_t *users, user_rows_t *rows)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(reqs[i]->ev, PROTO_EV_SESSION_OPEN) != 0 || !reqs[i]->uid[0])
            continue;
        size_t len = strlen(reqs[i]->uid);
        if (pl_map_get(seen, reqs[i]->uid, len))
            continue;
        rows[k] = (user_rows_t){.first = 0, .rows = 0, .notifications = 0};
        if (pl_map_put(seen, reqs[i]->uid, len, &rows[k]) != 0)
            return 0; /* out of memory: one by one */
        users[k++] = (chat_str_t){reqs[i]->uid, len};
    }
    return k;
}

/* Point each user at their rows: counts by user, conversations grouped by user. */
static void index_rows(chat_sessions_t *self)
{
    for (int i = 0; i < PQntuples(self->counts); i++) {
        const char *u = PQgetvalue(self->counts, i, 0);
        user_rows_t *ur = pl_map_get(self->users, u, strlen(u));
        if (ur)
            ur->notifications = pl_pg_int(self->counts, i, 1);
    }
    user_rows_t *cur = NULL;
    const char *cur_user = NULL;
    for (int i = 0; i < PQntuples(self->convs); i++) {
        const char *u = PQgetvalue(self->convs, i, CV_USER);
        if (!cur_user || strcmp(u, cur_user) != 0) {
            cur = pl_map_get(self->users, u, strlen(u));
            cur_user = u;
            if (cur)
                cur->first = i, cur->rows = 0;
        }
        if (cur)
            cur->rows++;
    }
}

int chat_sessions_prepare(chat_sessions_t **self_p, PGconn *db, const proto_request_t *const *reqs,
                          size_t n)
{
    chat_sessions_clear(self_p);
    size_t count = 0;
    for (size_t i = 0; i < n; i++)
        count += strcmp(reqs[i]->ev, PROTO_EV_SESSION_OPEN) == 0;
    if (count < 2)
        return 0; /* one alone gains nothing: its handler reads its own */
    chat_sessions_t *self = calloc(1, sizeof *self);
    chat_str_t *users = calloc(count, sizeof *users);
    if (!self || !users || !(self->users = pl_map_new()) ||
        !(self->rows = calloc(count, sizeof *self->rows))) {
        free(users);
        chat_sessions_clear(&self);
        return 0; /* out of memory: the handlers read one by one */
    }
    self->nusers = distinct_users(reqs, n, self->users, users, self->rows);
    int rc = 0;
    if (self->nusers < 1) {
        chat_sessions_clear(&self);
    } else if (chat_store_sessions(db, users, self->nusers, &self->counts, &self->convs) != 0) {
        chat_sessions_clear(&self);
        rc = -1;
    } else {
        index_rows(self);
    }
    free(users);
    *self_p = self;
    return rc;
}

int chat_sessions_find(const chat_sessions_t *self, const char *user, chat_session_rows_t *out)
{
    const user_rows_t *ur = self && user ? pl_map_get(self->users, user, strlen(user)) : NULL;
    if (!ur)
        return 0;
    out->convs = self->convs;
    out->first = ur->first;
    out->rows = ur->rows;
    out->notifications = ur->notifications;
    return 1;
}
