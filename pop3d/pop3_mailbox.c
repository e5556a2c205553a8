/*
 * pop3_mailbox.c - the mailbox as a POP3 session sees it: a snapshot of
 * new/ and cur/ taken at login (messages in new/ are moved to cur/ first,
 * as Dovecot does), in UID order, with CRLF sizes, and the UPDATE state
 * that removes the messages marked deleted.
 *
 * One POP3 session per Maildir: an exclusive, non-blocking flock(2) on
 * "tern-pop3.lock" in the Maildir, held for the whole session; the file's
 * mtime is the last successful login (for pop3d_login_delay).  Delivery
 * (new files in new/) and IMAP go on meanwhile; what they add is seen at
 * the next login.  A message renamed by a flag change meanwhile is found
 * again in cur/ by its base name.
 */
#include "pop3d.h"

#include "durable.h"
#include "log.h"
#include "maildir.h"
#include "maildir_uid.h"
#include "mem.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>

#define POP3_LOCK_FILE "tern-pop3.lock"

static int pop3_lock(struct pop3_mbox *mb, char **error_r)
{
    char *path = xasprintf("%s/%s", mb->dir, POP3_LOCK_FILE);
    mb->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    int rc = POP3_MBOX_OK;
    if (mb->lock_fd < 0) {
        (void)error_set(error_r, "open %s: %s", path, strerror(errno));
        rc = POP3_MBOX_TEMP;
    } else if (flock(mb->lock_fd, LOCK_EX | LOCK_NB) < 0) {
        rc = errno == EWOULDBLOCK ? POP3_MBOX_INUSE : POP3_MBOX_TEMP;
        if (rc == POP3_MBOX_TEMP)
            (void)error_set(error_r, "lock %s: %s", path, strerror(errno));
    }
    free(path);
    return rc;
}

/* new/NAME -> cur/NAME:2, (a clash or a vanished file is left alone). */
static void pop3_move_new(const char *dir)
{
    char *newdir = xasprintf("%s/new", dir);
    DIR *d = opendir(newdir);
    struct dirent *de;
    while (d != NULL && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        char *from = xasprintf("%s/%s", newdir, de->d_name);
        char *to = xasprintf("%s/cur/%s%s", dir, de->d_name, strchr(de->d_name, ':') ? "" : ":2,");
        if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) < 0 && errno != ENOENT)
            msg_warn("rename %s to %s: %s", from, to, strerror(errno));
        free(from);
        free(to);
    }
    if (d != NULL)
        closedir(d);
    free(newdir);
}

#define POP3_VSIZE_BUF (128 * 1024) /* most messages in one read(2) */

static int pop3_file_vsize(int fd, char *buf, uint64_t *vsize_r)
{
    struct pop3_conv cv;
    ssize_t n;
    pop3_conv_init(&cv, false, -1);
    while ((n = read(fd, buf, POP3_VSIZE_BUF)) > 0)
        (void)pop3_conv_run(&cv, buf, (size_t)n, NULL);
    if (n < 0)
        return -1;
    pop3_conv_finish(&cv, NULL);
    *vsize_r = cv.out_bytes;
    return 0;
}

static int pop3_msg_cmp(const void *a, const void *b)
{
    const struct pop3_msg *x = a, *y = b;
    return x->uid < y->uid ? -1 : x->uid > y->uid;
}

/* UIDs and sizes for the listing; entries in new/ at this point are skipped. */
static int pop3_snapshot(struct pop3_mbox *mb, struct maildir_entry *e, size_t n,
                         maildir_uidlist_t *ul, char **error_r)
{
    mb->msgs = xcalloc(n + 1, sizeof(*mb->msgs));
    char *buf = NULL; /* for the sizes not yet in the UID list */
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (e[i].in_new)
            continue; /* arrived after the move: next session */
        char *base = xstrndup(e[i].name, maildir_uid_base_len(e[i].name));
        struct pop3_msg *m = &mb->msgs[mb->count];
        m->uid = maildir_uid_assign(ul, base, &m->vsize);
        free(base);
        if (m->uid == 0)
            continue;
        m->name = xstrdup(e[i].name);
        mb->count++;
        if (m->vsize != 0)
            continue;
        if (buf == NULL)
            buf = xmalloc(POP3_VSIZE_BUF);
        int fd = pop3_mbox_msg_open(mb, m);
        if (fd < 0 || pop3_file_vsize(fd, buf, &m->vsize) < 0)
            rc = error_set(error_r, "read %s/cur/%s: %s", mb->dir, m->name, strerror(errno));
        else
            maildir_uid_set_vsize(ul, m->uid, m->vsize);
        if (fd >= 0)
            close(fd);
    }
    free(buf);
    if (rc == 0)
        qsort(mb->msgs, mb->count, sizeof(*mb->msgs), pop3_msg_cmp);
    return rc;
}

/* RFC 2449 LOGIN-DELAY: was the last login (the lock file's mtime) too recent? */
static bool pop3_too_soon(const struct pop3_mbox *mb, long login_delay)
{
    struct stat st;
    if (login_delay <= 0 || fstat(mb->lock_fd, &st) < 0 || st.st_size == 0)
        return false; /* size 0: a new lock file, no login yet */
    time_t now = time(NULL);
    return now >= st.st_mtime && now - st.st_mtime < login_delay;
}

/* Stamp this login: one byte in the lock file (it now counts) and its mtime. */
static void pop3_stamp_login(const struct pop3_mbox *mb)
{
    if (pwrite(mb->lock_fd, "L", 1, 0) != 1 || futimens(mb->lock_fd, NULL) < 0)
        msg_warn("%s/%s: cannot record the login time: %s", mb->dir, POP3_LOCK_FILE,
                 strerror(errno));
}

int pop3_mbox_open(const char *dir, long login_delay, struct pop3_mbox *mb, char **error_r)
{
    *mb = (struct pop3_mbox){.dir = xstrdup(dir), .lock_fd = -1};
    int rc = pop3_lock(mb, error_r);
    if (rc != POP3_MBOX_OK)
        return rc;
    if (pop3_too_soon(mb, login_delay))
        return POP3_MBOX_DELAY;
    pop3_move_new(dir);
    maildir_uidlist_t *ul = NULL;
    struct maildir_entry *e = NULL;
    size_t n = 0;
    if (maildir_uid_open(dir, &ul, error_r) < 0)
        return POP3_MBOX_TEMP;
    if (maildir_list(dir, &e, &n, error_r) < 0 || pop3_snapshot(mb, e, n, ul, error_r) < 0) {
        maildir_uid_abort(&ul);
        maildir_list_free(&e, n);
        return POP3_MBOX_TEMP;
    }
    maildir_list_free(&e, n);
    mb->validity = maildir_uid_validity(ul);
    char *err = NULL;
    if (maildir_uid_commit(&ul, true, &err) < 0) {
        msg_warn("%s (UIDs may change at the next login)", err);
        free(err);
    }
    pop3_stamp_login(mb);
    return POP3_MBOX_OK;
}

/* The current name in cur/ of a message whose file was renamed; 0 or -1. */
static int pop3_refind(struct pop3_mbox *mb, struct pop3_msg *m)
{
    size_t blen = maildir_uid_base_len(m->name);
    char *cur = xasprintf("%s/cur", mb->dir);
    DIR *d = opendir(cur);
    struct dirent *de;
    int rc = -1;
    while (d != NULL && rc < 0 && (de = readdir(d)) != NULL)
        if (strncmp(de->d_name, m->name, blen) == 0 &&
            (de->d_name[blen] == ':' || de->d_name[blen] == '\0')) {
            free(m->name);
            m->name = xstrdup(de->d_name);
            rc = 0;
        }
    if (d != NULL)
        closedir(d);
    free(cur);
    return rc;
}

int pop3_mbox_msg_open(struct pop3_mbox *mb, struct pop3_msg *m)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        char *path = xasprintf("%s/cur/%s", mb->dir, m->name);
        int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        int saved = errno;
        free(path);
        if (fd >= 0 || saved != ENOENT || pop3_refind(mb, m) < 0) {
            errno = saved;
            return fd;
        }
    }
    return -1;
}

size_t pop3_mbox_expunge(struct pop3_mbox *mb)
{
    size_t failed = 0, removed = 0;
    for (size_t i = 0; i < mb->count; i++) {
        struct pop3_msg *m = &mb->msgs[i];
        if (!m->deleted)
            continue;
        char *path = xasprintf("%s/cur/%s", mb->dir, m->name);
        int rc = unlink(path);
        if (rc < 0 && errno == ENOENT && pop3_refind(mb, m) == 0) {
            free(path);
            path = xasprintf("%s/cur/%s", mb->dir, m->name);
            rc = unlink(path);
        }
        if (rc < 0 && errno != ENOENT) {
            msg_warn("unlink %s: %s", path, strerror(errno));
            failed++;
        } else
            removed++;
        free(path);
    }
    if (removed > 0) {
        char *cur = xasprintf("%s/cur", mb->dir);
        (void)durable_fsync_dir_alone(cur);
        free(cur);
    }
    return failed;
}

void pop3_mbox_close(struct pop3_mbox *mb)
{
    for (size_t i = 0; i < mb->count; i++)
        free(mb->msgs[i].name);
    xfree(mb->msgs);
    if (mb->lock_fd >= 0)
        close(mb->lock_fd);
    mb->lock_fd = -1;
    xfree(mb->dir);
    mb->count = 0;
}
