/*
 * fuzz_dns_answer.c - libFuzzer target for the resolver's answer handling
 * (lib/dns_parse.c, dns_lookup.c): the input is an answer packet in wire
 * format.  It is classified as the answer to x.test for several types,
 * and then served from the cache to every typed lookup (MX, A/AAAA, TXT,
 * PTR, TLSA) and to dns_query_raw, so the record extraction sees it too.
 * Invariants: a result is one of the five codes; a list comes back only
 * with DNS_OK, never empty; MX lists are sorted by preference; every
 * failure has a message.  Cache misses (CNAME chases) never reach the
 * network in a TERN_FUZZING build.
 */
#include "sys.h"
#include "dns.h"
#include "dns_int.h"
#include "mem.h"

static const uint16_t types[] = {DNS_T_MX,  DNS_T_A,    DNS_T_AAAA, DNS_T_TXT,
                                 DNS_T_PTR, DNS_T_TLSA, DNS_T_CNAME};

static void check(enum dns_status st, size_t n, char *err)
{
    if (st > DNS_INVALID)
        __builtin_trap();
    if ((st == DNS_OK) != (n > 0))
        __builtin_trap();
    if (st != DNS_OK && err == NULL)
        __builtin_trap();
    free(err);
}

static void lookups(void)
{
    unsigned flags;
    size_t n;
    char *err = NULL;

    struct dns_mx *mx;
    enum dns_status st = dns_lookup_mx("x.test", &mx, &n, &flags, &err);
    for (size_t i = 1; i < n; i++)
        if (mx[i - 1].pref > mx[i].pref)
            __builtin_trap();
    dns_mx_free(&mx, n);
    check(st, n, err);
    err = NULL;

    struct dns_addr *a;
    st = dns_lookup_addr("x.test", DNS_INET4 | DNS_INET6, &a, &n, &flags, &err);
    dns_addr_free(&a, n);
    check(st, n, err);
    err = NULL;

    struct dns_txt *t;
    st = dns_lookup_txt("x.test", &t, &n, &flags, &err);
    dns_txt_free(&t, n);
    check(st, n, err);
    err = NULL;

    struct dns_name *p;
    st = dns_lookup_ptr("192.0.2.1", &p, &n, &flags, &err);
    dns_name_free(&p, n);
    check(st, n, err);
    err = NULL;

    struct dns_tlsa *tl;
    st = dns_lookup_tlsa(25, "tcp", "x.test", &tl, &n, &flags, &err);
    dns_tlsa_free(&tl, n);
    check(st, n, err);
    err = NULL;

    unsigned char *wire;
    size_t len;
    st = dns_query_raw("x.test", DNS_T_TXT, &wire, &len, &flags, &err);
    if ((wire != NULL) != (st == DNS_OK || st == DNS_NOTFOUND))
        __builtin_trap();
    free(wire);
    free(err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool configured;
    if (!configured) {
        const char *const ns[] = {"127.0.0.1:1", NULL};
        struct dns_settings set = {
            .nameservers = ns, .timeout = 1, .retries = 1, .cache_limit = 64};
        if (dns_configure(&set, NULL) < 0)
            __builtin_trap();
        configured = true;
    }
    for (size_t i = 0; i < N_ELEMENTS(types); i++) {
        uint32_t ttl;
        unsigned flags;
        char *err = NULL;
        enum dns_status st = dns_classify_wire(data, size, "x.test", types[i], &ttl, &flags, &err);
        check(st, st == DNS_OK ? 1 : 0, err);
        /* Whatever it is, the lookups below get it from the cache. */
        dns_cache_put("x.test.", types[i], data, size, 60);
        dns_cache_put("_25._tcp.x.test.", types[i], data, size, 60);
        dns_cache_put("1.2.0.192.in-addr.arpa.", types[i], data, size, 60);
    }
    struct dns_mx *mx;
    size_t n;
    unsigned flags;
    char *err = NULL;
    enum dns_status st = dns_mx_from_wire(data, size, "x.test", &mx, &n, &flags, &err);
    dns_mx_free(&mx, n);
    free(err);
    (void)st;
    lookups();
    dns_cache_flush();
    return 0;
}
