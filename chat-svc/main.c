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
#define TICK_MS 1000

int main(void)
{
    chat_app_t app = {0};
    if (pl_env_int("CHAT_PRESENCE_RESYNC_MS", 30000, 1000, 3600000, &app.resync_ms))
        return 2;
    /* The first re-check comes soon after a start: marks may have gone stale while no
       chat-svc was running to hear presence's events. */
    app.next_resync_ms = pl_mono_ms() + 2 * TICK_MS;
    app.members = chat_members_new(MEMBER_CACHE_MAX);
    if (!app.members) {
        fprintf(stderr, "parley-chat: out of memory\n");
        return 1;
    }
    static const char *const subscribe[] = {PROTO_TOPIC_PRESENCE_EVENTS, NULL};
    pl_service_def_t def = {
        .kind = PROTO_SVC_CHAT,
        .handle = chat_handle,
        .tick = chat_tick,
        .tick_ms = TICK_MS,
        .order_key = chat_order_key,
        .stmts = chat_stmts,
        .subscribe = subscribe,
        .on_event = chat_on_event,
    };
    int rc = pl_service_main("chat", "CHAT_DB_URL", "chat", chat_migrations, &def, &app);
    chat_members_destroy(&app.members);
    free(app.staged);
    return rc;
}
