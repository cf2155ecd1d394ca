/*  parley-chat: conversations and messages. main only names the parts; the service
    runtime (service/) does the rest. */
#include "chat_handlers.h"
#include "chat_store.h"
#include "pl_service.h"

int main(void)
{
    pl_service_def_t def = {
        .kind = PROTO_SVC_CHAT,
        .handle = chat_handle,
        .order_key = chat_order_key,
        .stmts = chat_stmts,
    };
    return pl_service_main("chat", "CHAT_DB_URL", "chat", chat_migrations, &def, NULL);
}
