/*
 * test_header.c - unit tests for lib/header.c: the streaming header
 * section reader (fed whole and byte by byte), field splitting,
 * unfolding and address-list parsing.
 */
#include "sys.h"
#include "header.h"
#include "mem.h"
#include "str.h"

#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <cmocka.h>

/* The reader's events rendered as "F[...]F[...]E<why>B[...]". */
struct trace {
    str_t *out;
    header_reader_t *r;
    int stop_after; /* -1 after this many events (0: never) */
    int events;
};

static int trace_event(enum header_event ev, const char *data, size_t len, void *ctx)
{
    struct trace *t = ctx;
    if (ev == HEADER_EV_FIELD)
        str_appendf(t->out, "F[%.*s]", (int)len, data);
    else if (ev == HEADER_EV_END)
        str_appendf(t->out, "E%d", (int)header_reader_end(t->r));
    else
        str_appendf(t->out, "B[%.*s]", (int)len, data);
    t->events++;
    return t->stop_after > 0 && t->events >= t->stop_after ? -1 : 0;
}

/* Body events may be split differently when fed byte by byte: merge them. */
static void merge_body(str_t *s)
{
    str_t *m = str_new(str_len(s));
    const char *p = str_c(s);
    while (*p) {
        if (p[0] == ']' && p[1] == 'B' && p[2] == '[' && m->len > 0) {
            p += 3;
            continue;
        }
        str_appendc(m, *p++);
    }
    str_set(s, str_c(m), str_len(m));
    str_free(&m);
}

static char *run_reader(const char *in, size_t max, bool bytewise)
{
    struct trace t = {.out = str_new(64)};
    t.r = header_reader_new(max, trace_event, &t);
    size_t len = strlen(in);
    if (bytewise) {
        for (size_t i = 0; i < len; i++)
            assert_int_equal(header_reader_feed(t.r, in + i, 1), 0);
    } else {
        assert_int_equal(header_reader_feed(t.r, in, len), 0);
    }
    assert_int_equal(header_reader_finish(t.r), 0);
    assert_int_equal(header_reader_finish(t.r), 0); /* idempotent */
    header_reader_free(&t.r);
    assert_null(t.r);
    merge_body(t.out);
    return str_steal(&t.out);
}

static void test_reader_table(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        size_t max;
        const char *want;
    } cases[] = {
        {"A: 1\nB: 2\n\nbody\n", 1000, "F[A: 1\n]F[B: 2\n]E1B[\nbody\n]"},
        {"Subject: a\n b\n\tc\nX: y\n\n", 1000, "F[Subject: a\n b\n\tc\n]F[X: y\n]E1B[\n]"},
        {"A: 1\nnot a header\nB: 2\n", 1000, "F[A: 1\n]E2B[not a header\nB: 2\n]"},
        {"A: 1\n", 1000, "F[A: 1\n]E4"},
        {"A: 1", 1000, "F[A: 1]E4"},
        {"A: 1\nB", 1000, "F[A: 1\n]E2B[B]"},
        {"", 1000, "E4"},
        {"\nbody", 1000, "E1B[\nbody]"},
        {" cont first\n", 1000, "E2B[ cont first\n]"},
        {":novalue\n", 1000, "E2B[:novalue\n]"},
        {"Obs-Name  : x\n\n", 1000, "F[Obs-Name  : x\n]E1B[\n]"},
        {"Bad Name: x\n", 1000, "E2B[Bad Name: x\n]"},
        {"A: 1\r\n\r\nbody", 1000, "F[A: 1\r\n]E2B[\r\nbody]"},
        {"A: 12345\nB: 12345\n\n", 10, "F[A: 12345\n]E3B[B: 12345\n\n]"},
        {"A: 123456789012\n\n", 10, "E3B[A: 123456789012\n\n]"},
        {"A: 1\n\nB: 2\n", 1000, "F[A: 1\n]E1B[\nB: 2\n]"},
        {"A: x\n \n\n", 1000, "F[A: x\n \n]E1B[\n]"},
    };
    for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
        for (int bw = 0; bw < 2; bw++) {
            char *got = run_reader(cases[i].in, cases[i].max, bw);
            if (strcmp(got, cases[i].want) != 0)
                fail_msg("case %zu%s: got %s want %s", i, bw ? " bytewise" : "", got,
                         cases[i].want);
            free(got);
        }
    }
}

static void test_reader_stop(void **state)
{
    (void)state;
    struct trace t = {.out = str_new(64), .stop_after = 1};
    t.r = header_reader_new(100, trace_event, &t);
    assert_int_equal(header_reader_feed(t.r, "A: 1\nB: 2\n", 10), -1);
    assert_int_equal(header_reader_feed(t.r, "more", 4), -1);
    assert_int_equal(header_reader_finish(t.r), -1);
    assert_int_equal(t.events, 1);
    assert_int_equal(header_reader_header_size(t.r), 5);
    header_reader_free(&t.r);
    str_free(&t.out);
}

static void test_split_and_name(void **state)
{
    (void)state;
    const char *f = "Subject :  hello\n world\r\n";
    const char *name, *value;
    size_t nl, vl;
    assert_int_equal(header_split(f, strlen(f), &name, &nl, &value, &vl), 0);
    assert_int_equal(nl, 7);
    assert_memory_equal(name, "Subject", 7);
    assert_int_equal(vl, strlen("hello\n world"));
    assert_memory_equal(value, "hello\n world", vl);
    assert_true(header_name_is(f, strlen(f), "subject"));
    assert_false(header_name_is(f, strlen(f), "subjec"));
    assert_int_equal(header_split("nocolon\n", 8, &name, &nl, &value, &vl), -1);
    assert_int_equal(header_split("", 0, &name, &nl, &value, &vl), -1);
    assert_int_equal(header_split("X:", 2, &name, &nl, &value, &vl), 0);
    assert_int_equal(vl, 0);
    assert_int_equal(header_name_len("To: a", 5), 2);
    assert_int_equal(header_name_len("To", 2), 0); /* no colon within len */
    assert_int_equal(header_name_len("T\x01: a", 5), 0);
}

static void test_unfold(void **state)
{
    (void)state;
    str_t *s = str_new(0);
    assert_int_equal(header_unfold(s, "a\n b\r\n\tc\nd", 11), 0);
    assert_string_equal(str_c(s), "a b\tcd");
    str_t *small = str_new_max(0, 3);
    assert_int_equal(header_unfold(small, "ab\n cd", 6), -1);
    str_free(&small);
    str_free(&s);
}

static int collect_addr(const char *addr, size_t len, void *ctx)
{
    str_t *s = ctx;
    str_appendf(s, "<%.*s>", (int)len, addr);
    return 0;
}

static int stop_addr(const char *addr, size_t len, void *ctx)
{
    (void)addr, (void)len;
    ++*(int *)ctx;
    return -1;
}

static void test_addr_list_table(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        const char *want;
        int skipped;
    } cases[] = {
        {"a@b", "<a@b>", 0},
        {"Name <a@b>, c@d", "<a@b><c@d>", 0},
        {"\"Doe, John\" <j@d.example>, x@y", "<j@d.example><x@y>", 0},
        {"a@b (Comment, with comma), c@d", "<a@b><c@d>", 0},
        {"undisclosed-recipients:;", "", 0},
        {"team: a@b, Bee <c@d>; e@f", "<a@b><c@d><e@f>", 0},
        {"<@route1,@route2:u@v>", "<u@v>", 0},
        {"\"quoted local\"@x", "<\"quoted local\"@x>", 0},
        {"a@[192.0.2.1], b@c", "<a@[192.0.2.1]><b@c>", 0},
        {" a@b ,, ,c@d,", "<a@b><c@d>", 0},
        {"John Doe", "", 1},
        {"<a@b", "", 1},
        {"a@b>", "", 1},
        {"\"open@x", "", 1},
        {"(open a@b", "", 1},
        {"<a@b> <c@d>", "", 1},
        {"alice", "<alice>", 0},
        {"Nested (a (b) c) <n@x>", "<n@x>", 0},
        {"a@b\n\t, c@d", "<a@b><c@d>", 0},
        {"<>", "", 1},
        {"x\x01y@z, ok@z", "<ok@z>", 1},
    };
    for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
        str_t *s = str_new(0);
        int rc = header_addr_list(cases[i].in, strlen(cases[i].in), collect_addr, s);
        if (rc != cases[i].skipped || strcmp(str_c(s), cases[i].want) != 0)
            fail_msg("case %zu (%s): got %d %s want %d %s", i, cases[i].in, rc, str_c(s),
                     cases[i].skipped, cases[i].want);
        str_free(&s);
    }
}

static void test_addr_list_bounds(void **state)
{
    (void)state;
    str_t *in = str_new(0);
    for (int i = 0; i < HEADER_ADDR_MAX + 10; i++)
        str_appendc(in, 'x');
    str_appendz(in, "@y, ok@y");
    str_t *s = str_new(0);
    assert_int_equal(header_addr_list(str_c(in), str_len(in), collect_addr, s), 1);
    assert_string_equal(str_c(s), "<ok@y>");
    int calls = 0;
    assert_int_equal(header_addr_list("a@b, c@d", 8, stop_addr, &calls), -1);
    assert_int_equal(calls, 1);
    str_free(&s);
    str_free(&in);
}

/* Run fn in a child with stderr silenced; return its wait status. */
static int in_child(void (*fn)(void))
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct rlimit nocore = {0, 0}; /* no core file from a deliberate abort */
        setrlimit(RLIMIT_CORE, &nocore);
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, 2);
        fn();
        _exit(0);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return status;
}

static void misuse_zero_max(void)
{
    header_reader_t *r = header_reader_new(0, trace_event, NULL);
    header_reader_free(&r);
}

static void misuse_no_fn(void)
{
    header_reader_t *r = header_reader_new(10, NULL, NULL);
    header_reader_free(&r);
}

static void test_misuse_panics(void **state)
{
    (void)state;
    void (*fns[])(void) = {misuse_zero_max, misuse_no_fn};
    for (size_t i = 0; i < N_ELEMENTS(fns); i++) {
        int st = in_child(fns[i]);
        if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGABRT)
            fail_msg("case %zu did not abort (status %d)", i, st);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reader_table),    cmocka_unit_test(test_reader_stop),
        cmocka_unit_test(test_split_and_name),  cmocka_unit_test(test_unfold),
        cmocka_unit_test(test_addr_list_table), cmocka_unit_test(test_addr_list_bounds),
        cmocka_unit_test(test_misuse_panics),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
