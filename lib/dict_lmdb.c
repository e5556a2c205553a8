/*
 * dict_lmdb.c - lmdb:NAME, an LMDB file NAME.lmdb (MDB_NOSUBDIR, main
 * database).  Files are only ever replaced whole (see dict_writer.c), so
 * readers open them with MDB_NOLOCK and no lock file exists.  Records
 * carry the terminating NUL of key and value, as in dict_db.c.
 *
 * A writer collects the records in memory and writes them in one
 * transaction at sync time, growing the map size when LMDB says it is
 * full, so no size has to be guessed or configured.
 */
#include "dict.h"
#include "log.h"
#include "mem.h"

#include <lmdb.h>

struct dict_lmdb {
    dict_t d;
    MDB_env *env;
    MDB_dbi dbi;
    char *path;
    struct dict_mem *pending; /* writers only */
    size_t pending_bytes;
};

static void dict_lmdb_copy(str_t *out, const MDB_val *v)
{
    size_t n = v->mv_size;
    const char *p = v->mv_data;
    if (n > 0 && p[n - 1] == '\0')
        n--;
    str_set(out, p, n);
}

static int dict_lmdb_lookup(dict_t *d, const char *key, const char **value_r)
{
    struct dict_lmdb *x = (struct dict_lmdb *)d;
    MDB_txn *txn;
    int r = mdb_txn_begin(x->env, NULL, MDB_RDONLY, &txn);
    if (r != 0) {
        msg_warn("table %s: %s: %s", d->spec, x->path, mdb_strerror(r));
        return -1;
    }
    size_t klen = strlen(key);
    MDB_val k = {.mv_size = klen + 1, .mv_data = (void *)key}, v;
    r = mdb_get(txn, x->dbi, &k, &v);
    if (r == MDB_NOTFOUND) {
        k.mv_size = klen;
        r = mdb_get(txn, x->dbi, &k, &v);
    }
    if (r == 0)
        dict_lmdb_copy(d->buf, &v);
    mdb_txn_abort(txn);
    if (r == MDB_NOTFOUND)
        return 0;
    if (r != 0) {
        msg_warn("table %s: lookup in %s: %s", d->spec, x->path, mdb_strerror(r));
        return -1;
    }
    *value_r = str_c(d->buf);
    return 1;
}

static int dict_lmdb_walk(dict_t *d, MDB_cursor *cur, dict_iter_fn fn, void *ctx)
{
    MDB_val k, v;
    int r;
    while ((r = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) == 0) {
        dict_lmdb_copy(d->keybuf, &k);
        dict_lmdb_copy(d->buf, &v);
        if (fn(str_c(d->keybuf), str_c(d->buf), ctx) != 0)
            return 0;
    }
    return r == MDB_NOTFOUND ? 0 : r;
}

static int dict_lmdb_iterate(dict_t *d, dict_iter_fn fn, void *ctx)
{
    struct dict_lmdb *x = (struct dict_lmdb *)d;
    MDB_txn *txn;
    MDB_cursor *cur;
    int r = mdb_txn_begin(x->env, NULL, MDB_RDONLY, &txn);
    if (r == 0) {
        r = mdb_cursor_open(txn, x->dbi, &cur);
        if (r == 0) {
            r = dict_lmdb_walk(d, cur, fn, ctx);
            mdb_cursor_close(cur);
        }
        mdb_txn_abort(txn);
    }
    if (r != 0) {
        msg_error("table %s: reading %s: %s", d->spec, x->path, mdb_strerror(r));
        return -1;
    }
    return 0;
}

static int dict_lmdb_put(dict_t *d, const char *key, const char *value)
{
    struct dict_lmdb *x = (struct dict_lmdb *)d;
    int r = dict_mem_put(x->pending, key, value);
    if (r == 0)
        x->pending_bytes = size_add(x->pending_bytes, strlen(key) + strlen(value) + 64);
    return r;
}

static int dict_lmdb_store(const char *key, const char *value, void *ctx)
{
    MDB_txn *txn = ((void **)ctx)[0];
    MDB_dbi *dbi = ((void **)ctx)[1];
    int *err = ((void **)ctx)[2];
    MDB_val k = {.mv_size = strlen(key) + 1, .mv_data = (void *)key};
    MDB_val v = {.mv_size = strlen(value) + 1, .mv_data = (void *)value};
    *err = mdb_put(txn, *dbi, &k, &v, MDB_NOOVERWRITE);
    return *err;
}

/* One attempt at writing everything; returns an LMDB status. */
static int dict_lmdb_write_all(struct dict_lmdb *x)
{
    MDB_txn *txn;
    int r = mdb_txn_begin(x->env, NULL, 0, &txn);
    if (r != 0)
        return r;
    r = mdb_dbi_open(txn, NULL, 0, &x->dbi);
    if (r == 0) {
        int err = 0;
        void *ctx[3] = {txn, &x->dbi, &err};
        dict_mem_iterate(x->pending, dict_lmdb_store, ctx);
        r = err;
    }
    if (r != 0) {
        mdb_txn_abort(txn);
        return r;
    }
    return mdb_txn_commit(txn);
}

static int dict_lmdb_sync(dict_t *d, char **error_r)
{
    struct dict_lmdb *x = (struct dict_lmdb *)d;
    size_t mapsize = size_add(size_mul(x->pending_bytes, 2), 1024 * 1024);
    int r;
    for (;;) {
        r = mdb_env_set_mapsize(x->env, mapsize);
        if (r == 0)
            r = dict_lmdb_write_all(x);
        if (r != MDB_MAP_FULL)
            break;
        mapsize = size_mul(mapsize, 2);
    }
    if (r == 0)
        r = mdb_env_sync(x->env, 1);
    if (r != 0) {
        *error_r = xasprintf("write %s: %s", x->path, mdb_strerror(r));
        return -1;
    }
    return 0;
}

static void dict_lmdb_close(dict_t *d)
{
    struct dict_lmdb *x = (struct dict_lmdb *)d;
    if (x->env != NULL)
        mdb_env_close(x->env);
    dict_mem_free(&x->pending);
    free(x->path);
    dict_free_common(d);
}

static dict_t *dict_lmdb_start(const char *path, int flags, unsigned oflags, char **error_r)
{
    struct dict_lmdb *x = (struct dict_lmdb *)dict_alloc(sizeof(*x), "lmdb", path, flags);
    x->path = xstrdup(path);
    x->d.lookup = dict_lmdb_lookup;
    x->d.iterate = dict_lmdb_iterate;
    x->d.close = dict_lmdb_close;
    int r = mdb_env_create(&x->env);
    if (r == 0) {
        r = mdb_env_open(x->env, path, oflags | MDB_NOSUBDIR | MDB_NOLOCK, 0600);
        if (r != 0) {
            mdb_env_close(x->env);
            x->env = NULL;
        }
    }
    if (r != 0) {
        *error_r = xasprintf("open lmdb table %s: %s", path, mdb_strerror(r));
        dict_lmdb_close(&x->d);
        return NULL;
    }
    return &x->d;
}

static dict_t *dict_lmdb_open(const char *path, int flags, char **error_r)
{
    dict_t *d = dict_lmdb_start(path, flags, MDB_RDONLY, error_r);
    if (d == NULL)
        return NULL;
    struct dict_lmdb *x = (struct dict_lmdb *)d;
    MDB_txn *txn;
    int r = mdb_txn_begin(x->env, NULL, MDB_RDONLY, &txn);
    if (r == 0) {
        r = mdb_dbi_open(txn, NULL, 0, &x->dbi);
        if (r == 0)
            r = mdb_txn_commit(txn); /* keeps the handle; abort would close it */
        else
            mdb_txn_abort(txn);
    }
    if (r != 0) {
        *error_r = xasprintf("open lmdb table %s: %s", path, mdb_strerror(r));
        dict_lmdb_close(d);
        return NULL;
    }
    return d;
}

static dict_t *dict_lmdb_create(const char *path, int flags, char **error_r)
{
    dict_t *d = dict_lmdb_start(path, flags, 0, error_r);
    if (d == NULL)
        return NULL;
    struct dict_lmdb *x = (struct dict_lmdb *)d;
    x->pending = dict_mem_new();
    x->d.put = dict_lmdb_put;
    x->d.sync = dict_lmdb_sync;
    return d;
}

const struct dict_type dict_type_lmdb = {
    .name = "lmdb", .suffix = ".lmdb", .open = dict_lmdb_open, .create = dict_lmdb_create};
