/*
 * local_dest.c - the three kinds of final destination, each written by a
 * child running as the destination's owner (local_child.c; Maildir and
 * file deliveries run in the agent itself when it is not root, and as
 * root Maildir deliveries go to a long-lived child per owner,
 * local_helper.c):
 *
 *   Maildir   lib/maildir.h; status 0 only after maildir_deliver_commit
 *             (fsync, rename into new/); a full disk defers; a message
 *             over mailbox_size_limit bounces (5.2.2).
 *   file      mbox append under an fcntl write lock; on any error the
 *             file is cut back to its old length and the delivery defers.
 *   command   /bin/sh -c COMMAND with the message on stdin, a clean
 *             environment and no other descriptors; exit 0 delivered,
 *             75 (EX_TEMPFAIL) or a signal/timeout deferred, else bounced.
 */
#include "local.h"

#include "config.h"
#include "log.h"
#include "maildir.h"
#include "mem.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#define LOCAL_EX_TEMPFAIL 75
#define LOCAL_LOCK_TRIES 30

struct local_job {
    struct local_rcpt_state *st;
    const char *target;
    const struct local_id *id;
};

/* ---- Maildir ---------------------------------------------------------- */

static int local_maildir_write(void *ctx, const void *data, size_t len)
{
    return maildir_write(ctx, data, len);
}

/* Write the message for rcpt into the Maildir target; the result in o. */
static void local_maildir_write_msg(const struct local_msg *m, const char *rcpt, const char *target,
                                    struct local_outcome *o)
{
    struct maildir_opts opts = {.size_limit = (uint64_t)cfg_int("mailbox_size_limit")};
    maildir_delivery_t *d = NULL;
    char *err = NULL, *name = NULL;
    int rc = maildir_deliver_begin(target, &opts, &d, &err);
    if (rc == MAILDIR_OK &&
        local_write_message(m, rcpt, false, local_maildir_write, d, &err) == -1) {
        maildir_deliver_abort(&d);
        local_outcome_set(o, DELIVER_TEMP, "4.3.0", "cannot read queue file: %s", err);
        free(err);
        return;
    }
    if (rc == MAILDIR_OK) { /* a write error is reported by the commit */
        xfree(err);
        rc = maildir_deliver_commit(&d, &name, &err);
    }
    if (rc == MAILDIR_OK)
        local_outcome_set(o, DELIVER_OK, "2.0.0", "delivered to maildir %s", target);
    else if (rc == MAILDIR_ETOOBIG)
        local_outcome_set(o, DELIVER_PERM, "5.2.2", "cannot deliver to maildir %s: %s", target,
                          err);
    else
        local_outcome_set(o, DELIVER_TEMP, "4.2.0", "cannot deliver to maildir %s: %s", target,
                          err);
    free(name);
    free(err);
}

static void local_maildir_child(void *ctx, struct local_outcome *o)
{
    struct local_job *j = ctx;
    local_maildir_write_msg(j->st->msg, j->st->rcpt, j->target, o);
}

void local_maildir_job(const char *target, const char *rcpt, const char *sender, qfile_t *qf,
                       struct local_outcome *o)
{
    struct deliver_request req = {.sender = (char *)sender};
    struct local_msg m = {.req = &req, .qf = qf};
    local_maildir_write_msg(&m, rcpt, target, o);
}

void local_to_maildir(struct local_rcpt_state *st, const char *path, const struct local_id *id)
{
    struct local_job j = {.st = st, .target = path, .id = id};
    struct local_outcome o;
    char *key = xasprintf("maildir:%s", path);
    if (local_seen_add(st, key)) {
        if (!local_helper_maildir(id, st, path, &o))
            local_run_as(id, local_maildir_child, &j, &o);
        local_note_outcome(st, &o);
        msg_info("%s: <%s>: %s", st->msg->req->queue_id, st->rcpt, o.text);
    }
    free(key);
}

/* ---- file (mbox) ------------------------------------------------------ */

static int local_fd_write(void *ctx, const void *data, size_t len)
{
    int fd = *(int *)ctx;
    const char *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int local_lock(int fd)
{
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    for (int i = 0; i < LOCAL_LOCK_TRIES; i++) {
        if (fcntl(fd, F_SETLK, &fl) == 0)
            return 0;
        if (errno != EAGAIN && errno != EACCES)
            return -1;
        sleep(1);
    }
    errno = EAGAIN;
    return -1;
}

static void local_file_child(void *ctx, struct local_outcome *o)
{
    struct local_job *j = ctx;
    int fd =
        open(j->target, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC, 0600);
    struct stat st;
    char *err = NULL;
    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        local_outcome_set(o, DELIVER_TEMP, "4.3.0", "cannot append to file %s: %s", j->target,
                          fd < 0 ? strerror(errno) : "not a regular file");
    } else if (local_lock(fd) < 0) {
        local_outcome_set(o, DELIVER_TEMP, "4.2.0", "cannot lock file %s: %s", j->target,
                          strerror(errno));
    } else {
        off_t start = lseek(fd, 0, SEEK_END);
        if (start < 0 || fstat(fd, &st) < 0 ||
            local_write_message(j->st->msg, j->st->rcpt, true, local_fd_write, &fd, &err) < 0 ||
            fsync(fd) < 0) {
            int e = errno;
            if (start >= 0 && ftruncate(fd, start) == 0)
                (void)fsync(fd);
            local_outcome_set(o, DELIVER_TEMP, "4.3.0", "cannot append to file %s: %s", j->target,
                              err ? err : strerror(e));
        } else {
            local_outcome_set(o, DELIVER_OK, "2.0.0", "delivered to file %s", j->target);
        }
    }
    free(err);
    if (fd >= 0)
        close(fd);
}

void local_to_file(struct local_rcpt_state *st, const char *path, const struct local_id *id)
{
    struct local_job j = {.st = st, .target = path, .id = id};
    struct local_outcome o;
    char *key = xasprintf("file:%s", path);
    if (local_seen_add(st, key)) {
        local_run_as(id, local_file_child, &j, &o);
        local_note_outcome(st, &o);
        msg_info("%s: <%s>: %s", st->msg->req->queue_id, st->rcpt, o.text);
    }
    free(key);
}

/* ---- command ---------------------------------------------------------- */

static volatile sig_atomic_t local_cmd_pid;

static void local_cmd_alarm(int sig)
{
    (void)sig;
    if (local_cmd_pid > 0)
        kill((pid_t)local_cmd_pid, SIGKILL);
}

/* The grandchild: a clean environment, the message on stdin, exec. */
static void local_cmd_exec(const struct local_job *j, int in_fd)
{
    const struct deliver_request *req = j->st->msg->req;
    int devnull = open("/dev/null", O_RDWR);
    if (dup2(in_fd, 0) < 0 || devnull < 0 || dup2(devnull, 1) < 0 || dup2(devnull, 2) < 0)
        _exit(LOCAL_EX_TEMPFAIL);
    close_range(3, ~0U, 0);
    if (j->id->home == NULL || chdir(j->id->home) < 0)
        (void)chdir("/");
    char *env[8];
    size_t n = 0;
    env[n++] = xstrdup("PATH=/usr/bin:/bin");
    env[n++] = xstrdup("SHELL=/bin/sh");
    env[n++] = xasprintf("SENDER=%s", req->sender);
    env[n++] = xasprintf("RECIPIENT=%s", j->st->rcpt);
    if (j->id->home)
        env[n++] = xasprintf("HOME=%s", j->id->home);
    if (j->id->user)
        env[n++] = xasprintf("USER=%s", j->id->user);
    env[n] = NULL;
    char *argv[] = {(char *)"sh", (char *)"-c", (char *)j->target, NULL};
    signal(SIGPIPE, SIG_DFL);
    execve("/bin/sh", argv, env);
    _exit(LOCAL_EX_TEMPFAIL);
}

static void local_cmd_status(const struct local_job *j, int status, bool write_ok,
                             struct local_outcome *o)
{
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && write_ok)
        local_outcome_set(o, DELIVER_OK, "2.0.0", "delivered to command: %s", j->target);
    else if (WIFEXITED(status) && WEXITSTATUS(status) == LOCAL_EX_TEMPFAIL)
        local_outcome_set(o, DELIVER_TEMP, "4.3.0", "command %s deferred delivery (exit %d)",
                          j->target, LOCAL_EX_TEMPFAIL);
    else if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
        local_outcome_set(o, DELIVER_PERM, "5.3.0", "command %s failed with exit status %d",
                          j->target, WEXITSTATUS(status));
    else if (WIFEXITED(status))
        local_outcome_set(o, DELIVER_TEMP, "4.3.0", "command %s: cannot write the message",
                          j->target);
    else
        local_outcome_set(o, DELIVER_TEMP, "4.3.0", "command %s killed by signal %d", j->target,
                          WTERMSIG(status));
}

static void local_cmd_child(void *ctx, struct local_outcome *o)
{
    struct local_job *j = ctx;
    int p[2];
    if (pipe(p) < 0) {
        local_outcome_set(o, DELIVER_TEMP, "4.3.0", "pipe: %s", strerror(errno));
        return;
    }
    signal(SIGPIPE, SIG_IGN);
    pid_t pid = fork();
    if (pid < 0) {
        local_outcome_set(o, DELIVER_TEMP, "4.3.0", "fork: %s", strerror(errno));
        return;
    }
    if (pid == 0) {
        close(p[1]);
        local_cmd_exec(j, p[0]);
    }
    close(p[0]);
    local_cmd_pid = pid;
    signal(SIGALRM, local_cmd_alarm);
    alarm(LOCAL_COMMAND_TIME);
    char *err = NULL;
    int fd = p[1];
    bool write_ok =
        local_write_message(j->st->msg, j->st->rcpt, false, local_fd_write, &fd, &err) == 0;
    close(p[1]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    alarm(0);
    free(err);
    /* A command that exits 0 without reading everything still took the message. */
    local_cmd_status(j, status, write_ok || (WIFEXITED(status) && WEXITSTATUS(status) == 0), o);
}

void local_to_command(struct local_rcpt_state *st, const char *cmd, const struct local_id *id)
{
    struct local_job j = {.st = st, .target = cmd, .id = id};
    struct local_outcome o;
    char *key = xasprintf("command:%ld:%s", (long)id->uid, cmd);
    if (local_seen_add(st, key)) {
        local_child_run(id, local_cmd_child, &j, &o);
        local_note_outcome(st, &o);
        msg_info("%s: <%s>: %s", st->msg->req->queue_id, st->rcpt, o.text);
    }
    free(key);
}
