/*
 * login_proc.c - the pre-login program's side of the login split
 * (login.h): main(), TLS from the parent's memory files, the authd
 * request, the record to the parent and the proxy.
 */
#include "login.h"

#include "attr.h"
#include "auth_client.h"
#include "config.h"
#include "log.h"
#include "mem.h"
#include "server.h"
#include "str.h"
#include "tls.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>

#define LOGIN_PROXY_BUF 65536
#define LOGIN_MODE_PROXY 'P'   /* the login process stays, copying bytes */
#define LOGIN_MODE_HANDOFF 'H' /* the client socket is attached */

static tls_server_t *login_tls_ctx;

struct tls_server *login_tls(void)
{
    return login_tls_ctx;
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

int login_authenticate(struct login_conn *lc, const char *service, const char *user,
                       const char *password, char **reason_r)
{
    struct auth_request req = {
        .service = service,
        .user = user,
        .password = password,
        .client_addr = lc->client_addr,
        .tls = tls_active(lc->client),
        .want_cookie = true, /* the session parent redeems it: login.h */
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
        } else {
            lc->logged_in = true;
            memcpy(lc->cookie, res.cookie, sizeof(lc->cookie));
        }
    } else
        *reason_r = xstrdup(res.reason != NULL ? res.reason : "authentication failed");
    auth_result_clear(&res);
    return status;
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

int login_send_record(int ctl, int client_fd, const char *client_addr, const char *user,
                      const char *cookie)
{
    if (login_send_mode(ctl, client_fd) < 0)
        return -1;
    stream_t *s = stream_open_fd(ctl, 0);
    attr_put_str(s, "client_addr", client_addr);
    attr_put_str(s, "user", user);
    attr_put_str(s, "cookie", cookie);
    attr_end(s);
    int rc = stream_flush(s) == STREAM_OK ? 0 : -1;
    stream_close(&s);
    return rc;
}

static bool login_fd_open(int fd)
{
    return fcntl(fd, F_GETFD) >= 0;
}

/* The TLS context from the parent's memory files, when it sent them. */
static void login_tls_setup(const struct login_program *p, bool check)
{
    if (!login_fd_open(LOGIN_FD_TLS_CERT) || !login_fd_open(LOGIN_FD_TLS_KEY)) {
        if (check)
            msg_fatal("no TLS key and certificate to check");
        return;
    }
    struct tls_pem_pair pem;
    char *err = NULL;
    int rc = tls_pem_pair_from_fds(&pem, cfg_str(p->cert_param), cfg_str(p->key_param),
                                   LOGIN_FD_TLS_CERT, LOGIN_FD_TLS_KEY, &err);
    (void)close(LOGIN_FD_TLS_CERT);
    (void)close(LOGIN_FD_TLS_KEY);
    if (rc == 0) {
        /*
         * Built at the first handshake: a plaintext session never pays for
         * it.  Session tickets are encrypted with a key all login processes
         * of the service share through a file in private/ (made by this
         * process, as mail_owner), so a client can resume with any of them.
         */
        char *tickets =
            xasprintf("%s/private/%s_tls_ticket_keys", cfg_str("queue_directory"), p->service);
        struct tls_server_settings set = {
            .protocols = cfg_str(p->protocols_param),
            .ticket_key_file = tickets,
            .ticket_key_uid = -1,
            .ticket_key_gid = -1,
            .ticket_lifetime = (int)cfg_time(p->ticket_lifetime_param),
            .lazy = !check,
            .pem = &pem,
        };
        login_tls_ctx = tls_server_new(&set, &err);
        tls_pem_pair_wipe(&pem);
        free(tickets);
    }
    if (login_tls_ctx == NULL) {
        msg_error("TLS is not available: %s", err);
        free(err);
        if (check)
            exit(1);
    }
}

void login_main(int argc, char **argv, const struct login_program *p)
{
    server_helper_init(argc, argv, p->name, login_fd_open(LOGIN_FD_LOG) ? LOGIN_FD_LOG : -1);
    (void)prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getuid() == 0 || geteuid() == 0)
        msg_fatal("%s must not run as root: the session parent starts it as mail_owner", p->name);
    bool check = getenv(LOGIN_ENV_CHECK) != NULL;
    if (p->init != NULL)
        p->init(p->ctx);
    login_tls_setup(p, check);
    if (check)
        exit(0);
    struct stat st;
    if (fstat(LOGIN_FD_CLIENT, &st) < 0 || !S_ISSOCK(st.st_mode) || fstat(LOGIN_FD_CTL, &st) < 0 ||
        !S_ISSOCK(st.st_mode) || !login_fd_open(LOGIN_FD_PROXY))
        msg_fatal("%s is started by its daemon's session parent (see login(8) in %s(8))", p->name,
                  p->service);
    int ctl = LOGIN_FD_CTL, sp = LOGIN_FD_PROXY;
    (void)fcntl(ctl, F_SETFD, FD_CLOEXEC);
    (void)fcntl(sp, F_SETFD, FD_CLOEXEC);
    stream_t *client = stream_open_fd(LOGIN_FD_CLIENT, STREAM_OWN_FD);
    struct login_conn lc = {.client = client, .user = {.uid = -1, .gid = -1}};
    login_peer(stream_fd(client), &lc);
    int rc = p->prelogin(&lc, p->ctx);
    if (rc == 0 && lc.logged_in) {
        bool handoff = !tls_active(client) && stream_buffered(client) == 0 &&
                       stream_flush(client) == STREAM_OK;
        if (login_send_record(ctl, handoff ? stream_fd(client) : -1, lc.client_addr, lc.user.user,
                              lc.cookie) == 0 &&
            !handoff) {
            (void)close(ctl);
            login_proxy(client, sp);
        }
    }
    (void)stream_flush(client);
    login_user_clear(&lc.user);
    explicit_bzero(lc.cookie, sizeof(lc.cookie));
    stream_close(&client);
    tls_server_free(&login_tls_ctx);
    exit(0);
}
