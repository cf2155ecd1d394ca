/*  parley-call: call signaling and help requests. main only reads the configuration
    and names the parts; the service runtime (service/) does the rest. */
#include "call_handlers.h"
#include "call_store.h"
#include "pl_service.h"

int main(void)
{
    static call_cfg_t cfg;
    if (call_config_from_env(&cfg))
        return 2;
    /* Presence tells us of connections that vanished with their gateway and of
       mentors who became available. */
    static const char *const topics[] = {PROTO_TOPIC_PRESENCE_EVENTS, NULL};
    pl_service_def_t def = {
        .kind = PROTO_SVC_CALL,
        .handlers = call_handlers,
        .tick = call_tick,
        .tick_ms = (int)cfg.tick_ms,
        .order_key = call_order_key,
        .stmts = call_stmts,
        .subscribe = topics,
        .on_event = call_on_event,
    };
    return pl_service_main("call", "CALL_DB_URL", "call", call_migrations, &def, &cfg);
}
