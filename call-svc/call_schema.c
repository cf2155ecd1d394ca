/*  call_schema: call-svc's tables and migrations (schema `call`, owned by call-svc
    alone). The one thing to know: the timers are columns. ring_due, grace_due and
    expires_at are due times in the database's clock; any instance's tick fires the
    rows that are due (FOR UPDATE SKIP LOCKED), so timers survive a restart and fire
    once however many instances run. */
#include "call_store.h"
#include "pl_webhook.h"

const pl_migration_t call_migrations[] = {
    {1,
     "CREATE TABLE call.calls ("
     "  id bigserial PRIMARY KEY,"
     "  caller_id text NOT NULL,"
     "  caller_role text NOT NULL,"
     "  caller_gw text NOT NULL," /* the initiating connection: caller-side events go there */
     "  caller_cn bigint NOT NULL,"
     "  callee_id text NOT NULL,"
     "  callee_role text,"
     "  callee_gw text," /* the accepting connection, once answered */
     "  callee_cn bigint,"
     "  media text NOT NULL CHECK (media IN ('audio', 'video')),"
     "  conversation_id bigint,"
     "  state text NOT NULL CHECK (state IN ('ringing', 'active', 'ended', 'rejected',"
     "    'cancelled', 'missed', 'offline', 'busy')),"
     "  end_reason text," /* hangup, disconnected, or the terminal state's name */
     "  end_detail text," /* the client's free-text reason (reject_call, end_call) */
     "  ended_by text,"
     "  created_at timestamptz NOT NULL DEFAULT clock_timestamp(),"
     "  answered_at timestamptz,"
     "  ended_at timestamptz,"
     "  ring_due timestamptz," /* ringing → missed at this time */
     "  grace_due timestamptz," /* a detached side that has not come back → disconnected */
     "  caller_detached boolean NOT NULL DEFAULT false,"
     "  callee_detached boolean NOT NULL DEFAULT false);"
     "CREATE INDEX calls_ring_due ON call.calls(ring_due) WHERE state = 'ringing';"
     "CREATE INDEX calls_grace_due ON call.calls(grace_due)"
     "  WHERE state = 'active' AND grace_due IS NOT NULL;"
     "CREATE INDEX calls_caller_conn ON call.calls(caller_gw, caller_cn)"
     "  WHERE state IN ('ringing', 'active');"
     "CREATE INDEX calls_callee_conn ON call.calls(callee_gw, callee_cn) WHERE state = 'active';"
     "CREATE INDEX calls_open_caller ON call.calls(caller_id) WHERE state IN ('ringing', 'active');"
     "CREATE INDEX calls_open_callee ON call.calls(callee_id) WHERE state IN ('ringing', 'active');"
     "CREATE INDEX calls_caller ON call.calls(caller_id, id);"
     "CREATE INDEX calls_callee ON call.calls(callee_id, id);"
     "CREATE TABLE call.help_requests ("
     "  id bigserial PRIMARY KEY,"
     "  student_id text NOT NULL,"
     "  topic text NOT NULL,"
     "  message text,"
     "  mentor_id text," /* the named mentor; NULL = offered to every available mentor */
     "  state text NOT NULL CHECK (state IN ('waiting', 'accepted', 'ended', 'cancelled',"
     "    'expired', 'declined')),"
     "  accepted_by text,"
     "  ended_by text,"
     "  created_at timestamptz NOT NULL DEFAULT clock_timestamp(),"
     "  expires_at timestamptz NOT NULL," /* waiting → expired at this time */
     "  accepted_at timestamptz,"
     "  ended_at timestamptz);"
     "CREATE INDEX help_waiting_due ON call.help_requests(expires_at) WHERE state = 'waiting';"
     "CREATE INDEX help_waiting_named ON call.help_requests(mentor_id) WHERE state = 'waiting';"
     /* Who was offered what: only they may accept or decline, and they are the ones
        told when the request closes. */
     "CREATE TABLE call.help_offers ("
     "  request_id bigint NOT NULL REFERENCES call.help_requests(id),"
     "  mentor_id text NOT NULL,"
     "  offered_at timestamptz NOT NULL DEFAULT clock_timestamp(),"
     "  declined_at timestamptz,"
     "  PRIMARY KEY (request_id, mentor_id));"},
    {2,
     /* One open (waiting or accepted) request per student. A unique index, not a
        check before the insert: two instances inserting for the same student at once
        meet in the index, the second waits for the first and then finds the conflict.
        Students who already hold several open requests keep one (an accepted one,
        else the oldest); the others are cancelled without telling anyone (a migration
        cannot publish): a mentor who accepts one later gets `conflict`. */
     "UPDATE call.help_requests r SET state = 'cancelled', ended_by = r.student_id,"
     "  ended_at = clock_timestamp()"
     " WHERE r.state IN ('waiting', 'accepted') AND r.id <> (SELECT k.id FROM call.help_requests k"
     "   WHERE k.student_id = r.student_id AND k.state IN ('waiting', 'accepted')"
     "   ORDER BY k.state = 'accepted' DESC, k.id LIMIT 1);"
     "CREATE UNIQUE INDEX help_open_student ON call.help_requests(student_id)"
     "  WHERE state IN ('waiting', 'accepted');"},
    {3,
     /* A mentor holds at most HELP_OFFERS_PER_MENTOR live offers (call_help.c): an
        offer is live while its request waits and the mentor has not declined it.
        closed_at marks the offers of a request that left `waiting`, so that a
        mentor's live offers are one probe of a small partial index, however many
        offers they were made over the years. */
     "ALTER TABLE call.help_offers ADD COLUMN closed_at timestamptz;"
     "UPDATE call.help_offers o SET closed_at = coalesce(r.accepted_at, r.ended_at,"
     "  clock_timestamp()) FROM call.help_requests r"
     " WHERE r.id = o.request_id AND r.state <> 'waiting';"
     "CREATE INDEX help_offers_live ON call.help_offers(mentor_id)"
     "  WHERE closed_at IS NULL AND declined_at IS NULL;"
     /* Mentors who take requests for anyone: available and online, as the last
        presence_changed said. A row per such mentor, written by every instance (each
        hears every event; the writes are idempotent); it lets an offer that closes
        make room for the next waiting request without asking presence. */
     "CREATE TABLE call.help_mentors ("
     "  mentor_id text PRIMARY KEY,"
     "  since timestamptz NOT NULL DEFAULT clock_timestamp());"},
    {4,
     /* The student's display name (the token's `name` claim) as it was when they
        asked: mentors are shown it with the offer, the assignment and the API's
        listing, as they may have never met the student. NULL: the token had none. */
     "ALTER TABLE call.help_requests ADD COLUMN student_name text;"},
    {5,
     /* Webhooks (service/pl_webhook.h): call.missed, call.ended, help_request.*. */
     PL_WEBHOOK_MIGRATION("call")},
    {0, NULL}};
