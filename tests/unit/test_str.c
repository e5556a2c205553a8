/*
 * test_str.c - unit tests for lib/str.c (and the size helpers in mem.c).
 */
#include "sys.h"
#include "str.h"
#include "mem.h"

#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>

static void assert_str(const str_t *s, const void *data, size_t len)
{
    assert_int_equal(str_len(s), len);
    assert_memory_equal(str_c(s), data, len);
    assert_int_equal(str_c(s)[len], '\0');
    assert_true(s->cap > s->len);
}

static void test_append_grow(void **state)
{
    (void)state;
    str_t *s = str_new(0);
    assert_str(s, "", 0);
    assert_int_equal(str_appendz(s, "abc"), 0);
    assert_int_equal(str_appendc(s, 'd'), 0);
    assert_int_equal(str_append(s, "efgh", 2), 0);
    assert_int_equal(str_appendf(s, "-%d-%s", 42, "x"), 0);
    assert_str(s, "abcdef-42-x", 11);
    /* Growth well past the hint, in small and large steps. */
    for (int i = 0; i < 10000; i++)
        assert_int_equal(str_appendc(s, (char)('a' + i % 26)), 0);
    assert_int_equal(str_len(s), 10011);
    assert_int_equal(str_c(s)[10011 - 1], 'a' + 9999 % 26);
    char big[70000];
    memset(big, 'z', sizeof(big));
    assert_int_equal(str_append(s, big, sizeof(big)), 0);
    assert_int_equal(str_len(s), 80011);
    assert_int_equal(str_appendf(s, "%s", ""), 0);
    assert_int_equal(str_append(s, NULL, 0), 0);
    assert_int_equal(str_len(s), 80011);
    str_free(&s);
    assert_null(s);
    str_free(&s); /* freeing NULL is harmless */
}

static void test_embedded_nul(void **state)
{
    (void)state;
    str_t *s = str_new(4);
    assert_int_equal(str_append(s, "a\0b", 3), 0);
    assert_int_equal(str_appendc(s, '\0'), 0);
    assert_str(s, "a\0b\0", 4);
    assert_int_equal(strlen(str_c(s)), 1);
    str_trim(s); /* NUL is not whitespace */
    assert_int_equal(str_len(s), 4);
    assert_int_equal(str_set(s, "\0\0", 2), 0);
    assert_str(s, "\0\0", 2);
    str_free(&s);
}

/* With a maximum, a failing call leaves the string exactly as it was. */
static void test_max(void **state)
{
    (void)state;
    str_t *s = str_new_max(2, 5);
    assert_int_equal(str_appendz(s, "abc"), 0);
    assert_int_equal(str_appendz(s, "def"), -1);
    assert_str(s, "abc", 3);
    assert_int_equal(str_appendf(s, "%s", "xyz"), -1);
    assert_str(s, "abc", 3);
    assert_int_equal(str_appendz(s, "de"), 0);
    assert_str(s, "abcde", 5); /* exactly the maximum is fine */
    assert_int_equal(str_appendc(s, 'f'), -1);
    assert_int_equal(str_appendf(s, "%d", 1), -1);
    assert_int_equal(str_append(s, "", 0), 0);
    assert_str(s, "abcde", 5);
    assert_int_equal(str_set(s, "123456", 6), -1);
    assert_str(s, "abcde", 5);
    assert_int_equal(str_setz(s, "123456"), -1);
    assert_int_equal(str_setf(s, "%s", "123456"), -1);
    assert_str(s, "abcde", 5);
    assert_int_equal(str_setf(s, "%d", 12345), 0);
    assert_str(s, "12345", 5);
    assert_int_equal(str_setz(s, "xy"), 0);
    assert_str(s, "xy", 2);
    str_reset(s);
    assert_str(s, "", 0);
    char buf[10] = "0123456789";
    assert_int_equal(str_append(s, buf, 6), -1);
    assert_str(s, "", 0);
    str_free(&s);
    /* max 0 means unlimited */
    s = str_new_max(0, 0);
    char big[5000];
    memset(big, 'x', sizeof(big));
    assert_int_equal(str_append(s, big, sizeof(big)), 0);
    str_free(&s);
}

static void test_set_and_truncate(void **state)
{
    (void)state;
    str_t *s = str_new(0);
    assert_int_equal(str_setz(s, "hello world"), 0);
    str_truncate(s, 5);
    assert_str(s, "hello", 5);
    str_truncate(s, 50); /* no-op when already shorter */
    assert_str(s, "hello", 5);
    assert_int_equal(str_setf(s, "%s=%u", "n", 7u), 0);
    assert_str(s, "n=7", 3);
    str_free(&s);
}

/* Appending or setting from the string's own buffer (a copy of a part). */
static void test_self_alias(void **state)
{
    (void)state;
    str_t *s = str_new(0);
    assert_int_equal(str_setz(s, "abcdefgh"), 0);
    /* Doubling forces a reallocation while the source is the old buffer. */
    for (int i = 0; i < 6; i++)
        assert_int_equal(str_append(s, str_c(s), str_len(s)), 0);
    assert_int_equal(str_len(s), 8 * 64);
    assert_memory_equal(str_c(s) + 8 * 63, "abcdefgh", 8);
    assert_int_equal(str_set(s, str_c(s) + 2, 4), 0);
    assert_str(s, "cdef", 4);
    assert_int_equal(str_set(s, str_c(s), 3), 0);
    assert_str(s, "cde", 3);
    str_free(&s);
}

struct chomp_case {
    const char *in;
    const char *out;
    size_t removed;
};

static void test_chomp(void **state)
{
    (void)state;
    static const struct chomp_case cases[] = {
        {"abc\n", "abc", 1},   {"abc\r\n", "abc", 2}, {"abc", "abc", 0},   {"\n", "", 1},
        {"\r\n", "", 2},       {"abc\r", "abc\r", 0}, {"a\n\n", "a\n", 1}, {"", "", 0},
        {"a\r\r\n", "a\r", 2}, {"\n\r", "\n\r", 0},
    };
    str_t *s = str_new(0);
    for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
        str_setz(s, cases[i].in);
        size_t n = str_chomp(s);
        if (n != cases[i].removed || strcmp(str_c(s), cases[i].out) != 0 ||
            str_len(s) != strlen(cases[i].out))
            fail_msg("chomp case %zu: removed %zu, got '%s'", i, n, str_c(s));
    }
    str_free(&s);
}

static void test_trim_lower(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {"  a b  ", "a b"}, {"\t\r\n x\n", "x"}, {"", ""},    {"   ", ""},
        {"abc", "abc"},     {"\va\f", "a"},      {" x", "x"}, {"x ", "x"},
    };
    str_t *s = str_new(0);
    for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
        str_setz(s, cases[i][0]);
        str_trim(s);
        assert_string_equal(str_c(s), cases[i][1]);
        assert_int_equal(str_len(s), strlen(cases[i][1]));
    }
    str_setz(s, "MiXeD-Case_\xc3\x89 123");
    str_lower(s);
    assert_string_equal(str_c(s), "mixed-case_\xc3\x89 123"); /* ASCII only */
    str_free(&s);
}

static void test_printable(void **state)
{
    (void)state;
    str_t *s = str_new(0);
    str_append_printable(s,
                         "a\tb\x80"
                         "c\x7f\0d\n",
                         9, 100);
    assert_str(s, "a?b?c??d?", 9);
    str_reset(s);
    str_append_printable(s, "0123456789", 10, 4);
    assert_string_equal(str_c(s), "0123...");
    str_reset(s);
    str_append_printable(s, "0123", 4, 4);
    assert_string_equal(str_c(s), "0123");
    str_reset(s);
    str_append_printable(s, "", 0, 4);
    assert_string_equal(str_c(s), "");
    str_free(&s);
    /* A maximum still bounds it (no overflow, stops cleanly). */
    s = str_new_max(0, 3);
    str_append_printable(s, "abcdef", 6, 100);
    assert_int_equal(str_len(s), 3);
    str_free(&s);
}

static void test_lcpy(void **state)
{
    (void)state;
    char buf[6];
    assert_int_equal(str_lcpy(buf, "abc", sizeof(buf)), 0);
    assert_string_equal(buf, "abc");
    assert_int_equal(str_lcpy(buf, "abcde", sizeof(buf)), 0); /* exact fit */
    assert_string_equal(buf, "abcde");
    assert_int_equal(str_lcpy(buf, "abcdef", sizeof(buf)), -1);
    assert_string_equal(buf, "abcde"); /* truncated but terminated */
    assert_int_equal(str_lcpy(buf, "", sizeof(buf)), 0);
    assert_string_equal(buf, "");
    buf[0] = 'Q';
    assert_int_equal(str_lcpy(buf, "x", 0), -1);
    assert_int_equal(buf[0], 'Q'); /* size 0: nothing written */
    assert_int_equal(str_lcpy(buf, "x", 1), -1);
    assert_string_equal(buf, "");
}

static void test_steal_asprintf(void **state)
{
    (void)state;
    str_t *s = str_new(0);
    str_appendz(s, "stolen");
    char *p = str_steal(&s);
    assert_null(s);
    assert_string_equal(p, "stolen");
    free(p);
    p = xasprintf("%s:%05d:%c", "a", 42, 'z');
    assert_string_equal(p, "a:00042:z");
    free(p);
    char big[3000];
    memset(big, 'b', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    p = xasprintf("<%s>", big);
    assert_int_equal(strlen(p), sizeof(big) + 1);
    free(p);
}

static void test_mem(void **state)
{
    (void)state;
    assert_int_equal(size_add(1, 2), 3);
    assert_int_equal(size_mul(3, 4), 12);
    assert_true(size_add(SIZE_MAX - 1, 1) == SIZE_MAX);
    char *p = xstrndup("abcdef", 3);
    assert_string_equal(p, "abc");
    free(p);
    p = xstrndup("ab", 10);
    assert_string_equal(p, "ab");
    free(p);
    p = xmemdup("a\0b", 3);
    assert_memory_equal(p, "a\0b", 3);
    free(p);
    int *a = xcalloc(4, sizeof(int));
    assert_int_equal(a[3], 0);
    a = xreallocarray(a, 8, sizeof(int));
    free(a);
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

static void overflow_add(void)
{
    size_add(SIZE_MAX, 1);
}

static void overflow_mul(void)
{
    size_mul(SIZE_MAX / 2, 3);
}

static void overflow_append(void)
{
    str_t *s = str_new(0);
    str_appendc(s, 'x');
    str_append(s, "y", SIZE_MAX); /* a hostile length: must not wrap */
}

static void test_misuse_panics(void **state)
{
    (void)state;
    void (*fns[])(void) = {overflow_add, overflow_mul, overflow_append};
    for (size_t i = 0; i < N_ELEMENTS(fns); i++) {
        int st = in_child(fns[i]);
        if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGABRT)
            fail_msg("case %zu did not abort (status %d)", i, st);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_append_grow), cmocka_unit_test(test_embedded_nul),
        cmocka_unit_test(test_max),         cmocka_unit_test(test_set_and_truncate),
        cmocka_unit_test(test_self_alias),  cmocka_unit_test(test_chomp),
        cmocka_unit_test(test_trim_lower),  cmocka_unit_test(test_printable),
        cmocka_unit_test(test_lcpy),        cmocka_unit_test(test_steal_asprintf),
        cmocka_unit_test(test_mem),         cmocka_unit_test(test_misuse_panics),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
