/*  chat_schema: chat-svc's tables and migrations (schema `chat`, owned by chat-svc
    alone). The one thing to know: `seq` is gapless because it is taken from the
    conversation row under its row lock inside the same transaction as the insert; a
    rollback returns it, and so does every refusal after it was taken.
    Lock order, everywhere: a conversation row before any participant row; message
    rows are locked one per request (requests are sorted so that instances agree). */
#include "chat_store.h"
#include "pl_webhook.h"

const pl_migration_t chat_migrations[] = {
    {1,
     "CREATE TABLE chat.conversations ("
     "  id bigserial PRIMARY KEY,"
     "  kind text NOT NULL CHECK (kind IN ('direct', 'group')),"
     "  title text,"
     "  direct_key text UNIQUE," /* both user ids, sorted: makes a direct pair unique */
     "  created_by text NOT NULL,"
     "  created_at timestamptz NOT NULL DEFAULT now(),"
     "  last_seq bigint NOT NULL DEFAULT 0);"
     "CREATE TABLE chat.participants ("
     "  conversation_id bigint NOT NULL REFERENCES chat.conversations(id),"
     "  user_id text NOT NULL,"
     "  joined_at timestamptz NOT NULL DEFAULT now(),"
     "  read_seq bigint NOT NULL DEFAULT 0,"
     "  PRIMARY KEY (conversation_id, user_id));"
     "CREATE INDEX participants_user ON chat.participants(user_id);"
     "CREATE TABLE chat.messages ("
     "  id bigserial PRIMARY KEY,"
     "  conversation_id bigint NOT NULL REFERENCES chat.conversations(id),"
     "  seq bigint NOT NULL,"
     "  sender_id text NOT NULL,"
     "  content text NOT NULL,"
     "  reply_to_id bigint REFERENCES chat.messages(id),"
     "  attachments bytea," /* MessagePack array of {url,name,mime,size}, validated */
     "  temp_id text,"
     "  created_at timestamptz NOT NULL DEFAULT clock_timestamp(),"
     "  edited_at timestamptz,"
     "  deleted boolean NOT NULL DEFAULT false,"
     "  UNIQUE (conversation_id, seq),"
     "  UNIQUE (conversation_id, sender_id, temp_id));"
     /* One round trip per message: lock the conversation row (serialises seq), then
        check membership, idempotency and the reply target with fresh snapshots (in
        READ COMMITTED each statement sees what committed while we waited for the
        lock), then take the next seq. The sender's read position follows its own
        message: a user's own messages never count as unread. */
     "CREATE FUNCTION chat.post_message(p_conv bigint, p_sender text, p_content text,"
     "    p_reply bigint, p_att bytea, p_temp text)"
     "  RETURNS TABLE(status text, message_id bigint, seq bigint, created_us bigint)"
     "  LANGUAGE plpgsql AS $$"
     "DECLARE v_seq bigint; v_id bigint; v_at timestamptz;"
     "BEGIN"
     "  SELECT c.last_seq + 1 INTO v_seq FROM chat.conversations c WHERE c.id = p_conv FOR UPDATE;"
     "  IF NOT FOUND THEN RETURN QUERY SELECT 'not_found'::text, 0::bigint, 0::bigint, 0::bigint; RETURN; END IF;"
     "  IF p_temp IS NOT NULL THEN"
     "    SELECT m.id, m.seq, m.created_at INTO v_id, v_seq, v_at FROM chat.messages m"
     "     WHERE m.conversation_id = p_conv AND m.sender_id = p_sender AND m.temp_id = p_temp;"
     "    IF FOUND THEN RETURN QUERY SELECT 'duplicate'::text, v_id, v_seq,"
     "      (extract(epoch FROM v_at) * 1000000)::bigint; RETURN; END IF;"
     "    SELECT c.last_seq + 1 INTO v_seq FROM chat.conversations c WHERE c.id = p_conv;"
     "  END IF;"
     "  IF p_reply IS NOT NULL THEN"
     "    PERFORM 1 FROM chat.messages m WHERE m.id = p_reply AND m.conversation_id = p_conv;"
     "    IF NOT FOUND THEN RETURN QUERY SELECT 'bad_reply'::text, 0::bigint, 0::bigint, 0::bigint; RETURN; END IF;"
     "  END IF;"
     "  UPDATE chat.participants p SET read_seq = v_seq"
     "   WHERE p.conversation_id = p_conv AND p.user_id = p_sender;"
     "  IF NOT FOUND THEN RETURN QUERY SELECT 'forbidden'::text, 0::bigint, 0::bigint, 0::bigint; RETURN; END IF;"
     "  UPDATE chat.conversations c SET last_seq = v_seq WHERE c.id = p_conv;"
     "  INSERT INTO chat.messages(conversation_id, seq, sender_id, content, reply_to_id, attachments, temp_id)"
     "    VALUES (p_conv, v_seq, p_sender, p_content, p_reply, p_att, p_temp)"
     "    RETURNING id, created_at INTO v_id, v_at;"
     "  RETURN QUERY SELECT 'ok'::text, v_id, v_seq, (extract(epoch FROM v_at) * 1000000)::bigint;"
     "END $$;"},
    {2,
     /* Reactions: one row per (message, user, emoji); the primary key makes a second
        identical react a no-op and serves "this message's reactions" by prefix. */
     "CREATE TABLE chat.reactions ("
     "  message_id bigint NOT NULL REFERENCES chat.messages(id),"
     "  user_id text NOT NULL,"
     "  emoji text NOT NULL,"
     "  created_at timestamptz NOT NULL DEFAULT clock_timestamp(),"
     "  PRIMARY KEY (message_id, user_id, emoji));"
     "ALTER TABLE chat.participants ADD COLUMN read_at timestamptz;"
     /* Every insert into messages happens right after the UPDATE of its conversation
        row in the same transaction (post_message and the store's fast path), and
        conversations are never deleted: the foreign key could never fire, yet its
        check costs each message a query and a second lock on the conversation row. */
     "ALTER TABLE chat.messages DROP CONSTRAINT messages_conversation_id_fkey;"
     /* Who has a live connection, as far as chat-svc knows: a row appears at
        session_open and on presence's presence_changed {online: true}, and goes on
        presence_changed {online: false}; the tick re-checks old rows with presence.
        Derived state: losing it only costs extra notification rows. */
     "CREATE TABLE chat.online ("
     "  user_id text PRIMARY KEY,"
     "  since timestamptz NOT NULL DEFAULT now(),"
     "  checked_at timestamptz NOT NULL DEFAULT now());"
     /* In-app notifications: one row per participant who was not connected when a
        message arrived. A push sender reads the rows WHERE pushed_at IS NULL and sets
        pushed_at; mark_read deletes the rows it covers. No foreign keys: the insert
        is on the message path and the rows are only ever read by user. */
     "CREATE TABLE chat.notifications ("
     "  id bigserial PRIMARY KEY,"
     "  user_id text NOT NULL,"
     "  conversation_id bigint NOT NULL,"
     "  message_id bigint NOT NULL,"
     "  seq bigint NOT NULL,"
     "  created_at timestamptz NOT NULL DEFAULT now(),"
     "  pushed_at timestamptz);"
     "CREATE INDEX notifications_user ON chat.notifications(user_id, conversation_id, seq);"
     "CREATE INDEX notifications_unpushed ON chat.notifications(id) WHERE pushed_at IS NULL;"
     /* Version 2 of the message path: fewer statements on the common path. The
        conversation row is locked and its seq taken by one UPDATE; every refusal
        after that gives the seq back (we still hold the lock, so nobody took the
        next one) and the transaction stays usable for the rest of the batch. The
        temp_id retry is found by ON CONFLICT, which also sees rows committed while
        we waited for the lock. */
     "CREATE OR REPLACE FUNCTION chat.post_message(p_conv bigint, p_sender text,"
     "    p_content text, p_reply bigint, p_att bytea, p_temp text)"
     "  RETURNS TABLE(status text, message_id bigint, seq bigint, created_us bigint)"
     "  LANGUAGE plpgsql AS $$"
     "DECLARE v_seq bigint; v_id bigint; v_at timestamptz; v_member int;"
     "BEGIN"
     "  UPDATE chat.conversations c SET last_seq = c.last_seq + 1 WHERE c.id = p_conv"
     "    RETURNING c.last_seq INTO v_seq;"
     "  IF NOT FOUND THEN"
     "    RETURN QUERY SELECT 'not_found'::text, 0::bigint, 0::bigint, 0::bigint; RETURN;"
     "  END IF;"
     "  IF p_reply IS NOT NULL THEN"
     "    PERFORM 1 FROM chat.messages m WHERE m.id = p_reply AND m.conversation_id = p_conv;"
     "    IF NOT FOUND THEN"
     "      UPDATE chat.conversations c SET last_seq = v_seq - 1 WHERE c.id = p_conv;"
     "      RETURN QUERY SELECT 'bad_reply'::text, 0::bigint, 0::bigint, 0::bigint; RETURN;"
     "    END IF;"
     "  END IF;"
     "  INSERT INTO chat.messages(conversation_id, seq, sender_id, content, reply_to_id,"
     "      attachments, temp_id)"
     "    VALUES (p_conv, v_seq, p_sender, p_content, p_reply, p_att, p_temp)"
     "    ON CONFLICT (conversation_id, sender_id, temp_id) DO NOTHING"
     "    RETURNING id, created_at INTO v_id, v_at;"
     "  IF NOT FOUND THEN"
     "    UPDATE chat.conversations c SET last_seq = v_seq - 1 WHERE c.id = p_conv;"
     "    SELECT m.id, m.seq, m.created_at INTO v_id, v_seq, v_at FROM chat.messages m"
     "     WHERE m.conversation_id = p_conv AND m.sender_id = p_sender AND m.temp_id = p_temp;"
     "    RETURN QUERY SELECT 'duplicate'::text, v_id, v_seq,"
     "      (extract(epoch FROM v_at) * 1000000)::bigint;"
     "    RETURN;"
     "  END IF;"
     /* One statement: the sender's read position follows its own message (that is
        also the membership check), and every other participant chat-svc does not
        know to be connected gets a notification row. */
     "  WITH me AS (UPDATE chat.participants p SET read_seq = v_seq"
     "               WHERE p.conversation_id = p_conv AND p.user_id = p_sender RETURNING 1),"
     "       n AS (INSERT INTO chat.notifications(user_id, conversation_id, message_id, seq)"
     "             SELECT p.user_id, p_conv, v_id, v_seq FROM chat.participants p"
     "              WHERE p.conversation_id = p_conv AND p.user_id <> p_sender"
     "                AND EXISTS (SELECT 1 FROM me)"
     "                AND NOT EXISTS (SELECT 1 FROM chat.online o WHERE o.user_id = p.user_id"
     "                                OFFSET 0))" /* a probe per participant, never a
                                                     hash over the whole table */
     "  SELECT count(*) INTO v_member FROM me;"
     "  IF v_member = 0 THEN"
     "    DELETE FROM chat.messages m WHERE m.id = v_id;"
     "    UPDATE chat.conversations c SET last_seq = v_seq - 1 WHERE c.id = p_conv;"
     "    RETURN QUERY SELECT 'forbidden'::text, 0::bigint, 0::bigint, 0::bigint; RETURN;"
     "  END IF;"
     "  RETURN QUERY SELECT 'ok'::text, v_id, v_seq, (extract(epoch FROM v_at) * 1000000)::bigint;"
     "END $$;"
     /* mark_read: the conversation row is locked first, like post_message does, so
        the two always take their locks in the same order (no deadlock), and last_seq
        is current for the clamp. */
     "CREATE FUNCTION chat.mark_read(p_conv bigint, p_user text, p_seq bigint)"
     "  RETURNS TABLE(status text, read_seq bigint, moved boolean, read_us bigint)"
     "  LANGUAGE plpgsql AS $$"
     "DECLARE v_last bigint; v_old bigint; v_new bigint; v_at timestamptz;"
     "BEGIN"
     "  SELECT c.last_seq INTO v_last FROM chat.conversations c WHERE c.id = p_conv"
     "    FOR NO KEY UPDATE;"
     "  IF NOT FOUND THEN"
     "    RETURN QUERY SELECT 'not_found'::text, 0::bigint, false, 0::bigint; RETURN;"
     "  END IF;"
     "  SELECT p.read_seq, p.read_at INTO v_old, v_at FROM chat.participants p"
     "   WHERE p.conversation_id = p_conv AND p.user_id = p_user FOR NO KEY UPDATE;"
     "  IF NOT FOUND THEN"
     "    RETURN QUERY SELECT 'forbidden'::text, 0::bigint, false, 0::bigint; RETURN;"
     "  END IF;"
     "  v_new := GREATEST(v_old, LEAST(p_seq, v_last));"
     "  IF v_new > v_old THEN"
     "    v_at := clock_timestamp();"
     "    UPDATE chat.participants p SET read_seq = v_new, read_at = v_at"
     "     WHERE p.conversation_id = p_conv AND p.user_id = p_user;"
     "    DELETE FROM chat.notifications n"
     "     WHERE n.user_id = p_user AND n.conversation_id = p_conv AND n.seq <= v_new;"
     "  END IF;"
     "  RETURN QUERY SELECT 'ok'::text, v_new, v_new > v_old,"
     "    (extract(epoch FROM coalesce(v_at, clock_timestamp())) * 1000000)::bigint;"
     "END $$;"
     /* edit / delete: the sender's own message only. The UPDATE that succeeds is the
        whole common path; the lookup that follows a miss only names the refusal. */
     "CREATE FUNCTION chat.change_message(p_id bigint, p_user text, p_content text,"
     "    p_delete boolean)"
     "  RETURNS text LANGUAGE plpgsql AS $$"
     "DECLARE v_sender text; v_deleted boolean;"
     "BEGIN"
     "  IF p_delete THEN"
     "    UPDATE chat.messages m SET deleted = true, content = '', attachments = NULL"
     "     WHERE m.id = p_id AND m.sender_id = p_user AND NOT m.deleted;"
     "    IF FOUND THEN"
     "      DELETE FROM chat.reactions r WHERE r.message_id = p_id;"
     "      RETURN 'ok';"
     "    END IF;"
     "  ELSE"
     "    UPDATE chat.messages m SET content = p_content, edited_at = clock_timestamp()"
     "     WHERE m.id = p_id AND m.sender_id = p_user AND NOT m.deleted;"
     "    IF FOUND THEN RETURN 'ok'; END IF;"
     "  END IF;"
     "  SELECT m.sender_id, m.deleted INTO v_sender, v_deleted FROM chat.messages m"
     "   WHERE m.id = p_id;"
     "  IF NOT FOUND THEN RETURN 'not_found'; END IF;"
     "  IF v_sender <> p_user THEN RETURN 'forbidden'; END IF;"
     "  RETURN 'deleted';"
     "END $$;"
     /* react / unreact: lock the message row (the same lock edit and delete take, so
        a reaction never lands on a message being deleted), check membership, then
        insert or delete the one row. */
     "CREATE FUNCTION chat.react(p_id bigint, p_user text, p_emoji text, p_add boolean,"
     "    p_max int)"
     "  RETURNS TABLE(status text, conversation_id bigint, changed boolean)"
     "  LANGUAGE plpgsql AS $$"
     "DECLARE v_conv bigint; v_deleted boolean; v_n int;"
     "BEGIN"
     "  SELECT m.conversation_id, m.deleted INTO v_conv, v_deleted FROM chat.messages m"
     "   WHERE m.id = p_id FOR NO KEY UPDATE;"
     "  IF NOT FOUND THEN RETURN QUERY SELECT 'not_found'::text, 0::bigint, false; RETURN; END IF;"
     "  PERFORM 1 FROM chat.participants p WHERE p.conversation_id = v_conv AND p.user_id = p_user;"
     "  IF NOT FOUND THEN RETURN QUERY SELECT 'forbidden'::text, v_conv, false; RETURN; END IF;"
     "  IF v_deleted THEN RETURN QUERY SELECT 'deleted'::text, v_conv, false; RETURN; END IF;"
     "  IF p_add THEN"
     "    PERFORM 1 FROM chat.reactions r"
     "     WHERE r.message_id = p_id AND r.user_id = p_user AND r.emoji = p_emoji;"
     "    IF FOUND THEN RETURN QUERY SELECT 'ok'::text, v_conv, false; RETURN; END IF;"
     "    SELECT count(*) INTO v_n FROM chat.reactions r"
     "     WHERE r.message_id = p_id AND r.user_id = p_user;"
     "    IF v_n >= p_max THEN RETURN QUERY SELECT 'too_many'::text, v_conv, false; RETURN; END IF;"
     "    INSERT INTO chat.reactions(message_id, user_id, emoji) VALUES (p_id, p_user, p_emoji);"
     "    RETURN QUERY SELECT 'ok'::text, v_conv, true;"
     "  ELSE"
     "    DELETE FROM chat.reactions r"
     "     WHERE r.message_id = p_id AND r.user_id = p_user AND r.emoji = p_emoji;"
     "    RETURN QUERY SELECT 'ok'::text, v_conv, FOUND;"
     "  END IF;"
     "END $$;"},
    {3,
     /* Who is away, on the participant rows: the message path finds a conversation's
        away participants with one probe of a small partial index, instead of a
        chat.online probe per participant (≈ 30 % of the batch statement). The flag
        mirrors chat.online through two triggers. Both take the same per-user
        transaction lock before they read, so a participant added while that user
        connects or disconnects (another instance, another transaction) is always
        seen by one side or the other: whichever waits reads the other's commit. */
     "ALTER TABLE chat.participants ADD COLUMN away boolean NOT NULL DEFAULT true;"
     "UPDATE chat.participants p SET away = false"
     " WHERE EXISTS (SELECT 1 FROM chat.online o WHERE o.user_id = p.user_id);"
     "CREATE INDEX participants_away ON chat.participants(conversation_id) WHERE away;"
     "CREATE FUNCTION chat.lock_user_online(p_user text) RETURNS void LANGUAGE sql AS"
     "  $$SELECT pg_advisory_xact_lock(1667785076, hashtext(p_user))$$;" /* 'chat' */
     "CREATE FUNCTION chat.online_changed() RETURNS trigger LANGUAGE plpgsql AS $$"
     "BEGIN"
     "  IF TG_OP = 'INSERT' THEN"
     "    PERFORM chat.lock_user_online(NEW.user_id);"
     "    UPDATE chat.participants p SET away = false WHERE p.user_id = NEW.user_id AND p.away;"
     "  ELSE"
     "    PERFORM chat.lock_user_online(OLD.user_id);"
     "    UPDATE chat.participants p SET away = true WHERE p.user_id = OLD.user_id AND NOT p.away;"
     "  END IF;"
     "  RETURN NULL;"
     "END $$;"
     /* An upsert that finds the row fires neither: the user was online already. */
     "CREATE TRIGGER online_changed AFTER INSERT OR DELETE ON chat.online"
     "  FOR EACH ROW EXECUTE FUNCTION chat.online_changed();"
     "CREATE FUNCTION chat.participant_added() RETURNS trigger LANGUAGE plpgsql AS $$"
     "BEGIN"
     "  PERFORM chat.lock_user_online(NEW.user_id);"
     "  NEW.away := NOT EXISTS (SELECT 1 FROM chat.online o WHERE o.user_id = NEW.user_id);"
     "  RETURN NEW;"
     "END $$;"
     "CREATE TRIGGER participant_added BEFORE INSERT ON chat.participants"
     "  FOR EACH ROW EXECUTE FUNCTION chat.participant_added();"
     "CREATE OR REPLACE FUNCTION chat.post_message(p_conv bigint, p_sender text,"
     "    p_content text, p_reply bigint, p_att bytea, p_temp text)"
     "  RETURNS TABLE(status text, message_id bigint, seq bigint, created_us bigint)"
     "  LANGUAGE plpgsql AS $$"
     "DECLARE v_seq bigint; v_id bigint; v_at timestamptz; v_member int;"
     "BEGIN"
     "  UPDATE chat.conversations c SET last_seq = c.last_seq + 1 WHERE c.id = p_conv"
     "    RETURNING c.last_seq INTO v_seq;"
     "  IF NOT FOUND THEN"
     "    RETURN QUERY SELECT 'not_found'::text, 0::bigint, 0::bigint, 0::bigint; RETURN;"
     "  END IF;"
     "  IF p_reply IS NOT NULL THEN"
     "    PERFORM 1 FROM chat.messages m WHERE m.id = p_reply AND m.conversation_id = p_conv;"
     "    IF NOT FOUND THEN"
     "      UPDATE chat.conversations c SET last_seq = v_seq - 1 WHERE c.id = p_conv;"
     "      RETURN QUERY SELECT 'bad_reply'::text, 0::bigint, 0::bigint, 0::bigint; RETURN;"
     "    END IF;"
     "  END IF;"
     "  INSERT INTO chat.messages(conversation_id, seq, sender_id, content, reply_to_id,"
     "      attachments, temp_id)"
     "    VALUES (p_conv, v_seq, p_sender, p_content, p_reply, p_att, p_temp)"
     "    ON CONFLICT (conversation_id, sender_id, temp_id) DO NOTHING"
     "    RETURNING id, created_at INTO v_id, v_at;"
     "  IF NOT FOUND THEN"
     "    UPDATE chat.conversations c SET last_seq = v_seq - 1 WHERE c.id = p_conv;"
     "    SELECT m.id, m.seq, m.created_at INTO v_id, v_seq, v_at FROM chat.messages m"
     "     WHERE m.conversation_id = p_conv AND m.sender_id = p_sender AND m.temp_id = p_temp;"
     "    RETURN QUERY SELECT 'duplicate'::text, v_id, v_seq,"
     "      (extract(epoch FROM v_at) * 1000000)::bigint;"
     "    RETURN;"
     "  END IF;"
     "  WITH me AS (UPDATE chat.participants p SET read_seq = v_seq"
     "               WHERE p.conversation_id = p_conv AND p.user_id = p_sender RETURNING 1),"
     "       n AS (INSERT INTO chat.notifications(user_id, conversation_id, message_id, seq)"
     "             SELECT p.user_id, p_conv, v_id, v_seq FROM chat.participants p"
     "              WHERE p.conversation_id = p_conv AND p.away AND p.user_id <> p_sender"
     "                AND EXISTS (SELECT 1 FROM me))"
     "  SELECT count(*) INTO v_member FROM me;"
     "  IF v_member = 0 THEN"
     "    DELETE FROM chat.messages m WHERE m.id = v_id;"
     "    UPDATE chat.conversations c SET last_seq = v_seq - 1 WHERE c.id = p_conv;"
     "    RETURN QUERY SELECT 'forbidden'::text, 0::bigint, 0::bigint, 0::bigint; RETURN;"
     "  END IF;"
     "  RETURN QUERY SELECT 'ok'::text, v_id, v_seq, (extract(epoch FROM v_at) * 1000000)::bigint;"
     "END $$;"},
    {4,
     /* Membership is decided first: a non-participant is refused `forbidden` whatever
        else is wrong with the request, and learns nothing about the conversation's
        messages from a `reply_to_id` check. */
     "CREATE OR REPLACE FUNCTION chat.post_message(p_conv bigint, p_sender text,"
     "    p_content text, p_reply bigint, p_att bytea, p_temp text)"
     "  RETURNS TABLE(status text, message_id bigint, seq bigint, created_us bigint)"
     "  LANGUAGE plpgsql AS $$"
     "DECLARE v_seq bigint; v_id bigint; v_at timestamptz;"
     "BEGIN"
     "  UPDATE chat.conversations c SET last_seq = c.last_seq + 1 WHERE c.id = p_conv"
     "    RETURNING c.last_seq INTO v_seq;"
     "  IF NOT FOUND THEN"
     "    RETURN QUERY SELECT 'not_found'::text, 0::bigint, 0::bigint, 0::bigint; RETURN;"
     "  END IF;"
     "  PERFORM 1 FROM chat.participants p WHERE p.conversation_id = p_conv AND p.user_id = p_sender;"
     "  IF NOT FOUND THEN"
     "    UPDATE chat.conversations c SET last_seq = v_seq - 1 WHERE c.id = p_conv;"
     "    RETURN QUERY SELECT 'forbidden'::text, 0::bigint, 0::bigint, 0::bigint; RETURN;"
     "  END IF;"
     "  IF p_reply IS NOT NULL THEN"
     "    PERFORM 1 FROM chat.messages m WHERE m.id = p_reply AND m.conversation_id = p_conv;"
     "    IF NOT FOUND THEN"
     "      UPDATE chat.conversations c SET last_seq = v_seq - 1 WHERE c.id = p_conv;"
     "      RETURN QUERY SELECT 'bad_reply'::text, 0::bigint, 0::bigint, 0::bigint; RETURN;"
     "    END IF;"
     "  END IF;"
     "  INSERT INTO chat.messages(conversation_id, seq, sender_id, content, reply_to_id,"
     "      attachments, temp_id)"
     "    VALUES (p_conv, v_seq, p_sender, p_content, p_reply, p_att, p_temp)"
     "    ON CONFLICT (conversation_id, sender_id, temp_id) DO NOTHING"
     "    RETURNING id, created_at INTO v_id, v_at;"
     "  IF NOT FOUND THEN"
     "    UPDATE chat.conversations c SET last_seq = v_seq - 1 WHERE c.id = p_conv;"
     "    SELECT m.id, m.seq, m.created_at INTO v_id, v_seq, v_at FROM chat.messages m"
     "     WHERE m.conversation_id = p_conv AND m.sender_id = p_sender AND m.temp_id = p_temp;"
     "    RETURN QUERY SELECT 'duplicate'::text, v_id, v_seq,"
     "      (extract(epoch FROM v_at) * 1000000)::bigint;"
     "    RETURN;"
     "  END IF;"
     "  UPDATE chat.participants p SET read_seq = v_seq"
     "   WHERE p.conversation_id = p_conv AND p.user_id = p_sender;"
     "  INSERT INTO chat.notifications(user_id, conversation_id, message_id, seq)"
     "    SELECT p.user_id, p_conv, v_id, v_seq FROM chat.participants p"
     "     WHERE p.conversation_id = p_conv AND p.away AND p.user_id <> p_sender;"
     "  RETURN QUERY SELECT 'ok'::text, v_id, v_seq, (extract(epoch FROM v_at) * 1000000)::bigint;"
     "END $$;"
     /* Sending moves the sender's read position without touching their notification
        rows (the message path stays one probe lighter); those rows no longer count
        (notif_count compares them with read_seq), and the next mark_read deletes
        them, also when it does not move the position. */
     "CREATE OR REPLACE FUNCTION chat.mark_read(p_conv bigint, p_user text, p_seq bigint)"
     "  RETURNS TABLE(status text, read_seq bigint, moved boolean, read_us bigint)"
     "  LANGUAGE plpgsql AS $$"
     "DECLARE v_last bigint; v_old bigint; v_new bigint; v_at timestamptz;"
     "BEGIN"
     "  SELECT c.last_seq INTO v_last FROM chat.conversations c WHERE c.id = p_conv"
     "    FOR NO KEY UPDATE;"
     "  IF NOT FOUND THEN"
     "    RETURN QUERY SELECT 'not_found'::text, 0::bigint, false, 0::bigint; RETURN;"
     "  END IF;"
     "  SELECT p.read_seq, p.read_at INTO v_old, v_at FROM chat.participants p"
     "   WHERE p.conversation_id = p_conv AND p.user_id = p_user FOR NO KEY UPDATE;"
     "  IF NOT FOUND THEN"
     "    RETURN QUERY SELECT 'forbidden'::text, 0::bigint, false, 0::bigint; RETURN;"
     "  END IF;"
     "  v_new := GREATEST(v_old, LEAST(p_seq, v_last));"
     "  IF v_new > v_old THEN"
     "    v_at := clock_timestamp();"
     "    UPDATE chat.participants p SET read_seq = v_new, read_at = v_at"
     "     WHERE p.conversation_id = p_conv AND p.user_id = p_user;"
     "  END IF;"
     "  DELETE FROM chat.notifications n"
     "   WHERE n.user_id = p_user AND n.conversation_id = p_conv AND n.seq <= v_new;"
     "  RETURN QUERY SELECT 'ok'::text, v_new, v_new > v_old,"
     "    (extract(epoch FROM coalesce(v_at, clock_timestamp())) * 1000000)::bigint;"
     "END $$;"},
    {5,
     /* temp_id keeps its type (chat_temp_id.h): from now on an integer is stored as
        '#N' and a string that starts with '#' gets one more '#'. Strings stored
        before that start with '#' get it now, longest first, so that no row ever
        takes a value another row still holds (the unique index checks each row). */
     "DO $$DECLARE r record; BEGIN"
     "  FOR r IN SELECT id FROM chat.messages WHERE temp_id LIKE '#%'"
     "             ORDER BY length(temp_id) DESC LOOP"
     "    UPDATE chat.messages SET temp_id = '#' || temp_id WHERE id = r.id;"
     "  END LOOP;"
     "END $$;"},
    {6,
     /* Conversations a user created lately: create_conversation counts them against
        CREATE_CONVERSATIONS_PER_MIN (chat_store.c, "created_lately"). Migrations from
        here on may run again on a schema that has them (tests replay them). */
     "CREATE INDEX IF NOT EXISTS conversations_creator ON chat.conversations(created_by, created_at);"},
    {7,
     /* Notification rows are bounded (chat_notify.c): rows older than
        NOTIFICATION_RETENTION_DAYS go, oldest first through notifications_created,
        and a user keeps at most NOTIFICATION_MAX_PER_USER, the newest. The per-user
        trim looks only at users who got rows since the last sweep: last_id is how
        far the sweep has read chat.notifications; its single row is also the lock
        that lets one instance sweep at a time (FOR UPDATE SKIP LOCKED). */
     "CREATE INDEX IF NOT EXISTS notifications_created ON chat.notifications(created_at);"
     "CREATE TABLE IF NOT EXISTS chat.notification_sweep ("
     "  id int PRIMARY KEY CHECK (id = 1),"
     "  last_id bigint NOT NULL DEFAULT 0);"
     "INSERT INTO chat.notification_sweep(id) VALUES (1) ON CONFLICT DO NOTHING;"},
    {8,
     /* System messages (the server API posts them without a sender): stored with
        sender_id '' (no user id is empty), shown as sender_id null. Like
        post_message, but nobody's membership is checked and no read position moves;
        every participant marked away gets a notification row. '' keeps temp_id
        idempotent through the same unique index (NULL would never conflict). */
     "CREATE OR REPLACE FUNCTION chat.post_system_message(p_conv bigint, p_sender text,"
     "    p_content text, p_reply bigint, p_att bytea, p_temp text)"
     "  RETURNS TABLE(status text, message_id bigint, seq bigint, created_us bigint)"
     "  LANGUAGE plpgsql AS $$"
     "DECLARE v_seq bigint; v_id bigint; v_at timestamptz;"
     "BEGIN"
     "  UPDATE chat.conversations c SET last_seq = c.last_seq + 1 WHERE c.id = p_conv"
     "    RETURNING c.last_seq INTO v_seq;"
     "  IF NOT FOUND THEN"
     "    RETURN QUERY SELECT 'not_found'::text, 0::bigint, 0::bigint, 0::bigint; RETURN;"
     "  END IF;"
     "  IF p_reply IS NOT NULL THEN"
     "    PERFORM 1 FROM chat.messages m WHERE m.id = p_reply AND m.conversation_id = p_conv;"
     "    IF NOT FOUND THEN"
     "      UPDATE chat.conversations c SET last_seq = v_seq - 1 WHERE c.id = p_conv;"
     "      RETURN QUERY SELECT 'bad_reply'::text, 0::bigint, 0::bigint, 0::bigint; RETURN;"
     "    END IF;"
     "  END IF;"
     "  INSERT INTO chat.messages(conversation_id, seq, sender_id, content, reply_to_id,"
     "      attachments, temp_id)"
     "    VALUES (p_conv, v_seq, '', p_content, p_reply, p_att, p_temp)"
     "    ON CONFLICT (conversation_id, sender_id, temp_id) DO NOTHING"
     "    RETURNING id, created_at INTO v_id, v_at;"
     "  IF NOT FOUND THEN"
     "    UPDATE chat.conversations c SET last_seq = v_seq - 1 WHERE c.id = p_conv;"
     "    SELECT m.id, m.seq, m.created_at INTO v_id, v_seq, v_at FROM chat.messages m"
     "     WHERE m.conversation_id = p_conv AND m.sender_id = '' AND m.temp_id = p_temp;"
     "    RETURN QUERY SELECT 'duplicate'::text, v_id, v_seq,"
     "      (extract(epoch FROM v_at) * 1000000)::bigint;"
     "    RETURN;"
     "  END IF;"
     "  INSERT INTO chat.notifications(user_id, conversation_id, message_id, seq)"
     "    SELECT p.user_id, p_conv, v_id, v_seq FROM chat.participants p"
     "     WHERE p.conversation_id = p_conv AND p.away;"
     "  RETURN QUERY SELECT 'ok'::text, v_id, v_seq, (extract(epoch FROM v_at) * 1000000)::bigint;"
     "END $$;"},
    {9,
     /* Webhooks (service/pl_webhook.h): events are written to the outbox in the
        transaction of the change; parley-hooks delivers them. */
     PL_WEBHOOK_MIGRATION("chat")},
    {0, NULL}};
