/*
 * test_attr.c - unit tests for the attribute protocol (lib/attr.c), over
 * socketpairs and from memory.
 */
#include "sys.h"
#include "attr.h"
#include "mem.h"
#include "sock.h"
#include "str.h"
#include "stream.h"

#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/resource.h>
#include <sys/wait.h>

struct pair {
    int wfd, rfd;
    stream_t *w, *r;
    struct attr_list *list;
};

static int pair_setup(void **state)
{
    struct pair *p = xcalloc(1, sizeof(*p));
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
        return -1;
    p->wfd = sv[0];
    p->rfd = sv[1];
    p->w = stream_open_fd(sv[0], 0);
    p->r = stream_open_fd(sv[1], STREAM_OWN_FD);
    stream_set_timeout_ms(p->r, 2000);
    stream_set_timeout_ms(p->w, 2000);
    p->list = attr_list_new();
    *state = p;
    return 0;
}

static int pair_teardown(void **state)
{
    struct pair *p = *state;
    stream_close(&p->w);
    if (p->wfd >= 0)
        close(p->wfd);
    stream_close(&p->r);
    attr_list_free(&p->list);
    free(p);
    return 0;
}

/* Send raw bytes to the reader; optionally close the writing end. */
static void pair_send(struct pair *p, const char *data, size_t len, bool close_after)
{
    assert_int_equal(write(p->wfd, data, len), (ssize_t)len);
    if (close_after) {
        stream_close(&p->w);
        close(p->wfd);
        p->wfd = -1;
    }
}

static void test_roundtrip(void **state)
{
    struct pair *p = *state;
    static const char bin[] = {'a', '\0', '\n', '%', (char)0xff, '='};
    assert_int_equal(attr_put_str(p->w, "request", "deliver"), STREAM_OK);
    attr_put_str(p->w, "empty", "");
    attr_put_str(p->w, "spaces", " a = b ");
    attr_put_int(p->w, "zero", 0);
    attr_put_int(p->w, "neg", -42);
    attr_put_int(p->w, "min", LLONG_MIN);
    attr_put_int(p->w, "max", LLONG_MAX);
    attr_put_data(p->w, "bin", bin, sizeof(bin));
    attr_put_data(p->w, "nodata", NULL, 0);
    attr_end(p->w);
    assert_int_equal(stream_flush(p->w), STREAM_OK);

    const char *err = NULL, *v;
    assert_int_equal(attr_read(p->r, p->list, NULL, &err), 0);
    assert_int_equal(p->list->count, 9);
    assert_string_equal(attr_error(p->list), "");
    assert_int_equal(attr_get_str(p->list, "request", &v), 0);
    assert_string_equal(v, "deliver");
    assert_int_equal(attr_get_str(p->list, "empty", &v), 0);
    assert_string_equal(v, "");
    assert_int_equal(attr_get_str(p->list, "spaces", &v), 0);
    assert_string_equal(v, " a = b ");
    long long n;
    assert_int_equal(attr_get_int(p->list, "zero", &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(attr_get_int(p->list, "neg", &n), 0);
    assert_int_equal(n, -42);
    assert_int_equal(attr_get_int(p->list, "min", &n), 0);
    assert_true(n == LLONG_MIN);
    assert_int_equal(attr_get_int(p->list, "max", &n), 0);
    assert_true(n == LLONG_MAX);
    const void *d;
    size_t len;
    assert_int_equal(attr_get_data(p->list, "bin", &d, &len), 0);
    assert_int_equal(len, sizeof(bin));
    assert_memory_equal(d, bin, sizeof(bin));
    assert_int_equal(attr_get_data(p->list, "nodata", &d, &len), 0);
    assert_int_equal(len, 0);
    /* A string getter refuses a value with NUL in it. */
    assert_int_equal(attr_get_str(p->list, "bin", &v), -1);
    assert_non_null(strstr(attr_error(p->list), "NUL"));
    /* A string is not an integer. */
    assert_int_equal(attr_get_int(p->list, "request", &n), -1);
    assert_non_null(strstr(attr_error(p->list), "bad integer 'deliver'"));
}

/* The wire form is readable and exactly as documented. */
static void test_wire_format(void **state)
{
    struct pair *p = *state;
    attr_put_str(p->w, "note", "two\nlines 100% a=b\t\xc3\xa9");
    attr_put_int(p->w, "size", -7);
    attr_end(p->w);
    assert_int_equal(stream_flush(p->w), STREAM_OK);
    static const char want[] = "note=two%0Alines 100%25 a=b%09%C3%A9\nsize=-7\n\n";
    char got[sizeof(want)];
    assert_int_equal(read(p->rfd, got, sizeof(want) - 1), (ssize_t)sizeof(want) - 1);
    assert_memory_equal(got, want, sizeof(want) - 1);
}

/* Every byte value survives, and the wire carries only 0x20..0x7e and "\n". */
static void test_every_byte(void **state)
{
    struct pair *p = *state;
    unsigned char all[256];
    for (int i = 0; i < 256; i++)
        all[i] = (unsigned char)i;
    attr_put_data(p->w, "all", all, sizeof(all));
    attr_end(p->w);
    assert_int_equal(stream_flush(p->w), STREAM_OK);

    str_t *wire = str_new(1024);
    assert_int_equal(stream_read_line(p->r, wire, 4096), STREAM_OK);
    for (size_t i = 0; i + 1 < wire->len; i++) {
        unsigned char c = (unsigned char)wire->s[i];
        assert_true(c >= 0x20 && c <= 0x7e);
    }
    /* 95 printable bytes less '%' stay as they are, 161 become %XX. */
    assert_int_equal(wire->len, strlen("all=") + 94 + 162 * 3 + 1);
    assert_int_equal(attr_parse(wire->s, wire->len, p->list, NULL, NULL, NULL), ATTR_ERROR);
    str_appendc(wire, '\n');
    size_t used = 0;
    assert_int_equal(attr_parse(wire->s, wire->len, p->list, NULL, &used, NULL), 0);
    assert_int_equal(used, wire->len);
    const void *d;
    size_t len;
    assert_int_equal(attr_get_data(p->list, "all", &d, &len), 0);
    assert_int_equal(len, 256);
    assert_memory_equal(d, all, 256);
    /* The reader accepts lower-case hex too. */
    assert_int_equal(attr_parse("x=%c3%A9\n\n", 10, p->list, NULL, NULL, NULL), 0);
    assert_int_equal(attr_get_data(p->list, "x", &d, &len), 0);
    assert_int_equal(len, 2);
    assert_memory_equal(d, "\xc3\xa9", 2);
    str_free(&wire);
}

static void test_two_records_and_eof(void **state)
{
    struct pair *p = *state;
    pair_send(p, "a=1\n\n\nb=2\n\n", 11, true);
    const char *err, *v;
    assert_int_equal(attr_read(p->r, p->list, NULL, &err), 0);
    assert_int_equal(p->list->count, 1);
    assert_int_equal(attr_read(p->r, p->list, NULL, &err), 0);
    assert_int_equal(p->list->count, 0); /* an empty record is legal */
    assert_int_equal(attr_read(p->r, p->list, NULL, &err), 0);
    assert_int_equal(attr_get_str(p->list, "b", &v), 0);
    assert_string_equal(v, "2");
    assert_null(attr_find(p->list, "a")); /* the list was replaced */
    /* Clean end between records. */
    assert_int_equal(attr_read(p->r, p->list, NULL, &err), ATTR_EOF);
    assert_string_equal(err, "connection closed");
}

static void test_eof_mid_record(void **state)
{
    struct pair *p = *state;
    pair_send(p, "a=1\nb=2\n", 8, true);
    const char *err = NULL;
    assert_int_equal(attr_read(p->r, p->list, NULL, &err), ATTR_ERROR);
    assert_non_null(strstr(err, "unexpected end of input"));
}

static void test_eof_mid_line(void **state)
{
    struct pair *p = *state;
    pair_send(p, "a=1\nb=2", 7, true);
    const char *err = NULL;
    assert_int_equal(attr_read(p->r, p->list, NULL, &err), ATTR_ERROR);
    assert_non_null(strstr(err, "unexpected end of input"));
}

static void test_timeout(void **state)
{
    struct pair *p = *state;
    stream_set_timeout_ms(p->r, 100);
    pair_send(p, "a=1\n", 4, false); /* then silence */
    const char *err = NULL;
    int64_t t0 = stream_now_ms();
    assert_int_equal(attr_read(p->r, p->list, NULL, &err), ATTR_ERROR);
    int64_t took = stream_now_ms() - t0;
    assert_true(took >= 90 && took < 1500);
    assert_string_equal(err, "read: timeout");
}

struct bad_case {
    const char *input;
    size_t len;
    const char *reason; /* substring of the error */
};

#define BAD(s, r)                                                                                  \
    {                                                                                              \
        s, sizeof(s) - 1, r                                                                        \
    }

static void test_malformed(void **state)
{
    struct pair *p = *state;
    static const struct bad_case cases[] = {
        BAD("noequals\n\n", "no '='"),
        BAD("=x\n\n", "bad name"),
        BAD("Bad=x\n\n", "bad name"),
        BAD("1a=x\n\n", "bad name"),
        BAD("a-b=x\n\n", "bad name"),
        BAD("a b=x\n\n", "bad name"),
        BAD("a=%4\n\n", "two hex digits"),
        BAD("a=%\n\n", "two hex digits"),
        BAD("a=%zz\n\n", "two hex digits"),
        BAD("a=%4g\n\n", "two hex digits"),
        BAD("a=x\r\n\n", "unescaped byte 0x0d"),
        BAD("a=\tx\n\n", "unescaped byte 0x09"),
        BAD("a=\x80\n\n", "unescaped byte 0x80"),
        BAD("a=\x7f\n\n", "unescaped byte 0x7f"),
        BAD("a=x\0y\n\n", "unescaped byte 0x00"),
        BAD("a=1\n\r\n", "no '='"),
        BAD("\x01=1\n\n", "bad name"),
    };
    for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
        const char *err = NULL;
        /* From memory... */
        int r = attr_parse(cases[i].input, cases[i].len, p->list, NULL, NULL, &err);
        if (r != ATTR_ERROR || strstr(err, cases[i].reason) == NULL)
            fail_msg("case %zu: parse gave %d '%s'", i, r, err ? err : "");
        /* ...and from a stream (a fresh pair each time: errors desync). */
        int sv[2];
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
        assert_int_equal(write(sv[0], cases[i].input, cases[i].len), (ssize_t)cases[i].len);
        stream_t *s = stream_open_fd(sv[1], STREAM_OWN_FD);
        stream_set_timeout_ms(s, 1000);
        err = NULL;
        r = attr_read(s, p->list, NULL, &err);
        if (r != ATTR_ERROR || strstr(err, cases[i].reason) == NULL)
            fail_msg("case %zu: read gave %d '%s'", i, r, err ? err : "");
        stream_close(&s);
        close(sv[0]);
    }
}

/* Read the raw record text with the given limits through the stream. */
static int read_with(struct pair *p, const char *text, const struct attr_limits *lim,
                     const char **err)
{
    pair_send(p, text, strlen(text), false);
    return attr_read(p->r, p->list, lim, err);
}

static void test_limit_name(void **state)
{
    struct pair *p = *state;
    struct attr_limits lim = {.max_name = 4, .max_value = 8, .max_attrs = 3};
    const char *err = NULL;
    assert_int_equal(read_with(p, "abcd=1\n\n", &lim, &err), 0);
    assert_int_equal(read_with(p, "abcde=1\n\n", &lim, &err), ATTR_ERROR);
    assert_string_equal(err, "attribute name longer than 4 bytes");
}

static void test_limit_name_long_line(void **state)
{
    struct pair *p = *state;
    struct attr_limits lim = {.max_name = 4, .max_value = 8, .max_attrs = 3};
    const char *err = NULL;
    /* Longer than any legal line: caught by the stream's line limit. */
    char big[200];
    memset(big, 'a', sizeof(big));
    memcpy(big + sizeof(big) - 4, "=1\n\n", 4);
    pair_send(p, big, sizeof(big), false);
    assert_int_equal(attr_read(p->r, p->list, &lim, &err), ATTR_ERROR);
    assert_string_equal(err, "attribute name longer than 4 bytes");
}

static void test_limit_value(void **state)
{
    struct pair *p = *state;
    struct attr_limits lim = {.max_name = 4, .max_value = 8, .max_attrs = 3};
    const char *err = NULL;
    assert_int_equal(read_with(p, "v=12345678\n\n", &lim, &err), 0);
    assert_int_equal(read_with(p, "v=%00%01%02%03%04%05%06%07\n\n", &lim, &err), 0);
    assert_int_equal(p->list->items[0].len, 8);
    assert_int_equal(read_with(p, "v=%00%01%02%03%04%05%06%07%08\n\n", &lim, &err), ATTR_ERROR);
    assert_string_equal(err, "attribute 'v': value longer than 8 bytes");
}

static void test_limit_value_plain(void **state)
{
    struct pair *p = *state;
    struct attr_limits lim = {.max_name = 4, .max_value = 8, .max_attrs = 3};
    const char *err = NULL;
    assert_int_equal(read_with(p, "v=123456789\n\n", &lim, &err), ATTR_ERROR);
    assert_string_equal(err, "attribute 'v': value longer than 8 bytes");
}

static void test_limit_value_long_line(void **state)
{
    struct pair *p = *state;
    struct attr_limits lim = {.max_name = 4, .max_value = 8, .max_attrs = 3};
    const char *err = NULL;
    char big[300];
    memset(big, 'x', sizeof(big));
    memcpy(big, "val=", 4);
    memcpy(big + sizeof(big) - 2, "\n\n", 2);
    pair_send(p, big, sizeof(big), false);
    assert_int_equal(attr_read(p->r, p->list, &lim, &err), ATTR_ERROR);
    assert_string_equal(err, "attribute 'val': value longer than 8 bytes");
}

static void test_limit_attrs(void **state)
{
    struct pair *p = *state;
    struct attr_limits lim = {.max_name = 4, .max_value = 8, .max_attrs = 3};
    const char *err = NULL;
    assert_int_equal(read_with(p, "a=1\nb=2\nc=3\n\n", &lim, &err), 0);
    assert_int_equal(p->list->count, 3);
    assert_int_equal(read_with(p, "a=1\nb=2\nc=3\nd=4\n\n", &lim, &err), ATTR_ERROR);
    assert_string_equal(err, "more than 3 attributes in one record");
}

static void test_default_limits(void **state)
{
    struct pair *p = *state;
    const char *err = NULL;
    /* A default-sized value passes, one byte more does not. */
    size_t n = ATTR_DEFAULT_MAX_VALUE;
    str_t *s = str_new(n + 16);
    str_appendz(s, "v=");
    for (size_t i = 0; i < n; i++)
        str_appendc(s, 'x');
    str_appendz(s, "\n\n");
    assert_int_equal(attr_parse(s->s, s->len, p->list, NULL, NULL, &err), 0);
    str_truncate(s, s->len - 2);
    str_appendz(s, "x\n\n");
    assert_int_equal(attr_parse(s->s, s->len, p->list, NULL, NULL, &err), ATTR_ERROR);
    str_free(&s);
}

static void test_required(void **state)
{
    struct pair *p = *state;
    const char *err;
    assert_int_equal(read_with(p, "queue_id=3F2A\nsender=a@b\nfuture=x\n\n", NULL, &err), 0);
    assert_int_equal(attr_require(p->list, "queue_id", "sender", NULL), 0);
    assert_int_equal(attr_require(p->list, "queue_id", "size", "sender", NULL), -1);
    assert_string_equal(attr_error(p->list), "missing attribute 'size'");
    long long n;
    assert_int_equal(attr_get_int(p->list, "size", &n), -1);
    assert_string_equal(attr_error(p->list), "missing attribute 'size'");
    const char *v;
    assert_int_equal(attr_get_str_opt(p->list, "size", "dflt", &v), 0);
    assert_string_equal(v, "dflt");
    assert_int_equal(attr_get_str_opt(p->list, "sender", "dflt", &v), 0);
    assert_string_equal(v, "a@b");
    /* The unknown "future" is simply not asked for. */
    assert_int_equal(attr_get_str(p->list, "queue_id", &v), 0);
    assert_string_equal(v, "3F2A");
}

static void test_repeated(void **state)
{
    struct pair *p = *state;
    const char *err, *v;
    assert_int_equal(read_with(p, "rcpt=a\nrcpt=b\nrcpt=c\n\n", NULL, &err), 0);
    assert_int_equal(attr_count(p->list, "rcpt"), 3);
    assert_int_equal(attr_get_str(p->list, "rcpt", &v), -1);
    assert_string_equal(attr_error(p->list), "attribute 'rcpt' appears 3 times");
    assert_string_equal(attr_find(p->list, "rcpt")->value, "a");
    assert_string_equal(p->list->items[2].value, "c");
}

static void test_int_parse(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int ok;
        long long value;
    } cases[] = {
        {"0", 1, 0},
        {"7", 1, 7},
        {"-7", 1, -7},
        {"1234567890", 1, 1234567890},
        {"9223372036854775807", 1, LLONG_MAX},
        {"-9223372036854775808", 1, LLONG_MIN},
        {"9223372036854775808", 0, 0},
        {"-9223372036854775809", 0, 0},
        {"99999999999999999999999", 0, 0},
        {"", 0, 0},
        {"-", 0, 0},
        {"-0", 0, 0},
        {"00", 0, 0},
        {"007", 0, 0},
        {"+1", 0, 0},
        {" 1", 0, 0},
        {"1 ", 0, 0},
        {"1a", 0, 0},
        {"0x10", 0, 0},
        {"1e3", 0, 0},
        {"--1", 0, 0},
    };
    for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
        long long v = 12345;
        int r = attr_parse_int(cases[i].text, strlen(cases[i].text), &v);
        if (cases[i].ok) {
            if (r != 0 || v != cases[i].value)
                fail_msg("'%s' should parse", cases[i].text);
        } else if (r != -1 || v != 12345) {
            fail_msg("'%s' should be rejected", cases[i].text);
        }
    }
    /* An embedded NUL is not a terminator. */
    long long v;
    assert_int_equal(attr_parse_int("1\0002", 3, &v), -1);
}

static void test_int_range(void **state)
{
    struct pair *p = *state;
    const char *err;
    assert_int_equal(read_with(p, "size=100\nneg=-1\n\n", NULL, &err), 0);
    long long v;
    assert_int_equal(attr_get_int_range(p->list, "size", 0, 100, &v), 0);
    assert_int_equal(v, 100);
    assert_int_equal(attr_get_int_range(p->list, "size", 0, 99, &v), -1);
    assert_string_equal(attr_error(p->list), "attribute 'size': 100 is out of range 0..99");
    assert_int_equal(attr_get_int_range(p->list, "neg", 0, 10, &v), -1);
}

static void test_parse_buffer(void **state)
{
    struct pair *p = *state;
    static const char buf[] = "a=1\n\nb=2\n\nc=3\n";
    size_t used = 0, off = 0;
    const char *err, *v;
    assert_int_equal(attr_parse(buf, sizeof(buf) - 1, p->list, NULL, &used, &err), 0);
    assert_int_equal(used, 5);
    off += used;
    assert_int_equal(attr_parse(buf + off, sizeof(buf) - 1 - off, p->list, NULL, &used, &err), 0);
    assert_int_equal(attr_get_str(p->list, "b", &v), 0);
    off += used;
    assert_int_equal(attr_parse(buf + off, sizeof(buf) - 1 - off, p->list, NULL, &used, &err),
                     ATTR_ERROR);
    assert_non_null(strstr(err, "unexpected end"));
    assert_int_equal(attr_parse("", 0, p->list, NULL, &used, &err), ATTR_ERROR);
}

/* Write errors are sticky and reported by the put functions. */
static void test_write_to_closed_peer(void **state)
{
    struct pair *p = *state;
    stream_close(&p->r);
    signal(SIGPIPE, SIG_IGN);
    attr_put_str(p->w, "a", "b");
    attr_end(p->w);
    assert_int_equal(stream_flush(p->w), STREAM_ERROR);
    assert_int_equal(attr_put_str(p->w, "a", "b"), STREAM_ERROR);
    assert_int_equal(attr_end(p->w), STREAM_ERROR);
}

/* Run fn in a child; return its wait status. */
static int in_child(void (*fn)(void))
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct rlimit nocore = {0, 0}; /* no core file from a deliberate abort */
        setrlimit(RLIMIT_CORE, &nocore);
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, 2); /* keep the panic line out of the test output */
        fn();
        _exit(0);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return status;
}

static void put_bad_name(void)
{
    stream_t *s = stream_open_fd(open("/dev/null", O_WRONLY), STREAM_OWN_FD);
    attr_put_str(s, "Bad Name", "x");
}

static void put_null_value(void)
{
    stream_t *s = stream_open_fd(open("/dev/null", O_WRONLY), STREAM_OWN_FD);
    attr_put_str(s, "name", NULL);
}

static void put_empty_name(void)
{
    stream_t *s = stream_open_fd(open("/dev/null", O_WRONLY), STREAM_OWN_FD);
    attr_put_int(s, "", 1);
}

static void test_misuse_panics(void **state)
{
    (void)state;
    void (*fns[])(void) = {put_bad_name, put_null_value, put_empty_name};
    for (size_t i = 0; i < N_ELEMENTS(fns); i++) {
        int st = in_child(fns[i]);
        assert_true(WIFSIGNALED(st));
        assert_int_equal(WTERMSIG(st), SIGABRT);
    }
}

static void test_connect(void **state)
{
    (void)state;
    char dir[] = "/tmp/tern-attr-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[64], *error = NULL;
    snprintf(path, sizeof(path), "%s/sock", dir);
    int l = unix_listen(path, 4, 0600, &error);
    assert_true(l >= 0);
    stream_t *c = attr_connect(path, 1000, &error);
    assert_non_null(c);
    int a = accept(l, NULL, NULL);
    assert_true(a >= 0);
    stream_t *srv = stream_open_fd(a, STREAM_OWN_FD);
    stream_set_timeout_ms(srv, 1000);
    attr_put_str(c, "request", "ping");
    attr_end(c);
    assert_int_equal(stream_flush(c), STREAM_OK);
    struct attr_list *list = attr_list_new();
    const char *err, *v;
    assert_int_equal(attr_read(srv, list, NULL, &err), 0);
    assert_int_equal(attr_get_str(list, "request", &v), 0);
    assert_string_equal(v, "ping");
    attr_list_free(&list);
    assert_null(list);
    stream_close(&srv);
    stream_close(&c);
    close(l);
    unlink(path);
    rmdir(dir);
    assert_null(attr_connect(path, 100, &error));
    assert_non_null(strstr(error, path));
    free(error);
}

#define T(f) cmocka_unit_test_setup_teardown(f, pair_setup, pair_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_roundtrip),
        T(test_wire_format),
        T(test_every_byte),
        T(test_two_records_and_eof),
        T(test_eof_mid_record),
        T(test_eof_mid_line),
        T(test_timeout),
        T(test_malformed),
        T(test_limit_name),
        T(test_limit_name_long_line),
        T(test_limit_value),
        T(test_limit_value_plain),
        T(test_limit_value_long_line),
        T(test_limit_attrs),
        T(test_default_limits),
        T(test_required),
        T(test_repeated),
        T(test_int_parse),
        T(test_int_range),
        T(test_parse_buffer),
        T(test_write_to_closed_peer),
        cmocka_unit_test(test_misuse_panics),
        cmocka_unit_test(test_connect),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
