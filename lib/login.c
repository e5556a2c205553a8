/*
 * login.c - the session parent and the mail process of the login split
 * (login.h); the login program's side is login_proc.c.  Nothing here
 * uses OpenSSL: the DAEMON program does not link it.
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
#include <signal.h>
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

#define LOGIN_MODE_PROXY 'P'   /* the login process stays, copying bytes */
#define LOGIN_MODE_HANDOFF 'H' /* the client socket is attached */
#define LOGIN_FD_SCRATCH 10    /* descriptors are moved above this before exec */

/* The key and certificate texts for the login program (sealed memory files). */
static int login_tls_fds[2] = {-1, -1};

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

/* ---- finding the mailbox --------------------------------------------------- */

bool login_path_safe(const char *p)
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

/* ---- processes ------------------------------------------------------------- */

/*
 * Children give up master's descriptors (status pipe, listeners) and the
 * TLS texts (the login program gets its own copies as LOGIN_FD_TLS_*).
 */
static void login_close_master_fds(void)
{
    const char *n = getenv(SERVER_ENV_NLISTEN);
    int nl = n != NULL ? atoi(n) : 0;
    if (fcntl(SERVER_STATUS_FD, F_GETFD) >= 0)
        (void)close(SERVER_STATUS_FD);
    for (int i = 0; i < nl && i < SERVER_MAX_LISTEN; i++)
        (void)close(SERVER_LISTEN_FD + i);
}

static void login_close_inherited(void)
{
    login_close_master_fds();
    for (int i = 0; i < 2; i++)
        if (login_tls_fds[i] >= 0)
            (void)close(login_tls_fds[i]);
}

/*
 * After the ids changed (a change of ids clears the parent-death signal,
 * so it is set here, not before): die with the session parent; let
 * LeakSanitizer attach (ptrace) in a sanitizer build.
 */
static void login_after_drop(void)
{
    (void)prctl(PR_SET_PDEATHSIG, SIGTERM);
#ifdef LOGIN_SANITIZED
    (void)prctl(PR_SET_DUMPABLE, 1);
#endif
}

/*
 * Put the login program's descriptors in place: each src[i] (or nothing,
 * when -1) becomes LOGIN_FD_CLIENT + i, without close-on-exec.  All are
 * first copied above LOGIN_FD_SCRATCH so that no source is overwritten
 * before it has been copied.
 */
static int login_place_fds(const int *src, int n)
{
    int tmp[8];
    if (n > (int)N_ELEMENTS(tmp))
        return -1;
    for (int i = 0; i < n; i++) {
        tmp[i] = src[i] >= 0 ? fcntl(src[i], F_DUPFD_CLOEXEC, LOGIN_FD_SCRATCH) : -1;
        if (src[i] >= 0 && tmp[i] < 0)
            return -1;
    }
    for (int i = 0; i < n; i++) {
        int to = LOGIN_FD_CLIENT + i;
        if (tmp[i] < 0)
            (void)close(to);
        else if (dup2(tmp[i], to) < 0)
            return -1;
    }
    for (int i = 0; i < n; i++)
        if (tmp[i] >= 0)
            (void)close(tmp[i]);
    return 0;
}

/* A forked child becomes the login program (as mail_owner); never returns. */
static void login_exec(const struct login_settings *set, int client_fd, int ctl_fd, int proxy_fd,
                       bool check)
{
    char *err = NULL;
    int log_fd = log_file_fd() > 2 ? log_file_fd() : -1;
    int fds[] = {client_fd, ctl_fd, proxy_fd, login_tls_fds[0], login_tls_fds[1], log_fd};
    login_close_master_fds(); /* first: they have the numbers the program's fds get */
    if (login_place_fds(fds, (int)N_ELEMENTS(fds)) < 0) {
        msg_warn("cannot pass descriptors to %s: %s", set->program, strerror(errno));
        _exit(1);
    }
    if (login_is_root() && priv_drop(cfg_str("mail_owner"), NULL, &err) < 0) {
        msg_warn("%s", err);
        _exit(1);
    }
    (void)prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (check && setenv(LOGIN_ENV_CHECK, "1", 1) < 0)
        _exit(1);
    char *path = xasprintf("%s/%s", cfg_str("daemon_directory"), set->program);
    char **argv = server_argv();
    argv[0] = path;
    execv(path, argv);
    msg_warn("cannot execute %s: %s", path, strerror(errno));
    _exit(1);
}

/* The start-up check: can the login program build its context from the texts? */
static int login_tls_check(const struct login_settings *set, char **error_r)
{
    pid_t pid = fork();
    if (pid < 0)
        return error_set(error_r, "fork: %s", strerror(errno));
    if (pid == 0)
        login_exec(set, -1, -1, -1, true);
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return error_set(error_r, "waitpid: %s", strerror(errno));
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
        return 0;
    return error_set(error_r, "%s cannot build a TLS context from %s (its log says why)",
                     set->program, cfg_str("daemon_directory"));
}

int login_tls_load(const struct login_settings *set, const char *cert_file, const char *key_file,
                   char **error_r)
{
    struct tls_pem_pair pem;
    if (tls_pem_pair_read(&pem, cert_file, key_file, error_r) < 0)
        return -1;
    int rc = tls_pem_pair_to_fds(&pem, &login_tls_fds[0], &login_tls_fds[1], error_r);
    tls_pem_pair_wipe(&pem);
    if (rc == 0 && login_tls_check(set, error_r) < 0) {
        for (int i = 0; i < 2; i++) {
            (void)close(login_tls_fds[i]);
            login_tls_fds[i] = -1;
        }
        rc = -1;
    }
    return rc;
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

/*
 * Who logged in, as authd says: the login process's cookie redeemed
 * (only a root client may redeem in a root instance), then the mailbox
 * found here.  The login process's own idea of the user name is only
 * compared.  0, or -1 (logged).
 */
static int login_redeem(const struct login_settings *set, const char *cookie, const char *claimed,
                        struct login_user *u)
{
    struct auth_result res;
    char *err = NULL;
    if (auth_client_redeem(cookie, set->service, NULL, 0, &res, &err) < 0) {
        msg_warn("cannot redeem a login cookie: %s", err);
        free(err);
        return -1;
    }
    int rc = -1;
    if (res.status != AUTH_OK)
        msg_warn("login cookie refused by authd: %s", res.reason);
    else if (strcmp(res.user, claimed) != 0)
        msg_warn("the login process claimed user %s, authd says %s: session refused", claimed,
                 res.user);
    else if (login_mailbox(res.user, res.uid, res.gid, res.home, u, &err) < 0) {
        msg_warn("login of %s: %s", res.user, err);
        free(err);
    } else if (u->uid <= 0 || u->gid <= 0 || *u->maildir != '/' || !login_path_safe(u->maildir)) {
        msg_warn("login of %s: refused: uid %ld, gid %ld, mailbox %s", res.user, u->uid, u->gid,
                 u->maildir);
        login_user_clear(u);
    } else
        rc = 0;
    auth_result_clear(&res);
    return rc;
}

/* The parent's reading of the login process's record. */
static int login_read_user(const struct login_settings *set, int ctl, struct login_user *u,
                           char addr[LOGIN_ADDR_MAX])
{
    stream_t *s = stream_open_fd(ctl, 0);
    struct attr_list *l = attr_list_new();
    static const struct attr_limits limits = {.max_value = 1024, .max_attrs = 8};
    const char *err = NULL, *user, *cookie, *a;
    int rc = -1;
    int r = attr_read(s, l, &limits, &err);
    if (r == 0) {
        if (attr_get_str(l, "user", &user) < 0 || attr_get_str(l, "cookie", &cookie) < 0 ||
            attr_get_str_opt(l, "client_addr", "", &a) < 0)
            msg_warn("bad user record from the login process: %s", attr_error(l));
        else if (!auth_cookie_valid(cookie))
            msg_warn("bad login cookie from the login process");
        else if (login_redeem(set, cookie, user, u) == 0) {
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
    if (login_is_root() && priv_drop_ids((uid_t)u->uid, (gid_t)u->gid, &err) < 0)
        msg_fatal("%s", err);
    login_after_drop();
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
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ctl) < 0) {
        msg_warn("socketpair: %s", strerror(errno));
        return;
    }
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0) {
        msg_warn("socketpair: %s", strerror(errno));
        (void)close(ctl[0]);
        (void)close(ctl[1]);
        return;
    }
    pid_t lpid = fork();
    if (lpid == 0)
        login_exec(set, stream_fd(client), ctl[1], sp[0], false);
    (void)close(ctl[1]);
    (void)close(sp[0]);
    if (lpid < 0) {
        msg_warn("fork: %s", strerror(errno));
        (void)close(ctl[0]);
        (void)close(sp[1]);
        return;
    }
    login_forget_client(client);
    struct login_user u = {.uid = -1, .gid = -1};
    char addr[LOGIN_ADDR_MAX] = "";
    char mode;
    int cfd = -1;
    if (login_recv_mode(ctl[0], &mode, &cfd) == 0 && login_read_user(set, ctl[0], &u, addr) == 0) {
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
