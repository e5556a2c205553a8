/*
 * dict.c - the generic lookup table interface and the type registry (see
 * dict.h).  Indexed types (hash, btree, lmdb) are wrapped here so that
 * every lookup notices a rebuilt file and reopens it.
 */
#include "dict.h"
#include "dict_indexed.h"
#include "log.h"
#include "mem.h"

#include <ctype.h>
#include <sys/stat.h>

#define DICT_MAX_TYPES 32

static const struct dict_type *dict_builtin[] = {
    &dict_type_hash,   &dict_type_btree,  &dict_type_lmdb, &dict_type_texthash,
    &dict_type_inline, &dict_type_static, &dict_type_cidr, &dict_type_regexp,
};
static const struct dict_type *dict_extra[DICT_MAX_TYPES];
static size_t dict_extra_count;

void dict_register(const struct dict_type *type)
{
    if (dict_find_type(type->name) != NULL)
        msg_panic("dict_register: type %s registered twice", type->name);
    if (dict_extra_count >= DICT_MAX_TYPES)
        msg_panic("dict_register: too many table types");
    dict_extra[dict_extra_count++] = type;
}

const struct dict_type *dict_find_type(const char *name)
{
    for (size_t i = 0; i < N_ELEMENTS(dict_builtin); i++)
        if (strcmp(dict_builtin[i]->name, name) == 0)
            return dict_builtin[i];
    for (size_t i = 0; i < dict_extra_count; i++)
        if (strcmp(dict_extra[i]->name, name) == 0)
            return dict_extra[i];
    return NULL;
}

bool dict_type_known(const char *type)
{
    return dict_find_type(type) != NULL;
}

bool dict_type_indexed(const char *type)
{
    const struct dict_type *t = dict_find_type(type);
    return t != NULL && t->suffix != NULL;
}

char *dict_indexed_path(const char *type, const char *name)
{
    const struct dict_type *t = dict_find_type(type);
    if (t == NULL || t->suffix == NULL)
        return NULL;
    return xasprintf("%s%s", name, t->suffix);
}

/* Split "type:name"; returns the type or NULL with *error_r. */
const struct dict_type *dict_split_spec(const char *spec, char **type_r, const char **name_r,
                                        char **error_r)
{
    const char *colon = strchr(spec, ':');
    if (colon == NULL || colon == spec) {
        *error_r = xasprintf("table \"%s\": expected type:name", spec);
        return NULL;
    }
    char *type = xstrndup(spec, (size_t)(colon - spec));
    const struct dict_type *t = dict_find_type(type);
    if (t == NULL) {
        *error_r = xasprintf("table \"%s\": unsupported table type \"%s\"", spec, type);
        free(type);
        return NULL;
    }
    if (colon[1] == '\0') {
        *error_r = xasprintf("table \"%s\": missing table name after \"%s:\"", spec, type);
        free(type);
        return NULL;
    }
    *type_r = type;
    *name_r = colon + 1;
    return t;
}

dict_t *dict_alloc(size_t size, const char *type, const char *name, int flags)
{
    if (size < sizeof(dict_t))
        msg_panic("dict_alloc: size %zu too small", size);
    if ((flags & DICT_FLAG_FOLD_KEY) && (flags & DICT_FLAG_NO_FOLD))
        msg_panic("dict_alloc: %s:%s: both FOLD_KEY and NO_FOLD given", type, name);
    dict_t *d = xcalloc(1, size);
    d->type = xstrdup(type);
    d->name = xstrdup(name);
    d->spec = xasprintf("%s:%s", type, name);
    d->flags = flags;
    d->buf = str_new(64);
    d->keybuf = str_new(64);
    return d;
}

void dict_free_common(dict_t *d)
{
    free(d->type);
    free(d->spec);
    free(d->name);
    str_free(&d->buf);
    str_free(&d->keybuf);
    free(d);
}

bool dict_folds(const dict_t *d)
{
    return (d->flags & DICT_FLAG_NO_FOLD) == 0;
}

dict_t *dict_open(const char *spec, int flags, char **error_r)
{
    char *type;
    const char *name;
    const struct dict_type *t = dict_split_spec(spec, &type, &name, error_r);
    if (t == NULL)
        return NULL;
    dict_t *d;
    if (t->suffix != NULL)
        d = dict_indexed_open(t, type, name, flags, error_r);
    else
        d = t->open(name, flags, error_r);
    free(type);
    return d;
}

int dict_lookup(dict_t *d, const char *key, const char **value_r)
{
    if (d == NULL || key == NULL || value_r == NULL)
        msg_panic("dict_lookup: NULL argument");
    *value_r = NULL;
    if (*key == '\0')
        return 0;
    if (d->fold) {
        str_setz(d->keybuf, key);
        str_lower(d->keybuf);
        key = str_c(d->keybuf);
    }
    return d->lookup(d, key, value_r);
}

int dict_iterate(dict_t *d, dict_iter_fn fn, void *ctx)
{
    if (d->iterate == NULL) {
        msg_error("table %s cannot be listed", d->spec);
        return -1;
    }
    return d->iterate(d, fn, ctx);
}

void dict_close(dict_t **dp)
{
    dict_t *d = *dp;
    if (d == NULL)
        return;
    *dp = NULL;
    d->close(d);
}

const char *dict_spec(const dict_t *d)
{
    return d->spec;
}

/* ---- indexed tables: reopen when the file is replaced ---------------- */

struct dict_indexed {
    dict_t d;
    const struct dict_type *t;
    char *path;
    dict_t *inner;
    struct stat st;
};

static bool dict_stat_same(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* Open the file, recording what was opened.  stat first: if the file is
 * replaced between stat and open the next lookup reopens again. */
static dict_t *dict_indexed_load(struct dict_indexed *x, struct stat *st_r, char **error_r)
{
    if (stat(x->path, st_r) < 0) {
        *error_r = xasprintf("open table %s: %s: %s", x->d.spec, x->path, strerror(errno));
        return NULL;
    }
    return x->t->open(x->path, x->d.flags, error_r);
}

/* Make sure x->inner is the current file; 0 or -1 (logged). */
int dict_indexed_refresh(dict_t *d)
{
    struct dict_indexed *x = (struct dict_indexed *)d;
    struct stat st;
    if (stat(x->path, &st) < 0) {
        msg_warn("table %s: %s: %s", d->spec, x->path, strerror(errno));
        return -1;
    }
    if (x->inner != NULL && dict_stat_same(&st, &x->st))
        return 0;
    char *error = NULL;
    dict_t *inner = dict_indexed_load(x, &st, &error);
    if (inner == NULL) {
        msg_warn("table %s: reopen failed: %s", d->spec, error);
        free(error);
        return -1;
    }
    dict_close(&x->inner);
    x->inner = inner;
    x->st = st;
    return 0;
}

dict_t *dict_indexed_inner(dict_t *d)
{
    return ((struct dict_indexed *)d)->inner;
}

const char *dict_indexed_file(const dict_t *d)
{
    return ((const struct dict_indexed *)d)->path;
}

static int dict_indexed_lookup(dict_t *d, const char *key, const char **value_r)
{
    if (dict_indexed_refresh(d) < 0)
        return -1;
    return dict_indexed_inner(d)->lookup(dict_indexed_inner(d), key, value_r);
}

static int dict_indexed_iterate(dict_t *d, dict_iter_fn fn, void *ctx)
{
    if (dict_indexed_refresh(d) < 0)
        return -1;
    dict_t *inner = dict_indexed_inner(d);
    return inner->iterate(inner, fn, ctx);
}

static void dict_indexed_close(dict_t *d)
{
    struct dict_indexed *x = (struct dict_indexed *)d;
    dict_close(&x->inner);
    free(x->path);
    dict_free_common(d);
}

bool dict_is_indexed(const dict_t *d)
{
    return d->close == dict_indexed_close;
}

dict_t *dict_indexed_open(const struct dict_type *t, const char *type, const char *name, int flags,
                          char **error_r)
{
    struct dict_indexed *x = (struct dict_indexed *)dict_alloc(sizeof(*x), type, name, flags);
    x->t = t;
    x->path = xasprintf("%s%s", name, t->suffix);
    x->d.fold = dict_folds(&x->d);
    x->d.lookup = dict_indexed_lookup;
    x->d.iterate = dict_indexed_iterate;
    x->d.close = dict_indexed_close;
    x->inner = dict_indexed_load(x, &x->st, error_r);
    if (x->inner == NULL) {
        dict_t *d = &x->d;
        dict_indexed_close(d);
        return NULL;
    }
    return &x->d;
}
