/*
 * dns_cache.c - a small in-process cache of answer packets, keyed by
 * (lower-case absolute name, type).  Bounded: at most dns_cache_limit
 * entries; when full, expired entries go first, then the one closest to
 * expiry.  Entries live no longer than the TTL they were stored with
 * (capped by the caller at DNS_CACHE_TTL_MAX / DNS_CACHE_NEG_TTL_MAX).
 * A linear table: a mail process keeps a few hundred names at most.
 */
#include "dns_int.h"
#include "mem.h"

struct dns_cache_entry {
    char *fqdn;
    uint16_t qtype;
    unsigned char *wire;
    size_t len;
    time_t expires;
};

static struct {
    struct dns_cache_entry *e;
    size_t n;
    size_t limit;
} cache;

static void entry_drop(size_t i)
{
    free(cache.e[i].fqdn);
    free(cache.e[i].wire);
    cache.e[i] = cache.e[--cache.n];
}

void dns_cache_flush(void)
{
    while (cache.n > 0)
        entry_drop(cache.n - 1);
}

void dns_cache_set_limit(size_t limit)
{
    dns_cache_flush();
    xfree(cache.e);
    cache.limit = limit;
}

size_t dns_cache_count(void)
{
    return cache.n;
}

static ssize_t entry_find(const char *fqdn, uint16_t qtype)
{
    for (size_t i = 0; i < cache.n; i++)
        if (cache.e[i].qtype == qtype && strcmp(cache.e[i].fqdn, fqdn) == 0)
            return (ssize_t)i;
    return -1;
}

bool dns_cache_get(const char *fqdn, uint16_t qtype, unsigned char **wire_r, size_t *len_r,
                   uint32_t *left_r)
{
    ssize_t i = entry_find(fqdn, qtype);
    time_t now = dns_now();

    if (i < 0)
        return false;
    if (cache.e[i].expires <= now) {
        entry_drop((size_t)i);
        return false;
    }
    *wire_r = xmemdup(cache.e[i].wire, cache.e[i].len);
    *len_r = cache.e[i].len;
    *left_r = (uint32_t)(cache.e[i].expires - now);
    return true;
}

/* Make room for one entry: drop what has expired, else the nearest expiry. */
static void make_room(time_t now)
{
    for (size_t i = cache.n; i-- > 0;)
        if (cache.e[i].expires <= now)
            entry_drop(i);
    if (cache.n < cache.limit)
        return;
    size_t victim = 0;
    for (size_t i = 1; i < cache.n; i++)
        if (cache.e[i].expires < cache.e[victim].expires)
            victim = i;
    entry_drop(victim);
}

void dns_cache_put(const char *fqdn, uint16_t qtype, const unsigned char *wire, size_t len,
                   uint32_t ttl)
{
    time_t now = dns_now();
    ssize_t old = entry_find(fqdn, qtype);

    if (cache.limit == 0 || ttl == 0)
        return;
    if (old >= 0)
        entry_drop((size_t)old);
    if (cache.n >= cache.limit)
        make_room(now);
    if (cache.e == NULL)
        cache.e = xcalloc(cache.limit, sizeof(*cache.e));
    cache.e[cache.n++] = (struct dns_cache_entry){
        .fqdn = xstrdup(fqdn),
        .qtype = qtype,
        .wire = xmemdup(wire, len),
        .len = len,
        .expires = now + (time_t)ttl,
    };
}
