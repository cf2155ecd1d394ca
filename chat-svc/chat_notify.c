/*  chat_notify: the bounds on notification rows. A row is written for every
    participant who is away when a message arrives (chat_schema.c), and a user who
    never connects never reads them: without bounds, any sender could grow another
    user's rows for ever.
    The one thing to know: both bounds are enforced by the tick, in the database, in
    bounded steps, so several instances share the work without coordination beyond
    row locks: retention deletes expired rows oldest first (FOR UPDATE SKIP LOCKED),
    and the per-user cap trims the users who got rows since the last sweep, whose
    position is one row that a single instance at a time holds. Between two sweeps a
    user can be over the cap by what arrived meanwhile (about a second's worth). */
#include "chat_handlers.h"

#include "chat_store.h"
#include "pl_clock.h"
#include "pl_log.h"

#define SWEEP_EVERY_MS 1000 /* how often each instance sweeps when there is no backlog */
#define EXPIRE_BATCH 1000   /* rows deleted by retention per sweep */
#define TRIM_SCAN 10000     /* new rows read per sweep to find the users to trim */
#define TRIM_BUDGET 10000   /* rows deleted per user and sweep */

int chat_notify_sweep(chat_app_t *app, pl_service_t *svc)
{
    int64_t now = pl_mono_ms();
    if (now < app->next_sweep_ms)
        return 0;
    PGconn *db = pl_service_db(svc);
    int64_t expired;
    chat_trim_t trim;
    if (chat_store_notif_expire(db, app->notif_retention_days, EXPIRE_BATCH, &expired) ||
        chat_store_notif_trim(db, app->notif_max_per_user, TRIM_SCAN, TRIM_BUDGET, &trim))
        return -1;
    /* A backlog (a full batch, or a user over the budget): go on at the next tick. */
    int more = expired == EXPIRE_BATCH || trim.more;
    app->next_sweep_ms = more ? 0 : now + SWEEP_EVERY_MS;
    if (expired || trim.deleted)
        pl_info("notifications pruned", "expired=%lld over_cap=%lld", (long long)expired,
                (long long)trim.deleted);
    return 0;
}
