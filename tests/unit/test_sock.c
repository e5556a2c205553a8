/*
 * test_sock.c - unit tests for lib/sock.c (listen/connect helpers).
 */
#include "sys.h"
#include "sock.h"
#include "mem.h"
#include "stream.h"

#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>

static char tmpdir[64];

static int setup_dir(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/tern-sock-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown_dir(void **state)
{
    (void)state;
    char path[128];
    snprintf(path, sizeof(path), "%s/s", tmpdir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/f", tmpdir);
    unlink(path);
    rmdir(tmpdir);
    return 0;
}

static int tcp_connect(int family, const char *addr, int port)
{
    struct sockaddr_storage ss = {0};
    socklen_t len;
    if (family == AF_INET) {
        struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
        sin->sin_family = AF_INET;
        sin->sin_port = htons((uint16_t)port);
        inet_pton(AF_INET, addr, &sin->sin_addr);
        len = sizeof(*sin);
    } else {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons((uint16_t)port);
        inet_pton(AF_INET6, addr, &sin6->sin6_addr);
        len = sizeof(*sin6);
    }
    int fd = socket(family, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&ss, len) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static void test_inet_listen_v4(void **state)
{
    (void)state;
    char *err = NULL;
    int fd = inet_listen("127.0.0.1", "0", 16, &err);
    assert_true(fd >= 0);
    assert_null(err);
    int port = sock_local_port(fd);
    assert_true(port > 0);
    assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    int one = 0;
    socklen_t len = sizeof(one);
    getsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, &len);
    assert_int_not_equal(one, 0);
    int c = tcp_connect(AF_INET, "127.0.0.1", port);
    assert_true(c >= 0);
    int a = accept(fd, NULL, NULL);
    assert_true(a >= 0);
    close(a);
    close(c);
    close(fd);
}

static void test_inet_listen_v6(void **state)
{
    (void)state;
    char *err = NULL;
    int fd = inet_listen("[::1]", "0", 16, &err);
    if (fd < 0) {
        free(err);
        skip(); /* no IPv6 loopback in this environment */
    }
    int port = sock_local_port(fd);
    int c = tcp_connect(AF_INET6, "::1", port);
    assert_true(c >= 0);
    close(c);
    close(fd);
}

static void test_inet_listen_any(void **state)
{
    (void)state;
    char *err = NULL;
    int fd = inet_listen(NULL, "0", 16, &err);
    assert_true(fd >= 0);
    int port = sock_local_port(fd);
    /* Dual stack (or plain IPv4) must accept an IPv4 client. */
    int c = tcp_connect(AF_INET, "127.0.0.1", port);
    assert_true(c >= 0);
    close(c);
    close(fd);
}

static void test_inet_listen_errors(void **state)
{
    (void)state;
    char *err = NULL;
    assert_int_equal(inet_listen("127.0.0.1", "", 16, &err), -1);
    assert_non_null(err);
    xfree(err);
    assert_int_equal(inet_listen("not an address!", "25", 16, &err), -1);
    assert_non_null(err);
    assert_non_null(strstr(err, "not an address!"));
    xfree(err);
    /* Port already in use (SO_REUSEADDR does not allow two listeners). */
    int fd = inet_listen("127.0.0.1", "0", 16, NULL);
    assert_true(fd >= 0);
    char port[16];
    snprintf(port, sizeof(port), "%d", sock_local_port(fd));
    assert_int_equal(inet_listen("127.0.0.1", port, 16, &err), -1);
    assert_non_null(strstr(err, port));
    xfree(err);
    close(fd);
}

static void test_unix_roundtrip(void **state)
{
    (void)state;
    char path[128], *err = NULL;
    snprintf(path, sizeof(path), "%s/s", tmpdir);
    int l = unix_listen(path, 8, 0660, &err);
    assert_true(l >= 0);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_true(S_ISSOCK(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0660);
    int c = unix_connect(path, 1000, &err);
    assert_true(c >= 0);
    assert_false(fcntl(c, F_GETFL) & O_NONBLOCK);
    assert_true(fcntl(c, F_GETFD) & FD_CLOEXEC);
    int a = accept(l, NULL, NULL);
    assert_true(a >= 0);
    assert_int_equal(write(c, "x", 1), 1);
    char ch = 0;
    assert_int_equal(read(a, &ch, 1), 1);
    assert_int_equal(ch, 'x');
    close(a);
    close(c);
    close(l);
    /* A stale socket is replaced on the next listen. */
    l = unix_listen(path, 8, 0600, &err);
    assert_true(l >= 0);
    close(l);
}

static void test_unix_errors(void **state)
{
    (void)state;
    char path[128], *err = NULL;
    snprintf(path, sizeof(path), "%s/f", tmpdir);
    int fd = open(path, O_WRONLY | O_CREAT, 0600);
    assert_true(fd >= 0);
    close(fd);
    /* A regular file is never removed. */
    assert_int_equal(unix_listen(path, 8, 0600, &err), -1);
    assert_non_null(strstr(err, "not a socket"));
    xfree(err);
    assert_int_equal(access(path, F_OK), 0);
    /* Connecting to a non-socket or missing path fails with a reason. */
    assert_int_equal(unix_connect(path, 100, &err), -1);
    assert_non_null(strstr(err, path));
    xfree(err);
    assert_int_equal(unix_connect("/nonexistent/tern.sock", 100, &err), -1);
    assert_int_equal(errno, ENOENT);
    xfree(err);
    /* Over-long path. */
    char longp[200];
    memset(longp, 'a', sizeof(longp) - 1);
    longp[0] = '/';
    longp[sizeof(longp) - 1] = '\0';
    assert_int_equal(unix_connect(longp, 100, &err), -1);
    xfree(err);
    assert_int_equal(unix_listen(longp, 8, 0600, &err), -1);
    xfree(err);
    assert_int_equal(unix_listen("", 8, 0600, NULL), -1);
}

static void test_flags(void **state)
{
    (void)state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    assert_int_equal(sock_set_nonblock(sv[0], true), 0);
    assert_true(fcntl(sv[0], F_GETFL) & O_NONBLOCK);
    assert_int_equal(sock_set_nonblock(sv[0], false), 0);
    assert_false(fcntl(sv[0], F_GETFL) & O_NONBLOCK);
    assert_int_equal(sock_set_cloexec(sv[0], true), 0);
    assert_true(fcntl(sv[0], F_GETFD) & FD_CLOEXEC);
    assert_int_equal(sock_set_cloexec(sv[0], false), 0);
    assert_false(fcntl(sv[0], F_GETFD) & FD_CLOEXEC);
    assert_int_equal(sock_local_port(sv[0]), -1);
    close(sv[0]);
    close(sv[1]);
    assert_int_equal(sock_set_nonblock(-1, true), -1);
    assert_int_equal(errno, EBADF);
}

/* UNIX_CONNECT_NOWAIT gives up at once on a listener whose queue is full. */
static void test_unix_nowait(void **state)
{
    (void)state;
    char path[128], *err = NULL;
    snprintf(path, sizeof(path), "%s/nowait.sock", tmpdir);
    int lfd = unix_listen(path, 1, 0600, &err);
    assert_true(lfd >= 0);
    int fds[64], n = 0, failed = 0;
    int64_t start = stream_now_ms();
    while (n < 64) {
        int c = unix_connect(path, UNIX_CONNECT_NOWAIT, &err);
        if (c < 0) {
            failed = 1;
            assert_int_equal(errno, EAGAIN);
            xfree(err);
            break;
        }
        fds[n++] = c;
    }
    assert_true(failed);
    assert_true(stream_now_ms() - start < 1000);
    for (int i = 0; i < n; i++)
        close(fds[i]);
    close(lfd);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_inet_listen_v4),  cmocka_unit_test(test_inet_listen_v6),
        cmocka_unit_test(test_inet_listen_any), cmocka_unit_test(test_inet_listen_errors),
        cmocka_unit_test(test_unix_roundtrip),  cmocka_unit_test(test_unix_errors),
        cmocka_unit_test(test_unix_nowait),     cmocka_unit_test(test_flags),
    };
    return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
