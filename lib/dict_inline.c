/*
 * dict_inline.c - inline:{ key=value, key2=value2 }, a table written in
 * its own name (Postfix syntax).  Entries are separated by commas and/or
 * whitespace; an entry with spaces or commas is wrapped in braces, where
 * whitespace around '=' is allowed: inline:{ { key = text, more } }.
 */
#include "dict.h"
#include "log.h"
#include "mem.h"

struct dict_inline {
    dict_t d;
    struct dict_mem *mem;
    struct dict_errors errs;
};

static bool dict_inline_sep(char c)
{
    return c == ',' || c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool dict_inline_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Index just past the '}' matching the '{' at s[0], or 0 if unbalanced. */
static size_t dict_inline_match(const char *s, size_t len)
{
    int depth = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '{')
            depth++;
        else if (s[i] == '}' && --depth == 0)
            return i + 1;
    }
    return 0;
}

/* Trim a byte range in place (returns new start, updates *len). */
static const char *dict_inline_trim(const char *s, size_t *len)
{
    while (*len > 0 && dict_inline_space(*s))
        s++, (*len)--;
    while (*len > 0 && dict_inline_space(s[*len - 1]))
        (*len)--;
    return s;
}

static void dict_inline_entry(struct dict_inline *x, const char *s, size_t len)
{
    const char *eq = memchr(s, '=', len);
    if (eq == NULL) {
        dict_error_add(&x->errs, x->d.spec, 0, "expected key=value, found \"%.*s\"", (int)len, s);
        return;
    }
    size_t klen = (size_t)(eq - s), vlen = len - klen - 1;
    const char *k = dict_inline_trim(s, &klen);
    const char *v = dict_inline_trim(eq + 1, &vlen);
    if (klen == 0 || vlen == 0) {
        dict_error_add(&x->errs, x->d.spec, 0, "missing %s in \"%.*s\"",
                       klen == 0 ? "key" : "value", (int)len, s);
        return;
    }
    str_set(x->d.keybuf, k, klen);
    if (x->d.fold)
        str_lower(x->d.keybuf);
    str_set(x->d.buf, v, vlen);
    if (dict_mem_put(x->mem, str_c(x->d.keybuf), str_c(x->d.buf)) == 1)
        msg_warn("%s: duplicate entry \"%s\": keeping the first", x->d.spec, str_c(x->d.keybuf));
}

/* Parse the text between the outer braces. */
static void dict_inline_parse(struct dict_inline *x, const char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        if (dict_inline_sep(s[i])) {
            i++;
            continue;
        }
        size_t end;
        if (s[i] == '{') {
            size_t m = dict_inline_match(s + i, len - i);
            if (m == 0) {
                dict_error_add(&x->errs, x->d.spec, 0, "unbalanced '{'");
                return;
            }
            dict_inline_entry(x, s + i + 1, m - 2);
            i += m;
            continue;
        }
        for (end = i; end < len && !dict_inline_sep(s[end]); end++)
            ;
        dict_inline_entry(x, s + i, end - i);
        i = end;
    }
}

static int dict_inline_lookup(dict_t *d, const char *key, const char **value_r)
{
    *value_r = dict_mem_get(((struct dict_inline *)d)->mem, key);
    return *value_r != NULL;
}

static int dict_inline_iterate(dict_t *d, dict_iter_fn fn, void *ctx)
{
    return dict_mem_iterate(((struct dict_inline *)d)->mem, fn, ctx);
}

static void dict_inline_close(dict_t *d)
{
    struct dict_inline *x = (struct dict_inline *)d;
    dict_mem_free(&x->mem);
    xfree(x->errs.first);
    dict_free_common(d);
}

static dict_t *dict_inline_open(const char *name, int flags, char **error_r)
{
    struct dict_inline *x = (struct dict_inline *)dict_alloc(sizeof(*x), "inline", name, flags);
    x->d.fold = dict_folds(&x->d);
    x->d.lookup = dict_inline_lookup;
    x->d.iterate = dict_inline_iterate;
    x->d.close = dict_inline_close;
    x->mem = dict_mem_new();
    size_t len = strlen(name);
    const char *s = dict_inline_trim(name, &len);
    if (len < 2 || s[0] != '{' || dict_inline_match(s, len) != len)
        dict_error_add(&x->errs, x->d.spec, 0, "expected inline:{ key=value, ... }");
    else
        dict_inline_parse(x, s + 1, len - 2);
    if (x->errs.count > 0) {
        dict_error_take(&x->errs, error_r);
        dict_inline_close(&x->d);
        return NULL;
    }
    return &x->d;
}

const struct dict_type dict_type_inline = {.name = "inline", .open = dict_inline_open};
