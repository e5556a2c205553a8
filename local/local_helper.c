/*
 * local_helper.c - long-lived delivery children for Maildir deliveries
 * when the agent runs as root.
 *
 * Forking a child per delivery costs more than the delivery itself.  A
 * helper is the same kind of child (forked, then dropped for good to one
 * mailbox owner's uid/gid with priv_drop_ids, never uid 0, not dumpable,
 * without the other helpers' sockets), kept for the next deliveries to
 * the same owner.  One helper serves exactly one (uid, gid), so it never
 * writes for anyone else; at most LOCAL_HELPERS are kept (least recently
 * used goes first), each for at most LOCAL_HELPER_USES deliveries.
 *
 * Protocol over a SOCK_SEQPACKET socketpair, one datagram each way per
 * delivery: the agent sends struct local_helper_job followed by the
 * target, recipient and sender strings, with a read-only descriptor of
 * the queue file attached (SCM_RIGHTS); the helper answers one struct
 * local_outcome.  A helper that dies before answering makes the delivery
 * a temporary failure (it may have happened: at worst a duplicate).  A
 * helper found dead before the job was sent is replaced once.
 */
#include "local.h"

#include "config.h"
#include "durable.h"
#include "log.h"
#include "mem.h"
#include "priv.h"
#include "server.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>

#define LOCAL_HELPERS 8
#define LOCAL_HELPER_USES 1000
#define LOCAL_HELPER_MAX_JOB 16384 /* bytes of strings in one job */
#define LOCAL_HELPER_IDLE_MS 1000  /* idle this long: leave group commits */

struct local_helper {
    pid_t pid; /* 0: slot free */
    int fd;
    uid_t uid;
    gid_t gid;
    unsigned uses;
    unsigned long long last;
};

struct local_helper_job {
    uint32_t len[3]; /* target, rcpt, sender, each without its NUL */
};

static struct local_helper helpers[LOCAL_HELPERS];
static unsigned long long helper_clock;

/* ---- the helper process ------------------------------------------------ */

/* One job: NULL-terminated strings in buf, the queue file in fd. */
static void helper_job(char *buf, size_t n, int fd, struct local_outcome *o)
{
    struct local_helper_job h;
    memcpy(&h, buf, sizeof(h));
    size_t need = sizeof(h);
    for (int i = 0; i < 3; i++)
        need += (size_t)h.len[i] + 1;
    if (need != n) {
        local_outcome_set(o, DELIVER_TEMP, "4.3.0", "malformed delivery job");
        close(fd);
        return;
    }
    char *target = buf + sizeof(h), *rcpt = target + h.len[0] + 1, *sender = rcpt + h.len[1] + 1;
    qfile_t *qf = NULL;
    char *err = NULL;
    if (qfile_open_fd(fd, "queue file", 0, NULL, &qf, &err) != 0) {
        local_outcome_set(o, DELIVER_TEMP, "4.3.0", "cannot open queue file: %s", err);
        free(err);
        return;
    }
    local_maildir_job(target, rcpt, sender, qf, o);
    qfile_close(&qf);
}

static void helper_serve(int sock)
{
    static char buf[sizeof(struct local_helper_job) + LOCAL_HELPER_MAX_JOB];
    for (;;) {
        char cbuf[CMSG_SPACE(sizeof(int))];
        struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};
        struct msghdr mh = {
            .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)};
        /* Idle for a second: leave the Maildirs' group commits (their
         * state files would keep file systems busy). */
        struct pollfd pfd = {.fd = sock, .events = POLLIN};
        if (poll(&pfd, 1, LOCAL_HELPER_IDLE_MS) == 0)
            durable_group_close_all();
        ssize_t n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
        if (n <= 0)
            _exit(0);
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        int fd = -1;
        if (c != NULL && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
            c->cmsg_len == CMSG_LEN(sizeof(int)))
            memcpy(&fd, CMSG_DATA(c), sizeof(int));
        if (fd < 0 || (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) ||
            (size_t)n < sizeof(struct local_helper_job))
            _exit(1);
        struct local_outcome o;
        local_outcome_set(&o, DELIVER_TEMP, "4.3.0", "delivery process gave no result");
        helper_job(buf, (size_t)n, fd, &o);
        if (send(sock, &o, sizeof(o), MSG_NOSIGNAL) != (ssize_t)sizeof(o))
            _exit(1);
    }
}

/*
 * In the new child: drop the other helpers' sockets (a helper must not
 * reach another user's helper) and master's status pipe, become id for
 * good, serve.
 */
static void helper_child(int sock, const struct local_id *id)
{
    for (size_t i = 0; i < LOCAL_HELPERS; i++)
        if (helpers[i].pid != 0)
            close(helpers[i].fd);
    close(SERVER_STATUS_FD);
    char *err = NULL;
    if (id->uid == 0 || priv_drop_ids(id->uid, id->gid, &err) < 0) {
        msg_error("cannot become uid %ld: %s", (long)id->uid, err ? err : "uid 0 refused");
        _exit(1);
    }
    (void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    helper_serve(sock);
}

/* ---- the agent's side ------------------------------------------------- */

static void helper_end(struct local_helper *h)
{
    if (h->pid == 0)
        return;
    close(h->fd);
    int st;
    while (waitpid(h->pid, &st, 0) < 0 && errno == EINTR)
        ;
    *h = (struct local_helper){0};
}

static struct local_helper *helper_start(struct local_helper *h, const struct local_id *id)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        return NULL;
    pid_t pid = fork();
    if (pid < 0) {
        close(sv[0]);
        close(sv[1]);
        return NULL;
    }
    if (pid == 0) {
        close(sv[0]);
        helper_child(sv[1], id);
    }
    close(sv[1]);
    *h = (struct local_helper){.pid = pid, .fd = sv[0], .uid = id->uid, .gid = id->gid};
    return h;
}

/* The helper for id: a live one, or a new one in the least recently used slot. */
static struct local_helper *helper_get(const struct local_id *id)
{
    struct local_helper *lru = &helpers[0];
    for (size_t i = 0; i < LOCAL_HELPERS; i++) {
        struct local_helper *h = &helpers[i];
        if (h->pid != 0 && h->uid == id->uid && h->gid == id->gid) {
            if (h->uses < LOCAL_HELPER_USES)
                return h;
            helper_end(h);
        }
        if (h->pid == 0 || (lru->pid != 0 && h->last < lru->last))
            lru = h;
    }
    helper_end(lru);
    return helper_start(lru, id);
}

/* Send the job; 0 sent, -1 the helper is gone (nothing was delivered). */
static int helper_send(struct local_helper *h, const char *const s[3], int fd)
{
    struct local_helper_job head;
    struct iovec iov[4] = {{&head, sizeof(head)}};
    for (int i = 0; i < 3; i++) {
        head.len[i] = (uint32_t)strlen(s[i]);
        iov[i + 1] = (struct iovec){(void *)s[i], (size_t)head.len[i] + 1};
    }
    char cbuf[CMSG_SPACE(sizeof(int))];
    memset(cbuf, 0, sizeof(cbuf));
    struct msghdr mh = {
        .msg_iov = iov, .msg_iovlen = 4, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)};
    struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof(int));
    ssize_t n;
    while ((n = sendmsg(h->fd, &mh, MSG_NOSIGNAL)) < 0 && errno == EINTR)
        ;
    return n < 0 ? -1 : 0;
}

bool local_helper_maildir(const struct local_id *id, const struct local_rcpt_state *st,
                          const char *path, struct local_outcome *out)
{
    const char *s[3] = {path, st->rcpt, st->msg->req->sender};
    if (!local_is_root() || id->uid == 0 ||
        strlen(s[0]) + strlen(s[1]) + strlen(s[2]) + 3 > LOCAL_HELPER_MAX_JOB)
        return false;
    char *qpath = xasprintf("%s/%s", cfg_str("queue_directory"), st->msg->req->queue_file);
    int fd = open(qpath, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    free(qpath);
    if (fd < 0)
        return false; /* the fork path reports it */
    struct local_helper *h = NULL;
    int sent = -1;
    for (int attempt = 0; attempt < 2 && sent < 0; attempt++) {
        if ((h = helper_get(id)) == NULL)
            break;
        if ((sent = helper_send(h, s, fd)) < 0)
            helper_end(h); /* died since its last job: a new one */
    }
    close(fd);
    if (sent < 0)
        return false;
    h->uses++;
    h->last = ++helper_clock;
    struct local_outcome o;
    ssize_t n;
    while ((n = recv(h->fd, &o, sizeof(o), 0)) < 0 && errno == EINTR)
        ;
    if (n != (ssize_t)sizeof(o) ||
        (o.status != DELIVER_OK && o.status != DELIVER_TEMP && o.status != DELIVER_PERM)) {
        helper_end(h);
        local_outcome_set(out, DELIVER_TEMP, "4.3.0", "delivery process failed");
        return true;
    }
    o.dsn[sizeof(o.dsn) - 1] = '\0';
    o.text[sizeof(o.text) - 1] = '\0';
    *out = o;
    return true;
}
