/*
 * dict_static.c - static:VALUE returns VALUE for every (non-empty) key;
 * static:{ text with spaces } for a value with whitespace.
 */
#include "dict.h"
#include "mem.h"

struct dict_static {
    dict_t d;
    char *value;
};

static int dict_static_lookup(dict_t *d, const char *key, const char **value_r)
{
    (void)key;
    *value_r = ((struct dict_static *)d)->value;
    return 1;
}

static void dict_static_close(dict_t *d)
{
    free(((struct dict_static *)d)->value);
    dict_free_common(d);
}

static dict_t *dict_static_open(const char *name, int flags, char **error_r)
{
    str_t *v = str_new(64);
    str_setz(v, name);
    str_trim(v);
    if (str_len(v) > 0 && str_c(v)[0] == '{') {
        if (str_c(v)[str_len(v) - 1] != '}') {
            *error_r = xasprintf("static:%s: missing '}'", name);
            str_free(&v);
            return NULL;
        }
        str_t *inner = str_new(64);
        str_set(inner, str_c(v) + 1, str_len(v) - 2);
        str_trim(inner);
        str_free(&v);
        v = inner;
    }
    struct dict_static *s = (struct dict_static *)dict_alloc(sizeof(*s), "static", name, flags);
    s->value = str_steal(&v);
    s->d.lookup = dict_static_lookup;
    s->d.close = dict_static_close;
    return &s->d;
}

const struct dict_type dict_type_static = {.name = "static", .open = dict_static_open};
