/*  chat_temp_id: how a client's temp_id is stored, so that history gives it back with
    the type it was sent with. The one thing to know: the column is text, and an
    integer and a string must not meet there. An integer N is stored as "#N"; a string
    that starts with '#' gets one more '#' in front; any other string is stored as is.
    So 12345 and "12345" are two temp_ids (two messages), and "#1" stays a string.
    Rows written before migration 5 hold integers as plain digits: they come back as
    strings, as they always did. */
#ifndef CHAT_TEMP_ID_H
#define CHAT_TEMP_ID_H

#include <msgpack.h>
#include <stddef.h>

/* Room for the stored form of any temp_id the gateway accepts (128 bytes + '#'). */
#define CHAT_TEMP_ID_STORED_MAX 136

/* The stored form of temp_id `o` (a msgpack string or integer) into out; its length,
   or 0 when o is absent, nil or of another type (no temp_id). */
size_t chat_temp_id_store(const msgpack_object *o, char *out, size_t cap);

/* Pack "temp_id": the value a stored form stands for (string or integer). */
void chat_temp_id_pack(msgpack_packer *pk, const char *stored, size_t len);

#endif
