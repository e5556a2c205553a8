/*
 * str.c - length-counted strings (see str.h).
 */
#include "str.h"
#include "mem.h"
#include "log.h"

#include <ctype.h>

str_t *str_new(size_t hint)
{
    return str_new_max(hint, 0);
}

str_t *str_new_max(size_t hint, size_t max)
{
    str_t *s = xmalloc(sizeof(*s));
    s->cap = size_add(hint, 1);
    if (s->cap < 16)
        s->cap = 16;
    s->s = xmalloc(s->cap);
    s->s[0] = '\0';
    s->len = 0;
    s->max = max;
    return s;
}

void str_free(str_t **sp)
{
    if (*sp == NULL)
        return;
    free((*sp)->s);
    xfree(*sp);
}

void str_reset(str_t *s)
{
    s->len = 0;
    s->s[0] = '\0';
}

void str_truncate(str_t *s, size_t len)
{
    if (len < s->len) {
        s->len = len;
        s->s[len] = '\0';
    }
}

/* Make room for n more bytes plus the terminator; -1 if over the maximum. */
static int str_reserve(str_t *s, size_t n)
{
    size_t need = size_add(s->len, n);
    if (s->max != 0 && need > s->max)
        return -1;
    need = size_add(need, 1);
    if (need <= s->cap)
        return 0;
    size_t cap = s->cap;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    s->s = xrealloc(s->s, cap);
    s->cap = cap;
    return 0;
}

/* Whether p points into s's own buffer (a caller copying part of s). */
static bool str_inside(const str_t *s, const void *p)
{
    uintptr_t a = (uintptr_t)p, base = (uintptr_t)s->s;
    return p != NULL && a >= base && a < base + s->cap;
}

int str_append(str_t *s, const void *data, size_t n)
{
    /* data may point into s->s, which str_reserve may move. */
    bool inside = str_inside(s, data);
    size_t off = inside ? (size_t)((const char *)data - s->s) : 0;
    if (str_reserve(s, n) < 0)
        return -1;
    if (inside)
        data = s->s + off;
    if (n > 0)
        memmove(s->s + s->len, data, n);
    s->len += n;
    s->s[s->len] = '\0';
    return 0;
}

int str_appendz(str_t *s, const char *z)
{
    return str_append(s, z, strlen(z));
}

int str_appendc(str_t *s, char c)
{
    return str_append(s, &c, 1);
}

int str_vappendf(str_t *s, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        msg_panic("str_vappendf: bad format '%s'", fmt);
    if (str_reserve(s, (size_t)n) < 0)
        return -1;
    vsnprintf(s->s + s->len, (size_t)n + 1, fmt, ap);
    s->len += (size_t)n;
    return 0;
}

int str_appendf(str_t *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = str_vappendf(s, fmt, ap);
    va_end(ap);
    return r;
}

int str_set(str_t *s, const void *data, size_t n)
{
    if (s->max != 0 && n > s->max)
        return -1;
    if (str_inside(s, data)) {
        /* Setting s to a part of itself: no growth, but overlap. */
        memmove(s->s, data, n);
        s->len = n;
        s->s[n] = '\0';
        return 0;
    }
    str_reset(s);
    return str_append(s, data, n);
}

int str_setz(str_t *s, const char *z)
{
    return str_set(s, z, strlen(z));
}

int str_setf(str_t *s, const char *fmt, ...)
{
    str_t *tmp = str_new(64);
    va_list ap;
    va_start(ap, fmt);
    str_vappendf(tmp, fmt, ap);
    va_end(ap);
    int r = str_set(s, tmp->s, tmp->len);
    str_free(&tmp);
    return r;
}

size_t str_chomp(str_t *s)
{
    size_t before = s->len;
    if (s->len > 0 && s->s[s->len - 1] == '\n') {
        s->len--;
        if (s->len > 0 && s->s[s->len - 1] == '\r')
            s->len--;
    }
    s->s[s->len] = '\0';
    return before - s->len;
}

void str_trim(str_t *s)
{
    size_t start = 0, end = s->len;
    while (start < end && isspace((unsigned char)s->s[start]))
        start++;
    while (end > start && isspace((unsigned char)s->s[end - 1]))
        end--;
    memmove(s->s, s->s + start, end - start);
    s->len = end - start;
    s->s[s->len] = '\0';
}

void str_lower(str_t *s)
{
    for (size_t i = 0; i < s->len; i++)
        s->s[i] = (char)tolower((unsigned char)s->s[i]);
}

char *str_steal(str_t **sp)
{
    char *p = (*sp)->s;
    xfree(*sp);
    return p;
}

char *xasprintf(const char *fmt, ...)
{
    str_t *s = str_new(64);
    va_list ap;
    va_start(ap, fmt);
    str_vappendf(s, fmt, ap);
    va_end(ap);
    return str_steal(&s);
}

void str_append_printable(str_t *s, const void *data, size_t n, size_t limit)
{
    const unsigned char *p = data;
    size_t take = n < limit ? n : limit;
    for (size_t i = 0; i < take; i++) {
        char c = (p[i] >= 0x20 && p[i] < 0x7f) ? (char)p[i] : '?';
        if (str_appendc(s, c) < 0)
            return;
    }
    if (take < n)
        str_appendz(s, "...");
}

int str_lcpy(char *dst, const char *src, size_t dstsize)
{
    size_t n = strlen(src);
    if (dstsize == 0)
        return -1;
    if (n >= dstsize) {
        memcpy(dst, src, dstsize - 1);
        dst[dstsize - 1] = '\0';
        return -1;
    }
    memcpy(dst, src, n + 1);
    return 0;
}

int error_set(char **error_r, const char *fmt, ...)
{
    int saved = errno;
    if (error_r != NULL) {
        str_t *e = str_new(64);
        va_list ap;
        va_start(ap, fmt);
        str_vappendf(e, fmt, ap);
        va_end(ap);
        *error_r = str_steal(&e);
    }
    errno = saved;
    return -1;
}
