/*
 * dns_parse.c - from an answer packet (wire format) to a verdict and the
 * records of one RRset: rcode and truncation classified into the
 * dns_status codes, the question checked against what was asked, CNAME
 * chains in the answer section followed (loops and over-long chains are
 * DNS_INVALID), TTLs taken for the cache (negative TTL from the SOA of the
 * authority section, RFC 2308).  Every byte here comes from the network.
 */
#include "dns_int.h"
#include "mem.h"
#include "str.h"

#include <ctype.h>

bool dns_name_valid(const char *name)
{
    size_t len = name ? strlen(name) : 0;
    size_t label = 0;

    if (len > 0 && name[len - 1] == '.')
        len--;
    if (len == 0 || len > 253)
        return false;
    for (size_t i = 0; i <= len; i++) {
        char c = i < len ? name[i] : '.';
        if (c == '.') {
            if (label == 0 || label > 63 || name[i - 1] == '-')
                return false;
            label = 0;
            continue;
        }
        if (!isalnum((unsigned char)c) && c != '-' && c != '_')
            return false;
        if (c == '-' && label == 0)
            return false;
        label++;
    }
    return true;
}

char *dns_fqdn(const char *name)
{
    if (!dns_name_valid(name))
        return NULL;
    size_t len = strlen(name);
    char *fqdn = xmalloc(len + 2);
    for (size_t i = 0; i < len; i++)
        fqdn[i] = (char)tolower((unsigned char)name[i]);
    if (name[len - 1] != '.')
        fqdn[len++] = '.';
    fqdn[len] = '\0';
    return fqdn;
}

char *dns_rdf_name(const ldns_rdf *rdf)
{
    char *text = ldns_rdf2str(rdf);
    if (text == NULL)
        return xstrdup("");
    size_t len = strlen(text);
    if (len > 1 && text[len - 1] == '.')
        text[--len] = '\0';
    for (size_t i = 0; i < len; i++)
        text[i] = (char)tolower((unsigned char)text[i]);
    char *copy = xstrdup(text);
    free(text);
    return copy;
}

void dns_rrset_clear(struct dns_rrset *set)
{
    if (set->pkt != NULL)
        ldns_pkt_free(set->pkt);
    free(set->rrs);
    free(set->chase);
    memset(set, 0, sizeof(*set));
}

static uint32_t ttl_min(uint32_t a, uint32_t b)
{
    return a < b ? a : b;
}

/* The question section must name what we asked (case-insensitively). */
static bool question_matches(const ldns_pkt *pkt, const ldns_rdf *qname, uint16_t qtype)
{
    const ldns_rr_list *q = ldns_pkt_question(pkt);
    if (q == NULL || ldns_rr_list_rr_count(q) != 1)
        return false;
    const ldns_rr *rr = ldns_rr_list_rr(q, 0);
    return ldns_rr_get_type(rr) == qtype && ldns_rr_get_class(rr) == LDNS_RR_CLASS_IN &&
           ldns_dname_compare(ldns_rr_owner(rr), qname) == 0;
}

/* RFC 2308: a negative answer may be cached for min(SOA TTL, SOA MINIMUM). */
static uint32_t negative_ttl(const ldns_pkt *pkt, bool *have_soa_r)
{
    const ldns_rr_list *auth = ldns_pkt_authority(pkt);
    size_t n = auth ? ldns_rr_list_rr_count(auth) : 0;

    *have_soa_r = false;
    for (size_t i = 0; i < n; i++) {
        const ldns_rr *rr = ldns_rr_list_rr(auth, i);
        if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_SOA || ldns_rr_rd_count(rr) != 7)
            continue;
        const ldns_rdf *min = ldns_rr_rdf(rr, 6);
        if (ldns_rdf_size(min) != 4)
            continue;
        *have_soa_r = true;
        return ttl_min(ttl_min(ldns_rr_ttl(rr), ldns_rdf2native_int32(min)), DNS_CACHE_NEG_TTL_MAX);
    }
    return 0;
}

/* Collect the records of qtype owned by name; returns how many. */
static size_t collect_rrs(struct dns_rrset *set, const ldns_rdf *name, uint16_t qtype)
{
    const ldns_rr_list *ans = ldns_pkt_answer(set->pkt);
    size_t n = ans ? ldns_rr_list_rr_count(ans) : 0;

    for (size_t i = 0; i < n; i++) {
        ldns_rr *rr = ldns_rr_list_rr(ans, i);
        if (ldns_rr_get_type(rr) != qtype || ldns_rr_get_class(rr) != LDNS_RR_CLASS_IN ||
            ldns_dname_compare(ldns_rr_owner(rr), name) != 0)
            continue;
        set->rrs = xreallocarray(set->rrs, set->n + 1, sizeof(*set->rrs));
        set->rrs[set->n++] = rr;
        set->ttl = ttl_min(set->ttl, ldns_rr_ttl(rr));
    }
    return set->n;
}

/* The CNAME record owned by name in the answer section, if any. */
static const ldns_rr *find_cname(const ldns_pkt *pkt, const ldns_rdf *name)
{
    const ldns_rr_list *ans = ldns_pkt_answer(pkt);
    size_t n = ans ? ldns_rr_list_rr_count(ans) : 0;

    for (size_t i = 0; i < n; i++) {
        const ldns_rr *rr = ldns_rr_list_rr(ans, i);
        if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_CNAME &&
            ldns_rr_get_class(rr) == LDNS_RR_CLASS_IN && ldns_rr_rd_count(rr) == 1 &&
            ldns_rdf_get_type(ldns_rr_rdf(rr, 0)) == LDNS_RDF_TYPE_DNAME &&
            ldns_dname_compare(ldns_rr_owner(rr), name) == 0)
            return rr;
    }
    return NULL;
}

static enum dns_status notfound(struct dns_rrset *set, bool nxdomain, const char *fqdn,
                                char **error_r)
{
    bool have_soa;
    set->ttl = negative_ttl(set->pkt, &have_soa);
    if (nxdomain)
        set->flags |= DNS_F_NXDOMAIN;
    error_set(error_r, "%.*s: %s", DNS_SHOW(fqdn),
              nxdomain ? "Host or domain name not found" : "No record of the requested type");
    return DNS_NOTFOUND;
}

/* Walk the CNAME chain from qname within the answer section. */
static enum dns_status walk_chain(struct dns_rrset *set, const ldns_rdf *qname, uint16_t qtype,
                                  const char *fqdn, char **error_r)
{
    const ldns_rdf *seen[DNS_CNAME_MAX + 1];
    size_t nseen = 0;
    const ldns_rdf *cur = qname;

    seen[nseen++] = qname;
    for (;;) {
        if (collect_rrs(set, cur, qtype) > 0)
            return DNS_OK;
        const ldns_rr *cname = qtype == LDNS_RR_TYPE_CNAME ? NULL : find_cname(set->pkt, cur);
        if (cname == NULL)
            break;
        const ldns_rdf *target = ldns_rr_rdf(cname, 0);
        for (size_t i = 0; i < nseen; i++)
            if (ldns_dname_compare(seen[i], target) == 0)
                return dns_error(DNS_INVALID, error_r, "%.*s: CNAME loop", DNS_SHOW(fqdn));
        if (nseen > DNS_CNAME_MAX)
            return dns_error(DNS_INVALID, error_r, "%.*s: CNAME chain too long", DNS_SHOW(fqdn));
        seen[nseen++] = target;
        set->flags |= DNS_F_CNAME;
        set->ttl = ttl_min(set->ttl, ldns_rr_ttl(cname));
        cur = target;
    }
    if (cur == qname)
        return notfound(set, false, fqdn, error_r);
    /* The chain leaves the packet: NODATA if the server said so with a SOA. */
    bool have_soa;
    (void)negative_ttl(set->pkt, &have_soa);
    if (have_soa)
        return notfound(set, false, fqdn, error_r);
    set->chase = dns_rdf_name(cur);
    return DNS_OK;
}

static enum dns_status classify(struct dns_rrset *set, const ldns_rdf *qname, uint16_t qtype,
                                const char *fqdn, char **error_r)
{
    ldns_pkt *pkt = set->pkt;

    if (!ldns_pkt_qr(pkt) || !question_matches(pkt, qname, qtype))
        return dns_error(DNS_INVALID, error_r, "%.*s: answer does not match the question",
                         DNS_SHOW(fqdn));
    if (ldns_pkt_ad(pkt))
        set->flags |= DNS_F_AD;
    if (ldns_pkt_tc(pkt))
        return dns_error(DNS_TEMPFAIL, error_r, "%.*s: truncated answer", DNS_SHOW(fqdn));
    switch (ldns_pkt_get_rcode(pkt)) {
    case LDNS_RCODE_NOERROR:
        set->ttl = DNS_CACHE_TTL_MAX;
        return walk_chain(set, qname, qtype, fqdn, error_r);
    case LDNS_RCODE_NXDOMAIN:
        return notfound(set, true, fqdn, error_r);
    default: {
        char *rc = ldns_pkt_rcode2str(ldns_pkt_get_rcode(pkt));
        error_set(error_r, "%.*s: nameserver answered %s", DNS_SHOW(fqdn), rc ? rc : "an error");
        free(rc);
        return DNS_TEMPFAIL;
    }
    }
}

enum dns_status dns_parse_answer(const unsigned char *wire, size_t len, const char *fqdn,
                                 uint16_t qtype, struct dns_rrset *set, char **error_r)
{
    memset(set, 0, sizeof(*set));
    if (len > DNS_WIRE_MAX || ldns_wire2pkt(&set->pkt, wire, len) != LDNS_STATUS_OK) {
        set->pkt = NULL;
        return dns_error(DNS_INVALID, error_r, "%.*s: malformed DNS answer", DNS_SHOW(fqdn));
    }
    ldns_rdf *qname = NULL;
    if (ldns_str2rdf_dname(&qname, fqdn) != LDNS_STATUS_OK)
        return dns_error(DNS_INVALID, error_r, "%.*s: invalid name", DNS_SHOW(fqdn));
    enum dns_status st = classify(set, qname, qtype, fqdn, error_r);
    ldns_rdf_deep_free(qname);
    if (st != DNS_OK)
        set->n = 0;
    return st;
}

enum dns_status dns_classify_wire(const unsigned char *wire, size_t len, const char *qname,
                                  uint16_t qtype, uint32_t *ttl_r, unsigned *flags_r,
                                  char **error_r)
{
    struct dns_rrset set;
    char *fqdn = dns_fqdn(qname);
    enum dns_status st;

    *ttl_r = 0;
    *flags_r = 0;
    if (fqdn == NULL)
        return dns_error(DNS_INVALID, error_r, "invalid domain name");
    st = dns_parse_answer(wire, len, fqdn, qtype, &set, error_r);
    if (st == DNS_OK && set.chase != NULL)
        *flags_r |= DNS_F_CNAME;
    if (st == DNS_OK || st == DNS_NOTFOUND) {
        *ttl_r = set.ttl;
        *flags_r |= set.flags;
    }
    dns_rrset_clear(&set);
    free(fqdn);
    return st;
}
