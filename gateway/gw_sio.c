/*  gw_sio: Engine.IO v4 / Socket.IO v5 codec (see gw_sio.h for the wire forms).
    The one thing to know: parsing follows socket.io-parser's decoder field by field
    (type, attachments, namespace, ack id, JSON) but with hard bounds on every field it
    reads, and the JSON itself is only ever read through pl_json. The writer side
    (gw_sio_from_json) only rearranges our own JSON text: it scans the top level of the
    object for "type" and "id" and copies every other member verbatim, so an event
    fanned out to many Socket.IO connections is re-framed once, never re-encoded. */
#include "gw_sio.h"

#include <string.h>
#include <strings.h>

#include "pl_json.h"
#include "pl_mp.h"
#include "pl_mp_raw.h"

static int fail(char *err, size_t errlen, const char *why)
{
    if (err && errlen) {
        size_t n = strlen(why);
        if (n >= errlen)
            n = errlen - 1;
        memcpy(err, why, n);
        err[n] = '\0';
    }
    return -1;
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* ---- Engine.IO ---------------------------------------------------------------- */

int gw_eio_parse(const char *frame, size_t len, gw_eio_packet_t *out)
{
    if (!frame || len == 0 || frame[0] < '0' || frame[0] > '6')
        return -1;
    out->type = (gw_eio_type_t)(frame[0] - '0');
    out->data = frame + 1;
    out->len = len - 1;
    return 0;
}

/* ---- Socket.IO: parse ---------------------------------------------------------- */

/* `<n>-` after a binary packet's type: n is 1..3 digits and at most the cap. */
static int parse_attachments(const char *s, size_t len, size_t *i, uint32_t *n, char *err,
                             size_t errlen)
{
    size_t start = *i;
    uint32_t v = 0;
    while (*i < len && is_digit(s[*i]) && *i - start < 3)
        v = v * 10 + (uint32_t)(s[(*i)++] - '0');
    if (*i == start || *i >= len || s[*i] != '-')
        return fail(err, errlen, "binary packet: bad attachment count");
    if (v > GW_SIO_ATTACHMENTS_MAX)
        return fail(err, errlen, "binary packet: too many attachments");
    (*i)++;
    *n = v;
    return 0;
}

/* `/name,` : printable ASCII without ',' (it is echoed back in CONNECT_ERROR). */
static int parse_nsp(const char *s, size_t len, size_t *i, gw_sio_packet_t *out, char *err,
                     size_t errlen)
{
    size_t start = *i;
    while (*i < len && s[*i] != ',') {
        unsigned char c = (unsigned char)s[*i];
        if (c < 0x21 || c > 0x7e)
            return fail(err, errlen, "namespace: printable ASCII only");
        if (++*i - start > GW_SIO_NSP_MAX)
            return fail(err, errlen, "namespace: too long");
    }
    out->nsp = s + start;
    out->nsp_len = *i - start;
    if (*i < len)
        (*i)++; /* the ',' */
    return 0;
}

static int parse_ack(const char *s, size_t len, size_t *i, int64_t *ack, char *err, size_t errlen)
{
    size_t start = *i;
    int64_t v = 0;
    while (*i < len && is_digit(s[*i])) {
        if (*i - start >= GW_SIO_ACK_DIGITS)
            return fail(err, errlen, "ack id: too long");
        v = v * 10 + (s[(*i)++] - '0');
    }
    *ack = v;
    return 0;
}

int gw_sio_parse(const char *s, size_t len, gw_sio_packet_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    out->nsp = "/";
    out->nsp_len = 1;
    out->ack = -1;
    if (!s || len == 0 || s[0] < '0' || s[0] > '6')
        return fail(err, errlen, "unknown Socket.IO packet type");
    out->type = (gw_sio_type_t)(s[0] - '0');
    size_t i = 1;
    if ((out->type == GW_SIO_BINARY_EVENT || out->type == GW_SIO_BINARY_ACK) &&
        parse_attachments(s, len, &i, &out->attachments, err, errlen) != 0)
        return -1;
    if (i < len && s[i] == '/' && parse_nsp(s, len, &i, out, err, errlen) != 0)
        return -1;
    if (i < len && is_digit(s[i]) && parse_ack(s, len, &i, &out->ack, err, errlen) != 0)
        return -1;
    if (i < len) {
        out->data = s + i;
        out->data_len = len - i;
    }
    return 0;
}

int gw_sio_default_nsp(const gw_sio_packet_t *p)
{
    return p->nsp_len == 1 && p->nsp[0] == '/';
}

/* ---- Socket.IO: payloads --------------------------------------------------------- */

/* JSON text → one unpacked MessagePack object (in up, which the caller destroys).
   flags: PL_JSON_RAW_TEXT for an event, whose strings proto_validate judges (as for
   raw WebSocket frames), so the refusal names the field and carries the ack id. */
static int unpack_json(const char *data, size_t len, unsigned flags, msgpack_sbuffer *sb,
                       msgpack_unpacked *up, char *err, size_t errlen)
{
    if (pl_json_to_msgpack_ex(data, len, flags, sb, err, errlen) != 0)
        return -1;
    size_t off = 0;
    if (msgpack_unpack_next(up, sb->data, sb->size, &off) != MSGPACK_UNPACK_SUCCESS)
        return fail(err, errlen, "payload: cannot decode");
    return 0;
}

/* An absent or null argument is an empty object: as a map to read, and as bytes. */
static const char s_empty_map_bytes[1] = {(char)0x80};
static const msgpack_object s_empty_map = {.type = MSGPACK_OBJECT_MAP};

/* The argument's bytes: in the converted array [name, arg], what follows the name
   (the array's last element, so it runs to the end of the buffer). */
static int locate_arg(const msgpack_sbuffer *sb, gw_sio_event_t *out)
{
    size_t off = 0;
    if (pl_mp_raw_enter(sb->data, sb->size, &off) != 0 ||
        pl_mp_raw_skip(sb->data, sb->size, &off) != 0 || off >= sb->size)
        return -1;
    out->body = sb->data + off;
    out->body_len = sb->size - off;
    return 0;
}

int gw_sio_event_parse(const char *data, size_t len, msgpack_sbuffer *sb, msgpack_unpacked *up,
                       gw_sio_event_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (!data || len == 0)
        return fail(err, errlen, "an event needs a payload: [\"name\", {...}]");
    char jerr[96];
    if (unpack_json(data, len, PL_JSON_RAW_TEXT, sb, up, jerr, sizeof jerr) != 0) {
        char why[128];
        memcpy(why, "payload: ", 9);
        memcpy(why + 9, jerr, strlen(jerr) + 1);
        return fail(err, errlen, why);
    }
    const msgpack_object *o = &up->data;
    if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size == 0)
        return fail(err, errlen, "an event must be a list: [\"name\", {...}]");
    const msgpack_object *name = &o->via.array.ptr[0];
    if (name->type != MSGPACK_OBJECT_STR || name->via.str.size == 0 ||
        name->via.str.size > GW_SIO_EVENT_NAME_MAX)
        return fail(err, errlen, "event name: a string of 1 to 64 bytes is required");
    if (o->via.array.size > 2)
        return fail(err, errlen, "an event takes one argument: an object");
    const msgpack_object *arg = o->via.array.size == 2 ? &o->via.array.ptr[1] : NULL;
    if (arg && arg->type != MSGPACK_OBJECT_NIL && arg->type != MSGPACK_OBJECT_MAP)
        return fail(err, errlen, "the event's argument must be an object");
    out->name = name;
    if (arg && arg->type == MSGPACK_OBJECT_MAP) {
        out->arg = arg;
        if (locate_arg(sb, out) != 0) /* pl_json wrote it: cannot happen */
            return fail(err, errlen, "payload: cannot decode");
    } else {
        out->arg = &s_empty_map;
        out->body = s_empty_map_bytes;
        out->body_len = sizeof s_empty_map_bytes;
    }
    return 0;
}

gw_sio_token_t gw_sio_auth_token(const char *data, size_t len, char *out, size_t cap)
{
    if (!data || len == 0)
        return GW_SIO_TOKEN_NONE;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    gw_sio_token_t rc;
    if (unpack_json(data, len, 0, &sb, &up, NULL, 0) != 0 || up.data.type != MSGPACK_OBJECT_MAP) {
        rc = GW_SIO_TOKEN_NOT_OBJECT;
        goto done;
    }
    const msgpack_object *tok = pl_mp_get(&up.data, "token");
    if (!tok || tok->type == MSGPACK_OBJECT_NIL) {
        rc = GW_SIO_TOKEN_NONE;
        goto done;
    }
    if (tok->type != MSGPACK_OBJECT_STR) {
        rc = GW_SIO_TOKEN_BAD;
        goto done;
    }
    const char *s = tok->via.str.ptr;
    size_t n = tok->via.str.size;
    if (n >= 7 && strncasecmp(s, "Bearer ", 7) == 0) { /* as an Authorization header */
        s += 7;
        n -= 7;
        while (n && *s == ' ')
            s++, n--;
    }
    if (n == 0) {
        rc = GW_SIO_TOKEN_NONE;
    } else if (n >= cap || memchr(s, '\0', n)) {
        rc = GW_SIO_TOKEN_BAD; /* too long for any token we accept, or cut short by a NUL */
    } else {
        memcpy(out, s, n);
        out[n] = '\0';
        rc = GW_SIO_TOKEN_FOUND;
    }
done:
    msgpack_unpacked_destroy(&up);
    msgpack_sbuffer_destroy(&sb);
    return rc;
}

/* ---- encoders ------------------------------------------------------------------ */

/* s as a JSON string (escaped; invalid UTF-8 replaced, so the frame stays valid). */
static int put_str(pl_buf_t *out, const char *s)
{
    msgpack_object o;
    memset(&o, 0, sizeof o);
    o.type = MSGPACK_OBJECT_STR;
    o.via.str.ptr = s;
    o.via.str.size = (uint32_t)strlen(s);
    return pl_msgpack_to_json(&o, out);
}

int gw_eio_open(pl_buf_t *out, const char *sid, int64_t ping_interval_ms, int64_t ping_timeout_ms,
                int64_t max_payload)
{
    int rc = pl_buf_puts(out, "0{\"sid\":");
    rc |= put_str(out, sid);
    rc |= pl_buf_printf(out,
                        ",\"upgrades\":[],\"pingInterval\":%lld,\"pingTimeout\":%lld,"
                        "\"maxPayload\":%lld}",
                        (long long)ping_interval_ms, (long long)ping_timeout_ms,
                        (long long)max_payload);
    return rc ? -1 : 0;
}

int gw_sio_connect_ok(pl_buf_t *out, const char *sid)
{
    int rc = pl_buf_puts(out, "40{\"sid\":");
    rc |= put_str(out, sid);
    rc |= pl_buf_putc(out, '}');
    return rc ? -1 : 0;
}

int gw_sio_connect_error(pl_buf_t *out, const char *nsp, size_t nsp_len, const char *code,
                         const char *message)
{
    int rc = pl_buf_puts(out, "44");
    if (nsp && !(nsp_len == 1 && nsp[0] == '/')) {
        rc |= pl_buf_append(out, nsp, nsp_len);
        rc |= pl_buf_putc(out, ',');
    }
    rc |= pl_buf_puts(out, "{\"message\":");
    rc |= put_str(out, message);
    rc |= pl_buf_puts(out, ",\"data\":{\"code\":");
    rc |= put_str(out, code);
    rc |= pl_buf_puts(out, "}}");
    return rc ? -1 : 0;
}

/* ---- our JSON frames → Socket.IO packets ------------------------------------------ */

/* A scanner over the top level of a JSON object. It finds where members start and end
   without decoding them; it never reads past len whatever the bytes are (the fuzz target
   feeds it garbage), and reports -1 for anything that is not object-shaped. */
typedef struct {
    const char *s;
    size_t len, i;
    int done;
} scan_t;

typedef struct {
    size_t key, key_end; /* the key with its quotes */
    size_t val, val_end;
} member_t;

static int is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static void skip_ws(scan_t *sc)
{
    while (sc->i < sc->len && is_ws(sc->s[sc->i]))
        sc->i++;
}

/* Past the string starting at s[i] == '"' (len when unterminated). */
static size_t skip_string(const char *s, size_t len, size_t i)
{
    for (i++; i < len; i++) {
        if (s[i] == '\\')
            i++;
        else if (s[i] == '"')
            return i + 1;
    }
    return len;
}

/* Past the value starting at s[i]: a string, a whole container, or a scalar. */
static size_t skip_value(const char *s, size_t len, size_t i)
{
    if (i >= len)
        return len;
    if (s[i] == '"')
        return skip_string(s, len, i);
    if (s[i] == '{' || s[i] == '[') {
        size_t depth = 0;
        while (i < len) {
            if (s[i] == '"') {
                i = skip_string(s, len, i);
                continue;
            }
            if (s[i] == '{' || s[i] == '[')
                depth++;
            else if ((s[i] == '}' || s[i] == ']') && --depth == 0)
                return i + 1;
            i++;
        }
        return len;
    }
    while (i < len && s[i] != ',' && s[i] != '}' && s[i] != ']' && !is_ws(s[i]))
        i++;
    return i;
}

static int scan_init(scan_t *sc, const char *s, size_t len)
{
    sc->s = s;
    sc->len = len;
    sc->i = 0;
    sc->done = 0;
    skip_ws(sc);
    if (sc->i >= len || s[sc->i] != '{')
        return -1;
    sc->i++;
    skip_ws(sc);
    if (sc->i < len && s[sc->i] == '}')
        sc->done = 1;
    return 0;
}

/* 1 with the next member, 0 at the end of the object, -1 when malformed. */
static int scan_next(scan_t *sc, member_t *m)
{
    if (sc->done)
        return 0;
    skip_ws(sc);
    if (sc->i >= sc->len || sc->s[sc->i] != '"')
        return -1;
    m->key = sc->i;
    sc->i = m->key_end = skip_string(sc->s, sc->len, sc->i);
    skip_ws(sc);
    if (sc->i >= sc->len || sc->s[sc->i] != ':')
        return -1;
    sc->i++;
    skip_ws(sc);
    m->val = sc->i;
    sc->i = m->val_end = skip_value(sc->s, sc->len, sc->i);
    if (m->val_end == m->val)
        return -1;
    skip_ws(sc);
    if (sc->i >= sc->len)
        return -1;
    if (sc->s[sc->i] == '}')
        sc->done = 1;
    else if (sc->s[sc->i] != ',')
        return -1;
    sc->i++;
    return 1;
}

static int key_is(const char *s, const member_t *m, const char *quoted)
{
    size_t n = strlen(quoted);
    return m->key_end - m->key == n && memcmp(s + m->key, quoted, n) == 0;
}

/* A non-negative integer of at most GW_SIO_ACK_DIGITS digits: an ack id. */
static int is_ack_id(const char *s, const member_t *m)
{
    size_t n = m->val_end - m->val;
    if (n == 0 || n > GW_SIO_ACK_DIGITS)
        return 0;
    for (size_t k = m->val; k < m->val_end; k++)
        if (!is_digit(s[k]))
            return 0;
    return 1;
}

/* Copy every member but those whose key is `skip` (quoted form), comma-joined. */
static int put_members(pl_buf_t *out, const char *s, size_t len, const char *skip)
{
    scan_t sc;
    member_t m;
    int r, first = 1, rc = scan_init(&sc, s, len);
    while (rc == 0 && (r = scan_next(&sc, &m)) != 0) {
        if (r < 0)
            return -1;
        if (key_is(s, &m, skip))
            continue;
        if (!first)
            rc |= pl_buf_putc(out, ',');
        rc |= pl_buf_append(out, s + m.key, m.val_end - m.key);
        first = 0;
    }
    return rc;
}

int gw_sio_from_json(const char *json, size_t len, pl_buf_t *out)
{
    scan_t sc;
    member_t m, type = {0, 0, 0, 0}, id = {0, 0, 0, 0};
    int r, have_type = 0, have_ack = 0;
    if (!json || scan_init(&sc, json, len) != 0)
        return -1;
    while ((r = scan_next(&sc, &m)) != 0) {
        if (r < 0)
            return -1;
        if (key_is(json, &m, "\"type\"")) {
            type = m;
            have_type = json[m.val] == '"' && m.val_end - m.val >= 2 && json[m.val_end - 1] == '"';
        } else if (key_is(json, &m, "\"id\"")) {
            id = m;
            have_ack = is_ack_id(json, &m);
        }
    }
    if (!have_type)
        return -1;
    size_t mark = out->len;
    int rc;
    if (have_ack) {
        rc = pl_buf_puts(out, "43");
        rc |= pl_buf_append(out, json + id.val, id.val_end - id.val);
        rc |= pl_buf_puts(out, "[{");
        rc |= put_members(out, json, len, "\"id\"");
        rc |= pl_buf_puts(out, "}]");
    } else {
        rc = pl_buf_puts(out, "42[");
        rc |= pl_buf_append(out, json + type.val, type.val_end - type.val);
        rc |= pl_buf_puts(out, ",{");
        rc |= put_members(out, json, len, "\"type\"");
        rc |= pl_buf_puts(out, "}]");
    }
    if (rc) {
        out->len = mark;
        if (out->data)
            out->data[mark] = '\0';
        return -1;
    }
    return 0;
}
