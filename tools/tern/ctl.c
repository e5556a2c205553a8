/*
 * ctl.c - `tern start|stop|reload|status`: control an instance's master.
 *
 * A master is running for an instance exactly when some process holds the
 * fcntl() write lock on QUEUE_DIRECTORY/pid/master.pid (master takes it at
 * start and the kernel drops it when master exits, however it exits), so
 * the lock, not the pid written in the file, is the truth; a stale pid
 * file is never signalled.
 */
#include "sys.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "config.h"
#include "log.h"
#include "mastercf.h"
#include "mem.h"
#include "pidlock.h"
#include "str.h"
#include "tern.h"

#define CTL_START_WAIT_MS 10000 /* for the master's pid file */
#define CTL_STOP_WAIT_MS 30000  /* for the master to exit */
#define CTL_POLL_MS 50
#define CTL_LOG_TAIL 10

char *tern_pidfile_path(void)
{
    return pidlock_path(cfg_str("queue_directory"));
}

pid_t tern_master_pid(void)
{
    pid_t pid = pidlock_holder(cfg_str("queue_directory"));
    return pid > 0 ? pid : 0;
}

static void ctl_sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* Load main.cf for the commands that only need to find the master. */
static int ctl_load(int argc, const char *usage)
{
    if (argc != 0) {
        msg_error("usage: %s", usage);
        return TERN_EXIT_USAGE;
    }
    return config_load(tern_opts.config_dir) < 0 ? TERN_EXIT_FAIL : TERN_EXIT_OK;
}

int tern_cmd_status(int argc, char **argv)
{
    (void)argv;
    int rc = ctl_load(argc, "tern status");
    if (rc != TERN_EXIT_OK)
        return rc;
    pid_t pid = tern_master_pid();
    if (pid > 0) {
        printf("tern: the mail system is running: PID: %ld\n", (long)pid);
        return TERN_EXIT_OK;
    }
    printf("tern: the mail system is not running\n");
    return TERN_EXIT_FAIL;
}

int tern_cmd_reload(int argc, char **argv)
{
    (void)argv;
    int rc = ctl_load(argc, "tern reload");
    if (rc != TERN_EXIT_OK)
        return rc;
    pid_t pid = tern_master_pid();
    if (pid <= 0) {
        msg_error("the mail system is not running");
        return TERN_EXIT_FAIL;
    }
    if (kill(pid, SIGHUP) < 0) {
        msg_error("cannot signal master pid %ld: %s", (long)pid, strerror(errno));
        return TERN_EXIT_FAIL;
    }
    printf("tern: refreshing the mail system (master pid %ld)\n", (long)pid);
    return TERN_EXIT_OK;
}

int tern_cmd_stop(int argc, char **argv)
{
    (void)argv;
    int rc = ctl_load(argc, "tern stop");
    if (rc != TERN_EXIT_OK)
        return rc;
    pid_t pid = tern_master_pid();
    if (pid <= 0) {
        msg_error("the mail system is not running");
        return TERN_EXIT_FAIL;
    }
    if (kill(pid, SIGTERM) < 0) {
        msg_error("cannot signal master pid %ld: %s", (long)pid, strerror(errno));
        return TERN_EXIT_FAIL;
    }
    for (int waited = 0; waited < CTL_STOP_WAIT_MS; waited += CTL_POLL_MS) {
        if (tern_master_pid() != pid) {
            printf("tern: stopped the mail system (master pid %ld)\n", (long)pid);
            return TERN_EXIT_OK;
        }
        ctl_sleep_ms(CTL_POLL_MS);
    }
    msg_error("master pid %ld did not stop within %d seconds", (long)pid, CTL_STOP_WAIT_MS / 1000);
    return TERN_EXIT_FAIL;
}

/* ---- start ------------------------------------------------------------- */

/* How many of the table row's "-o" arguments the entry also has, or -1. */
static int ctl_args_matched(const struct tern_service *svc, const struct mastercf_entry *e)
{
    char *args = xstrdup(svc->args);
    int matched = 0;
    char *save = NULL;
    for (char *w = strtok_r(args, " ", &save); w != NULL; w = strtok_r(NULL, " ", &save)) {
        if (strcmp(w, "-o") == 0)
            continue;
        bool found = false;
        for (int i = 0; i < e->noverrides && !found; i++)
            found = strcmp(e->overrides[i], w) == 0;
        if (!found) {
            matched = -1;
            break;
        }
        matched++;
    }
    free(args);
    return matched;
}

/* A friendly name for an inet service: "smtp", "submission", or the port name. */
static const char *ctl_service_name(const struct mastercf_entry *e)
{
    if (strspn(e->port, "0123456789") != strlen(e->port))
        return e->port;
    const char *best = e->command;
    int best_n = -1;
    for (size_t i = 0; i < tern_services_count; i++) {
        const struct tern_service *svc = &tern_services[i];
        if (strcmp(svc->type, "inet") != 0 || strcmp(svc->daemon, e->command) != 0)
            continue;
        int n = ctl_args_matched(svc, e);
        if (n > best_n) {
            best_n = n;
            best = svc->name;
        }
    }
    return best;
}

/* Print what the master will listen on, from master.cf. */
static void ctl_print_listeners(void)
{
    char *path = xasprintf("%s/master.cf", tern_opts.config_dir);
    struct mastercf *mcf = mastercf_parse_file(path);
    char *interfaces = cfg_expand("$inet_interfaces");
    int n = 0;
    for (size_t i = 0; mcf != NULL && i < mcf->count; i++) {
        const struct mastercf_entry *e = &mcf->entries[i];
        if (e->type != MCF_INET)
            continue;
        printf("tern: %s on %s:%s (%s)\n", ctl_service_name(e), e->host ? e->host : interfaces,
               e->port, e->command);
        n++;
    }
    if (n == 0)
        printf("tern: no inet services are enabled in %s\n", path);
    fflush(stdout);
    free(interfaces);
    mastercf_free(&mcf);
    free(path);
}

static char *ctl_master_path(void)
{
    return xasprintf("%s/master", cfg_str("daemon_directory"));
}

/* Become the master: "-f" keeps its log lines on stderr too (systemd, make run). */
static int ctl_exec_master(const char *master, bool foreground)
{
    char *const argv[] = {(char *)"master", (char *)"-c", (char *)tern_opts.config_dir,
                          foreground ? (char *)"-f" : NULL, NULL};
    setenv("MAIL_CONFIG", tern_opts.config_dir, 1);
    execv(master, argv);
    return -1;
}

/* Current size of the log file, to show what master wrote after it. */
static off_t ctl_log_size(const char *log)
{
    struct stat st;
    return *log == '/' && stat(log, &st) == 0 ? st.st_size : 0;
}

/* Show the last lines the master logged since offset. */
static void ctl_show_log(const char *log, off_t offset)
{
    FILE *fp = *log == '/' ? fopen(log, "re") : NULL;
    if (fp == NULL) {
        msg_error("see %s for details", *log ? log : "the system log");
        return;
    }
    char *lines[CTL_LOG_TAIL] = {0};
    size_t count = 0, cap = 0;
    char *line = NULL;
    if (fseeko(fp, offset, SEEK_SET) == 0)
        while (getline(&line, &cap, fp) > 0) {
            free(lines[count % CTL_LOG_TAIL]);
            lines[count % CTL_LOG_TAIL] = xstrdup(line);
            count++;
        }
    size_t first = count > CTL_LOG_TAIL ? count - CTL_LOG_TAIL : 0;
    if (count > 0)
        fprintf(stderr, "tern: last lines of %s:\n", log);
    for (size_t i = first; i < count; i++)
        fprintf(stderr, "  %s", lines[i % CTL_LOG_TAIL]);
    for (size_t i = 0; i < CTL_LOG_TAIL; i++)
        free(lines[i]);
    free(line);
    fclose(fp);
}

static void ctl_report_exit(pid_t pid, int status)
{
    if (WIFEXITED(status))
        msg_error("master (pid %ld) exited with status %d", (long)pid, WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        msg_error("master (pid %ld) was killed by signal %d", (long)pid, WTERMSIG(status));
}

/* The detached child: a new session, no terminal, then the master. */
static TERN_NORETURN void ctl_child(const char *master)
{
    int fd = open("/dev/null", O_RDWR);
    if (setsid() < 0 || fd < 0 || dup2(fd, 0) < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
        _exit(127);
    if (fd > 2)
        close(fd);
    ctl_exec_master(master, false);
    _exit(127);
}

/* Start master in the background and wait until it holds its pid file. */
static int ctl_start_detached(const char *master)
{
    const char *log = cfg_str("maillog_file");
    off_t offset = ctl_log_size(log);
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        msg_error("fork: %s", strerror(errno));
        return TERN_EXIT_FAIL;
    }
    if (pid == 0)
        ctl_child(master);
    for (int waited = 0; waited < CTL_START_WAIT_MS; waited += CTL_POLL_MS) {
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            ctl_report_exit(pid, status);
            ctl_show_log(log, offset);
            return TERN_EXIT_FAIL;
        }
        if (tern_master_pid() == pid) {
            printf("tern: started, master pid %ld\n", (long)pid);
            return TERN_EXIT_OK;
        }
        ctl_sleep_ms(CTL_POLL_MS);
    }
    msg_error("master (pid %ld) did not take its pid file within %d seconds", (long)pid,
              CTL_START_WAIT_MS / 1000);
    ctl_show_log(log, offset);
    return TERN_EXIT_FAIL;
}

int tern_cmd_start(int argc, char **argv)
{
    bool foreground = false;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "-f") == 0)
            foreground = true;
        else {
            msg_error("usage: tern start [-f]");
            return TERN_EXIT_USAGE;
        }
    }
    if (tern_check_instance(true) < 0) {
        msg_error("not starting: fix the errors above (tern -c %s check)", tern_opts.config_dir);
        return TERN_EXIT_FAIL;
    }
    pid_t running = tern_master_pid();
    if (running > 0) {
        fprintf(stderr, "tern: already running (pid %ld)\n", (long)running);
        return TERN_EXIT_FAIL;
    }
    char *master = ctl_master_path();
    if (foreground) {
        ctl_print_listeners();
        ctl_exec_master(master, true);
        msg_error("cannot execute %s: %s", master, strerror(errno));
        free(master);
        return TERN_EXIT_FAIL;
    }
    int rc = ctl_start_detached(master);
    free(master);
    return rc;
}
