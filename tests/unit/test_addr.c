/*
 * test_addr.c - unit tests for lib/addr*.c: the MAIL/RCPT path parser,
 * ESMTP parameters, xtext, quoting, extensions, routing detection, FQDN
 * checks and domain list matching.  Inputs are copied into buffers of
 * exactly their length (no terminator), so ASan sees any over-read.
 */
#include "sys.h"
#include "addr.h"
#include "mem.h"
#include "str.h"

#include <setjmp.h>
#include <cmocka.h>

#define M ADDR_F_MAIL
#define S ADDR_F_STRICT
#define U ADDR_F_SMTPUTF8
#define R 0 /* RCPT TO */

/* An exactly-sized, unterminated copy of n bytes. */
static char *exact(const char *s, size_t n)
{
    char *b = xmalloc(n > 0 ? n : 1);
    memcpy(b, s, n);
    return b;
}

/* ---- the path table ----------------------------------------------------- */

struct path_case {
    const char *arg;
    int flags;
    const char *addr;   /* expected canonical form; NULL = must fail */
    int reply;          /* on failure */
    const char *dsn;    /* on failure */
    const char *local;  /* on success, if not NULL: internal local part */
    const char *domain; /* on success, if not NULL */
    unsigned route;     /* on success: addr_path_routing() */
    const char *params; /* on success: parameter text ("" = none) */
};

#define OK(a, f, canon)                                                                            \
    {                                                                                              \
        a, f, canon, 0, NULL, NULL, NULL, 0, ""                                                    \
    }
#define OKP(a, f, canon, p)                                                                        \
    {                                                                                              \
        a, f, canon, 0, NULL, NULL, NULL, 0, p                                                     \
    }
#define OKL(a, f, canon, l, d)                                                                     \
    {                                                                                              \
        a, f, canon, 0, NULL, l, d, 0, ""                                                          \
    }
#define OKR(a, f, canon, r)                                                                        \
    {                                                                                              \
        a, f, canon, 0, NULL, NULL, NULL, r, ""                                                    \
    }
#define BAD(a, f, code, dsn)                                                                       \
    {                                                                                              \
        a, f, NULL, code, dsn, NULL, NULL, 0, NULL                                                 \
    }

static const struct path_case path_cases[] = {
    /* plain forms */
    OKL("<user@example.com>", M, "user@example.com", "user", "example.com"),
    OKL("<user@example.com>", R, "user@example.com", "user", "example.com"),
    OK("<user@example.com>", M | S, "user@example.com"),
    OK("<User.Name+tag@Example.COM>", R, "User.Name+tag@Example.COM"),
    OKR("<a!#$%&'*+-/=?^_`{|}~z@x.org>", R, "a!#$%&'*+-/=?^_`{|}~z@x.org",
        ADDR_ROUTE_PERCENT | ADDR_ROUTE_BANG),
    OK("<1@2.3>", R, "1@2.3"),
    OK("<u@x-y.z0>", R, "u@x-y.z0"),
    OK("<u@x--y.org>", R, "u@x--y.org"),
    OK("<u@localhost>", R, "u@localhost"),
    /* null sender */
    OKL("<>", M, "", "", ""),
    OK("<>", M | S, ""),
    OKP("<> SIZE=10", M | S, "", "SIZE=10"),
    BAD("<>", R, 501, "5.1.3"),
    BAD("<>", R | S, 501, "5.1.3"),
    BAD("<> ", M | S, 501, "5.5.4"),
    /* parameters */
    OKP("<u@x.org> SIZE=100", M, "u@x.org", "SIZE=100"),
    OKP("<u@x.org> SIZE=100 BODY=8BITMIME", M | S, "u@x.org", "SIZE=100 BODY=8BITMIME"),
    OKP("<u@x.org>   A=1   B  ", R, "u@x.org", "A=1   B"),
    OKP("<u@x.org>\tA=1", R, "u@x.org", "A=1"),
    BAD("<u@x.org>\tA=1", R | S, 501, "5.5.4"),
    OK("<u@x.org>   ", R, "u@x.org"),
    BAD("<u@x.org> ", R | S, 501, "5.5.4"),
    BAD("<u@x.org>  A=1", R | S, 501, "5.5.4"),
    BAD("<u@x.org>x", R, 501, "5.5.4"),
    BAD("<u@x.org>SIZE=1", M, 501, "5.5.4"),
    /* leniency switches */
    OK(" <u@x.org>", R, "u@x.org"),
    OK("   <u@x.org>", M, "u@x.org"),
    BAD(" <u@x.org>", R | S, 501, "5.5.4"),
    OK("u@x.org", R, "u@x.org"),
    OKP("u@x.org SIZE=1", M, "u@x.org", "SIZE=1"),
    OK(" u@x.org ", M, "u@x.org"),
    BAD("u@x.org", R | S, 501, "5.5.4"),
    BAD("u@x.org", M | S, 501, "5.5.4"),
    BAD("u@x.org>", R, 501, "5.5.4"),
    OK("\"a b\"@x.org", R, "\"a b\"@x.org"),
    /* domain-less addresses */
    OKL("<user>", R, "user", "user", ""),
    OK("<user>", M, "user"),
    BAD("<user>", R | S, 501, "5.1.3"),
    BAD("<user>", M | S, 501, "5.1.7"),
    OK("<postmaster>", R | S, "postmaster"),
    OK("<PostMaster>", R | S, "PostMaster"),
    OK("<\"postmaster\">", R | S, "postmaster"),
    BAD("<postmaster>", M | S, 501, "5.1.7"),
    BAD("<postmasters>", R | S, 501, "5.1.3"),
    BAD("<\"\">", R, 501, "5.1.3"),
    /* missing or broken structure */
    BAD("", M, 501, "5.5.4"),
    BAD("", R | S, 501, "5.5.4"),
    BAD("   ", R, 501, "5.5.4"),
    BAD("<", R, 501, "5.1.3"),
    BAD("<", M, 501, "5.1.7"),
    BAD(">", R, 501, "5.1.3"),
    BAD("<u@x.org", R, 501, "5.1.3"),
    BAD("<u@x.org", M, 501, "5.1.7"),
    BAD("<<u@x.org>>", R, 501, "5.1.3"),
    BAD("< u@x.org>", R, 501, "5.1.3"),
    BAD("<u @x.org>", R, 501, "5.1.3"),
    BAD("<u@ x.org>", R, 501, "5.1.3"),
    BAD("<u@x.org >", R, 501, "5.1.3"),
    BAD("<u@>", R, 501, "5.1.3"),
    BAD("<@x.org>", R, 501, "5.1.3"),
    BAD("<a@b@c.org>", R, 501, "5.1.3"),
    BAD("<u@x.org>>", R, 501, "5.5.4"),
    /* leniently a bare "Name"; the parameter parser then refuses "<u@x.org>" */
    OKP("Name <u@x.org>", R, "Name", "<u@x.org>"),
    BAD("Name <u@x.org>", R | S, 501, "5.5.4"),
    /* dot-string */
    BAD("<.user@x.org>", R, 501, "5.1.3"),
    BAD("<user.@x.org>", R, 501, "5.1.3"),
    BAD("<us..er@x.org>", R, 501, "5.1.3"),
    BAD("<us(er@x.org>", R, 501, "5.1.3"),
    BAD("<us,er@x.org>", R, 501, "5.1.3"),
    BAD("<us\ter@x.org>", R, 501, "5.1.3"),
    BAD("<us\x01r@x.org>", R, 501, "5.1.3"),
    BAD("<us\x7fr@x.org>", R, 501, "5.1.3"),
    BAD("<us\rr@x.org>", R, 501, "5.1.3"),
    OK("<a.b.c@x.org>", R, "a.b.c@x.org"),
    /* quoted local parts */
    OKL("<\"john doe\"@x.org>", R, "\"john doe\"@x.org", "john doe", "x.org"),
    OKL("<\"john\"@x.org>", R, "john@x.org", "john", "x.org"),
    OKL("<\"a\\\"b\"@x.org>", R, "\"a\\\"b\"@x.org", "a\"b", NULL),
    OKL("<\"a\\\\b\"@x.org>", R, "\"a\\\\b\"@x.org", "a\\b", NULL),
    OKL("<\"a\\b\"@x.org>", R, "ab@x.org", "ab", NULL),
    OKL("<\"\"@x.org>", R, "\"\"@x.org", "", NULL),
    OK("<\"a.\"@x.org>", R, "\"a.\"@x.org"),
    OK("<\"a..b\"@x.org>", R, "\"a..b\"@x.org"),
    OK("<\".a\"@x.org>", R, "\".a\"@x.org"),
    OK("<\"a>b\"@x.org>", R, "\"a>b\"@x.org"),
    OK("<\"a,b:c\"@x.org>", R, "\"a,b:c\"@x.org"),
    OK("<\"a.b\"@x.org>", R, "a.b@x.org"),
    BAD("<\"abc@x.org>", R, 501, "5.1.3"),
    BAD("<\"a\x01\"@x.org>", R, 501, "5.1.3"),
    BAD("<\"a\tb\"@x.org>", R, 501, "5.1.3"),
    BAD("<\"a\\\x01\"@x.org>", R, 501, "5.1.3"),
    BAD("<\"a\\", R, 501, "5.1.3"),
    BAD("<\"a\"b@x.org>", R, 501, "5.1.3"),
    BAD("<a\"b\"@x.org>", R, 501, "5.1.3"),
    BAD("<\"a\".\"b\"@x.org>", R, 501, "5.1.3"),
    /* domains */
    BAD("<u@-x.org>", R, 501, "5.1.3"),
    BAD("<u@x-.org>", R, 501, "5.1.3"),
    BAD("<u@x..org>", R, 501, "5.1.3"),
    BAD("<u@.x.org>", R, 501, "5.1.3"),
    BAD("<u@x.org.>", R, 501, "5.1.3"),
    BAD("<u@x_y.org>", R, 501, "5.1.3"),
    BAD("<u@x.org:25>", R, 501, "5.1.3"),
    BAD("<u@x.org", M, 501, "5.1.7"),
    /* address literals */
    OKL("<u@[192.0.2.1]>", R, "u@[192.0.2.1]", "u", "[192.0.2.1]"),
    OK("<u@[IPv6:2001:db8::1]>", R, "u@[IPv6:2001:db8::1]"),
    OK("<u@[ipv6:::1]>", R, "u@[ipv6:::1]"),
    OK("<u@[IPv6:::ffff:192.0.2.1]>", R, "u@[IPv6:::ffff:192.0.2.1]"),
    OK("<u@[IPv6:2001:db8:0:0:0:0:0:1]>", R | S, "u@[IPv6:2001:db8:0:0:0:0:0:1]"),
    BAD("<u@[1.2.3]>", R, 501, "5.1.3"),
    BAD("<u@[1.2.3.256]>", R, 501, "5.1.3"),
    BAD("<u@[1.2.3.4.5]>", R, 501, "5.1.3"),
    BAD("<u@[::1]>", R, 501, "5.1.3"),
    BAD("<u@[IPv6:1.2.3.4]>", R, 501, "5.1.3"),
    BAD("<u@[IPv6:2001:db8::g]>", R, 501, "5.1.3"),
    BAD("<u@[IPv6:fe80::1%eth0]>", R, 501, "5.1.3"),
    BAD("<u@[IPv6:]>", R, 501, "5.1.3"),
    BAD("<u@[x-tag:abc]>", R, 501, "5.1.3"),
    BAD("<u@[]>", R, 501, "5.1.3"),
    BAD("<u@[1.2.3.4>", R, 501, "5.1.3"),
    BAD("<u@[1.2.3.4", R, 501, "5.1.3"),
    BAD("<u@[1.2 .3.4]>", R, 501, "5.1.3"),
    BAD("<u@[1.2.3.4]x>", R, 501, "5.1.3"),
    BAD("<u@[1.2.3.4].org>", R, 501, "5.1.3"),
    BAD("<u@[[1.2.3.4]]>", R, 501, "5.1.3"),
    BAD("<u@[1.2.3.\xc3\xa4]>", R | U, 501, "5.1.3"),
    /* source routes: accepted, stripped, reported */
    OKR("<@a.example,@b.example:user@c.example>", R, "user@c.example", ADDR_ROUTE_SOURCE),
    OKR("<@a.example:user@c.example>", M | S, "user@c.example", ADDR_ROUTE_SOURCE),
    OKR("<@[192.0.2.1]:u@x.org>", R, "u@x.org", ADDR_ROUTE_SOURCE),
    OKR("<@r.org:u%v@x.org>", R, "u%v@x.org", ADDR_ROUTE_SOURCE | ADDR_ROUTE_PERCENT),
    BAD("<@x.org:>", R, 501, "5.1.3"),
    BAD("<@x.org,u@y.org>", R, 501, "5.1.3"),
    BAD("<@x.org,:u@y.org>", R, 501, "5.1.3"),
    BAD("<@x.org,@:u@y.org>", R, 501, "5.1.3"),
    BAD("<@:u@y.org>", R, 501, "5.1.3"),
    BAD("<@-x.org:u@y.org>", R, 501, "5.1.3"),
    BAD("<@x.org;u@y.org>", R, 501, "5.1.3"),
    /* routing in the local part */
    OKR("<user%other@x.org>", R, "user%other@x.org", ADDR_ROUTE_PERCENT),
    OKR("<other!user@x.org>", R, "other!user@x.org", ADDR_ROUTE_BANG),
    OKR("<\"user@other\"@x.org>", R, "\"user@other\"@x.org", ADDR_ROUTE_AT),
    OKR("<\"u%v!w@y\"@x.org>", R, "\"u%v!w@y\"@x.org",
        ADDR_ROUTE_PERCENT | ADDR_ROUTE_BANG | ADDR_ROUTE_AT),
    OKR("<plain@x.org>", R, "plain@x.org", 0),
    /* 8-bit: only with SMTPUTF8, and well-formed */
    BAD("<j\xc3\xb6rg@x.org>", R, 553, "5.6.7"),
    BAD("<j\xc3\xb6rg@x.org>", M, 553, "5.6.7"),
    OKL("<j\xc3\xb6rg@x.org>", R | U, "j\xc3\xb6rg@x.org", "j\xc3\xb6rg", NULL),
    OK("<j\xc3\xb6rg@x.org>", M | U | S, "j\xc3\xb6rg@x.org"),
    BAD("<u@b\xc3\xbc"
        "cher.de>",
        R, 553, "5.6.7"),
    OK("<u@b\xc3\xbc"
       "cher.de>",
       R | U,
       "u@b\xc3\xbc"
       "cher.de"),
    OK("<\xe2\x82\xac@\xe4\xbe\x8b.\xe4\xb8\xad\xe5\x9b\xbd>", R | U,
       "\xe2\x82\xac@\xe4\xbe\x8b.\xe4\xb8\xad\xe5\x9b\xbd"),
    OK("<\xf0\x9f\x98\x80@x.org>", R | U, "\xf0\x9f\x98\x80@x.org"),
    OK("<\"j\xc3\xb6rg\"@x.org>", R | U, "j\xc3\xb6rg@x.org"),
    OK("<\"j\xc3\xb6 rg\"@x.org>", R | U, "\"j\xc3\xb6 rg\"@x.org"),
    BAD("<\"j\xc3\xb6rg\"@x.org>", R, 553, "5.6.7"),
    BAD("<j\xc3@x.org>", R | U, 501, "5.1.3"),
    BAD("<j\xc3(@x.org>", R | U, 501, "5.1.3"),
    BAD("<\xc0\xafx@x.org>", R | U, 501, "5.1.3"),
    BAD("<\xe0\x80\xafx@x.org>", R | U, 501, "5.1.3"),
    BAD("<\xed\xa0\x80@x.org>", R | U, 501, "5.1.3"),
    BAD("<\xf4\x90\x80\x80@x.org>", R | U, 501, "5.1.3"),
    BAD("<\xf8\x88\x80\x80\x80@x.org>", R | U, 501, "5.1.3"),
    BAD("<\xff@x.org>", R | U, 501, "5.1.3"),
    BAD("<\x80@x.org>", R | U, 501, "5.1.3"),
    BAD("<u@x.\xc3>", R | U, 501, "5.1.3"),
};

static void check_path_case(const struct path_case *c)
{
    size_t n = strlen(c->arg);
    char *buf = exact(c->arg, n);
    struct addr_path p;
    char *err = (char *)"unset";
    int rc = addr_parse_path(buf, n, c->flags, &p, &err);
    if (c->addr == NULL) {
        if (rc != -1)
            print_error("expected failure: [%s] flags %d -> [%s]\n", c->arg, c->flags, p.addr);
        assert_int_equal(rc, -1);
        assert_non_null(err);
        if (p.reply != c->reply || strcmp(p.dsn, c->dsn) != 0)
            print_error("[%s] flags %d: got %d %s %s\n", c->arg, c->flags, p.reply, p.dsn, err);
        assert_int_equal(p.reply, c->reply);
        assert_string_equal(p.dsn, c->dsn);
        assert_null(p.addr);
        for (const char *e = err; *e; e++) /* the reason is safe to echo */
            assert_true(*e >= 0x20 && *e < 0x7f);
        free(err);
        free(buf);
        return;
    }
    if (rc != 0)
        print_error("expected success: [%s] flags %d: %s\n", c->arg, c->flags, err);
    assert_int_equal(rc, 0);
    assert_null(err);
    assert_string_equal(p.addr, c->addr);
    if (c->local != NULL)
        assert_string_equal(p.local, c->local);
    if (c->domain != NULL)
        assert_string_equal(p.domain, c->domain);
    if (addr_path_routing(&p) != c->route)
        print_error("[%s]: routing %u\n", c->arg, addr_path_routing(&p));
    assert_int_equal(addr_path_routing(&p), c->route);
    assert_int_equal(p.params_len, strlen(c->params));
    assert_memory_equal(p.params, c->params, p.params_len);
    assert_int_equal(p.null_sender, c->addr[0] == '\0');
    addr_path_free(&p);
    free(buf);
}

static void test_path_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_ELEMENTS(path_cases); i++)
        check_path_case(&path_cases[i]);
}

/* The canonical form parses again to itself, with the same flags. */
static void test_path_reparse(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_ELEMENTS(path_cases); i++) {
        const struct path_case *c = &path_cases[i];
        if (c->addr == NULL || c->addr[0] == '\0')
            continue;
        str_t *s = str_new(64);
        str_appendc(s, '<');
        str_appendz(s, c->addr);
        str_appendc(s, '>');
        struct addr_path p;
        assert_int_equal(addr_parse_path(str_c(s), str_len(s), c->flags, &p, NULL), 0);
        assert_string_equal(p.addr, c->addr);
        assert_false(p.source_route);
        addr_path_free(&p);
        str_free(&s);
    }
}

/* Flags that describe the path a case was made for. */
static void test_path_flags(void **state)
{
    (void)state;
    struct addr_path p;
    const char *a = "<\"a b\"@[1.2.3.4]>";
    assert_int_equal(addr_parse_path(a, strlen(a), R, &p, NULL), 0);
    assert_true(p.quoted);
    assert_true(p.literal);
    assert_false(p.utf8);
    assert_false(p.null_sender);
    addr_path_free(&p);
    a = "<\xc3\xa4@x.org>";
    assert_int_equal(addr_parse_path(a, strlen(a), R | U, &p, NULL), 0);
    assert_true(p.utf8);
    assert_false(p.quoted);
    assert_false(p.literal);
    addr_path_free(&p);
    assert_null(p.addr); /* free-and-clear */
}

/* Bytes after len are never looked at; NUL inside is a plain bad byte. */
static void test_path_len_bound(void **state)
{
    (void)state;
    struct addr_path p;
    char *err = NULL;
    const char *a = "<user@x.org>";
    assert_int_equal(addr_parse_path(a, 5, R, &p, &err), -1); /* "<user" */
    free(err);
    assert_int_equal(addr_parse_path(a, strlen(a) - 1, R, &p, &err), -1);
    free(err);
    assert_int_equal(addr_parse_path(a, 0, R, &p, &err), -1);
    assert_int_equal(p.reply, 501);
    free(err);
    const char nul[] = "<us\0er@x.org>";
    assert_int_equal(addr_parse_path(nul, sizeof(nul) - 1, R, &p, &err), -1);
    free(err);
    const char nul2[] = "<user@x.org> A=\0";
    assert_int_equal(addr_parse_path(nul2, sizeof(nul2) - 1, R, &p, NULL), 0);
    struct addr_params ps;
    assert_int_equal(addr_esmtp_params_parse(p.params, p.params_len, 0, &ps, &err), -1);
    free(err);
    addr_path_free(&p);
    /* misuse: a NULL argument is an error, not a crash */
    assert_int_equal(addr_parse_path(NULL, 10, R, &p, NULL), -1);
    assert_int_equal(addr_esmtp_params_parse(NULL, 10, 0, &ps, NULL), 0);
    addr_esmtp_params_free(&ps);
}

/* ---- length limits at their boundaries ---------------------------------- */

static char *repeat(char c, size_t n)
{
    char *s = xmalloc(n + 1);
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

static int parse_str(const char *a, int flags)
{
    struct addr_path p;
    char *buf = exact(a, strlen(a));
    int rc = addr_parse_path(buf, strlen(a), flags, &p, NULL);
    if (rc == 0)
        addr_path_free(&p);
    free(buf);
    return rc;
}

static void test_limits_local(void **state)
{
    (void)state;
    for (size_t n = 62; n <= 66; n++) {
        char *l = repeat('a', n);
        char *a = xasprintf("<%s@x.org>", l);
        assert_int_equal(parse_str(a, R), n <= 64 ? 0 : -1);
        free(a);
        /* quoted: the limit counts the quotes as written */
        a = xasprintf("<\"%s\"@x.org>", l);
        assert_int_equal(parse_str(a, R), n + 2 <= 64 ? 0 : -1);
        free(a);
        free(l);
    }
}

/* A domain of exactly n octets made of labels of at most 63. */
static char *make_domain(size_t n)
{
    str_t *d = str_new(n);
    while (str_len(d) < n) {
        size_t left = n - str_len(d);
        if (str_len(d) > 0) {
            str_appendc(d, '.');
            left--;
        }
        size_t take = left > 63 ? 63 : left;
        if (left - take == 1) /* never leave a lone trailing dot */
            take--;
        for (size_t i = 0; i < take; i++)
            str_appendc(d, (char)('a' + i % 26));
    }
    return str_steal(&d);
}

static void test_limits_domain(void **state)
{
    (void)state;
    char *err = NULL;
    for (size_t n = 250; n <= 258; n++) {
        char *d = make_domain(n);
        assert_int_equal(strlen(d), n);
        int rc = addr_domain_valid(d, n, 0, &err);
        assert_int_equal(rc, n <= 255 ? 0 : -1);
        if (rc < 0) {
            assert_non_null(strstr(err, "255"));
            free(err);
        }
        free(d);
    }
    /* labels */
    for (size_t n = 62; n <= 64; n++) {
        char *l = repeat('b', n);
        char *a = xasprintf("<u@%s.org>", l);
        assert_int_equal(parse_str(a, R), n <= 63 ? 0 : -1);
        assert_int_equal(addr_domain_valid(l, n, 0, NULL), n <= 63 ? 0 : -1);
        free(a);
        free(l);
    }
    /* a domain over 255 is refused as such inside a path too */
    char *d = make_domain(256);
    char *a = xasprintf("<u@%s>", d);
    struct addr_path p;
    assert_int_equal(addr_parse_path(a, strlen(a), R, &p, &err), -1);
    assert_non_null(strstr(err, "domain longer"));
    free(err);
    free(a);
    free(d);
}

static void test_limits_path(void **state)
{
    (void)state;
    /* "<" + 64 + "@" + domain + ">" == total */
    for (size_t total = 254; total <= 258; total++) {
        char *l = repeat('a', 64);
        char *d = make_domain(total - 67);
        char *a = xasprintf("<%s@%s>", l, d);
        assert_int_equal(strlen(a), total);
        assert_int_equal(parse_str(a, R), total <= 256 ? 0 : -1);
        /* the same without brackets counts as if they were there */
        char *bare = xasprintf("%s@%s", l, d);
        assert_int_equal(parse_str(bare, R), total <= 256 ? 0 : -1);
        free(bare);
        free(a);
        free(d);
        free(l);
    }
    /* a source route counts toward the path length */
    char *r = make_domain(240);
    char *a = xasprintf("<@%s:u@x.org>", r); /* 1+1+240+1+7+1 = 251 */
    assert_int_equal(parse_str(a, R), 0);
    free(a);
    a = xasprintf("<@%s:user12@x.org>", r); /* 256 */
    assert_int_equal(strlen(a), 256);
    assert_int_equal(parse_str(a, R), 0);
    free(a);
    a = xasprintf("<@%s:user123@x.org>", r); /* 257 */
    assert_int_equal(parse_str(a, R), -1);
    free(a);
    free(r);
}

/* ---- ESMTP parameters ---------------------------------------------------- */

struct param_case {
    const char *in;
    int flags;
    int n;              /* parameters expected, -1 = must fail */
    const char *name0;  /* first keyword */
    const char *value0; /* first value (NULL = none) */
};

static const struct param_case param_cases[] = {
    {"", S, 0, NULL, NULL},
    {"SIZE=100", S, 1, "SIZE", "100"},
    {"SIZE=100 BODY=8BITMIME", S, 2, "SIZE", "100"},
    {"SMTPUTF8", S, 1, "SMTPUTF8", NULL},
    {"smtputf8 size=1", S, 2, "smtputf8", NULL},
    {"A-B=1", S, 1, "A-B", "1"},
    {"9=1", S, 1, "9", "1"},
    {"X=!\"#$%&'()*+,-./0-9:;<>?@A-Z[\\]^_`a-z{|}~", S, 1, "X",
     "!\"#$%&'()*+,-./0-9:;<>?@A-Z[\\]^_`a-z{|}~"},
    {"  A=1   B=2  ", 0, 2, "A", "1"},
    {"A=1\tB=2", 0, 2, "A", "1"},
    {"A=1\tB=2", S, -1, NULL, NULL},
    {"A=1  B=2", S, -1, NULL, NULL},
    {" A=1", S, -1, NULL, NULL},
    {"A=1 ", S, -1, NULL, NULL},
    {"size=1 SIZE=2", S, -1, NULL, NULL},
    {"SIZE SIZE", 0, -1, NULL, NULL},
    {"=1", S, -1, NULL, NULL},
    {"-A=1", S, -1, NULL, NULL},
    {"A_B=1", S, -1, NULL, NULL},
    {"A.B=1", S, -1, NULL, NULL},
    {"A=", S, -1, NULL, NULL},
    {"A= B", 0, -1, NULL, NULL},
    {"A=b=c", S, -1, NULL, NULL},
    {"A=\x01", S, -1, NULL, NULL},
    {"A=\x7f", S, -1, NULL, NULL},
    {"A=\xc3\xb6", S, -1, NULL, NULL},
    {"A=\xc3\xb6", S | U, 1, "A", "\xc3\xb6"},
    {"A=\xc3", S | U, -1, NULL, NULL},
    {"\xc3\xb6=1", S | U, -1, NULL, NULL},
    {"A=1,B", S, 1, "A", "1,B"},
};

static void test_params_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_ELEMENTS(param_cases); i++) {
        const struct param_case *c = &param_cases[i];
        size_t n = strlen(c->in);
        char *buf = exact(c->in, n);
        struct addr_params ps;
        char *err = NULL;
        int rc = addr_esmtp_params_parse(buf, n, c->flags, &ps, &err);
        if ((rc == 0) != (c->n >= 0))
            print_error("params [%s]: rc %d %s\n", c->in, rc, err ? err : "");
        if (c->n < 0) {
            assert_int_equal(rc, -1);
            assert_int_equal(ps.reply, 501);
            assert_string_equal(ps.dsn, "5.5.4");
            assert_non_null(err);
            assert_null(ps.v);
            free(err);
        } else {
            assert_int_equal(rc, 0);
            assert_int_equal(ps.n, (size_t)c->n);
            if (c->n > 0) {
                assert_string_equal(ps.v[0].name, c->name0);
                if (c->value0 == NULL)
                    assert_null(ps.v[0].value);
                else
                    assert_string_equal(ps.v[0].value, c->value0);
            }
            addr_esmtp_params_free(&ps);
        }
        free(buf);
    }
}

static int params_str(const char *s, int flags)
{
    struct addr_params ps;
    int rc = addr_esmtp_params_parse(s, strlen(s), flags, &ps, NULL);
    if (rc == 0)
        addr_esmtp_params_free(&ps);
    return rc;
}

static void test_params_limits(void **state)
{
    (void)state;
    /* keyword length */
    for (size_t n = 31; n <= 33; n++) {
        char *k = repeat('K', n);
        assert_int_equal(params_str(k, S), n <= ADDR_PARAM_NAME_MAX ? 0 : -1);
        free(k);
    }
    /* value length */
    for (size_t n = 599; n <= 601; n++) {
        char *v = repeat('v', n);
        char *p = xasprintf("X=%s", v);
        assert_int_equal(params_str(p, S), n <= ADDR_PARAM_VALUE_MAX ? 0 : -1);
        free(p);
        free(v);
    }
    /* count */
    str_t *s = str_new(128);
    for (int i = 0; i < ADDR_PARAMS_MAX + 1; i++) {
        if (i > 0)
            str_appendc(s, ' ');
        str_appendf(s, "P%d=%d", i, i);
        assert_int_equal(params_str(str_c(s), S), i < ADDR_PARAMS_MAX ? 0 : -1);
    }
    str_free(&s);
}

static void test_params_find(void **state)
{
    (void)state;
    struct addr_params ps;
    const char *in = "Size=10 BODY=7BIT ret=full";
    assert_int_equal(addr_esmtp_params_parse(in, strlen(in), S, &ps, NULL), 0);
    assert_string_equal(addr_esmtp_param_find(&ps, "SIZE")->value, "10");
    assert_string_equal(addr_esmtp_param_find(&ps, "body")->value, "7BIT");
    assert_null(addr_esmtp_param_find(&ps, "ENVID"));
    addr_esmtp_params_free(&ps);
    assert_null(ps.v);
    assert_int_equal(ps.n, 0);
}

/* ---- xtext ------------------------------------------------------------- */

static void test_xtext(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        const char *out; /* NULL = malformed */
    } cases[] = {
        {"", ""},
        {"abc", "abc"},
        {"a+2Bb", "a+b"},
        {"+3D", "="},
        {"+2b", "+"},
        {"+20x+20", " x "},
        {"user+40example.com", "user@example.com"},
        {"+C3+B6", "\xc3\xb6"},
        {"+C3", NULL},
        {"+2", NULL},
        {"+", NULL},
        {"a+", NULL},
        {"+G0", NULL},
        {"+0G", NULL},
        {"a=b", NULL},
        {"a b", NULL},
        {"a\x01", NULL},
        {"a\x80", NULL},
        {"+00", NULL},
        {"a+0D+0Ab", NULL},
        {"+7F", NULL},
    };
    for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
        str_t *d = str_new(16);
        str_appendz(d, "pre:");
        size_t n = strlen(cases[i].in);
        char *buf = exact(cases[i].in, n);
        int rc = addr_xtext_decode(d, buf, n);
        if (cases[i].out == NULL) {
            assert_int_equal(rc, -1);
            assert_string_equal(str_c(d), "pre:"); /* untouched */
        } else {
            assert_int_equal(rc, 0);
            assert_string_equal(str_c(d) + 4, cases[i].out);
        }
        free(buf);
        str_free(&d);
    }
    /* encode then decode is the identity on printable text and UTF-8 */
    const char *plain = "a+b=c d\xc3\xb6~!";
    str_t *e = str_new(16), *d = str_new(16);
    addr_xtext_encode(e, plain, strlen(plain));
    assert_string_equal(str_c(e), "a+2Bb+3Dc+20d+C3+B6~!");
    assert_int_equal(addr_xtext_decode(d, str_c(e), str_len(e)), 0);
    assert_string_equal(str_c(d), plain);
    str_free(&e);
    str_free(&d);
}

/* ---- single parameter values -------------------------------------------- */

static void test_param_size(void **state)
{
    (void)state;
    uint64_t v = 7;
    char *err = NULL;
    assert_int_equal(addr_param_size("0", &v, NULL), 0);
    assert_int_equal(v, 0);
    assert_int_equal(addr_param_size("26214400", &v, NULL), 0);
    assert_int_equal(v, 26214400);
    assert_int_equal(addr_param_size("18446744073709551615", &v, NULL), 0);
    assert_true(v == UINT64_MAX);
    assert_int_equal(addr_param_size("18446744073709551616", &v, &err), -1);
    free(err);
    assert_int_equal(addr_param_size("123456789012345678901", &v, NULL), -1);
    assert_int_equal(addr_param_size("-1", &v, NULL), -1);
    assert_int_equal(addr_param_size("1a", &v, NULL), -1);
    assert_int_equal(addr_param_size(" 1", &v, NULL), -1);
    assert_int_equal(addr_param_size("", &v, NULL), -1);
    assert_int_equal(addr_param_size(NULL, &v, &err), -1);
    assert_non_null(err);
    free(err);
}

static void test_param_body_ret(void **state)
{
    (void)state;
    enum addr_body b;
    enum addr_ret r;
    assert_int_equal(addr_param_body("7BIT", &b, NULL), 0);
    assert_int_equal(b, ADDR_BODY_7BIT);
    assert_int_equal(addr_param_body("8bitmime", &b, NULL), 0);
    assert_int_equal(b, ADDR_BODY_8BITMIME);
    assert_int_equal(addr_param_body("BINARYMIME", &b, NULL), 0);
    assert_int_equal(b, ADDR_BODY_BINARYMIME);
    assert_int_equal(addr_param_body("8BIT", &b, NULL), -1);
    assert_int_equal(addr_param_body(NULL, &b, NULL), -1);
    assert_int_equal(addr_param_ret("FULL", &r, NULL), 0);
    assert_int_equal(r, ADDR_RET_FULL);
    assert_int_equal(addr_param_ret("hdrs", &r, NULL), 0);
    assert_int_equal(r, ADDR_RET_HDRS);
    assert_int_equal(addr_param_ret("HEADERS", &r, NULL), -1);
    assert_int_equal(addr_param_ret(NULL, &r, NULL), -1);
}

static void test_param_notify(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        int rc;
        unsigned bits;
    } cases[] = {
        {"NEVER", 0, ADDR_NOTIFY_NEVER},
        {"never", 0, ADDR_NOTIFY_NEVER},
        {"SUCCESS", 0, ADDR_NOTIFY_SUCCESS},
        {"SUCCESS,FAILURE,DELAY", 0, ADDR_NOTIFY_SUCCESS | ADDR_NOTIFY_FAILURE | ADDR_NOTIFY_DELAY},
        {"delay,Failure", 0, ADDR_NOTIFY_DELAY | ADDR_NOTIFY_FAILURE},
        {"NEVER,SUCCESS", -1, 0},
        {"FAILURE,NEVER", -1, 0},
        {"SUCCESS,SUCCESS", -1, 0},
        {"SUCCESS,", -1, 0},
        {",SUCCESS", -1, 0},
        {"SUCCESS,,DELAY", -1, 0},
        {"SUCCESS FAILURE", -1, 0},
        {"", -1, 0},
        {"FOO", -1, 0},
        {"SUCCES", -1, 0},
    };
    for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
        unsigned bits = 0;
        assert_int_equal(addr_param_notify(cases[i].in, &bits, NULL), cases[i].rc);
        if (cases[i].rc == 0)
            assert_int_equal(bits, cases[i].bits);
    }
    unsigned bits;
    assert_int_equal(addr_param_notify(NULL, &bits, NULL), -1);
}

static void test_param_envid_orcpt_auth(void **state)
{
    (void)state;
    char *v = NULL, *t = NULL, *err = NULL;
    assert_int_equal(addr_param_envid("a+2Bb", &v, NULL), 0);
    assert_string_equal(v, "a+b");
    free(v);
    char *s = repeat('e', 100);
    assert_int_equal(addr_param_envid(s, &v, NULL), 0);
    free(v);
    free(s);
    s = repeat('e', 101);
    assert_int_equal(addr_param_envid(s, &v, &err), -1);
    free(err);
    free(s);
    assert_int_equal(addr_param_envid("a+ZZ", &v, NULL), -1);
    assert_int_equal(addr_param_envid(NULL, &v, NULL), -1);

    assert_int_equal(addr_param_orcpt("rfc822;user@x.org", &t, &v, NULL), 0);
    assert_string_equal(t, "rfc822");
    assert_string_equal(v, "user@x.org");
    free(t);
    free(v);
    assert_int_equal(addr_param_orcpt("RFC822;user+2Btag+40x.org", &t, &v, NULL), 0);
    assert_string_equal(t, "RFC822");
    assert_string_equal(v, "user+tag@x.org");
    free(t);
    free(v);
    assert_int_equal(addr_param_orcpt("rfc822", &t, &v, NULL), -1);
    assert_int_equal(addr_param_orcpt(";x@y", &t, &v, NULL), -1);
    assert_int_equal(addr_param_orcpt("rfc822;", &t, &v, NULL), -1);
    assert_int_equal(addr_param_orcpt("rf(c;x@y", &t, &v, NULL), -1);
    assert_int_equal(addr_param_orcpt("rfc822;a+0Db", &t, &v, NULL), -1);
    assert_int_equal(addr_param_orcpt(NULL, &t, &v, NULL), -1);
    for (size_t n = 499; n <= 501; n++) {
        char *a = repeat('a', n - 7);
        char *o = xasprintf("rfc822;%s", a);
        int rc = addr_param_orcpt(o, &t, &v, NULL);
        assert_int_equal(rc, n <= ADDR_ORCPT_MAX ? 0 : -1);
        if (rc == 0) {
            free(t);
            free(v);
        }
        free(o);
        free(a);
    }

    assert_int_equal(addr_param_auth("<>", &v, NULL), 0);
    assert_string_equal(v, "<>");
    free(v);
    assert_int_equal(addr_param_auth("user+40x.org", &v, NULL), 0);
    assert_string_equal(v, "user@x.org");
    free(v);
    assert_int_equal(addr_param_auth("", &v, NULL), -1);
    assert_int_equal(addr_param_auth("a+2", &v, NULL), -1);
}

/* ---- MAIL / RCPT parameter sets ------------------------------------------ */

#define EXT_ALL                                                                                    \
    (ADDR_EXT_SIZE | ADDR_EXT_8BITMIME | ADDR_EXT_BINARYMIME | ADDR_EXT_DSN | ADDR_EXT_SMTPUTF8 |  \
     ADDR_EXT_AUTH)

static int mail_opts(const char *in, unsigned ext, struct addr_mail_opts *o, char **err)
{
    struct addr_params ps;
    assert_int_equal(addr_esmtp_params_parse(in, strlen(in), S, &ps, NULL), 0);
    int rc = addr_mail_opts_get(&ps, ext, o, err);
    addr_esmtp_params_free(&ps);
    return rc;
}

static int rcpt_opts(const char *in, unsigned ext, struct addr_rcpt_opts *o, char **err)
{
    struct addr_params ps;
    assert_int_equal(addr_esmtp_params_parse(in, strlen(in), S, &ps, NULL), 0);
    int rc = addr_rcpt_opts_get(&ps, ext, o, err);
    addr_esmtp_params_free(&ps);
    return rc;
}

static void test_mail_opts(void **state)
{
    (void)state;
    struct addr_mail_opts o;
    char *err = NULL;
    assert_int_equal(mail_opts("SIZE=1000 BODY=8BITMIME RET=HDRS ENVID=abc+2Bd SMTPUTF8 AUTH=<>",
                               EXT_ALL, &o, &err),
                     0);
    assert_null(err);
    assert_true(o.size_set);
    assert_int_equal(o.size, 1000);
    assert_int_equal(o.body, ADDR_BODY_8BITMIME);
    assert_int_equal(o.ret, ADDR_RET_HDRS);
    assert_string_equal(o.envid, "abc+d");
    assert_true(o.smtputf8);
    assert_string_equal(o.auth, "<>");
    addr_mail_opts_free(&o);
    assert_null(o.envid);

    assert_int_equal(mail_opts("", 0, &o, NULL), 0);
    assert_false(o.size_set);
    assert_int_equal(o.body, ADDR_BODY_NONE);
    addr_mail_opts_free(&o);

    static const struct {
        const char *in;
        unsigned ext;
        int reply;
    } bad[] = {
        {"FOO=1", EXT_ALL, 555},
        {"SIZE=1", EXT_ALL & ~ADDR_EXT_SIZE, 555},
        {"BODY=8BITMIME", ADDR_EXT_BINARYMIME, 555},
        {"BODY=BINARYMIME", ADDR_EXT_8BITMIME, 555},
        {"BODY=7BIT", ADDR_EXT_SIZE, 555},
        {"RET=FULL", EXT_ALL & ~ADDR_EXT_DSN, 555},
        {"ENVID=x", EXT_ALL & ~ADDR_EXT_DSN, 555},
        {"SMTPUTF8", EXT_ALL & ~ADDR_EXT_SMTPUTF8, 555},
        {"AUTH=<>", EXT_ALL & ~ADDR_EXT_AUTH, 555},
        {"NOTIFY=NEVER", EXT_ALL, 555},
        {"ORCPT=rfc822;a", EXT_ALL, 555},
        {"SIZE=x", EXT_ALL, 501},
        {"SIZE", EXT_ALL, 501},
        {"BODY=9BIT", EXT_ALL, 501},
        {"RET=ALL", EXT_ALL, 501},
        {"ENVID=a+", EXT_ALL, 501},
        {"SMTPUTF8=yes", EXT_ALL, 501},
        {"AUTH", EXT_ALL, 501},
        {"ENVID=ok SIZE=bad", EXT_ALL, 501},
    };
    for (size_t i = 0; i < N_ELEMENTS(bad); i++) {
        err = NULL;
        assert_int_equal(mail_opts(bad[i].in, bad[i].ext, &o, &err), -1);
        assert_int_equal(o.reply, bad[i].reply);
        assert_string_equal(o.dsn, "5.5.4");
        assert_non_null(err);
        assert_null(o.envid);
        free(err);
    }
}

static void test_rcpt_opts(void **state)
{
    (void)state;
    struct addr_rcpt_opts o;
    char *err = NULL;
    assert_int_equal(
        rcpt_opts("NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;a+40b.c", ADDR_EXT_DSN, &o, &err), 0);
    assert_int_equal(o.notify, ADDR_NOTIFY_SUCCESS | ADDR_NOTIFY_FAILURE);
    assert_string_equal(o.orcpt_type, "rfc822");
    assert_string_equal(o.orcpt, "a@b.c");
    addr_rcpt_opts_free(&o);
    assert_int_equal(rcpt_opts("", 0, &o, NULL), 0);
    assert_int_equal(o.notify, 0);
    assert_null(o.orcpt);
    addr_rcpt_opts_free(&o);

    assert_int_equal(rcpt_opts("NOTIFY=NEVER", 0, &o, &err), -1);
    assert_int_equal(o.reply, 555);
    free(err);
    assert_int_equal(rcpt_opts("SIZE=1", EXT_ALL, &o, &err), -1);
    assert_int_equal(o.reply, 555);
    free(err);
    assert_int_equal(rcpt_opts("NOTIFY=NEVER,DELAY", ADDR_EXT_DSN, &o, &err), -1);
    assert_int_equal(o.reply, 501);
    assert_string_equal(o.dsn, "5.5.4");
    free(err);
    assert_int_equal(rcpt_opts("ORCPT=rfc822;a NOTIFY=BAD", ADDR_EXT_DSN, &o, &err), -1);
    assert_null(o.orcpt);
    free(err);
}

/* ---- whole commands ------------------------------------------------------ */

static void test_cmd_parse(void **state)
{
    (void)state;
    static const struct {
        bool mail;
        const char *arg;
        int flags;
        unsigned ext;
        int reply; /* 0 = success */
        const char *dsn;
    } cases[] = {
        {true, "<u@x.org> SIZE=10 BODY=8BITMIME", 0, EXT_ALL, 0, NULL},
        {true, "<>", S, EXT_ALL, 0, NULL},
        {true, "<j\xc3\xb6rg@x.org> SMTPUTF8", 0, EXT_ALL, 0, NULL},
        {true, "<u@x.org> SMTPUTF8 ENVID=\xc3\xb6", 0, EXT_ALL, 501, "5.5.4"},
        {true, "<j\xc3\xb6rg@x.org>", 0, EXT_ALL, 553, "5.6.7"},
        {true, "<j\xc3\xb6rg@x.org> SMTPUTF8", U, EXT_ALL & ~ADDR_EXT_SMTPUTF8, 553, "5.6.7"},
        {true, "<u@x.org> FOO=1", 0, EXT_ALL, 555, "5.5.4"},
        {true, "<u@x.org> SIZE=1 size=2", 0, EXT_ALL, 501, "5.5.4"},
        {true, "<u@x.org> SIZE=x", 0, EXT_ALL, 501, "5.5.4"},
        {true, "<u@x.org", 0, EXT_ALL, 501, "5.1.7"},
        {true, "u@x.org", S, EXT_ALL, 501, "5.5.4"},
        {false, "<u@x.org> NOTIFY=NEVER", S, ADDR_EXT_DSN, 0, NULL},
        {false, "<u@x.org> NOTIFY=NEVER", S, 0, 555, "5.5.4"},
        {false, "<>", 0, EXT_ALL, 501, "5.1.3"},
        {false, "<>", M, EXT_ALL, 501, "5.1.3"},
        {false, "<j\xc3\xb6rg@x.org>", U, EXT_ALL, 0, NULL},
        {false, "<j\xc3\xb6rg@x.org>", 0, EXT_ALL, 553, "5.6.7"},
        {false, "<u@x.org> A=", 0, EXT_ALL, 501, "5.5.4"},
    };
    for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
        size_t n = strlen(cases[i].arg);
        char *buf = exact(cases[i].arg, n);
        struct addr_path p;
        struct addr_mail_opts mo;
        struct addr_rcpt_opts ro;
        int reply = 0;
        const char *dsn = NULL;
        char *err = NULL;
        int rc = cases[i].mail ? addr_mail_parse(buf, n, cases[i].flags, cases[i].ext, &p, &mo,
                                                 &reply, &dsn, &err)
                               : addr_rcpt_parse(buf, n, cases[i].flags, cases[i].ext, &p, &ro,
                                                 &reply, &dsn, &err);
        if ((rc == 0) != (cases[i].reply == 0) || reply != cases[i].reply)
            print_error("cmd [%s]: rc %d reply %d %s\n", cases[i].arg, rc, reply, err ? err : "");
        if (cases[i].reply == 0) {
            assert_int_equal(rc, 0);
            assert_null(err);
            addr_path_free(&p);
            if (cases[i].mail)
                addr_mail_opts_free(&mo);
            else
                addr_rcpt_opts_free(&ro);
        } else {
            assert_int_equal(rc, -1);
            assert_int_equal(reply, cases[i].reply);
            assert_string_equal(dsn, cases[i].dsn);
            assert_non_null(err);
            free(err);
        }
        free(buf);
    }
}

/* ---- quoting ------------------------------------------------------------- */

static void test_quote_roundtrip(void **state)
{
    (void)state;
    static const struct {
        const char *internal;
        bool utf8;
        const char *external; /* NULL = cannot be quoted */
    } cases[] = {
        {"user", false, "user"},
        {"first.last", false, "first.last"},
        {"john doe", false, "\"john doe\""},
        {"a\"b", false, "\"a\\\"b\""},
        {"a\\b", false, "\"a\\\\b\""},
        {"", false, "\"\""},
        {".a", false, "\".a\""},
        {"a.", false, "\"a.\""},
        {"a..b", false, "\"a..b\""},
        {"a@b", false, "\"a@b\""},
        {"a(b)", false, "\"a(b)\""},
        {"j\xc3\xb6rg", true, "j\xc3\xb6rg"},
        {"j\xc3\xb6 rg", true, "\"j\xc3\xb6 rg\""},
        {"j\xc3\xb6rg", false, NULL},
        {"j\xc3", true, NULL},
        {"a\x01", false, NULL},
        {"a\tb", false, NULL},
        {"a\x7f", false, NULL},
    };
    for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
        str_t *q = str_new(16), *u = str_new(16);
        const char *in = cases[i].internal;
        int rc = addr_quote_local(q, in, strlen(in), cases[i].utf8);
        if (cases[i].external == NULL) {
            assert_int_equal(rc, -1);
            assert_int_equal(str_len(q), 0);
        } else {
            assert_int_equal(rc, 0);
            assert_string_equal(str_c(q), cases[i].external);
            assert_int_equal(addr_unquote_local(u, str_c(q), str_len(q)), 0);
            assert_string_equal(str_c(u), in);
        }
        str_free(&q);
        str_free(&u);
    }
}

static void test_unquote(void **state)
{
    (void)state;
    static const struct {
        const char *external;
        const char *internal; /* NULL = malformed */
    } cases[] = {
        {"user", "user"}, {"\"user\"", "user"}, {"\"a\\b\"", "ab"}, {"\"a b\"", "a b"},
        {"\"\"", ""},     {"\"abc", NULL},      {"a b", NULL},      {"", NULL},
        {"\"a\"b", NULL}, {"a.\"b\"", NULL},    {".a", NULL},       {"\"a\\", NULL},
    };
    for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
        str_t *u = str_new(16);
        size_t n = strlen(cases[i].external);
        char *buf = exact(cases[i].external, n);
        int rc = addr_unquote_local(u, buf, n);
        if (cases[i].internal == NULL) {
            assert_int_equal(rc, -1);
            assert_int_equal(str_len(u), 0);
        } else {
            assert_int_equal(rc, 0);
            assert_string_equal(str_c(u), cases[i].internal);
        }
        free(buf);
        str_free(&u);
    }
}

/* ---- split, lower, extensions, routing ---------------------------------- */

static void test_split_lower(void **state)
{
    (void)state;
    char *l, *d;
    addr_split("user@x.org", &l, &d);
    assert_string_equal(l, "user");
    assert_string_equal(d, "x.org");
    free(l);
    free(d);
    addr_split("\"a@b\"@x.org", &l, &d);
    assert_string_equal(l, "\"a@b\"");
    assert_string_equal(d, "x.org");
    free(l);
    free(d);
    addr_split("postmaster", &l, &d);
    assert_string_equal(l, "postmaster");
    assert_string_equal(d, "");
    free(l);
    free(d);
    addr_split("\"e@X\"", &l, &d);
    assert_string_equal(l, "\"e@X\"");
    assert_string_equal(d, "");
    free(l);
    free(d);
    addr_split("", &l, &d);
    assert_string_equal(l, "");
    assert_string_equal(d, "");
    free(l);
    free(d);

    char a1[] = "User.Name@Example.COM";
    addr_domain_lower(a1);
    assert_string_equal(a1, "User.Name@example.com");
    char a2[] = "\"A@B\"@X.ORG";
    addr_domain_lower(a2);
    assert_string_equal(a2, "\"A@B\"@x.org");
    char a4[] = "\"E@X\"";
    addr_domain_lower(a4);
    assert_string_equal(a4, "\"E@X\"");
    char a3[] = "NoDomain";
    addr_domain_lower(a3);
    assert_string_equal(a3, "NoDomain");
}

static void test_strip_extension(void **state)
{
    (void)state;
    static const struct {
        const char *local, *delims;
        const char *user, *ext; /* ext NULL = no split */
        char delim;
    } cases[] = {
        {"user+tag", "+", "user", "tag", '+'},
        {"user+tag", "-", "user+tag", NULL, 0},
        {"user+tag", "", "user+tag", NULL, 0},
        {"user+tag", NULL, "user+tag", NULL, 0},
        {"user-tag+x", "+-", "user", "tag+x", '-'},
        {"user+tag-x", "+-", "user", "tag-x", '+'},
        {"a+b+c", "+", "a", "b+c", '+'},
        {"user+", "+", "user", "", '+'},
        {"+tag", "+", "+tag", NULL, 0},
        {"user", "+", "user", NULL, 0},
        {"", "+", "", NULL, 0},
        {"owner-list", "-", "owner-list", NULL, 0},
        {"list-request", "-", "list-request", NULL, 0},
        {"Owner-List", "-", "Owner-List", NULL, 0},
        {"joe-list", "-", "joe", "list", '-'},
        {"owner+x", "+", "owner", "x", '+'},
    };
    for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
        char *user = NULL, *ext = (char *)"unset";
        char delim = 0;
        bool split = addr_strip_extension(cases[i].local, cases[i].delims, &user, &ext, &delim);
        assert_int_equal(split, cases[i].ext != NULL);
        assert_string_equal(user, cases[i].user);
        if (cases[i].ext == NULL) {
            assert_null(ext);
        } else {
            assert_string_equal(ext, cases[i].ext);
            assert_int_equal(delim, cases[i].delim);
        }
        free(user);
        free(ext);
    }
}

static void test_routing(void **state)
{
    (void)state;
    assert_int_equal(addr_local_routing("user%other", 10), ADDR_ROUTE_PERCENT);
    assert_int_equal(addr_local_routing("other!user", 10), ADDR_ROUTE_BANG);
    assert_int_equal(addr_local_routing("user@other", 10), ADDR_ROUTE_AT);
    assert_int_equal(addr_local_routing("plain.user+x", 12), 0);
    /* the length bounds the scan */
    assert_int_equal(addr_local_routing("ab%", 2), 0);
}

/* ---- FQDN and domain matching -------------------------------------------- */

static void test_fqdn(void **state)
{
    (void)state;
    static const struct {
        const char *d;
        bool fqdn;
    } cases[] = {
        {"example.com", true},
        {"mail.example.com", true},
        {"EXAMPLE.COM", true},
        {"b\xc3\xbc"
         "cher.de",
         true},
        {"localhost", false},
        {"", false},
        {"[192.0.2.1]", true},
        {"[IPv6:::1]", true},
        {"[1.2.3]", false},
        {"a..b", false},
        {".example.com", false},
        {"example.com.", false},
        {"ex_ample.com", false},
        {"-a.com", false},
        {"[192.0.2.1", false},
        {"a.b c", false},
    };
    for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
        if (addr_is_fqdn(cases[i].d) != cases[i].fqdn)
            print_error("fqdn [%s]\n", cases[i].d);
        assert_int_equal(addr_is_fqdn(cases[i].d), cases[i].fqdn);
    }
}

static void test_domain_match(void **state)
{
    (void)state;
    static const struct {
        const char *domain, *pattern;
        bool parent, match;
    } cases[] = {
        {"example.com", "example.com", false, true},
        {"Example.COM", "example.com", false, true},
        {"example.com", "EXAMPLE.com", true, true},
        {"sub.example.com", "example.com", false, false},
        {"sub.example.com", "example.com", true, true},
        {"a.b.example.com", "example.com", true, true},
        {"badexample.com", "example.com", true, false},
        {"sub.example.com", ".example.com", false, true},
        {"a.sub.example.com", ".example.com", false, true},
        {"example.com", ".example.com", false, false},
        {"example.com", ".example.com", true, false},
        {"badexample.com", ".example.com", false, false},
        {"example.com", "", true, false},
        {"", "example.com", true, false},
        {"com", "example.com", true, false},
        {"[192.0.2.1]", "[192.0.2.1]", true, true},
    };
    for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
        bool m = addr_domain_match(cases[i].domain, cases[i].pattern, cases[i].parent);
        if (m != cases[i].match)
            print_error("match [%s] [%s] %d\n", cases[i].domain, cases[i].pattern, cases[i].parent);
        assert_int_equal(m, cases[i].match);
    }
    const char *list = "a.org, .b.org  c.net,\n\t!x.c.net hash:/etc/tern/relay /etc/file";
    assert_true(addr_domain_match_list("a.org", list, false));
    assert_true(addr_domain_match_list("A.ORG", list, false));
    assert_false(addr_domain_match_list("s.a.org", list, false));
    assert_true(addr_domain_match_list("s.a.org", list, true));
    assert_true(addr_domain_match_list("s.b.org", list, false));
    assert_false(addr_domain_match_list("b.org", list, false));
    assert_true(addr_domain_match_list("c.net", list, false));
    assert_true(addr_domain_match_list("y.c.net", list, true));
    /* first match wins: "c.net" (with subdomains) is before "!x.c.net" */
    assert_true(addr_domain_match_list("x.c.net", list, true));
    assert_false(addr_domain_match_list("x.c.net", "!x.c.net c.net", true));
    assert_true(addr_domain_match_list("y.c.net", "!x.c.net c.net", true));
    assert_false(addr_domain_match_list("etc", list, true));
    assert_false(addr_domain_match_list("relay", list, true));
    assert_false(addr_domain_match_list("a.org", "", true));
    assert_false(addr_domain_match_list("a.org", " , ! ,", true));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_path_table),
        cmocka_unit_test(test_path_reparse),
        cmocka_unit_test(test_path_flags),
        cmocka_unit_test(test_path_len_bound),
        cmocka_unit_test(test_limits_local),
        cmocka_unit_test(test_limits_domain),
        cmocka_unit_test(test_limits_path),
        cmocka_unit_test(test_params_table),
        cmocka_unit_test(test_params_limits),
        cmocka_unit_test(test_params_find),
        cmocka_unit_test(test_xtext),
        cmocka_unit_test(test_param_size),
        cmocka_unit_test(test_param_body_ret),
        cmocka_unit_test(test_param_notify),
        cmocka_unit_test(test_param_envid_orcpt_auth),
        cmocka_unit_test(test_mail_opts),
        cmocka_unit_test(test_rcpt_opts),
        cmocka_unit_test(test_cmd_parse),
        cmocka_unit_test(test_quote_roundtrip),
        cmocka_unit_test(test_unquote),
        cmocka_unit_test(test_split_lower),
        cmocka_unit_test(test_strip_extension),
        cmocka_unit_test(test_routing),
        cmocka_unit_test(test_fqdn),
        cmocka_unit_test(test_domain_match),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
