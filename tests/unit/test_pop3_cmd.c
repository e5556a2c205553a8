/*
 * test_pop3_cmd.c - unit tests for pop3d/common/pop3_cmd.c (included whole: it
 * has no I/O): command-line splitting, message numbers, TOP arguments,
 * and the LF -> CRLF, dot-stuffing converter, fed whole and byte by byte.
 */
#include "../../pop3d/common/pop3_cmd.c"

#include "mem.h"

#include <setjmp.h>
#include <cmocka.h>

struct cmd_case {
    const char *line;
    int rc;
    const char *verb, *args;
};

static void test_cmd_parse(void **state)
{
    (void)state;
    static const struct cmd_case cases[] = {
        {"STAT\r\n", 0, "STAT", ""},
        {"stat\r\n", 0, "STAT", ""},
        {"List 3\r\n", 0, "LIST", "3"},
        {"PASS pass with spaces\r\n", 0, "PASS", "pass with spaces"},
        {"QUIT\n", 0, "QUIT", ""},
        {"TOP 1 10", 0, "TOP", "1 10"},
        {"AUTH \r\n", 0, "AUTH", ""},
        {"\r\n", -1, NULL, NULL},
        {" STAT\r\n", -1, NULL, NULL},
        {"ST4T\r\n", -1, NULL, NULL},
        {"TOOLONGVERB x\r\n", -1, NULL, NULL},
        {"NO\tOP\r\n", -1, NULL, NULL},
        {"USER a\rb\r\n", -1, NULL, NULL},
        {"USER \x7f\r\n", -1, NULL, NULL},
    };
    for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
        char *buf = xstrdup(cases[i].line);
        struct pop3_cmd c;
        int rc = pop3_cmd_parse(buf, strlen(buf), &c);
        assert_int_equal(rc, cases[i].rc);
        if (rc == 0) {
            assert_string_equal(c.verb, cases[i].verb);
            assert_string_equal(c.args, cases[i].args);
        }
        free(buf);
    }
    /* A NUL inside the line is a control byte. */
    char nul[] = "NO\0OP\r\n";
    struct pop3_cmd c;
    assert_int_equal(pop3_cmd_parse(nul, sizeof(nul) - 1, &c), -1);
}

static void test_numbers(void **state)
{
    (void)state;
    size_t n;
    long l;
    assert_int_equal(pop3_parse_num("1", 5, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(pop3_parse_num("5", 5, &n), 0);
    assert_int_equal(pop3_parse_num("6", 5, &n), -1);
    assert_int_equal(pop3_parse_num("2", 1, &n), -1); /* above max, one digit */
    assert_int_equal(pop3_parse_num("0", 5, &n), -1);
    assert_int_equal(pop3_parse_num("", 5, &n), -1);
    assert_int_equal(pop3_parse_num("01", 5, &n), -1);
    assert_int_equal(pop3_parse_num("+1", 5, &n), -1);
    assert_int_equal(pop3_parse_num("1 ", 5, &n), -1);
    assert_int_equal(pop3_parse_num("99999999999999999999999", SIZE_MAX, &n), -1);
    assert_int_equal(pop3_parse_num("3", 0, &n), -1); /* empty mailbox */
    assert_int_equal(pop3_parse_top("2 0", 5, &n, &l), 0);
    assert_int_equal(n, 2);
    assert_int_equal(l, 0);
    assert_int_equal(pop3_parse_top("2 10", 5, &n, &l), 0);
    assert_int_equal(l, 10);
    assert_int_equal(pop3_parse_top("2", 5, &n, &l), -1);
    assert_int_equal(pop3_parse_top("2 -1", 5, &n, &l), -1);
    assert_int_equal(pop3_parse_top("9 1", 5, &n, &l), -1);
    assert_int_equal(pop3_parse_top("1  1", 5, &n, &l), -1);
}

struct conv_case {
    const char *in;
    long lines;
    const char *out; /* stuffed wire form, without the final ".\r\n" */
    uint64_t size;   /* out without the stuffing dots */
};

static void conv_check(const struct conv_case *cc, size_t step)
{
    struct pop3_conv cv;
    str_t *out = str_new(64);
    pop3_conv_init(&cv, true, cc->lines);
    size_t len = strlen(cc->in), pos = 0;
    while (pos < len && !cv.done) {
        size_t n = len - pos < step ? len - pos : step;
        size_t used = pop3_conv_run(&cv, cc->in + pos, n, out);
        assert_true(used <= n);
        pos += used;
        if (used < n)
            assert_true(cv.done);
    }
    pop3_conv_finish(&cv, out);
    assert_string_equal(str_c(out), cc->out);
    assert_int_equal(cv.out_bytes, cc->size);
    /* Counting mode agrees (sizes for LIST). */
    if (cc->lines < 0) {
        struct pop3_conv cnt;
        pop3_conv_init(&cnt, false, -1);
        (void)pop3_conv_run(&cnt, cc->in, len, NULL);
        pop3_conv_finish(&cnt, NULL);
        assert_int_equal(cnt.out_bytes, cc->size);
    }
    str_free(&out);
}

static void test_conv(void **state)
{
    (void)state;
    static const struct conv_case cases[] = {
        {"a\nb\n", -1, "a\r\nb\r\n", 6},
        {"a\r\nb\r\n", -1, "a\r\nb\r\n", 6},
        {"a\r\nb\n", -1, "a\r\nb\r\n", 6},
        {"no end", -1, "no end\r\n", 8},
        {"cr end\r", -1, "cr end\r\n", 8},
        {".\n..\n.x\n", -1, "..\r\n...\r\n..x\r\n", 11},
        {"x.\n", -1, "x.\r\n", 4},
        {"", -1, "", 0},
        {"\n", -1, "\r\n", 2},
        {"a\rb\n", -1, "a\rb\r\n", 5},
        {"H: 1\nH: 2\n\nb1\nb2\nb3\n", 0, "H: 1\r\nH: 2\r\n\r\n", 14},
        {"H: 1\nH: 2\n\nb1\nb2\nb3\n", 2, "H: 1\r\nH: 2\r\n\r\nb1\r\nb2\r\n", 22},
        {"H: 1\r\n\r\n.b1\r\nb2\r\n", 1, "H: 1\r\n\r\n..b1\r\n", 13},
        {"H: 1\n\nb1", 5, "H: 1\r\n\r\nb1\r\n", 12},
        {"H: 1\nno body", 0, "H: 1\r\nno body\r\n", 15},
    };
    for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
        conv_check(&cases[i], SIZE_MAX);
        conv_check(&cases[i], 1);
        conv_check(&cases[i], 3);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cmd_parse),
        cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_conv),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
