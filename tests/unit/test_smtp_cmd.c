/*
 * test_smtp_cmd.c - unit tests for lib/smtp_cmd.c (command line parsing,
 * DATA/BDAT content decoding, smuggling resistance) and lib/smtp_access.c
 * (access(5) results).
 */
#include "sys.h"
#include "smtp_access.h"
#include "smtp_cmd.h"

#include <setjmp.h>
#include <cmocka.h>

static void test_cmd_table(void **state)
{
    (void)state;
    static const struct {
        const char *line;
        int rc;
        enum smtp_verb verb;
        const char *arg;
        int reply;
    } cases[] = {
        {"EHLO client.example.org", 0, SMTP_VERB_EHLO, "client.example.org", 0},
        {"ehlo   x  ", 0, SMTP_VERB_EHLO, "x", 0},
        {"HELO", -1, SMTP_VERB_HELO, NULL, 501},
        {"MAIL FROM:<a@b.c> SIZE=10", 0, SMTP_VERB_MAIL, "<a@b.c> SIZE=10", 0},
        {"mail from: <a@b.c>", 0, SMTP_VERB_MAIL, " <a@b.c>", 0},
        {"MAIL TO:<a@b.c>", -1, SMTP_VERB_MAIL, NULL, 501},
        {"MAIL", -1, SMTP_VERB_MAIL, NULL, 501},
        {"RCPT TO:<x@y.z>", 0, SMTP_VERB_RCPT, "<x@y.z>", 0},
        {"RCPT FROM:<x@y.z>", -1, SMTP_VERB_RCPT, NULL, 501},
        {"DATA", 0, SMTP_VERB_DATA, "", 0},
        {"DATA x", -1, SMTP_VERB_DATA, NULL, 501},
        {"RSET", 0, SMTP_VERB_RSET, "", 0},
        {"NOOP anything", 0, SMTP_VERB_NOOP, "anything", 0},
        {"QUIT", 0, SMTP_VERB_QUIT, "", 0},
        {"VRFY", -1, SMTP_VERB_VRFY, NULL, 501},
        {"HELP", 0, SMTP_VERB_HELP, "", 0},
        {"FOO", -1, SMTP_VERB_UNKNOWN, NULL, 502},
        {"MAILX FROM:<>", -1, SMTP_VERB_UNKNOWN, NULL, 502},
        {"", -1, SMTP_VERB_UNKNOWN, NULL, 500},
        {"   ", -1, SMTP_VERB_UNKNOWN, NULL, 500},
        {"NOOP\r", -1, SMTP_VERB_UNKNOWN, NULL, 500},
        {"NOOP \x7f", -1, SMTP_VERB_UNKNOWN, NULL, 500},
        {"BDAT 100", 0, SMTP_VERB_BDAT, "100", 0},
        {"BDAT 0 LAST", 0, SMTP_VERB_BDAT, "0 LAST", 0},
        {"BDAT", -1, SMTP_VERB_BDAT, NULL, 501},
        {"BDAT -1", -1, SMTP_VERB_BDAT, NULL, 501},
        {"BDAT 10 FIRST", -1, SMTP_VERB_BDAT, NULL, 501},
        {"BDAT 99999999999999999999", -1, SMTP_VERB_BDAT, NULL, 501},
    };
    for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
        struct smtp_cmd c;
        int rc = smtp_cmd_parse(cases[i].line, strlen(cases[i].line), &c);
        if (rc != cases[i].rc || c.verb != cases[i].verb)
            fail_msg("case %zu (%s): rc %d verb %d", i, cases[i].line, rc, c.verb);
        if (rc == 0) {
            assert_int_equal(c.arg_len, strlen(cases[i].arg));
            assert_memory_equal(c.arg, cases[i].arg, c.arg_len);
        } else {
            assert_int_equal(c.reply, cases[i].reply);
            assert_non_null(c.dsn);
            assert_non_null(c.error);
        }
    }
}

static void test_cmd_nul_and_bdat(void **state)
{
    (void)state;
    struct smtp_cmd c;
    assert_int_equal(smtp_cmd_parse("NOOP a\0b", 8, &c), -1);
    assert_int_equal(c.reply, 500);
    assert_int_equal(smtp_cmd_parse("BDAT 1234 last", 14, &c), 0);
    assert_true(c.bdat_last);
    assert_int_equal(c.bdat_size, 1234);
    assert_int_equal(smtp_cmd_parse("BDAT 9223372036854775807", 24, &c), 0);
    assert_int_equal(smtp_cmd_parse("BDAT 9223372036854775808", 24, &c), -1);
    assert_true(smtp_cmd_parse("EHLO x", 6, &c) == 0 && c.ends_group);
    assert_true(smtp_cmd_parse("RCPT TO:<a>", 11, &c) == 0 && !c.ends_group);
    assert_string_equal(smtp_verb_name(SMTP_VERB_MAIL), "MAIL");
    assert_string_equal(smtp_verb_name(SMTP_VERB_UNKNOWN), "unknown");
}

/* Decode all of in, byte by byte when split, and return status and output. */
static int decode(const char *in, enum smtp_data_mode mode, bool lf_ok, bool split, str_t *out,
                  size_t *used_r)
{
    struct smtp_data d;
    smtp_data_init(&d, mode, lf_ok);
    size_t len = strlen(in), pos = 0;
    int st = SMTP_DATA_MORE;
    while (pos < len && st == SMTP_DATA_MORE) {
        size_t n = split ? 1 : len - pos, used;
        st = smtp_data_feed(&d, in + pos, n, out, &used);
        pos += used;
    }
    if (mode == SMTP_DATA_RAW)
        smtp_data_finish(&d, out);
    *used_r = pos;
    return st;
}

static void test_data_table(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        enum smtp_data_mode mode;
        bool lf_ok;
        int st;
        const char *out;
        size_t used; /* 0: all */
    } cases[] = {
        {"a\r\nb\r\n.\r\n", SMTP_DATA_DOT, false, SMTP_DATA_END, "a\nb\n", 0},
        {".\r\n", SMTP_DATA_DOT, false, SMTP_DATA_END, "", 0},
        {"..x\r\n.\r\nQUIT\r\n", SMTP_DATA_DOT, false, SMTP_DATA_END, ".x\n", 8},
        {".x\r\n", SMTP_DATA_DOT, false, SMTP_DATA_MORE, "x\n", 0},
        /* smuggling attempts never end the message */
        {"a\r\n.\nMAIL\r\n", SMTP_DATA_DOT, false, SMTP_DATA_BARE_LF, "a\n.", 5},
        {"a\n.\nb\r\n", SMTP_DATA_DOT, true, SMTP_DATA_MORE, "a\n.\nb\n", 0},
        {"a\n.\r\nb\r\n.\r\n", SMTP_DATA_DOT, true, SMTP_DATA_END, "a\n.\nb\n", 0},
        {"\n.\r\n", SMTP_DATA_DOT, true, SMTP_DATA_MORE, "\n.\n", 0},
        {"a\r.\r\nb\r\n", SMTP_DATA_DOT, false, SMTP_DATA_MORE, "a\r.\nb\n", 0},
        {"a\r\n.\rb\r\n", SMTP_DATA_DOT, false, SMTP_DATA_MORE, "a\n\rb\n", 0},
        {"a\r\r\n", SMTP_DATA_DOT, false, SMTP_DATA_MORE, "a\r\n", 0},
        {"a\nb", SMTP_DATA_DOT, false, SMTP_DATA_BARE_LF, "a", 2},
        /* BDAT: no dots, CRLF -> LF, bare LF fine, trailing CR kept */
        {".\r\nx\ny\r", SMTP_DATA_RAW, false, SMTP_DATA_MORE, ".\nx\ny\r", 0},
        {"a\r\r\nb", SMTP_DATA_RAW, false, SMTP_DATA_MORE, "a\r\nb", 0},
    };
    for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
        for (int split = 0; split < 2; split++) {
            str_t *out = str_new(16);
            size_t used;
            int st = decode(cases[i].in, cases[i].mode, cases[i].lf_ok, split, out, &used);
            size_t want_used = cases[i].used ? cases[i].used : strlen(cases[i].in);
            if (st != cases[i].st || strcmp(str_c(out), cases[i].out) != 0 || used != want_used)
                fail_msg("case %zu split %d: st %d used %zu out '%s'", i, split, st, used,
                         str_c(out));
            str_free(&out);
        }
    }
}

static void test_access_table(void **state)
{
    (void)state;
    static const struct {
        const char *v;
        int rc;
        enum smtp_access_action action;
        int code;
        const char *dsn;
        const char *text;
    } cases[] = {
        {"OK", 0, SMTP_ACCESS_PERMIT, 0, "", ""},
        {"permit", 0, SMTP_ACCESS_PERMIT, 0, "", ""},
        {"12345", 0, SMTP_ACCESS_PERMIT, 0, "", ""},
        {"DUNNO", 0, SMTP_ACCESS_DUNNO, 0, "", ""},
        {"REJECT", 0, SMTP_ACCESS_REJECT, 554, "5.7.1", "Access denied"},
        {"REJECT go away", 0, SMTP_ACCESS_REJECT, 554, "5.7.1", "go away"},
        {"DEFER", 0, SMTP_ACCESS_REJECT, 450, "4.7.1", "Access denied"},
        {"550 5.1.1 no such", 0, SMTP_ACCESS_REJECT, 550, "5.1.1", "no such"},
        {"421 later", 0, SMTP_ACCESS_REJECT, 421, "4.7.1", "later"},
        {"550 4.1.1 mismatch", -1, SMTP_ACCESS_DUNNO, 0, "", ""},
        {"250 ok", -1, SMTP_ACCESS_DUNNO, 0, "", ""},
        {"", -1, SMTP_ACCESS_DUNNO, 0, "", ""},
        {"reject_non_fqdn_sender, permit", 0, SMTP_ACCESS_RESTRICTIONS, 0, "",
         "reject_non_fqdn_sender, permit"},
    };
    for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
        struct smtp_access_result r;
        const char *err = NULL;
        int rc = smtp_access_parse(cases[i].v, &r, &err);
        if (rc != cases[i].rc)
            fail_msg("case %zu (%s): rc %d", i, cases[i].v, rc);
        if (rc < 0) {
            assert_non_null(err);
            continue;
        }
        assert_int_equal(r.action, cases[i].action);
        assert_int_equal(r.code, cases[i].code);
        assert_string_equal(r.dsn, cases[i].dsn);
        assert_string_equal(r.text, cases[i].text);
    }
    char long_text[1000];
    memset(long_text, 'x', sizeof(long_text) - 1);
    long_text[sizeof(long_text) - 1] = '\0';
    memcpy(long_text, "REJECT ", 7);
    struct smtp_access_result r;
    const char *err;
    assert_int_equal(smtp_access_parse(long_text, &r, &err), -1);
    assert_true(smtp_dsn_valid("5.7.1", 5));
    assert_true(smtp_dsn_valid("4.123.456", 9));
    assert_false(smtp_dsn_valid("3.7.1", 5));
    assert_false(smtp_dsn_valid("5.7", 3));
    assert_false(smtp_dsn_valid("5.7.1.2", 7));
    assert_false(smtp_dsn_valid("5.1234.1", 8));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cmd_table),
        cmocka_unit_test(test_cmd_nul_and_bdat),
        cmocka_unit_test(test_data_table),
        cmocka_unit_test(test_access_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
