/*  fuzz_json: libFuzzer target for pl_json, both directions (`make fuzz`).
    The one thing to know: each input is read twice. As JSON text (what a client sends)
    it must convert to MessagePack or fail cleanly; what converts is checked for the
    promises of pl_json.h. As MessagePack bytes (what a service publishes) it goes
    through the writer, whose output must always be JSON the parser accepts.
    Properties, each an abort() when broken:
    - a refused text leaves the output buffer as it was and a short reason that quotes
      nothing of the input (it goes back to the client);
    - an accepted text is exactly one MessagePack object, canonical (msgpack-c packs it
      to the same bytes), that the writer turns back into JSON which parses to the
      very same bytes (JSON -> MessagePack -> JSON -> MessagePack is the identity);
    - a map's members written alone (pl_msgpack_map_members_to_json) and wrapped in
      braces parse back to the same bytes too;
    - whatever the writer accepts, it writes as valid JSON in valid UTF-8. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "pl_buf.h"
#include "pl_json.h"

/* The parser's error text is ASCII, short, and says where and why, never what. */
static void check_reason(const char *err)
{
    size_t n = strlen(err);
    if (n == 0 || n > 96)
        abort();
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)err[i] < 0x20 || (unsigned char)err[i] > 0x7e)
            abort();
}

/* pl_json_to_msgpack must accept `json` and produce exactly `want`. */
static void check_reparse(const char *json, size_t len, const msgpack_sbuffer *want)
{
    char *copy = fuzz_copy((const uint8_t *)json, len, 0);
    if (!copy)
        return;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    if (pl_json_to_msgpack(copy, len, &sb, NULL, 0) != 0 || sb.size != want->size ||
        memcmp(sb.data, want->data, sb.size) != 0)
        abort();
    msgpack_sbuffer_destroy(&sb);
    free(copy);
}

static void check_canonical(const msgpack_object *obj, const msgpack_sbuffer *bytes)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    if (msgpack_pack_object(&pk, *obj) != 0 || sb.size != bytes->size ||
        memcmp(sb.data, bytes->data, sb.size) != 0)
        abort();
    msgpack_sbuffer_destroy(&sb);
}

static void json_side(const char *s, size_t n)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    char err[128];
    if (pl_json_to_msgpack(s, n, &sb, err, sizeof err) != 0) {
        if (sb.size != 0)
            abort();
        check_reason(err);
        msgpack_sbuffer_destroy(&sb);
        return;
    }
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    size_t off = 0;
    if (sb.size == 0 ||
        msgpack_unpack_next(&up, sb.data, sb.size, &off) != MSGPACK_UNPACK_SUCCESS ||
        off != sb.size)
        abort();
    check_canonical(&up.data, &sb);

    pl_buf_t b;
    pl_buf_init(&b, 0);
    if (pl_msgpack_to_json(&up.data, &b) != 0 || b.len == 0 || pl_utf8_count(b.data, b.len) < 0)
        abort();
    check_reparse(b.data, b.len, &sb);

    if (up.data.type == MSGPACK_OBJECT_MAP) {
        pl_buf_t m;
        pl_buf_init(&m, 0);
        if (pl_buf_putc(&m, '{') != 0)
            abort();
        int members = pl_msgpack_map_members_to_json(&up.data, &m);
        if (members < 0 || (uint32_t)members != up.data.via.map.size || pl_buf_putc(&m, '}') != 0)
            abort();
        check_reparse(m.data, m.len, &sb);
        pl_buf_free(&m);
    }
    pl_buf_free(&b);
    msgpack_unpacked_destroy(&up);
    msgpack_sbuffer_destroy(&sb);
}

static void msgpack_side(const char *s, size_t n)
{
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    size_t off = 0;
    if (fuzz_mp_plausible((const uint8_t *)s, n) &&
        msgpack_unpack_next(&up, s, n, &off) == MSGPACK_UNPACK_SUCCESS) {
        pl_buf_t b;
        pl_buf_init(&b, 0);
        if (pl_msgpack_to_json(&up.data, &b) == 0) {
            msgpack_sbuffer sb;
            msgpack_sbuffer_init(&sb);
            if (b.len == 0 || pl_utf8_count(b.data, b.len) < 0 ||
                pl_json_to_msgpack(b.data, b.len, &sb, NULL, 0) != 0)
                abort();
            msgpack_sbuffer_destroy(&sb);
        }
        pl_buf_free(&b);
    }
    msgpack_unpacked_destroy(&up);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_input(data, size);
    if (!s) /* over FUZZ_INPUT_MAX, or out of memory */
        return 0;
    json_side(s, size);
    msgpack_side(s, size);
    free(s);
    return 0;
}
