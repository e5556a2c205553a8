/*
 * log.c - syslog / file / stderr logging (see log.h).
 *
 * Formatting uses a fixed stack buffer so that logging works when memory
 * is exhausted (msg_fatal from xmalloc) and cannot recurse into mem.c.
 */
#include "log.h"

#include <fcntl.h>
#include <pthread.h>
#include <syslog.h>
#include <time.h>

static char log_prog[64] = "tern";
static char log_ident[128] = "tern/tern";
static char log_name[64] = "tern";
static int log_fd = -1; /* -1: syslog */
static bool log_syslog_open;
static bool log_stderr_copy;
static int log_verbosity;
static void (*log_fatal_hook)(void);
static const char *log_component; /* log_set_component(); NULL: log_prog */
static char log_comp_ident[128];

static void log_make_ident(void)
{
    snprintf(log_ident, sizeof(log_ident), "%s/%s", log_name, log_prog);
    if (log_syslog_open) {
        closelog();
        log_syslog_open = false;
    }
}

void log_init(const char *progname)
{
    const char *slash = strrchr(progname, '/');
    snprintf(log_prog, sizeof(log_prog), "%s", slash ? slash + 1 : progname);
    log_make_ident();
}

const char *log_progname(void)
{
    return log_prog;
}

int log_open(const char *syslog_name, const char *file)
{
    if (syslog_name != NULL && *syslog_name != '\0')
        snprintf(log_name, sizeof(log_name), "%s", syslog_name);
    log_make_ident();
    if (file == NULL || *file == '\0') {
        if (log_fd > 2)
            close(log_fd);
        log_fd = -1;
        return 0;
    }
    int fd;
    if (strcmp(file, "/dev/stderr") == 0)
        fd = STDERR_FILENO;
    else if (strcmp(file, "/dev/stdout") == 0)
        fd = STDOUT_FILENO;
    else if ((fd = open(file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640)) < 0)
        return -1;
    if (log_fd > 2)
        close(log_fd);
    log_fd = fd;
    return 0;
}

void log_open_fd(const char *syslog_name, int fd)
{
    if (syslog_name != NULL && *syslog_name != '\0')
        snprintf(log_name, sizeof(log_name), "%s", syslog_name);
    log_make_ident();
    if (log_fd > 2 && log_fd != fd)
        close(log_fd);
    log_fd = fd;
}

int log_file_fd(void)
{
    return log_fd;
}

void log_set_component(const char *name)
{
    log_component = name != NULL && strcmp(name, log_prog) != 0 ? name : NULL;
}

void log_also_stderr(bool on)
{
    log_stderr_copy = on;
}

void log_set_verbose(int level)
{
    log_verbosity = level;
}

int log_verbose(void)
{
    return log_verbosity;
}

void log_set_fatal_hook(void (*hook)(void))
{
    log_fatal_hook = hook;
}

static const char *level_prefix(enum log_level lvl)
{
    switch (lvl) {
    case LOG_LVL_WARN:
        return "warning: ";
    case LOG_LVL_ERROR:
        return "error: ";
    case LOG_LVL_FATAL:
        return "fatal: ";
    case LOG_LVL_PANIC:
        return "panic: ";
    default:
        return "";
    }
}

static int level_priority(enum log_level lvl)
{
    switch (lvl) {
    case LOG_LVL_WARN:
        return LOG_WARNING;
    case LOG_LVL_ERROR:
        return LOG_ERR;
    case LOG_LVL_FATAL:
        return LOG_CRIT;
    case LOG_LVL_PANIC:
        return LOG_CRIT;
    default:
        return LOG_INFO;
    }
}

/* write() all of buf, ignoring errors: there is nowhere to report them. */
static void log_write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        buf += n;
        len -= (size_t)n;
    }
}

/*
 * The host name and process ID of file log lines, looked up once (two
 * system calls per line otherwise); a forked child looks its PID up again.
 */
static char log_host[64];
static pid_t log_pid;

static void log_forked(void)
{
    log_pid = 0;
}

static void log_line_ids(void)
{
    if (log_host[0] == '\0') {
        if (gethostname(log_host, sizeof(log_host)) != 0)
            snprintf(log_host, sizeof(log_host), "localhost");
        log_host[sizeof(log_host) - 1] = '\0';
        char *dot = strchr(log_host, '.');
        if (dot)
            *dot = '\0';
        (void)pthread_atfork(NULL, NULL, log_forked);
    }
    if (log_pid == 0)
        log_pid = getpid();
}

static void log_emit(enum log_level lvl, const char *fmt, va_list ap)
{
    int saved_errno = errno;
    char text[2048];
    int n = vsnprintf(text, sizeof(text), fmt, ap);
    if (n < 0)
        snprintf(text, sizeof(text), "(unformattable log message)");
    /* Never let a control character (from a caller's bug) split a line. */
    for (char *p = text; *p; p++)
        if ((unsigned char)*p < 0x20)
            *p = '?';

    const char *ident = log_ident, *prog = log_prog;
    if (log_component != NULL) {
        snprintf(log_comp_ident, sizeof(log_comp_ident), "%s/%s", log_name, log_component);
        ident = log_comp_ident;
        prog = log_component;
    }
    if (log_fd < 0) {
        /* openlog() keeps the connection; it only changes the tag here */
        if (!log_syslog_open || ident != log_ident) {
            openlog(ident, LOG_PID | LOG_NDELAY, LOG_MAIL);
            log_syslog_open = true;
        }
        syslog(level_priority(lvl), "%s%s", level_prefix(lvl), text);
        if (ident != log_ident)
            openlog(log_ident, LOG_PID | LOG_NDELAY, LOG_MAIL);
    } else {
        char line[2400], stamp[32];
        time_t now = time(NULL);
        struct tm tm;
        localtime_r(&now, &tm);
        strftime(stamp, sizeof(stamp), "%b %e %H:%M:%S", &tm);
        log_line_ids();
        int len = snprintf(line, sizeof(line), "%s %s %s[%ld]: %s%s\n", stamp, log_host, ident,
                           (long)log_pid, level_prefix(lvl), text);
        if (len > (int)sizeof(line) - 1)
            len = (int)sizeof(line) - 1;
        log_write_all(log_fd, line, (size_t)len);
    }
    if (log_stderr_copy && log_fd != STDERR_FILENO) {
        char line[2400];
        int len = snprintf(line, sizeof(line), "%s: %s%s\n", prog, level_prefix(lvl), text);
        if (len > (int)sizeof(line) - 1)
            len = (int)sizeof(line) - 1;
        log_write_all(STDERR_FILENO, line, (size_t)len);
    }
    errno = saved_errno;
}

#define LOG_BODY(lvl)                                                                              \
    va_list ap;                                                                                    \
    va_start(ap, fmt);                                                                             \
    log_emit(lvl, fmt, ap);                                                                        \
    va_end(ap)

void msg_debug(const char *fmt, ...)
{
    if (log_verbosity == 0)
        return;
    LOG_BODY(LOG_LVL_INFO);
}

void msg_info(const char *fmt, ...)
{
    LOG_BODY(LOG_LVL_INFO);
}

void msg_warn(const char *fmt, ...)
{
    LOG_BODY(LOG_LVL_WARN);
}

void msg_error(const char *fmt, ...)
{
    LOG_BODY(LOG_LVL_ERROR);
}

void msg_fatal(const char *fmt, ...)
{
    LOG_BODY(LOG_LVL_FATAL);
    if (log_fatal_hook) {
        void (*hook)(void) = log_fatal_hook;
        log_fatal_hook = NULL;
        hook();
    }
    exit(1);
}

void msg_panic(const char *fmt, ...)
{
    LOG_BODY(LOG_LVL_PANIC);
    abort();
}
