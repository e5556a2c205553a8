/*
 * test_deliver.c - unit tests for the delivery request protocol
 * (lib/deliver.c): round trips over a socketpair, every required
 * attribute, bounds on rcpt_count, malformed results, misuse panics.
 */
#include "sys.h"
#include "deliver.h"
#include "mem.h"
#include "str.h"
#include "stream.h"

#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>

#define QID "1rXbW70DPq4Kj"

struct pair {
    int qfd; /* qmgr's end (raw, for hand-written input) */
    stream_t *q, *a;
};

static int pair_setup(void **state)
{
    struct pair *p = xcalloc(1, sizeof(*p));
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
        return -1;
    p->qfd = sv[0];
    p->q = stream_open_fd(sv[0], STREAM_OWN_FD);
    p->a = stream_open_fd(sv[1], STREAM_OWN_FD);
    stream_set_timeout_ms(p->q, 2000);
    stream_set_timeout_ms(p->a, 2000);
    *state = p;
    return 0;
}

static int pair_teardown(void **state)
{
    struct pair *p = *state;
    stream_close(&p->q);
    stream_close(&p->a);
    free(p);
    return 0;
}

/* Write raw text on qmgr's end, then optionally close that end. */
static void raw_send(struct pair *p, const char *text, bool close_after)
{
    size_t n = strlen(text);
    assert_int_equal(write(p->qfd, text, n), (ssize_t)n);
    if (close_after) {
        stream_close(&p->q);
        p->qfd = -1;
    }
}

static void make_request(struct deliver_request *req, size_t n)
{
    memset(req, 0, sizeof(*req));
    req->queue_id = xstrdup(QID);
    req->queue_file = xstrdup("active/" QID);
    req->sender = xstrdup("alice@example.org");
    req->nexthop = xstrdup("example.com");
    req->envid = xstrdup("env%1");
    req->ret = xstrdup("HDRS");
    req->rcpts = xcalloc(n, sizeof(*req->rcpts));
    req->nrcpts = n;
    for (size_t i = 0; i < n; i++) {
        req->rcpts[i].index = i * 3 + 1;
        req->rcpts[i].rcpt = xasprintf("user%zu@example.com", i);
        req->rcpts[i].orig_rcpt = xasprintf("User%zu@Example.COM", i);
        req->rcpts[i].orcpt = xstrdup(i ? "rfc822;x@y" : "");
        req->rcpts[i].notify = xstrdup(i ? "SUCCESS,FAILURE" : "");
    }
}

static void test_roundtrip(void **state)
{
    struct pair *p = *state;
    struct deliver_request out, in;
    char *err = NULL;
    make_request(&out, 3);
    assert_int_equal(deliver_request_send(p->q, &out, &err), 0);
    assert_int_equal(deliver_request_read(p->a, &in, &err), 1);
    assert_string_equal(in.queue_id, QID);
    assert_string_equal(in.queue_file, "active/" QID);
    assert_string_equal(in.sender, "alice@example.org");
    assert_string_equal(in.nexthop, "example.com");
    assert_string_equal(in.envid, "env%1");
    assert_string_equal(in.ret, "HDRS");
    assert_int_equal(in.nrcpts, 3);
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(in.rcpts[i].index, out.rcpts[i].index);
        assert_string_equal(in.rcpts[i].rcpt, out.rcpts[i].rcpt);
        assert_string_equal(in.rcpts[i].orig_rcpt, out.rcpts[i].orig_rcpt);
        assert_string_equal(in.rcpts[i].orcpt, out.rcpts[i].orcpt);
        assert_string_equal(in.rcpts[i].notify, out.rcpts[i].notify);
    }
    deliver_rcpt_result(&in.rcpts[0], DELIVER_OK, "2.0.0", "delivered to %s", "maildir");
    deliver_rcpt_result(&in.rcpts[1], DELIVER_TEMP, "4.2.2", "mailbox full");
    deliver_rcpt_result(&in.rcpts[2], DELIVER_PERM, "5.1.1", "unknown user: \"%s\"\n", "x=y%");
    in.rcpts[1].site_fail = true;
    in.rcpts[2].site_fail = true; /* not with status 5: dropped */
    assert_int_equal(deliver_results_send(p->a, &in), 0);
    assert_int_equal(deliver_results_read(p->q, &out, &err), 0);
    assert_int_equal(out.rcpts[0].status, DELIVER_OK);
    assert_string_equal(out.rcpts[0].dsn, "2.0.0");
    assert_string_equal(out.rcpts[0].reason, "delivered to maildir");
    assert_int_equal(out.rcpts[1].status, DELIVER_TEMP);
    assert_string_equal(out.rcpts[1].dsn, "4.2.2");
    assert_true(out.rcpts[1].site_fail);
    assert_false(out.rcpts[0].site_fail);
    assert_false(out.rcpts[2].site_fail);
    assert_int_equal(out.rcpts[2].status, DELIVER_PERM);
    assert_string_equal(out.rcpts[2].reason, "unknown user: \"x=y%\"\n");
    deliver_request_clear(&in);
    deliver_request_clear(&out);
    assert_null(out.rcpts);
    assert_int_equal(out.nrcpts, 0);

    /* The connection stays usable for the next request; then EOF. */
    make_request(&out, 1);
    assert_int_equal(deliver_request_send(p->q, &out, &err), 0);
    assert_int_equal(deliver_request_read(p->a, &in, &err), 1);
    /* An agent that sets no result must not report success. */
    assert_int_equal(deliver_results_send(p->a, &in), 0);
    assert_int_equal(deliver_results_read(p->q, &out, &err), 0);
    assert_int_equal(out.rcpts[0].status, DELIVER_TEMP);
    assert_string_equal(out.rcpts[0].dsn, "4.3.0");
    deliver_request_clear(&in);
    deliver_request_clear(&out);
    stream_close(&p->q);
    p->qfd = -1;
    assert_int_equal(deliver_request_read(p->a, &in, &err), 0);
}

static const char *const head_lines[] = {
    "request=deliver\n", "queue_id=" QID "\n", "queue_file=active/" QID "\n",
    "sender=\n",         "rcpt_count=1\n",
};
static const char rcpt_rec[] = "index=0\nrcpt=bob@example.com\n\n";

/* A request with head line skip left out (or replaced by repl). */
static char *head_without(size_t skip, const char *repl)
{
    str_t *s = str_new(256);
    for (size_t i = 0; i < N_ELEMENTS(head_lines); i++) {
        if (i != skip)
            str_appendz(s, head_lines[i]);
        else if (repl)
            str_appendz(s, repl);
    }
    str_appendz(s, "nexthop=x\nunknown_attr=ignored\n\n");
    str_appendz(s, rcpt_rec);
    return str_steal(&s);
}

static void expect_read(struct pair *p, const char *text, int want, const char *errpart)
{
    struct deliver_request in;
    char *err = NULL;
    raw_send(p, text, true);
    int rc = deliver_request_read(p->a, &in, &err);
    if (rc != want)
        fail_msg("read of [%s] gave %d (%s), wanted %d", text, rc, err ? err : "", want);
    if (errpart) {
        assert_non_null(err);
        if (!strstr(err, errpart))
            fail_msg("error '%s' lacks '%s'", err, errpart);
    }
    assert_null(in.rcpts);
    if (want == 1)
        deliver_request_clear(&in);
    free(err);
}

static void test_head_ok(void **state)
{
    char *t = head_without(SIZE_MAX, NULL);
    struct pair *p = *state;
    struct deliver_request in;
    char *err = NULL;
    raw_send(p, t, false);
    assert_int_equal(deliver_request_read(p->a, &in, &err), 1);
    assert_string_equal(in.sender, "");
    assert_string_equal(in.envid, "");
    assert_string_equal(in.rcpts[0].orig_rcpt, "");
    deliver_request_clear(&in);
    free(t);
}

/* Each required request attribute, left out in turn. */
static void test_head_missing(void **state)
{
    (void)state;
    static const char *const names[] = {"request", "queue_id", "queue_file", "sender",
                                        "rcpt_count"};
    for (size_t i = 0; i < N_ELEMENTS(names); i++) {
        void *st;
        pair_setup(&st);
        char *t = head_without(i, NULL);
        char want[64];
        snprintf(want, sizeof(want), "missing attribute '%s'", names[i]);
        expect_read(st, t, -1, want);
        free(t);
        pair_teardown(&st);
    }
}

static const struct {
    size_t line;
    const char *repl;
} bad_heads[] = {
    {0, "request=bounce\n"},
    {1, "queue_id=../../etc\n"},
    {1, "queue_id=\n"},
    {2, "queue_file=/etc/passwd\n"},
    {2, "queue_file=../x\n"},
    {2, "queue_file=active/../../x\n"},
    {2, "queue_file=active/..\n"},
    {2, "queue_file=\n"},
    {4, "rcpt_count=0\n"},
    {4, "rcpt_count=-1\n"},
    {4, "rcpt_count=10001\n"},
    {4, "rcpt_count=99999999999999999999\n"},
    {4, "rcpt_count=01\n"},
    {4, "rcpt_count=x\n"},
    {4, "rcpt_count=1\nrcpt_count=1\n"},
    {3, "sender=a%00b\n"},
};

static void test_head_bad(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_ELEMENTS(bad_heads); i++) {
        void *st;
        pair_setup(&st);
        char *t = head_without(bad_heads[i].line, bad_heads[i].repl);
        expect_read(st, t, -1, "bad delivery request");
        free(t);
        pair_teardown(&st);
    }
}

static const char *const bad_rcpts[] = {
    "rcpt=bob@example.com\n\n",        /* no index */
    "index=0\n\n",                     /* no rcpt */
    "index=0\nrcpt=\n\n",              /* empty rcpt */
    "index=-1\nrcpt=b@x\n\n",          /* negative index */
    "index=0\nrcpt=b@x\nrcpt=c@x\n\n", /* repeated */
    "index=0\nrcpt=b@x\n",             /* EOF before the end of the record */
    "",                                /* EOF instead of the record */
    "index=0\nrcpt=b\tx\n\n",          /* raw control byte */
};

static void test_rcpt_bad(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_ELEMENTS(bad_rcpts); i++) {
        void *st;
        pair_setup(&st);
        str_t *s = str_new(256);
        for (size_t j = 0; j < N_ELEMENTS(head_lines); j++)
            str_appendz(s, head_lines[j]);
        str_appendz(s, "\n");
        str_appendz(s, bad_rcpts[i]);
        expect_read(st, str_c(s), -1, "recipient");
        str_free(&s);
        pair_teardown(&st);
    }
}

/* More recipient records than promised are left for the next read. */
static void test_count_respected(void **state)
{
    struct pair *p = *state;
    struct deliver_request in;
    char *err = NULL;
    str_t *s = str_new(256);
    for (size_t j = 0; j < N_ELEMENTS(head_lines); j++)
        str_appendz(s, head_lines[j]);
    str_appendz(s, "\n");
    str_appendz(s, rcpt_rec);
    str_appendz(s, rcpt_rec);
    raw_send(p, str_c(s), true);
    assert_int_equal(deliver_request_read(p->a, &in, &err), 1);
    assert_int_equal(in.nrcpts, 1);
    deliver_request_clear(&in);
    assert_int_equal(deliver_request_read(p->a, &in, &err), -1);
    free(err);
    str_free(&s);
}

/* An over-long value is an error, not a truncation. */
static void test_value_bound(void **state)
{
    struct pair *p = *state;
    str_t *s = str_new(8192);
    str_appendz(s, "request=deliver\nsender=");
    for (int i = 0; i < 5000; i++)
        str_appendc(s, 'a');
    str_appendz(s, "\n\n");
    expect_read(p, str_c(s), -1, NULL);
    str_free(&s);
}

static const char *const bad_results[] = {
    "index=2\nstatus=0\ndsn=2.0.0\nreason=ok\n\n",             /* wrong index */
    "index=1\nstatus=3\ndsn=2.0.0\nreason=ok\n\n",             /* bad status */
    "index=1\nstatus=0\ndsn=5.0.0\nreason=ok\n\n",             /* dsn class */
    "index=1\nstatus=4\ndsn=4.0\nreason=ok\n\n",               /* dsn form */
    "index=1\nstatus=4\ndsn=4.0.0x\nreason=ok\n\n",            /* dsn form */
    "index=1\nstatus=0\ndsn=2.0.0\n\n",                        /* no reason */
    "index=1\ndsn=2.0.0\nreason=ok\n\n",                       /* no status */
    "status=0\ndsn=2.0.0\nreason=ok\n\n",                      /* no index */
    "index=1\nstatus=0\nreason=ok\n\n",                        /* no dsn */
    "index=1\nstatus=4\ndsn=4.4.1\nreason=x\nsite_fail=2\n\n", /* site_fail range */
    "",                                                        /* EOF */
};

static void test_results_bad(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_ELEMENTS(bad_results); i++) {
        void *st;
        pair_setup(&st);
        struct pair *p = st;
        struct deliver_request out;
        char *err = NULL;
        make_request(&out, 1);
        size_t n = strlen(bad_results[i]);
        int afd = stream_fd(p->a);
        assert_int_equal(write(afd, bad_results[i], n), (ssize_t)n);
        stream_close(&p->a);
        assert_int_equal(deliver_results_read(p->q, &out, &err), -1);
        assert_non_null(err);
        free(err);
        deliver_request_clear(&out);
        pair_teardown(&st);
    }
}

/* A full request of the largest size goes through (writer in a child). */
static void test_max_rcpts(void **state)
{
    struct pair *p = *state;
    struct deliver_request out, in;
    char *err = NULL;
    make_request(&out, 10000);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        _exit(deliver_request_send(p->q, &out, &err) == 0 ? 0 : 1);
    }
    assert_int_equal(deliver_request_read(p->a, &in, &err), 1);
    assert_int_equal(in.nrcpts, 10000);
    assert_string_equal(in.rcpts[9999].rcpt, "user9999@example.com");
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    deliver_request_clear(&in);
    deliver_request_clear(&out);
}

static int in_child(void (*fn)(void))
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, 2);
        fn();
        _exit(0);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return status;
}

static void result_bad_status(void)
{
    struct deliver_rcpt r = {0};
    deliver_rcpt_result(&r, 3, "4.0.0", "x");
}

static void result_bad_dsn(void)
{
    struct deliver_rcpt r = {0};
    deliver_rcpt_result(&r, DELIVER_OK, "5.1.1", "x");
}

static void send_no_rcpts(void)
{
    struct deliver_request req = {0};
    char *err;
    stream_t *s = stream_open_fd(open("/dev/null", O_WRONLY), STREAM_OWN_FD);
    deliver_request_send(s, &req, &err);
}

static void test_misuse_panics(void **state)
{
    (void)state;
    void (*fns[])(void) = {result_bad_status, result_bad_dsn, send_no_rcpts};
    for (size_t i = 0; i < N_ELEMENTS(fns); i++) {
        int st = in_child(fns[i]);
        assert_true(WIFSIGNALED(st));
        assert_int_equal(WTERMSIG(st), SIGABRT);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_roundtrip, pair_setup, pair_teardown),
        cmocka_unit_test_setup_teardown(test_head_ok, pair_setup, pair_teardown),
        cmocka_unit_test(test_head_missing),
        cmocka_unit_test(test_head_bad),
        cmocka_unit_test(test_rcpt_bad),
        cmocka_unit_test_setup_teardown(test_count_respected, pair_setup, pair_teardown),
        cmocka_unit_test_setup_teardown(test_value_bound, pair_setup, pair_teardown),
        cmocka_unit_test(test_results_bad),
        cmocka_unit_test_setup_teardown(test_max_rcpts, pair_setup, pair_teardown),
        cmocka_unit_test(test_misuse_panics),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
