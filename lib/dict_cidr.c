/*
 * dict_cidr.c - cidr:NAME, Postfix's cidr_table(5) format: lines
 * "network/prefix result" (IPv4 or IPv6; a bare address means /32 or
 * /128, an IPv6 address may be written in [brackets]), "!pattern result"
 * for a negated match, and "if [!]pattern" ... "endif" blocks.  The first
 * rule that matches in file order wins.  A network with host bits set,
 * a bad address or prefix, or an unbalanced if/endif is an error naming
 * the file and line; the table then fails to open.  A negated pattern
 * only matches keys of its own address family.  Keys that are not IP
 * addresses are not found.
 */
#include "dict.h"
#include "log.h"
#include "mem.h"

#include <arpa/inet.h>
#include <ctype.h>

enum dict_cidr_kind { CIDR_RULE, CIDR_IF, CIDR_ENDIF };

struct dict_cidr_rule {
    enum dict_cidr_kind kind;
    int family;
    unsigned char addr[16];
    int prefix;
    bool negate;
    char *result;   /* CIDR_RULE */
    size_t skip_to; /* CIDR_IF: index after the matching endif */
};

struct dict_cidr {
    dict_t d;
    struct dict_cidr_rule *rules;
    size_t count, cap;
    size_t *stack; /* open ifs while parsing */
    size_t depth, stack_cap;
    int *if_lines;
    struct dict_errors errs;
};

/* Parse an address ("1.2.3.4", "::1", "[::1]") into family/bytes. */
static int dict_cidr_addr(const char *s, size_t len, int *family_r, unsigned char *addr)
{
    char buf[INET6_ADDRSTRLEN + 2];
    if (len >= 2 && s[0] == '[' && s[len - 1] == ']')
        s++, len -= 2;
    if (len == 0 || len >= sizeof(buf))
        return -1;
    memcpy(buf, s, len);
    buf[len] = '\0';
    if (inet_pton(AF_INET, buf, addr) == 1) {
        *family_r = AF_INET;
        return 0;
    }
    if (strchr(buf, ':') != NULL && inet_pton(AF_INET6, buf, addr) == 1) {
        *family_r = AF_INET6;
        return 0;
    }
    return -1;
}

/* Does addr (of the given family) fall inside the rule's network? */
static bool dict_cidr_in(const struct dict_cidr_rule *r, int family, const unsigned char *addr)
{
    if (family != r->family)
        return false;
    int full = r->prefix / 8, rest = r->prefix % 8;
    if (memcmp(addr, r->addr, (size_t)full) != 0)
        return false;
    if (rest == 0)
        return true;
    unsigned char mask = (unsigned char)(0xff << (8 - rest));
    return (addr[full] & mask) == r->addr[full];
}

static bool dict_cidr_match(const struct dict_cidr_rule *r, int family, const unsigned char *a)
{
    if (family != r->family)
        return false;
    return dict_cidr_in(r, family, a) != r->negate;
}

/* Parse "[!]address[/prefix]" of length len into r; error logged. */
static int dict_cidr_pattern(struct dict_cidr *x, int line, const char *s, size_t len,
                             struct dict_cidr_rule *r)
{
    if (len > 0 && s[0] == '!')
        r->negate = true, s++, len--;
    const char *slash = memchr(s, '/', len);
    size_t alen = slash ? (size_t)(slash - s) : len;
    if (dict_cidr_addr(s, alen, &r->family, r->addr) < 0) {
        dict_error_add(&x->errs, x->d.name, line, "bad network address \"%.*s\"", (int)alen, s);
        return -1;
    }
    int max = r->family == AF_INET ? 32 : 128;
    r->prefix = max;
    if (slash != NULL) {
        const char *p = slash + 1, *end = s + len;
        if (p == end || end - p > 3) {
            dict_error_add(&x->errs, x->d.name, line, "bad prefix length in \"%.*s\"", (int)len, s);
            return -1;
        }
        int v = 0;
        for (; p < end; p++) {
            if (!isdigit((unsigned char)*p)) {
                dict_error_add(&x->errs, x->d.name, line, "bad prefix length in \"%.*s\"", (int)len,
                               s);
                return -1;
            }
            v = v * 10 + (*p - '0');
        }
        if (v > max) {
            dict_error_add(&x->errs, x->d.name, line, "prefix length %d too large in \"%.*s\"", v,
                           (int)len, s);
            return -1;
        }
        r->prefix = v;
    }
    unsigned char net[16] = {0};
    memcpy(net, r->addr, (size_t)r->prefix / 8);
    if (r->prefix % 8)
        net[r->prefix / 8] = r->addr[r->prefix / 8] & (unsigned char)(0xff << (8 - r->prefix % 8));
    if (memcmp(net, r->addr, (size_t)max / 8) != 0) {
        char text[INET6_ADDRSTRLEN];
        inet_ntop(r->family, net, text, sizeof(text));
        dict_error_add(&x->errs, x->d.name, line,
                       "non-null host address bits in \"%.*s\", perhaps use \"%s/%d\"", (int)len, s,
                       text, r->prefix);
        return -1;
    }
    return 0;
}

static struct dict_cidr_rule *dict_cidr_add(struct dict_cidr *x, struct dict_cidr_rule *r)
{
    if (x->count == x->cap) {
        x->cap = x->cap ? size_mul(x->cap, 2) : 16;
        x->rules = xreallocarray(x->rules, x->cap, sizeof(*x->rules));
    }
    x->rules[x->count] = *r;
    return &x->rules[x->count++];
}

static void dict_cidr_push(struct dict_cidr *x, int line)
{
    if (x->depth == x->stack_cap) {
        x->stack_cap = x->stack_cap ? size_mul(x->stack_cap, 2) : 8;
        x->stack = xreallocarray(x->stack, x->stack_cap, sizeof(*x->stack));
        x->if_lines = xreallocarray(x->if_lines, x->stack_cap, sizeof(*x->if_lines));
    }
    x->stack[x->depth] = x->count - 1;
    x->if_lines[x->depth++] = line;
}

static size_t dict_cidr_word(const char *s)
{
    size_t n = 0;
    while (s[n] != '\0' && !isspace((unsigned char)s[n]))
        n++;
    return n;
}

static int dict_cidr_line(const char *line, int lineno, void *ctx)
{
    struct dict_cidr *x = ctx;
    struct dict_cidr_rule r = {.kind = CIDR_RULE};
    size_t n = dict_cidr_word(line);
    const char *rest = line + n;
    while (isspace((unsigned char)*rest))
        rest++;
    if (n == 5 && strncasecmp(line, "endif", 5) == 0) {
        if (*rest != '\0')
            dict_error_add(&x->errs, x->d.name, lineno, "text after \"endif\"");
        else if (x->depth == 0)
            dict_error_add(&x->errs, x->d.name, lineno, "\"endif\" without \"if\"");
        else {
            r.kind = CIDR_ENDIF;
            dict_cidr_add(x, &r);
            x->rules[x->stack[--x->depth]].skip_to = x->count;
        }
        return 0;
    }
    if (n == 2 && strncasecmp(line, "if", 2) == 0) {
        size_t m = dict_cidr_word(rest);
        const char *tail = rest + m;
        while (isspace((unsigned char)*tail))
            tail++;
        if (m == 0 || *tail != '\0') {
            dict_error_add(&x->errs, x->d.name, lineno, "expected \"if [!]network/prefix\"");
            return 0;
        }
        r.kind = CIDR_IF;
        if (dict_cidr_pattern(x, lineno, rest, m, &r) == 0) {
            dict_cidr_add(x, &r);
            dict_cidr_push(x, lineno);
        }
        return 0;
    }
    if (*rest == '\0') {
        dict_error_add(&x->errs, x->d.name, lineno, "expected \"network/prefix result\"");
        return 0;
    }
    if (dict_cidr_pattern(x, lineno, line, n, &r) == 0) {
        r.result = xstrdup(rest);
        dict_cidr_add(x, &r);
    }
    return 0;
}

static int dict_cidr_lookup(dict_t *d, const char *key, const char **value_r)
{
    struct dict_cidr *x = (struct dict_cidr *)d;
    unsigned char addr[16];
    int family;
    if (dict_cidr_addr(key, strlen(key), &family, addr) < 0)
        return 0;
    for (size_t i = 0; i < x->count;) {
        const struct dict_cidr_rule *r = &x->rules[i];
        if (r->kind == CIDR_IF && !dict_cidr_match(r, family, addr)) {
            i = r->skip_to;
            continue;
        }
        if (r->kind == CIDR_RULE && dict_cidr_match(r, family, addr)) {
            *value_r = r->result;
            return 1;
        }
        i++;
    }
    return 0;
}

static void dict_cidr_close(dict_t *d)
{
    struct dict_cidr *x = (struct dict_cidr *)d;
    for (size_t i = 0; i < x->count; i++)
        free(x->rules[i].result);
    free(x->rules);
    free(x->stack);
    free(x->if_lines);
    xfree(x->errs.first);
    dict_free_common(d);
}

dict_t *dict_cidr_open_text(const char *name, const char *text, size_t len, int flags,
                            char **error_r)
{
    struct dict_cidr *x = (struct dict_cidr *)dict_alloc(sizeof(*x), "cidr", name, flags);
    x->d.lookup = dict_cidr_lookup;
    x->d.close = dict_cidr_close;
    dict_lines(text, len, name, &x->errs, dict_cidr_line, x);
    while (x->depth > 0)
        dict_error_add(&x->errs, name, x->if_lines[--x->depth], "\"if\" without \"endif\"");
    if (x->errs.count > 0) {
        dict_error_take(&x->errs, error_r);
        dict_cidr_close(&x->d);
        return NULL;
    }
    return &x->d;
}

static dict_t *dict_cidr_open(const char *name, int flags, char **error_r)
{
    return dict_open_file(name, flags, dict_cidr_open_text, error_r);
}

const struct dict_type dict_type_cidr = {.name = "cidr", .open = dict_cidr_open};
