/*
 * test_log.c - unit tests for lib/log.c, logging to a temporary file.
 * msg_fatal and msg_panic end the process, so they run in forked children.
 */
#include "sys.h"
#include "log.h"
#include "mem.h"
#include "str.h"

#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

static char logfile[64];

static int setup(void **state)
{
    (void)state;
    snprintf(logfile, sizeof(logfile), "/tmp/tern-log-XXXXXX");
    int fd = mkstemp(logfile);
    if (fd < 0)
        return -1;
    close(fd);
    log_init("/usr/libexec/tern/testprog");
    log_set_verbose(0);
    log_also_stderr(false);
    return log_open("tern", logfile);
}

static int teardown(void **state)
{
    (void)state;
    unlink(logfile);
    return 0;
}

/* The whole log file as a string (caller frees). */
static char *slurp(const char *path)
{
    str_t *s = str_new(0);
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    char buf[4096];
    ssize_t n;
    while ((n = read(fd, buf, sizeof(buf))) > 0)
        str_append(s, buf, (size_t)n);
    close(fd);
    return str_steal(&s);
}

/* The log holds exactly one line, ending in "tern/testprog[PID]: want". */
static void expect_one_line(const char *want)
{
    char *text = slurp(logfile);
    char tail[2400];
    snprintf(tail, sizeof(tail), "tern/testprog[%ld]: %s\n", (long)getpid(), want);
    char *nl = strchr(text, '\n');
    if (nl == NULL || nl[1] != '\0')
        fail_msg("not one line: '%s'", text);
    size_t tl = strlen(tail), len = strlen(text);
    if (len < tl || strcmp(text + len - tl, tail) != 0)
        fail_msg("got '%s', wanted it to end with '%s'", text, tail);
    free(text);
}

static void test_levels(void **state)
{
    (void)state;
    static const struct {
        void (*fn)(const char *, ...);
        const char *prefix;
    } levels[] = {
        {msg_info, ""},
        {msg_warn, "warning: "},
        {msg_error, "error: "},
    };
    for (size_t i = 0; i < N_ELEMENTS(levels); i++) {
        assert_int_equal(truncate(logfile, 0), 0);
        levels[i].fn("3F2A1B: to=<%s>, status=%d", "a@b", (int)i);
        char want[128];
        snprintf(want, sizeof(want), "%s3F2A1B: to=<a@b>, status=%zu", levels[i].prefix, i);
        expect_one_line(want);
    }
}

static void test_progname(void **state)
{
    (void)state;
    assert_string_equal(log_progname(), "testprog");
    /* A different syslog_name changes the part before the slash. */
    assert_int_equal(log_open("other", logfile), 0);
    msg_info("x");
    char *text = slurp(logfile);
    char want[64];
    snprintf(want, sizeof(want), " other/testprog[%ld]: x\n", (long)getpid());
    assert_non_null(strstr(text, want));
    free(text);
}

static void test_component(void **state)
{
    (void)state;
    /* A library inside this program logs under its own name, same PID. */
    log_set_component("cleanup");
    msg_info("y");
    log_set_component(NULL);
    msg_info("z");
    char *text = slurp(logfile);
    char want[64];
    snprintf(want, sizeof(want), " tern/cleanup[%ld]: y\n", (long)getpid());
    assert_non_null(strstr(text, want));
    snprintf(want, sizeof(want), " tern/testprog[%ld]: z\n", (long)getpid());
    assert_non_null(strstr(text, want));
    free(text);
}

static void test_debug_verbose(void **state)
{
    (void)state;
    msg_debug("hidden %d", 1);
    char *text = slurp(logfile);
    assert_string_equal(text, "");
    free(text);
    log_set_verbose(2);
    assert_int_equal(log_verbose(), 2);
    msg_debug("shown %d", 2);
    expect_one_line("shown 2");
}

static void test_control_chars(void **state)
{
    (void)state;
    msg_warn("a\nb\rc\x01"
             "d\x1b[31me%s",
             "\n\t");
    expect_one_line("warning: a?b?c?d?[31me??");
}

static void test_long_line(void **state)
{
    (void)state;
    char big[5000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    msg_info("%s", big);
    char *text = slurp(logfile);
    /* Truncated, but still one whole line. */
    assert_non_null(strchr(text, '\n'));
    assert_int_equal(strchr(text, '\n')[1], '\0');
    assert_true(strlen(text) > 2000);
    free(text);
}

static void test_errno_preserved(void **state)
{
    (void)state;
    errno = ENOSPC;
    msg_info("something");
    assert_int_equal(errno, ENOSPC);
    errno = EACCES;
    msg_error("%s", strerror(errno));
    assert_int_equal(errno, EACCES);
}

static void test_open_fails(void **state)
{
    (void)state;
    assert_int_equal(log_open("tern", "/nonexistent/dir/log"), -1);
    msg_info("still here");
    expect_one_line("still here"); /* logging stayed on the old file */
}

static void test_also_stderr(void **state)
{
    (void)state;
    char errfile[64];
    snprintf(errfile, sizeof(errfile), "/tmp/tern-log-err-XXXXXX");
    int fd = mkstemp(errfile);
    assert_true(fd >= 0);
    int saved = dup(2);
    dup2(fd, 2);
    log_also_stderr(true);
    msg_warn("copy %d", 1);
    log_also_stderr(false);
    msg_warn("no copy");
    dup2(saved, 2);
    close(saved);
    close(fd);
    char *text = slurp(errfile);
    assert_string_equal(text, "testprog: warning: copy 1\n");
    free(text);
    unlink(errfile);
}

static int hook_fd = -1;

static void fatal_hook(void)
{
    if (write(hook_fd, "H", 1) != 1)
        _exit(3);
}

static void do_fatal(void)
{
    log_set_fatal_hook(fatal_hook);
    msg_fatal("cannot open %s", "main.cf");
}

static void do_panic(void)
{
    struct rlimit nocore = {0, 0}; /* no core file from the deliberate abort */
    setrlimit(RLIMIT_CORE, &nocore);
    msg_panic("bug in %s", "qmgr");
}

/* Run fn in a child; return its wait status. */
static int in_child(void (*fn)(void))
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        fn();
        _exit(0);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return status;
}

static void test_fatal(void **state)
{
    (void)state;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    hook_fd = fds[1];
    int st = in_child(do_fatal);
    close(fds[1]);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 1);
    char c = 0;
    assert_int_equal(read(fds[0], &c, 1), 1); /* the hook ran */
    assert_int_equal(c, 'H');
    close(fds[0]);
    char *text = slurp(logfile);
    assert_non_null(strstr(text, "]: fatal: cannot open main.cf\n"));
    free(text);
}

static void test_panic(void **state)
{
    (void)state;
    int st = in_child(do_panic);
    assert_true(WIFSIGNALED(st));
    assert_int_equal(WTERMSIG(st), SIGABRT);
    char *text = slurp(logfile);
    assert_non_null(strstr(text, "]: panic: bug in qmgr\n"));
    free(text);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_levels),        T(test_progname),  T(test_component),       T(test_debug_verbose),
        T(test_control_chars), T(test_long_line), T(test_errno_preserved), T(test_open_fails),
        T(test_also_stderr),   T(test_fatal),     T(test_panic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
