/*
 * tern.c - the tern control command: `tern [-c DIR] [-v] COMMAND [args]`.
 *
 * Parses the global options, sets up logging for a person at a terminal
 * ("tern: error: ..." on stderr) and hands over to one command.  Also holds
 * the small file helpers the commands share.
 */
#include "sys.h"

#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <sys/stat.h>

#include "config.h"
#include "log.h"
#include "mem.h"
#include "str.h"
#include "tern.h"

#ifndef TERN_SYSCONFDIR
#define TERN_SYSCONFDIR "/etc/tern"
#endif

struct tern_opts tern_opts;

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
} tern_commands[] = {
    {"init", tern_cmd_init}, {"check", tern_cmd_check},   {"start", tern_cmd_start},
    {"stop", tern_cmd_stop}, {"reload", tern_cmd_reload}, {"status", tern_cmd_status},
};

static void tern_usage(FILE *fp)
{
    fprintf(fp, "usage: tern [-c config_dir] [-v] command [args]\n"
                "commands:\n"
                "  init DIR [--port-base N] [--domain D] [--user ADDR[:PASSWORD]]...\n"
                "           [--mail-owner USER] [--force]\n"
                "  check              validate main.cf, master.cf and the queue\n"
                "  start [-f]         start the master (-f: in the foreground)\n"
                "  stop               stop the master\n"
                "  reload             make the master re-read its configuration\n"
                "  status             tell whether the master is running\n");
}

const char *tern_param(const char *name, const char *fallback)
{
    if (param_find(name) == NULL)
        return fallback;
    return cfg_str(name);
}

char *tern_self_dir(void)
{
    char buf[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
    if (n <= 0)
        return NULL;
    buf[n] = '\0';
    char *real = realpath(buf, NULL);
    if (real == NULL)
        return NULL;
    char *dir = xstrdup(dirname(real));
    free(real);
    return dir;
}

bool tern_is_executable(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

int tern_mkdir(const char *path, mode_t mode)
{
    struct stat st;
    if (mkdir(path, mode) == 0)
        return 0;
    if (errno == EEXIST && stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return 0;
    if (errno == EEXIST)
        msg_error("%s exists and is not a directory", path);
    else
        msg_error("cannot create directory %s: %s", path, strerror(errno));
    return -1;
}

/* write() all of data; 0 or -1 with errno. */
static int tern_write_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

int tern_write_file(const char *path, const char *data, size_t len, mode_t mode)
{
    char *tmp = xasprintf("%s.tmp.%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
    int rc = -1;
    if (fd < 0) {
        msg_error("cannot create %s: %s", tmp, strerror(errno));
        goto out;
    }
    if (tern_write_all(fd, data, len) < 0 || fchmod(fd, mode) < 0 || fsync(fd) < 0) {
        msg_error("cannot write %s: %s", tmp, strerror(errno));
        close(fd);
        unlink(tmp);
        goto out;
    }
    if (close(fd) < 0 || rename(tmp, path) < 0) {
        msg_error("cannot write %s: %s", path, strerror(errno));
        unlink(tmp);
        goto out;
    }
    rc = 0;
out:
    free(tmp);
    return rc;
}

/* Global options; returns the index of the command word or -1. */
static int tern_parse_opts(int argc, char **argv)
{
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0)
            return i + 1 < argc ? i + 1 : -1;
        if (strcmp(a, "-c") == 0 && i + 1 < argc)
            tern_opts.config_dir = argv[++i];
        else if (strncmp(a, "-c", 2) == 0 && a[2] != '\0')
            tern_opts.config_dir = a + 2;
        else if (strspn(a + 1, "v") == strlen(a + 1) && a[1] != '\0')
            tern_opts.verbose += (int)strlen(a + 1);
        else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            tern_usage(stdout);
            exit(TERN_EXIT_OK);
        } else {
            msg_error("unknown option %s", a);
            return -1;
        }
    }
    return i < argc ? i : -1;
}

static void tern_log_setup(void)
{
    log_init("tern");
    /* The log "file" is /dev/null: a person reads the stderr copy. */
    if (log_open("tern", "/dev/null") < 0)
        log_open("tern", "/dev/stderr");
    else
        log_also_stderr(true);
}

int main(int argc, char **argv)
{
    tern_log_setup();
    int cmd = tern_parse_opts(argc, argv);
    if (cmd < 0) {
        tern_usage(stderr);
        return TERN_EXIT_USAGE;
    }
    log_set_verbose(tern_opts.verbose);
    if (tern_opts.config_dir == NULL)
        tern_opts.config_dir = getenv("MAIL_CONFIG");
    if (tern_opts.config_dir == NULL || *tern_opts.config_dir == '\0')
        tern_opts.config_dir = TERN_SYSCONFDIR;
    /* Absolute, so the master may chdir and still find it on reload. */
    char *abs_dir = realpath(tern_opts.config_dir, NULL);
    if (abs_dir != NULL)
        tern_opts.config_dir = abs_dir; /* lives until exit */
    for (size_t i = 0; i < N_ELEMENTS(tern_commands); i++)
        if (strcmp(argv[cmd], tern_commands[i].name) == 0)
            return tern_commands[i].run(argc - cmd - 1, argv + cmd + 1);
    msg_error("unknown command \"%s\"", argv[cmd]);
    tern_usage(stderr);
    return TERN_EXIT_USAGE;
}
