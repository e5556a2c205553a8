/*
 * test_server.c - unit tests for the daemon skeleton's nested serving
 * (lib/server.c: server_serve_pending, no_use_exit).
 *
 * Each case forks a child that is set up the way master sets up a
 * daemon (status pipe on fd 3, a listening UNIX socket on fd 4, the
 * TERN_* environment, -c with a main.cf of its own) and runs server_main
 * with a TRIGGER callback.  The first request's callback keeps calling
 * server_serve_pending() (as qmgr does while deliveries are in flight)
 * until two more requests were served from inside it.  The parent sends
 * the requests, then checks what the child recorded, the status records
 * it wrote to master, and whether it exited for max_use.
 *
 * server_watch_fd: a SERVER_MULTI child watches the read end of a pipe
 * the parent writes to; the child records what ready() read, unwatches at
 * EOF, and records each client.  Watch activity must reach ready(), must
 * not count as a client (no status record, no max_use exit), and an
 * unwatched fd must not be reported again.
 */
#include "sys.h"
#include "mem.h"
#include "server.h"

#include <setjmp.h>
#include <cmocka.h>

#include "unit_tmp.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

static char dir[] = "/tmp/test_server.XXXXXX";
static char out_path[64], sock_path[64];
static int nested_seen;

/* Append one line to the child's record of what happened. */
static void record(const char *text)
{
    int fd = open(out_path, O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (fd < 0)
        _exit(3);
    char line[128];
    int n = snprintf(line, sizeof(line), "%s\n", text);
    if (write(fd, line, (size_t)n) != n)
        _exit(3);
    close(fd);
}

static void trigger(const char *buf, size_t len, const char *service, void *ctx)
{
    (void)service;
    (void)ctx;
    static int depth;
    char what[16];
    snprintf(what, sizeof(what), "%.*s%s", (int)(len < 8 ? len : 8), buf, depth ? " nested" : "");
    record(what);
    if (depth > 0) {
        nested_seen++;
        return;
    }
    depth++;
    int64_t until = stream_now_ms() + 5000;
    while (nested_seen < 2 && stream_now_ms() < until) {
        struct pollfd p = {.fd = server_listen_fd(0), .events = POLLIN};
        if (server_listen_count() != 1)
            _exit(4);
        if (poll(&p, 1, 100) > 0)
            (void)server_serve_pending();
    }
    depth--;
    record("end");
}

static const struct server_settings settings_exit = {
    .name = "test_server", .mode = SERVER_TRIGGER, .trigger = trigger, .no_idle_exit = true};
static const struct server_settings settings_stay = {.name = "test_server",
                                                     .mode = SERVER_TRIGGER,
                                                     .trigger = trigger,
                                                     .no_idle_exit = true,
                                                     .no_use_exit = true};

/* ---- server_watch_fd ---- */

static int watch_rd = -1;

static void watch_ready(int fd, void *ctx)
{
    char buf[16], line[40];
    if (fd != watch_rd || ctx != &watch_rd)
        _exit(5);
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n > 0) {
        snprintf(line, sizeof(line), "watch %.*s", (int)n, buf);
        record(line);
        return;
    }
    record("watch eof");
    server_unwatch_fd(fd);
    server_unwatch_fd(fd); /* a second time: nothing */
    close(fd);
}

static void watch_init(const char *service, void *ctx)
{
    (void)service;
    (void)ctx;
    server_watch_fd(watch_rd, watch_ready, &watch_rd);
}

static int watch_readable(stream_t *client, const char *service, void *ctx)
{
    (void)client;
    (void)service;
    (void)ctx;
    record("client");
    return -1;
}

static const struct server_settings settings_watch = {.name = "test_server",
                                                      .mode = SERVER_MULTI,
                                                      .readable = watch_readable,
                                                      .post_jail_init = watch_init,
                                                      .no_idle_exit = true};

static void write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

static char *read_file(const char *path)
{
    char buf[4096];
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return xstrdup("");
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    buf[n > 0 ? n : 0] = '\0';
    return xstrdup(buf);
}

/* The child: fds and environment as master hands them over, then serve. */
static pid_t start_child(const struct server_settings *s, int *status_rd)
{
    int st[2];
    assert_int_equal(pipe(st), 0);
    int lfd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", sock_path);
    unlink(sock_path);
    assert_int_equal(bind(lfd, (struct sockaddr *)&sun, sizeof(sun)), 0);
    assert_int_equal(listen(lfd, 16), 0);
    char mpid[32];
    snprintf(mpid, sizeof(mpid), "%ld", (long)getpid());
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(st[0]);
        if (dup2(st[1], SERVER_STATUS_FD) < 0 || dup2(lfd, SERVER_LISTEN_FD) < 0)
            _exit(2);
        setenv(SERVER_ENV_SERVICE, "test", 1);
        setenv(SERVER_ENV_TYPE, "unix", 1);
        setenv(SERVER_ENV_NLISTEN, "1", 1);
        setenv(SERVER_ENV_MASTER, mpid, 1);
        setenv(SERVER_ENV_UNPRIV, "n", 1);
        unsetenv(SERVER_ENV_CHROOT);
        char *argv[] = {"test_server", "-c", dir, NULL};
        _exit(server_main(3, argv, s));
    }
    close(st[1]);
    close(lfd);
    *status_rd = st[0];
    return pid;
}

static void send_request(const char *what)
{
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", sock_path);
    assert_int_equal(connect(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
    assert_int_equal(write(fd, what, strlen(what)), (ssize_t)strlen(what));
    close(fd);
}

/* Wait until the child's record contains text (5 s at most). */
static bool wait_record(const char *text)
{
    for (int i = 0; i < 500; i++) {
        char *got = read_file(out_path);
        bool ok = strstr(got, text) != NULL;
        free(got);
        if (ok)
            return true;
        usleep(10000);
    }
    return false;
}

/* The status records the child wrote (each is BUSY or IDLE), as "BI...". */
static void read_status(int fd, char *out, size_t size)
{
    struct server_status rec;
    size_t n = 0;
    (void)fcntl(fd, F_SETFL, O_NONBLOCK);
    while (n + 1 < size && read(fd, &rec, sizeof(rec)) == (ssize_t)sizeof(rec))
        out[n++] = rec.status == SERVER_STAT_BUSY ? 'B' : 'I';
    out[n] = '\0';
}

static void run_case(const struct server_settings *s, bool expect_exit)
{
    unlink(out_path);
    nested_seen = 0;
    int status_rd;
    pid_t pid = start_child(s, &status_rd);
    send_request("A");
    assert_true(wait_record("A\n"));
    send_request("B");
    send_request("C");
    assert_true(wait_record("end\n"));
    int wst = 0;
    pid_t got = 0;
    for (int i = 0; i < 300 && got == 0; i++) {
        got = waitpid(pid, &wst, WNOHANG);
        if (got == 0)
            usleep(10000);
        if (!expect_exit && i == 50)
            break; /* half a second alive is enough */
    }
    char *rec = read_file(out_path);
    assert_string_equal(rec, "A\nB nested\nC nested\nend\n");
    free(rec);
    char status[16];
    if (expect_exit) {
        /* max_use 2: the exit comes after the outer callback, not inside it */
        assert_int_equal(got, pid);
        assert_true(WIFEXITED(wst) && WEXITSTATUS(wst) == 0);
        read_status(status_rd, status, sizeof(status));
        assert_string_equal(status, "B"); /* nested requests report nothing */
    } else {
        assert_int_equal(got, 0); /* no_use_exit: still serving */
        read_status(status_rd, status, sizeof(status));
        assert_string_equal(status, "BI");
        kill(pid, SIGKILL);
        waitpid(pid, &wst, 0);
    }
    close(status_rd);
}

static void test_nested_then_max_use_exit(void **state)
{
    (void)state;
    run_case(&settings_exit, true);
}

static void test_no_use_exit(void **state)
{
    (void)state;
    run_case(&settings_stay, false);
}

static void test_watch_fd(void **state)
{
    (void)state;
    unlink(out_path);
    int pfd[2];
    assert_int_equal(pipe(pfd), 0);
    /* Inherited by the child, which watches it: above the fds master hands over. */
    watch_rd = dup2(pfd[0], 20);
    assert_int_equal(watch_rd, 20);
    close(pfd[0]);
    int status_rd;
    pid_t pid = start_child(&settings_watch, &status_rd);
    close(watch_rd);
    assert_int_equal(write(pfd[1], "X", 1), 1);
    assert_true(wait_record("watch X\n"));
    assert_int_equal(write(pfd[1], "Y", 1), 1);
    assert_true(wait_record("watch Y\n"));
    /* Three watch events, none of them a client: nothing said to master. */
    char status[16];
    read_status(status_rd, status, sizeof(status));
    assert_string_equal(status, "");
    close(pfd[1]); /* EOF: ready() unwatches and closes */
    assert_true(wait_record("watch eof\n"));
    send_request("C"); /* a client is still served: the loop goes on */
    assert_true(wait_record("client\n"));
    usleep(200000);
    /* max_use is 2 in main.cf: two clients end the process, watches did not count. */
    int wst = 0;
    assert_int_equal(waitpid(pid, &wst, WNOHANG), 0);
    send_request("D");
    pid_t got = 0;
    for (int i = 0; i < 300 && got == 0; i++) {
        got = waitpid(pid, &wst, WNOHANG);
        if (got == 0)
            usleep(10000);
    }
    assert_int_equal(got, pid);
    assert_true(WIFEXITED(wst) && WEXITSTATUS(wst) == 0);
    char *rec = read_file(out_path);
    /* One EOF report only: an unwatched fd is no longer polled. */
    assert_string_equal(rec, "watch X\nwatch Y\nwatch eof\nclient\nclient\n");
    free(rec);
    read_status(status_rd, status, sizeof(status));
    assert_string_equal(status, "BIB");
    close(status_rd);
}

/* Outside a running server it is a bug: panic (abort). */
static void test_misuse_panics(void **state)
{
    (void)state;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open("/dev/null", O_WRONLY);
        dup2(fd, 2);
        (void)server_serve_pending();
        _exit(0);
    }
    int wst;
    assert_int_equal(waitpid(pid, &wst, 0), pid);
    assert_true(WIFSIGNALED(wst) && WTERMSIG(wst) == SIGABRT);
}

int main(void)
{
    if (mkdtemp(dir) == NULL)
        return 1;
    snprintf(out_path, sizeof(out_path), "%s/out", dir);
    snprintf(sock_path, sizeof(sock_path), "%s/sock", dir);
    char *cf = xasprintf("%s/main.cf", dir),
         *text = xasprintf("maillog_file = %s/log\nmax_use = 2\nqueue_directory = %s\n", dir, dir);
    write_file(cf, text);
    free(cf);
    free(text);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nested_then_max_use_exit),
        cmocka_unit_test(test_no_use_exit),
        cmocka_unit_test(test_misuse_panics),
        cmocka_unit_test(test_watch_fd),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    if (unit_rm_rf(dir) != 0)
        rc = 1;
    return rc;
}
