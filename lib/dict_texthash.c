/*
 * dict_texthash.c - texthash:NAME, the postmap(1) source file NAME read
 * into memory at open (no indexed file).  Duplicate keys are warned about
 * with file and line; the first wins, as with the indexed types.
 */
#include "dict.h"
#include "log.h"
#include "mem.h"

struct dict_texthash {
    dict_t d;
    struct dict_mem *mem;
};

static int dict_texthash_lookup(dict_t *d, const char *key, const char **value_r)
{
    struct dict_texthash *t = (struct dict_texthash *)d;
    *value_r = dict_mem_get(t->mem, key);
    return *value_r != NULL;
}

static int dict_texthash_iterate(dict_t *d, dict_iter_fn fn, void *ctx)
{
    return dict_mem_iterate(((struct dict_texthash *)d)->mem, fn, ctx);
}

static void dict_texthash_close(dict_t *d)
{
    dict_mem_free(&((struct dict_texthash *)d)->mem);
    dict_free_common(d);
}

static int dict_texthash_entry(const char *key, const char *value, int line, void *ctx)
{
    struct dict_texthash *t = ctx;
    str_setz(t->d.keybuf, key);
    if (t->d.fold)
        str_lower(t->d.keybuf);
    if (dict_mem_put(t->mem, str_c(t->d.keybuf), value) == 1) {
        str_t *k = str_new(64);
        str_append_printable(k, key, strlen(key), 200);
        msg_warn("%s, line %d: duplicate entry \"%s\": keeping the first", t->d.name, line,
                 str_c(k));
        str_free(&k);
    }
    return 0;
}

static dict_t *dict_texthash_open(const char *name, int flags, char **error_r)
{
    size_t len;
    char *text = dict_read_file(name, &len, error_r);
    if (text == NULL)
        return NULL;
    struct dict_texthash *t =
        (struct dict_texthash *)dict_alloc(sizeof(*t), "texthash", name, flags);
    t->d.fold = dict_folds(&t->d);
    t->d.lookup = dict_texthash_lookup;
    t->d.iterate = dict_texthash_iterate;
    t->d.close = dict_texthash_close;
    t->mem = dict_mem_new();
    int r = dict_source_parse(text, len, name, (flags & DICT_FLAG_ALIAS) != 0, dict_texthash_entry,
                              t, error_r);
    free(text);
    if (r < 0) {
        dict_texthash_close(&t->d);
        return NULL;
    }
    return &t->d;
}

const struct dict_type dict_type_texthash = {.name = "texthash", .open = dict_texthash_open};
