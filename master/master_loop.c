/*
 * master_loop.c - master's event loop: one poll() over the signal
 * self-pipe, every service's status pipe and, for each service that has
 * no idle child and room for one more, its listening sockets.  A
 * readable listener then means a client is waiting and nobody will take
 * it, so a child is started.  Signal handlers only write the signal
 * number to the self-pipe; all work happens here.
 */
#include "master.h"
#include "log.h"
#include "mem.h"
#include "stream.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>

#define LOOP_MAX_WAIT_MS 1000

static int sig_pipe[2] = {-1, -1};

static void sig_catch(int sig)
{
    int saved = errno;
    unsigned char c = (unsigned char)sig;
    (void)!write(sig_pipe[1], &c, 1);
    errno = saved;
}

int master_signals_init(void)
{
    if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
        msg_error("pipe: %s", strerror(errno));
        return -1;
    }
    struct sigaction sa = {.sa_handler = sig_catch, .sa_flags = SA_RESTART};
    sigemptyset(&sa.sa_mask);
    int sigs[] = {SIGHUP, SIGTERM, SIGINT, SIGCHLD};
    for (size_t i = 0; i < N_ELEMENTS(sigs); i++)
        sigaction(sigs[i], &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

/* Should master watch this service's listeners for waiting clients? */
static bool service_wants_listen(struct master_service *svc, int64_t now)
{
    return svc->nlisten > 0 && svc->avail <= 0 &&
           (svc->maxproc == 0 || svc->total < svc->maxproc) && !master_service_throttled(svc, now);
}

struct loop_fds {
    struct pollfd *pfd;
    struct master_service **owner; /* NULL for the signal pipe */
    bool *is_listen;
    size_t n, cap;
};

static void fds_add(struct loop_fds *f, int fd, struct master_service *svc, bool listen)
{
    if (f->n == f->cap) {
        f->cap = f->cap ? 2 * f->cap : 16;
        f->pfd = xreallocarray(f->pfd, f->cap, sizeof(*f->pfd));
        f->owner = xreallocarray(f->owner, f->cap, sizeof(*f->owner));
        f->is_listen = xreallocarray(f->is_listen, f->cap, sizeof(*f->is_listen));
    }
    f->pfd[f->n] = (struct pollfd){.fd = fd, .events = POLLIN};
    f->owner[f->n] = svc;
    f->is_listen[f->n] = listen;
    f->n++;
}

static void fds_free(struct loop_fds *f)
{
    xfree(f->pfd);
    xfree(f->owner);
    xfree(f->is_listen);
}

/* Milliseconds until the next timer: wakeups and throttle ends. */
static int loop_timeout(int64_t now)
{
    int64_t next = now + LOOP_MAX_WAIT_MS;
    for (struct master_service *s = master_services; s; s = s->next) {
        if (s->next_wakeup != 0 && s->next_wakeup < next)
            next = s->next_wakeup;
        if (s->throttle_until != 0 && s->throttle_until < next)
            next = s->throttle_until;
    }
    return next > now ? (int)(next - now) : 0;
}

static void loop_build(struct loop_fds *f, int64_t now)
{
    f->n = 0;
    fds_add(f, sig_pipe[0], NULL, false);
    for (struct master_service *s = master_services; s; s = s->next) {
        fds_add(f, s->status_rd, s, false);
        if (service_wants_listen(s, now))
            for (int i = 0; i < s->nlisten; i++)
                fds_add(f, s->listen_fds[i], s, true);
    }
}

struct loop_events {
    bool child, reload;
    int stop;
};

/* Drain the self-pipe into flags. */
static void loop_signals(struct loop_events *ev)
{
    unsigned char buf[64];
    ssize_t n;
    while ((n = read(sig_pipe[0], buf, sizeof(buf))) > 0) {
        for (ssize_t i = 0; i < n; i++) {
            if (buf[i] == SIGCHLD)
                ev->child = true;
            else if (buf[i] == SIGHUP)
                ev->reload = true;
            else
                ev->stop = buf[i];
        }
    }
}

/* Status records a child wrote before it died are read before reaping it. */
static void loop_reap(void)
{
    for (struct master_service *s = master_services; s; s = s->next)
        master_status_read(s);
    master_reap();
}

static void loop_dispatch(struct loop_fds *f, int64_t now)
{
    for (size_t i = 1; i < f->n; i++)
        if (!f->is_listen[i] && (f->pfd[i].revents & POLLIN))
            master_status_read(f->owner[i]);
    for (size_t i = 1; i < f->n; i++) {
        struct master_service *svc = f->owner[i];
        if (f->is_listen[i] && (f->pfd[i].revents & (POLLIN | POLLERR | POLLHUP)) &&
            service_wants_listen(svc, now))
            master_spawn(svc);
    }
}

int master_loop(void)
{
    struct loop_fds f = {0};
    struct loop_events ev = {0};
    while (ev.stop == 0) {
        int64_t now = stream_now_ms();
        master_wakeup_run(now);
        loop_build(&f, now);
        int n = poll(f.pfd, f.n, loop_timeout(now));
        if (n < 0 && errno != EINTR)
            msg_fatal("poll: %s", strerror(errno));
        if (n <= 0)
            continue;
        ev.child = ev.reload = false;
        if (f.pfd[0].revents & POLLIN)
            loop_signals(&ev);
        if (ev.stop != 0)
            break;
        if (ev.child)
            loop_reap();
        loop_dispatch(&f, stream_now_ms());
        if (ev.reload)
            master_reload();
    }
    fds_free(&f);
    return ev.stop;
}
