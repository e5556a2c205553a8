/*
 * valias.c - virtual_alias_maps expansion (valias.h).
 *
 * Addresses are expanded breadth first from a work list: each lookup
 * replaces one address by its results, which join the end of the list
 * one level deeper; an address that no table maps (or that maps to
 * itself) is final.  Counting the addresses in play bounds both a table
 * that fans out without end and a loop that fans out, and the depth
 * bounds a plain loop (a -> b -> a), so any table ends in bounded work.
 * Tables come from resolve.c's cache (resolve_maps_lookup).
 */
#include "sys.h"

#include <strings.h>

#include "addr.h"
#include "config.h"
#include "log.h"
#include "mem.h"
#include "resolve.h"
#include "str.h"
#include "valias.h"

#define VALIAS_PARAM "virtual_alias_maps"
#define VALIAS_MAX_KEYS 5

struct valias_item {
    char *addr;
    long depth;
};

struct valias_run {
    struct valias_item *todo; /* work list: [head, n) still to look up */
    size_t head, n, cap;
    char **out; /* final addresses, NULL-terminated */
    size_t nout;
    long max_depth, max_count;
};

bool valias_enabled(void)
{
    char **list = cfg_list(VALIAS_PARAM);
    bool any = list[0] != NULL;
    cfg_list_free(&list);
    return any;
}

/* The internal form of a local part, lower-cased (the raw text if unparsable). */
static char *valias_local(const char *raw)
{
    str_t *s = str_new(64);
    if (addr_unquote_local(s, raw, strlen(raw)) < 0)
        str_setz(s, raw);
    str_lower(s);
    return str_steal(&s);
}

/* Whether "user" keys apply: no domain, or a domain in mydestination. */
static int valias_local_domain(const char *domain, char **error_r)
{
    enum resolve_class cls;
    if (domain[0] == '\0')
        return 1;
    if (resolve_domain_class(domain, &cls, error_r) < 0)
        return -1;
    return cls == RESOLVE_LOCAL;
}

/* Try keys in order; the first found wins.  1, 0 or -1 as resolve_maps_lookup. */
static int valias_try(char *const *keys, size_t n, char **value_r, char **error_r)
{
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = resolve_maps_lookup(VALIAS_PARAM, keys[i], value_r, error_r);
    return rc;
}

/* Look one address up with the keys of virtual(5): 1 (*value_r), 0, -1. */
static int valias_lookup(const char *addr, char **value_r, char **error_r)
{
    char *raw_local, *domain, *user, *ext, *keys[VALIAS_MAX_KEYS];
    size_t n = 0;
    addr_split(addr, &raw_local, &domain);
    char *local = valias_local(raw_local);
    str_t *dom = str_new(64);
    str_setz(dom, domain);
    str_lower(dom);
    bool has_ext = addr_strip_extension(local, cfg_str("recipient_delimiter"), &user, &ext, NULL);
    if (str_len(dom) > 0) {
        keys[n++] = xasprintf("%s@%s", local, str_c(dom));
        if (has_ext)
            keys[n++] = xasprintf("%s@%s", user, str_c(dom));
    }
    int rc = valias_try(keys, n, value_r, error_r);
    size_t tried = n;
    if (rc == 0 && (rc = valias_local_domain(str_c(dom), error_r)) == 1) {
        keys[n++] = xstrdup(local);
        if (has_ext)
            keys[n++] = xstrdup(user);
        rc = valias_try(keys + tried, n - tried, value_r, error_r);
        tried = n;
    }
    if (rc == 0 && str_len(dom) > 0) {
        keys[n++] = xasprintf("@%s", str_c(dom));
        rc = valias_try(keys + tried, n - tried, value_r, error_r);
    }
    for (size_t i = 0; i < n; i++)
        free(keys[i]);
    str_free(&dom);
    free(raw_local);
    free(domain);
    free(local);
    free(user);
    free(ext);
    return rc;
}

/* A result address as it is queued: "@$myorigin" added when it has no domain. */
static char *valias_qualify(const char *a)
{
    if (strchr(a, '@') != NULL || !cfg_bool("append_at_myorigin"))
        return xstrdup(a);
    return xasprintf("%s@%s", a, cfg_str("myorigin"));
}

static void valias_push(struct valias_run *run, char *addr, long depth)
{
    if (run->n == run->cap) {
        run->cap = run->cap ? size_mul(run->cap, 2) : 8;
        run->todo = xreallocarray(run->todo, run->cap, sizeof(*run->todo));
    }
    run->todo[run->n++] = (struct valias_item){.addr = addr, .depth = depth};
}

/* Add a final address (taking it), once. */
static void valias_final(struct valias_run *run, char *addr)
{
    for (size_t i = 0; i < run->nout; i++) {
        if (strcasecmp(run->out[i], addr) == 0) {
            free(addr);
            return;
        }
    }
    run->out = xreallocarray(run->out, size_add(run->nout, 2), sizeof(*run->out));
    run->out[run->nout++] = addr;
    run->out[run->nout] = NULL;
}

/* Replace one looked-up address by its results; VALIAS_LIMIT when over a bound. */
static enum valias_status valias_replace(struct valias_run *run, const struct valias_item *it,
                                         const char *value, char **error_r)
{
    char **results = config_list_split(value);
    enum valias_status st = VALIAS_OK;
    if (results[0] == NULL) /* an empty value maps nothing */
        valias_final(run, xstrdup(it->addr));
    for (char **r = results; st == VALIAS_OK && *r != NULL; r++) {
        char *q = valias_qualify(*r);
        if (strcasecmp(q, it->addr) == 0) {
            valias_final(run, q);
        } else if (it->depth + 1 > run->max_depth) {
            *error_r = xasprintf("%s: nesting deeper than virtual_alias_recursion_limit=%ld "
                                 "(a loop?) at %.300s",
                                 VALIAS_PARAM, run->max_depth, it->addr);
            free(q);
            st = VALIAS_LIMIT;
        } else {
            valias_push(run, q, it->depth + 1);
        }
        if (st == VALIAS_OK && (long long)(run->n - run->head + run->nout) > run->max_count) {
            *error_r = xasprintf("%s: more than virtual_alias_expansion_limit=%ld addresses "
                                 "(a loop?) at %.300s",
                                 VALIAS_PARAM, run->max_count, it->addr);
            st = VALIAS_LIMIT;
        }
    }
    cfg_list_free(&results);
    return st;
}

static void valias_run_free(struct valias_run *run)
{
    for (size_t i = run->head; i < run->n; i++)
        free(run->todo[i].addr);
    free(run->todo);
    cfg_list_free(&run->out);
}

enum valias_status valias_expand(const char *addr, char ***result_r, char **error_r)
{
    struct valias_run run = {
        .max_depth = (long)cfg_int("virtual_alias_recursion_limit"),
        .max_count = (long)cfg_int("virtual_alias_expansion_limit"),
    };
    enum valias_status st = VALIAS_OK;
    *result_r = NULL;
    *error_r = NULL;
    valias_push(&run, xstrdup(addr), 0);
    while (st == VALIAS_OK && run.head < run.n) {
        struct valias_item it = run.todo[run.head++];
        char *value = NULL;
        int rc = valias_lookup(it.addr, &value, error_r);
        if (rc < 0)
            st = VALIAS_TABLE;
        else if (rc == 0)
            valias_final(&run, xstrdup(it.addr));
        else
            st = valias_replace(&run, &it, value, error_r);
        free(value);
        free(it.addr);
    }
    if (st == VALIAS_OK) {
        *result_r = run.out;
        run.out = NULL;
    }
    valias_run_free(&run);
    return st;
}
