/*  pl_log: logfmt or JSON lines on stderr, one write() per line so lines from
    several processes sharing a terminal never interleave mid-line. */
#include "pl_log.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

static pl_log_level_t s_level = PL_LOG_INFO;
static int s_json = 0;
static const char *s_service = "parley";
static const char *s_names[] = {"debug", "info", "warn", "error"};

int pl_log_init(const char *service)
{
    s_service = service;
    const char *lvl = getenv("LOG_LEVEL");
    int rc = 0;
    if (lvl && *lvl) {
        int found = 0;
        for (int i = 0; i < 4; i++)
            if (strcmp(lvl, s_names[i]) == 0) {
                s_level = (pl_log_level_t)i;
                found = 1;
            }
        if (!found)
            rc = -1;
    }
    const char *fmt = getenv("LOG_FORMAT");
    if (fmt && *fmt) {
        if (strcmp(fmt, "json") == 0)
            s_json = 1;
        else if (strcmp(fmt, "text") != 0)
            rc = -1;
    }
    return rc;
}

int pl_log_enabled(pl_log_level_t level)
{
    return level >= s_level;
}

/* Copy `s` into out as the inside of a quoted string: escape quotes, backslashes
   and control characters so one log record is always one line. */
static size_t quote_into(char *out, size_t cap, const char *s)
{
    size_t n = 0;
    for (; *s && n + 7 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            out[n++] = '\\';
            out[n++] = (char)c;
        } else if (c < 0x20) { /* \u00XX: six bytes, room checked by the loop */
            static const char hex[] = "0123456789abcdef";
            memcpy(out + n, "\\u00", 4);
            out[n + 4] = hex[c >> 4];
            out[n + 5] = hex[c & 15];
            n += 6;
        } else {
            out[n++] = (char)c;
        }
    }
    out[n] = '\0';
    return n;
}

/* ---- key=value pairs whose values cannot forge fields ------------------------------
   Values come from clients (user ids, reasons, types): `user=a level=error` in a user
   id must not read as a second field. The caller's format is walked conversion by
   conversion; numbers are written as printf would, strings are escaped for where they
   stand: inside the format's own quotes (`reason="%s"`) quotes, backslashes and control
   characters are escaped; bare (`user=%s`) a value that is empty or holds a space, `=`,
   a quote, a backslash or a control character is quoted and escaped. */

typedef struct {
    char *out;
    size_t cap, len;
} kv_out_t;

static void kv_putc(kv_out_t *o, char c)
{
    if (o->len + 1 < o->cap)
        o->out[o->len++] = c;
}

static void kv_escaped(kv_out_t *o, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            kv_putc(o, '\\');
            kv_putc(o, (char)c);
        } else if (c < 0x20 || c == 0x7f) {
            const char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            for (int k = 0; k < 6; k++)
                kv_putc(o, esc[k]);
        } else {
            kv_putc(o, (char)c);
        }
    }
}

static int needs_quotes(const char *s, size_t n)
{
    if (n == 0)
        return 1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= ' ' || c == '=' || c == '"' || c == '\\' || c == 0x7f)
            return 1;
    }
    return 0;
}

static void kv_value(kv_out_t *o, const char *s, size_t n, int in_quotes)
{
    int quote = !in_quotes && needs_quotes(s, n);
    if (quote)
        kv_putc(o, '"');
    kv_escaped(o, s, n);
    if (quote)
        kv_putc(o, '"');
}

/* One conversion (spec = "%…X", NUL-terminated) of the next argument(s) into o.
   The format is the caller's literal, checked by the compiler at the call site (the
   format attribute on pl_log), so building the single-conversion format is safe. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
static void kv_conversion(kv_out_t *o, const char *spec, size_t slen, int in_quotes, va_list *ap)
{
    char conv = spec[slen - 1];
    int stars[2], nstars = 0;
    for (size_t i = 1; i + 1 < slen; i++)
        if (spec[i] == '*' && nstars < 2)
            stars[nstars++] = va_arg(*ap, int);
    char tmp[512];
    int n = -1;
    int ll = strstr(spec, "ll") != NULL, l = !ll && strchr(spec, 'l') != NULL;
    int z = strchr(spec, 'z') != NULL, j = strchr(spec, 'j') != NULL;
#define KV_FMT(val)                                                                      \
    (nstars == 0   ? snprintf(tmp, sizeof tmp, spec, val)                                \
     : nstars == 1 ? snprintf(tmp, sizeof tmp, spec, stars[0], val)                      \
                   : snprintf(tmp, sizeof tmp, spec, stars[0], stars[1], val))
    switch (conv) {
    case 's': {
        const char *v = va_arg(*ap, const char *);
        /* the string as printf would cut it (precision), then escaped */
        n = KV_FMT(v ? v : "(null)");
        if (n >= 0)
            kv_value(o, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1, in_quotes);
        return;
    }
    case 'c':
        n = KV_FMT(va_arg(*ap, int));
        if (n >= 0)
            kv_value(o, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1, in_quotes);
        return;
    case 'd':
    case 'i':
        n = ll ? KV_FMT(va_arg(*ap, long long))
            : l ? KV_FMT(va_arg(*ap, long))
            : z ? KV_FMT(va_arg(*ap, ssize_t))
            : j ? KV_FMT(va_arg(*ap, intmax_t))
                : KV_FMT(va_arg(*ap, int));
        break;
    case 'u':
    case 'x':
    case 'X':
    case 'o':
        n = ll ? KV_FMT(va_arg(*ap, unsigned long long))
            : l ? KV_FMT(va_arg(*ap, unsigned long))
            : z ? KV_FMT(va_arg(*ap, size_t))
            : j ? KV_FMT(va_arg(*ap, uintmax_t))
                : KV_FMT(va_arg(*ap, unsigned));
        break;
    case 'f':
    case 'g':
    case 'e':
    case 'F':
    case 'G':
    case 'E':
        n = KV_FMT(va_arg(*ap, double));
        break;
    case 'p':
        n = KV_FMT(va_arg(*ap, void *));
        break;
    default: /* not a conversion pl_log's callers use: show it, consume nothing */
        kv_escaped(o, spec, slen);
        return;
    }
#undef KV_FMT
    for (int i = 0; n > 0 && i < n && (size_t)i < sizeof tmp - 1; i++)
        kv_putc(o, tmp[i]);
}
#pragma GCC diagnostic pop

size_t pl_log_vkv(char *out, size_t cap, const char *fmt, va_list ap_in)
{
    kv_out_t o = {out, cap, 0};
    va_list ap;
    va_copy(ap, ap_in);
    int in_quotes = 0;
    for (const char *p = fmt; *p;) {
        if (*p != '%') {
            if (*p == '"' && (p == fmt || p[-1] != '\\'))
                in_quotes = !in_quotes;
            kv_putc(&o, *p++);
            continue;
        }
        if (p[1] == '%') {
            kv_putc(&o, '%');
            p += 2;
            continue;
        }
        size_t slen = strspn(p + 1, "-+ #0123456789.*hlzjtL") + 2;
        char spec[32];
        if (slen >= sizeof spec || p[slen - 1] == '\0')
            break; /* a malformed tail: stop rather than guess at arguments */
        memcpy(spec, p, slen);
        spec[slen] = '\0';
        kv_conversion(&o, spec, slen, in_quotes, &ap);
        p += slen;
    }
    va_end(ap);
    if (cap)
        out[o.len] = '\0';
    return o.len;
}

size_t pl_log_kv(char *out, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t n = pl_log_vkv(out, cap, fmt, ap);
    va_end(ap);
    return n;
}

void pl_log(pl_log_level_t level, const char *msg, const char *kv_fmt, ...)
{
    if (level < s_level)
        return;
    char line[2048], kv[1024], qmsg[512];
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char ts[64];
    snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             (int)(tv.tv_usec / 1000) % 1000);
    kv[0] = '\0';
    if (kv_fmt && *kv_fmt) {
        va_list ap;
        va_start(ap, kv_fmt);
        pl_log_vkv(kv, sizeof kv, kv_fmt, ap); /* values escaped: one record, one line */
        va_end(ap);
    }
    quote_into(qmsg, sizeof qmsg, msg);
    int n;
    if (s_json) {
        char qkv[1100];
        quote_into(qkv, sizeof qkv, kv);
        n = snprintf(line, sizeof line,
                     "{\"ts\":\"%s\",\"level\":\"%s\",\"svc\":\"%s\",\"msg\":\"%s\"%s%s%s}\n", ts,
                     s_names[level], s_service, qmsg, *kv ? ",\"kv\":\"" : "", qkv,
                     *kv ? "\"" : "");
    } else {
        n = snprintf(line, sizeof line, "ts=%s level=%s svc=%s msg=\"%s\"%s%s\n", ts,
                     s_names[level], s_service, qmsg, *kv ? " " : "", kv);
    }
    if (n < 0)
        return;
    if ((size_t)n >= sizeof line) {
        n = sizeof line - 1;
        line[n - 1] = '\n';
    }
    ssize_t w = write(STDERR_FILENO, line, (size_t)n);
    (void)w;
}
