/*  parley-call: walking-skeleton slice. It connects to the broker and its database,
    owns schema `call` (created at start), and answers the gateway's health probe
    through the shared runtime. Its client events are the subject of a later issue;
    until then each is answered with `unavailable` so clients fail fast and clearly. */
#include "pl_service.h"

static const pl_migration_t s_migrations[] = {{0, NULL}};

static int handle(void *app, pl_service_t *svc, const proto_request_t *req)
{
    (void)app;
    pl_service_error(svc, req, "unavailable", "call events are not served by this version yet");
    return 0;
}

int main(void)
{
    pl_service_def_t def = {.kind = PROTO_SVC_CALL, .handle = handle};
    return pl_service_main("call", "CALL_DB_URL", "call", s_migrations, &def, NULL);
}
