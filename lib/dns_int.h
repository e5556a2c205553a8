/*
 * dns_int.h - internals shared by the dns*.c files of the resolver (and
 * its unit tests): the transport over libldns, the answer cache, and the
 * answer parser that turns a wire packet into the records of one RRset.
 * Nothing outside lib/dns*.c and tests/ includes this.
 */
#ifndef TERN_DNS_INT_H
#define TERN_DNS_INT_H

#include "dns.h"

#include <ldns/ldns.h>

/* Longest answer packet kept or handed out (a TCP answer's maximum). */
#define DNS_WIRE_MAX 65535
/* Upper bounds for the time an answer is cached (RFC 2308 suggests 1-3h). */
#define DNS_CACHE_TTL_MAX 86400
#define DNS_CACHE_NEG_TTL_MAX 10800

/*
 * The records of qtype at the end of the CNAME chain that starts at the
 * question name, as found in one answer packet.  rrs point into pkt.
 * When the chain ends in a CNAME whose target the packet does not answer,
 * chase is that target (lower case, absolute) and n is 0.
 */
struct dns_rrset {
    ldns_pkt *pkt;
    ldns_rr **rrs;
    size_t n;
    uint32_t ttl;   /* smallest TTL of the records used */
    unsigned flags; /* DNS_F_AD, DNS_F_NXDOMAIN, DNS_F_CNAME */
    char *chase;
};

/* For messages: "%.*s" arguments showing an absolute name without its final dot. */
#define DNS_SHOW(fqdn) dns_show_len(fqdn), (fqdn)
static inline int dns_show_len(const char *fqdn)
{
    size_t len = strlen(fqdn);
    return (int)(len > 1 && fqdn[len - 1] == '.' ? len - 1 : len);
}

/* dns_parse.c */
enum dns_status dns_parse_answer(const unsigned char *wire, size_t len, const char *fqdn,
                                 uint16_t qtype, struct dns_rrset *set, char **error_r);
void dns_rrset_clear(struct dns_rrset *set);
/* A domain name rdf as lower-case text without the trailing dot ("." for the root). */
char *dns_rdf_name(const ldns_rdf *rdf);
/* "name" or "name." -> "name." lower case; NULL when name is not valid. */
char *dns_fqdn(const char *name);

/* dns.c: set *error_r (when not NULL) like error_set and return st. */
enum dns_status dns_error(enum dns_status st, char **error_r, const char *fmt, ...)
    TERN_PRINTF(3, 4);
/* dns.c: one query to the configured servers; wire answer for NOERROR/NXDOMAIN. */
enum dns_status dns_send(const char *fqdn, uint16_t qtype, unsigned char **wire_r, size_t *len_r,
                         char **error_r);
/* The clock (replaceable by dns_set_clock). */
time_t dns_now(void);
/* Ensure a resolver is configured (from the parameters if nobody did). */
int dns_ensure_configured(char **error_r);

/* dns_cache.c */
void dns_cache_set_limit(size_t limit);
/* A copy of a cached answer, with the seconds it has left; false when absent. */
bool dns_cache_get(const char *fqdn, uint16_t qtype, unsigned char **wire_r, size_t *len_r,
                   uint32_t *left_r);
void dns_cache_put(const char *fqdn, uint16_t qtype, const unsigned char *wire, size_t len,
                   uint32_t ttl);
size_t dns_cache_count(void);

/* dns_lookup.c: the RRset of name/qtype, cache and CNAME chase included. */
enum dns_status dns_lookup_rrset(const char *name, uint16_t qtype, struct dns_rrset *set,
                                 unsigned *flags_r, char **error_r);

#endif
