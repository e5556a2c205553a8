/*
 * fuzz_addr.c - libFuzzer target for lib/addr*.c.
 *
 * The first input byte picks the parse flags (MAIL/RCPT, SMTPUTF8, strict)
 * and the advertised extensions; the rest goes, in an exactly-sized
 * unterminated buffer, into addr_parse_path, the ESMTP parameter parser,
 * xtext and the whole-command helpers addr_mail_parse / addr_rcpt_parse.  Besides what ASan/UBSan
 * catch, it checks invariants and traps when one breaks: a parsed address is within the RFC limits,
 * its canonical form parses again to itself, quoting round-trips, and the helpers accept whatever
 * the parser produced.
 */
#include "sys.h"
#include "addr.h"
#include "mem.h"
#include "str.h"

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            __builtin_trap();                                                                      \
    } while (0)

static char *exact(const void *data, size_t n)
{
    char *b = xmalloc(n > 0 ? n : 1);
    if (n > 0)
        memcpy(b, data, n);
    return b;
}

/* The canonical address parses again, with the same flags, to itself. */
static void check_reparse(const struct addr_path *p, int flags)
{
    str_t *s = str_new(strlen(p->addr) + 2);
    str_appendc(s, '<');
    str_appendz(s, p->addr);
    str_appendc(s, '>');
    char *buf = exact(str_c(s), str_len(s));
    struct addr_path q;
    char *err = NULL;
    CHECK(addr_parse_path(buf, str_len(s), flags, &q, &err) == 0);
    CHECK(strcmp(q.addr, p->addr) == 0);
    CHECK(strcmp(q.local, p->local) == 0);
    CHECK(strcmp(q.domain, p->domain) == 0);
    CHECK(!q.source_route && q.params_len == 0);
    addr_path_free(&q);
    free(buf);
    str_free(&s);
}

/* Quoting, splitting and the policy helpers on a parsed address. */
static void check_helpers(const struct addr_path *p)
{
    size_t llen = strlen(p->local);
    str_t *q = str_new(llen + 2), *u = str_new(llen);
    CHECK(addr_quote_local(q, p->local, llen, true) == 0);
    CHECK(addr_unquote_local(u, str_c(q), str_len(q)) == 0);
    CHECK(strcmp(str_c(u), p->local) == 0);
    str_free(&q);
    str_free(&u);

    char *local, *domain;
    addr_split(p->addr, &local, &domain);
    CHECK(strcmp(domain, p->domain) == 0);
    free(local);
    free(domain);

    char *lower = xstrdup(p->addr);
    addr_domain_lower(lower);
    CHECK(strlen(lower) == strlen(p->addr));
    free(lower);

    char *user, *ext;
    if (addr_strip_extension(p->local, "+-", &user, &ext, NULL))
        CHECK(strlen(user) + 1 + strlen(ext) == llen);
    free(user);
    free(ext);

    if (p->domain[0] != '\0') {
        CHECK(strlen(p->domain) <= ADDR_DOMAIN_MAX);
        CHECK(addr_domain_valid(p->domain, strlen(p->domain), ADDR_F_SMTPUTF8, NULL) == 0);
        (void)addr_is_fqdn(p->domain);
        CHECK(addr_domain_match(p->domain, p->domain, false));
        (void)addr_domain_match_list(p->domain, "example.com, .example.org !x.net", true);
    }
    (void)addr_path_routing(p);
}

static void fuzz_params(const char *s, size_t n, int flags, unsigned ext)
{
    char *buf = exact(s, n);
    struct addr_params ps;
    char *err = NULL;
    if (addr_esmtp_params_parse(buf, n, flags, &ps, &err) == 0) {
        CHECK(ps.n <= ADDR_PARAMS_MAX);
        struct addr_mail_opts mo;
        struct addr_rcpt_opts ro;
        char *e2 = NULL;
        if (addr_mail_opts_get(&ps, ext, &mo, &e2) == 0)
            addr_mail_opts_free(&mo);
        else
            CHECK(e2 != NULL && (mo.reply == 501 || mo.reply == 555));
        free(e2);
        e2 = NULL;
        if (addr_rcpt_opts_get(&ps, ext, &ro, &e2) == 0)
            addr_rcpt_opts_free(&ro);
        else
            CHECK(e2 != NULL && (ro.reply == 501 || ro.reply == 555));
        free(e2);
        addr_esmtp_params_free(&ps);
    } else {
        CHECK(err != NULL && ps.reply == 501);
        free(err);
    }
    free(buf);
}

static void fuzz_path(const char *data, size_t n, int flags, unsigned ext)
{
    char *buf = exact(data, n);
    struct addr_path p;
    char *err = NULL;
    if (addr_parse_path(buf, n, flags, &p, &err) == 0) {
        CHECK(err == NULL);
        CHECK(strlen(p.addr) + 2 <= ADDR_PATH_MAX);
        CHECK(p.params_len == 0 || (p.params >= buf && p.params + p.params_len <= buf + n));
        CHECK(!p.null_sender || (flags & ADDR_F_MAIL));
        if (!(flags & ADDR_F_SMTPUTF8))
            CHECK(!p.utf8);
        if (!p.null_sender) {
            check_reparse(&p, flags);
            check_helpers(&p);
        }
        fuzz_params(p.params, p.params_len, flags, ext);
        addr_path_free(&p);
    } else {
        CHECK(err != NULL && p.addr == NULL && p.dsn != NULL);
        CHECK(p.reply == 501 || p.reply == 553);
        free(err);
    }
    free(buf);
}

static void fuzz_xtext(const char *data, size_t n)
{
    char *buf = exact(data, n);
    str_t *d = str_new(n);
    if (addr_xtext_decode(d, buf, n) == 0) {
        str_t *e = str_new(n), *d2 = str_new(n);
        addr_xtext_encode(e, str_c(d), str_len(d));
        CHECK(addr_xtext_decode(d2, str_c(e), str_len(e)) == 0);
        CHECK(str_len(d2) == str_len(d) && memcmp(str_c(d2), str_c(d), str_len(d)) == 0);
        str_free(&e);
        str_free(&d2);
    }
    str_free(&d);
    free(buf);
}

/* The whole-command helpers smtpd calls. */
static void fuzz_cmd(const char *data, size_t n, int flags, unsigned ext)
{
    char *buf = exact(data, n);
    struct addr_path p;
    int reply = 0;
    const char *dsn = NULL;
    char *err = NULL;
    int rc;
    if (flags & ADDR_F_MAIL) {
        struct addr_mail_opts o;
        rc = addr_mail_parse(buf, n, flags, ext, &p, &o, &reply, &dsn, &err);
        if (rc == 0) {
            CHECK(!p.utf8 || o.smtputf8);
            addr_mail_opts_free(&o);
        }
    } else {
        struct addr_rcpt_opts o;
        rc = addr_rcpt_parse(buf, n, flags, ext, &p, &o, &reply, &dsn, &err);
        if (rc == 0)
            addr_rcpt_opts_free(&o);
    }
    if (rc == 0) {
        CHECK(err == NULL);
        addr_path_free(&p);
    } else {
        CHECK(err != NULL && dsn != NULL);
        CHECK(reply == 501 || reply == 553 || reply == 555);
        free(err);
    }
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int flags = data[0] & (ADDR_F_MAIL | ADDR_F_SMTPUTF8 | ADDR_F_STRICT);
    unsigned ext = data[0] & 0x80 ? 0x3f : (unsigned)(data[0] >> 3) & 0x0f;
    const char *text = (const char *)data + 1;
    size_t n = size - 1;
    fuzz_path(text, n, flags, ext);
    fuzz_params(text, n, flags, ext);
    fuzz_xtext(text, n);
    fuzz_cmd(text, n, flags, ext);
    return 0;
}
