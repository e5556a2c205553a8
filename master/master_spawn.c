/*
 * master_spawn.c - starting, counting and reaping children.
 *
 * A child is forked with its service's listeners and status pipe moved
 * to the fixed descriptors of lib/server.h and executes the service's
 * program.  Status records move it between idle and busy.  A child that
 * dies abnormally before it ever served a client counts as a failure;
 * repeated failures throttle the service (no new children) for
 * service_throttle_time, doubling with each consecutive throttle, so a
 * broken daemon costs a log line a minute rather than a fork loop.
 */
#include "master.h"
#include "log.h"
#include "mem.h"
#include "server.h"
#include "str.h"
#include "stream.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>

#define FAILS_BEFORE_THROTTLE 2
#define EARLY_EXIT_MS 1000
#define THROTTLE_MAX_SHIFT 4

struct master_proc *master_procs;
static bool master_stopping;

/* ---- in the child, between fork and exec ------------------------------ */

static void child_fail(const char *what, const char *path) TERN_NORETURN;
static void child_fail(const char *what, const char *path)
{
    msg_error("%s %s: %s", what, path, strerror(errno));
    _exit(127);
}

/* Move status pipe and listeners to their fixed numbers (no clashes). */
static void child_fds(const struct master_service *svc)
{
    int n = svc->nlisten, tmp[SERVER_MAX_LISTEN + 1];
    tmp[0] = fcntl(svc->status_wr, F_DUPFD_CLOEXEC, 100);
    for (int i = 0; i < n; i++)
        tmp[i + 1] = fcntl(svc->listen_fds[i], F_DUPFD_CLOEXEC, 100);
    for (int i = 0; i <= n; i++)
        if (tmp[i] < 0 || dup2(tmp[i], SERVER_STATUS_FD + i) < 0)
            child_fail("dup2 for", svc->path);
    int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (null < 0 || dup2(null, STDIN_FILENO) < 0)
        child_fail("open", "/dev/null");
}

static void child_env(const struct master_service *svc)
{
    char num[32];
    snprintf(num, sizeof(num), "%d", svc->nlisten);
    setenv(SERVER_ENV_NLISTEN, num, 1);
    snprintf(num, sizeof(num), "%ld", (long)getppid());
    setenv(SERVER_ENV_MASTER, num, 1);
    setenv(SERVER_ENV_SERVICE, svc->conf->name, 1);
    setenv(SERVER_ENV_TYPE, master_type_name(svc->conf->type), 1);
    setenv(SERVER_ENV_UNPRIV, svc->conf->unpriv ? "y" : "n", 1);
    if (master_is_root && svc->conf->chroot)
        setenv(SERVER_ENV_CHROOT, master_params.queue_directory, 1);
    else
        unsetenv(SERVER_ENV_CHROOT);
}

/* argv: command, -c DIR, -o overrides..., master.cf arguments. */
static char **child_argv(const struct master_service *svc)
{
    const struct mastercf_entry *e = svc->conf;
    int n = 0, max = 3 + 2 * e->noverrides + e->argc + 1;
    char **v = xcalloc((size_t)max, sizeof(*v));
    v[n++] = e->command;
    v[n++] = "-c";
    v[n++] = master_params.config_dir;
    for (int i = 0; i < e->noverrides; i++) {
        v[n++] = "-o";
        v[n++] = e->overrides[i];
    }
    for (int i = 1; i < e->argc; i++)
        v[n++] = e->argv[i];
    return v;
}

static void child_exec(const struct master_service *svc) TERN_NORETURN;
static void child_exec(const struct master_service *svc)
{
    sigset_t all;
    sigemptyset(&all);
    int sigs[] = {SIGHUP, SIGTERM, SIGINT, SIGCHLD, SIGPIPE};
    for (size_t i = 0; i < N_ELEMENTS(sigs); i++)
        signal(sigs[i], SIG_DFL);
    sigprocmask(SIG_SETMASK, &all, NULL);
    child_fds(svc);
    child_env(svc);
    execv(svc->path, child_argv(svc));
    child_fail("execute", svc->path);
}

/* ---- in master ---------------------------------------------------------- */

void master_spawn(struct master_service *svc)
{
    pid_t pid = fork();
    if (pid < 0) {
        msg_warn("fork for %s: %s", svc->path, strerror(errno));
        svc->throttle_until = stream_now_ms() + 1000 * master_params.throttle_time;
        return;
    }
    if (pid == 0)
        child_exec(svc);
    struct master_proc *p = xcalloc(1, sizeof(*p));
    p->pid = pid;
    p->svc = svc;
    p->start_ms = stream_now_ms();
    p->path = xstrdup(svc->path);
    p->next = master_procs;
    master_procs = p;
    svc->total++;
    svc->avail++;
    svc->used = true;
    if (log_verbose())
        msg_debug("started %s pid %ld for %s/%s", svc->path, (long)pid, svc->conf->name,
                  master_type_name(svc->conf->type));
}

static struct master_proc *proc_find(pid_t pid)
{
    for (struct master_proc *p = master_procs; p; p = p->next)
        if (p->pid == pid)
            return p;
    return NULL;
}

static void proc_unlink(struct master_proc *gone)
{
    for (struct master_proc **pp = &master_procs; *pp; pp = &(*pp)->next)
        if (*pp == gone) {
            *pp = gone->next;
            return;
        }
}

static void proc_set_busy(struct master_proc *p, bool busy)
{
    if (p->busy == busy)
        return;
    p->busy = busy;
    p->svc->avail += busy ? -1 : 1;
    if (busy) {
        p->served = true;
        p->svc->fail_count = 0;
        p->svc->throttle_count = 0;
    }
}

void master_status_read(struct master_service *svc)
{
    struct server_status rec[64];
    ssize_t n;
    while ((n = read(svc->status_rd, rec, sizeof(rec))) > 0) {
        for (size_t i = 0; i < (size_t)n / sizeof(rec[0]); i++) {
            struct master_proc *p = proc_find(rec[i].pid);
            if (p == NULL || p->svc != svc)
                continue; /* already reaped, or from before a reload */
            if (rec[i].status == SERVER_STAT_BUSY || rec[i].status == SERVER_STAT_IDLE)
                proc_set_busy(p, rec[i].status == SERVER_STAT_BUSY);
            else
                msg_warn("service %s: bad status %d from pid %ld", svc->conf->name,
                         (int)rec[i].status, (long)rec[i].pid);
        }
    }
}

static void service_throttle(struct master_service *svc, int64_t now)
{
    int shift = svc->throttle_count < THROTTLE_MAX_SHIFT ? svc->throttle_count : THROTTLE_MAX_SHIFT;
    long long secs = master_params.throttle_time << shift;
    svc->throttle_count++;
    svc->fail_count = 0;
    svc->throttle_until = now + 1000 * secs;
    msg_warn("service %s/%s (%s, line %d): %s keeps failing; throttling for %lld seconds",
             svc->conf->name, master_type_name(svc->conf->type), svc->conf->file, svc->conf->line,
             svc->path, secs);
}

bool master_service_throttled(struct master_service *svc, int64_t now)
{
    if (svc->throttle_until == 0)
        return false;
    if (now < svc->throttle_until)
        return true;
    svc->throttle_until = 0;
    msg_info("service %s/%s: throttle ended", svc->conf->name, master_type_name(svc->conf->type));
    return false;
}

/* Log an abnormal exit; true if the process failed (status or signal). */
static bool proc_log_exit(const struct master_proc *p, int status)
{
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return false;
    if (master_stopping)
        return true;
    if (WIFSIGNALED(status))
        msg_warn("process %s pid %ld killed by signal %d", p->path, (long)p->pid, WTERMSIG(status));
    else
        msg_warn("process %s pid %ld exit status %d", p->path, (long)p->pid, WEXITSTATUS(status));
    return true;
}

static void proc_exited(struct master_proc *p, int status)
{
    bool failed = proc_log_exit(p, status);
    struct master_service *svc = p->svc;
    if (svc != NULL) {
        svc->total--;
        if (!p->busy)
            svc->avail--;
        int64_t now = stream_now_ms();
        if (failed && (!p->served || now - p->start_ms < EARLY_EXIT_MS)) {
            if (++svc->fail_count >= FAILS_BEFORE_THROTTLE && !master_stopping)
                service_throttle(svc, now);
        } else if (!failed) {
            svc->fail_count = 0;
        }
    }
    proc_unlink(p);
    free(p->path);
    free(p);
}

void master_reap(void)
{
    pid_t pid;
    int status;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        struct master_proc *p = proc_find(pid);
        if (p != NULL)
            proc_exited(p, status);
    }
}

void master_procs_forget_service(struct master_service *svc)
{
    for (struct master_proc *p = master_procs; p; p = p->next)
        if (p->svc == svc)
            p->svc = NULL;
}

static void procs_signal(int sig)
{
    for (struct master_proc *p = master_procs; p; p = p->next)
        (void)kill(p->pid, sig);
}

/* SIGTERM every child, wait up to grace_ms, then SIGKILL the rest. */
void master_procs_stop(int grace_ms)
{
    master_stopping = true;
    procs_signal(SIGTERM);
    int64_t deadline = stream_now_ms() + grace_ms;
    while (master_procs != NULL && stream_now_ms() < deadline) {
        master_reap();
        if (master_procs != NULL)
            (void)poll(NULL, 0, 20);
    }
    if (master_procs != NULL) {
        msg_warn("killing %s children that did not stop", "remaining");
        procs_signal(SIGKILL);
    }
    while (master_procs != NULL) {
        int status;
        pid_t pid = waitpid(master_procs->pid, &status, 0);
        if (pid < 0 && errno == EINTR)
            continue;
        if (pid < 0)
            status = 0; /* not our child after all: forget it */
        proc_exited(master_procs, status);
    }
}
