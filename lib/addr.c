/*
 * addr.c - the RFC 5321 path parser for MAIL FROM / RCPT TO arguments, and
 * the element checks it is built from (local part, domain, address
 * literal, UTF-8).  See addr.h for the promises: bounded, never reads
 * past len, strict grammar with Postfix's documented leniencies only.
 */
#include "addr.h"
#include "mem.h"
#include "str.h"

#include <arpa/inet.h>
#include <netinet/in.h>

/* One parse in progress: the input, a cursor and where errors go. */
struct scan {
    const unsigned char *s;
    size_t len;
    size_t pos;
    int flags;
    int reply;
    const char *dsn;
    char *error; /* malloc'ed reason, first error wins */
};

static bool is_alnum(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* RFC 5322 atext (ASCII part). */
static bool is_atext(unsigned char c)
{
    return is_alnum(c) || (c != 0 && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

/* RFC 5321 qtextSMTP (ASCII part). */
static bool is_qtext(unsigned char c)
{
    return c == 32 || c == 33 || (c >= 35 && c <= 91) || (c >= 93 && c <= 126);
}

size_t addr_utf8_seq(const unsigned char *s, size_t avail)
{
    if (avail == 0)
        return 0;
    unsigned char c = s[0];
    size_t n;
    unsigned char lo = 0x80, hi = 0xbf; /* range of the second byte */
    if (c >= 0xc2 && c <= 0xdf)
        n = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        if (c == 0xe0)
            lo = 0xa0; /* no overlongs */
        else if (c == 0xed)
            hi = 0x9f; /* no surrogates */
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        if (c == 0xf0)
            lo = 0x90;
        else if (c == 0xf4)
            hi = 0x8f; /* nothing above U+10FFFF */
    } else
        return 0;
    if (avail < n || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if (s[i] < 0x80 || s[i] > 0xbf)
            return 0;
    return n;
}

bool addr_utf8_valid(const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < len;) {
        if (u[i] < 0x80) {
            i++;
            continue;
        }
        size_t n = addr_utf8_seq(u + i, len - i);
        if (n == 0)
            return false;
        i += n;
    }
    return true;
}

static int scan_fail(struct scan *sc, int reply, const char *dsn, const char *fmt, ...)
    TERN_PRINTF(4, 5);
static int scan_fail(struct scan *sc, int reply, const char *dsn, const char *fmt, ...)
{
    if (sc->error != NULL)
        return -1;
    str_t *e = str_new(64);
    va_list ap;
    va_start(ap, fmt);
    str_vappendf(e, fmt, ap);
    va_end(ap);
    sc->error = str_steal(&e);
    sc->reply = reply;
    sc->dsn = dsn;
    return -1;
}

/* The syntax error status for the kind of path being parsed. */
static const char *scan_dsn(const struct scan *sc)
{
    return (sc->flags & ADDR_F_MAIL) ? "5.1.7" : "5.1.3";
}

static int scan_bad(struct scan *sc, const char *what)
{
    return scan_fail(sc, 501, scan_dsn(sc), "Bad %s address syntax: %s",
                     (sc->flags & ADDR_F_MAIL) ? "sender" : "recipient", what);
}

/* Describe the byte at the cursor for an error message. */
static int scan_bad_char(struct scan *sc, const char *where)
{
    char what[96];
    if (sc->pos >= sc->len)
        snprintf(what, sizeof(what), "unexpected end in %s", where);
    else if (sc->s[sc->pos] >= 0x21 && sc->s[sc->pos] < 0x7f)
        snprintf(what, sizeof(what), "unexpected '%c' in %s", sc->s[sc->pos], where);
    else
        snprintf(what, sizeof(what), "unexpected character 0x%02x in %s", sc->s[sc->pos], where);
    return scan_bad(sc, what);
}

/* Accept one UTF-8 sequence at the cursor (8-bit only with SMTPUTF8). */
static int scan_utf8(struct scan *sc, const char *where)
{
    if (!(sc->flags & ADDR_F_SMTPUTF8))
        return scan_fail(sc, 553, "5.6.7",
                         "Must declare SMTPUTF8 to send unicode address (8-bit %s)", where);
    size_t n = addr_utf8_seq(sc->s + sc->pos, sc->len - sc->pos);
    if (n == 0) {
        char what[80];
        snprintf(what, sizeof(what), "malformed UTF-8 in %s", where);
        return scan_bad(sc, what);
    }
    sc->pos += n;
    return 0;
}

/* Dot-string = Atom *("." Atom); appends it to local unless NULL. */
static int scan_dot_string(struct scan *sc, str_t *local)
{
    size_t start = sc->pos;
    for (;;) {
        size_t atom = sc->pos;
        while (sc->pos < sc->len) {
            unsigned char c = sc->s[sc->pos];
            if (is_atext(c))
                sc->pos++;
            else if (c >= 0x80) {
                if (scan_utf8(sc, "local part") < 0)
                    return -1;
            } else
                break;
        }
        if (sc->pos == atom)
            return scan_bad_char(sc, "local part");
        if (sc->pos < sc->len && sc->s[sc->pos] == '.') {
            sc->pos++;
            continue;
        }
        break;
    }
    if (local != NULL)
        str_append(local, sc->s + start, sc->pos - start);
    return 0;
}

/* Quoted-string with quoted-pairs; appends the unquoted content. */
static int scan_quoted(struct scan *sc, str_t *local)
{
    sc->pos++; /* opening quote */
    while (sc->pos < sc->len) {
        unsigned char c = sc->s[sc->pos];
        if (c == '"') {
            sc->pos++;
            return 0;
        }
        if (c == '\\') {
            if (sc->pos + 1 >= sc->len || sc->s[sc->pos + 1] < 32 || sc->s[sc->pos + 1] > 126) {
                sc->pos++;
                return scan_bad_char(sc, "quoted pair");
            }
            str_appendc(local, (char)sc->s[sc->pos + 1]);
            sc->pos += 2;
        } else if (is_qtext(c)) {
            str_appendc(local, (char)c);
            sc->pos++;
        } else if (c >= 0x80) {
            size_t at = sc->pos;
            if (scan_utf8(sc, "quoted local part") < 0)
                return -1;
            str_append(local, sc->s + at, sc->pos - at);
        } else
            return scan_bad_char(sc, "quoted local part");
    }
    return scan_bad(sc, "unterminated quoted string");
}

static int scan_local(struct scan *sc, str_t *local)
{
    size_t start = sc->pos;
    int rc;
    if (sc->pos < sc->len && sc->s[sc->pos] == '"')
        rc = scan_quoted(sc, local);
    else
        rc = scan_dot_string(sc, local);
    if (rc < 0)
        return -1;
    if (sc->pos - start > ADDR_LOCAL_MAX)
        return scan_bad(sc, "local part longer than 64 octets");
    return 0;
}

/* One sub-domain: Let-dig [Ldh-str], U-label characters with SMTPUTF8. */
static int scan_label(struct scan *sc, bool *utf8)
{
    size_t start = sc->pos;
    bool last_hyphen = false;
    while (sc->pos < sc->len) {
        unsigned char c = sc->s[sc->pos];
        if (is_alnum(c) || (c == '-' && sc->pos > start)) {
            last_hyphen = (c == '-');
            sc->pos++;
        } else if (c >= 0x80) {
            if (scan_utf8(sc, "domain") < 0)
                return -1;
            *utf8 = true;
            last_hyphen = false;
        } else
            break;
    }
    if (sc->pos == start)
        return scan_bad_char(sc, "domain");
    if (last_hyphen)
        return scan_bad(sc, "domain label ends with '-'");
    if (sc->pos - start > ADDR_LABEL_MAX)
        return scan_bad(sc, "domain label longer than 63 octets");
    return 0;
}

static int scan_hostname(struct scan *sc, bool *utf8)
{
    size_t start = sc->pos;
    for (;;) {
        if (scan_label(sc, utf8) < 0)
            return -1;
        if (sc->pos < sc->len && sc->s[sc->pos] == '.') {
            sc->pos++;
            continue;
        }
        break;
    }
    if (sc->pos - start > ADDR_DOMAIN_MAX)
        return scan_bad(sc, "domain longer than 255 octets");
    return 0;
}

/* Check the text between the brackets of an address literal. */
static const char *literal_check(const unsigned char *s, size_t len)
{
    char buf[64];
    int af = AF_INET;
    if (len >= 5 && strncasecmp((const char *)s, "IPv6:", 5) == 0) {
        af = AF_INET6;
        s += 5;
        len -= 5;
    } else if (memchr(s, ':', len) != NULL)
        return "unsupported address literal tag";
    if (len == 0 || len >= sizeof(buf))
        return "bad address literal";
    memcpy(buf, s, len);
    buf[len] = '\0';
    unsigned char bin[sizeof(struct in6_addr)];
    if (inet_pton(af, buf, bin) != 1)
        return af == AF_INET ? "bad IPv4 address literal" : "bad IPv6 address literal";
    return NULL;
}

/* "[" dcontent... "]", the closing bracket searched within a bound. */
static int scan_literal(struct scan *sc)
{
    size_t start = ++sc->pos;
    while (sc->pos < sc->len && sc->s[sc->pos] != ']') {
        unsigned char c = sc->s[sc->pos];
        if (c < 33 || c > 126 || c == '[' || c == '\\')
            return scan_bad_char(sc, "address literal");
        if (sc->pos - start > 64)
            return scan_bad(sc, "address literal too long");
        sc->pos++;
    }
    if (sc->pos >= sc->len)
        return scan_bad(sc, "unterminated address literal");
    const char *why = literal_check(sc->s + start, sc->pos - start);
    if (why != NULL)
        return scan_bad(sc, why);
    sc->pos++;
    return 0;
}

static int scan_domain(struct scan *sc, bool *literal, bool *utf8)
{
    if (sc->pos < sc->len && sc->s[sc->pos] == '[') {
        *literal = true;
        return scan_literal(sc);
    }
    return scan_hostname(sc, utf8);
}

/* A-d-l ":" before the mailbox: checked, then dropped. */
static int scan_route(struct scan *sc)
{
    bool lit = false, utf8 = false;
    for (;;) {
        sc->pos++; /* '@' */
        if (scan_domain(sc, &lit, &utf8) < 0)
            return -1;
        if (sc->pos < sc->len && sc->s[sc->pos] == ',') {
            sc->pos++;
            if (sc->pos >= sc->len || sc->s[sc->pos] != '@')
                return scan_bad_char(sc, "source route");
            continue;
        }
        if (sc->pos < sc->len && sc->s[sc->pos] == ':') {
            sc->pos++;
            return 0;
        }
        return scan_bad_char(sc, "source route");
    }
}

static bool is_postmaster(const str_t *local)
{
    return str_len(local) == 10 && strncasecmp(str_c(local), "postmaster", 10) == 0;
}

/* Mailbox (with optional route) into out; the cursor ends after it. */
static int scan_mailbox(struct scan *sc, struct addr_path *out)
{
    size_t start = sc->pos;
    if (sc->pos < sc->len && sc->s[sc->pos] == '@') {
        if (scan_route(sc) < 0)
            return -1;
        out->source_route = true;
    }
    str_t *local = str_new(32);
    if (scan_local(sc, local) < 0) {
        str_free(&local);
        return -1;
    }
    size_t dom = sc->pos;
    if (sc->pos < sc->len && sc->s[sc->pos] == '@') {
        dom = ++sc->pos;
        if (scan_domain(sc, &out->literal, &out->utf8) < 0) {
            str_free(&local);
            return -1;
        }
    } else if (str_len(local) == 0) {
        str_free(&local);
        return scan_bad(sc, "empty address");
    } else if ((sc->flags & ADDR_F_STRICT) &&
               ((sc->flags & ADDR_F_MAIL) || !is_postmaster(local))) {
        str_free(&local);
        return scan_bad(sc, "missing domain");
    }
    out->domain = xstrndup((const char *)sc->s + dom, sc->pos - dom);
    if (sc->pos - start + 2 > ADDR_PATH_MAX) {
        str_free(&local);
        return scan_bad(sc, "path longer than 256 octets");
    }
    out->local = str_steal(&local);
    return 0;
}

/* Build out->addr, quoting the local part only when needed. */
static void path_canonical(struct addr_path *out)
{
    size_t llen = strlen(out->local);
    str_t *a = str_new(llen + strlen(out->domain) + 4);
    bool utf8 = false;
    for (size_t i = 0; i < llen; i++)
        if ((unsigned char)out->local[i] >= 0x80)
            utf8 = true;
    if (utf8)
        out->utf8 = true;
    /* The parser only lets through what a Quoted-string can carry. */
    if (addr_quote_local(a, out->local, llen, true) < 0)
        abort();
    out->quoted = str_len(a) > 0 && str_c(a)[0] == '"';
    if (out->domain[0] != '\0') {
        str_appendc(a, '@');
        str_appendz(a, out->domain);
    }
    out->addr = str_steal(&a);
}

static void skip_spaces(struct scan *sc)
{
    while (sc->pos < sc->len && (sc->s[sc->pos] == ' ' || sc->s[sc->pos] == '\t'))
        sc->pos++;
}

static int syntax_fail(struct scan *sc, const char *why)
{
    return scan_fail(sc, 501, "5.5.4", "Syntax: %s:<address>%s%s",
                     (sc->flags & ADDR_F_MAIL) ? "MAIL FROM" : "RCPT TO", *why ? " " : "", why);
}

/* The path itself, bracketed or (leniently) bare. */
static int scan_path(struct scan *sc, struct addr_path *out)
{
    bool strict = (sc->flags & ADDR_F_STRICT) != 0;
    if (sc->pos >= sc->len)
        return syntax_fail(sc, "(missing address)");
    if (sc->s[sc->pos] != '<') {
        if (strict)
            return syntax_fail(sc, "(missing <>)");
        return scan_mailbox(sc, out);
    }
    sc->pos++;
    if (sc->pos < sc->len && sc->s[sc->pos] == '>') {
        sc->pos++;
        if (!(sc->flags & ADDR_F_MAIL))
            return scan_bad(sc, "null recipient <>");
        out->null_sender = true;
        out->local = xstrdup("");
        out->domain = xstrdup("");
        return 0;
    }
    if (scan_mailbox(sc, out) < 0)
        return -1;
    if (sc->pos >= sc->len || sc->s[sc->pos] != '>')
        return scan_bad_char(sc, "address (expected '>')");
    sc->pos++;
    return 0;
}

/* After the path: nothing, or SP and parameters. */
static int scan_tail(struct scan *sc, struct addr_path *out)
{
    if (sc->pos >= sc->len)
        return 0;
    unsigned char c = sc->s[sc->pos];
    if (c != ' ' && !(c == '\t' && !(sc->flags & ADDR_F_STRICT)))
        return syntax_fail(sc, "(garbage after address)");
    if (sc->flags & ADDR_F_STRICT) {
        sc->pos++;
        if (sc->pos >= sc->len || sc->s[sc->pos] == ' ')
            return syntax_fail(sc, "(stray space)");
    } else
        skip_spaces(sc);
    size_t end = sc->len;
    if (!(sc->flags & ADDR_F_STRICT))
        while (end > sc->pos && (sc->s[end - 1] == ' ' || sc->s[end - 1] == '\t'))
            end--;
    out->params = (const char *)sc->s + sc->pos;
    out->params_len = end - sc->pos;
    return 0;
}

void addr_path_free(struct addr_path *p)
{
    xfree(p->addr);
    xfree(p->local);
    xfree(p->domain);
}

int addr_parse_path(const char *arg, size_t len, int flags, struct addr_path *out, char **error_r)
{
    struct scan sc = {.s = (const unsigned char *)arg, .len = len, .flags = flags};
    *out = (struct addr_path){0};
    if (error_r != NULL)
        *error_r = NULL;
    if (arg == NULL)
        sc.len = 0;
    if (!(flags & ADDR_F_STRICT))
        skip_spaces(&sc);
    if (scan_path(&sc, out) == 0 && scan_tail(&sc, out) == 0) {
        if (!out->null_sender)
            path_canonical(out);
        else
            out->addr = xstrdup("");
        return 0;
    }
    addr_path_free(out);
    *out = (struct addr_path){.reply = sc.reply, .dsn = sc.dsn};
    if (error_r != NULL)
        *error_r = sc.error;
    else
        free(sc.error);
    return -1;
}

/* ---- element checks on their own -------------------------------------- */

static int scan_result(struct scan *sc, char **error_r)
{
    if (sc->error == NULL && sc->pos != sc->len)
        scan_bad_char(sc, "domain");
    if (sc->error == NULL)
        return 0;
    if (error_r != NULL)
        *error_r = sc->error;
    else
        free(sc->error);
    return -1;
}

int addr_domain_valid(const char *s, size_t len, int flags, char **error_r)
{
    struct scan sc = {.s = (const unsigned char *)s, .len = len, .flags = flags};
    bool lit = false, utf8 = false;
    if (error_r != NULL)
        *error_r = NULL;
    scan_domain(&sc, &lit, &utf8);
    return scan_result(&sc, error_r);
}

int addr_literal_valid(const char *s, size_t len, char **error_r)
{
    struct scan sc = {.s = (const unsigned char *)s, .len = len};
    if (error_r != NULL)
        *error_r = NULL;
    if (len == 0 || s[0] != '[')
        scan_bad(&sc, "not an address literal");
    else
        scan_literal(&sc);
    return scan_result(&sc, error_r);
}

bool addr_is_dot_string(const char *s, size_t len, bool utf8)
{
    struct scan sc = {
        .s = (const unsigned char *)s, .len = len, .flags = utf8 ? ADDR_F_SMTPUTF8 : 0};
    bool ok = scan_dot_string(&sc, NULL) == 0 && sc.pos == len;
    free(sc.error);
    return ok;
}

int addr_unquote_local(str_t *dst, const char *local, size_t len)
{
    struct scan sc = {.s = (const unsigned char *)local, .len = len, .flags = ADDR_F_SMTPUTF8};
    str_t *tmp = str_new(len);
    int rc;
    if (len > 0 && local[0] == '"')
        rc = scan_quoted(&sc, tmp);
    else
        rc = scan_dot_string(&sc, tmp);
    if (rc == 0 && sc.pos == len)
        rc = str_append(dst, str_c(tmp), str_len(tmp));
    else
        rc = -1;
    str_free(&tmp);
    free(sc.error);
    return rc;
}
