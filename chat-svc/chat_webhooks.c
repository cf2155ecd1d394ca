/*  chat_webhooks: message.created for the platform's backend (service/pl_webhook.h).
    The one thing to know: recipients_offline is read in the same statement that
    writes the outbox row, from the participants' `away` flag (chat.online, kept by
    chat_online.c), so it is what chat-svc knew when the message committed; the sender
    is never among them. The event is ordered with the sender's other events (the
    conversation's, for a system message). */
#include "chat_handlers.h"

#include <stdio.h>

#include "pl_buf.h"
#include "pl_json.h"
#include "pl_log.h"
#include "pl_webhook.h"

int chat_webhook_message(PGconn *db, int64_t conv, const char *sender, const char *message,
                         size_t len)
{
    if (!pl_webhook_enabled())
        return 0;
    pl_buf_t json;
    pl_buf_init(&json, 0);
    int rc = -1;
    if (pl_webhook_json(message, len, &json) != 0) {
        pl_error("webhook message not packed", "conversation=%lld", (long long)conv);
        goto done;
    }
    char key[160];
    if (sender[0])
        snprintf(key, sizeof key, "%s", sender);
    else
        snprintf(key, sizeof key, "conversation:%lld", (long long)conv);
    pl_pg_params_t p = {.n = 0};
    pl_pg_param_cstr(&p, key);
    pl_pg_param_bytes(&p, json.data, json.len);
    pl_pg_param_int(&p, conv);
    pl_pg_param_cstr(&p, sender);
    PGresult *r = pl_pg_run_params(db, "webhook_message", &p);
    rc = r ? 0 : -1;
    PQclear(r);
done:
    pl_buf_free(&json);
    return rc;
}
