/*
 * test_dns.c - unit tests for lib/dns*.c without a DNS server: name and
 * nameserver syntax, MX sorting with the random tie-break, classification
 * of hand-built answer packets (NOERROR, NODATA, NXDOMAIN, SERVFAIL,
 * REFUSED, truncated, mismatched, malformed, CNAME chains and loops, AD),
 * and the cache's TTL expiry, negative caching and bound with an injected
 * clock.  Lookups that miss the cache go to 127.0.0.1:1, where nothing
 * answers, so they fail temporarily and never reach a real resolver.
 */
#include "sys.h"
#include "dns.h"
#include "dns_int.h"
#include "mem.h"

#include <setjmp.h>
#include <cmocka.h>

/* -- packets built with libldns ------------------------------------- */

struct pkt_spec {
    const char *qname;
    uint16_t qtype;
    ldns_pkt_rcode rcode;
    bool tc, ad, no_qr;
    const char *answer[12];
    const char *authority[4];
};

static void push_rrs(ldns_pkt *pkt, ldns_pkt_section sec, const char *const *rrs)
{
    for (size_t i = 0; rrs[i] != NULL; i++) {
        ldns_rr *rr = NULL;
        assert_int_equal(ldns_rr_new_frm_str(&rr, rrs[i], 300, NULL, NULL), LDNS_STATUS_OK);
        ldns_pkt_push_rr(pkt, sec, rr);
    }
}

static unsigned char *build(const struct pkt_spec *s, size_t *len_r)
{
    ldns_pkt *pkt = NULL;
    uint8_t *wire = NULL;

    assert_int_equal(
        ldns_pkt_query_new_frm_str(&pkt, s->qname, s->qtype, LDNS_RR_CLASS_IN, LDNS_RD),
        LDNS_STATUS_OK);
    ldns_pkt_set_qr(pkt, !s->no_qr);
    ldns_pkt_set_rcode(pkt, (uint8_t)s->rcode);
    ldns_pkt_set_tc(pkt, s->tc);
    ldns_pkt_set_ad(pkt, s->ad);
    push_rrs(pkt, LDNS_SECTION_ANSWER, s->answer);
    push_rrs(pkt, LDNS_SECTION_AUTHORITY, s->authority);
    assert_int_equal(ldns_pkt2wire(&wire, pkt, len_r), LDNS_STATUS_OK);
    ldns_pkt_free(pkt);
    return wire;
}

#define Q(n, t, r) .qname = (n), .qtype = (t), .rcode = (r)
#define SOA(min)                                                                                   \
    "example.test. 600 IN SOA ns.example.test. host.example.test. 1 3600 600 86400 " #min

/* -- names ---------------------------------------------------------- */

static void test_name_valid(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        bool ok;
    } cases[] = {
        {"example.test", true},
        {"example.test.", true},
        {"a", true},
        {"_25._tcp.mx.example.test", true},
        {"xn--bcher-kva.example", true},
        {"a-b.c", true},
        {"", false},
        {".", false},
        {"..", false},
        {"a..b", false},
        {".a", false},
        {"-a.b", false},
        {"a-.b", false},
        {"a b.c", false},
        {"a\nb.c", false},
        {"ex\xc3\xa4mple.test", false},
        {"a.b..", false},
    };
    for (size_t i = 0; i < N_ELEMENTS(cases); i++)
        assert_int_equal(dns_name_valid(cases[i].name), cases[i].ok);
    assert_false(dns_name_valid(NULL));

    char label[80], name[300];
    memset(label, 'a', 63);
    label[63] = '\0';
    snprintf(name, sizeof(name), "%s.test", label);
    assert_true(dns_name_valid(name));
    memset(label, 'a', 64);
    label[64] = '\0';
    snprintf(name, sizeof(name), "%s.test", label);
    assert_false(dns_name_valid(name));
    /* 253 bytes is the longest name; 254 is too long. */
    memset(name, 'a', 253);
    for (size_t i = 63; i < 253; i += 64)
        name[i] = '.';
    name[253] = '\0';
    assert_true(dns_name_valid(name));
    name[253] = 'a';
    name[254] = '\0';
    assert_false(dns_name_valid(name));
}

static void test_parse_server(void **state)
{
    (void)state;
    static const struct {
        const char *entry;
        const char *addr;
        uint16_t port;
    } good[] = {
        {"127.0.0.1", "127.0.0.1", 53},
        {"127.0.0.1:5353", "127.0.0.1", 5353},
        {"::1", "::1", 53},
        {"[::1]", "::1", 53},
        {"[2001:db8::1]:10053", "2001:db8::1", 10053},
    };
    static const char *const bad[] = {
        "",     "localhost", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536",  "127.0.0.1:53x",
        "[::1", "[::1]x",    "[::1]:",     "1.2.3.4.5",   "[127.0.0.1]:99999"};
    for (size_t i = 0; i < N_ELEMENTS(good); i++) {
        char *addr = NULL, *err = NULL;
        uint16_t port = 0;
        assert_int_equal(dns_parse_server(good[i].entry, &addr, &port, &err), 0);
        assert_string_equal(addr, good[i].addr);
        assert_int_equal(port, good[i].port);
        free(addr);
    }
    for (size_t i = 0; i < N_ELEMENTS(bad); i++) {
        char *addr = NULL, *err = NULL;
        uint16_t port = 0;
        assert_int_equal(dns_parse_server(bad[i], &addr, &port, &err), -1);
        assert_non_null(err);
        assert_null(addr);
        free(err);
    }
    /* A bad entry makes the whole configuration fail, loudly. */
    const char *const ns[] = {"127.0.0.1:1", "bogus", NULL};
    struct dns_settings set = {.nameservers = ns, .timeout = 1, .retries = 1};
    char *err = NULL;
    assert_int_equal(dns_configure(&set, &err), -1);
    assert_non_null(strstr(err, "bogus"));
    free(err);
    dns_reset();
}

/* -- MX sorting ----------------------------------------------------- */

static unsigned shuffle_first(unsigned bound)
{
    (void)bound;
    return 0;
}

static void test_mx_sort(void **state)
{
    (void)state;
    static const char *const hosts[] = {"d", "c", "b", "a", "e"};
    static const unsigned prefs[] = {20, 10, 10, 10, 5};
    unsigned seen_first[3] = {0};

    for (int round = 0; round < 300; round++) {
        struct dns_mx mx[5];
        for (size_t i = 0; i < 5; i++)
            mx[i] = (struct dns_mx){.host = (char *)hosts[i], .pref = prefs[i]};
        dns_mx_sort(mx, 5);
        assert_string_equal(mx[0].host, "e");
        assert_string_equal(mx[4].host, "d");
        for (size_t i = 1; i < 4; i++)
            assert_int_equal(mx[i].pref, 10);
        assert_true(strcmp(mx[1].host, mx[2].host) != 0 && strcmp(mx[2].host, mx[3].host) != 0 &&
                    strcmp(mx[1].host, mx[3].host) != 0);
        seen_first[mx[1].host[0] - 'a']++;
    }
    /* Each equal-preference host comes first sometimes (300 rounds). */
    for (size_t i = 0; i < 3; i++)
        assert_true(seen_first[i] > 30);

    /* With a fixed random source the result is reproducible. */
    dns_set_shuffle(shuffle_first);
    struct dns_mx a[5], b[5];
    for (size_t i = 0; i < 5; i++)
        a[i] = b[i] = (struct dns_mx){.host = (char *)hosts[i], .pref = prefs[i]};
    dns_mx_sort(a, 5);
    dns_mx_sort(b, 5);
    for (size_t i = 0; i < 5; i++)
        assert_string_equal(a[i].host, b[i].host);
    dns_set_shuffle(NULL);
    dns_mx_sort(NULL, 0);
}

/* -- answer classification ------------------------------------------ */

static enum dns_status classify(const struct pkt_spec *s, uint32_t *ttl, unsigned *flags)
{
    size_t len;
    unsigned char *wire = build(s, &len);
    char *err = NULL;
    enum dns_status st = dns_classify_wire(wire, len, s->qname, s->qtype, ttl, flags, &err);
    if (st != DNS_OK)
        assert_non_null(err);
    free(err);
    free(wire);
    return st;
}

static void test_classify(void **state)
{
    (void)state;
    static const struct {
        struct pkt_spec pkt;
        enum dns_status st;
        uint32_t ttl;
        unsigned flags;
    } cases[] = {
        {{Q("example.test.", LDNS_RR_TYPE_MX, LDNS_RCODE_NOERROR),
          .answer = {"example.test. 300 IN MX 10 a.example.test.",
                     "example.test. 200 IN MX 20 b.example.test."}},
         DNS_OK,
         200,
         0},
        /* NXDOMAIN: negative TTL = min(SOA TTL 600, minimum 60). */
        {{Q("nx.example.test.", LDNS_RR_TYPE_A, LDNS_RCODE_NXDOMAIN), .authority = {SOA(60)}},
         DNS_NOTFOUND,
         60,
         DNS_F_NXDOMAIN},
        /* NODATA: NOERROR, no records; SOA TTL smaller than minimum. */
        {{Q("example.test.", LDNS_RR_TYPE_TXT, LDNS_RCODE_NOERROR), .authority = {SOA(3600)}},
         DNS_NOTFOUND,
         600,
         0},
        /* A negative answer without a SOA is not cached. */
        {{Q("example.test.", LDNS_RR_TYPE_TXT, LDNS_RCODE_NOERROR)}, DNS_NOTFOUND, 0, 0},
        {{Q("example.test.", LDNS_RR_TYPE_MX, LDNS_RCODE_SERVFAIL)}, DNS_TEMPFAIL, 0, 0},
        {{Q("example.test.", LDNS_RR_TYPE_MX, LDNS_RCODE_REFUSED)}, DNS_TEMPFAIL, 0, 0},
        {{Q("example.test.", LDNS_RR_TYPE_MX, LDNS_RCODE_FORMERR)}, DNS_TEMPFAIL, 0, 0},
        {{Q("example.test.", LDNS_RR_TYPE_MX, LDNS_RCODE_NOERROR), .tc = true,
          .answer = {"example.test. 300 IN MX 10 a.example.test."}},
         DNS_TEMPFAIL,
         0,
         0},
        /* Not a response. */
        {{Q("example.test.", LDNS_RR_TYPE_MX, LDNS_RCODE_NOERROR), .no_qr = true},
         DNS_INVALID,
         0,
         0},
        /* AD reported. */
        {{Q("example.test.", LDNS_RR_TYPE_A, LDNS_RCODE_NOERROR), .ad = true,
          .answer = {"example.test. 300 IN A 192.0.2.1"}},
         DNS_OK,
         300,
         DNS_F_AD},
        /* Records for another name (or type) are not an answer. */
        {{Q("example.test.", LDNS_RR_TYPE_A, LDNS_RCODE_NOERROR),
          .answer = {"other.test. 300 IN A 192.0.2.1", "example.test. 300 IN AAAA ::1"}},
         DNS_NOTFOUND,
         0,
         0},
        /* Owner names compare case-insensitively. */
        {{Q("example.test.", LDNS_RR_TYPE_A, LDNS_RCODE_NOERROR),
          .answer = {"EXAMPLE.Test. 300 IN A 192.0.2.1"}},
         DNS_OK,
         300,
         0},
        /* CNAME chain within the answer; TTL is the chain's minimum. */
        {{Q("www.example.test.", LDNS_RR_TYPE_A, LDNS_RCODE_NOERROR),
          .answer = {"www.example.test. 100 IN CNAME web.example.test.",
                     "web.example.test. 300 IN A 192.0.2.1"}},
         DNS_OK,
         100,
         DNS_F_CNAME},
        /* CNAME to a name the packet does not answer: the lookup asks again. */
        {{Q("www.example.test.", LDNS_RR_TYPE_A, LDNS_RCODE_NOERROR),
          .answer = {"www.example.test. 100 IN CNAME elsewhere.test."}},
         DNS_OK,
         100,
         DNS_F_CNAME},
        /* ... unless the server says NODATA with a SOA. */
        {{Q("www.example.test.", LDNS_RR_TYPE_A, LDNS_RCODE_NOERROR),
          .answer = {"www.example.test. 100 IN CNAME web.example.test."}, .authority = {SOA(60)}},
         DNS_NOTFOUND,
         60,
         DNS_F_CNAME},
        /* NXDOMAIN at the end of a chain. */
        {{Q("www.example.test.", LDNS_RR_TYPE_A, LDNS_RCODE_NXDOMAIN),
          .answer = {"www.example.test. 100 IN CNAME gone.example.test."}, .authority = {SOA(60)}},
         DNS_NOTFOUND,
         60,
         DNS_F_NXDOMAIN},
        {{Q("a.example.test.", LDNS_RR_TYPE_A, LDNS_RCODE_NOERROR),
          .answer = {"a.example.test. 100 IN CNAME b.example.test.",
                     "b.example.test. 100 IN CNAME a.example.test."}},
         DNS_INVALID,
         0,
         0},
        {{Q("a.example.test.", LDNS_RR_TYPE_A, LDNS_RCODE_NOERROR),
          .answer = {"a.example.test. 100 IN CNAME a.example.test."}},
         DNS_INVALID,
         0,
         0},
        /* Chain of 9 CNAMEs: longer than DNS_CNAME_MAX. */
        {{Q("c0.test.", LDNS_RR_TYPE_A, LDNS_RCODE_NOERROR),
          .answer = {"c0.test. 1 IN CNAME c1.test.", "c1.test. 1 IN CNAME c2.test.",
                     "c2.test. 1 IN CNAME c3.test.", "c3.test. 1 IN CNAME c4.test.",
                     "c4.test. 1 IN CNAME c5.test.", "c5.test. 1 IN CNAME c6.test.",
                     "c6.test. 1 IN CNAME c7.test.", "c7.test. 1 IN CNAME c8.test.",
                     "c8.test. 1 IN CNAME c9.test.", "c9.test. 1 IN A 192.0.2.9"}},
         DNS_INVALID,
         0,
         0},
        /* Chain of 8: allowed. */
        {{Q("c1.test.", LDNS_RR_TYPE_A, LDNS_RCODE_NOERROR),
          .answer = {"c1.test. 9 IN CNAME c2.test.", "c2.test. 9 IN CNAME c3.test.",
                     "c3.test. 9 IN CNAME c4.test.", "c4.test. 9 IN CNAME c5.test.",
                     "c5.test. 9 IN CNAME c6.test.", "c6.test. 9 IN CNAME c7.test.",
                     "c7.test. 9 IN CNAME c8.test.", "c8.test. 9 IN CNAME c9.test.",
                     "c9.test. 9 IN A 192.0.2.9"}},
         DNS_OK,
         9,
         DNS_F_CNAME},
        /* A query for CNAME itself does not follow it. */
        {{Q("www.example.test.", LDNS_RR_TYPE_CNAME, LDNS_RCODE_NOERROR),
          .answer = {"www.example.test. 100 IN CNAME web.example.test."}},
         DNS_OK,
         100,
         0},
    };
    for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
        uint32_t ttl = 12345;
        unsigned flags = 0xffff;
        enum dns_status st = classify(&cases[i].pkt, &ttl, &flags);
        if (st != cases[i].st ||
            (st <= DNS_NOTFOUND && (ttl != cases[i].ttl || flags != cases[i].flags)))
            fail_msg("case %zu (%s): got %s ttl %u flags %#x", i, cases[i].pkt.qname,
                     dns_status_name(st), (unsigned)ttl, flags);
    }
}

static void test_classify_negative_ttl_capped(void **state)
{
    (void)state;
    struct pkt_spec s = {Q("nx.example.test.", LDNS_RR_TYPE_A, LDNS_RCODE_NXDOMAIN),
                         .authority = {"example.test. 999999 IN SOA ns.example.test. "
                                       "h.example.test. 1 2 3 4 999999"}};
    uint32_t ttl;
    unsigned flags;
    assert_int_equal(classify(&s, &ttl, &flags), DNS_NOTFOUND);
    assert_int_equal(ttl, DNS_CACHE_NEG_TTL_MAX);
}

static void test_classify_question_mismatch(void **state)
{
    (void)state;
    struct pkt_spec s = {Q("example.test.", LDNS_RR_TYPE_MX, LDNS_RCODE_NOERROR),
                         .answer = {"example.test. 300 IN MX 10 a.example.test."}};
    size_t len;
    unsigned char *wire = build(&s, &len);
    uint32_t ttl;
    unsigned flags;
    char *err = NULL;

    assert_int_equal(
        dns_classify_wire(wire, len, "other.test", LDNS_RR_TYPE_MX, &ttl, &flags, &err),
        DNS_INVALID);
    assert_non_null(strstr(err, "does not match"));
    xfree(err);
    assert_int_equal(
        dns_classify_wire(wire, len, "example.test", LDNS_RR_TYPE_A, &ttl, &flags, &err),
        DNS_INVALID);
    xfree(err);
    assert_int_equal(
        dns_classify_wire(wire, len, "EXAMPLE.TEST.", LDNS_RR_TYPE_MX, &ttl, &flags, &err), DNS_OK);
    /* Every truncation of a valid packet is malformed, never a crash. */
    for (size_t cut = 0; cut < len; cut++) {
        enum dns_status st =
            dns_classify_wire(wire, cut, "example.test", LDNS_RR_TYPE_MX, &ttl, &flags, &err);
        assert_true(st == DNS_INVALID || st == DNS_NOTFOUND);
        xfree(err);
    }
    assert_int_equal(dns_classify_wire(wire, len, "bad..name", LDNS_RR_TYPE_MX, &ttl, &flags, &err),
                     DNS_INVALID);
    xfree(err);
    free(wire);
    static const unsigned char junk[] = {0xff, 0xff, 0xff};
    assert_int_equal(dns_classify_wire(junk, sizeof(junk), "x.test", 1, &ttl, &flags, &err),
                     DNS_INVALID);
    xfree(err);
}

static enum dns_status mx_of(const struct pkt_spec *s, struct dns_mx **mx, size_t *n)
{
    size_t len;
    unsigned char *wire = build(s, &len);
    unsigned flags;
    char *err = NULL;
    enum dns_status st = dns_mx_from_wire(wire, len, s->qname, mx, n, &flags, &err);
    free(err);
    free(wire);
    return st;
}

static void test_mx_from_wire(void **state)
{
    (void)state;
    struct dns_mx *mx;
    size_t n;
    struct pkt_spec s = {Q("example.test.", LDNS_RR_TYPE_MX, LDNS_RCODE_NOERROR),
                         .answer = {"example.test. 300 IN MX 20 B.example.test.",
                                    "example.test. 100 IN MX 10 a.example.test."}};

    assert_int_equal(mx_of(&s, &mx, &n), DNS_OK);
    assert_int_equal(n, 2);
    assert_string_equal(mx[0].host, "a.example.test");
    assert_int_equal(mx[0].pref, 10);
    assert_string_equal(mx[1].host, "b.example.test");
    assert_int_equal(mx[1].ttl, 100);
    dns_mx_free(&mx, n);
    assert_null(mx);

    struct pkt_spec null_mx = {Q("example.test.", LDNS_RR_TYPE_MX, LDNS_RCODE_NOERROR),
                               .answer = {"example.test. 300 IN MX 0 ."}};
    assert_int_equal(mx_of(&null_mx, &mx, &n), DNS_NULLMX);
    assert_null(mx);
    assert_int_equal(n, 0);

    /* "MX 0 ." beside a real MX is not a null MX: the dot is skipped. */
    struct pkt_spec mixed = {
        Q("example.test.", LDNS_RR_TYPE_MX, LDNS_RCODE_NOERROR),
        .answer = {"example.test. 300 IN MX 0 .", "example.test. 300 IN MX 10 a.example.test."}};
    assert_int_equal(mx_of(&mixed, &mx, &n), DNS_OK);
    assert_int_equal(n, 1);
    assert_string_equal(mx[0].host, "a.example.test");
    dns_mx_free(&mx, n);

    /* A null MX with a non-zero preference is only a bad MX host. */
    struct pkt_spec dot10 = {Q("example.test.", LDNS_RR_TYPE_MX, LDNS_RCODE_NOERROR),
                             .answer = {"example.test. 300 IN MX 10 ."}};
    assert_int_equal(mx_of(&dot10, &mx, &n), DNS_INVALID);

    struct pkt_spec nx = {Q("example.test.", LDNS_RR_TYPE_MX, LDNS_RCODE_NXDOMAIN)};
    assert_int_equal(mx_of(&nx, &mx, &n), DNS_NOTFOUND);
    struct pkt_spec sf = {Q("example.test.", LDNS_RR_TYPE_MX, LDNS_RCODE_SERVFAIL)};
    assert_int_equal(mx_of(&sf, &mx, &n), DNS_TEMPFAIL);
}

/* -- cache with an injected clock ----------------------------------- */

static time_t fake_now;
static time_t fake_clock(void)
{
    return fake_now;
}

static void configure_unreachable(size_t cache_limit)
{
    const char *const ns[] = {"127.0.0.1:1", NULL};
    struct dns_settings set = {
        .nameservers = ns, .timeout = 1, .retries = 1, .cache_limit = cache_limit};
    char *err = NULL;
    assert_int_equal(dns_configure(&set, &err), 0);
}

static void cache_answer(const struct pkt_spec *s, uint32_t ttl)
{
    size_t len;
    unsigned char *wire = build(s, &len);
    char *fqdn = dns_fqdn(s->qname);
    dns_cache_put(fqdn, s->qtype, wire, len, ttl);
    free(fqdn);
    free(wire);
}

static void test_cache_expiry(void **state)
{
    (void)state;
    struct pkt_spec s = {Q("example.test.", LDNS_RR_TYPE_MX, LDNS_RCODE_NOERROR),
                         .answer = {"example.test. 300 IN MX 10 a.example.test."}};
    struct dns_mx *mx;
    size_t n;
    unsigned flags;
    char *err = NULL;

    dns_set_clock(fake_clock);
    fake_now = 1000000;
    configure_unreachable(10);
    cache_answer(&s, 300);

    fake_now += 299;
    assert_int_equal(dns_lookup_mx("Example.Test", &mx, &n, &flags, &err), DNS_OK);
    assert_true(flags & DNS_F_CACHED);
    assert_int_equal(n, 1);
    assert_int_equal(mx[0].ttl, 1); /* what is left of the TTL */
    dns_mx_free(&mx, n);

    fake_now += 1; /* expired: goes to the (unreachable) server */
    assert_int_equal(dns_lookup_mx("example.test", &mx, &n, &flags, &err), DNS_TEMPFAIL);
    assert_null(mx);
    assert_non_null(err);
    xfree(err);
    assert_int_equal(dns_cache_count(), 0);
    dns_reset();
    dns_set_clock(NULL);
}

static void test_cache_negative(void **state)
{
    (void)state;
    struct pkt_spec s = {Q("nx.example.test.", LDNS_RR_TYPE_A, LDNS_RCODE_NXDOMAIN),
                         .authority = {SOA(60)}};
    struct dns_addr *a;
    size_t n;
    unsigned flags;
    char *err = NULL;

    dns_set_clock(fake_clock);
    fake_now = 2000000;
    configure_unreachable(10);
    cache_answer(&s, 60);
    assert_int_equal(dns_lookup_addr("nx.example.test", DNS_INET4, &a, &n, &flags, &err),
                     DNS_NOTFOUND);
    assert_true(flags & DNS_F_NXDOMAIN);
    assert_true(flags & DNS_F_CACHED);
    assert_null(a);
    xfree(err);
    fake_now += 60;
    assert_int_equal(dns_lookup_addr("nx.example.test", DNS_INET4, &a, &n, &flags, &err),
                     DNS_TEMPFAIL);
    xfree(err);
    dns_reset();
    dns_set_clock(NULL);
}

static void test_cache_bounded(void **state)
{
    (void)state;
    static const unsigned char pkt[] = {1, 2, 3};
    unsigned char *wire;
    size_t len;
    uint32_t left;

    dns_set_clock(fake_clock);
    fake_now = 3000000;
    configure_unreachable(3);
    dns_cache_put("a.test.", 1, pkt, sizeof(pkt), 100);
    dns_cache_put("b.test.", 1, pkt, sizeof(pkt), 10);
    dns_cache_put("c.test.", 1, pkt, sizeof(pkt), 50);
    dns_cache_put("c.test.", 1, pkt, sizeof(pkt), 60); /* replaces, no growth */
    assert_int_equal(dns_cache_count(), 3);
    dns_cache_put("d.test.", 1, pkt, sizeof(pkt), 70); /* evicts b, nearest expiry */
    assert_int_equal(dns_cache_count(), 3);
    assert_false(dns_cache_get("b.test.", 1, &wire, &len, &left));
    assert_true(dns_cache_get("a.test.", 1, &wire, &len, &left));
    assert_int_equal(len, 3);
    assert_int_equal(left, 100);
    free(wire);
    assert_false(dns_cache_get("a.test.", 28, &wire, &len, &left)); /* other type */
    fake_now += 65; /* c expired: room without evicting a live one */
    dns_cache_put("e.test.", 1, pkt, sizeof(pkt), 5);
    assert_true(dns_cache_get("a.test.", 1, &wire, &len, &left));
    free(wire);
    assert_true(dns_cache_get("d.test.", 1, &wire, &len, &left));
    free(wire);
    dns_cache_put("z.test.", 1, pkt, sizeof(pkt), 0); /* TTL 0: not cached */
    assert_false(dns_cache_get("z.test.", 1, &wire, &len, &left));
    dns_cache_flush();
    assert_int_equal(dns_cache_count(), 0);

    configure_unreachable(0); /* limit 0: no cache at all */
    dns_cache_put("a.test.", 1, pkt, sizeof(pkt), 100);
    assert_int_equal(dns_cache_count(), 0);
    dns_reset();
    dns_set_clock(NULL);
}

/* -- misuse and literals -------------------------------------------- */

static void test_lookup_misuse(void **state)
{
    (void)state;
    struct dns_mx *mx = (void *)1;
    struct dns_addr *a;
    struct dns_name *p;
    size_t n = 99;
    unsigned flags;
    char *err = NULL;

    configure_unreachable(10);
    assert_int_equal(dns_lookup_mx(NULL, &mx, &n, &flags, &err), DNS_INVALID);
    assert_null(mx);
    assert_int_equal(n, 0);
    xfree(err);
    assert_int_equal(dns_lookup_mx("a..b", &mx, &n, &flags, &err), DNS_INVALID);
    xfree(err);
    assert_int_equal(dns_lookup_ptr("999.1.1.1", &p, &n, &flags, &err), DNS_INVALID);
    xfree(err);
    assert_int_equal(dns_lookup_addr("x.test", 0, &a, &n, &flags, &err), DNS_INVALID);
    xfree(err);
    /* Address literals answer for themselves, without a query. */
    assert_int_equal(dns_lookup_addr("192.0.2.7", DNS_INET4 | DNS_INET6, &a, &n, &flags, &err),
                     DNS_OK);
    assert_int_equal(n, 1);
    assert_string_equal(a[0].text, "192.0.2.7");
    dns_addr_free(&a, n);
    assert_int_equal(dns_lookup_addr("2001:db8::1", DNS_INET6, &a, &n, &flags, &err), DNS_OK);
    assert_string_equal(a[0].text, "2001:db8::1");
    assert_int_equal(a[0].family, AF_INET6);
    dns_addr_free(&a, n);
    assert_int_equal(dns_lookup_addr("2001:db8::1", DNS_INET4, &a, &n, &flags, &err), DNS_NOTFOUND);
    xfree(err);
    assert_string_equal(dns_status_name(DNS_TEMPFAIL), "TEMPFAIL");
    assert_string_equal(dns_status_name(DNS_NULLMX), "NULLMX");
    dns_reset();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_name_valid),
        cmocka_unit_test(test_parse_server),
        cmocka_unit_test(test_mx_sort),
        cmocka_unit_test(test_classify),
        cmocka_unit_test(test_classify_negative_ttl_capped),
        cmocka_unit_test(test_classify_question_mismatch),
        cmocka_unit_test(test_mx_from_wire),
        cmocka_unit_test(test_cache_expiry),
        cmocka_unit_test(test_cache_negative),
        cmocka_unit_test(test_cache_bounded),
        cmocka_unit_test(test_lookup_misuse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
