/*
 * test_smtp_reply.c - unit tests for lib/smtp_reply.c: reply lines
 * (codes, continuation, enhanced status codes), the one-line summary,
 * EHLO keywords, bounds, reading from a stream (EOF, too-long lines,
 * timeouts) and misuse.
 */
#include "sys.h"
#include "mem.h"
#include "smtp_reply.h"
#include "stream.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <setjmp.h>
#include <cmocka.h>

/* Feed "\n"-separated lines; returns the last add_line result. */
static int feed(struct smtp_reply *r, const char *text)
{
    int rc = 1;
    bool first = true;
    while ((*text != '\0' || first) && rc == 1) {
        first = false;
        const char *nl = strchr(text, '\n');
        size_t n = nl ? (size_t)(nl - text) : strlen(text);
        char *err = NULL;
        rc = smtp_reply_add_line(r, text, n, &err);
        free(err);
        text += n + (nl != NULL);
    }
    return rc;
}

static void test_lines_table(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        int rc, code;
        const char *enh, *text;
        bool has_enh;
        size_t nlines;
    } cases[] = {
        {"250 ok", 0, 250, "2.0.0", "250 ok", false, 1},
        {"250", 0, 250, "2.0.0", "250", false, 1},
        {"250 2.1.5 Ok", 0, 250, "2.1.5", "250 2.1.5 Ok", true, 1},
        {"550 5.1.1 <x@y>: unknown\r", 0, 550, "5.1.1", "550 5.1.1 <x@y>: unknown", true, 1},
        {"450 4.2.0 greylisted", 0, 450, "4.2.0", "450 4.2.0 greylisted", true, 1},
        {"550 4.1.1 wrong class", 0, 550, "5.0.0", "550 4.1.1 wrong class", false, 1},
        {"550 5.1.1x", 0, 550, "5.0.0", "550 5.1.1x", false, 1},
        {"550 5.1234.1 long", 0, 550, "5.0.0", "550 5.1234.1 long", false, 1},
        {"550 5.123.456", 0, 550, "5.123.456", "550 5.123.456", true, 1},
        {"250-a\n250-b\n250 c", 0, 250, "2.0.0", "250-a 250-b 250 c", false, 3},
        {"550-5.7.1 one\n550 5.7.1 two", 0, 550, "5.7.1", "550-5.7.1 one 550 5.7.1 two", true, 2},
        {"250-a\n251 b", 0, 250, "2.0.0", "250-a 251 b", false, 2},
        {"250-x", 1, 250, "2.0.0", "250-x", false, 1},
        {"354 go\x01", 0, 354, "3.0.0", "354 go?", false, 1},
        {"25", -1, 0, "", "", false, 0},
        {"", -1, 0, "", "", false, 0},
        {"2500 x", -1, 0, "", "", false, 0},
        {"abc ok", -1, 0, "", "", false, 0},
        {"199 low", -1, 0, "", "", false, 0},
        {"600 high", -1, 0, "", "", false, 0},
        {"250_x", -1, 0, "", "", false, 0},
        {"250-ok\nbad", -1, 250, "2.0.0", "250-ok", false, 1},
    };
    for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
        struct smtp_reply r;
        smtp_reply_init(&r);
        int rc = feed(&r, cases[i].in);
        if (rc != cases[i].rc || r.code != cases[i].code || strcmp(r.enh, cases[i].enh) != 0 ||
            strcmp(str_c(r.text), cases[i].text) != 0 || r.has_enh != cases[i].has_enh ||
            r.nlines != cases[i].nlines)
            fail_msg("case %zu: rc %d code %d enh '%s' text '%s' nlines %zu", i, rc, r.code, r.enh,
                     str_c(r.text), r.nlines);
        smtp_reply_clear(&r);
    }
}

static void test_ehlo_keywords(void **state)
{
    (void)state;
    struct smtp_reply r;
    smtp_reply_init(&r);
    assert_int_equal(feed(&r, "250-mx.example.test hello\n250-PIPELINING\n250-SIZE 1000\n"
                              "250-8bitmime\n250-AUTH=PLAIN LOGIN\n250 DSN"),
                     0);
    const char *args = NULL;
    assert_true(smtp_reply_ehlo_has(&r, "PIPELINING", &args));
    assert_string_equal(args, "");
    assert_true(smtp_reply_ehlo_has(&r, "SIZE", &args));
    assert_string_equal(args, "1000");
    assert_true(smtp_reply_ehlo_has(&r, "8BITMIME", NULL));
    assert_true(smtp_reply_ehlo_has(&r, "AUTH", &args));
    assert_string_equal(args, "PLAIN LOGIN");
    assert_true(smtp_reply_ehlo_has(&r, "dsn", NULL));
    assert_false(smtp_reply_ehlo_has(&r, "SMTPUTF8", NULL));
    assert_false(smtp_reply_ehlo_has(&r, "PIPE", NULL));
    /* The greeting line is never a keyword. */
    assert_false(smtp_reply_ehlo_has(&r, "mx.example.test", NULL));
    smtp_reply_clear(&r);
}

static void test_bounds(void **state)
{
    (void)state;
    struct smtp_reply r;
    smtp_reply_init(&r);
    char *err = NULL;
    int rc = 1;
    for (int i = 0; i < SMTP_REPLY_LINES_MAX && rc == 1; i++)
        rc = smtp_reply_add_line(&r, "250-0123456789012345678901234567890123456789", 44, &err);
    assert_int_equal(rc, 1);
    assert_int_equal(smtp_reply_add_line(&r, "250 last", 8, &err), -1);
    assert_non_null(err);
    free(err);
    assert_true(str_len(r.text) <= SMTP_REPLY_TEXT_MAX);
    assert_true(str_len(r.text) >= SMTP_REPLY_TEXT_MAX - 50);
    assert_string_equal(str_c(r.text) + str_len(r.text) - 3, "...");
    smtp_reply_clear(&r);
    smtp_reply_clear(&r); /* twice is harmless */
}

/* A socketpair with text written into one end; returns the read stream. */
static stream_t *stream_with(const char *text, size_t len, bool close_writer, int *writer_r)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    assert_int_equal(write(sv[1], text, len), (ssize_t)len);
    if (close_writer) {
        close(sv[1]);
        sv[1] = -1;
    }
    *writer_r = sv[1];
    stream_t *s = stream_open_fd(sv[0], STREAM_OWN_FD);
    stream_set_timeout_ms(s, 200);
    return s;
}

static void test_read_stream(void **state)
{
    (void)state;
    const char text[] = "220 hi\r\n250-a\r\n250 b\r\n251 no end";
    int w;
    stream_t *s = stream_with(text, sizeof(text) - 1, true, &w);
    struct smtp_reply r;
    smtp_reply_init(&r);
    assert_int_equal(smtp_reply_read(s, &r, NULL), SMTP_REPLY_OK);
    assert_int_equal(r.code, 220);
    assert_int_equal(smtp_reply_read(s, &r, NULL), SMTP_REPLY_OK);
    assert_int_equal(r.nlines, 2);
    assert_string_equal(str_c(r.text), "250-a 250 b");
    /* A last line without CRLF at EOF still counts. */
    assert_int_equal(smtp_reply_read(s, &r, NULL), SMTP_REPLY_OK);
    assert_int_equal(r.code, 251);
    assert_int_equal(smtp_reply_read(s, &r, NULL), SMTP_REPLY_EOF);
    stream_close(&s);

    const char partial[] = "250-a\r\n";
    s = stream_with(partial, sizeof(partial) - 1, true, &w);
    assert_int_equal(smtp_reply_read(s, &r, NULL), SMTP_REPLY_EOF);
    stream_close(&s);

    char *err = NULL;
    s = stream_with("hello\r\n", 7, true, &w);
    assert_int_equal(smtp_reply_read(s, &r, &err), SMTP_REPLY_BAD);
    assert_non_null(err);
    xfree(err);
    stream_close(&s);

    /* No reply at all: the deadline ends the wait. */
    s = stream_with("250-x\r\n", 7, false, &w);
    assert_int_equal(smtp_reply_read(s, &r, NULL), SMTP_REPLY_TIMEOUT);
    close(w);
    stream_close(&s);
    smtp_reply_clear(&r);
}

static void test_read_long_line(void **state)
{
    (void)state;
    str_t *t = str_new(10000);
    str_appendz(t, "250-");
    for (int i = 0; i < 9000; i++)
        str_appendc(t, 'x');
    str_appendz(t, "\r\n250 done\r\n");
    int w;
    stream_t *s = stream_with(str_c(t), str_len(t), true, &w);
    struct smtp_reply r;
    smtp_reply_init(&r);
    assert_int_equal(smtp_reply_read(s, &r, NULL), SMTP_REPLY_OK);
    assert_int_equal(r.nlines, 2);
    assert_true(strlen(r.lines[0]) < SMTP_REPLY_LINE_MAX);
    assert_string_equal(r.lines[1], "done");
    smtp_reply_clear(&r);
    stream_close(&s);
    str_free(&t);
}

static void add_after_complete(void)
{
    struct smtp_reply r;
    smtp_reply_init(&r);
    (void)smtp_reply_add_line(&r, "250 ok", 6, NULL);
    (void)smtp_reply_add_line(&r, "250 again", 9, NULL);
}

static void test_misuse_panics(void **state)
{
    (void)state;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, 2);
        add_after_complete();
        _exit(0);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFSIGNALED(st));
    assert_int_equal(WTERMSIG(st), SIGABRT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lines_table),    cmocka_unit_test(test_ehlo_keywords),
        cmocka_unit_test(test_bounds),         cmocka_unit_test(test_read_stream),
        cmocka_unit_test(test_read_long_line), cmocka_unit_test(test_misuse_panics),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
