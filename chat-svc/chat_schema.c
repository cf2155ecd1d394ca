/*  chat_schema: chat-svc's tables and migrations (schema `chat`, owned by chat-svc
    alone). The one thing to know: `seq` is gapless because it is taken from the
    conversation row under its row lock inside the same transaction as the insert; a
    rollback returns it. */
#include "chat_store.h"

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
    {0, NULL}};
