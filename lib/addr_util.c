/*
 * addr_util.c - address helpers for policy and delivery: quoting a local
 * part, splitting an address, recipient_delimiter extensions, routing
 * detection (percent hack, bang path, quoted '@'), FQDN checks and domain
 * list matching as Postfix's mydestination / relay_domains do it.
 */
#include "addr.h"
#include "config.h"
#include "mem.h"
#include "str.h"

#include <strings.h>

/* Whether the internal local part can be written as a Quoted-string. */
static bool quotable(const char *local, size_t len, bool utf8)
{
    const unsigned char *u = (const unsigned char *)local;
    for (size_t i = 0; i < len;) {
        if (u[i] >= 32 && u[i] <= 126) {
            i++;
            continue;
        }
        size_t n = utf8 ? addr_utf8_seq(u + i, len - i) : 0;
        if (n == 0)
            return false;
        i += n;
    }
    return true;
}

int addr_quote_local(str_t *dst, const char *local, size_t len, bool utf8)
{
    if (len > 0 && addr_is_dot_string(local, len, utf8))
        return str_append(dst, local, len);
    if (!quotable(local, len, utf8))
        return -1;
    size_t mark = str_len(dst);
    int rc = str_appendc(dst, '"');
    for (size_t i = 0; i < len && rc == 0; i++) {
        if (local[i] == '"' || local[i] == '\\')
            rc = str_appendc(dst, '\\');
        if (rc == 0)
            rc = str_appendc(dst, local[i]);
    }
    if (rc == 0)
        rc = str_appendc(dst, '"');
    if (rc < 0)
        str_truncate(dst, mark);
    return rc;
}

/* The '@' before the domain, or NULL; in "a@b" it is part of the local part. */
static const char *domain_at(const char *addr)
{
    const char *at = strrchr(addr, '@');
    return at != NULL && strchr(at, '"') == NULL ? at : NULL;
}

void addr_split(const char *addr, char **local_r, char **domain_r)
{
    const char *at = domain_at(addr);
    if (at == NULL) {
        *local_r = xstrdup(addr);
        *domain_r = xstrdup("");
        return;
    }
    *local_r = xstrndup(addr, (size_t)(at - addr));
    *domain_r = xstrdup(at + 1);
}

void addr_domain_lower(char *addr)
{
    const char *at = domain_at(addr);
    for (char *p = at != NULL ? addr + (at - addr) + 1 : addr + strlen(addr); *p != '\0'; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
}

/* Mailing-list names that a '-' delimiter must not split. */
static bool list_name(const char *local, size_t n)
{
    return strncasecmp(local, "owner-", 6) == 0 ||
           (n > 8 && strcasecmp(local + n - 8, "-request") == 0);
}

bool addr_strip_extension(const char *local, const char *delims, char **user_r, char **ext_r,
                          char *delim_r)
{
    size_t n = strlen(local);
    size_t i = n > 0 && delims != NULL ? 1 + strcspn(local + 1, delims) : n;
    *ext_r = NULL;
    if (i >= n || (local[i] == '-' && list_name(local, n))) {
        *user_r = xstrdup(local);
        return false;
    }
    *user_r = xstrndup(local, i);
    *ext_r = xstrdup(local + i + 1);
    if (delim_r != NULL)
        *delim_r = local[i];
    return true;
}

unsigned addr_local_routing(const char *local, size_t len)
{
    unsigned r = 0;
    for (size_t i = 0; i < len; i++) {
        if (local[i] == '%')
            r |= ADDR_ROUTE_PERCENT;
        else if (local[i] == '!')
            r |= ADDR_ROUTE_BANG;
        else if (local[i] == '@')
            r |= ADDR_ROUTE_AT;
    }
    return r;
}

unsigned addr_path_routing(const struct addr_path *p)
{
    unsigned r = p->local != NULL ? addr_local_routing(p->local, strlen(p->local)) : 0;
    return p->source_route ? r | ADDR_ROUTE_SOURCE : r;
}

bool addr_is_fqdn(const char *domain)
{
    size_t n = strlen(domain);
    if (n > 0 && domain[0] == '[')
        return addr_literal_valid(domain, n, NULL) == 0;
    return memchr(domain, '.', n) != NULL &&
           addr_domain_valid(domain, n, ADDR_F_SMTPUTF8, NULL) == 0;
}

/* Case-insensitive: does the tail of domain (dl) equal pat (pl)? */
static bool tail_equal(const char *domain, size_t dl, const char *pat, size_t pl)
{
    return dl >= pl && strncasecmp(domain + dl - pl, pat, pl) == 0;
}

static bool match_n(const char *domain, size_t dl, const char *pat, size_t pl, bool parent)
{
    if (pl == 0 || dl == 0)
        return false;
    if (dl == pl && tail_equal(domain, dl, pat, pl))
        return true;
    if (pat[0] == '.')
        return dl > pl && tail_equal(domain, dl, pat, pl);
    return parent && dl > pl + 1 && domain[dl - pl - 1] == '.' && tail_equal(domain, dl, pat, pl);
}

bool addr_domain_match(const char *domain, const char *pattern, bool parent_matches_sub)
{
    return match_n(domain, strlen(domain), pattern, strlen(pattern), parent_matches_sub);
}

bool addr_domain_match_list(const char *domain, const char *list, bool parent_matches_sub)
{
    char **pats = config_list_split(list);
    size_t dl = strlen(domain);
    bool found = false, result = false;
    for (char **p = pats; !found && *p != NULL; p++) {
        const char *pat = *p;
        bool neg = pat[0] == '!';
        pat += neg;
        if (pat[0] == '\0' || pat[0] == '/' || strchr(pat, ':') != NULL)
            continue;
        if (match_n(domain, dl, pat, strlen(pat), parent_matches_sub)) {
            found = true;
            result = !neg;
        }
    }
    cfg_list_free(&pats);
    return result;
}
