/*
 * test_dsn.c - unit tests for delivery status notifications (lib/dsn.c):
 * build reports of each kind and parse their structure back (headers,
 * boundary, the three parts, per-message and per-recipient fields),
 * returned headers only, hostile reasons that must not inject lines,
 * a boundary that collides with the original, status code syntax, and
 * misuse that must fail.  Also the defer log round trip (lib/defer_log.c).
 */
#include "sys.h"
#include "defer_log.h"
#include "dsn.h"
#include "log.h"
#include "mem.h"
#include "str.h"

#include <setjmp.h>
#include <cmocka.h>

#include <strings.h>
#include <sys/stat.h>

static const char original[] = "From: alice@example.com\nTo: bob@example.org\n"
                               "Subject: hello\n\nbody line\n";

/* The value of the first header field name in text (up to its line end). */
static char *field(const char *text, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = text; p != NULL && *p != '\0'; p = strchr(p, '\n'), p = p ? p + 1 : p) {
        if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
            const char *v = p + n + 1 + (p[n + 1] == ' ');
            return xstrndup(v, strcspn(v, "\n"));
        }
    }
    return NULL;
}

static void assert_field(const char *text, const char *name, const char *want)
{
    char *got = field(text, name);
    if (got == NULL || strcmp(got, want) != 0)
        fail_msg("%s: got '%s', want '%s'", name, got ? got : "(none)", want);
    free(got);
}

/* Split a report at its boundary: parts[0..n) point into a copy. */
struct parts {
    char *copy;
    char *part[8];
    size_t n;
    char *boundary;
};

static void split_parts(const char *msg, struct parts *p)
{
    memset(p, 0, sizeof(*p));
    const char *b = strstr(msg, "boundary=\"");
    assert_non_null(b);
    b += 10;
    p->boundary = xstrndup(b, strcspn(b, "\""));
    char *delim = xasprintf("\n--%s", p->boundary);
    p->copy = xstrdup(msg);
    char *s = strstr(p->copy, delim);
    while (s != NULL && p->n < N_ELEMENTS(p->part)) {
        *s = '\0';
        s += strlen(delim);
        if (strncmp(s, "--", 2) == 0)
            break;
        p->part[p->n++] = s + 1;
        s = strstr(s, delim);
    }
    free(delim);
}

static void free_parts(struct parts *p)
{
    free(p->copy);
    free(p->boundary);
}

static struct dsn_report base_report(const struct dsn_rcpt *rcpts, size_t n)
{
    return (struct dsn_report){
        .reporting_mta = "mx.example.com",
        .queue_id = "1rXbW70DPq4Kj",
        .sender = "alice@example.com",
        .to = "alice@example.com",
        .envid = "ENV-1",
        .arrival = 1700000000,
        .now = 1700000100,
        .rcpts = rcpts,
        .nrcpts = n,
        .original = original,
        .original_len = strlen(original),
    };
}

static void test_failed_report(void **state)
{
    (void)state;
    const struct dsn_rcpt rcpts[] = {
        {"bob@example.org", "rfc822;Bob@Example.org", "5.1.1", "550 5.1.1 user unknown",
         DSN_FAILED},
        {"carol@example.org", NULL, "5.0.0", "mail for this domain is refused", DSN_FAILED},
    };
    struct dsn_report rep = base_report(rcpts, 2);
    str_t *out = str_new(0);
    char *error = NULL;
    assert_int_equal(dsn_format(out, &rep, &error), 0);
    const char *m = str_c(out);
    assert_field(m, "From", "MAILER-DAEMON@mx.example.com (Mail Delivery System)");
    assert_field(m, "To", "alice@example.com");
    assert_field(m, "Subject", "Undelivered Mail Returned to Sender");
    assert_field(m, "Auto-Submitted", "auto-replied");
    assert_field(m, "MIME-Version", "1.0");
    assert_non_null(strstr(m, "Content-Type: multipart/report; report-type=delivery-status;"));
    assert_null(field(m, "Content-Transfer-Encoding")); /* all ASCII */

    struct parts p;
    split_parts(m, &p);
    assert_int_equal(p.n, 3);
    assert_non_null(strstr(p.part[0], "Content-Type: text/plain"));
    assert_non_null(strstr(p.part[0], "<bob@example.org>: 550 5.1.1 user unknown"));
    assert_non_null(strstr(p.part[1], "Content-Type: message/delivery-status\n\n"));
    assert_field(p.part[1], "Reporting-MTA", "dns; mx.example.com");
    assert_field(p.part[1], "Original-Envelope-Id", "ENV-1");
    char *arrival = field(p.part[1], "Arrival-Date");
    assert_non_null(arrival);
    free(arrival);
    /* per-recipient groups are separated by blank lines */
    char *bob = strstr(p.part[1], "\n\nFinal-Recipient: rfc822; bob@example.org\n");
    char *carol = strstr(p.part[1], "\n\nFinal-Recipient: rfc822; carol@example.org\n");
    assert_non_null(bob);
    assert_non_null(carol);
    assert_true(bob < carol);
    carol[0] = '\0';
    assert_field(bob + 2, "Original-Recipient", "rfc822; Bob@Example.org");
    assert_field(bob + 2, "Action", "failed");
    assert_field(bob + 2, "Status", "5.1.1");
    assert_field(bob + 2, "Diagnostic-Code", "smtp; 550 5.1.1 user unknown");
    assert_null(field(carol + 2, "Original-Recipient"));
    assert_field(carol + 2, "Diagnostic-Code", "X-Tern; mail for this domain is refused");
    assert_non_null(strstr(p.part[2], "Content-Type: message/rfc822\n\n"));
    assert_non_null(strstr(p.part[2], original));
    free_parts(&p);
    /* the message ends with the closing boundary */
    assert_true(str_len(out) > 3 && strcmp(str_c(out) + str_len(out) - 3, "--\n") == 0);
    str_free(&out);
}

static void test_kinds(void **state)
{
    (void)state;
    static const struct {
        enum dsn_action action;
        const char *status, *subject, *word;
    } cases[] = {
        {DSN_DELAYED, "4.4.1", "Delayed Mail (still being retried)", "delayed"},
        {DSN_DELIVERED, "2.0.0", "Successful Mail Delivery Report", "delivered"},
        {DSN_FAILED, "5.7.1", "Undelivered Mail Returned to Sender", "failed"},
    };
    for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
        struct dsn_rcpt r = {"bob@example.org", "", cases[i].status, NULL, cases[i].action};
        struct dsn_report rep = base_report(&r, 1);
        rep.retry_until = cases[i].action == DSN_DELAYED ? 1700400000 : 0;
        str_t *out = str_new(0);
        assert_int_equal(dsn_format(out, &rep, NULL), 0);
        assert_field(str_c(out), "Subject", cases[i].subject);
        assert_string_equal(dsn_subject(cases[i].action), cases[i].subject);
        assert_string_equal(dsn_action_name(cases[i].action), cases[i].word);
        assert_field(str_c(out), "Action", cases[i].word);
        assert_field(str_c(out), "Status", cases[i].status);
        assert_null(field(str_c(out), "Diagnostic-Code"));
        char *wru = field(str_c(out), "Will-Retry-Until");
        assert_true((wru != NULL) == (cases[i].action == DSN_DELAYED));
        free(wru);
        str_free(&out);
    }
}

static void test_headers_only_and_8bit(void **state)
{
    (void)state;
    static const char head8[] = "From: j\xc3\xbcrgen@example.com\nSubject: x\n\n";
    struct dsn_rcpt r = {"bob@example.org", NULL, "5.1.1", "gone", DSN_FAILED};
    struct dsn_report rep = base_report(&r, 1);
    rep.original = head8;
    rep.original_len = strlen(head8);
    rep.headers_only = true;
    str_t *out = str_new(0);
    assert_int_equal(dsn_format(out, &rep, NULL), 0);
    assert_field(str_c(out), "Content-Transfer-Encoding", "8bit");
    struct parts p;
    split_parts(str_c(out), &p);
    assert_int_equal(p.n, 3);
    assert_non_null(strstr(p.part[2], "Content-Type: text/rfc822-headers\n"));
    assert_non_null(strstr(p.part[2], "Subject: x\n"));
    free_parts(&p);
    str_free(&out);
}

static void test_hostile_text(void **state)
{
    (void)state;
    struct dsn_rcpt r = {"bob@example.org\nBcc: victim@example.net", "rfc822;x\ny", "5.1.1",
                         "bad\r\nX-Injected: yes\n\n--boundary", DSN_FAILED};
    struct dsn_report rep = base_report(&r, 1);
    rep.to = "alice@example.com\nBcc: evil@example.net";
    str_t *out = str_new(0);
    assert_int_equal(dsn_format(out, &rep, NULL), 0);
    assert_null(strstr(str_c(out), "\nBcc:"));
    assert_null(strstr(str_c(out), "\nX-Injected"));
    assert_null(strstr(str_c(out), "\ny\n"));
    str_free(&out);
}

static void test_boundary_collision(void **state)
{
    (void)state;
    struct dsn_rcpt r = {"bob@example.org", NULL, "5.1.1", NULL, DSN_FAILED};
    struct dsn_report rep = base_report(&r, 1);
    /* the first boundary tried, planted in the original */
    char *planted = xasprintf("Subject: x\n\n--1rXbW70DPq4Kj.1700000100.0/mx.example.com\n");
    rep.original = planted;
    rep.original_len = strlen(planted);
    str_t *out = str_new(0);
    assert_int_equal(dsn_format(out, &rep, NULL), 0);
    assert_non_null(strstr(str_c(out), "boundary=\"1rXbW70DPq4Kj.1700000100.1/mx.example.com\""));
    str_free(&out);
    free(planted);
}

static void test_status_syntax(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        bool ok;
    } cases[] = {
        {"2.0.0", true},   {"4.4.1", true},     {"5.1.1", true}, {"5.123.999", true},
        {"3.0.0", false},  {"5.1", false},      {"5.1.", false}, {"5..1", false},
        {"5.1.1 ", false}, {"5.1234.1", false}, {"", false},     {"x.1.1", false},
    };
    for (size_t i = 0; i < N_ELEMENTS(cases); i++)
        if (dsn_status_valid(cases[i].s) != cases[i].ok)
            fail_msg("'%s'", cases[i].s);
    assert_false(dsn_status_valid(NULL));
}

static void test_misuse(void **state)
{
    (void)state;
    struct dsn_rcpt bad = {"bob@example.org", NULL, "five", NULL, DSN_FAILED};
    struct dsn_rcpt good = {"bob@example.org", NULL, "5.0.0", NULL, DSN_FAILED};
    struct dsn_report rep = base_report(&bad, 1);
    str_t *out = str_new(0);
    char *error = NULL;
    assert_int_equal(dsn_format(out, &rep, &error), -1);
    assert_non_null(error);
    xfree(error);
    rep = base_report(&good, 0);
    assert_int_equal(dsn_format(out, &rep, &error), -1);
    xfree(error);
    rep = base_report(&good, 1);
    rep.to = NULL;
    assert_int_equal(dsn_format(out, &rep, NULL), -1);
    assert_int_equal(str_len(out), 0);
    str_free(&out);
    /* a string with a maximum too small: -1, left unchanged */
    str_t *small = str_new_max(16, 100);
    rep = base_report(&good, 1);
    assert_int_equal(dsn_format(small, &rep, &error), -1);
    assert_int_equal(str_len(small), 0);
    xfree(error);
    str_free(&small);
}

static void test_defer_log(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_dsn.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char *d = xasprintf("%s/defer", dir);
    assert_int_equal(mkdir(d, 0700), 0);
    struct defer_log log = {0}, back = {0};
    char *error = NULL;
    assert_int_equal(defer_log_read(dir, "ID1", &back, &error), 0); /* none yet */
    defer_log_add(&log, "a@example.org", "", "4.4.1", "connection refused", 100);
    defer_log_add(&log, "b@example.org", "B@example.org", "4.2.2", "mailbox full\n100%", 200);
    defer_log_add(&log, "a@example.org", "", "4.4.2", "timeout", 300); /* replaces */
    log.warned = 42;
    assert_int_equal(log.n, 2);
    assert_int_equal(defer_log_write(dir, "ID1", &log, &error), 0);
    assert_int_equal(defer_log_read(dir, "ID1", &back, &error), 1);
    assert_int_equal(back.n, 2);
    assert_int_equal(back.warned, 42);
    const struct defer_entry *e = defer_log_find(&back, "b@example.org");
    assert_non_null(e);
    assert_string_equal(e->orig_rcpt, "B@example.org");
    assert_string_equal(e->reason, "mailbox full\n100%");
    assert_int_equal(e->when, 200);
    e = defer_log_find(&back, "a@example.org");
    assert_string_equal(e->dsn, "4.4.2");
    assert_null(defer_log_find(&back, "c@example.org"));
    /* a malformed log is an error, not half a log */
    char *path = defer_log_path(dir, "ID2");
    FILE *f = fopen(path, "w");
    fputs("rcpt=x\n\n", f);
    fclose(f);
    assert_int_equal(defer_log_read(dir, "ID2", &back, &error), -1);
    assert_non_null(error);
    assert_int_equal(back.n, 0);
    xfree(error);
    assert_int_equal(defer_log_remove(dir, "ID1"), 0);
    assert_int_equal(defer_log_remove(dir, "ID1"), 0); /* already gone: fine */
    assert_int_equal(defer_log_remove(dir, "ID2"), 0);
    defer_log_clear(&log);
    defer_log_clear(&back);
    free(path);
    rmdir(d);
    rmdir(dir);
    free(d);
}

/* A remote server's reply becomes Remote-MTA and an smtp Diagnostic-Code. */
static void test_remote_reply(void **state)
{
    (void)state;
    const struct dsn_rcpt rcpts[] = {
        {"dave@example.net", NULL, "5.7.1",
         "host mx.example.net[192.0.2.1] said: 550 5.7.1 no thanks (in reply to RCPT TO "
         "command)",
         DSN_FAILED},
    };
    struct dsn_report rep = base_report(rcpts, 1);
    str_t *out = str_new(0);
    char *error = NULL;
    assert_int_equal(dsn_format(out, &rep, &error), 0);
    struct parts p;
    split_parts(str_c(out), &p);
    assert_field(p.part[1], "Remote-MTA", "dns; mx.example.net");
    assert_field(p.part[1], "Diagnostic-Code",
                 "smtp; 550 5.7.1 no thanks (in reply to RCPT TO command)");
    free_parts(&p);
    str_free(&out);
}

int main(void)
{
    log_init("test_dsn");
    log_open("tern", "/dev/null");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_failed_report), cmocka_unit_test(test_remote_reply),
        cmocka_unit_test(test_kinds),         cmocka_unit_test(test_headers_only_and_8bit),
        cmocka_unit_test(test_hostile_text),  cmocka_unit_test(test_boundary_collision),
        cmocka_unit_test(test_status_syntax), cmocka_unit_test(test_misuse),
        cmocka_unit_test(test_defer_log),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
