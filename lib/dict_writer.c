/*
 * dict_writer.c - building indexed tables atomically (see dict.h,
 * "Rebuilds"): a new file NAME.suffix.tmp.PID is written, fsynced and
 * renamed over NAME.suffix, then the directory is fsynced.  dict_update()
 * and dict_delete() rewrite the whole file the same way, so no reader
 * ever sees a file being modified.
 */
#include "dict.h"
#include "dict_indexed.h"
#include "log.h"
#include "mem.h"

#include <fcntl.h>
#include <libgen.h>
#include <sys/stat.h>

struct dict_writer {
    dict_t *inner;
    char *spec;
    char *target;
    char *tmp;
    mode_t mode;
    int flags;
    str_t *key;
};

/* Mode for the new file: the old file's, else the source's, else 0644. */
static mode_t dict_writer_mode(const char *target, const char *source)
{
    struct stat st;
    if (stat(target, &st) == 0 || stat(source, &st) == 0)
        return st.st_mode & 07777;
    return 0644;
}

dict_writer_t *dict_writer_begin(const char *spec, int flags, char **error_r)
{
    char *type;
    const char *name;
    const struct dict_type *t = dict_split_spec(spec, &type, &name, error_r);
    if (t == NULL)
        return NULL;
    if (t->suffix == NULL) {
        *error_r = xasprintf("table %s: type %s is not built from a file", spec, type);
        free(type);
        return NULL;
    }
    free(type);
    dict_writer_t *w = xcalloc(1, sizeof(*w));
    w->spec = xstrdup(spec);
    w->target = xasprintf("%s%s", name, t->suffix);
    w->tmp = xasprintf("%s.tmp.%ld", w->target, (long)getpid());
    w->mode = dict_writer_mode(w->target, name);
    w->flags = flags;
    w->key = str_new(64);
    (void)unlink(w->tmp); /* left over by a crashed build with our pid */
    w->inner = t->create(w->tmp, flags, error_r);
    if (w->inner == NULL) {
        dict_writer_abort(&w);
        return NULL;
    }
    return w;
}

int dict_writer_put(dict_writer_t *w, const char *key, const char *value)
{
    if (*key == '\0') {
        msg_error("table %s: empty key not stored", w->spec);
        return -1;
    }
    str_setz(w->key, key);
    if ((w->flags & DICT_FLAG_NO_FOLD) == 0)
        str_lower(w->key);
    return w->inner->put(w->inner, str_c(w->key), value);
}

/* Copy a record as stored (no folding): used when rewriting a table. */
static int dict_writer_put_raw(dict_writer_t *w, const char *key, const char *value)
{
    return w->inner->put(w->inner, key, value);
}

static void dict_writer_free(dict_writer_t *w)
{
    dict_close(&w->inner);
    free(w->spec);
    free(w->target);
    free(w->tmp);
    str_free(&w->key);
    free(w);
}

void dict_writer_abort(dict_writer_t **wp)
{
    dict_writer_t *w = *wp;
    if (w == NULL)
        return;
    *wp = NULL;
    dict_close(&w->inner);
    (void)unlink(w->tmp);
    dict_writer_free(w);
}

static int dict_fsync_dir(const char *path, char **error_r)
{
    char *copy = xstrdup(path);
    const char *dir = dirname(copy);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int ret = 0;
    if (fd < 0 || fsync(fd) < 0) {
        *error_r = xasprintf("fsync directory %s: %s", dir, strerror(errno));
        ret = -1;
    }
    if (fd >= 0)
        close(fd);
    free(copy);
    return ret;
}

int dict_writer_commit(dict_writer_t **wp, char **error_r)
{
    dict_writer_t *w = *wp;
    *wp = NULL;
    int ret = -1;
    if (w->inner->sync(w->inner, error_r) < 0)
        goto out;
    dict_close(&w->inner);
    if (chmod(w->tmp, w->mode) < 0) {
        *error_r = xasprintf("chmod %s: %s", w->tmp, strerror(errno));
        goto out;
    }
    if (rename(w->tmp, w->target) < 0) {
        *error_r = xasprintf("rename %s to %s: %s", w->tmp, w->target, strerror(errno));
        goto out;
    }
    ret = dict_fsync_dir(w->target, error_r);
out:
    if (ret < 0)
        (void)unlink(w->tmp);
    dict_writer_free(w);
    return ret;
}

/* ---- building from source text --------------------------------------- */

struct dict_build_ctx {
    dict_writer_t *w;
    const char *source;
    int failed;
};

static int dict_build_entry(const char *key, const char *value, int line, void *ctx)
{
    struct dict_build_ctx *b = ctx;
    int r = dict_writer_put(b->w, key, value);
    if (r == 1) {
        str_t *k = str_new(64);
        str_append_printable(k, key, strlen(key), 200);
        msg_warn("%s, line %d: duplicate entry \"%s\": keeping the first", b->source, line,
                 str_c(k));
        str_free(&k);
    } else if (r < 0) {
        b->failed = 1;
        return -1;
    }
    return 0;
}

int dict_build(const char *spec, int flags, char **error_r)
{
    char *type;
    const char *name;
    const struct dict_type *t = dict_split_spec(spec, &type, &name, error_r);
    if (t == NULL)
        return -1;
    free(type);
    size_t len;
    char *text = dict_read_file(name, &len, error_r);
    if (text == NULL)
        return -1;
    struct dict_build_ctx b = {.source = name};
    b.w = dict_writer_begin(spec, flags, error_r);
    if (b.w == NULL) {
        free(text);
        return -1;
    }
    int r = dict_source_parse(text, len, name, (flags & DICT_FLAG_ALIAS) != 0, dict_build_entry, &b,
                              error_r);
    free(text);
    if (r < 0 || b.failed) {
        if (*error_r == NULL)
            *error_r = xasprintf("table %s: cannot store entries", spec);
        dict_writer_abort(&b.w);
        return -1;
    }
    return dict_writer_commit(&b.w, error_r);
}

/* ---- rewriting an open indexed table --------------------------------- */

struct dict_rewrite_ctx {
    dict_writer_t *w;
    const char *skip; /* key not copied */
    int skipped;
    int failed;
};

static int dict_rewrite_entry(const char *key, const char *value, void *ctx)
{
    struct dict_rewrite_ctx *rw = ctx;
    if (rw->skip != NULL && strcmp(key, rw->skip) == 0) {
        rw->skipped = 1;
        return 0;
    }
    if (dict_writer_put_raw(rw->w, key, value) < 0) {
        rw->failed = 1;
        return -1;
    }
    return 0;
}

/* Copy d without key; if value != NULL store key=value.  1 key was there,
 * 0 it was not, -1 error (logged). */
static int dict_rewrite(dict_t *d, const char *key, const char *value)
{
    if (!dict_is_indexed(d)) {
        msg_error("table %s: type %s cannot be changed by update/delete", d->spec, d->type);
        return -1;
    }
    if (*key == '\0') {
        msg_error("table %s: empty key", d->spec);
        return -1;
    }
    if (dict_indexed_refresh(d) < 0)
        return -1;
    str_setz(d->keybuf, key);
    if (d->fold)
        str_lower(d->keybuf);
    char *error = NULL;
    struct dict_rewrite_ctx rw = {.skip = str_c(d->keybuf)};
    rw.w = dict_writer_begin(d->spec, d->flags, &error);
    if (rw.w == NULL) {
        msg_error("%s", error);
        free(error);
        return -1;
    }
    dict_t *inner = dict_indexed_inner(d);
    if (inner->iterate(inner, dict_rewrite_entry, &rw) < 0 || rw.failed ||
        (value != NULL && dict_writer_put_raw(rw.w, str_c(d->keybuf), value) < 0)) {
        dict_writer_abort(&rw.w);
        return -1;
    }
    if (value == NULL && !rw.skipped) {
        dict_writer_abort(&rw.w);
        return 0;
    }
    if (dict_writer_commit(&rw.w, &error) < 0) {
        msg_error("table %s: %s", d->spec, error);
        free(error);
        return -1;
    }
    return dict_indexed_refresh(d) < 0 ? -1 : rw.skipped;
}

int dict_update(dict_t *d, const char *key, const char *value)
{
    return dict_rewrite(d, key, value) < 0 ? -1 : 0;
}

int dict_delete(dict_t *d, const char *key)
{
    return dict_rewrite(d, key, NULL);
}
