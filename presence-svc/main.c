/*  parley-presence: who is online and what they show (schema `presence`). main reads
    the configuration and names the parts; the service runtime (service/) does the
    rest. Configuration: OFFLINE_GRACE_MS [5000], PRESENCE_TICK_MS [200] (how often
    timers are looked for), PRESENCE_LEASE_DEFAULT_MS [6000] (lease of a gateway whose
    first renewal has not arrived), PRESENCE_ASK_TIMEOUT_MS [1000] (longest wait for
    chat-svc's answer: who shares a conversation with a get_presence asker),
    PRESENCE_DB_URL or DB_CONNECTION_STRING. */
#include <stdio.h>

#include "pl_config.h"
#include "pl_log.h"
#include "pl_service.h"
#include "presence_handlers.h"
#include "presence_store.h"

int main(void)
{
    if (pl_log_init("presence")) {
        fprintf(stderr, "parley-presence: bad LOG_LEVEL or LOG_FORMAT\n");
        return 2;
    }
    presence_app_t app = {0};
    int64_t tick_ms;
    if (pl_env_int("OFFLINE_GRACE_MS", 5000, 0, 86400000, &app.grace_ms) ||
        pl_env_int("PRESENCE_TICK_MS", 200, 10, 60000, &tick_ms) ||
        pl_env_int("PRESENCE_LEASE_DEFAULT_MS", 6000, 100, 3600000, &app.lease_default_ms) ||
        pl_env_int("PRESENCE_ASK_TIMEOUT_MS", 1000, 10, 60000, &app.ask_ms))
        return 2;
    pl_service_def_t def = {
        .kind = PROTO_SVC_PRESENCE,
        .handlers = presence_handlers,
        .prepare = presence_prepare,
        .tick = presence_tick,
        .tick_ms = (int)tick_ms,
        .order_key = presence_order_key,
        .stmts = presence_stmts,
    };
    presence_app_init(&app);
    int rc =
        pl_service_main("presence", "PRESENCE_DB_URL", "presence", presence_migrations, &def, &app);
    presence_app_free(&app);
    return rc;
}
