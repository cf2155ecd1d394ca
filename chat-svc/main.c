/*  parley-chat: conversations, messages, typing, receipts, reactions, notifications.
    main only reads chat-svc's own configuration and names the parts; the service
    runtime (service/) does the rest. */
#include <stdio.h>
#include <stdlib.h>

#include "chat_handlers.h"
#include "chat_store.h"
#include "pl_clock.h"
#include "pl_config.h"
#include "pl_service.h"

#define MEMBER_CACHE_MAX 200000 /* (conversation, user) pairs, ~100 bytes each */
#define TICK_MS 250 /* presence marks wait at most this long (chat_online.c) */

int main(void)
{
    chat_app_t app = {0};
    int rc = 1;
    if (pl_env_int("CHAT_PRESENCE_RESYNC_MS", 30000, 1000, 3600000, &app.resync_ms) ||
        pl_env_int("CREATE_CONVERSATIONS_PER_MIN", 30, 0, 100000, &app.creates_per_min) ||
        pl_env_int("NOTIFICATION_RETENTION_DAYS", 30, 1, 3650, &app.notif_retention_days) ||
        pl_env_int("NOTIFICATION_MAX_PER_USER", 1000, 1, 1000000, &app.notif_max_per_user))
        return 2;
    /* The first re-check comes soon after a start: marks may have gone stale while no
       chat-svc was running to hear presence's events. */
    app.next_resync_ms = pl_mono_ms() + 2000;
    app.members = chat_members_new(MEMBER_CACHE_MAX);
    app.marks = pl_map_new();
    if (!app.members || !app.marks) {
        fprintf(stderr, "parley-chat: out of memory\n");
        goto done;
    }
    static const char *const subscribe[] = {PROTO_TOPIC_PRESENCE_EVENTS, PROTO_TOPIC_CHAT_EVENTS,
                                            NULL};
    pl_service_def_t def = {
        .kind = PROTO_SVC_CHAT,
        .handlers = chat_handlers,
        .prepare = chat_prepare,
        .tick = chat_tick,
        .tick_ms = TICK_MS,
        .order_key = chat_order_key,
        .stmts = chat_stmts,
        .subscribe = subscribe,
        .on_event = chat_on_event,
    };
    rc = pl_service_main("chat", "CHAT_DB_URL", "chat", chat_migrations, &def, &app);
done:
    chat_members_destroy(&app.members);
    pl_map_destroy(&app.marks);
    chat_staged_clear(&app);
    free(app.staged);
    chat_sessions_clear(&app.sessions);
    return rc;
}
