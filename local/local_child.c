/*
 * local_child.c - doing things as someone else: every delivery and every
 * read of a user-controlled file runs in a forked child that first drops
 * to the target uid/gid for good (priv_drop_ids, which also clears the
 * supplementary groups).  The child reports through a pipe; a child that
 * dies without a report is a temporary failure, so nothing is ever
 * recorded as delivered that was not.
 *
 * When the agent is not root (a personal instance, or local run as the
 * mailbox owner) there is nobody to become: the child runs as the
 * invoking user, and Maildir and file deliveries (local_run_as) skip the
 * fork and run in this process.  When it is root every delivery forks,
 * and it never lets a child act as root.
 */
#include "local.h"

#include "log.h"
#include "mem.h"
#include "priv.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>

bool local_is_root(void)
{
    return geteuid() == 0 || getuid() == 0;
}

/* In the child: become id, or die (the parent then defers). */
static void local_child_become(const struct local_id *id)
{
    if (!local_is_root())
        return;
    char *err = NULL;
    if (id->uid == 0 || priv_drop_ids(id->uid, id->gid, &err) < 0) {
        msg_error("cannot become uid %ld: %s", (long)id->uid, err ? err : "uid 0 refused");
        _exit(1);
    }
}

static ssize_t local_read_full(int fd, void *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, (char *)buf + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

static void local_wait(pid_t pid)
{
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
}

void local_child_run(const struct local_id *id, local_child_fn fn, void *ctx,
                     struct local_outcome *out)
{
    int p[2];
    if (local_is_root() && id->uid == 0) {
        local_outcome_set(out, DELIVER_TEMP, "4.3.0", "refusing to deliver as root");
        return;
    }
    if (pipe2(p, O_CLOEXEC) < 0) {
        local_outcome_set(out, DELIVER_TEMP, "4.3.0", "pipe: %s", strerror(errno));
        return;
    }
    pid_t pid = fork();
    if (pid < 0) {
        close(p[0]);
        close(p[1]);
        local_outcome_set(out, DELIVER_TEMP, "4.3.0", "fork: %s", strerror(errno));
        return;
    }
    if (pid == 0) {
        close(p[0]);
        local_child_become(id);
        struct local_outcome o;
        local_outcome_set(&o, DELIVER_TEMP, "4.3.0", "delivery process gave no result");
        fn(ctx, &o);
        _exit(write(p[1], &o, sizeof(o)) == (ssize_t)sizeof(o) ? 0 : 1);
    }
    close(p[1]);
    struct local_outcome o;
    ssize_t n = local_read_full(p[0], &o, sizeof(o));
    close(p[0]);
    local_wait(pid);
    if (n != (ssize_t)sizeof(o) ||
        (o.status != DELIVER_OK && o.status != DELIVER_TEMP && o.status != DELIVER_PERM)) {
        local_outcome_set(out, DELIVER_TEMP, "4.3.0", "delivery process failed");
        return;
    }
    o.dsn[sizeof(o.dsn) - 1] = '\0';
    o.text[sizeof(o.text) - 1] = '\0';
    *out = o;
}

void local_run_as(const struct local_id *id, local_child_fn fn, void *ctx,
                  struct local_outcome *out)
{
    if (local_is_root()) {
        local_child_run(id, fn, ctx, out);
        return;
    }
    /* Not root: a child would run as we do; save the fork. */
    local_outcome_set(out, DELIVER_TEMP, "4.3.0", "delivery gave no result");
    fn(ctx, out);
    out->dsn[sizeof(out->dsn) - 1] = '\0';
    out->text[sizeof(out->text) - 1] = '\0';
}

/* What the reading child sends before the file's bytes. */
struct local_read_head {
    int rc; /* 1 read, 0 absent or not owned, -1 error (errno in err) */
    int err;
    uid_t uid;
    gid_t gid;
};

static void local_read_child(const struct local_id *id, const char *path, bool want_owner, int wfd)
{
    struct local_read_head h = {.rc = -1};
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    struct stat st;
    if (fd < 0) {
        h.err = errno;
        h.rc = errno == ENOENT || errno == ENOTDIR ? 0 : -1;
    } else if (fstat(fd, &st) < 0) {
        h.err = errno;
    } else if (!S_ISREG(st.st_mode)) {
        h.err = EINVAL;
    } else if (want_owner && st.st_uid != id->uid) {
        h.rc = 0; /* Postfix ignores a .forward the user does not own */
    } else {
        h.rc = 1;
        h.uid = st.st_uid;
        h.gid = st.st_gid;
    }
    if (write(wfd, &h, sizeof(h)) != (ssize_t)sizeof(h) || h.rc != 1)
        _exit(0);
    char buf[8192];
    size_t total = 0;
    ssize_t n;
    while (total <= LOCAL_MAX_FILE && (n = read(fd, buf, sizeof(buf))) > 0) {
        if (write(wfd, buf, (size_t)n) != n)
            break;
        total += (size_t)n;
    }
    _exit(0);
}

int local_child_read(const struct local_id *id, const char *path, bool want_owner, str_t *data,
                     uid_t *uid_r, gid_t *gid_r, struct local_outcome *out)
{
    int p[2];
    str_reset(data);
    if (pipe2(p, O_CLOEXEC) < 0) {
        local_outcome_set(out, DELIVER_TEMP, "4.3.0", "pipe: %s", strerror(errno));
        return -1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        close(p[0]);
        close(p[1]);
        local_outcome_set(out, DELIVER_TEMP, "4.3.0", "fork: %s", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        close(p[0]);
        local_child_become(id);
        local_read_child(id, path, want_owner, p[1]);
    }
    close(p[1]);
    struct local_read_head h;
    int rc = -1;
    if (local_read_full(p[0], &h, sizeof(h)) != (ssize_t)sizeof(h)) {
        local_outcome_set(out, DELIVER_TEMP, "4.3.0", "cannot read %s: reader failed", path);
    } else if (h.rc != 1) {
        rc = h.rc == 0 ? 0 : -1;
        if (rc < 0)
            local_outcome_set(out, DELIVER_TEMP, "4.3.0", "cannot read %s: %s", path,
                              strerror(h.err));
    } else {
        char buf[8192];
        ssize_t n;
        while ((n = local_read_full(p[0], buf, sizeof(buf))) > 0)
            str_append(data, buf, (size_t)n);
        rc = 1;
        *uid_r = h.uid;
        *gid_r = h.gid;
        if (str_len(data) > LOCAL_MAX_FILE) {
            local_outcome_set(out, DELIVER_PERM, "5.3.5", "%s: larger than %d bytes", path,
                              LOCAL_MAX_FILE);
            rc = -1;
        }
    }
    close(p[0]);
    local_wait(pid);
    return rc;
}
