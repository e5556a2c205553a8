/*
 * master.c - the tern supervisor: options, start-up, reload and stop.
 *
 *   master [-c DIR] [-f] [-t] [-v]
 *
 * Start-up order matters: configuration errors are found before anything
 * is created or bound, the queue directory lock is taken before any
 * listener is bound, and master never detaches itself (`tern start`
 * does).  See master(8).
 */
#include "master.h"
#include "config.h"
#include "log.h"
#include "mastercf.h"
#include "mem.h"
#include "str.h"

#include <fcntl.h>
#include <signal.h>

#define STOP_GRACE_MS 5000

struct master_params master_params;
bool master_is_root;

static void usage(void) TERN_NORETURN;
static void usage(void)
{
    fprintf(stderr, "usage: master [-c config_dir] [-f] [-t] [-v]\n");
    exit(2);
}

/* Make sure 0, 1 and 2 are open, so no socket ends up as "stderr". */
static void master_std_fds(void)
{
    for (int fd = 0; fd < 3; fd++) {
        if (fcntl(fd, F_GETFD) >= 0)
            continue;
        int null = open("/dev/null", O_RDWR);
        if (null >= 0 && null != fd) {
            dup2(null, fd);
            close(null);
        }
    }
}

static struct mastercf *master_cf_load(const char *config_dir)
{
    char *path = xasprintf("%s/master.cf", config_dir);
    struct mastercf *cf = mastercf_parse_file(path);
    free(path);
    return cf;
}

/* Load main.cf and master.cf; NULL (errors logged) if either is broken. */
static struct mastercf *master_config_load(const char *dir, struct master_params *p)
{
    if (config_load(dir) < 0)
        return NULL;
    if (master_params_load(p, config_dir()) < 0) {
        master_params_free(p);
        return NULL;
    }
    struct mastercf *cf = master_cf_load(p->config_dir);
    if (cf == NULL)
        master_params_free(p);
    return cf;
}

static void master_log_open(bool foreground)
{
    const char *file = param_find("maillog_file") ? cfg_str("maillog_file") : "";
    const char *name = param_find("syslog_name") ? cfg_str("syslog_name") : "tern";
    if (*file == '\0' && foreground)
        file = "/dev/stderr";
    if (log_open(name, file) < 0)
        msg_warn("cannot open log file %s: %s", file, strerror(errno));
    log_also_stderr(foreground && strcmp(file, "/dev/stderr") != 0);
}

void master_reload(void)
{
    struct master_params fresh;
    msg_info("reload -- version %s, configuration %s", TERN_VERSION, master_params.config_dir);
    struct mastercf *cf = master_config_load(master_params.config_dir, &fresh);
    if (cf == NULL) {
        msg_error("configuration not reloaded: keeping the running configuration");
        return;
    }
    if (strcmp(fresh.queue_directory, master_params.queue_directory) != 0) {
        msg_warn("queue_directory change ignored until restart");
        free(fresh.queue_directory);
        fresh.queue_directory = xstrdup(master_params.queue_directory);
    }
    struct master_params prev = master_params;
    master_params = fresh;
    master_services_reload(cf, &prev);
    master_params_free(&prev);
    mastercf_free(&cf);
}

static void master_shutdown(void)
{
    master_lock_release();
}

/* master -t: exit 0 if a master runs for this configuration, else 1. */
static int master_test(void)
{
    pid_t pid = master_lock_probe(master_params.queue_directory);
    if (pid > 0 && log_verbose())
        msg_info("master is running (pid %ld)", (long)pid);
    return pid > 0 ? 0 : 1;
}

static int master_run(struct mastercf *cf, bool foreground)
{
    if (master_make_dirs(&master_params) < 0 ||
        master_lock_acquire(master_params.queue_directory) < 0)
        return 1;
    log_set_fatal_hook(master_shutdown);
    master_log_open(foreground);
    if (master_signals_init() < 0 || master_services_start(cf) < 0) {
        msg_error("master not started");
        master_services_free_all();
        master_lock_release();
        return 1;
    }
    msg_info("daemon started -- version %s, configuration %s", TERN_VERSION,
             master_params.config_dir);
    int sig = master_loop();
    msg_info("terminating on signal %d", sig);
    master_procs_stop(STOP_GRACE_MS);
    master_services_free_all();
    master_lock_release();
    return 0;
}

int main(int argc, char **argv)
{
    const char *dir = NULL;
    bool foreground = false, test = false;
    int c;
    master_std_fds();
    log_init("master");
    while ((c = getopt(argc, argv, "c:ftv")) != -1) {
        switch (c) {
        case 'c':
            dir = optarg;
            break;
        case 'f':
            foreground = true;
            break;
        case 't':
            test = true;
            break;
        case 'v':
            log_set_verbose(log_verbose() + 1);
            break;
        default:
            usage();
        }
    }
    if (optind != argc)
        usage();
    log_also_stderr(true); /* until logging is set up: errors reach the user */
    master_is_root = geteuid() == 0;
    struct mastercf *cf = master_config_load(dir, &master_params);
    if (cf == NULL)
        return 1;
    int rc = test ? master_test() : master_run(cf, foreground);
    mastercf_free(&cf);
    master_params_free(&master_params);
    return rc;
}
