/*
 * dns_lookup.c - the lookups callers use: one RRset through the cache and
 * the nameservers with CNAMEs chased across queries, the raw answer for
 * the SPF/DKIM/DMARC libraries, and the typed MX/A/AAAA/TXT/PTR/TLSA
 * lookups built on it.  MX lists are sorted by preference with a random
 * order among equal preferences; a lone "MX 0 ." is the null MX.
 */
#include "config.h"
#include "dns_int.h"
#include "log.h"
#include "mem.h"
#include "str.h"

#include <arpa/inet.h>
#include <strings.h>

static unsigned (*dns_rand_below)(unsigned bound);

void dns_set_shuffle(unsigned (*rand_below)(unsigned bound))
{
    dns_rand_below = rand_below;
}

static unsigned rand_below(unsigned bound)
{
    return dns_rand_below ? dns_rand_below(bound) : arc4random_uniform(bound);
}

/* An answer from the cache, else from the nameservers. */
static enum dns_status fetch(const char *fqdn, uint16_t qtype, unsigned char **wire_r,
                             size_t *len_r, uint32_t *left_r, char **error_r)
{
    if (dns_cache_get(fqdn, qtype, wire_r, len_r, left_r))
        return DNS_OK;
    *left_r = UINT32_MAX;
    return dns_send(fqdn, qtype, wire_r, len_r, error_r);
}

/* One packet: fetched, parsed, cached; flags and TTL merged into the set. */
static enum dns_status lookup_one(const char *fqdn, uint16_t qtype, struct dns_rrset *set,
                                  unsigned *flags, char **error_r)
{
    unsigned char *wire;
    size_t len;
    uint32_t left;
    enum dns_status st = fetch(fqdn, qtype, &wire, &len, &left, error_r);

    if (st != DNS_OK) {
        *flags &= ~(unsigned)DNS_F_AD;
        return st;
    }
    st = dns_parse_answer(wire, len, fqdn, qtype, set, error_r);
    if (left != UINT32_MAX)
        *flags |= DNS_F_CACHED;
    else if (st == DNS_OK || st == DNS_NOTFOUND)
        dns_cache_put(fqdn, qtype, wire, len, set->ttl);
    if (set->ttl > left)
        set->ttl = left;
    if (!(set->flags & DNS_F_AD))
        *flags &= ~(unsigned)DNS_F_AD;
    *flags |= set->flags & (DNS_F_NXDOMAIN | DNS_F_CNAME);
    free(wire);
    return st;
}

enum dns_status dns_lookup_rrset(const char *name, uint16_t qtype, struct dns_rrset *set,
                                 unsigned *flags_r, char **error_r)
{
    char *seen[DNS_CNAME_MAX + 1];
    size_t nseen = 0;
    unsigned flags = DNS_F_AD;
    enum dns_status st;

    memset(set, 0, sizeof(*set));
    seen[nseen] = dns_fqdn(name);
    if (seen[nseen] == NULL) {
        *flags_r = 0;
        return dns_error(DNS_INVALID, error_r, "invalid domain name");
    }
    for (;;) {
        const char *fqdn = seen[nseen++];
        st = lookup_one(fqdn, qtype, set, &flags, error_r);
        if (st != DNS_OK || set->chase == NULL)
            break;
        flags |= DNS_F_CNAME;
        char *next = dns_fqdn(set->chase);
        bool loop = next == NULL;
        for (size_t i = 0; next != NULL && i < nseen; i++)
            loop = loop || strcmp(seen[i], next) == 0;
        if (loop || nseen > DNS_CNAME_MAX) {
            error_set(error_r, "%.*s: %s", DNS_SHOW(seen[0]),
                      next == NULL ? "invalid CNAME target"
                      : loop       ? "CNAME loop"
                                   : "CNAME chain too long");
            free(next);
            st = DNS_INVALID;
            break;
        }
        dns_rrset_clear(set);
        seen[nseen] = next;
    }
    if (st != DNS_OK) {
        set->n = 0;
        flags &= ~(unsigned)DNS_F_AD;
    }
    while (nseen > 0)
        free(seen[--nseen]);
    *flags_r = flags;
    return st;
}

enum dns_status dns_query_raw(const char *name, uint16_t type, unsigned char **wire_r,
                              size_t *len_r, unsigned *flags_r, char **error_r)
{
    char *fqdn = dns_fqdn(name);
    unsigned char *wire = NULL;
    size_t len = 0;
    uint32_t left;
    struct dns_rrset set;
    enum dns_status st;

    *wire_r = NULL;
    *len_r = 0;
    *flags_r = 0;
    if (fqdn == NULL)
        return dns_error(DNS_INVALID, error_r, "invalid domain name");
    st = fetch(fqdn, type, &wire, &len, &left, error_r);
    if (st == DNS_OK) {
        st = dns_parse_answer(wire, len, fqdn, type, &set, error_r);
        *flags_r = set.flags | (left != UINT32_MAX ? DNS_F_CACHED : 0);
        if (left == UINT32_MAX && (st == DNS_OK || st == DNS_NOTFOUND))
            dns_cache_put(fqdn, type, wire, len, set.ttl);
        dns_rrset_clear(&set);
    }
    if (st == DNS_OK || st == DNS_NOTFOUND) {
        *wire_r = wire;
        *len_r = len;
    } else {
        free(wire);
    }
    free(fqdn);
    return st;
}

/* Records of type qtype whose rdata has the expected number of fields. */
static bool rr_shape(const ldns_rr *rr, size_t nrdf)
{
    return ldns_rr_rd_count(rr) == nrdf;
}

/*
 * MX.
 */
static int mx_cmp(const void *a, const void *b)
{
    const struct dns_mx *x = a, *y = b;
    if (x->pref != y->pref)
        return x->pref < y->pref ? -1 : 1;
    return strcmp(x->host, y->host);
}

void dns_mx_sort(struct dns_mx *list, size_t n)
{
    if (n < 2)
        return;
    qsort(list, n, sizeof(*list), mx_cmp);
    for (size_t start = 0, end; start < n; start = end) {
        for (end = start + 1; end < n && list[end].pref == list[start].pref; end++)
            ;
        for (size_t i = end - 1; i > start; i--) { /* Fisher-Yates within the run */
            size_t j = start + rand_below((unsigned)(i - start + 1));
            struct dns_mx tmp = list[i];
            list[i] = list[j];
            list[j] = tmp;
        }
    }
}

void dns_mx_free(struct dns_mx **listp, size_t n)
{
    for (size_t i = 0; *listp != NULL && i < n; i++)
        free((*listp)[i].host);
    xfree(*listp);
}

/* The MX records of an RRset; DNS_NULLMX for a lone "0 .". */
static enum dns_status mx_extract(const struct dns_rrset *set, struct dns_mx **list_r, size_t *n_r,
                                  char **error_r)
{
    struct dns_mx *list = xcalloc(set->n, sizeof(*list));
    size_t n = 0;

    for (size_t i = 0; i < set->n; i++) {
        const ldns_rr *rr = set->rrs[i];
        if (!rr_shape(rr, 2) || ldns_rdf_size(ldns_rr_rdf(rr, 0)) != 2 ||
            ldns_rdf_get_type(ldns_rr_rdf(rr, 1)) != LDNS_RDF_TYPE_DNAME)
            continue;
        char *host = dns_rdf_name(ldns_rr_rdf(rr, 1));
        unsigned pref = ldns_rdf2native_int16(ldns_rr_rdf(rr, 0));
        if (strcmp(host, ".") == 0 && set->n == 1 && pref == 0) {
            free(host);
            free(list);
            error_set(error_r, "domain accepts no mail (null MX)");
            return DNS_NULLMX;
        }
        if (!dns_name_valid(host)) {
            msg_warn("dns: ignoring malformed MX host name \"%s\"", host);
            free(host);
            continue;
        }
        list[n++] = (struct dns_mx){.host = host, .pref = pref, .ttl = set->ttl};
    }
    if (n == 0) {
        free(list);
        return dns_error(DNS_INVALID, error_r, "no valid MX host name");
    }
    dns_mx_sort(list, n);
    *list_r = list;
    *n_r = n;
    return DNS_OK;
}

enum dns_status dns_mx_from_wire(const unsigned char *wire, size_t len, const char *qname,
                                 struct dns_mx **list_r, size_t *n_r, unsigned *flags_r,
                                 char **error_r)
{
    struct dns_rrset set;
    char *fqdn = dns_fqdn(qname);
    enum dns_status st;

    *list_r = NULL;
    *n_r = 0;
    *flags_r = 0;
    if (fqdn == NULL)
        return dns_error(DNS_INVALID, error_r, "invalid domain name");
    st = dns_parse_answer(wire, len, fqdn, LDNS_RR_TYPE_MX, &set, error_r);
    *flags_r = set.flags;
    if (st == DNS_OK && set.chase != NULL)
        st = dns_error(DNS_NOTFOUND, error_r, "%.*s: CNAME target not in the answer",
                       DNS_SHOW(fqdn));
    else if (st == DNS_OK)
        st = mx_extract(&set, list_r, n_r, error_r);
    dns_rrset_clear(&set);
    free(fqdn);
    return st;
}

enum dns_status dns_lookup_mx(const char *domain, struct dns_mx **list_r, size_t *n_r,
                              unsigned *flags_r, char **error_r)
{
    struct dns_rrset set;
    enum dns_status st;

    *list_r = NULL;
    *n_r = 0;
    st = dns_lookup_rrset(domain, LDNS_RR_TYPE_MX, &set, flags_r, error_r);
    if (st == DNS_OK)
        st = mx_extract(&set, list_r, n_r, error_r);
    dns_rrset_clear(&set);
    return st;
}

/*
 * A and AAAA.
 */
void dns_addr_free(struct dns_addr **listp, size_t n)
{
    (void)n;
    xfree(*listp);
}

unsigned dns_inet_protocols(void)
{
    char **list = cfg_list("inet_protocols");
    unsigned fam = 0;

    for (size_t i = 0; list[i] != NULL; i++) {
        if (strcasecmp(list[i], "all") == 0)
            fam |= DNS_INET4 | DNS_INET6;
        else if (strcasecmp(list[i], "ipv4") == 0)
            fam |= DNS_INET4;
        else if (strcasecmp(list[i], "ipv6") == 0)
            fam |= DNS_INET6;
    }
    cfg_list_free(&list);
    return fam ? fam : DNS_INET4 | DNS_INET6;
}

static void addr_push(struct dns_addr **list, size_t *n, int family, const void *bytes,
                      uint32_t ttl)
{
    struct dns_addr *a;

    *list = xreallocarray(*list, *n + 1, sizeof(**list));
    a = &(*list)[(*n)++];
    memset(a, 0, sizeof(*a));
    a->family = family;
    a->ttl = ttl;
    memcpy(a->addr, bytes, family == AF_INET ? 4 : 16);
    inet_ntop(family, a->addr, a->text, sizeof(a->text));
}

/* One family's addresses appended to the list. */
static enum dns_status addr_family(const char *name, int family, struct dns_addr **list, size_t *n,
                                   unsigned *flags, char **error_r)
{
    struct dns_rrset set;
    size_t want = family == AF_INET ? 4 : 16;
    enum dns_status st = dns_lookup_rrset(
        name, family == AF_INET ? LDNS_RR_TYPE_A : LDNS_RR_TYPE_AAAA, &set, flags, error_r);
    size_t before = *n;

    for (size_t i = 0; st == DNS_OK && i < set.n; i++)
        if (rr_shape(set.rrs[i], 1) && ldns_rdf_size(ldns_rr_rdf(set.rrs[i], 0)) == want)
            addr_push(list, n, family, ldns_rdf_data(ldns_rr_rdf(set.rrs[i], 0)), set.ttl);
    if (st == DNS_OK && *n == before)
        st = dns_error(DNS_INVALID, error_r, "%s: malformed address records", name);
    dns_rrset_clear(&set);
    return st;
}

/* An address literal answers for itself. */
static bool addr_literal(const char *name, unsigned families, struct dns_addr **list, size_t *n)
{
    unsigned char buf[16];

    if (inet_pton(AF_INET, name, buf) == 1) {
        if (families & DNS_INET4)
            addr_push(list, n, AF_INET, buf, 0);
        return true;
    }
    if (inet_pton(AF_INET6, name, buf) == 1) {
        if (families & DNS_INET6)
            addr_push(list, n, AF_INET6, buf, 0);
        return true;
    }
    return false;
}

/* Merge two families' outcomes: any address wins, then TEMPFAIL, then the worst. */
static enum dns_status addr_merge(enum dns_status a, enum dns_status b, bool have)
{
    if (have)
        return DNS_OK;
    if (a == DNS_TEMPFAIL || b == DNS_TEMPFAIL)
        return DNS_TEMPFAIL;
    if (a == DNS_INVALID || b == DNS_INVALID)
        return DNS_INVALID;
    return DNS_NOTFOUND;
}

enum dns_status dns_lookup_addr(const char *name, unsigned families, struct dns_addr **list_r,
                                size_t *n_r, unsigned *flags_r, char **error_r)
{
    enum dns_status st6 = DNS_NOTFOUND, st4 = DNS_NOTFOUND, st;
    unsigned f6 = DNS_F_AD | DNS_F_NXDOMAIN, f4 = DNS_F_AD | DNS_F_NXDOMAIN;
    char *err6 = NULL, *err4 = NULL;

    *list_r = NULL;
    *n_r = 0;
    *flags_r = 0;
    if (addr_literal(name, families, list_r, n_r))
        return *n_r > 0
                   ? DNS_OK
                   : (dns_error(DNS_NOTFOUND, error_r, "%s: address family not enabled", name));
    if ((families & (DNS_INET4 | DNS_INET6)) == 0)
        return dns_error(DNS_INVALID, error_r, "no address family requested");
    if (families & DNS_INET6)
        st6 = addr_family(name, AF_INET6, list_r, n_r, &f6, &err6);
    if (families & DNS_INET4)
        st4 = addr_family(name, AF_INET, list_r, n_r, &f4, &err4);
    st = addr_merge(st6, st4, *n_r > 0);
    *flags_r = (f6 & f4 & (DNS_F_AD | DNS_F_NXDOMAIN)) | ((f6 | f4) & (DNS_F_CACHED | DNS_F_CNAME));
    if (st == DNS_OK && (st6 == DNS_TEMPFAIL || st4 == DNS_TEMPFAIL))
        *flags_r |= DNS_F_PARTIAL;
    if (st != DNS_OK) {
        const char *why = st6 == st ? err6 : err4;
        error_set(error_r, "%s", why ? why : "no address");
    }
    free(err6);
    free(err4);
    return st;
}

/*
 * TXT.
 */
void dns_txt_free(struct dns_txt **listp, size_t n)
{
    for (size_t i = 0; *listp != NULL && i < n; i++)
        free((*listp)[i].text);
    xfree(*listp);
}

enum dns_status dns_lookup_txt(const char *name, struct dns_txt **list_r, size_t *n_r,
                               unsigned *flags_r, char **error_r)
{
    struct dns_rrset set;
    enum dns_status st = dns_lookup_rrset(name, LDNS_RR_TYPE_TXT, &set, flags_r, error_r);

    *list_r = NULL;
    *n_r = 0;
    if (st == DNS_OK)
        *list_r = xcalloc(set.n, sizeof(**list_r));
    for (size_t i = 0; st == DNS_OK && i < set.n; i++) {
        str_t *text = str_new(256);
        for (size_t j = 0; j < ldns_rr_rd_count(set.rrs[i]); j++) {
            const ldns_rdf *rdf = ldns_rr_rdf(set.rrs[i], j);
            const uint8_t *d = ldns_rdf_data(rdf);
            size_t sz = ldns_rdf_size(rdf);
            if (sz >= 1 && d[0] == sz - 1)
                str_append(text, d + 1, sz - 1);
        }
        (*list_r)[*n_r].len = str_len(text);
        (*list_r)[*n_r].ttl = set.ttl;
        (*list_r)[(*n_r)++].text = str_steal(&text);
    }
    dns_rrset_clear(&set);
    return st;
}

/*
 * PTR.
 */
void dns_name_free(struct dns_name **listp, size_t n)
{
    for (size_t i = 0; *listp != NULL && i < n; i++)
        free((*listp)[i].name);
    xfree(*listp);
}

/* 192.0.2.1 -> 1.2.0.192.in-addr.arpa; IPv6 as nibbles under ip6.arpa. */
static char *reverse_name(const char *addr)
{
    unsigned char b[16];
    str_t *s;

    if (inet_pton(AF_INET, addr, b) == 1)
        return xasprintf("%u.%u.%u.%u.in-addr.arpa", b[3], b[2], b[1], b[0]);
    if (inet_pton(AF_INET6, addr, b) != 1)
        return NULL;
    s = str_new(80);
    for (size_t i = 16; i-- > 0;)
        str_appendf(s, "%x.%x.", b[i] & 0xf, b[i] >> 4);
    str_appendz(s, "ip6.arpa");
    return str_steal(&s);
}

enum dns_status dns_lookup_ptr(const char *addr, struct dns_name **list_r, size_t *n_r,
                               unsigned *flags_r, char **error_r)
{
    char *rev = reverse_name(addr);
    struct dns_rrset set;
    enum dns_status st;

    *list_r = NULL;
    *n_r = 0;
    *flags_r = 0;
    if (rev == NULL)
        return dns_error(DNS_INVALID, error_r, "not an IP address");
    st = dns_lookup_rrset(rev, LDNS_RR_TYPE_PTR, &set, flags_r, error_r);
    free(rev);
    if (st == DNS_OK)
        *list_r = xcalloc(set.n, sizeof(**list_r));
    for (size_t i = 0; st == DNS_OK && i < set.n; i++)
        if (rr_shape(set.rrs[i], 1) &&
            ldns_rdf_get_type(ldns_rr_rdf(set.rrs[i], 0)) == LDNS_RDF_TYPE_DNAME)
            (*list_r)[(*n_r)++] =
                (struct dns_name){.name = dns_rdf_name(ldns_rr_rdf(set.rrs[i], 0)), .ttl = set.ttl};
    if (st == DNS_OK && *n_r == 0) {
        xfree(*list_r);
        st = dns_error(DNS_INVALID, error_r, "%s: malformed PTR records", addr);
    }
    dns_rrset_clear(&set);
    return st;
}

/*
 * TLSA.
 */
void dns_tlsa_free(struct dns_tlsa **listp, size_t n)
{
    for (size_t i = 0; *listp != NULL && i < n; i++)
        free((*listp)[i].data);
    xfree(*listp);
}

static bool tlsa_push(const ldns_rr *rr, struct dns_tlsa *t, uint32_t ttl)
{
    if (!rr_shape(rr, 4))
        return false;
    for (size_t j = 0; j < 3; j++)
        if (ldns_rdf_size(ldns_rr_rdf(rr, j)) != 1)
            return false;
    const ldns_rdf *data = ldns_rr_rdf(rr, 3);
    t->usage = *ldns_rdf_data(ldns_rr_rdf(rr, 0));
    t->selector = *ldns_rdf_data(ldns_rr_rdf(rr, 1));
    t->mtype = *ldns_rdf_data(ldns_rr_rdf(rr, 2));
    t->len = ldns_rdf_size(data);
    t->data = xmemdup(ldns_rdf_data(data), t->len);
    t->ttl = ttl;
    return true;
}

enum dns_status dns_lookup_tlsa(unsigned port, const char *proto, const char *host,
                                struct dns_tlsa **list_r, size_t *n_r, unsigned *flags_r,
                                char **error_r)
{
    char *name = xasprintf("_%u._%s.%s", port, proto, host);
    struct dns_rrset set;
    enum dns_status st = dns_lookup_rrset(name, LDNS_RR_TYPE_TLSA, &set, flags_r, error_r);

    *list_r = NULL;
    *n_r = 0;
    if (st == DNS_OK)
        *list_r = xcalloc(set.n, sizeof(**list_r));
    for (size_t i = 0; st == DNS_OK && i < set.n; i++)
        if (tlsa_push(set.rrs[i], &(*list_r)[*n_r], set.ttl))
            (*n_r)++;
    if (st == DNS_OK && *n_r == 0) {
        xfree(*list_r);
        st = dns_error(DNS_INVALID, error_r, "%s: malformed TLSA records", name);
    }
    dns_rrset_clear(&set);
    free(name);
    return st;
}
