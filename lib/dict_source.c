/*
 * dict_source.c - the text source of indexed tables and texthash:
 * postmap(1) format "key whitespace value", or aliases(5) format
 * "name: value" (see dict.h).  Shared by ternmap, newaliases and texthash.
 */
#include "dict.h"
#include "log.h"
#include "mem.h"

struct dict_source_ctx {
    const char *name;
    bool is_alias;
    dict_source_fn fn;
    void *ctx;
    struct dict_errors errs;
    str_t *key;
};

static bool dict_src_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

static const char *dict_src_skip(const char *p)
{
    while (dict_src_space(*p))
        p++;
    return p;
}

/* "key whitespace value" */
static int dict_source_plain(struct dict_source_ctx *c, const char *line, int lineno)
{
    const char *p = line;
    while (*p != '\0' && !dict_src_space(*p))
        p++;
    str_set(c->key, line, (size_t)(p - line));
    const char *value = dict_src_skip(p);
    if (*value == '\0') {
        dict_error_add(&c->errs, c->name, lineno, "expected format: key whitespace value");
        return 0;
    }
    return c->fn(str_c(c->key), value, lineno, c->ctx);
}

/* Alias name: "quoted" or up to ':'; returns the text after ':' or NULL. */
static const char *dict_source_alias_key(struct dict_source_ctx *c, const char *line, int lineno)
{
    const char *p;
    if (*line == '"') {
        const char *q = strchr(line + 1, '"');
        if (q == NULL) {
            dict_error_add(&c->errs, c->name, lineno, "unbalanced '\"' in alias name");
            return NULL;
        }
        str_set(c->key, line + 1, (size_t)(q - line - 1));
        p = dict_src_skip(q + 1);
    } else {
        p = line;
        while (*p != '\0' && *p != ':' && !dict_src_space(*p))
            p++;
        str_set(c->key, line, (size_t)(p - line));
        p = dict_src_skip(p);
    }
    if (*p != ':') {
        dict_error_add(&c->errs, c->name, lineno, "expected format: name: value");
        return NULL;
    }
    if (str_len(c->key) == 0) {
        dict_error_add(&c->errs, c->name, lineno, "empty alias name");
        return NULL;
    }
    return dict_src_skip(p + 1);
}

static int dict_source_alias(struct dict_source_ctx *c, const char *line, int lineno)
{
    const char *value = dict_source_alias_key(c, line, lineno);
    if (value == NULL)
        return 0;
    if (*value == '\0') {
        dict_error_add(&c->errs, c->name, lineno, "missing value after \"%s:\"", str_c(c->key));
        return 0;
    }
    return c->fn(str_c(c->key), value, lineno, c->ctx);
}

static int dict_source_line(const char *line, int lineno, void *ctx)
{
    struct dict_source_ctx *c = ctx;
    return c->is_alias ? dict_source_alias(c, line, lineno) : dict_source_plain(c, line, lineno);
}

int dict_source_parse(const char *text, size_t len, const char *name, bool is_alias,
                      dict_source_fn fn, void *ctx, char **error_r)
{
    struct dict_source_ctx c = {
        .name = name, .is_alias = is_alias, .fn = fn, .ctx = ctx, .key = str_new(64)};
    int stopped = dict_lines(text, len, name, &c.errs, dict_source_line, &c);
    int ret = (stopped < 0 || c.errs.count > 0) ? -1 : 0;
    dict_error_take(&c.errs, error_r);
    str_free(&c.key);
    return ret;
}
