/*
 * authd_throttle.c - failure counters for authd, kept in memory: one per
 * client address (IPv6 per /64) and one per user name.  A counter decays
 * all at once: it is forgotten when auth_failure_reset_time passes
 * without a new failure.  The table is bounded; when it is full the
 * expired keys go first, then the one whose last failure is oldest.
 */
#include "authd.h"

#include "mem.h"
#include "str.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <limits.h>

struct authd_key {
    char *key;
    long count;
    int64_t last_ms;
    struct authd_key *next;
};

struct authd_throttle {
    struct authd_key **buckets;
    size_t nbuckets; /* a power of two */
    size_t count;
    size_t max;
};

static uint64_t throttle_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

struct authd_throttle *authd_throttle_new(size_t max_keys)
{
    struct authd_throttle *t = xcalloc(1, sizeof(*t));
    t->nbuckets = 256;
    t->buckets = xcalloc(t->nbuckets, sizeof(*t->buckets));
    t->max = max_keys > 0 ? max_keys : 1;
    return t;
}

static void throttle_free_key(struct authd_key *k)
{
    free(k->key);
    free(k);
}

void authd_throttle_free(struct authd_throttle **tp)
{
    struct authd_throttle *t = *tp;
    if (t == NULL)
        return;
    for (size_t i = 0; i < t->nbuckets; i++)
        for (struct authd_key *k = t->buckets[i], *n; k; k = n) {
            n = k->next;
            throttle_free_key(k);
        }
    free(t->buckets);
    xfree(*tp);
}

static struct authd_key **throttle_slot(struct authd_throttle *t, const char *key)
{
    struct authd_key **pp = &t->buckets[throttle_hash(key) & (t->nbuckets - 1)];
    while (*pp != NULL && strcmp((*pp)->key, key) != 0)
        pp = &(*pp)->next;
    return pp;
}

static void throttle_grow(struct authd_throttle *t)
{
    size_t n = size_mul(t->nbuckets, 2);
    struct authd_key **b = xcalloc(n, sizeof(*b));
    for (size_t i = 0; i < t->nbuckets; i++)
        for (struct authd_key *k = t->buckets[i], *next; k; k = next) {
            next = k->next;
            size_t j = throttle_hash(k->key) & (n - 1);
            k->next = b[j];
            b[j] = k;
        }
    free(t->buckets);
    t->buckets = b;
    t->nbuckets = n;
}

/* Remove the key whose last failure is oldest. */
static void throttle_evict_oldest(struct authd_throttle *t)
{
    struct authd_key **victim = NULL;
    for (size_t i = 0; i < t->nbuckets; i++)
        for (struct authd_key **pp = &t->buckets[i]; *pp; pp = &(*pp)->next)
            if (victim == NULL || (*pp)->last_ms < (*victim)->last_ms)
                victim = pp;
    if (victim != NULL) {
        struct authd_key *k = *victim;
        *victim = k->next;
        throttle_free_key(k);
        t->count--;
    }
}

void authd_throttle_prune(struct authd_throttle *t, int64_t now, int64_t reset_ms)
{
    for (size_t i = 0; i < t->nbuckets; i++)
        for (struct authd_key **pp = &t->buckets[i]; *pp;) {
            struct authd_key *k = *pp;
            if (now - k->last_ms >= reset_ms) {
                *pp = k->next;
                throttle_free_key(k);
                t->count--;
            } else
                pp = &k->next;
        }
}

long authd_throttle_count(struct authd_throttle *t, const char *key, int64_t now, int64_t reset_ms)
{
    struct authd_key *k = *throttle_slot(t, key);
    if (k == NULL || now - k->last_ms >= reset_ms)
        return 0;
    return k->count;
}

long authd_throttle_fail(struct authd_throttle *t, const char *key, int64_t now, int64_t reset_ms)
{
    struct authd_key **pp = throttle_slot(t, key);
    if (*pp == NULL) {
        if (t->count >= t->max) {
            authd_throttle_prune(t, now, reset_ms);
            while (t->count >= t->max)
                throttle_evict_oldest(t);
            pp = throttle_slot(t, key);
        }
        *pp = xcalloc(1, sizeof(**pp));
        (*pp)->key = xstrdup(key);
        t->count++;
    }
    struct authd_key *k = *pp;
    if (now - k->last_ms >= reset_ms)
        k->count = 0;
    if (k->count < LONG_MAX)
        k->count++;
    k->last_ms = now;
    if (t->count > 2 * t->nbuckets)
        throttle_grow(t);
    return k->count;
}

void authd_throttle_forget(struct authd_throttle *t, const char *key)
{
    struct authd_key **pp = throttle_slot(t, key);
    if (*pp != NULL) {
        struct authd_key *k = *pp;
        *pp = k->next;
        throttle_free_key(k);
        t->count--;
    }
}

size_t authd_throttle_size(const struct authd_throttle *t)
{
    return t->count;
}

char *authd_throttle_ip_key(const char *addr)
{
    struct in6_addr a6;
    char buf[INET6_ADDRSTRLEN];
    if (addr == NULL || addr[0] == '\0')
        return NULL;
    if (inet_pton(AF_INET6, addr, &a6) == 1 && !IN6_IS_ADDR_V4MAPPED(&a6)) {
        memset(a6.s6_addr + 8, 0, 8);
        if (inet_ntop(AF_INET6, &a6, buf, sizeof(buf)) != NULL)
            return xasprintf("ip:%s/64", buf);
    }
    return xasprintf("ip:%s", addr);
}

char *authd_throttle_user_key(const char *user)
{
    char *k = xasprintf("user:%s", user);
    for (char *p = k; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return k;
}

int64_t authd_failure_delay_ms(long n, int64_t base_ms, int64_t max_ms)
{
    int64_t d = base_ms;
    if (n < 1 || base_ms <= 0)
        return 0;
    for (long i = 1; i < n && d < max_ms; i++)
        d *= 2;
    return d < max_ms ? d : max_ms;
}
