/*  chat_online: who is connected, as far as notifications need to know.
    The one thing to know: chat-svc never asks presence on the message path. It keeps
    chat.online from three sources: session_open (a connection authenticated: set),
    presence's internal events presence_changed {online} on topic `ipresence` (set or
    cleared), and this tick, which every CHAT_PRESENCE_RESYNC_MS asks presence about
    the marks it has not re-checked for that long, in one question for up to 500 users,
    and drops those presence calls offline (missed events: chat-svc was down, or the
    bus dropped one). The message path then only reads the table. */
#include "chat_handlers.h"

#include <string.h>

#include "chat_store.h"
#include "pl_clock.h"
#include "pl_log.h"
#include "pl_mp.h"

#define RESYNC_BATCH 500        /* users per presence question (get_presence's limit) */
#define ASK_TIMEOUT_MS 1000     /* the tick blocks this long at most */
#define RESYNC_RETRY_MS 1000    /* more stale marks than one batch: go on soon */

/* ---- presence events --------------------------------------------------------- */

int chat_on_event(void *app, pl_service_t *svc, const char *topic, size_t topic_len,
                  const msgpack_object *root)
{
    (void)app;
    (void)topic;
    (void)topic_len;
    const msgpack_object *b = pl_mp_get(root, PK_B);
    char user[129];
    int online;
    if (!pl_mp_str_eq(pl_mp_get(b, "type"), "presence_changed") ||
        pl_mp_strcpy(b, "user_id", user, sizeof user) || pl_mp_bool(b, "online", &online))
        return 0; /* other presence events (conn_gone, ...) are not ours */
    return chat_store_set_online(pl_service_db(svc), user, online);
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
    int64_t mono = pl_mono_ms();
    if (mono < app->next_resync_ms)
        return 0;
    app->next_resync_ms = mono + app->resync_ms;
    return resync(app, svc);
}
