/*
 * maildir.c - durable Maildir delivery (tmp -> fsync -> new -> fsync new/)
 * and listing of new/ and cur/.  See maildir.h.
 */
#include "maildir.h"
#include "durable.h"
#include "log.h"
#include "mem.h"
#include "str.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/time.h>

#define MAILDIR_BUF 65536
#define MAILDIR_TRIES 50

struct maildir_delivery {
    int fd;
    char *path;     /* the Maildir */
    char *unique;   /* name in tmp/ */
    char *tmp_path; /* path/tmp/unique */
    char *host;     /* escaped host name */
    struct maildir_opts opts;
    str_t *buf;
    uint64_t size;
    int err;      /* sticky errno of a failed write */
    bool too_big; /* over size_limit */
};

static unsigned maildir_counter;

char *maildir_escape_host(const char *host)
{
    str_t *s = str_new(strlen(host) + 8);
    for (const char *p = host; *p; p++) {
        if (*p == '/')
            str_appendz(s, "\\057");
        else if (*p == ':')
            str_appendz(s, "\\072");
        else if (*p == ',')
            str_appendz(s, "\\054");
        else
            str_appendc(s, *p);
    }
    return str_steal(&s);
}

static char *maildir_host(const struct maildir_opts *opts)
{
    if (opts->hostname)
        return maildir_escape_host(opts->hostname);
    char name[256];
    if (gethostname(name, sizeof(name)) < 0)
        str_lcpy(name, "localhost", sizeof(name));
    name[sizeof(name) - 1] = '\0';
    return maildir_escape_host(name);
}

int maildir_create(const char *path, char **error_r)
{
    static const char *const subs[] = {"tmp", "new", "cur"};
    if (durable_mkdir_p(path, 0700) < 0) {
        *error_r = xasprintf("create maildir %s: %s", path, strerror(errno));
        return -1;
    }
    for (size_t i = 0; i < N_ELEMENTS(subs); i++) {
        char *sub = xasprintf("%s/%s", path, subs[i]);
        int r = durable_mkdir_p(sub, 0700);
        if (r < 0)
            *error_r = xasprintf("create %s: %s", sub, strerror(errno));
        free(sub);
        if (r < 0)
            return -1;
    }
    return 0;
}

/* Make a fresh unique name. */
static char *maildir_unique(const char *host)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return xasprintf("%lld.M%ldP%ldQ%u.%s", (long long)tv.tv_sec, (long)tv.tv_usec, (long)getpid(),
                     ++maildir_counter, host);
}

/* Create tmp/UNIQUE exclusively. */
static int maildir_open_tmp(maildir_delivery_t *d, char **error_r)
{
    for (int i = 0; i < MAILDIR_TRIES; i++) {
        d->unique = maildir_unique(d->host);
        d->tmp_path = xasprintf("%s/tmp/%s", d->path, d->unique);
        d->fd = open(d->tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (d->fd >= 0)
            return 0;
        int e = errno;
        xfree(d->unique);
        xfree(d->tmp_path);
        if (e != EEXIST) {
            *error_r = xasprintf("create %s/tmp file: %s", d->path, strerror(e));
            return -1;
        }
    }
    *error_r = xasprintf("create %s/tmp file: names keep clashing", d->path);
    return -1;
}

static void maildir_free(maildir_delivery_t **dp)
{
    maildir_delivery_t *d = *dp;
    if (d->fd >= 0)
        close(d->fd);
    free(d->path);
    free(d->unique);
    free(d->tmp_path);
    free(d->host);
    str_free(&d->buf);
    xfree(*dp);
}

/* MAILDIR_ETOOBIG when adding extra bytes would pass the quota. */
static int maildir_check_quota(const maildir_delivery_t *d, uint64_t extra, char **error_r)
{
    if (d->opts.quota == 0)
        return MAILDIR_OK;
    uint64_t used;
    if (maildir_usage(d->path, &used, error_r) < 0)
        return MAILDIR_ETEMP;
    if (used + extra > d->opts.quota) {
        *error_r = xasprintf("%s: mailbox over quota (%llu + %llu > %llu bytes)", d->path,
                             (unsigned long long)used, (unsigned long long)extra,
                             (unsigned long long)d->opts.quota);
        return MAILDIR_ETOOBIG;
    }
    return MAILDIR_OK;
}

int maildir_deliver_begin(const char *path, const struct maildir_opts *opts,
                          maildir_delivery_t **d_r, char **error_r)
{
    static const struct maildir_opts no_opts;
    if (maildir_create(path, error_r) < 0)
        return MAILDIR_ETEMP;
    maildir_delivery_t *d = xcalloc(1, sizeof(*d));
    d->fd = -1;
    d->path = xstrdup(path);
    /* "dir/" and "dir" name the same Maildir; keep messages free of "//". */
    for (size_t n = strlen(d->path); n > 1 && d->path[n - 1] == '/'; n--)
        d->path[n - 1] = '\0';
    d->opts = opts ? *opts : no_opts;
    d->host = maildir_host(&d->opts);
    int rc = maildir_check_quota(d, 0, error_r);
    if (rc == MAILDIR_OK && maildir_open_tmp(d, error_r) < 0)
        rc = MAILDIR_ETEMP;
    if (rc != MAILDIR_OK) {
        maildir_free(&d);
        return rc;
    }
    d->buf = str_new(MAILDIR_BUF);
    *d_r = d;
    return MAILDIR_OK;
}

static int maildir_flush(maildir_delivery_t *d)
{
    if (d->err == 0 && str_len(d->buf) > 0 &&
        durable_write_all(d->fd, str_c(d->buf), str_len(d->buf)) < 0)
        d->err = errno;
    str_reset(d->buf);
    return d->err ? -1 : 0;
}

int maildir_write(maildir_delivery_t *d, const void *data, size_t len)
{
    if (d->err || d->too_big)
        return -1;
    d->size += len;
    if (d->opts.size_limit && d->size > d->opts.size_limit) {
        d->too_big = true;
        return -1;
    }
    if (str_len(d->buf) + len > MAILDIR_BUF && maildir_flush(d) < 0)
        return -1;
    if (len >= MAILDIR_BUF) {
        if (durable_write_all(d->fd, data, len) < 0)
            d->err = errno;
        return d->err ? -1 : 0;
    }
    str_append(d->buf, data, len);
    return 0;
}

uint64_t maildir_delivery_size(const maildir_delivery_t *d)
{
    return d->size;
}

/* Rename tmp/UNIQUE to new/UNIQUE,S=SIZE, choosing a new UNIQUE on a clash. */
static int maildir_link_new(maildir_delivery_t *d, char **name_r, char **error_r)
{
    for (int i = 0; i < MAILDIR_TRIES; i++) {
        char *name = i == 0 ? xasprintf("%s,S=%llu", d->unique, (unsigned long long)d->size) : NULL;
        if (name == NULL) {
            char *u = maildir_unique(d->host);
            name = xasprintf("%s,S=%llu", u, (unsigned long long)d->size);
            free(u);
        }
        char *dst = xasprintf("%s/new/%s", d->path, name);
        int r = durable_rename_noreplace(d->tmp_path, dst);
        int e = errno;
        free(dst);
        if (r == 0) {
            *name_r = name;
            return 0;
        }
        free(name);
        if (e != EEXIST) {
            *error_r = xasprintf("rename %s into new/: %s", d->tmp_path, strerror(e));
            return -1;
        }
    }
    *error_r = xasprintf("rename %s into new/: names keep clashing", d->tmp_path);
    return -1;
}

/* Flush, fsync and close the tmp/ file; the status to return. */
static int maildir_finish_tmp(maildir_delivery_t *d, char **error_r)
{
    if (d->too_big) {
        *error_r = xasprintf("%s: message over the size limit of %llu bytes", d->path,
                             (unsigned long long)d->opts.size_limit);
        return MAILDIR_ETOOBIG;
    }
    int rc = maildir_check_quota(d, d->size, error_r);
    if (rc != MAILDIR_OK)
        return rc;
    if (maildir_flush(d) < 0) {
        *error_r = xasprintf("write %s: %s", d->tmp_path, strerror(d->err));
        return MAILDIR_ETEMP;
    }
    int fd = d->fd;
    d->fd = -1;
    if (fsync(fd) < 0 || close(fd) < 0) {
        int e = errno;
        close(fd);
        *error_r = xasprintf("fsync %s: %s", d->tmp_path, strerror(e));
        return MAILDIR_ETEMP;
    }
    return MAILDIR_OK;
}

/*
 * Deliveries to one Maildir from several processes share the fsync of its
 * new/ (durable.h, group commit; the state file is MAILDIR/tern-commit).
 * Without it (say the Maildir is not writable) each fsyncs on its own.
 */
static void maildir_join_group(const char *path, const char *newdir)
{
    char *state = xasprintf("%s/tern-commit", path);
    (void)durable_group_open(newdir, state);
    free(state);
}

int maildir_deliver_commit(maildir_delivery_t **dp, char **name_r, char **error_r)
{
    maildir_delivery_t *d = *dp;
    char *name = NULL;
    int rc = maildir_finish_tmp(d, error_r);
    if (rc == MAILDIR_OK && maildir_link_new(d, &name, error_r) < 0)
        rc = MAILDIR_ETEMP;
    if (rc == MAILDIR_OK) {
        char *newdir = xasprintf("%s/new", d->path);
        maildir_join_group(d->path, newdir);
        if (durable_fsync_dir(newdir) < 0) {
            /* The entry may not be durable: take it back, report failure. */
            *error_r = xasprintf("fsync %s: %s", newdir, strerror(errno));
            char *p = xasprintf("%s/%s", newdir, name);
            unlink(p);
            free(p);
            xfree(name);
            rc = MAILDIR_ETEMP;
        }
        free(newdir);
    }
    if (rc != MAILDIR_OK) {
        maildir_deliver_abort(dp);
        return rc;
    }
    if (name_r)
        *name_r = name;
    else
        free(name);
    maildir_free(dp);
    return MAILDIR_OK;
}

void maildir_deliver_abort(maildir_delivery_t **dp)
{
    if (*dp == NULL)
        return;
    if ((*dp)->tmp_path)
        unlink((*dp)->tmp_path);
    maildir_free(dp);
}

/* ---- names and listing ------------------------------------------------ */

int maildir_name_size(const char *name, uint64_t *size_r)
{
    const char *end = strchr(name, ':');
    if (end == NULL)
        end = name + strlen(name);
    for (const char *p = name; p < end; p++) {
        if (p[0] != ',' || p[1] != 'S' || p[2] != '=')
            continue;
        uint64_t v = 0;
        const char *q = p + 3;
        if (q >= end || *q < '0' || *q > '9')
            return -1;
        for (; q < end && *q >= '0' && *q <= '9'; q++) {
            if (v > (UINT64_MAX - 9) / 10)
                return -1;
            v = v * 10 + (uint64_t)(*q - '0');
        }
        if (q != end && *q != ',')
            return -1;
        *size_r = v;
        return 0;
    }
    return -1;
}

const char *maildir_name_flags(const char *name)
{
    const char *info = strchr(name, ':');
    if (info == NULL || strncmp(info, ":2,", 3) != 0)
        return NULL;
    return info + 3;
}

static int entry_cmp(const void *a, const void *b)
{
    const struct maildir_entry *x = a, *y = b;
    return strcmp(x->name, y->name);
}

/* Append the messages of one subdirectory. */
static int maildir_scan(const char *path, const char *sub, struct maildir_entry **ents,
                        size_t *count, size_t *alloc, char **error_r)
{
    char *dir = xasprintf("%s/%s", path, sub);
    DIR *dh = opendir(dir);
    if (dh == NULL) {
        *error_r = xasprintf("open %s: %s", dir, strerror(errno));
        free(dir);
        return -1;
    }
    struct dirent *de;
    while ((de = readdir(dh)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        uint64_t size;
        if (maildir_name_size(de->d_name, &size) < 0) {
            struct stat st;
            if (fstatat(dirfd(dh), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
                !S_ISREG(st.st_mode))
                continue; /* vanished meanwhile, or not a message */
            size = (uint64_t)st.st_size;
        }
        if (*count == *alloc) {
            *alloc = *alloc ? size_mul(*alloc, 2) : 64;
            *ents = xreallocarray(*ents, *alloc, sizeof(**ents));
        }
        const char *flags = maildir_name_flags(de->d_name);
        struct maildir_entry *e = &(*ents)[(*count)++];
        e->name = xstrdup(de->d_name);
        e->in_new = strcmp(sub, "new") == 0;
        e->size = size;
        e->flags = xstrdup(flags ? flags : "");
    }
    closedir(dh);
    free(dir);
    return 0;
}

int maildir_list(const char *path, struct maildir_entry **entries_r, size_t *count_r,
                 char **error_r)
{
    struct maildir_entry *ents = NULL;
    size_t count = 0, alloc = 0;
    if (maildir_scan(path, "new", &ents, &count, &alloc, error_r) < 0 ||
        maildir_scan(path, "cur", &ents, &count, &alloc, error_r) < 0) {
        maildir_list_free(&ents, count);
        return -1;
    }
    if (count > 1)
        qsort(ents, count, sizeof(*ents), entry_cmp);
    *entries_r = ents;
    *count_r = count;
    return 0;
}

void maildir_list_free(struct maildir_entry **entries, size_t count)
{
    if (*entries == NULL)
        return;
    for (size_t i = 0; i < count; i++) {
        free((*entries)[i].name);
        free((*entries)[i].flags);
    }
    xfree(*entries);
}

int maildir_usage(const char *path, uint64_t *bytes_r, char **error_r)
{
    struct maildir_entry *ents;
    size_t n;
    if (maildir_list(path, &ents, &n, error_r) < 0)
        return -1;
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += ents[i].size;
    maildir_list_free(&ents, n);
    *bytes_r = total;
    return 0;
}
