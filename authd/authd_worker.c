/*
 * authd_worker.c - authd's password-checking worker processes.
 *
 * Checking a password hash (yescrypt: tens of milliseconds of CPU) must
 * not hold up authd's event loop, where every other client, and the
 * quick request=redeem answers, wait.  So authd forks auth_worker_count
 * workers at start (after the privilege drop: they run as authd does).
 * Each is connected by a SOCK_SEQPACKET socketpair, one message each
 * way per check:
 *
 *     authd -> worker   stored "{SCHEME}hash" NUL password NUL
 *     worker -> authd   '1' (matches), '0' (does not) or '-' + error text
 *
 * A worker does nothing else: no database, no clients, no logging of its
 * own; it wipes the password after each check.  It exits at EOF on its
 * socket (authd gone) and, through PR_SET_PDEATHSIG, when authd dies.
 *
 * In authd, a check goes to an idle worker at once, or waits in a FIFO
 * queue (at most AUTHD_QUEUE_MAX; beyond that it is answered -1 at once).
 * The worker's socket is polled by the server loop (server_watch_fd), and
 * its reply calls the check's done(). A worker that dies (EOF on its
 * socket) or talks nonsense is killed and replaced at once, its check
 * answered -1; one that dies within a second of its start is replaced by
 * the next authd_workers_tick() instead, so that a worker that cannot
 * run does not become a fork loop.
 */
#include "authd.h"

#include "log.h"
#include "mem.h"
#include "server.h"
#include "stream.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>

#define AUTHD_WORKER_NAME "authd-worker" /* comm name, for ps and tests */
#define AUTHD_WORKER_MSG_MAX (PASSWD_LINE_MAX + AUTH_PASSWORD_MAX + 4)
#define AUTHD_WORKER_REPLY_MAX 512
#define AUTHD_WORKER_YOUNG_MS 1000 /* dies younger: replaced at the next tick */

struct authd_check {
    char *stored;
    char *password; /* wiped and freed once sent to a worker */
    void (*done)(void *ctx, int rc, const char *error);
    void *ctx;
    struct authd_check *next;
};

struct authd_worker {
    pid_t pid; /* 0: not running */
    int fd;    /* authd's end of the socketpair, -1 when not running */
    int64_t started_ms;
    struct authd_check *check; /* in progress, or NULL: idle */
};

static struct {
    struct authd_worker *w;
    int count;
    struct passwd_opts opts;
    struct authd_check *head, *tail; /* waiting for a worker */
    size_t queued;
    unsigned long refused; /* queue full, since the last warning */
    int64_t refused_logged_ms;
} aw;

static void authd_check_free(struct authd_check **cp)
{
    struct authd_check *c = *cp;
    if (c->password != NULL) {
        explicit_bzero(c->password, strlen(c->password));
        free(c->password);
    }
    free(c->stored);
    free(c);
    *cp = NULL;
}

/* Call done and free the check. */
static void authd_check_finish(struct authd_check *c, int rc, const char *error)
{
    c->done(c->ctx, rc, error);
    authd_check_free(&c);
}

/* ---- the worker process ---------------------------------------------------- */

/* Close every descriptor but 0-2, the worker's socket and the log file. */
static void authd_worker_close_fds(int keep1, int keep2)
{
    int lo = keep1 < keep2 ? keep1 : keep2, hi = keep1 < keep2 ? keep2 : keep1;
    unsigned int from = 3;
    int keep[2] = {lo, hi};
    for (int i = 0; i < 2; i++) {
        if (keep[i] < (int)from)
            continue;
        if ((unsigned int)keep[i] > from)
            (void)close_range(from, (unsigned int)keep[i] - 1, 0);
        from = (unsigned int)keep[i] + 1;
    }
    (void)close_range(from, ~0U, 0);
}

static void authd_worker_reply(int fd, int rc, const char *error)
{
    char out[AUTHD_WORKER_REPLY_MAX];
    int n = snprintf(out, sizeof(out), "%c%s",
                     rc > 0    ? '1'
                     : rc == 0 ? '0'
                               : '-',
                     rc < 0 && error != NULL ? error : "");
    size_t len = n < 0 ? 1 : (size_t)n >= sizeof(out) ? sizeof(out) - 1 : (size_t)n;
    if (send(fd, out, len, MSG_NOSIGNAL) != (ssize_t)len)
        _exit(0); /* authd is gone */
}

static void authd_worker_main(int fd, pid_t parent) TERN_NORETURN;
static void authd_worker_main(int fd, pid_t parent)
{
    (void)prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent)
        _exit(0); /* authd died before the line above */
    (void)prctl(PR_SET_NAME, AUTHD_WORKER_NAME);
    authd_worker_close_fds(fd, log_file_fd());
    static char buf[AUTHD_WORKER_MSG_MAX + 1];
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            _exit(0);
        const char *stored = buf, *end = buf + n;
        const char *nul = memchr(buf, '\0', (size_t)n), *password = nul ? nul + 1 : NULL;
        if (n > AUTHD_WORKER_MSG_MAX || password == NULL || password >= end ||
            memchr(password, '\0', (size_t)(end - password)) != end - 1) {
            explicit_bzero(buf, sizeof(buf));
            authd_worker_reply(fd, -1, "malformed request to the worker");
            continue;
        }
        char *error = NULL;
        int rc = passwd_verify_string_opts(stored, password, &aw.opts, &error);
        explicit_bzero(buf, (size_t)n);
        authd_worker_reply(fd, rc, error);
        free(error);
    }
}

/* ---- authd's side ---------------------------------------------------------- */

static void authd_worker_ready(int fd, void *ctx);

static bool authd_worker_start(struct authd_worker *w)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
        msg_warn("cannot start an authd worker: socketpair: %s", strerror(errno));
        return false;
    }
    pid_t parent = getpid(), pid = fork();
    if (pid < 0) {
        msg_warn("cannot start an authd worker: fork: %s", strerror(errno));
        close(sv[0]);
        close(sv[1]);
        return false;
    }
    if (pid == 0) {
        close(sv[0]);
        authd_worker_main(sv[1], parent);
    }
    close(sv[1]);
    (void)fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);
    w->pid = pid;
    w->fd = sv[0];
    w->started_ms = stream_now_ms();
    w->check = NULL;
    server_watch_fd(w->fd, authd_worker_ready, w);
    if (log_verbose())
        msg_debug("authd worker started: pid %ld", (long)pid);
    return true;
}

/* Reap exited workers without waiting (authd has no other children). */
static void authd_workers_reap(void)
{
    int st;
    while (waitpid(-1, &st, WNOHANG) > 0)
        ;
}

/* The worker died or broke the protocol: kill it, answer its check, replace it. */
static void authd_worker_lost(struct authd_worker *w, const char *what)
{
    struct authd_check *c = w->check;
    msg_warn("authd worker pid %ld %s%s: starting another", (long)w->pid, what,
             c != NULL ? "; its password check is answered \"cannot check\"" : "");
    server_unwatch_fd(w->fd);
    close(w->fd);
    (void)kill(w->pid, SIGKILL); /* not reaped yet, so still ours */
    authd_workers_reap();
    bool young = stream_now_ms() - w->started_ms < AUTHD_WORKER_YOUNG_MS;
    w->pid = 0;
    w->fd = -1;
    w->check = NULL;
    if (c != NULL)
        authd_check_finish(c, -1, NULL);
    if (!young)
        (void)authd_worker_start(w);
}

/* Hand c to the idle worker w; false (c still the caller's) when it fails. */
static bool authd_worker_send(struct authd_worker *w, struct authd_check *c)
{
    size_t ls = strlen(c->stored), lp = strlen(c->password), len = ls + lp + 2;
    char *msg = xmalloc(len);
    memcpy(msg, c->stored, ls + 1);
    memcpy(msg + ls + 1, c->password, lp + 1);
    ssize_t n = send(w->fd, msg, len, MSG_DONTWAIT | MSG_NOSIGNAL);
    int err = errno;
    explicit_bzero(msg, len);
    free(msg);
    if (n != (ssize_t)len) {
        msg_warn("cannot send a check to authd worker pid %ld: %s", (long)w->pid,
                 n < 0 ? strerror(err) : "short write");
        return false;
    }
    explicit_bzero(c->password, lp);
    free(c->password);
    c->password = NULL;
    w->check = c;
    return true;
}

/* Give waiting checks to idle workers. */
static void authd_workers_dispatch(void)
{
    for (int i = 0; i < aw.count && aw.head != NULL; i++) {
        struct authd_worker *w = &aw.w[i];
        if (w->pid == 0 || w->check != NULL)
            continue;
        struct authd_check *c = aw.head;
        aw.head = c->next;
        if (aw.head == NULL)
            aw.tail = NULL;
        aw.queued--;
        c->next = NULL;
        if (!authd_worker_send(w, c)) {
            w->check = c;
            authd_worker_lost(w, "cannot be written to");
            i = -1; /* start over: the slots changed */
        }
    }
}

static void authd_worker_ready(int fd, void *ctx)
{
    struct authd_worker *w = ctx;
    char buf[AUTHD_WORKER_REPLY_MAX + 1];
    ssize_t n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (n <= 0) {
        authd_worker_lost(w, n == 0 ? "exited" : "cannot be read from");
        authd_workers_dispatch();
        return;
    }
    buf[n] = '\0';
    if (w->check == NULL || (buf[0] != '1' && buf[0] != '0' && buf[0] != '-')) {
        authd_worker_lost(w, "sent an unexpected reply");
        authd_workers_dispatch();
        return;
    }
    struct authd_check *c = w->check;
    w->check = NULL;
    authd_check_finish(c,
                       buf[0] == '1'   ? 1
                       : buf[0] == '0' ? 0
                                       : -1,
                       buf[0] == '-' ? buf + 1 : NULL);
    authd_workers_dispatch();
}

void authd_workers_init(int count, bool allow_plaintext)
{
    aw.count = count < 1 ? 1 : count;
    aw.opts.allow_plaintext = allow_plaintext;
    aw.w = xcalloc((size_t)aw.count, sizeof(*aw.w));
    for (int i = 0; i < aw.count; i++) {
        aw.w[i].fd = -1;
        (void)authd_worker_start(&aw.w[i]);
    }
}

void authd_workers_submit(const char *stored, const char *password,
                          void (*done)(void *ctx, int rc, const char *error), void *ctx)
{
    struct authd_check *c = xcalloc(1, sizeof(*c));
    c->stored = xstrdup(stored);
    c->password = xstrdup(password);
    c->done = done;
    c->ctx = ctx;
    if (aw.queued >= AUTHD_QUEUE_MAX) {
        int64_t now = stream_now_ms();
        aw.refused++;
        if (now - aw.refused_logged_ms >= 1000) { /* at most one line a second */
            msg_warn("%zu password checks waiting for a worker: %lu more answered \"cannot "
                     "check\" (raise auth_worker_count?)",
                     aw.queued, aw.refused);
            aw.refused = 0;
            aw.refused_logged_ms = now;
        }
        authd_check_finish(c, -1, NULL);
        return;
    }
    if (aw.tail != NULL)
        aw.tail->next = c;
    else
        aw.head = c;
    aw.tail = c;
    aw.queued++;
    authd_workers_dispatch();
}

bool authd_workers_cancel(void *ctx)
{
    for (struct authd_check **pp = &aw.head, *prev = NULL; *pp; prev = *pp, pp = &(*pp)->next) {
        struct authd_check *c = *pp;
        if (c->ctx != ctx)
            continue;
        *pp = c->next;
        if (aw.tail == c)
            aw.tail = prev;
        aw.queued--;
        authd_check_free(&c);
        return true;
    }
    return false;
}

void authd_workers_tick(void)
{
    authd_workers_reap();
    for (int i = 0; i < aw.count; i++)
        if (aw.w[i].pid == 0)
            (void)authd_worker_start(&aw.w[i]);
    authd_workers_dispatch();
}

size_t authd_workers_queued(void)
{
    return aw.queued;
}
