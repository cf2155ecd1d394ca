/*  chat_pack: the conversation and message objects of the client protocol, packed as
    MessagePack from chat_store rows. The one thing to know: every answer and event
    that carries a message object packs it here, so history, new_message and the edit,
    delete and reaction events cannot drift apart. */
#ifndef CHAT_PACK_H
#define CHAT_PACK_H

#include <libpq-fe.h>
#include <msgpack.h>
#include <stdint.h>

/* {conversation_id, kind, title, participants, last_seq, unread_count,
   read_positions: {user_id: seq}} from a chat_store conversation row. */
void chat_pack_conversation(msgpack_packer *pk, const PGresult *r, int row);

/* The message object from a history row (chat_store_history / chat_store_message):
   {message_id, conversation_id, seq, sender_id, content, reply_to_id, attachments,
   created_at, edited_at, deleted, temp_id, reactions}. A deleted message has content
   "" and no attachments. `reactions` is a chat_store_reactions result covering the
   row's message (NULL: none). */
void chat_pack_message(msgpack_packer *pk, const PGresult *r, int row, const PGresult *reactions);

/* The `reactions` value of one message: [{emoji, count, user_ids}], from the rows of
   a chat_store_reactions result that belong to message_id. */
void chat_pack_reactions(msgpack_packer *pk, const PGresult *reactions, int64_t message_id);

/* Timestamp column (epoch µs) as ISO 8601, or nil. */
void chat_pack_time(msgpack_packer *pk, const char *key, const PGresult *r, int row, int col);

#endif
