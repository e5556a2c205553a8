/*
 * login.c - the pre-login / post-login process split (see login.h).
 */
#include "login.h"

#include "attr.h"
#include "auth_client.h"
#include "config.h"
#include "log.h"
#include "mem.h"
#include "priv.h"
#include "resolve.h"
#include "server.h"
#include "str.h"
#include "tls.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#if defined(__SANITIZE_ADDRESS__)
#define LOGIN_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LOGIN_SANITIZED 1
#endif
#endif

#define LOGIN_PROXY_BUF 65536
#define LOGIN_MODE_PROXY 'P'   /* the login process stays, copying bytes */
#define LOGIN_MODE_HANDOFF 'H' /* the client socket is attached */

static bool login_is_root(void)
{
    return getuid() == 0 || geteuid() == 0;
}

void login_user_clear(struct login_user *u)
{
    xfree(u->user);
    xfree(u->maildir);
    u->uid = u->gid = -1;
}

/* ---- addresses ----------------------------------------------------------- */

bool login_addr_loopback(const char *addr)
{
    struct in6_addr a6;
    struct in_addr a4;
    if (inet_pton(AF_INET, addr, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, addr, &a6) != 1)
        return false;
    if (IN6_IS_ADDR_LOOPBACK(&a6))
        return true;
    return IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127;
}

static void login_peer(int fd, struct login_conn *lc)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    lc->client_addr[0] = '\0';
    if (getpeername(fd, (struct sockaddr *)&ss, &len) < 0)
        return;
    if (ss.ss_family == AF_INET)
        (void)inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, lc->client_addr,
                        sizeof(lc->client_addr));
    else if (ss.ss_family == AF_INET6)
        (void)inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, lc->client_addr,
                        sizeof(lc->client_addr));
    lc->loopback = ss.ss_family == AF_UNIX || login_addr_loopback(lc->client_addr);
}

/* ---- finding the mailbox --------------------------------------------------- */

static bool login_path_safe(const char *p)
{
    for (const char *s = p; *s; s++)
        if (s[0] == '.' && s[1] == '.' && (s == p || s[-1] == '/') && (s[2] == '/' || !s[2]))
            return false;
    return *p != '\0';
}

/* Look user up in param's tables, then @domain. 1, 0 or -1. */
static int login_maps(const char *param, const char *user, char **value_r, char **error_r)
{
    int rc = resolve_maps_lookup(param, user, value_r, error_r);
    const char *at = strrchr(user, '@');
    if (rc == 0 && at != NULL)
        rc = resolve_maps_lookup(param, at, value_r, error_r);
    return rc;
}

static int login_map_id(const char *param, const char *user, long *id_r, char **error_r)
{
    char *v = NULL, *end;
    int rc = login_maps(param, user, &v, error_r);
    if (rc == 0)
        return error_set(error_r, "%s: no entry for %s", param, user);
    if (rc < 0)
        return -1;
    errno = 0;
    long id = strtol(v, &end, 10);
    bool ok = errno == 0 && end != v && *end == '\0' && id > 0;
    rc = ok ? 0 : error_set(error_r, "%s: bad id \"%s\" for %s", param, v, user);
    free(v);
    if (ok)
        *id_r = id;
    return rc;
}

/* $virtual_mailbox_base/ + the virtual_mailbox_maps value. */
static int login_virtual_path(const char *user, char **path_r, char **error_r)
{
    char *v = NULL;
    int rc = login_maps("virtual_mailbox_maps", user, &v, error_r);
    if (rc == 0)
        return error_set(error_r, "no mailbox for %s (not in virtual_mailbox_maps)", user);
    if (rc < 0)
        return -1;
    const char *base = cfg_str("virtual_mailbox_base");
    if (!login_path_safe(v) || v[strlen(v) - 1] != '/' || *base != '/') {
        rc = error_set(error_r,
                       "bad mailbox %s for %s: need a Maildir (ending in '/') under "
                       "an absolute virtual_mailbox_base",
                       v, user);
        free(v);
        return rc;
    }
    *path_r = xasprintf("%s/%s", base, v);
    free(v);
    return 0;
}

static void login_strip_slashes(char *p)
{
    size_t n = strlen(p);
    while (n > 1 && p[n - 1] == '/')
        p[--n] = '\0';
}

int login_mailbox(const char *user, long uid, long gid, const char *home, struct login_user *u,
                  char **error_r)
{
    char *path = NULL;
    if (home != NULL && *home != '\0') {
        const char *hm = cfg_str("home_mailbox");
        if (*home != '/' || !login_path_safe(home) || !login_path_safe(hm))
            return error_set(error_r, "bad home %s or home_mailbox %s for %s", home, hm, user);
        path = xasprintf("%s/%s", home, hm);
    } else if (login_virtual_path(user, &path, error_r) < 0)
        return -1;
    login_strip_slashes(path);
    if (!login_is_root()) {
        uid = (long)getuid();
        gid = (long)getgid();
    } else if ((uid <= 0 && login_map_id("virtual_uid_maps", user, &uid, error_r) < 0) ||
               (gid <= 0 && login_map_id("virtual_gid_maps", user, &gid, error_r) < 0)) {
        free(path);
        return -1;
    }
    u->user = xstrdup(user);
    u->uid = uid;
    u->gid = gid;
    u->maildir = path;
    return 0;
}

int login_authenticate(struct login_conn *lc, const char *service, const char *user,
                       const char *password, char **reason_r)
{
    struct auth_request req = {
        .service = service,
        .user = user,
        .password = password,
        .client_addr = lc->client_addr,
        .tls = tls_active(lc->client),
        /*
         * authd is one process hashing every password (yescrypt: ~0.1 s of
         * CPU on a slow machine); a burst of logins queues there.  Wait as
         * long as the session would wait for the client, not less than the
         * library's default.
         */
        .timeout_ms = stream_get_timeout_ms(lc->client) > AUTH_CLIENT_TIMEOUT_MS
                          ? stream_get_timeout_ms(lc->client)
                          : AUTH_CLIENT_TIMEOUT_MS,
    };
    struct auth_result res;
    char *err = NULL;
    if (auth_client_verify(&req, &res, &err) < 0) {
        msg_warn("authentication service unavailable: %s", err);
        free(err);
        *reason_r = xstrdup("authentication service unavailable");
        return AUTH_TEMPFAIL;
    }
    int status = (int)res.status;
    if (res.status == AUTH_OK) {
        if (login_mailbox(res.user, res.uid, res.gid, res.home, &lc->user, &err) < 0) {
            msg_warn("login of %s: %s", res.user, err);
            free(err);
            *reason_r = xstrdup("mailbox not available");
            status = AUTH_TEMPFAIL;
        } else
            lc->logged_in = true;
    } else
        *reason_r = xstrdup(res.reason != NULL ? res.reason : "authentication failed");
    auth_result_clear(&res);
    return status;
}

/* ---- processes ------------------------------------------------------------- */

/* Children give up master's descriptors (status pipe, listeners). */
static void login_close_inherited(void)
{
    const char *n = getenv(SERVER_ENV_NLISTEN);
    int nl = n != NULL ? atoi(n) : 0;
    if (fcntl(SERVER_STATUS_FD, F_GETFD) >= 0)
        (void)close(SERVER_STATUS_FD);
    for (int i = 0; i < nl && i < SERVER_MAX_LISTEN; i++)
        (void)close(SERVER_LISTEN_FD + i);
    (void)prctl(PR_SET_PDEATHSIG, SIGTERM);
}

static void login_dumpable(void)
{
#ifdef LOGIN_SANITIZED
    (void)prctl(PR_SET_DUMPABLE, 1); /* LeakSanitizer after a set*id */
#endif
}

static int login_write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* After login: copy between the client and the mail process until either ends. */
static void login_proxy(stream_t *client, int fd)
{
    char *buf = xmalloc(LOGIN_PROXY_BUF);
    for (;;) {
        struct pollfd p[2] = {{.fd = stream_fd(client), .events = POLLIN},
                              {.fd = fd, .events = POLLIN}};
        if (stream_buffered(client) == 0 && poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t n = read(fd, buf, LOGIN_PROXY_BUF);
            if (n <= 0 && !(n < 0 && errno == EINTR))
                break;
            if (n > 0 && (stream_write(client, buf, (size_t)n) != STREAM_OK ||
                          stream_flush(client) != STREAM_OK))
                break;
        }
        if (stream_buffered(client) > 0 || (p[0].revents & (POLLIN | POLLHUP | POLLERR))) {
            ssize_t n = stream_read(client, buf, LOGIN_PROXY_BUF);
            if (n <= 0 || login_write_all(fd, buf, (size_t)n) < 0)
                break;
        }
    }
    (void)stream_flush(client);
    free(buf);
}

/*
 * The first byte on the control socket says how the session goes on: 'H'
 * with the client socket attached (SCM_RIGHTS) when the connection is
 * plaintext and nothing the client sent is waiting unread in our buffer,
 * so the mail process can talk to the client directly and this process
 * ends; 'P' otherwise (TLS state cannot move to another process), and
 * this process stays as the proxy.
 */
static int login_send_mode(int ctl, int client_fd)
{
    char mode = client_fd >= 0 ? LOGIN_MODE_HANDOFF : LOGIN_MODE_PROXY;
    struct iovec iov = {.iov_base = &mode, .iov_len = 1};
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } u;
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    if (client_fd >= 0) {
        memset(&u, 0, sizeof(u));
        mh.msg_control = u.buf;
        mh.msg_controllen = sizeof(u.buf);
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &client_fd, sizeof(int));
    }
    ssize_t n;
    while ((n = sendmsg(ctl, &mh, MSG_NOSIGNAL)) < 0 && errno == EINTR)
        ;
    return n == 1 ? 0 : -1;
}

/* The parent's side: the mode byte and, for 'H', a socket (else *fd_r is -1). */
static int login_recv_mode(int ctl, char *mode_r, int *fd_r)
{
    struct iovec iov = {.iov_base = mode_r, .iov_len = 1};
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } u;
    struct msghdr mh = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf)};
    ssize_t n;
    *fd_r = -1;
    while ((n = recvmsg(ctl, &mh, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR)
        ;
    if (n != 1)
        return -1;
    struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
    if (c != NULL && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
        c->cmsg_len == CMSG_LEN(sizeof(int)))
        memcpy(fd_r, CMSG_DATA(c), sizeof(int));
    struct stat st;
    bool handoff = *mode_r == LOGIN_MODE_HANDOFF;
    if ((mh.msg_flags & MSG_CTRUNC) || (handoff != (*fd_r >= 0)) ||
        (handoff && (fstat(*fd_r, &st) < 0 || !S_ISSOCK(st.st_mode))) ||
        (!handoff && *mode_r != LOGIN_MODE_PROXY)) {
        msg_warn("bad session mode from the login process");
        if (*fd_r >= 0)
            (void)close(*fd_r);
        *fd_r = -1;
        return -1;
    }
    return 0;
}

static int login_send_user(int fd, const struct login_user *u, const char *addr)
{
    stream_t *s = stream_open_fd(fd, 0);
    attr_put_str(s, "client_addr", addr);
    attr_put_str(s, "user", u->user);
    attr_put_int(s, "uid", u->uid);
    attr_put_int(s, "gid", u->gid);
    attr_put_str(s, "maildir", u->maildir);
    attr_end(s);
    int rc = stream_flush(s) == STREAM_OK ? 0 : -1;
    stream_close(&s);
    return rc;
}

/* The login process: never returns. */
static void login_child(stream_t *client, int ctl, int sp, const struct login_settings *set)
{
    char *err = NULL;
    login_close_inherited();
    if (login_is_root()) {
        if (priv_drop(cfg_str("mail_owner"), NULL, &err) < 0)
            msg_fatal("%s", err);
        login_dumpable();
    }
    struct login_conn lc = {.client = client, .user = {.uid = -1, .gid = -1}};
    login_peer(stream_fd(client), &lc);
    int rc = set->prelogin(&lc, set->ctx);
    if (rc == 0 && lc.logged_in) {
        bool handoff = !tls_active(client) && stream_buffered(client) == 0 &&
                       stream_flush(client) == STREAM_OK;
        if (login_send_mode(ctl, handoff ? stream_fd(client) : -1) == 0 &&
            login_send_user(ctl, &lc.user, lc.client_addr) == 0 && !handoff) {
            (void)close(ctl);
            login_proxy(client, sp);
        }
    }
    (void)stream_flush(client);
    login_user_clear(&lc.user);
    stream_close(&client);
    exit(0);
}

/* The parent's check of the login process's record. */
static int login_read_user(int ctl, struct login_user *u, char addr[LOGIN_ADDR_MAX])
{
    stream_t *s = stream_open_fd(ctl, 0);
    struct attr_list *l = attr_list_new();
    const char *err = NULL, *user, *maildir, *a;
    long long uid, gid;
    int rc = -1;
    int r = attr_read(s, l, NULL, &err);
    if (r == 0) {
        if (attr_get_str(l, "user", &user) < 0 || attr_get_str(l, "maildir", &maildir) < 0 ||
            attr_get_int_range(l, "uid", 1, INT32_MAX, &uid) < 0 ||
            attr_get_int_range(l, "gid", 1, INT32_MAX, &gid) < 0 ||
            attr_get_str_opt(l, "client_addr", "", &a) < 0)
            msg_warn("bad user record from the login process: %s", attr_error(l));
        else if (*maildir != '/' || !login_path_safe(maildir))
            msg_warn("bad maildir from the login process");
        else {
            u->user = xstrdup(user);
            u->maildir = xstrdup(maildir);
            u->uid = (long)uid;
            u->gid = (long)gid;
            if (str_lcpy(addr, a, LOGIN_ADDR_MAX) < 0)
                addr[0] = '\0';
            rc = 0;
        }
    } else if (r != ATTR_EOF)
        msg_warn("bad user record from the login process: %s", err);
    attr_list_free(&l);
    stream_close(&s);
    return rc;
}

/* The mail process: never returns. */
static void login_mail(int sp, const struct login_user *u, const char *addr,
                       const struct login_settings *set)
{
    char *err = NULL;
    login_close_inherited();
    if (login_is_root()) {
        if (priv_drop_ids((uid_t)u->uid, (gid_t)u->gid, &err) < 0)
            msg_fatal("%s", err);
        login_dumpable();
    }
    stream_t *s = stream_open_fd(sp, STREAM_OWN_FD);
    set->postlogin(s, u, addr, set->ctx);
    (void)stream_flush(s);
    stream_close(&s);
    exit(0);
}

static void login_wait(pid_t pid)
{
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
}

/* Reap both children in whatever order they end. */
static void login_wait_both(pid_t a, pid_t b)
{
    int st, left = 2;
    while (left > 0) {
        pid_t p = waitpid(-1, &st, 0);
        if (p < 0 && errno == EINTR)
            continue;
        if (p < 0)
            break;
        if (p == a || p == b)
            left--;
    }
}

/* Let go of the parent's copy of the client connection (the stream stays valid). */
static void login_forget_client(stream_t *client)
{
    int nul = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (nul >= 0) {
        (void)dup2(nul, stream_fd(client));
        (void)close(nul);
    }
    stream_discard_input(client);
}

/*
 * Replies go out as whole writes (a RETR answer is one write), so Nagle's
 * algorithm would only hold back each answer's last segment until the
 * client's delayed ACK: one-command-at-a-time clients then wait ~40 ms a
 * command.
 */
static void login_nodelay(int fd)
{
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)); /* fails on AF_UNIX */
}

void login_session(stream_t *client, const struct login_settings *set)
{
    int ctl[2], sp[2];
    login_nodelay(stream_fd(client));
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ctl) < 0 ||
        socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0) {
        msg_warn("socketpair: %s", strerror(errno));
        return;
    }
    pid_t lpid = fork();
    if (lpid < 0) {
        msg_warn("fork: %s", strerror(errno));
        return;
    }
    if (lpid == 0) {
        (void)close(ctl[0]);
        (void)close(sp[1]);
        login_child(client, ctl[1], sp[0], set);
    }
    (void)close(ctl[1]);
    (void)close(sp[0]);
    login_forget_client(client);
    struct login_user u = {.uid = -1, .gid = -1};
    char addr[LOGIN_ADDR_MAX] = "";
    char mode;
    int cfd = -1;
    if (login_recv_mode(ctl[0], &mode, &cfd) == 0 && login_read_user(ctl[0], &u, addr) == 0) {
        pid_t mpid = fork();
        if (mpid == 0) {
            (void)close(ctl[0]);
            if (cfd >= 0) {
                (void)close(sp[1]); /* the client socket itself, not the proxy's pair */
                sp[1] = cfd;
            }
            login_mail(sp[1], &u, addr, set);
        }
        if (mpid < 0)
            msg_warn("fork: %s", strerror(errno));
        (void)close(sp[1]);
        sp[1] = -1;
        if (cfd >= 0)
            (void)close(cfd); /* the connection ends when the mail process closes it */
        cfd = -1;
        if (mpid > 0)
            login_wait_both(lpid, mpid); /* after a hand-off the login process ends first */
        else
            login_wait(lpid);
    } else
        login_wait(lpid);
    (void)close(ctl[0]);
    if (sp[1] >= 0)
        (void)close(sp[1]);
    if (cfd >= 0)
        (void)close(cfd);
    login_user_clear(&u);
}
