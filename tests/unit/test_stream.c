/*
 * test_stream.c - unit tests for lib/stream.c over socketpairs and pipes:
 * line reads and their limits, EOF, deadlines, sticky write errors,
 * discarding input, and writes larger than the buffer.
 */
#include "sys.h"
#include "stream.h"
#include "mem.h"
#include "str.h"

#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>

/* A connected pair: raw fd w feeds stream r. */
struct pair {
    int w;   /* raw writing end, -1 once closed */
    int rfd; /* reading end, owned by r */
    stream_t *r;
    str_t *line;
};

static int pair_new(void **state, bool use_pipe)
{
    struct pair *p = xcalloc(1, sizeof(*p));
    int fds[2];
    if (use_pipe) {
        if (pipe(fds) < 0)
            return -1;
        p->w = fds[1];
        p->rfd = fds[0];
    } else {
        if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) < 0)
            return -1;
        p->w = fds[0];
        p->rfd = fds[1];
    }
    p->r = stream_open_fd(p->rfd, STREAM_OWN_FD);
    stream_set_timeout_ms(p->r, 2000);
    p->line = str_new(0);
    *state = p;
    return 0;
}

static int setup_sock(void **state)
{
    return pair_new(state, false);
}

static int setup_pipe(void **state)
{
    return pair_new(state, true);
}

static int teardown(void **state)
{
    struct pair *p = *state;
    if (p->w >= 0)
        close(p->w);
    stream_close(&p->r);
    str_free(&p->line);
    free(p);
    return 0;
}

static void send_raw(struct pair *p, const void *data, size_t len)
{
    assert_int_equal(write(p->w, data, len), (ssize_t)len);
}

static void send_close(struct pair *p)
{
    close(p->w);
    p->w = -1;
}

static void expect_line(struct pair *p, size_t limit, int status, const char *want)
{
    int st = stream_read_line(p->r, p->line, limit);
    if (st != status)
        fail_msg("status %s, wanted %s", stream_strstatus(st), stream_strstatus(status));
    if (want != NULL) {
        assert_int_equal(str_len(p->line), strlen(want));
        assert_memory_equal(str_c(p->line), want, strlen(want));
    }
}

static void test_lines(void **state)
{
    struct pair *p = *state;
    static const char in[] = "a\nbb\r\n\nccc";
    send_raw(p, in, sizeof(in) - 1);
    send_close(p);
    expect_line(p, 100, STREAM_OK, "a\n");
    expect_line(p, 100, STREAM_OK, "bb\r\n");
    str_chomp(p->line);
    assert_string_equal(str_c(p->line), "bb");
    expect_line(p, 100, STREAM_OK, "\n");
    expect_line(p, 100, STREAM_OK, "ccc"); /* last line without newline */
    expect_line(p, 100, STREAM_EOF, "");
    expect_line(p, 100, STREAM_EOF, ""); /* EOF stays EOF */
}

static void test_embedded_nul_line(void **state)
{
    struct pair *p = *state;
    send_raw(p, "a\0b\n", 4);
    expect_line(p, 100, STREAM_OK, NULL);
    assert_int_equal(str_len(p->line), 4);
    assert_memory_equal(str_c(p->line), "a\0b\n", 4);
}

/* The limit counts every byte stored, the "\n" included. */
static void test_limit_boundary(void **state)
{
    struct pair *p = *state;
    const size_t limit = 8;
    send_raw(p, "123456\n", 7);   /* limit - 1 */
    send_raw(p, "1234567\n", 8);  /* limit */
    send_raw(p, "12345678\n", 9); /* limit + 1 */
    send_raw(p, "next\n", 5);
    expect_line(p, limit, STREAM_OK, "123456\n");
    expect_line(p, limit, STREAM_OK, "1234567\n");
    expect_line(p, limit, STREAM_TOOLONG, "12345678");
    /* The rest of the line is still there until skipped. */
    assert_int_equal(stream_skip_line(p->r), STREAM_OK);
    expect_line(p, limit, STREAM_OK, "next\n");
}

/* A line that goes on over several buffer refills. */
static void test_toolong_big(void **state)
{
    struct pair *p = *state;
    size_t n = 40000;
    char *big = xmalloc(n);
    memset(big, 'x', n);
    big[n - 1] = '\n';
    send_raw(p, big, n);
    send_raw(p, "after\n", 6);
    send_close(p);
    expect_line(p, 20000, STREAM_TOOLONG, NULL);
    assert_int_equal(str_len(p->line), 20000);
    assert_int_equal(stream_skip_line(p->r), STREAM_OK);
    expect_line(p, 20000, STREAM_OK, "after\n");
    expect_line(p, 20000, STREAM_EOF, NULL);
    assert_int_equal(stream_skip_line(p->r), STREAM_EOF);
    free(big);
}

/* A too-long line with no newline before the end of input. */
static void test_toolong_then_eof(void **state)
{
    struct pair *p = *state;
    send_raw(p, "abcdefghij", 10);
    send_close(p);
    expect_line(p, 4, STREAM_TOOLONG, "abcd");
    assert_int_equal(stream_skip_line(p->r), STREAM_EOF);
}

/* The line buffer's own maximum also reports TOOLONG, not truncation. */
static void test_line_str_max(void **state)
{
    struct pair *p = *state;
    str_t *small = str_new_max(0, 4);
    send_raw(p, "abcdef\n", 7);
    assert_int_equal(stream_read_line(p->r, small, 100), STREAM_TOOLONG);
    str_free(&small);
}

static void test_read_timeout(void **state)
{
    struct pair *p = *state;
    stream_set_timeout_ms(p->r, 100);
    int64_t t0 = stream_now_ms();
    expect_line(p, 100, STREAM_TIMEOUT, NULL);
    int64_t took = stream_now_ms() - t0;
    assert_true(took >= 95 && took < 1000);
    /* A partial line and then silence is a timeout too. */
    send_raw(p, "partial", 7);
    t0 = stream_now_ms();
    expect_line(p, 100, STREAM_TIMEOUT, NULL);
    took = stream_now_ms() - t0;
    assert_true(took >= 95 && took < 1000);
    char c;
    assert_int_equal(stream_read(p->r, &c, 1), STREAM_TIMEOUT);
    assert_string_equal(stream_strstatus(STREAM_TIMEOUT), "timeout");
}

static void test_read_exact(void **state)
{
    struct pair *p = *state;
    send_raw(p, "0123456789", 10);
    char buf[8];
    assert_int_equal(stream_read_exact(p->r, buf, 4), STREAM_OK);
    assert_memory_equal(buf, "0123", 4);
    assert_int_equal(stream_buffered(p->r), 6);
    str_t *out = str_new(0);
    assert_int_equal(stream_read_append(p->r, out, 3), STREAM_OK);
    assert_string_equal(str_c(out), "456");
    assert_int_equal(stream_read(p->r, buf, 0), 0);
    assert_int_equal(stream_read(p->r, buf, 8), 3);
    send_raw(p, "ab", 2);
    send_close(p);
    assert_int_equal(stream_read_exact(p->r, buf, 3), STREAM_EOF);
    str_free(&out);
}

static void test_discard_input(void **state)
{
    struct pair *p = *state;
    send_raw(p, "a\nb\nc\n", 6);
    expect_line(p, 100, STREAM_OK, "a\n");
    assert_int_equal(stream_buffered(p->r), 4);
    stream_discard_input(p->r);
    assert_int_equal(stream_buffered(p->r), 0);
    send_raw(p, "d\n", 2);
    expect_line(p, 100, STREAM_OK, "d\n");
}

static void test_write_peer_closed(void **state)
{
    struct pair *p = *state;
    signal(SIGPIPE, SIG_IGN);
    stream_t *w = stream_open_fd(p->w, 0);
    stream_close(&p->r);                                      /* the peer goes away */
    assert_int_equal(stream_write(w, "hello", 5), STREAM_OK); /* only buffered */
    assert_int_equal(stream_flush(w), STREAM_ERROR);
    assert_int_equal(errno, EPIPE);
    /* Sticky: every later call reports the same error. */
    assert_int_equal(stream_error(w), STREAM_ERROR);
    assert_int_equal(stream_write(w, "x", 1), STREAM_ERROR);
    assert_int_equal(stream_puts(w, "x"), STREAM_ERROR);
    assert_int_equal(stream_printf(w, "%d", 1), STREAM_ERROR);
    assert_int_equal(stream_flush(w), STREAM_ERROR);
    stream_close(&w);
    signal(SIGPIPE, SIG_DFL);
}

/* A peer that does not read: the write deadline fires. */
static void test_write_timeout(void **state)
{
    struct pair *p = *state;
    stream_t *w = stream_open_fd(p->w, 0);
    stream_set_timeout_ms(w, 100);
    char *big = xcalloc(1, 1 << 20);
    int64_t t0 = stream_now_ms();
    int st = stream_write(w, big, 1 << 20);
    if (st == STREAM_OK)
        st = stream_flush(w);
    assert_int_equal(st, STREAM_TIMEOUT);
    assert_true(stream_now_ms() - t0 < 2000);
    assert_int_equal(stream_flush(w), STREAM_TIMEOUT);
    stream_close(&w);
    free(big);
}

/* The byte at offset i of the test pattern. */
static char pattern(size_t i)
{
    return (char)('a' + (i * 7 + i / 251) % 26);
}

/* Child: read everything from fd and check it against the pattern. */
static int drain_and_check(int fd, size_t want)
{
    stream_t *s = stream_open_fd(fd, STREAM_OWN_FD);
    stream_set_timeout_ms(s, 5000);
    char buf[1000];
    size_t got = 0;
    ssize_t n;
    while ((n = stream_read(s, buf, sizeof(buf))) > 0) {
        for (ssize_t i = 0; i < n; i++)
            if (buf[i] != pattern(got + (size_t)i))
                return 2;
        got += (size_t)n;
    }
    return n == STREAM_EOF && got == want ? 0 : 3;
}

static void test_big_writes(void **state)
{
    struct pair *p = *state;
    size_t sizes[] = {100, 100000, 5, 16383, 16384, 16385, 1, 70000};
    size_t total = 0;
    for (size_t i = 0; i < N_ELEMENTS(sizes); i++)
        total += sizes[i];
    /* The stream in p->r is not used: hand its fd to a reading child. */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(p->w);
        _exit(drain_and_check(dup(p->rfd), total));
    }
    stream_t *w = stream_open_fd(p->w, STREAM_OWN_FD);
    p->w = -1;
    stream_set_timeout_ms(w, 5000);
    char *buf = xmalloc(100000);
    size_t off = 0;
    for (size_t i = 0; i < N_ELEMENTS(sizes); i++) {
        for (size_t j = 0; j < sizes[i]; j++)
            buf[j] = pattern(off + j);
        assert_int_equal(stream_write(w, buf, sizes[i]), STREAM_OK);
        off += sizes[i];
    }
    assert_int_equal(stream_flush(w), STREAM_OK);
    stream_close(&w);
    stream_close(&p->r); /* our copy of the reading end */
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    free(buf);
}

static void test_close_owns_fd(void **state)
{
    (void)state;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    stream_t *s = stream_open_fd(fds[0], 0);
    assert_int_equal(stream_fd(s), fds[0]);
    stream_close(&s);
    assert_null(s);
    assert_true(fcntl(fds[0], F_GETFD) >= 0); /* not owned: still open */
    s = stream_open_fd(fds[0], STREAM_OWN_FD);
    stream_close(&s);
    assert_int_equal(fcntl(fds[0], F_GETFD), -1);
    close(fds[1]);
    stream_close(&s); /* NULL is harmless */
}

static void test_strstatus(void **state)
{
    (void)state;
    assert_string_equal(stream_strstatus(STREAM_OK), "ok");
    assert_string_equal(stream_strstatus(STREAM_EOF), "lost connection");
    assert_string_equal(stream_strstatus(STREAM_TOOLONG), "line too long");
    assert_string_equal(stream_strstatus(STREAM_ERROR), "I/O error");
}

#define SOCK(f) cmocka_unit_test_prestate_setup_teardown(f, setup_sock, teardown, NULL)
#define PIPE(f) cmocka_unit_test_prestate_setup_teardown(f, setup_pipe, teardown, NULL)

int main(void)
{
    const struct CMUnitTest tests[] = {
        SOCK(test_lines),
        PIPE(test_lines),
        SOCK(test_embedded_nul_line),
        SOCK(test_limit_boundary),
        PIPE(test_limit_boundary),
        SOCK(test_toolong_big),
        PIPE(test_toolong_big),
        SOCK(test_toolong_then_eof),
        SOCK(test_line_str_max),
        SOCK(test_read_timeout),
        PIPE(test_read_timeout),
        SOCK(test_read_exact),
        SOCK(test_discard_input),
        SOCK(test_write_peer_closed),
        PIPE(test_write_peer_closed),
        SOCK(test_write_timeout),
        PIPE(test_write_timeout),
        SOCK(test_big_writes),
        PIPE(test_big_writes),
        cmocka_unit_test(test_close_owns_fd),
        cmocka_unit_test(test_strstatus),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
