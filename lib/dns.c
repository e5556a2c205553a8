/*
 * dns.c - the resolver's configuration and its transport: which
 * nameservers (dns_nameservers, else /etc/resolv.conf), one libldns
 * resolver per server so each may have its own port, and dns_send(), which
 * asks them in turn for dns_retries rounds, each try bounded by
 * dns_timeout, with TCP fallback on truncation and EDNS0 (DO bit when
 * dns_dnssec_ok).  A server's SERVFAIL/REFUSED makes us ask the next one;
 * only NOERROR and NXDOMAIN answers leave this file as packets.
 */
#include "config.h"
#include "dns_int.h"
#include "log.h"
#include "mem.h"
#include "str.h"

#include <arpa/inet.h>

#define DNS_DEFAULT_TIMEOUT 5
#define DNS_DEFAULT_RETRIES 2
#define DNS_EDNS_UDP_SIZE 1232 /* avoids IP fragmentation (DNS flag day 2020) */

struct dns_server {
    ldns_resolver *res;
    char *label; /* "addr:port" for messages */
};

static struct {
    bool configured;
    struct dns_server *servers;
    size_t n;
    unsigned retries;
} dns;

static time_t (*dns_clock)(void);

time_t dns_now(void)
{
    return dns_clock ? dns_clock() : time(NULL);
}

void dns_set_clock(time_t (*now)(void))
{
    dns_clock = now;
}

enum dns_status dns_error(enum dns_status st, char **error_r, const char *fmt, ...)
{
    va_list ap;

    if (error_r != NULL) {
        str_t *msg = str_new(64);
        va_start(ap, fmt);
        str_vappendf(msg, fmt, ap);
        va_end(ap);
        *error_r = str_steal(&msg);
    }
    return st;
}

const char *dns_status_name(enum dns_status st)
{
    switch (st) {
    case DNS_OK:
        return "OK";
    case DNS_NOTFOUND:
        return "NOTFOUND";
    case DNS_NULLMX:
        return "NULLMX";
    case DNS_TEMPFAIL:
        return "TEMPFAIL";
    case DNS_INVALID:
        return "INVALID";
    }
    return "UNKNOWN";
}

int dns_parse_server(const char *entry, char **addr_r, uint16_t *port_r, char **error_r)
{
    const char *colon = strrchr(entry, ':');
    char *addr;
    unsigned long port = 53;
    unsigned char buf[16];

    if (entry[0] == '[') {
        const char *close = strchr(entry, ']');
        if (close == NULL || (close[1] != '\0' && close[1] != ':'))
            return error_set(error_r, "dns_nameservers: malformed entry \"%s\"", entry);
        addr = xstrndup(entry + 1, (size_t)(close - entry - 1));
        colon = close[1] == ':' ? close + 1 : NULL;
    } else if (colon != NULL && strchr(entry, ':') == colon) {
        addr = xstrndup(entry, (size_t)(colon - entry)); /* IPv4:port */
    } else {
        addr = xstrdup(entry); /* IPv4, or IPv6 without a port */
        colon = NULL;
    }
    if (colon != NULL) {
        char *end;
        errno = 0;
        port = strtoul(colon + 1, &end, 10);
        if (colon[1] == '\0' || *end != '\0' || errno != 0 || port == 0 || port > 65535) {
            free(addr);
            return error_set(error_r, "dns_nameservers: bad port in \"%s\"", entry);
        }
    }
    if (inet_pton(AF_INET, addr, buf) != 1 && inet_pton(AF_INET6, addr, buf) != 1) {
        free(addr);
        return error_set(error_r, "dns_nameservers: \"%s\" is not an IP address", entry);
    }
    *addr_r = addr;
    *port_r = (uint16_t)port;
    return 0;
}

static void servers_free(void)
{
    for (size_t i = 0; i < dns.n; i++) {
        ldns_resolver_deep_free(dns.servers[i].res);
        free(dns.servers[i].label);
    }
    xfree(dns.servers);
    dns.n = 0;
}

static int server_add(const char *addr, uint16_t port, const struct dns_settings *set,
                      char **error_r)
{
    unsigned char buf[16];
    bool v6 = inet_pton(AF_INET6, addr, buf) == 1;
    ldns_rdf *ns = ldns_rdf_new_frm_str(v6 ? LDNS_RDF_TYPE_AAAA : LDNS_RDF_TYPE_A, addr);
    ldns_resolver *res = ldns_resolver_new();

    if (ns == NULL || ldns_resolver_push_nameserver(res, ns) != LDNS_STATUS_OK) {
        if (ns != NULL)
            ldns_rdf_deep_free(ns);
        ldns_resolver_deep_free(res);
        return error_set(error_r, "dns_nameservers: cannot use address %s", addr);
    }
    ldns_rdf_deep_free(ns);
    ldns_resolver_set_port(res, port);
    ldns_resolver_set_recursive(res, true);
    ldns_resolver_set_retry(res, 1);
    ldns_resolver_set_retrans(res, 0);
    ldns_resolver_set_timeout(
        res, (struct timeval){.tv_sec = set->timeout ? set->timeout : DNS_DEFAULT_TIMEOUT});
    ldns_resolver_set_fallback(res, true);
    ldns_resolver_set_igntc(res, false);
    ldns_resolver_set_edns_udp_size(res, DNS_EDNS_UDP_SIZE);
    ldns_resolver_set_dnssec(res, set->dnssec_ok);
    ldns_resolver_set_defnames(res, false);
    ldns_resolver_set_dnsrch(res, false);
    ldns_resolver_set_random(res, false);
    ldns_resolver_set_ip6(res, LDNS_RESOLV_INETANY);

    dns.servers = xreallocarray(dns.servers, dns.n + 1, sizeof(*dns.servers));
    dns.servers[dns.n].res = res;
    dns.servers[dns.n].label =
        v6 ? xasprintf("[%s]:%u", addr, port) : xasprintf("%s:%u", addr, port);
    dns.n++;
    return 0;
}

/* The nameserver lines of /etc/resolv.conf, as libldns reads them. */
static int servers_from_resolv_conf(const struct dns_settings *set, char **error_r)
{
    ldns_resolver *rc = NULL;

    if (ldns_resolver_new_frm_file(&rc, NULL) != LDNS_STATUS_OK || rc == NULL)
        return error_set(error_r, "cannot read nameservers from /etc/resolv.conf");
    ldns_rdf **ns = ldns_resolver_nameservers(rc);
    for (size_t i = 0; i < ldns_resolver_nameserver_count(rc); i++) {
        char *addr = ldns_rdf2str(ns[i]);
        char *err = NULL;
        if (addr != NULL && server_add(addr, ldns_resolver_port(rc), set, &err) < 0) {
            msg_warn("/etc/resolv.conf: %s", err);
            free(err);
        }
        free(addr);
    }
    ldns_resolver_deep_free(rc);
    if (dns.n == 0)
        return error_set(error_r, "no usable nameserver in /etc/resolv.conf");
    return 0;
}

int dns_configure(const struct dns_settings *set, char **error_r)
{
    dns_reset();
    dns.retries = set->retries ? set->retries : DNS_DEFAULT_RETRIES;
    for (size_t i = 0; set->nameservers != NULL && set->nameservers[i] != NULL; i++) {
        char *addr;
        uint16_t port;
        if (dns_parse_server(set->nameservers[i], &addr, &port, error_r) < 0) {
            servers_free();
            return -1;
        }
        int ret = server_add(addr, port, set, error_r);
        free(addr);
        if (ret < 0) {
            servers_free();
            return -1;
        }
    }
    if (dns.n == 0 && servers_from_resolv_conf(set, error_r) < 0)
        return -1;
    dns_cache_set_limit(set->cache_limit);
    dns.configured = true;
    return 0;
}

int dns_configure_from_params(char **error_r)
{
    char **ns = cfg_list("dns_nameservers");
    struct dns_settings set = {
        .nameservers = (const char *const *)ns,
        .timeout = (unsigned)cfg_time("dns_timeout"),
        .retries = (unsigned)cfg_int("dns_retries"),
        .cache_limit = (size_t)cfg_int("dns_cache_limit"),
        .dnssec_ok = cfg_bool("dns_dnssec_ok"),
    };
    int ret = dns_configure(&set, error_r);
    cfg_list_free(&ns);
    return ret;
}

int dns_ensure_configured(char **error_r)
{
    if (dns.configured)
        return 0;
    return dns_configure_from_params(error_r);
}

void dns_reset(void)
{
    servers_free();
    dns_cache_set_limit(0);
    dns.configured = false;
}

/* One try at one server: 1 with a final answer, 0 to go on, with *why set. */
static int send_one(struct dns_server *srv, const ldns_rdf *qname, uint16_t qtype,
                    unsigned char **wire_r, size_t *len_r, str_t *why)
{
    ldns_pkt *pkt = NULL;
    ldns_status ls;

    ldns_resolver_set_nameserver_rtt(srv->res, 0, LDNS_RESOLV_RTT_MIN);
    ls = ldns_resolver_send(&pkt, srv->res, qname, qtype, LDNS_RR_CLASS_IN, LDNS_RD);
    if (ls != LDNS_STATUS_OK || pkt == NULL) {
        str_setf(why, "%s: %s", srv->label, ldns_get_errorstr_by_id(ls));
        if (pkt != NULL)
            ldns_pkt_free(pkt);
        return 0;
    }
    ldns_pkt_rcode rcode = ldns_pkt_get_rcode(pkt);
    if ((rcode != LDNS_RCODE_NOERROR && rcode != LDNS_RCODE_NXDOMAIN) || ldns_pkt_tc(pkt)) {
        char *rc = ldns_pkt_rcode2str(rcode);
        str_setf(why, "%s answered %s%s", srv->label, rc ? rc : "?",
                 ldns_pkt_tc(pkt) ? " (truncated)" : "");
        free(rc);
        ldns_pkt_free(pkt);
        return 0;
    }
    uint8_t *wire = NULL;
    size_t len = 0;
    ls = ldns_pkt2wire(&wire, pkt, &len);
    ldns_pkt_free(pkt);
    if (ls != LDNS_STATUS_OK || len > DNS_WIRE_MAX) {
        free(wire);
        str_setf(why, "%s: answer cannot be encoded", srv->label);
        return 0;
    }
    *wire_r = wire;
    *len_r = len;
    return 1;
}

enum dns_status dns_send(const char *fqdn, uint16_t qtype, unsigned char **wire_r, size_t *len_r,
                         char **error_r)
{
    ldns_rdf *qname = NULL;
    str_t *why;
    enum dns_status st = DNS_TEMPFAIL;

    *wire_r = NULL;
    *len_r = 0;
#ifdef TERN_FUZZING
    /* Fuzzers feed answers through the cache; a miss must not touch the network. */
    return dns_error(DNS_TEMPFAIL, error_r, "no network while fuzzing");
#endif
    if (dns_ensure_configured(error_r) < 0)
        return DNS_TEMPFAIL;
    if (ldns_str2rdf_dname(&qname, fqdn) != LDNS_STATUS_OK)
        return dns_error(DNS_INVALID, error_r, "%.*s: invalid domain name", DNS_SHOW(fqdn));
    why = str_new(64);
    for (unsigned round = 0; round < dns.retries && st != DNS_OK; round++)
        for (size_t i = 0; i < dns.n && st != DNS_OK; i++)
            if (send_one(&dns.servers[i], qname, qtype, wire_r, len_r, why) == 1)
                st = DNS_OK;
    if (st != DNS_OK)
        error_set(error_r, "%.*s: no answer from the nameservers (last: %s)", DNS_SHOW(fqdn),
                  str_c(why));
    ldns_rdf_deep_free(qname);
    str_free(&why);
    return st;
}
