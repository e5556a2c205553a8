/*
 * mem.c - allocation wrappers; out of memory ends the process.
 */
#include "mem.h"
#include "log.h"

size_t size_add(size_t a, size_t b)
{
    size_t r;
    if (__builtin_add_overflow(a, b, &r))
        msg_panic("size_add: overflow %zu + %zu", a, b);
    return r;
}

size_t size_mul(size_t a, size_t b)
{
    size_t r;
    if (__builtin_mul_overflow(a, b, &r))
        msg_panic("size_mul: overflow %zu * %zu", a, b);
    return r;
}

void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL)
        msg_fatal("out of memory allocating %zu bytes", n);
    return p;
}

void *xcalloc(size_t nmemb, size_t size)
{
    void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);
    if (p == NULL)
        msg_fatal("out of memory allocating %zu*%zu bytes", nmemb, size);
    return p;
}

void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (q == NULL)
        msg_fatal("out of memory reallocating %zu bytes", n);
    return q;
}

void *xreallocarray(void *p, size_t nmemb, size_t size)
{
    return xrealloc(p, size_mul(nmemb, size));
}

char *xstrdup(const char *s)
{
    return xmemdup(s, strlen(s) + 1);
}

char *xstrndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *p = xmalloc(size_add(len, 1));
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

void *xmemdup(const void *p, size_t n)
{
    void *q = xmalloc(n);
    memcpy(q, p, n);
    return q;
}
