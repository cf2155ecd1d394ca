/*  pl_log: logfmt or JSON lines on stderr, one write() per line so lines from
    several processes sharing a terminal never interleave mid-line. */
#include "pl_log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
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
        vsnprintf(kv, sizeof kv, kv_fmt, ap);
        va_end(ap);
        for (char *p = kv; *p; p++) /* keep the record on one line */
            if (*p == '\n' || *p == '\r')
                *p = ' ';
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
