/*
 * dns.h - the one DNS resolver of the suite (built on libldns).
 *
 * Every DNS question tern asks goes through here: MX routing in the smtp
 * client, A/AAAA for the hosts found, PTR and TXT for policy checks, TLSA
 * for DANE, and raw answers handed to libspf2/OpenDKIM/OpenDMARC through
 * their DNS hooks.  Nameservers come from the dns_nameservers parameter
 * (addr, addr:port, [v6addr]:port), else from /etc/resolv.conf.
 *
 * Every lookup returns one of the dns_status codes, so a caller cannot
 * mistake "does not exist" for "could not find out":
 *
 *   DNS_OK        records found; the list has at least one entry.
 *   DNS_NOTFOUND  permanent: the name does not exist (NXDOMAIN; *flags_r
 *                 has DNS_F_NXDOMAIN) or has no record of that type (NODATA).
 *   DNS_NULLMX    dns_lookup_mx only: the domain publishes a null MX
 *                 (RFC 7505: a single "MX 0 ."), it accepts no mail.
 *   DNS_TEMPFAIL  could not find out: SERVFAIL, REFUSED, timeout, network
 *                 error, no nameserver reachable.  Try again later.
 *   DNS_INVALID   the question or the answer is malformed: a bad name, an
 *                 answer that does not parse, a CNAME chain that loops or
 *                 is longer than DNS_CNAME_MAX.  Treat as permanent for the
 *                 name asked about.
 *
 * On anything but DNS_OK (and DNS_NULLMX), *list_r is NULL and *n_r is 0;
 * on DNS_TEMPFAIL and DNS_INVALID *error_r (when not NULL) receives a
 * message for logs and DSNs, allocated, which the caller frees.  On
 * DNS_NOTFOUND/DNS_NULLMX *error_r also gets a short reason ("Host not
 * found", "No MX record", "Null MX") so it can go into a bounce.
 *
 * CNAMEs are followed: in the answer section first, then by asking for the
 * target again, at most DNS_CNAME_MAX steps; a loop gives DNS_INVALID.
 * Records report the TTL of the answer, and *flags_r says whether the
 * server set the AD bit on every answer used (DNS_F_AD; only meaningful
 * with a validating resolver on a trusted path, i.e. for DANE).
 *
 * Answers are cached in-process, bounded (dns_cache_limit entries),
 * honouring TTLs; negative answers are cached for the SOA minimum (RFC
 * 2308) when the server sends a SOA, else not at all; temporary failures
 * are never cached.
 *
 * Not thread-safe: one resolver per process, as every tern program is
 * single-threaded.
 */
#ifndef TERN_DNS_H
#define TERN_DNS_H

#include "sys.h"

enum dns_status {
    DNS_OK = 0,
    DNS_NOTFOUND = 1,
    DNS_NULLMX = 2,
    DNS_TEMPFAIL = 3,
    DNS_INVALID = 4,
};

/* Bits in *flags_r. */
#define DNS_F_AD 0x01       /* every answer used carried the AD bit */
#define DNS_F_NXDOMAIN 0x02 /* DNS_NOTFOUND because the name does not exist */
#define DNS_F_CACHED 0x04   /* at least one answer came from the cache */
#define DNS_F_CNAME 0x08    /* a CNAME was followed */
#define DNS_F_PARTIAL 0x10  /* dns_lookup_addr: one family failed temporarily */

/* Families for dns_lookup_addr (see dns_inet_protocols()). */
#define DNS_INET4 0x01
#define DNS_INET6 0x02

/* Longest CNAME chain followed. */
#define DNS_CNAME_MAX 8

/* DNS RR types used by callers of dns_query_raw. */
#define DNS_T_A 1
#define DNS_T_NS 2
#define DNS_T_CNAME 5
#define DNS_T_SOA 6
#define DNS_T_PTR 12
#define DNS_T_MX 15
#define DNS_T_TXT 16
#define DNS_T_AAAA 28
#define DNS_T_TLSA 52

/* "NOTFOUND", "TEMPFAIL", ... for logs. */
const char *dns_status_name(enum dns_status st);

/*
 * MX records sorted by preference, hosts of equal preference in random
 * order (shuffled anew on every lookup, including cache hits).  Host
 * names are lower case, without the trailing dot.
 */
struct dns_mx {
    char *host;
    unsigned pref;
    uint32_t ttl;
};
enum dns_status dns_lookup_mx(const char *domain, struct dns_mx **list_r, size_t *n_r,
                              unsigned *flags_r, char **error_r);
void dns_mx_free(struct dns_mx **listp, size_t n);

/*
 * Addresses of a host: A when families has DNS_INET4, AAAA when it has
 * DNS_INET6 (IPv6 first when both, as the order of records within each
 * family is the server's).  DNS_OK when either family gave addresses (the
 * other failing temporarily sets DNS_F_PARTIAL); DNS_NOTFOUND only when
 * every family asked is NOTFOUND; DNS_TEMPFAIL when none gave an address
 * and one failed temporarily.  A name that is an IP address literal is
 * returned as itself without a query.
 */
struct dns_addr {
    int family;             /* AF_INET or AF_INET6 */
    unsigned char addr[16]; /* 4 or 16 bytes in network order */
    char text[46];          /* printable form (INET6_ADDRSTRLEN) */
    uint32_t ttl;
};
enum dns_status dns_lookup_addr(const char *name, unsigned families, struct dns_addr **list_r,
                                size_t *n_r, unsigned *flags_r, char **error_r);
void dns_addr_free(struct dns_addr **listp, size_t n);
/* DNS_INET4|DNS_INET6 according to the inet_protocols parameter. */
unsigned dns_inet_protocols(void);

/*
 * TXT records: the character-strings of each record concatenated (as SPF
 * and DKIM want them).  Binary-safe: text may contain NUL; len is the truth,
 * and text is NUL-terminated for convenience.
 */
struct dns_txt {
    char *text;
    size_t len;
    uint32_t ttl;
};
enum dns_status dns_lookup_txt(const char *name, struct dns_txt **list_r, size_t *n_r,
                               unsigned *flags_r, char **error_r);
void dns_txt_free(struct dns_txt **listp, size_t n);

/*
 * PTR names of an address given as text ("192.0.2.1", "2001:db8::1"); a
 * string that is not an address is DNS_INVALID.  Names lower case,
 * without the trailing dot.
 */
struct dns_name {
    char *name;
    uint32_t ttl;
};
enum dns_status dns_lookup_ptr(const char *addr, struct dns_name **list_r, size_t *n_r,
                               unsigned *flags_r, char **error_r);
void dns_name_free(struct dns_name **listp, size_t n);

/* TLSA records of _port._proto.host (RFC 6698), proto "tcp" usually. */
struct dns_tlsa {
    uint8_t usage;
    uint8_t selector;
    uint8_t mtype;
    unsigned char *data;
    size_t len;
    uint32_t ttl;
};
enum dns_status dns_lookup_tlsa(unsigned port, const char *proto, const char *host,
                                struct dns_tlsa **list_r, size_t *n_r, unsigned *flags_r,
                                char **error_r);
void dns_tlsa_free(struct dns_tlsa **listp, size_t n);

/*
 * The answer packet itself, in wire format, for libraries with their own
 * parser (libspf2, OpenDKIM, OpenDMARC DNS hooks).  DNS_OK and
 * DNS_NOTFOUND come with the packet (*wire_r, *len_r; free() it), so the
 * library sees the rcode; DNS_TEMPFAIL and DNS_INVALID come without.  The
 * cache is used; CNAMEs are not followed beyond what the server put in the
 * answer.  type is a DNS_T_* value (or any RR type number).
 */
enum dns_status dns_query_raw(const char *name, uint16_t type, unsigned char **wire_r,
                              size_t *len_r, unsigned *flags_r, char **error_r);

/*
 * Whether name is a syntactically valid domain name to ask about: labels
 * of 1..63 bytes of letters, digits, '-' and '_' (no leading or trailing
 * '-'), total at most 253 bytes, one optional trailing dot.  IDNs must be
 * given in A-label (xn--) form.
 */
bool dns_name_valid(const char *name);

/*
 * Configuration.  Without a call to dns_configure the first lookup reads
 * the parameters (dns_nameservers, dns_timeout, dns_retries,
 * dns_cache_limit, dns_dnssec_ok) from the loaded configuration.
 */
struct dns_settings {
    const char *const *nameservers; /* NULL-terminated; NULL/empty: resolv.conf */
    unsigned timeout;               /* seconds per try and server (0: 5) */
    unsigned retries;               /* rounds over all servers (0: 2) */
    size_t cache_limit;             /* cache entries (0: no cache) */
    bool dnssec_ok;                 /* set the EDNS0 DO bit */
};
/* Replace the resolver (and empty the cache); -1 with *error_r on bad settings. */
int dns_configure(const struct dns_settings *set, char **error_r);
/* Configure from the loaded main.cf parameters. */
int dns_configure_from_params(char **error_r);
/* Parse one dns_nameservers entry into address text and port (53 default). */
int dns_parse_server(const char *entry, char **addr_r, uint16_t *port_r, char **error_r);
/* Drop the resolver and the cache (the next lookup configures again). */
void dns_reset(void);
/* Empty the cache only. */
void dns_cache_flush(void);

/*
 * Test hooks.  dns_set_clock replaces time(NULL) for cache expiry (NULL
 * restores it); dns_set_shuffle replaces the random source of the MX
 * tie-break (returns a value in [0, bound)).
 */
void dns_set_clock(time_t (*now)(void));
void dns_set_shuffle(unsigned (*rand_below)(unsigned bound));

/*
 * Lower layers, exposed for unit tests and fuzzing: classify an answer
 * packet (wire format) for a question, and extract typed records from it.
 * dns_classify_wire sets *ttl_r to how long the answer may be cached (the
 * smallest TTL of the records used, or the negative TTL; 0: do not cache).
 * An answer whose CNAME chain leaves the packet (the lookups then ask for
 * the target) classifies as DNS_OK with DNS_F_CNAME; dns_mx_from_wire
 * reports it as DNS_NOTFOUND.
 */
enum dns_status dns_classify_wire(const unsigned char *wire, size_t len, const char *qname,
                                  uint16_t qtype, uint32_t *ttl_r, unsigned *flags_r,
                                  char **error_r);
/* Extract MX records of qname (CNAMEs in the answer followed) from a packet. */
enum dns_status dns_mx_from_wire(const unsigned char *wire, size_t len, const char *qname,
                                 struct dns_mx **list_r, size_t *n_r, unsigned *flags_r,
                                 char **error_r);
/* Sort MX by preference, shuffling equal preferences (the lookup does this). */
void dns_mx_sort(struct dns_mx *list, size_t n);

#endif
