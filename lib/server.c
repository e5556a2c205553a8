/*
 * server.c - the daemon skeleton (see server.h for the protocol with
 * master and the promises made to daemons).
 *
 * Privileges: the skeleton, not the daemon, chroots and drops to
 * mail_owner, right after the daemon's pre_jail_init; so a daemon can
 * open root-only files first and cannot forget the drop.  A child that
 * is still root afterwards, without master.cf asking for it (unpriv n),
 * stops with a fatal error.
 */
#include "server.h"
#include "config.h"
#include "log.h"
#include "mem.h"
#include "priv.h"
#include "str.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>

#define SERVER_CLIENT_TIMEOUT 300
#define SERVER_TRIGGER_MAX 1024
#define SERVER_TRIGGER_TIMEOUT_MS 1000

#if defined(__SANITIZE_ADDRESS__)
#define SERVER_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SERVER_SANITIZED 1
#endif
#endif

struct server_client {
    stream_t *stream;
    struct server_client *next;
};

/* A descriptor the daemon asked to have polled (server_watch_fd). */
struct server_watch {
    int fd;
    void (*ready)(int fd, void *ctx);
    void *ctx;
    unsigned long id; /* never reused: a stale poll result finds no owner */
};

static struct {
    const struct server_settings *s;
    const char *service;
    const char *type;
    int nlisten;
    pid_t master_pid;
    long long max_use, max_idle;
    long long uses;
    int64_t last_active; /* ms of the last client activity */
    int64_t next_wakeup; /* ms, 0 = none */
    bool master_gone;
    char **argv; /* the whole command line */
    char **args;
    int nargs;
    struct server_client *clients; /* SERVER_MULTI */
    int nclients;
    int nested; /* inside server_serve_pending() */
    struct server_watch *watches;
    size_t nwatches, watch_cap;
    unsigned long watch_seq;
} srv;

char **server_args(int *argc_r)
{
    *argc_r = srv.nargs;
    return srv.args;
}

char **server_argv(void)
{
    return srv.argv;
}

/* ---- start-up ------------------------------------------------------- */

static void server_usage(void) TERN_NORETURN;
static void server_usage(void)
{
    msg_fatal("usage: %s [-c config_dir] [-o name=value]... [-v] [args...]", srv.s->name);
}

/* Options, then main.cf with the -o overrides on top. */
static void server_config(int argc, char **argv)
{
    const char *dir = NULL;
    char **overrides = xcalloc((size_t)argc + 1, sizeof(*overrides));
    int noverrides = 0, c;
    while ((c = getopt(argc, argv, "+c:o:v")) != -1) {
        if (c == 'c')
            dir = optarg;
        else if (c == 'o')
            overrides[noverrides++] = optarg;
        else if (c == 'v')
            log_set_verbose(log_verbose() + 1);
        else
            server_usage();
    }
    srv.args = argv + optind;
    srv.nargs = argc - optind;
    if (config_load(dir) < 0)
        msg_fatal("cannot load the configuration");
    for (int i = 0; i < noverrides; i++)
        if (config_override(overrides[i]) < 0)
            msg_fatal("bad override -o %s", overrides[i]);
    free(overrides);
    srv.max_use = cfg_int("max_use");
    srv.max_idle = cfg_time("max_idle");
}

static void server_log_open(void)
{
    const char *file = cfg_str("maillog_file");
    if (log_open(cfg_str("syslog_name"), file) < 0)
        msg_fatal("open %s: %s", file, strerror(errno));
    log_also_stderr(false);
}

/* The descriptors and environment master hands over (server.h). */
static void server_env(void)
{
    const char *n = getenv(SERVER_ENV_NLISTEN);
    const char *mpid = getenv(SERVER_ENV_MASTER);
    srv.service = getenv(SERVER_ENV_SERVICE);
    srv.type = getenv(SERVER_ENV_TYPE);
    if (n == NULL || mpid == NULL || srv.service == NULL || srv.type == NULL)
        msg_fatal("%s must be started by master (no listening sockets): see master(8)",
                  srv.s->name);
    srv.nlisten = atoi(n);
    srv.master_pid = (pid_t)atol(mpid);
    if (srv.nlisten < 1 || srv.nlisten > SERVER_MAX_LISTEN || srv.master_pid < 1)
        msg_fatal("bad %s or %s from master", SERVER_ENV_NLISTEN, SERVER_ENV_MASTER);
    struct stat st;
    if (fstat(SERVER_STATUS_FD, &st) < 0 || !S_ISFIFO(st.st_mode))
        msg_fatal("status descriptor %d from master is not a pipe", SERVER_STATUS_FD);
    for (int i = 0; i < srv.nlisten; i++) {
        int fd = SERVER_LISTEN_FD + i;
        if (fstat(fd, &st) < 0 || !(S_ISSOCK(st.st_mode) || S_ISFIFO(st.st_mode)))
            msg_fatal("listen descriptor %d from master is not a socket or FIFO", fd);
        (void)fcntl(fd, F_SETFD, FD_CLOEXEC);
        (void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    }
    (void)fcntl(SERVER_STATUS_FD, F_SETFD, FD_CLOEXEC);
}

/* chroot (when master asked) and become mail_owner (unless unpriv n). */
static void server_jail(void)
{
    const char *unpriv = getenv(SERVER_ENV_UNPRIV);
    const char *jail = getenv(SERVER_ENV_CHROOT);
    bool drop = unpriv == NULL || strcmp(unpriv, "n") != 0;
    char *error = NULL;
    if (getuid() != 0 && geteuid() != 0)
        return; /* a non-root instance: master already is the owner */
    if (drop && priv_enter(cfg_str("mail_owner"), NULL, jail, &error) < 0)
        msg_fatal("%s", error);
    if (!drop && priv_chroot(jail, &error) < 0)
        msg_fatal("%s", error);
    if (drop && (getuid() == 0 || geteuid() == 0))
        msg_fatal("still root after dropping privileges to %s", cfg_str("mail_owner"));
#ifdef SERVER_SANITIZED
    /* LeakSanitizer attaches with ptrace, which a set-uid process refuses. */
    if (drop)
        (void)prctl(PR_SET_DUMPABLE, 1);
#endif
}

/* A child must never outlive master. */
static void server_watch_master(void)
{
    (void)prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != srv.master_pid)
        msg_fatal("master (pid %ld) is gone", (long)srv.master_pid);
}

/* ---- talking to master ------------------------------------------------ */

/* Tell master busy or idle; if master is gone, we are done. */
static void server_status(enum server_stat st)
{
    struct server_status rec = {.pid = (int32_t)getpid(), .status = st};
    ssize_t n;
    do
        n = write(SERVER_STATUS_FD, &rec, sizeof(rec));
    while (n < 0 && errno == EINTR);
    if (n != (ssize_t)sizeof(rec)) {
        if (log_verbose())
            msg_debug("status channel to master closed: exiting");
        exit(0);
    }
}

/* ---- waiting ---------------------------------------------------------- */

static int64_t server_deadline(void)
{
    int64_t d = -1;
    if (!srv.s->no_idle_exit && srv.max_idle > 0 && srv.nclients == 0)
        d = srv.last_active + 1000 * srv.max_idle;
    if (srv.next_wakeup != 0 && (d < 0 || srv.next_wakeup < d))
        d = srv.next_wakeup;
    return d;
}

/* Timers: the daemon's wakeup, and exit after max_idle seconds idle. */
static void server_timers(int64_t now)
{
    if (srv.next_wakeup != 0 && now >= srv.next_wakeup) {
        srv.next_wakeup = now + 1000LL * srv.s->wakeup_interval;
        srv.s->wakeup(srv.service, srv.s->ctx);
    }
    if (!srv.s->no_idle_exit && srv.max_idle > 0 && srv.nclients == 0 &&
        now >= srv.last_active + 1000 * srv.max_idle) {
        if (log_verbose())
            msg_debug("idle for %llds: exiting", srv.max_idle);
        exit(0);
    }
}

/* ---- serving ------------------------------------------------------------ */

/* A FIFO wakeup: read what is there and hand it to the daemon. */
static void server_fifo_read(int fd)
{
    char buf[SERVER_TRIGGER_MAX];
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n <= 0)
        return;
    srv.last_active = stream_now_ms();
    if (srv.s->trigger != NULL)
        srv.s->trigger(buf, (size_t)n, srv.service, srv.s->ctx);
    else if (srv.s->wakeup != NULL)
        srv.s->wakeup(srv.service, srv.s->ctx);
}

/* A wakeup request over a socket: a few bytes, then the daemon's trigger. */
static void server_trigger_conn(stream_t *client)
{
    char buf[SERVER_TRIGGER_MAX];
    stream_set_timeout_ms(client, SERVER_TRIGGER_TIMEOUT_MS);
    ssize_t n = stream_read(client, buf, sizeof(buf));
    if (n > 0 && srv.s->trigger != NULL)
        srv.s->trigger(buf, (size_t)n, srv.service, srv.s->ctx);
}

static stream_t *server_accept(int fd)
{
    int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
    if (c < 0 && errno == EINVAL) {
        srv.master_gone = true; /* master shut the listener down (reload) */
        return NULL;
    }
    if (c < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED)
            msg_warn("accept: %s", strerror(errno));
        return NULL;
    }
    stream_t *client = stream_open_fd(c, STREAM_OWN_FD);
    int t = srv.s->client_timeout > 0 ? srv.s->client_timeout : SERVER_CLIENT_TIMEOUT;
    stream_set_timeout(client, t);
    return client;
}

static bool server_accepting(void);

/* Whether max_use clients were served and the process should now exit. */
static bool server_used_up(void)
{
    return !srv.s->no_use_exit && srv.uses >= srv.max_use;
}

/* One client, start to end (SINGLE and TRIGGER modes); false: none came. */
static bool server_one(int fd)
{
    stream_t *client = server_accept(fd);
    if (client == NULL)
        return false;
    if (srv.nested > 0) { /* the enclosing callback already said busy */
        if (srv.s->mode == SERVER_TRIGGER)
            server_trigger_conn(client);
        else
            srv.s->service(client, srv.service, srv.s->ctx);
        (void)stream_flush(client);
        stream_close(&client);
        srv.uses++;
        return true;
    }
    server_status(SERVER_STAT_BUSY);
    if (srv.s->mode == SERVER_TRIGGER)
        server_trigger_conn(client);
    else
        srv.s->service(client, srv.service, srv.s->ctx);
    (void)stream_flush(client); /* whatever the daemon left unflushed */
    stream_close(&client);
    srv.uses++;
    srv.last_active = stream_now_ms();
    if (server_used_up()) {
        if (log_verbose())
            msg_debug("served %lld clients: exiting", srv.uses);
        exit(0);
    }
    server_status(SERVER_STAT_IDLE);
    return true;
}

int server_listen_count(void)
{
    return srv.nlisten;
}

int server_listen_fd(int i)
{
    if (i < 0 || i >= srv.nlisten)
        msg_panic("server_listen_fd: %d of %d", i, srv.nlisten);
    return SERVER_LISTEN_FD + i;
}

/* Whether fd has input now. */
static bool server_readable_now(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, 0) > 0 && (p.revents & POLLIN);
}

int server_serve_pending(void)
{
    if (srv.s == NULL || srv.s->mode == SERVER_MULTI)
        msg_panic("server_serve_pending: not in a SINGLE or TRIGGER server");
    int served = 0;
    srv.nested++;
    for (int i = 0; i < srv.nlisten && server_accepting(); i++) {
        int fd = SERVER_LISTEN_FD + i;
        for (int k = 0; k < SERVER_PENDING_MAX && server_readable_now(fd); k++) {
            if (strcmp(srv.type, "fifo") == 0)
                server_fifo_read(fd);
            else if (!server_one(fd))
                break;
            served++;
        }
    }
    srv.nested--;
    return served;
}

static void multi_add(stream_t *client)
{
    struct server_client *c = xcalloc(1, sizeof(*c));
    c->stream = client;
    c->next = srv.clients;
    srv.clients = c;
    if (srv.nclients++ == 0)
        server_status(SERVER_STAT_BUSY);
    srv.uses++;
}

static void multi_drop(struct server_client *gone)
{
    for (struct server_client **pp = &srv.clients; *pp; pp = &(*pp)->next)
        if (*pp == gone) {
            *pp = gone->next;
            break;
        }
    if (srv.s->disconnect != NULL)
        srv.s->disconnect(gone->stream, srv.s->ctx);
    (void)stream_flush(gone->stream);
    stream_close(&gone->stream);
    free(gone);
    srv.last_active = stream_now_ms();
    if (--srv.nclients == 0) {
        if (srv.master_gone || server_used_up())
            exit(0);
        server_status(SERVER_STAT_IDLE);
    }
}

static bool multi_listed(const struct server_client *c)
{
    for (const struct server_client *l = srv.clients; l; l = l->next)
        if (l == c)
            return true;
    return false;
}

/* Let the daemon read; keep calling while input is already buffered. */
static void multi_readable(struct server_client *c)
{
    do {
        if (srv.s->readable(c->stream, srv.service, srv.s->ctx) < 0) {
            multi_drop(c);
            return;
        }
    } while (stream_buffered(c->stream) > 0);
}

/* ---- watched descriptors ------------------------------------------------ */

void server_watch_fd(int fd, void (*ready)(int fd, void *ctx), void *ctx)
{
    if (fd < 0 || ready == NULL)
        msg_panic("server_watch_fd: bad arguments (fd %d)", fd);
    for (size_t i = 0; i < srv.nwatches; i++)
        if (srv.watches[i].fd == fd)
            msg_panic("server_watch_fd: fd %d is already watched", fd);
    if (srv.nwatches == srv.watch_cap) {
        srv.watch_cap = srv.watch_cap ? 2 * srv.watch_cap : 8;
        srv.watches = xreallocarray(srv.watches, srv.watch_cap, sizeof(*srv.watches));
    }
    srv.watches[srv.nwatches++] =
        (struct server_watch){.fd = fd, .ready = ready, .ctx = ctx, .id = ++srv.watch_seq};
}

void server_unwatch_fd(int fd)
{
    for (size_t i = 0; i < srv.nwatches; i++)
        if (srv.watches[i].fd == fd) {
            srv.watches[i] = srv.watches[--srv.nwatches];
            return;
        }
}

static struct server_watch *server_watch_find(unsigned long id)
{
    for (size_t i = 0; i < srv.nwatches; i++)
        if (srv.watches[i].id == id)
            return &srv.watches[i];
    return NULL;
}

/* ---- the loop --------------------------------------------------------- */

/* pfd: [0] status pipe, [1..nlisten] listeners, then watches, then MULTI clients. */
struct server_poll {
    struct pollfd *pfd;
    unsigned long *wid; /* wid[i] is the watch of pfd[1 + nlisten + i] */
    size_t nw;
    struct server_client **cl; /* cl[i] owns pfd[1 + nlisten + nw + i] */
    size_t ncl;
};

/* Listeners are watched only while we can take another client. */
static bool server_accepting(void)
{
    if (srv.master_gone)
        return false;
    return srv.s->mode != SERVER_MULTI || !server_used_up();
}

static void server_poll_build(struct server_poll *p)
{
    size_t nl = 1 + (size_t)srv.nlisten;
    p->pfd = xreallocarray(p->pfd, nl + srv.nwatches + (size_t)srv.nclients, sizeof(*p->pfd));
    p->wid = xreallocarray(p->wid, srv.nwatches + 1, sizeof(*p->wid));
    p->cl = xreallocarray(p->cl, (size_t)srv.nclients + 1, sizeof(*p->cl));
    p->pfd[0] = (struct pollfd){.fd = SERVER_STATUS_FD, .events = 0};
    for (int i = 0; i < srv.nlisten; i++)
        p->pfd[1 + i] =
            (struct pollfd){.fd = server_accepting() ? SERVER_LISTEN_FD + i : -1, .events = POLLIN};
    p->nw = srv.nwatches;
    for (size_t i = 0; i < p->nw; i++) {
        p->pfd[nl + i] = (struct pollfd){.fd = srv.watches[i].fd, .events = POLLIN};
        p->wid[i] = srv.watches[i].id;
    }
    nl += p->nw;
    p->ncl = 0;
    for (struct server_client *c = srv.clients; c; c = c->next, p->ncl++) {
        p->pfd[nl + p->ncl] = (struct pollfd){.fd = stream_fd(c->stream), .events = POLLIN};
        p->cl[p->ncl] = c;
    }
}

static int server_poll_wait(struct server_poll *p)
{
    int64_t d = server_deadline(), timeout = -1;
    if (d >= 0) {
        timeout = d - stream_now_ms();
        timeout = timeout < 0 ? 0 : timeout > INT32_MAX ? INT32_MAX : timeout;
    }
    return poll(p->pfd, 1 + (size_t)srv.nlisten + p->nw + p->ncl, (int)timeout);
}

static void server_poll_dispatch(struct server_poll *p)
{
    if (p->pfd[0].revents & (POLLERR | POLLHUP | POLLNVAL)) {
        srv.master_gone = true;
        if (srv.nclients == 0)
            exit(0);
    }
    for (int i = 0; i < srv.nlisten && server_accepting(); i++) {
        if (p->pfd[1 + i].revents & (POLLHUP | POLLERR | POLLNVAL))
            srv.master_gone = true; /* listener shut down by master (reload) */
        if (!(p->pfd[1 + i].revents & POLLIN) || srv.master_gone)
            continue;
        int fd = SERVER_LISTEN_FD + i;
        if (strcmp(srv.type, "fifo") == 0)
            server_fifo_read(fd);
        else if (srv.s->mode != SERVER_MULTI)
            server_one(fd);
        else {
            stream_t *client = server_accept(fd);
            if (client != NULL)
                multi_add(client);
        }
    }
    /* A callback may unwatch other fds or drop clients: only those still there. */
    size_t nl = 1 + (size_t)srv.nlisten;
    for (size_t i = 0; i < p->nw; i++) {
        short rev = p->pfd[nl + i].revents;
        struct server_watch *w;
        if (!(rev & (POLLIN | POLLERR | POLLHUP | POLLNVAL)) ||
            (w = server_watch_find(p->wid[i])) == NULL)
            continue;
        int fd = w->fd;
        void (*ready)(int, void *) = w->ready;
        void *ctx = w->ctx;
        if (rev & POLLNVAL) { /* closed but still watched: a bug; do not spin on it */
            msg_error("watched descriptor %d is not open: no longer watched", fd);
            server_unwatch_fd(fd);
        }
        ready(fd, ctx);
    }
    nl += p->nw;
    for (size_t i = 0; i < p->ncl; i++)
        if ((p->pfd[nl + i].revents & (POLLIN | POLLERR | POLLHUP)) && multi_listed(p->cl[i]))
            multi_readable(p->cl[i]);
}

static void server_loop(void)
{
    static struct server_poll p; /* static: still reachable at exit() */
    srv.last_active = stream_now_ms();
    if (srv.s->wakeup != NULL && srv.s->wakeup_interval > 0)
        srv.next_wakeup = srv.last_active + 1000LL * srv.s->wakeup_interval;
    for (;;) {
        server_poll_build(&p);
        int n = server_poll_wait(&p);
        if (n < 0 && errno != EINTR)
            msg_fatal("poll: %s", strerror(errno));
        if (n > 0)
            server_poll_dispatch(&p);
        if (srv.master_gone && srv.nclients == 0)
            exit(0);
        server_timers(stream_now_ms());
    }
}

static void server_check_settings(const struct server_settings *s)
{
    if (s == NULL || s->name == NULL)
        msg_panic("server_main: settings without a name");
    if (s->mode == SERVER_SINGLE && s->service == NULL)
        msg_panic("server_main: %s: SERVER_SINGLE needs a service callback", s->name);
    if (s->mode == SERVER_MULTI && s->readable == NULL)
        msg_panic("server_main: %s: SERVER_MULTI needs a readable callback", s->name);
    if (s->mode == SERVER_TRIGGER && s->trigger == NULL)
        msg_panic("server_main: %s: SERVER_TRIGGER needs a trigger callback", s->name);
}

void server_helper_init(int argc, char **argv, const char *name, int log_fd)
{
    static struct server_settings hs;
    hs.name = name;
    srv.s = &hs;
    srv.argv = argv;
    log_init(name);
    log_also_stderr(true); /* until logging is configured */
    signal(SIGPIPE, SIG_IGN);
    server_config(argc, argv);
    if (log_fd >= 0 && *cfg_str("maillog_file") != '\0') {
        log_open_fd(cfg_str("syslog_name"), log_fd);
        log_also_stderr(false);
    } else
        server_log_open();
}

int server_main(int argc, char **argv, const struct server_settings *s)
{
    server_check_settings(s);
    srv.s = s;
    srv.argv = argv;
    log_init(s->name);
    log_also_stderr(true); /* until logging is configured */
    signal(SIGPIPE, SIG_IGN);
    server_env();
    server_config(argc, argv);
    server_log_open();
    if (s->pre_jail_init != NULL)
        s->pre_jail_init(srv.service, s->ctx);
    server_jail();
    server_watch_master();
    if (s->post_jail_init != NULL)
        s->post_jail_init(srv.service, s->ctx);
    server_loop();
    return 0;
}
