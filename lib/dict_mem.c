/*
 * dict_mem.c - a small in-memory key/value table (chained hashing) used
 * by texthash and inline.  The first value stored for a key wins.
 * Iteration follows insertion order, so dumps look like the source.
 */
#include "dict.h"
#include "mem.h"

struct dict_mem_entry {
    char *key;
    char *value;
    struct dict_mem_entry *next_hash;
    struct dict_mem_entry *next_order;
};

struct dict_mem {
    struct dict_mem_entry **buckets;
    size_t nbuckets;
    size_t count;
    struct dict_mem_entry *first, *last;
};

static size_t dict_mem_hash(const char *key)
{
    size_t h = 5381;
    for (const unsigned char *p = (const unsigned char *)key; *p; p++)
        h = h * 33 + *p;
    return h;
}

struct dict_mem *dict_mem_new(void)
{
    struct dict_mem *m = xcalloc(1, sizeof(*m));
    m->nbuckets = 64;
    m->buckets = xcalloc(m->nbuckets, sizeof(*m->buckets));
    return m;
}

static void dict_mem_grow(struct dict_mem *m)
{
    size_t n = size_mul(m->nbuckets, 2);
    struct dict_mem_entry **b = xcalloc(n, sizeof(*b));
    for (struct dict_mem_entry *e = m->first; e != NULL; e = e->next_order) {
        size_t i = dict_mem_hash(e->key) % n;
        e->next_hash = b[i];
        b[i] = e;
    }
    free(m->buckets);
    m->buckets = b;
    m->nbuckets = n;
}

static struct dict_mem_entry *dict_mem_find(const struct dict_mem *m, const char *key)
{
    struct dict_mem_entry *e = m->buckets[dict_mem_hash(key) % m->nbuckets];
    while (e != NULL && strcmp(e->key, key) != 0)
        e = e->next_hash;
    return e;
}

int dict_mem_put(struct dict_mem *m, const char *key, const char *value)
{
    if (dict_mem_find(m, key) != NULL)
        return 1;
    if (m->count >= m->nbuckets)
        dict_mem_grow(m);
    struct dict_mem_entry *e = xcalloc(1, sizeof(*e));
    e->key = xstrdup(key);
    e->value = xstrdup(value);
    size_t i = dict_mem_hash(key) % m->nbuckets;
    e->next_hash = m->buckets[i];
    m->buckets[i] = e;
    if (m->last != NULL)
        m->last->next_order = e;
    else
        m->first = e;
    m->last = e;
    m->count++;
    return 0;
}

const char *dict_mem_get(const struct dict_mem *m, const char *key)
{
    const struct dict_mem_entry *e = dict_mem_find(m, key);
    return e ? e->value : NULL;
}

int dict_mem_iterate(const struct dict_mem *m, dict_iter_fn fn, void *ctx)
{
    for (const struct dict_mem_entry *e = m->first; e != NULL; e = e->next_order)
        if (fn(e->key, e->value, ctx) != 0)
            break;
    return 0;
}

void dict_mem_free(struct dict_mem **mp)
{
    struct dict_mem *m = *mp;
    if (m == NULL)
        return;
    *mp = NULL;
    struct dict_mem_entry *e = m->first;
    while (e != NULL) {
        struct dict_mem_entry *next = e->next_order;
        free(e->key);
        free(e->value);
        free(e);
        e = next;
    }
    free(m->buckets);
    free(m);
}
