/*  presence_schema: presence-svc's tables and migrations (schema `presence`, owned by
    presence-svc alone). The one thing to know: every change to a user happens under
    that user's row lock (presence.lock_user), taken first, so the connection rows, the
    busy refs and the timers of one user are only ever changed by one transaction at a
    time; the tick functions take user locks with SKIP LOCKED and so never wait for a
    batch (and can never deadlock with one). Times are the database's clock (now()),
    so several instances on several hosts agree on when a timer is due. */
#include "presence_store.h"
#include "pl_webhook.h"

const pl_migration_t presence_migrations[] = {
    {1,
     /* A gateway is alive while its lease runs; ttl_ms is what it asked for. */
     "CREATE TABLE presence.gateways ("
     "  gw text PRIMARY KEY,"
     "  lease_expires_at timestamptz NOT NULL,"
     "  ttl_ms int NOT NULL);"
     "CREATE TABLE presence.users ("
     "  user_id text PRIMARY KEY,"
     "  role text," /* last role seen in a token; NULL while unknown */
     "  name text,"
     "  chosen_status text NOT NULL DEFAULT 'online'"
     "    CHECK (chosen_status IN ('online', 'away', 'busy', 'available', 'offline')),"
     "  status_message text,"
     /* Announced online: from the first connection until the grace timer fires.
        Others see the user online exactly while this is true (and not invisible). */
     "  online boolean NOT NULL DEFAULT false,"
     "  busy_refs int NOT NULL DEFAULT 0," /* rows in presence.activity */
     "  last_seen timestamptz,"
     "  offline_due_at timestamptz);" /* the grace timer; NULL when not running */
     "CREATE INDEX users_offline_due ON presence.users(offline_due_at)"
     "  WHERE offline_due_at IS NOT NULL;"
     "CREATE INDEX users_mentor_like ON presence.users(user_id)"
     "  WHERE role IN ('mentor', 'admin');"
     "CREATE TABLE presence.connections ("
     "  gw text NOT NULL,"
     "  cn bigint NOT NULL,"
     "  user_id text NOT NULL,"
     "  role text,"
     "  opened_at timestamptz NOT NULL DEFAULT now(),"
     "  PRIMARY KEY (gw, cn));"
     "CREATE INDEX connections_user ON presence.connections(user_id);"
     /* Tombstones: a conn_close that overtook its conn_open (two instances take
        requests from one queue) leaves one, so the late open is not taken for a live
        connection. Swept after ten minutes. */
     "CREATE TABLE presence.closed ("
     "  gw text NOT NULL,"
     "  cn bigint NOT NULL,"
     "  closed_at timestamptz NOT NULL DEFAULT now(),"
     "  PRIMARY KEY (gw, cn));"
     "CREATE INDEX closed_at ON presence.closed(closed_at);"
     /* Calls and help sessions a user is in (call-svc's `activity`): busy meanwhile. */
     "CREATE TABLE presence.activity ("
     "  user_id text NOT NULL,"
     "  ref text NOT NULL,"
     "  since timestamptz NOT NULL DEFAULT now(),"
     "  PRIMARY KEY (user_id, ref));"

     /* What others see. The one definition: queries filter with it and the
        functions below report it before and after each change. */
     "CREATE FUNCTION presence.effective(p_online boolean, p_chosen text, p_busy int)"
     "  RETURNS text LANGUAGE sql IMMUTABLE AS $$"
     "  SELECT CASE WHEN NOT p_online OR p_chosen = 'offline' THEN 'offline'"
     "              WHEN p_busy > 0 THEN 'busy' ELSE p_chosen END $$;"

     /* One row per change: the user after it, what others saw before it, and (kind
        'gone') a connection that ended because its gateway's lease lapsed. */
     "CREATE TYPE presence.change AS ("
     "  kind text, user_id text, role text, name text,"
     "  status text, status_message text, last_seen_us bigint, conns int,"
     "  old_status text, old_message text, old_conns int,"
     "  self_status text," /* as one of the user's own live connections sees it */
     "  gw text, cn bigint);"

     "CREATE FUNCTION presence.lock_user(p_uid text, p_role text) RETURNS presence.users"
     "  LANGUAGE plpgsql AS $$"
     "DECLARE u presence.users;"
     "BEGIN"
     "  SELECT * INTO u FROM presence.users WHERE user_id = p_uid FOR UPDATE;"
     "  IF FOUND THEN RETURN u; END IF;"
     /* READ COMMITTED: if another transaction inserts it first, ours waits for it,
        does nothing, and the next statement sees (and locks) its row. */
     "  INSERT INTO presence.users(user_id, role) VALUES (p_uid, p_role) ON CONFLICT DO NOTHING;"
     "  SELECT * INTO u FROM presence.users WHERE user_id = p_uid FOR UPDATE;"
     "  RETURN u;"
     "END $$;"

     /* Helpers are PL/pgSQL, not SQL functions: PL/pgSQL keeps its statements' plans
        for the session, a non-inlined SQL function is planned again at every call
        (three times slower per conn_close when measured). */
     "CREATE FUNCTION presence.conns(p_uid text) RETURNS int LANGUAGE plpgsql STABLE AS $$"
     "BEGIN"
     "  RETURN (SELECT count(*)::int FROM presence.connections WHERE user_id = p_uid);"
     "END $$;"

     "CREATE FUNCTION presence.result(p_kind text, o presence.users, o_conns int)"
     "  RETURNS presence.change LANGUAGE plpgsql AS $$"
     "DECLARE u presence.users;"
     "BEGIN"
     "  SELECT * INTO u FROM presence.users WHERE user_id = o.user_id;"
     "  RETURN ROW(p_kind, u.user_id, u.role, u.name,"
     "         presence.effective(u.online, u.chosen_status, u.busy_refs), u.status_message,"
     "         (extract(epoch FROM u.last_seen) * 1000000)::bigint,"
     "         (SELECT count(*)::int FROM presence.connections c WHERE c.user_id = u.user_id),"
     "         presence.effective(o.online, o.chosen_status, o.busy_refs), o.status_message,"
     "         o_conns, presence.effective(true, u.chosen_status, u.busy_refs),"
     "         NULL::text, NULL::bigint)::presence.change;"
     "END $$;"

     /* The last connection went away: the grace timer starts; last_seen is now,
        unless the user was invisible (then it stays when they were last visible). */
     "CREATE FUNCTION presence.start_grace(p_uid text, p_grace_ms int) RETURNS void"
     "  LANGUAGE plpgsql AS $$"
     "BEGIN"
     "  UPDATE presence.users u"
     "     SET offline_due_at = now() + p_grace_ms * interval '1 millisecond',"
     "         last_seen = CASE WHEN presence.effective(u.online, u.chosen_status, u.busy_refs)"
     "                               <> 'offline' THEN now() ELSE u.last_seen END"
     "   WHERE u.user_id = p_uid AND u.online"
     "     AND NOT EXISTS (SELECT 1 FROM presence.connections c WHERE c.user_id = p_uid);"
     "END $$;"

     "CREATE FUNCTION presence.conn_open(p_gw text, p_cn bigint, p_uid text, p_role text,"
     "    p_name text, p_lease_ms int) RETURNS SETOF presence.change LANGUAGE plpgsql AS $$"
     "DECLARE o presence.users; o_conns int;"
     "BEGIN"
     "  o := presence.lock_user(p_uid, p_role);"
     "  o_conns := presence.conns(p_uid);"
     "  DELETE FROM presence.closed WHERE gw = p_gw AND cn = p_cn;"
     "  IF FOUND THEN RETURN; END IF;" /* its conn_close came first: it is over */
     /* A gateway not heard from yet still gets a lease, so that its connections
        expire if it dies before its first renewal. No lock taken: DO NOTHING. */
     "  INSERT INTO presence.gateways(gw, lease_expires_at, ttl_ms)"
     "    VALUES (p_gw, now() + p_lease_ms * interval '1 millisecond', p_lease_ms)"
     "    ON CONFLICT DO NOTHING;"
     "  INSERT INTO presence.connections(gw, cn, user_id, role)"
     "    VALUES (p_gw, p_cn, p_uid, p_role) ON CONFLICT DO NOTHING;"
     "  UPDATE presence.users SET role = p_role, name = coalesce(p_name, name), online = true,"
     "         offline_due_at = NULL WHERE user_id = p_uid;"
     "  RETURN NEXT presence.result('state', o, o_conns);"
     "END $$;"

     "CREATE FUNCTION presence.conn_close(p_gw text, p_cn bigint, p_uid text, p_grace_ms int)"
     "  RETURNS SETOF presence.change LANGUAGE plpgsql AS $$"
     "DECLARE o presence.users; o_conns int;"
     "BEGIN"
     "  o := presence.lock_user(p_uid, NULL);"
     "  o_conns := presence.conns(p_uid);"
     "  DELETE FROM presence.connections WHERE gw = p_gw AND cn = p_cn;"
     "  IF NOT FOUND THEN"
     "    INSERT INTO presence.closed(gw, cn) VALUES (p_gw, p_cn) ON CONFLICT DO NOTHING;"
     "    RETURN;"
     "  END IF;"
     "  PERFORM presence.start_grace(p_uid, p_grace_ms);"
     "  RETURN NEXT presence.result('state', o, o_conns);"
     "END $$;"

     "CREATE FUNCTION presence.set_status(p_uid text, p_role text, p_status text, p_message text)"
     "  RETURNS SETOF presence.change LANGUAGE plpgsql AS $$"
     "DECLARE o presence.users; o_conns int;"
     "BEGIN"
     "  o := presence.lock_user(p_uid, p_role);"
     "  o_conns := presence.conns(p_uid);"
     /* Going invisible looks like leaving: last_seen is now. */
     "  UPDATE presence.users u SET chosen_status = p_status, status_message = p_message,"
     "         role = coalesce(p_role, u.role),"
     "         last_seen = CASE WHEN presence.effective(u.online, u.chosen_status, u.busy_refs)"
     "                                 <> 'offline'"
     "                           AND presence.effective(u.online, p_status, u.busy_refs)"
     "                                 = 'offline'"
     "                          THEN now() ELSE u.last_seen END"
     "   WHERE u.user_id = p_uid;"
     "  RETURN NEXT presence.result('state', o, o_conns);"
     "END $$;"

     "CREATE FUNCTION presence.activity(p_uid text, p_ref text, p_busy boolean)"
     "  RETURNS SETOF presence.change LANGUAGE plpgsql AS $$"
     "DECLARE o presence.users; o_conns int;"
     "BEGIN"
     "  o := presence.lock_user(p_uid, NULL);"
     "  o_conns := presence.conns(p_uid);"
     "  IF p_busy THEN"
     "    INSERT INTO presence.activity(user_id, ref) VALUES (p_uid, p_ref) ON CONFLICT DO NOTHING;"
     "    IF FOUND THEN"
     "      UPDATE presence.users SET busy_refs = busy_refs + 1 WHERE user_id = p_uid;"
     "    END IF;"
     "  ELSE"
     "    DELETE FROM presence.activity WHERE user_id = p_uid AND ref = p_ref;"
     "    IF FOUND THEN"
     "      UPDATE presence.users SET busy_refs = busy_refs - 1 WHERE user_id = p_uid;"
     "    END IF;"
     "  END IF;"
     "  RETURN NEXT presence.result('state', o, o_conns);"
     "END $$;"

     /* Due grace timers: each fires once, whichever instance gets its row lock. One
        statement for the whole lot: every CTE reads the same snapshot, so `o` is
        each user as it was before the UPDATE. A user due here has no connection
        (a reconnect clears the timer under the same row lock). */
     "CREATE FUNCTION presence.fire_grace(p_limit int) RETURNS SETOF presence.change"
     "  LANGUAGE sql AS $$"
     "  WITH due AS (SELECT user_id FROM presence.users WHERE offline_due_at <= now()"
     "               ORDER BY offline_due_at LIMIT p_limit FOR UPDATE SKIP LOCKED),"
     "       o AS (SELECT u.* FROM presence.users u JOIN due USING (user_id)),"
     "       n AS (UPDATE presence.users u SET offline_due_at = NULL, online = false"
     "               FROM due WHERE u.user_id = due.user_id RETURNING u.*)"
     "  SELECT 'state'::text, n.user_id, n.role, n.name,"
     "         presence.effective(n.online, n.chosen_status, n.busy_refs), n.status_message,"
     "         (extract(epoch FROM n.last_seen) * 1000000)::bigint, 0,"
     "         presence.effective(o.online, o.chosen_status, o.busy_refs), o.status_message,"
     "         0, presence.effective(true, n.chosen_status, n.busy_refs), NULL::text, NULL::bigint"
     "    FROM n JOIN o USING (user_id) $$;"

     /* Gateways whose lease lapsed are dead with all their connections. An instance
        that has listened for less than a gateway's ttl may simply not have received
        its renewal yet (presence was down, renewals wait in the queue): it leaves
        that gateway alone. Users locked by a batch are skipped and done next tick;
        the gateway row goes once it has no connections left. */
     "CREATE FUNCTION presence.expire_leases(p_listening_ms bigint, p_grace_ms int, p_limit int)"
     "  RETURNS SETOF presence.change LANGUAGE plpgsql AS $$"
     "DECLARE dead text[]; o presence.users; o_conns int; g record;"
     "BEGIN"
     "  SELECT array_agg(d.gw) INTO dead FROM (SELECT gw FROM presence.gateways"
     "    WHERE lease_expires_at < now() AND ttl_ms < p_listening_ms"
     "    FOR UPDATE SKIP LOCKED) d;"
     "  IF dead IS NULL THEN RETURN; END IF;"
     "  FOR o IN SELECT u.* FROM presence.users u WHERE u.user_id IN"
     "             (SELECT c.user_id FROM presence.connections c WHERE c.gw = ANY(dead))"
     "           ORDER BY u.user_id LIMIT p_limit FOR UPDATE OF u SKIP LOCKED LOOP"
     "    o_conns := presence.conns(o.user_id);"
     "    FOR g IN DELETE FROM presence.connections c"
     "             WHERE c.user_id = o.user_id AND c.gw = ANY(dead) RETURNING c.gw, c.cn LOOP"
     "      RETURN NEXT ROW('gone', o.user_id, o.role, o.name, NULL, NULL, NULL, NULL,"
     "                      NULL, NULL, NULL, NULL, g.gw, g.cn)::presence.change;"
     "    END LOOP;"
     "    PERFORM presence.start_grace(o.user_id, p_grace_ms);"
     "    RETURN NEXT presence.result('state', o, o_conns);"
     "  END LOOP;"
     "  DELETE FROM presence.gateways g2 WHERE g2.gw = ANY(dead)"
     "    AND NOT EXISTS (SELECT 1 FROM presence.connections c WHERE c.gw = g2.gw);"
     "END $$;"},
    {2,
     /* Token revocations by the server API (presence_api.c): tokens of user_id issued
        (iat) before before_s are refused by every gateway, which loads this table
        when it starts and hears each new row as it is written. One row per user,
        the latest time. */
     "CREATE TABLE IF NOT EXISTS presence.revocations ("
     "  user_id text PRIMARY KEY,"
     "  before_s bigint NOT NULL);"},
    {3,
     /* Webhooks (service/pl_webhook.h). user.online / user.offline follow
        users.online (true from the first connection until the grace timer fires, so
        never for a flap) and carry a version that grows with every event of that
        user: the row is locked by the update, so versions follow commit order, and a
        late `online` never undoes a newer `offline` at the receiver. */
     PL_WEBHOOK_MIGRATION("presence")
     "CREATE TABLE IF NOT EXISTS presence.webhook_versions ("
     "  user_id text PRIMARY KEY,"
     "  version bigint NOT NULL,"
     "  online boolean NOT NULL);"}, /* what the last event said */
    {4,
     /* A gateway's list of its live connections with ids in [p_lo, p_hi] (gw_reconcile
        in the gateway): rows of that range it does not list lost their conn_close and
        are closed as conn_close would; listed connections without a row lost their
        conn_open and are opened as conn_open would (unless a tombstone says their
        close came first). Users locked by another transaction are skipped (SKIP
        LOCKED, as the ticks do): the next round fixes them, and a reconcile never
        waits for a batch nor deadlocks with one. */
     "CREATE OR REPLACE FUNCTION presence.reconcile(p_gw text, p_lo bigint, p_hi bigint, p_cns bigint[],"
     "    p_uids text[], p_roles text[], p_names text[], p_lease_ms int, p_grace_ms int)"
     "  RETURNS SETOF presence.change LANGUAGE plpgsql AS $$"
     "DECLARE s record; o presence.users; o_conns int;"
     "BEGIN"
     "  FOR s IN SELECT c.cn, c.user_id FROM presence.connections c"
     "           WHERE c.gw = p_gw AND c.cn BETWEEN p_lo AND p_hi AND c.cn <> ALL(p_cns)"
     "           ORDER BY c.user_id, c.cn LOOP"
     "    SELECT * INTO o FROM presence.users WHERE user_id = s.user_id FOR UPDATE SKIP LOCKED;"
     "    CONTINUE WHEN NOT FOUND;"
     "    o_conns := presence.conns(s.user_id);"
     "    DELETE FROM presence.connections WHERE gw = p_gw AND cn = s.cn;"
     "    CONTINUE WHEN NOT FOUND;"
     "    PERFORM presence.start_grace(s.user_id, p_grace_ms);"
     "    RETURN NEXT presence.result('state', o, o_conns);"
     "  END LOOP;"
     "  FOR s IN SELECT q.cn, q.uid, q.role, q.name"
     "           FROM unnest(p_cns, p_uids, p_roles, p_names) AS q(cn, uid, role, name)"
     "           WHERE NOT EXISTS (SELECT 1 FROM presence.connections c"
     "                             WHERE c.gw = p_gw AND c.cn = q.cn)"
     "             AND NOT EXISTS (SELECT 1 FROM presence.closed d"
     "                             WHERE d.gw = p_gw AND d.cn = q.cn)"
     "           ORDER BY q.uid, q.cn LOOP"
     "    PERFORM 1 FROM presence.users WHERE user_id = s.uid FOR UPDATE SKIP LOCKED;"
     "    CONTINUE WHEN NOT FOUND AND EXISTS (SELECT 1 FROM presence.users WHERE user_id = s.uid);"
     "    RETURN QUERY SELECT * FROM presence.conn_open(p_gw, s.cn, s.uid, s.role, s.name,"
     "                                                  p_lease_ms);"
     "  END LOOP;"
     "END $$;"},
    {0, NULL}};
