/*
 * resolve.c - recipient routing and recipient existence (resolve.h).
 *
 * The address class comes from the domain: mydestination (or no domain)
 * is local, then virtual_mailbox_domains, then relay_domains (where a
 * parent domain also matches its subdomains, as Postfix's default
 * parent_domain_matches_subdomains does), else default.  Each class has a
 * transport parameter "transport[:nexthop]"; transport_maps may override
 * it, searched with the keys transport(5) describes: the full address,
 * the address without its recipient_delimiter extension, the domain, each
 * parent ".domain", and "*".  Relay and default mail without a next hop
 * in its transport parameter goes to the sender's relay host from
 * sender_dependent_relayhost_maps (when the caller gives the sender), else
 * to $relayhost, else to the domain; transport_maps may still override.
 *
 * Tables named in the list parameters are opened once and kept until
 * resolve_reset(); a table that fails to open is not cached, so it is
 * retried on the next call (after newaliases, say).  Every error string
 * handed back through error_r is malloc'ed (the caller frees it).
 */
#include "sys.h"

#include <pwd.h>
#include <strings.h>

#include "addr.h"
#include "config.h"
#include "dict.h"
#include "log.h"
#include "mem.h"
#include "resolve.h"
#include "str.h"

#define RESOLVE_UNIX_PASSWD "unix:passwd.byname"

struct resolve_table {
    char *spec;
    dict_t *dict;
};

static struct resolve_table *tables;
static size_t ntables;

static void set_error(char **error_r, char *msg)
{
    if (error_r != NULL)
        *error_r = msg;
    else
        free(msg);
}

void resolve_reset(void)
{
    for (size_t i = 0; i < ntables; i++) {
        free(tables[i].spec);
        dict_close(&tables[i].dict);
    }
    xfree(tables);
    ntables = 0;
}

/* The open table for spec, opening it on first use; NULL with *error_r. */
static dict_t *table_get(const char *spec, char **error_r)
{
    for (size_t i = 0; i < ntables; i++)
        if (strcmp(tables[i].spec, spec) == 0)
            return tables[i].dict;
    char *err = NULL;
    dict_t *d = dict_open(spec, DICT_FLAG_DEFAULT, &err);
    if (d == NULL) {
        set_error(error_r, xasprintf("table %s: %s", spec, err != NULL ? err : "cannot open"));
        free(err);
        return NULL;
    }
    tables = xreallocarray(tables, ntables + 1, sizeof(*tables));
    tables[ntables].spec = xstrdup(spec);
    tables[ntables].dict = d;
    ntables++;
    return d;
}

/* Look key up in one table: 1 found (*value_r malloc'ed if wanted), 0, -1. */
static int table_lookup(const char *spec, const char *key, char **value_r, char **error_r)
{
    dict_t *d = table_get(spec, error_r);
    if (d == NULL)
        return -1;
    const char *value = NULL;
    int rc = dict_lookup(d, key, &value);
    if (rc < 0) {
        set_error(error_r, xasprintf("table %s: lookup of '%s' failed", spec, key));
        return -1;
    }
    if (rc == 1 && value_r != NULL)
        *value_r = xstrdup(value);
    return rc;
}

/* Whether spec names a lookup table ("type:name") rather than a pattern. */
static bool is_table(const char *spec)
{
    return spec[0] != '/' && spec[0] != '!' && strchr(spec, ':') != NULL;
}

/*
 * Look key up in every table of a list parameter, in order: 1 found
 * (*value_r malloc'ed if wanted), 0 not found, -1 table error.
 */
static int maps_lookup(const char *param, const char *key, char **value_r, char **error_r)
{
    return resolve_maps_lookup(param, key, value_r, error_r);
}

int resolve_maps_lookup(const char *param, const char *key, char **value_r, char **error_r)
{
    char **list = cfg_list(param);
    int rc = 0;
    for (char **p = list; rc == 0 && *p != NULL; p++)
        if (is_table(*p) && strcmp(*p, RESOLVE_UNIX_PASSWD) != 0)
            rc = table_lookup(*p, key, value_r, error_r);
    cfg_list_free(&list);
    return rc;
}

/*
 * Whether domain is listed in a domain-list parameter: patterns through
 * addr_domain_match_list, then any tables in the list (the domain, and
 * with parent_sub each parent domain).  1, 0, or -1 on a table error.
 */
static int domain_listed(const char *domain, const char *param, bool parent_sub, char **error_r)
{
    if (addr_domain_match_list(domain, cfg_str(param), parent_sub))
        return 1;
    int rc = maps_lookup(param, domain, NULL, error_r);
    for (const char *p = strchr(domain, '.'); rc == 0 && parent_sub && p != NULL;
         p = strchr(p + 1, '.'))
        rc = maps_lookup(param, p + 1, NULL, error_r);
    return rc;
}

int resolve_domain_class(const char *domain, enum resolve_class *cls_r, char **error_r)
{
    static const struct {
        const char *param;
        bool parent_sub;
        enum resolve_class cls;
    } classes[] = {
        {"mydestination", false, RESOLVE_LOCAL},
        {"virtual_mailbox_domains", false, RESOLVE_VIRTUAL},
        {"relay_domains", true, RESOLVE_RELAY},
    };
    *cls_r = RESOLVE_LOCAL;
    if (domain[0] == '\0')
        return 0;
    for (size_t i = 0; i < N_ELEMENTS(classes); i++) {
        int rc = domain_listed(domain, classes[i].param, classes[i].parent_sub, error_r);
        if (rc != 0) {
            *cls_r = classes[i].cls;
            return rc < 0 ? -1 : 0;
        }
    }
    *cls_r = RESOLVE_DEFAULT;
    return 0;
}

/* Split "transport[:nexthop]" into malloc'ed parts (either may be ""). */
static void split_transport(const char *value, char **transport_r, char **nexthop_r)
{
    const char *colon = strchr(value, ':');
    if (colon == NULL) {
        *transport_r = xstrdup(value);
        *nexthop_r = xstrdup("");
        return;
    }
    *transport_r = xstrndup(value, (size_t)(colon - value));
    *nexthop_r = xstrdup(colon + 1);
}

/*
 * sender_dependent_relayhost_maps: the sender address, then @domain (the
 * null sender: $empty_address_relayhost_maps_lookup_key alone).  1 with
 * *relay_r, 0 none (or DUNNO), -1 on a table error.
 */
static int sender_relayhost(const char *sender, char **relay_r, char **error_r)
{
    char *value = NULL;
    int rc;
    *relay_r = NULL;
    if (sender[0] == '\0') {
        rc = maps_lookup("sender_dependent_relayhost_maps",
                         cfg_str("empty_address_relayhost_maps_lookup_key"), &value, error_r);
    } else {
        char *key = xstrdup(sender), *local, *domain;
        addr_domain_lower(key);
        rc = maps_lookup("sender_dependent_relayhost_maps", key, &value, error_r);
        addr_split(key, &local, &domain);
        if (rc == 0 && domain[0] != '\0') {
            char *at = xasprintf("@%s", domain);
            rc = maps_lookup("sender_dependent_relayhost_maps", at, &value, error_r);
            free(at);
        }
        free(local);
        free(domain);
        free(key);
    }
    if (rc == 1 && (strcasecmp(value, "DUNNO") == 0 || value[0] == '\0'))
        rc = 0;
    if (rc == 1)
        *relay_r = value;
    else
        free(value);
    return rc;
}

/*
 * The class's transport parameter and the next hop used when it has
 * none: for relay and default mail the sender's relay host
 * (sender != NULL), else $relayhost, else the domain.  0, or -1 on a
 * table error.
 */
static int class_default(enum resolve_class cls, const char *domain, const char *sender,
                         char **transport_r, char **nexthop_r, char **error_r)
{
    static const char *const params[] = {
        [RESOLVE_LOCAL] = "local_transport",
        [RESOLVE_VIRTUAL] = "virtual_transport",
        [RESOLVE_RELAY] = "relay_transport",
        [RESOLVE_DEFAULT] = "default_transport",
    };
    split_transport(cfg_str(params[cls]), transport_r, nexthop_r);
    if (**nexthop_r != '\0')
        return 0;
    free(*nexthop_r);
    *nexthop_r = NULL;
    bool remote = cls == RESOLVE_RELAY || cls == RESOLVE_DEFAULT;
    if (remote && sender != NULL) {
        int rc = sender_relayhost(sender, nexthop_r, error_r);
        if (rc != 0)
            return rc < 0 ? -1 : 0;
    }
    const char *relayhost = cfg_str("relayhost");
    if (remote && relayhost[0] != '\0')
        *nexthop_r = xstrdup(relayhost);
    else
        *nexthop_r = xstrdup(domain[0] != '\0' ? domain : cfg_str("myhostname"));
    return 0;
}

/* Look up one transport_maps key and then "*" last: see transport(5). */
static int transport_lookup(const char *addr, const char *local, const char *domain, char **value_r,
                            char **error_r)
{
    int rc = maps_lookup("transport_maps", addr, value_r, error_r);
    char *user = NULL, *ext = NULL;
    if (rc == 0 && addr_strip_extension(local, cfg_str("recipient_delimiter"), &user, &ext, NULL)) {
        char *key = domain[0] != '\0' ? xasprintf("%s@%s", user, domain) : xstrdup(user);
        rc = maps_lookup("transport_maps", key, value_r, error_r);
        free(key);
    }
    free(user);
    free(ext);
    if (rc == 0 && domain[0] != '\0')
        rc = maps_lookup("transport_maps", domain, value_r, error_r);
    for (const char *p = strchr(domain, '.'); rc == 0 && p != NULL; p = strchr(p + 1, '.'))
        rc = maps_lookup("transport_maps", p, value_r, error_r);
    if (rc == 0)
        rc = maps_lookup("transport_maps", "*", value_r, error_r);
    return rc;
}

/* Apply a transport_maps result over the class default. */
static void apply_override(const char *value, struct resolve_result *r)
{
    char *transport, *nexthop;
    split_transport(value, &transport, &nexthop);
    if (transport[0] != '\0') {
        free(r->transport);
        r->transport = transport;
    } else {
        free(transport);
    }
    if (nexthop[0] != '\0' || strcmp(r->transport, "error") == 0 ||
        strcmp(r->transport, "discard") == 0) {
        free(r->nexthop);
        r->nexthop = nexthop;
    } else {
        free(nexthop);
    }
}

int resolve_addr_sender(const char *addr, const char *sender, struct resolve_result *r,
                        char **error_r)
{
    memset(r, 0, sizeof(*r));
    r->addr = xstrdup(addr);
    addr_domain_lower(r->addr);
    char *local, *domain;
    addr_split(r->addr, &local, &domain);
    int rc = resolve_domain_class(domain, &r->cls, error_r);
    char *value = NULL;
    if (rc == 0)
        rc = class_default(r->cls, domain, sender, &r->transport, &r->nexthop, error_r);
    if (rc == 0) {
        rc = transport_lookup(r->addr, local, domain, &value, error_r);
        if (rc == 1)
            apply_override(value, r);
        rc = rc < 0 ? -1 : 0;
    }
    free(value);
    free(local);
    free(domain);
    if (rc < 0)
        resolve_result_clear(r);
    return rc;
}

int resolve_addr(const char *addr, struct resolve_result *r, char **error_r)
{
    return resolve_addr_sender(addr, NULL, r, error_r);
}

void resolve_result_clear(struct resolve_result *r)
{
    xfree(r->transport);
    xfree(r->nexthop);
    xfree(r->addr);
}

/* The internal form of a local part, lower-cased (the raw text if unparsable). */
static char *local_internal(const char *local)
{
    str_t *s = str_new(64);
    if (addr_unquote_local(s, local, strlen(local)) < 0)
        str_setz(s, local);
    str_lower(s);
    return str_steal(&s);
}

/* Lookup keys user+ext@domain, user@domain, @domain in a list parameter. */
static int address_maps(const char *param, const char *full, const char *user, const char *domain,
                        char **error_r)
{
    int rc = maps_lookup(param, full, NULL, error_r);
    if (rc == 0) {
        char *key = xasprintf("%s@%s", user, domain);
        if (strcmp(key, full) != 0)
            rc = maps_lookup(param, key, NULL, error_r);
        free(key);
    }
    if (rc == 0) {
        char *key = xasprintf("@%s", domain);
        rc = maps_lookup(param, key, NULL, error_r);
        free(key);
    }
    return rc;
}

/* A local recipient: local_recipient_maps (empty: every name is known). */
static int local_known(const char *local, const char *user, char **error_r)
{
    if (strcmp(user, "postmaster") == 0)
        return 1;
    char **list = cfg_list("local_recipient_maps");
    int rc = list[0] == NULL ? 1 : 0;
    for (char **p = list; rc == 0 && *p != NULL; p++) {
        if (strcmp(*p, RESOLVE_UNIX_PASSWD) == 0) {
            rc = getpwnam(user) != NULL;
            continue;
        }
        rc = table_lookup(*p, local, NULL, error_r);
        if (rc == 0 && strcmp(local, user) != 0)
            rc = table_lookup(*p, user, NULL, error_r);
    }
    cfg_list_free(&list);
    return rc;
}

int resolve_rcpt_known(const char *addr, char **error_r)
{
    struct resolve_result r;
    if (resolve_addr(addr, &r, error_r) < 0)
        return -1;
    if (r.cls == RESOLVE_RELAY || r.cls == RESOLVE_DEFAULT) {
        resolve_result_clear(&r);
        return 1;
    }
    char *raw_local, *domain, *user, *ext;
    addr_split(r.addr, &raw_local, &domain);
    char *local = local_internal(raw_local);
    addr_strip_extension(local, cfg_str("recipient_delimiter"), &user, &ext, NULL);
    char *full = domain[0] != '\0' ? xasprintf("%s@%s", local, domain) : xstrdup(local);
    int rc = 0;
    if (domain[0] != '\0')
        rc = address_maps("virtual_alias_maps", full, user, domain, error_r);
    if (rc == 0 && r.cls == RESOLVE_LOCAL) /* virtual(5): "user" keys for local domains */
        rc = maps_lookup("virtual_alias_maps", local, NULL, error_r);
    if (rc == 0 && r.cls == RESOLVE_LOCAL && strcmp(local, user) != 0)
        rc = maps_lookup("virtual_alias_maps", user, NULL, error_r);
    if (rc == 0 && r.cls == RESOLVE_LOCAL)
        rc = local_known(local, user, error_r);
    else if (rc == 0)
        rc = address_maps("virtual_mailbox_maps", full, user, domain, error_r);
    free(full);
    free(user);
    free(ext);
    free(local);
    free(raw_local);
    free(domain);
    resolve_result_clear(&r);
    return rc;
}
