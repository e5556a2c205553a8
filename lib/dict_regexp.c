/*
 * dict_regexp.c - regexp:NAME, Postfix's regexp_table(5) format with
 * POSIX extended regular expressions (regcomp):
 *   /pattern/flags result     first matching rule wins, in file order
 *   !/pattern/flags result    matches when the pattern does not
 *   if /pattern/flags ... endif, also "if !/pattern/"
 * The delimiter is the first character ('/' usually; any punctuation);
 * a backslash protects the next character.  Flags toggle: i (case
 * insensitive, on by default), x (extended syntax, on by default), m
 * (newline-sensitive, off by default).  In the result, $1..$9 (or ${1})
 * are replaced by the matching subexpression and $$ is a '$'; a
 * substitution beyond the pattern's subexpressions, or any in a negated
 * rule, is an error naming the line, as is a bad pattern.
 */
#include "dict.h"
#include "log.h"
#include "mem.h"

#include <ctype.h>
#include <regex.h>

enum dict_re_kind { RE_RULE, RE_IF, RE_ENDIF };

struct dict_re_rule {
    enum dict_re_kind kind;
    bool negate;
    bool compiled;
    regex_t re;
    char *result;
    size_t skip_to;
};

struct dict_regexp {
    dict_t d;
    struct dict_re_rule *rules;
    size_t count, cap;
    size_t *stack;
    int *if_lines;
    size_t depth, stack_cap;
    struct dict_errors errs;
};

/* Split "[!]<d>pattern<d>flags" at s; sets *end_r after the flags. */
static int dict_re_pattern(struct dict_regexp *x, int line, const char *s, const char **end_r,
                           struct dict_re_rule *r)
{
    if (*s == '!')
        r->negate = true, s++;
    char delim = *s;
    if (delim == '\0' || isalnum((unsigned char)delim) || isspace((unsigned char)delim) ||
        delim == '\\') {
        dict_error_add(&x->errs, x->d.name, line, "expected /pattern/");
        return -1;
    }
    const char *p = s + 1;
    while (*p != '\0' && *p != delim)
        p += (p[0] == '\\' && p[1] != '\0') ? 2 : 1;
    if (*p == '\0') {
        dict_error_add(&x->errs, x->d.name, line, "missing closing '%c' after pattern", delim);
        return -1;
    }
    int cflags = REG_ICASE | REG_EXTENDED;
    const char *f = p + 1;
    for (; *f != '\0' && !isspace((unsigned char)*f); f++) {
        if (*f == 'i')
            cflags ^= REG_ICASE;
        else if (*f == 'x')
            cflags ^= REG_EXTENDED;
        else if (*f == 'm')
            cflags ^= REG_NEWLINE;
        else {
            dict_error_add(&x->errs, x->d.name, line, "unknown regexp flag '%c'", *f);
            return -1;
        }
    }
    char *pat = xstrndup(s + 1, (size_t)(p - s - 1));
    int rc = regcomp(&r->re, pat, cflags);
    if (rc != 0) {
        char buf[256];
        regerror(rc, &r->re, buf, sizeof(buf));
        dict_error_add(&x->errs, x->d.name, line, "bad regular expression: %s", buf);
        free(pat);
        return -1;
    }
    free(pat);
    r->compiled = true;
    *end_r = f;
    return 0;
}

/* Check $N references in result against the pattern; 0 or -1 (logged). */
static int dict_re_check_result(struct dict_regexp *x, int line, const struct dict_re_rule *r)
{
    for (const char *p = r->result; *p != '\0'; p++) {
        if (*p != '$')
            continue;
        p++;
        if (*p == '$')
            continue;
        bool brace = *p == '{';
        if (brace)
            p++;
        if (!isdigit((unsigned char)*p) || *p == '0' || (brace && p[1] != '}')) {
            dict_error_add(&x->errs, x->d.name, line, "bad '$' in result; use $1..$9 or $$");
            return -1;
        }
        if (r->negate) {
            dict_error_add(&x->errs, x->d.name, line, "$%c in the result of a negated pattern", *p);
            return -1;
        }
        if ((size_t)(*p - '0') > r->re.re_nsub) {
            dict_error_add(&x->errs, x->d.name, line,
                           "$%c out of range: the pattern has %zu subexpressions", *p,
                           r->re.re_nsub);
            return -1;
        }
        if (brace)
            p++;
    }
    return 0;
}

static void dict_re_free_rule(struct dict_re_rule *r)
{
    if (r->compiled)
        regfree(&r->re);
    free(r->result);
}

static void dict_re_add(struct dict_regexp *x, struct dict_re_rule *r)
{
    if (x->count == x->cap) {
        x->cap = x->cap ? size_mul(x->cap, 2) : 16;
        x->rules = xreallocarray(x->rules, x->cap, sizeof(*x->rules));
    }
    x->rules[x->count++] = *r;
}

static void dict_re_push(struct dict_regexp *x, int line)
{
    if (x->depth == x->stack_cap) {
        x->stack_cap = x->stack_cap ? size_mul(x->stack_cap, 2) : 8;
        x->stack = xreallocarray(x->stack, x->stack_cap, sizeof(*x->stack));
        x->if_lines = xreallocarray(x->if_lines, x->stack_cap, sizeof(*x->if_lines));
    }
    x->stack[x->depth] = x->count - 1;
    x->if_lines[x->depth++] = line;
}

static bool dict_re_keyword(const char *line, const char *word, const char **rest_r)
{
    size_t n = strlen(word);
    if (strncasecmp(line, word, n) != 0 || (line[n] != '\0' && !isspace((unsigned char)line[n])))
        return false;
    const char *p = line + n;
    while (isspace((unsigned char)*p))
        p++;
    *rest_r = p;
    return true;
}

static void dict_re_endif(struct dict_regexp *x, int lineno, const char *rest)
{
    struct dict_re_rule r = {.kind = RE_ENDIF};
    if (*rest != '\0')
        dict_error_add(&x->errs, x->d.name, lineno, "text after \"endif\"");
    else if (x->depth == 0)
        dict_error_add(&x->errs, x->d.name, lineno, "\"endif\" without \"if\"");
    else {
        dict_re_add(x, &r);
        x->rules[x->stack[--x->depth]].skip_to = x->count;
    }
}

static int dict_re_line(const char *line, int lineno, void *ctx)
{
    struct dict_regexp *x = ctx;
    struct dict_re_rule r = {.kind = RE_RULE};
    const char *rest, *end;
    if (dict_re_keyword(line, "endif", &rest)) {
        dict_re_endif(x, lineno, rest);
        return 0;
    }
    bool is_if = dict_re_keyword(line, "if", &rest);
    if (!is_if)
        rest = line;
    if (dict_re_pattern(x, lineno, rest, &end, &r) < 0)
        return 0;
    while (isspace((unsigned char)*end))
        end++;
    if (is_if) {
        if (*end != '\0') {
            dict_error_add(&x->errs, x->d.name, lineno, "text after \"if /pattern/\"");
            dict_re_free_rule(&r);
            return 0;
        }
        r.kind = RE_IF;
        dict_re_add(x, &r);
        dict_re_push(x, lineno);
        return 0;
    }
    if (*end == '\0') {
        dict_error_add(&x->errs, x->d.name, lineno, "missing result after pattern");
        dict_re_free_rule(&r);
        return 0;
    }
    r.result = xstrdup(end);
    if (dict_re_check_result(x, lineno, &r) < 0) {
        dict_re_free_rule(&r);
        return 0;
    }
    dict_re_add(x, &r);
    return 0;
}

/* Expand $N in result from the match of key into out. */
static void dict_re_expand(str_t *out, const char *result, const char *key, const regmatch_t *pm)
{
    str_reset(out);
    for (const char *p = result; *p != '\0'; p++) {
        if (*p != '$') {
            str_appendc(out, *p);
            continue;
        }
        p++;
        if (*p == '$') {
            str_appendc(out, '$');
            continue;
        }
        bool brace = *p == '{';
        if (brace)
            p++;
        int n = *p - '0';
        if (pm[n].rm_so >= 0)
            str_append(out, key + pm[n].rm_so, (size_t)(pm[n].rm_eo - pm[n].rm_so));
        if (brace)
            p++;
    }
}

/* 1 match, 0 no match, -1 regexec failure (logged). */
static int dict_re_match(dict_t *d, const struct dict_re_rule *r, const char *key, regmatch_t *pm)
{
    int rc = regexec(&r->re, key, 10, pm, 0);
    if (rc != 0 && rc != REG_NOMATCH) {
        msg_warn("table %s: regexec failed (error %d)", d->spec, rc);
        return -1;
    }
    return (rc == 0) != r->negate;
}

static int dict_regexp_lookup(dict_t *d, const char *key, const char **value_r)
{
    struct dict_regexp *x = (struct dict_regexp *)d;
    regmatch_t pm[10];
    for (size_t i = 0; i < x->count;) {
        const struct dict_re_rule *r = &x->rules[i];
        if (r->kind == RE_ENDIF) {
            i++;
            continue;
        }
        int m = dict_re_match(d, r, key, pm);
        if (m < 0)
            return -1;
        if (r->kind == RE_IF) {
            i = m ? i + 1 : r->skip_to;
            continue;
        }
        if (m) {
            dict_re_expand(d->buf, r->result, key, pm);
            *value_r = str_c(d->buf);
            return 1;
        }
        i++;
    }
    return 0;
}

static void dict_regexp_close(dict_t *d)
{
    struct dict_regexp *x = (struct dict_regexp *)d;
    for (size_t i = 0; i < x->count; i++)
        dict_re_free_rule(&x->rules[i]);
    free(x->rules);
    free(x->stack);
    free(x->if_lines);
    xfree(x->errs.first);
    dict_free_common(d);
}

dict_t *dict_regexp_open_text(const char *name, const char *text, size_t len, int flags,
                              char **error_r)
{
    struct dict_regexp *x = (struct dict_regexp *)dict_alloc(sizeof(*x), "regexp", name, flags);
    x->d.lookup = dict_regexp_lookup;
    x->d.close = dict_regexp_close;
    dict_lines(text, len, name, &x->errs, dict_re_line, x);
    while (x->depth > 0)
        dict_error_add(&x->errs, name, x->if_lines[--x->depth], "\"if\" without \"endif\"");
    if (x->errs.count > 0) {
        dict_error_take(&x->errs, error_r);
        dict_regexp_close(&x->d);
        return NULL;
    }
    return &x->d;
}

static dict_t *dict_regexp_open(const char *name, int flags, char **error_r)
{
    return dict_open_file(name, flags, dict_regexp_open_text, error_r);
}

const struct dict_type dict_type_regexp = {.name = "regexp", .open = dict_regexp_open};
