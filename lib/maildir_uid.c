/*
 * maildir_uid.c - the tern-uidlist file: base names to UIDs (see
 * maildir_uid.h for the format and the promises).
 */
#include "maildir_uid.h"

#include "log.h"
#include "mem.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>

#define UIDLIST_MAX_BYTES (256u * 1024 * 1024) /* a sanity bound on the file */

struct uid_entry {
    uint32_t uid;
    bool seen;
    uint64_t vsize;
    char *base;
};

struct maildir_uidlist {
    char *dir;   /* NULL for a detached list */
    int lock_fd; /* -1 when not locked */
    uint32_t validity, next;
    struct uid_entry *e; /* ascending uid */
    size_t n, cap;
    size_t *idx; /* indexes into e, sorted by base */
    bool changed;
};

maildir_uidlist_t *maildir_uid_new(uint32_t uidvalidity)
{
    maildir_uidlist_t *l = xcalloc(1, sizeof(*l));
    l->lock_fd = -1;
    l->validity = uidvalidity != 0 ? uidvalidity : 1;
    l->next = 1;
    return l;
}

uint32_t maildir_uid_validity(const maildir_uidlist_t *l)
{
    return l->validity;
}
uint32_t maildir_uid_next(const maildir_uidlist_t *l)
{
    return l->next;
}
size_t maildir_uid_count(const maildir_uidlist_t *l)
{
    return l->n;
}

size_t maildir_uid_base_len(const char *name)
{
    return strcspn(name, ":");
}

void maildir_uid_uidl(uint32_t uid, uint32_t uidvalidity, char buf[MAILDIR_UIDL_LEN + 1])
{
    (void)snprintf(buf, MAILDIR_UIDL_LEN + 1, "%08x%08x", (unsigned)uid, (unsigned)uidvalidity);
}

static bool uid_base_valid(const char *base, size_t len)
{
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)base[i];
        if (c <= 0x20 || c == 0x7f || c == '/' || c == ':')
            return false;
    }
    return true;
}

/* Position of base in the index (found: *found_r true). */
static size_t uid_index_find(const maildir_uidlist_t *l, const char *base, bool *found_r)
{
    size_t lo = 0, hi = l->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(l->e[l->idx[mid]].base, base);
        if (c == 0) {
            *found_r = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found_r = false;
    return lo;
}

/* Append an entry (uid larger than every other; base is taken over), not indexed. */
static void uid_append(maildir_uidlist_t *l, uint32_t uid, uint64_t vsize, char *base)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? size_mul(l->cap, 2) : 64;
        l->e = xreallocarray(l->e, l->cap, sizeof(*l->e));
        l->idx = xreallocarray(l->idx, l->cap, sizeof(*l->idx));
    }
    l->e[l->n++] = (struct uid_entry){.uid = uid, .vsize = vsize, .base = base};
}

/* Append an entry (uid larger than every other) and index it; -1 on a duplicate base. */
static int uid_add(maildir_uidlist_t *l, uint32_t uid, uint64_t vsize, const char *base)
{
    bool found;
    size_t pos = uid_index_find(l, base, &found);
    if (found)
        return -1;
    uid_append(l, uid, vsize, xstrdup(base));
    memmove(&l->idx[pos + 1], &l->idx[pos], (l->n - 1 - pos) * sizeof(*l->idx));
    l->idx[pos] = l->n - 1;
    return 0;
}

uint32_t maildir_uid_lookup(const maildir_uidlist_t *l, const char *base)
{
    bool found;
    size_t pos = uid_index_find(l, base, &found);
    return found ? l->e[l->idx[pos]].uid : 0;
}

uint32_t maildir_uid_assign(maildir_uidlist_t *l, const char *base, uint64_t *vsize_r)
{
    if (!uid_base_valid(base, strlen(base)))
        return 0;
    bool found;
    size_t pos = uid_index_find(l, base, &found);
    if (found) {
        struct uid_entry *e = &l->e[l->idx[pos]];
        e->seen = true;
        if (vsize_r != NULL)
            *vsize_r = e->vsize;
        return e->uid;
    }
    if (l->next == UINT32_MAX)
        return 0; /* exhausted: the caller reports it; a new list fixes it */
    uint32_t uid = l->next++;
    (void)uid_add(l, uid, 0, base);
    l->e[l->n - 1].seen = true;
    l->changed = true;
    if (vsize_r != NULL)
        *vsize_r = 0;
    return uid;
}

/* The entry of uid (entries are in ascending uid order). */
static struct uid_entry *uid_by_uid(maildir_uidlist_t *l, uint32_t uid)
{
    size_t lo = 0, hi = l->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (l->e[mid].uid == uid)
            return &l->e[mid];
        if (l->e[mid].uid < uid)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

void maildir_uid_set_vsize(maildir_uidlist_t *l, uint32_t uid, uint64_t vsize)
{
    struct uid_entry *e = uid_by_uid(l, uid);
    if (e != NULL && e->vsize != vsize) {
        e->vsize = vsize;
        l->changed = true;
    }
}

/* ---- text form ------------------------------------------------------------- */

static int uid_parse_u64(const char *s, size_t len, uint64_t max, uint64_t *v_r)
{
    uint64_t v = 0;
    if (len == 0 || len > 20 || (len > 1 && s[0] == '0'))
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        uint64_t d = (uint64_t)(s[i] - '0');
        if (v > max / 10 || (v == max / 10 && d > max % 10))
            return -1;
        v = v * 10 + d;
    }
    *v_r = v;
    return 0;
}

static int uid_parse_header(maildir_uidlist_t *l, const char *line, size_t len)
{
    const char *magic = "tern-uidlist 1 V";
    size_t ml = strlen(magic);
    const char *sp = len > ml ? memchr(line + ml, ' ', len - ml) : NULL;
    uint64_t v, n;
    if (len <= ml || memcmp(line, magic, ml) != 0 || sp == NULL || sp[1] != 'N' ||
        uid_parse_u64(line + ml, (size_t)(sp - line) - ml, UINT32_MAX, &v) < 0 ||
        uid_parse_u64(sp + 2, len - (size_t)(sp + 2 - line), UINT32_MAX, &n) < 0 || v == 0 ||
        n == 0)
        return -1;
    l->validity = (uint32_t)v;
    l->next = (uint32_t)n;
    return 0;
}

/* "<uid> <vsize> <base>" */
static int uid_parse_entry(maildir_uidlist_t *l, const char *line, size_t len, char **error_r)
{
    const char *sp1 = memchr(line, ' ', len);
    const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', len - (size_t)(sp1 + 1 - line)) : NULL;
    uint64_t uid, vsize;
    if (sp2 == NULL || uid_parse_u64(line, (size_t)(sp1 - line), UINT32_MAX, &uid) < 0 ||
        uid_parse_u64(sp1 + 1, (size_t)(sp2 - sp1 - 1), UINT64_MAX, &vsize) < 0 || uid == 0)
        return error_set(error_r, "malformed entry");
    const char *base = sp2 + 1;
    size_t blen = len - (size_t)(base - line);
    if (!uid_base_valid(base, blen))
        return error_set(error_r, "bad base name");
    if (uid >= l->next || (l->n > 0 && uid <= l->e[l->n - 1].uid))
        return error_set(error_r, "UID %llu out of order", (unsigned long long)uid);
    uid_append(l, (uint32_t)uid, vsize, xstrndup(base, blen));
    return 0;
}

static const maildir_uidlist_t *uid_sort_list; /* qsort has no context argument */

static int uid_idx_cmp(const void *a, const void *b)
{
    const struct uid_entry *e = uid_sort_list->e;
    return strcmp(e[*(const size_t *)a].base, e[*(const size_t *)b].base);
}

/* Index the entries read from a file at once (n log n, not an insertion each). */
static int uid_index_all(maildir_uidlist_t *l, char **error_r)
{
    if (l->n == 0)
        return 0; /* no array yet: qsort(NULL, 0) is undefined */
    for (size_t i = 0; i < l->n; i++)
        l->idx[i] = i;
    uid_sort_list = l;
    qsort(l->idx, l->n, sizeof(*l->idx), uid_idx_cmp);
    uid_sort_list = NULL;
    for (size_t i = 1; i < l->n; i++)
        if (strcmp(l->e[l->idx[i - 1]].base, l->e[l->idx[i]].base) == 0)
            return error_set(error_r, "duplicate base name %s", l->e[l->idx[i]].base);
    return 0;
}

/*
 * The header line, then one entry per line; a missing final newline is an
 * error when strict (tern writes one), else the last line counts as is.
 */
static int uid_parse_lines(maildir_uidlist_t *l, const char *text, size_t len, bool strict,
                           int (*header)(maildir_uidlist_t *, const char *, size_t),
                           int (*entry)(maildir_uidlist_t *, const char *, size_t, char **),
                           char **error_r)
{
    size_t lineno = 0;
    for (size_t pos = 0; pos < len; lineno++) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        if (nl == NULL && strict)
            return error_set(error_r, "line %zu: no newline at the end", lineno + 1);
        const char *line = text + pos;
        size_t ll = nl != NULL ? (size_t)(nl - line) : len - pos;
        pos += ll + 1;
        if (lineno == 0) {
            if (header(l, line, ll) < 0)
                return error_set(error_r, "line 1: bad header");
            continue;
        }
        char *why = NULL;
        if (entry(l, line, ll, &why) < 0) {
            int rc = error_set(error_r, "line %zu: %s", lineno + 1, why);
            free(why);
            return rc;
        }
    }
    if (lineno == 0)
        return error_set(error_r, "empty file");
    return uid_index_all(l, error_r);
}

int maildir_uid_parse(maildir_uidlist_t *l, const char *text, size_t len, char **error_r)
{
    return uid_parse_lines(l, text, len, true, uid_parse_header, uid_parse_entry, error_r);
}

/* ---- Dovecot's dovecot-uidlist (version 3), taken over once ------------------ */

/* The next space-separated token of line[*pos..len); its length (0 at the end). */
static size_t uid_token(const char *line, size_t len, size_t *pos, const char **tok_r)
{
    while (*pos < len && line[*pos] == ' ')
        (*pos)++;
    size_t start = *pos;
    while (*pos < len && line[*pos] != ' ')
        (*pos)++;
    *tok_r = line + start;
    return *pos - start;
}

/* "3 V<uidvalidity> N<next_uid> G<guid> ..." (fields in any order, others ignored). */
static int uid_parse_dovecot_header(maildir_uidlist_t *l, const char *line, size_t len)
{
    size_t pos = 0, n;
    const char *t;
    uint64_t v = 0, next = 0;
    if (uid_token(line, len, &pos, &t) != 1 || t[0] != '3')
        return -1;
    while ((n = uid_token(line, len, &pos, &t)) > 0) {
        if (t[0] == 'V' && uid_parse_u64(t + 1, n - 1, UINT32_MAX, &v) < 0)
            return -1;
        if (t[0] == 'N' && uid_parse_u64(t + 1, n - 1, UINT32_MAX, &next) < 0)
            return -1;
    }
    if (v == 0 || next == 0)
        return -1;
    l->validity = (uint32_t)v;
    l->next = (uint32_t)next;
    return 0;
}

/* "<uid> [<letter><value> ...] :<base>"; W<n> is the CRLF size. */
static int uid_parse_dovecot_entry(maildir_uidlist_t *l, const char *line, size_t len,
                                   char **error_r)
{
    size_t pos = 0, n;
    const char *t;
    uint64_t uid, vsize = 0;
    if ((n = uid_token(line, len, &pos, &t)) == 0 || uid_parse_u64(t, n, UINT32_MAX, &uid) < 0 ||
        uid == 0)
        return error_set(error_r, "malformed entry");
    while ((n = uid_token(line, len, &pos, &t)) > 0 && t[0] != ':')
        if (t[0] == 'W' && uid_parse_u64(t + 1, n - 1, UINT64_MAX, &vsize) < 0)
            return error_set(error_r, "bad W field");
    if (n == 0)
        return error_set(error_r, "no file name");
    const char *base = t + 1; /* the rest of the line, spaces and all */
    size_t blen = len - (size_t)(base - line);
    if (!uid_base_valid(base, blen))
        return error_set(error_r, "bad file name");
    if (uid >= l->next || (l->n > 0 && uid <= l->e[l->n - 1].uid))
        return error_set(error_r, "UID %llu out of order", (unsigned long long)uid);
    uid_append(l, (uint32_t)uid, vsize, xstrndup(base, blen));
    return 0;
}

int maildir_uid_parse_dovecot(maildir_uidlist_t *l, const char *text, size_t len, char **error_r)
{
    return uid_parse_lines(l, text, len, false, uid_parse_dovecot_header, uid_parse_dovecot_entry,
                           error_r);
}

void maildir_uid_format(const maildir_uidlist_t *l, bool drop_missing, str_t *out)
{
    str_appendf(out, "tern-uidlist 1 V%u N%u\n", (unsigned)l->validity, (unsigned)l->next);
    for (size_t i = 0; i < l->n; i++)
        if (l->e[i].seen || !drop_missing)
            str_appendf(out, "%u %llu %s\n", (unsigned)l->e[i].uid,
                        (unsigned long long)l->e[i].vsize, l->e[i].base);
}

/* ---- the file -------------------------------------------------------------- */

static void uid_clear(maildir_uidlist_t *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->e[i].base);
    l->n = 0;
}

static int uid_read_file(const char *path, str_t *text, char **error_r)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 1 : error_set(error_r, "open %s: %s", path, strerror(errno));
    char buf[16384];
    ssize_t n;
    while ((n = read(fd, buf, sizeof(buf))) > 0)
        if (str_append(text, buf, (size_t)n) < 0)
            break;
    int saved = errno;
    close(fd);
    if (n < 0)
        return error_set(error_r, "read %s: %s", path, strerror(saved));
    if (n > 0)
        return error_set(error_r, "%s: larger than %u bytes", path, UIDLIST_MAX_BYTES);
    return 0;
}

/*
 * A Maildir Dovecot served: keep its UIDs and UIDVALIDITY (so POP3 UIDLs
 * and IMAP UIDs stay what clients know).  1 when there is nothing usable.
 */
static int uid_take_over_dovecot(maildir_uidlist_t *l)
{
    char *path = xasprintf("%s/%s", l->dir, MAILDIR_UID_DOVECOT);
    str_t *text = str_new_max(4096, UIDLIST_MAX_BYTES);
    char *why = NULL;
    int rc = uid_read_file(path, text, &why);
    if (rc == 0 && maildir_uid_parse_dovecot(l, str_c(text), str_len(text), &why) < 0) {
        uid_clear(l);
        rc = -1;
    }
    if (rc < 0)
        msg_warn("%s: %s; not taken over", path, why);
    else if (rc == 0)
        msg_info("%s: %zu UIDs and UIDVALIDITY %u taken over into %s", path, l->n,
                 (unsigned)l->validity, MAILDIR_UID_FILE);
    free(why);
    str_free(&text);
    free(path);
    return rc == 0 ? 0 : 1;
}

/* Read the list; a missing or broken one starts over with a new uidvalidity. */
static int uid_load(maildir_uidlist_t *l, char **error_r)
{
    char *path = xasprintf("%s/%s", l->dir, MAILDIR_UID_FILE);
    str_t *text = str_new_max(4096, UIDLIST_MAX_BYTES);
    char *why = NULL;
    int rc = uid_read_file(path, text, error_r);
    if (rc == 1 && uid_take_over_dovecot(l) == 0) {
        l->changed = true; /* written as tern-uidlist at the commit */
        rc = 0;
    } else if (rc == 0 && maildir_uid_parse(l, str_c(text), str_len(text), &why) < 0) {
        msg_warn("%s: %s; starting a new list (every UID changes)", path, why);
        free(why);
        uid_clear(l);
        rc = 1;
    }
    if (rc == 1) {
        uint32_t v = (uint32_t)time(NULL);
        l->validity = v > l->validity ? v : l->validity + 1;
        l->next = 1;
        l->changed = true;
        rc = 0;
    }
    str_free(&text);
    free(path);
    return rc;
}

int maildir_uid_open(const char *maildir, maildir_uidlist_t **l_r, char **error_r)
{
    char *lock = xasprintf("%s/%s", maildir, MAILDIR_UID_LOCK);
    int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        int rc = error_set(error_r, "open %s: %s", lock, strerror(errno));
        free(lock);
        return rc;
    }
    int r;
    while ((r = flock(fd, LOCK_EX)) < 0 && errno == EINTR)
        ;
    if (r < 0) {
        int rc = error_set(error_r, "lock %s: %s", lock, strerror(errno));
        close(fd);
        free(lock);
        return rc;
    }
    free(lock);
    maildir_uidlist_t *l = maildir_uid_new(1);
    l->dir = xstrdup(maildir);
    l->lock_fd = fd;
    if (uid_load(l, error_r) < 0) {
        maildir_uid_abort(&l);
        return -1;
    }
    *l_r = l;
    return 0;
}

static bool uid_any_missing(const maildir_uidlist_t *l)
{
    for (size_t i = 0; i < l->n; i++)
        if (!l->e[i].seen)
            return true;
    return false;
}

static int uid_write_file(const maildir_uidlist_t *l, const str_t *text, char **error_r)
{
    char *tmp = xasprintf("%s/%s.tmp", l->dir, MAILDIR_UID_FILE);
    char *path = xasprintf("%s/%s", l->dir, MAILDIR_UID_FILE);
    int rc = 0;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        rc = error_set(error_r, "open %s: %s", tmp, strerror(errno));
    else {
        size_t off = 0;
        while (rc == 0 && off < str_len(text)) {
            ssize_t n = write(fd, str_c(text) + off, str_len(text) - off);
            if (n < 0 && errno != EINTR)
                rc = error_set(error_r, "write %s: %s", tmp, strerror(errno));
            else if (n > 0)
                off += (size_t)n;
        }
        if (rc == 0 && fsync(fd) < 0)
            rc = error_set(error_r, "fsync %s: %s", tmp, strerror(errno));
        if (close(fd) < 0 && rc == 0)
            rc = error_set(error_r, "close %s: %s", tmp, strerror(errno));
        if (rc == 0 && rename(tmp, path) < 0)
            rc = error_set(error_r, "rename %s: %s", tmp, strerror(errno));
        if (rc < 0)
            (void)unlink(tmp);
    }
    free(tmp);
    free(path);
    return rc;
}

int maildir_uid_commit(maildir_uidlist_t **lp, bool drop_missing, char **error_r)
{
    maildir_uidlist_t *l = *lp;
    int rc = 0;
    if (l->dir == NULL)
        msg_panic("maildir_uid_commit: the list has no directory");
    if (l->changed || (drop_missing && uid_any_missing(l))) {
        str_t *text = str_new(4096);
        maildir_uid_format(l, drop_missing, text);
        rc = uid_write_file(l, text, error_r);
        str_free(&text);
    }
    maildir_uid_abort(lp);
    return rc;
}

void maildir_uid_abort(maildir_uidlist_t **lp)
{
    maildir_uidlist_t *l = *lp;
    if (l == NULL)
        return;
    if (l->lock_fd >= 0)
        close(l->lock_fd); /* releases the flock */
    uid_clear(l);
    free(l->e);
    free(l->idx);
    free(l->dir);
    free(l);
    *lp = NULL;
}
