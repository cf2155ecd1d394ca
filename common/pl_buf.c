/*  pl_buf: growable byte buffer with optional headroom (see pl_buf.h). */
#include "pl_buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void pl_buf_init(pl_buf_t *self, size_t front)
{
    self->data = NULL;
    self->len = 0;
    self->cap = 0;
    self->reserve = front;
}

void pl_buf_free(pl_buf_t *self)
{
    if (self->data)
        free(self->data - self->reserve);
    self->data = NULL;
    self->len = self->cap = 0;
}

void pl_buf_reset(pl_buf_t *self)
{
    self->len = 0;
    if (self->data)
        self->data[0] = '\0';
}

int pl_buf_grow(pl_buf_t *self, size_t more)
{
    if (more > SIZE_MAX / 2 - self->len - self->reserve)
        return -1;
    size_t need = self->len + more + 1; /* + NUL */
    if (need <= self->cap)
        return 0;
    size_t cap = self->cap ? self->cap : 256;
    while (cap < need)
        cap *= 2;
    char *base = self->data ? self->data - self->reserve : NULL;
    char *nbase = realloc(base, cap + self->reserve);
    if (!nbase)
        return -1;
    self->data = nbase + self->reserve;
    self->cap = cap;
    return 0;
}

int pl_buf_append(pl_buf_t *self, const void *bytes, size_t n)
{
    if (pl_buf_grow(self, n))
        return -1;
    if (n)
        memcpy(self->data + self->len, bytes, n);
    self->len += n;
    self->data[self->len] = '\0';
    return 0;
}

int pl_buf_putc(pl_buf_t *self, char c)
{
    if (self->len + 1 >= self->cap && pl_buf_grow(self, 1))
        return -1;
    self->data[self->len++] = c;
    self->data[self->len] = '\0';
    return 0;
}

int pl_buf_puts(pl_buf_t *self, const char *s)
{
    return pl_buf_append(self, s, strlen(s));
}

int pl_buf_printf(pl_buf_t *self, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char small[256];
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        return -1;
    if ((size_t)n < sizeof small)
        return pl_buf_append(self, small, (size_t)n);
    if (pl_buf_grow(self, (size_t)n))
        return -1;
    va_start(ap, fmt);
    vsnprintf(self->data + self->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    self->len += (size_t)n;
    return 0;
}

char *pl_buf_detach(pl_buf_t *self, size_t *len_out)
{
    char *base = self->data ? self->data - self->reserve : NULL;
    if (len_out)
        *len_out = self->len;
    self->data = NULL;
    self->len = self->cap = 0;
    return base;
}
