/*  gw_typing: typing indicators expire at the gateway that delivered them.
    The one thing to know: no process keeps a shared typing timer. Each gateway that
    delivers `is_typing: true` for (conversation, user) remembers it; a refresh pushes
    the expiry back, `is_typing: false` or a new_message from that user ends it, and
    TYPING_TTL_MS without either makes this gateway tell its own recipients
    `is_typing: false`. That fires once per recipient, needs no database write, and
    still works when the typing user's gateway or a chat-svc instance dies.
    Every indicator lives TYPING_TTL_MS after its last refresh, so a list in refresh
    order is also expiry order: a tick looks at the expired head only, never the table. */
#include "gw.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pl_clock.h"
#include "pl_mp.h"

static size_t typing_key(char *out, size_t cap, int64_t conv, const char *uid, size_t len)
{
    int n = snprintf(out, cap, "%lld\x1f%.*s", (long long)conv, (int)len, uid);
    return n < 0 ? 0 : ((size_t)n < cap ? (size_t)n : cap - 1);
}

/* Send {type:user_typing, conversation_id, user_id, is_typing:false} to the
   conversation's local subscribers other than the user. */
static void announce_stop(gw_t *gw, int64_t conv, const char *uid)
{
    msgpack_object_kv kv[4] = {
        {pl_mp_obj_str("type"), pl_mp_obj_str("user_typing")},
        {pl_mp_obj_str("conversation_id"), pl_mp_obj_int(conv)},
        {pl_mp_obj_str("user_id"), pl_mp_obj_str(uid)},
        {pl_mp_obj_str("is_typing"), pl_mp_obj_bool(0)},
    };
    msgpack_object body = pl_mp_obj_map(kv, 4);
    gw_deliver_conv(gw, conv, &body, uid);
}

static void unlink_typing(gw_t *gw, gw_typing_t *t)
{
    PL_LIST_UNLINK(gw->typing_head, gw->typing_tail, t, prev, next);
}

static void append_typing(gw_t *gw, gw_typing_t *t)
{
    PL_LIST_APPEND(gw->typing_head, gw->typing_tail, t, prev, next);
}

static void start_or_refresh(gw_t *gw, int64_t conv, const char *uid, size_t len)
{
    char key[200];
    size_t klen = typing_key(key, sizeof key, conv, uid, len);
    gw_typing_t *t = pl_map_get(gw->typing, key, klen);
    if (!t) {
        t = malloc(sizeof *t + len + 1);
        if (!t)
            return;
        t->conv = conv;
        memcpy(t->uid, uid, len);
        t->uid[len] = '\0';
        if (pl_map_put(gw->typing, key, klen, t) != 0) {
            free(t);
            return;
        }
    } else {
        unlink_typing(gw, t);
    }
    t->expires_ms = pl_mono_ms() + gw->cfg.typing_ttl_ms;
    append_typing(gw, t);
}

/* Forget an indicator; returns 1 if there was one. */
static int forget(gw_t *gw, int64_t conv, const char *uid, size_t len)
{
    char key[200];
    size_t klen = typing_key(key, sizeof key, conv, uid, len);
    gw_typing_t *t = pl_map_remove(gw->typing, key, klen);
    if (!t)
        return 0;
    unlink_typing(gw, t);
    free(t);
    return 1;
}

void gw_typing_observe(gw_t *gw, int64_t conv, const msgpack_object *body)
{
    const msgpack_object *type = pl_mp_get(body, "type");
    const char *uid;
    size_t len;
    if (pl_mp_str_eq(type, "user_typing")) {
        int on = 0;
        if (pl_mp_str(body, "user_id", &uid, &len) || pl_mp_bool(body, "is_typing", &on))
            return;
        if (on)
            start_or_refresh(gw, conv, uid, len);
        else
            forget(gw, conv, uid, len);
    } else if (pl_mp_str_eq(type, "new_message")) {
        const msgpack_object *msg = pl_mp_get(body, "message");
        if (pl_mp_str(msg, "sender_id", &uid, &len) == 0 && forget(gw, conv, uid, len)) {
            char u[PL_USER_ID_MAX + 1];
            snprintf(u, sizeof u, "%.*s", (int)len, uid);
            announce_stop(gw, conv, u);
        }
    }
}

void gw_typing_expire(gw_t *gw, int64_t now_ms)
{
    while (gw->typing_head && gw->typing_head->expires_ms <= now_ms) {
        gw_typing_t *t = gw->typing_head;
        int64_t conv = t->conv;
        char uid[PL_USER_ID_MAX + 1];
        snprintf(uid, sizeof uid, "%s", t->uid);
        forget(gw, conv, uid, strlen(uid)); /* unlinks and frees t */
        announce_stop(gw, conv, uid);
    }
}

static void free_each(const void *k, size_t kl, void *v, void *arg)
{
    (void)k;
    (void)kl;
    (void)arg;
    free(v);
}

void gw_typing_free(gw_t *gw)
{
    if (gw->typing)
        pl_map_each(gw->typing, free_each, NULL);
    pl_map_destroy(&gw->typing);
    gw->typing_head = gw->typing_tail = NULL;
}
