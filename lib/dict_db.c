/*
 * dict_db.c - hash:NAME and btree:NAME, Berkeley DB 5.3 files NAME.db
 * (DB_HASH / DB_BTREE) opened without an environment.  Records carry the
 * key's and value's terminating NUL (Postfix's default on Linux); lookups
 * also try the key without it.  Files are only ever replaced whole (see
 * dict_writer.c), so readers need no locks.
 */
#include "dict.h"
#include "log.h"
#include "mem.h"

#include <db.h>

struct dict_db {
    dict_t d;
    DB *db;
    char *path;
};

/* Copy a stored string (with or without its NUL) into out. */
static void dict_db_copy(str_t *out, const DBT *v)
{
    size_t n = v->size;
    const char *p = v->data;
    if (n > 0 && p[n - 1] == '\0')
        n--;
    str_set(out, p, n);
}

static int dict_db_get(struct dict_db *x, const char *key, size_t klen, DBT *val)
{
    DBT k = {.data = (void *)key, .size = (u_int32_t)klen};
    memset(val, 0, sizeof(*val));
    return x->db->get(x->db, NULL, &k, val, 0);
}

static int dict_db_lookup(dict_t *d, const char *key, const char **value_r)
{
    struct dict_db *x = (struct dict_db *)d;
    size_t klen = strlen(key);
    DBT val;
    int r = dict_db_get(x, key, klen + 1, &val);
    if (r == DB_NOTFOUND)
        r = dict_db_get(x, key, klen, &val);
    if (r == DB_NOTFOUND)
        return 0;
    if (r != 0) {
        msg_warn("table %s: lookup in %s: %s", d->spec, x->path, db_strerror(r));
        return -1;
    }
    dict_db_copy(d->buf, &val);
    *value_r = str_c(d->buf);
    return 1;
}

static int dict_db_iterate(dict_t *d, dict_iter_fn fn, void *ctx)
{
    struct dict_db *x = (struct dict_db *)d;
    DBC *cur;
    int r = x->db->cursor(x->db, NULL, &cur, 0);
    if (r != 0) {
        msg_error("table %s: cursor on %s: %s", d->spec, x->path, db_strerror(r));
        return -1;
    }
    DBT k, v;
    memset(&k, 0, sizeof(k));
    memset(&v, 0, sizeof(v));
    while ((r = cur->get(cur, &k, &v, DB_NEXT)) == 0) {
        dict_db_copy(d->keybuf, &k);
        dict_db_copy(d->buf, &v);
        if (fn(str_c(d->keybuf), str_c(d->buf), ctx) != 0)
            break;
    }
    cur->close(cur);
    if (r != 0 && r != DB_NOTFOUND) {
        msg_error("table %s: reading %s: %s", d->spec, x->path, db_strerror(r));
        return -1;
    }
    return 0;
}

static int dict_db_put(dict_t *d, const char *key, const char *value)
{
    struct dict_db *x = (struct dict_db *)d;
    DBT k = {.data = (void *)key, .size = (u_int32_t)(strlen(key) + 1)};
    DBT v = {.data = (void *)value, .size = (u_int32_t)(strlen(value) + 1)};
    int r = x->db->put(x->db, NULL, &k, &v, DB_NOOVERWRITE);
    if (r == DB_KEYEXIST)
        return 1;
    if (r != 0) {
        msg_error("table %s: writing %s: %s", d->spec, x->path, db_strerror(r));
        return -1;
    }
    return 0;
}

static int dict_db_sync(dict_t *d, char **error_r)
{
    struct dict_db *x = (struct dict_db *)d;
    int fd, r = x->db->sync(x->db, 0);
    if (r == 0)
        r = x->db->fd(x->db, &fd);
    if (r != 0) {
        *error_r = xasprintf("sync %s: %s", x->path, db_strerror(r));
        return -1;
    }
    if (fsync(fd) < 0) {
        *error_r = xasprintf("fsync %s: %s", x->path, strerror(errno));
        return -1;
    }
    return 0;
}

static void dict_db_close(dict_t *d)
{
    struct dict_db *x = (struct dict_db *)d;
    if (x->db != NULL)
        x->db->close(x->db, 0);
    free(x->path);
    dict_free_common(d);
}

/* Berkeley DB's own diagnostics: ours already say what failed. */
static void dict_db_errcall(const DB_ENV *env, const char *pfx, const char *msg)
{
    (void)env;
    (void)pfx;
    msg_debug("berkeley db: %s", msg);
}

static dict_t *dict_db_start(const char *type, DBTYPE dbtype, const char *path, int flags,
                             u_int32_t oflags, char **error_r)
{
    struct dict_db *x = (struct dict_db *)dict_alloc(sizeof(*x), type, path, flags);
    x->path = xstrdup(path);
    x->d.lookup = dict_db_lookup;
    x->d.iterate = dict_db_iterate;
    x->d.put = dict_db_put;
    x->d.sync = dict_db_sync;
    x->d.close = dict_db_close;
    int r = db_create(&x->db, NULL, 0);
    if (r == 0) {
        x->db->set_errcall(x->db, dict_db_errcall);
        r = x->db->open(x->db, NULL, path, NULL, dbtype, oflags, 0600);
        if (r != 0) {
            x->db->close(x->db, 0);
            x->db = NULL;
        }
    }
    if (r != 0) {
        *error_r =
            xasprintf("open %s table %s: %s", type, path, r > 0 ? strerror(r) : db_strerror(r));
        dict_db_close(&x->d);
        return NULL;
    }
    return &x->d;
}

static dict_t *dict_hash_open(const char *path, int flags, char **error_r)
{
    return dict_db_start("hash", DB_HASH, path, flags, DB_RDONLY, error_r);
}

static dict_t *dict_hash_create(const char *path, int flags, char **error_r)
{
    return dict_db_start("hash", DB_HASH, path, flags, DB_CREATE | DB_EXCL, error_r);
}

static dict_t *dict_btree_open(const char *path, int flags, char **error_r)
{
    return dict_db_start("btree", DB_BTREE, path, flags, DB_RDONLY, error_r);
}

static dict_t *dict_btree_create(const char *path, int flags, char **error_r)
{
    return dict_db_start("btree", DB_BTREE, path, flags, DB_CREATE | DB_EXCL, error_r);
}

const struct dict_type dict_type_hash = {
    .name = "hash", .suffix = ".db", .open = dict_hash_open, .create = dict_hash_create};
const struct dict_type dict_type_btree = {
    .name = "btree", .suffix = ".db", .open = dict_btree_open, .create = dict_btree_create};
