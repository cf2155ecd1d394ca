/*  chat_online: who is connected, as far as notifications need to know.
    The one thing to know: chat-svc never asks presence on the message path. It keeps
    chat.online from three sources: session_open (a connection authenticated: set, in
    that request's transaction), presence's internal events presence_changed {online}
    on topic `ipresence` (set or cleared), and a re-check: every
    CHAT_PRESENCE_RESYNC_MS the tick asks presence about the marks it has not checked
    for that long, in one question for up to 500 users, and drops those presence calls
    offline (events lost while chat-svc was down, or dropped by the bus). The message
    path then only reads the table.
    Presence events are not written one by one: a reconnect storm brings thousands, and
    a transaction each would stall the service. They are remembered (the latest per
    user) and written by the next tick, every TICK_MS, in two statements. */
#include "chat_handlers.h"

#include <stdlib.h>
#include <string.h>

#include "chat_store.h"
#include "pl_clock.h"
#include "pl_log.h"
#include "pl_mp.h"

#define RESYNC_BATCH 500     /* users per presence question (get_presence's limit) */
#define ASK_TIMEOUT_MS 1000  /* the tick blocks this long at most */
#define RESYNC_RETRY_MS 1000 /* more stale marks than one batch: go on soon */
#define MARKS_PER_STATEMENT 1000

/* Values of app->marks: what presence said last. */
static char s_online, s_offline;

/* ---- presence events --------------------------------------------------------- */

int chat_on_event(void *app_v, pl_service_t *svc, const char *topic, size_t topic_len,
                  const msgpack_object *root)
{
    chat_app_t *app = app_v;
    (void)topic;
    (void)topic_len;
    const msgpack_object *b = pl_mp_get(root, PK_B);
    const char *user;
    size_t len;
    int online;
    int64_t conv;
    char removed[129];
    if (pl_mp_str_eq(pl_mp_get(b, "type"), "participant_removed")) { /* chat_api.c */
        if (pl_mp_int(b, "conversation_id", &conv) == 0 &&
            pl_mp_strcpy(b, "user_id", removed, sizeof removed) == 0)
            chat_members_forget(app->members, conv, removed);
        return 0;
    }
    if (!pl_mp_str_eq(pl_mp_get(b, "type"), "presence_changed") ||
        pl_mp_str(b, "user_id", &user, &len) || len == 0 || len > 128 ||
        pl_mp_bool(b, "online", &online))
        return 0; /* other presence events (conn_gone, ...) are not ours */
    if (app->marks && pl_map_put(app->marks, user, len, online ? &s_online : &s_offline) == 0)
        return 0;
    /* Out of memory: write it now rather than lose it. */
    char id[129];
    memcpy(id, user, len);
    id[len] = '\0';
    return chat_store_set_online(pl_service_db(svc), id, online);
}

typedef struct {
    chat_str_t *on, *off;
    size_t non, noff;
} marks_t;

static void collect_mark(const void *key, size_t klen, void *value, void *arg)
{
    marks_t *m = arg;
    chat_str_t s = {key, klen};
    if (value == &s_online)
        m->on[m->non++] = s;
    else
        m->off[m->noff++] = s;
}

static int write_marks(PGconn *db, const chat_str_t *users, size_t n, int online)
{
    for (size_t i = 0; i < n; i += MARKS_PER_STATEMENT) {
        size_t k = n - i < MARKS_PER_STATEMENT ? n - i : MARKS_PER_STATEMENT;
        if (chat_store_set_online_many(db, users + i, k, online))
            return -1;
    }
    return 0;
}

/* Write the presence heard since the last tick. The marks are forgotten only once
   written; if the transaction then fails to commit, the re-check repairs it. */
static int flush_marks(chat_app_t *app, pl_service_t *svc)
{
    size_t n = app->marks ? pl_map_size(app->marks) : 0;
    if (n == 0)
        return 0;
    marks_t m = {calloc(n, sizeof *m.on), calloc(n, sizeof *m.off), 0, 0};
    int rc = -1;
    if (!m.on || !m.off)
        goto done;
    pl_map_each(app->marks, collect_mark, &m);
    PGconn *db = pl_service_db(svc);
    if (write_marks(db, m.off, m.noff, 0) || write_marks(db, m.on, m.non, 1))
        goto done;
    pl_map_t *fresh = pl_map_new();
    if (fresh) { /* else keep them: written again next time, which is harmless */
        pl_map_destroy(&app->marks);
        app->marks = fresh;
    }
    rc = 0;
done:
    free(m.on);
    free(m.off);
    return rc;
}

/* ---- re-checking marks with presence ------------------------------------------ */

/* {user_ids: [...]} for the rows of `r`. */
static void pack_query(msgpack_sbuffer *sb, const PGresult *r)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    int n = PQntuples(r);
    msgpack_pack_map(&pk, 1);
    pl_pack_str(&pk, "user_ids");
    msgpack_pack_array(&pk, (size_t)n);
    for (int i = 0; i < n; i++)
        pl_pack_strn(&pk, PQgetvalue(r, i, 0), (size_t)PQgetlength(r, i, 0));
}

/* Apply presence's answer {type:"presence_info", users:[{user_id, online}]}.
   Returns how many marks were dropped, or -1 on database failure. */
static int apply_answer(PGconn *db, const msgpack_object *info, int64_t asked_us)
{
    const msgpack_object *users = pl_mp_get(info, "users");
    if (!pl_mp_str_eq(pl_mp_get(info, "type"), "presence_info") || !users ||
        users->type != MSGPACK_OBJECT_ARRAY) {
        pl_debug("presence resync skipped", "reason=\"%s\"", "presence gave no presence_info");
        return 0;
    }
    int dropped = 0;
    for (uint32_t i = 0; i < users->via.array.size; i++) {
        const msgpack_object *u = &users->via.array.ptr[i];
        char user[129];
        int online;
        if (pl_mp_strcpy(u, "user_id", user, sizeof user) || pl_mp_bool(u, "online", &online))
            continue;
        if (chat_store_online_checked(db, user, online, asked_us))
            return -1;
        dropped += !online;
    }
    return dropped;
}

static int resync(chat_app_t *app, pl_service_t *svc)
{
    PGconn *db = pl_service_db(svc);
    PGresult *r = chat_store_online_stale(db, app->resync_ms, RESYNC_BATCH);
    if (!r)
        return -1;
    int n = PQntuples(r);
    if (n == 0) {
        PQclear(r);
        return 0;
    }
    int64_t asked_us = pl_pg_int(r, 0, 1);
    msgpack_sbuffer q, a;
    msgpack_sbuffer_init(&q);
    msgpack_sbuffer_init(&a);
    pack_query(&q, r);
    PQclear(r);
    int rc = 0;
    if (pl_service_ask(svc, PROTO_SVC_PRESENCE, PROTO_EV_PRESENCE_QUERY, NULL, q.data, q.size,
                       ASK_TIMEOUT_MS, &a) != 0) {
        pl_debug("presence resync skipped", "reason=\"%s\"", "no answer from presence");
        goto done;
    }
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    size_t off = 0;
    if (msgpack_unpack_next(&up, a.data, a.size, &off) == MSGPACK_UNPACK_SUCCESS) {
        int dropped = apply_answer(db, &up.data, asked_us);
        if (dropped < 0)
            rc = -1;
        else if (dropped > 0)
            pl_info("presence resync", "checked=%d dropped=%d", n, dropped);
    }
    msgpack_unpacked_destroy(&up);
    if (rc == 0 && n == RESYNC_BATCH) /* more are due: do not wait a whole period */
        app->next_resync_ms = pl_mono_ms() + RESYNC_RETRY_MS;
done:
    msgpack_sbuffer_destroy(&q);
    msgpack_sbuffer_destroy(&a);
    return rc;
}

int chat_tick(void *app_v, pl_service_t *svc, int64_t now_ms)
{
    (void)now_ms;
    chat_app_t *app = app_v;
    /* Before the marks: if it fails, the tick's transaction rolls back, and marks
       not yet written stay in memory for the next tick. */
    if (chat_notify_sweep(app, svc) || flush_marks(app, svc))
        return -1;
    int64_t mono = pl_mono_ms();
    if (mono < app->next_resync_ms)
        return 0;
    app->next_resync_ms = mono + app->resync_ms;
    return resync(app, svc);
}
