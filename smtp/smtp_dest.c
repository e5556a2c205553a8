/*
 * smtp_dest.c - from a next hop to the addresses to try, in order.
 *
 * "[host]:port" and "[host]" name one host: its A/AAAA records (or the
 * literal address), no MX lookup.  "domain" and "domain:port" are looked
 * up as MX (RFC 5321 section 5.1): hosts by preference (ties shuffled by
 * the resolver), each host's addresses in turn; no MX record means the
 * domain itself is the one host (implicit MX); a null MX (RFC 7505)
 * means the domain takes no mail.  "Does not exist" is permanent,
 * "could not find out" is temporary.  MX hosts that are this host (an
 * address in inet_interfaces) and every MX host not better than them are
 * dropped, and when that leaves nothing the mail "loops back to myself".
 * At most smtp_mx_address_limit addresses are kept.
 */
#include "smtp.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <strings.h>

#include "config.h"
#include "dns.h"
#include "log.h"
#include "mem.h"

int smtp_nexthop_parse(const char *nexthop, char **host_r, unsigned *port_r, bool *mx_r)
{
    const char *p = nexthop, *end;
    *mx_r = true;
    if (*p == '[') {
        end = strchr(p, ']');
        if (end == NULL || end == p + 1)
            return -1;
        *mx_r = false;
        const char *h = p + 1;
        if (strncasecmp(h, "ipv6:", 5) == 0) /* [ipv6:2001:db8::1] */
            h += 5;
        if (h == end)
            return -1;
        *host_r = xstrndup(h, (size_t)(end - h));
        p = end + 1;
    } else {
        end = strrchr(p, ':');
        if (end != NULL && strchr(p, ':') != end)
            end = NULL; /* an IPv6 address without brackets: no port */
        size_t n = end != NULL ? (size_t)(end - p) : strlen(p);
        if (n == 0)
            return -1;
        *host_r = xstrndup(p, n);
        p += n;
    }
    *port_r = 25;
    if (*p == ':') {
        char *e;
        long v = strtol(p + 1, &e, 10);
        if (strcmp(p + 1, "smtp") == 0)
            v = 25;
        else if (e == p + 1 || *e != '\0' || v < 1 || v > 65535)
            v = -1;
        if (v < 0) {
            xfree(*host_r);
            return -1;
        }
        *port_r = (unsigned)v;
    } else if (*p != '\0') {
        xfree(*host_r);
        return -1;
    }
    return 0;
}

void smtp_dest_free(struct smtp_dest *d)
{
    for (size_t i = 0; i < d->n; i++)
        free(d->v[i].host);
    xfree(d->v);
    d->n = 0;
}

/* Whether an address (4 or 16 bytes) is one this host listens on. */
static bool addr_is_mine(const struct dns_addr *a)
{
    char **list = cfg_list("inet_interfaces");
    bool mine = false;
    for (char **p = list; *p != NULL && !mine; p++) {
        if (strcasecmp(*p, "all") == 0) {
            struct ifaddrs *ifa = NULL, *i;
            if (getifaddrs(&ifa) < 0)
                continue;
            for (i = ifa; i != NULL && !mine; i = i->ifa_next) {
                if (i->ifa_addr == NULL || i->ifa_addr->sa_family != a->family)
                    continue;
                const void *x =
                    a->family == AF_INET
                        ? (const void *)&((struct sockaddr_in *)i->ifa_addr)->sin_addr
                        : (const void *)&((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr;
                mine = memcmp(x, a->addr, a->family == AF_INET ? 4 : 16) == 0;
            }
            freeifaddrs(ifa);
            continue;
        }
        const char *name = strcasecmp(*p, "loopback-only") == 0 || strcasecmp(*p, "localhost") == 0
                               ? (a->family == AF_INET ? "127.0.0.1" : "::1")
                               : *p;
        unsigned char buf[16];
        if (inet_pton(a->family, name, buf) == 1)
            mine = memcmp(buf, a->addr, a->family == AF_INET ? 4 : 16) == 0;
    }
    cfg_list_free(&list);
    return mine;
}

static void dest_add(struct smtp_dest *d, const char *host, const struct dns_addr *a, unsigned port)
{
    d->v = xreallocarray(d->v, d->n + 1, sizeof(*d->v));
    struct smtp_addr *x = &d->v[d->n++];
    memset(x, 0, sizeof(*x));
    x->host = xstrdup(host);
    x->port = port;
    str_lcpy(x->text, a->text, sizeof(x->text));
    if (a->family == AF_INET) {
        struct sockaddr_in *sin = (struct sockaddr_in *)&x->sa;
        sin->sin_family = AF_INET;
        sin->sin_port = htons((uint16_t)port);
        memcpy(&sin->sin_addr, a->addr, 4);
        x->salen = sizeof(*sin);
    } else {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&x->sa;
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons((uint16_t)port);
        memcpy(&sin6->sin6_addr, a->addr, 16);
        x->salen = sizeof(*sin6);
    }
}

/* Name service error text as Postfix words it. */
static void ns_error(struct smtp_fail *f, int status, const char *dsn, const char *name,
                     const char *type, const char *err)
{
    smtp_fail_set(f, status, dsn,
                  "Host or domain name not found. Name service error for name=%s type=%s: %s", name,
                  type,
                  err != NULL              ? err
                  : status == DELIVER_TEMP ? "Host not found, try again"
                                           : "Host not found");
}

/*
 * Add host's addresses.  Returns 1 added, 0 none (not found; *temp_r set
 * when temporarily), or 2 when an address is this host (nothing added).
 */
static int host_addrs(struct smtp_dest *d, const char *host, unsigned port, bool check_self,
                      struct smtp_fail *f)
{
    struct dns_addr *list = NULL;
    size_t n = 0;
    unsigned flags = 0;
    char *err = NULL;
    enum dns_status st = dns_lookup_addr(host, dns_inet_protocols(), &list, &n, &flags, &err);
    int rc = 0;
    if (st == DNS_OK) {
        for (size_t i = 0; i < n && rc != 2; i++)
            if (check_self && addr_is_mine(&list[i]))
                rc = 2;
        for (size_t i = 0; i < n && rc != 2; i++, rc = 1)
            dest_add(d, host, &list[i], port);
    } else if (f->status != DELIVER_TEMP) {
        ns_error(f, st == DNS_TEMPFAIL ? DELIVER_TEMP : DELIVER_PERM,
                 st == DNS_TEMPFAIL ? "4.4.3" : "5.1.2", host, "A", err);
    }
    dns_addr_free(&list, n);
    free(err);
    return rc;
}

/* Walk the MX list; see the file comment for the self rule. */
static void mx_addrs(struct smtp_dest *d, const char *domain, struct dns_mx *mx, size_t n,
                     unsigned port, struct smtp_fail *f)
{
    bool loop = false;
    unsigned cut = 0;
    for (size_t i = 0; i < n; i++) {
        if (loop && mx[i].pref >= cut)
            break;
        if (host_addrs(d, mx[i].host, port, true, f) == 2) {
            loop = true;
            cut = mx[i].pref;
        }
    }
    if (d->n > 0) {
        smtp_fail_reset(f);
    } else if (loop) {
        smtp_fail_set(f, DELIVER_PERM, "5.4.6", "mail for %s loops back to myself", domain);
    }
}

int smtp_dest_lookup(const char *nexthop, struct smtp_dest *d, struct smtp_fail *f)
{
    char *host, *err = NULL;
    unsigned port, flags = 0;
    bool use_mx;
    memset(d, 0, sizeof(*d));
    if (smtp_nexthop_parse(nexthop, &host, &port, &use_mx) < 0) {
        smtp_fail_set(f, DELIVER_PERM, "5.4.4", "malformed next-hop destination: %s", nexthop);
        return -1;
    }
    if (!use_mx) {
        host_addrs(d, host, port, false, f);
    } else {
        struct dns_mx *mx = NULL;
        size_t n = 0;
        enum dns_status st = dns_lookup_mx(host, &mx, &n, &flags, &err);
        if (st == DNS_OK)
            mx_addrs(d, host, mx, n, port, f);
        else if (st == DNS_NULLMX)
            smtp_fail_set(f, DELIVER_PERM, "5.1.10", "Domain %s does not accept mail (nullMX)",
                          host);
        else if (st == DNS_NOTFOUND && !(flags & DNS_F_NXDOMAIN))
            mx_addrs(d, host, &(struct dns_mx){.host = host, .pref = 0}, 1, port, f);
        else
            ns_error(f, st == DNS_TEMPFAIL ? DELIVER_TEMP : DELIVER_PERM,
                     st == DNS_TEMPFAIL ? "4.4.3" : "5.1.2", host, "MX", err);
        dns_mx_free(&mx, n);
    }
    free(err);
    free(host);
    long long limit = cfg_int("smtp_mx_address_limit");
    while (limit > 0 && d->n > (size_t)limit)
        free(d->v[--d->n].host);
    if (d->n == 0 && f->status == 0)
        smtp_fail_set(f, DELIVER_TEMP, "4.4.3", "no address for %s", nexthop);
    return d->n > 0 ? 0 : -1;
}
