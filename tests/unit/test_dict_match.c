/*
 * test_dict_match.c - unit tests for the pattern tables: cidr
 * (lib/dict_cidr.c) and regexp (lib/dict_regexp.c), table-driven: each
 * table is text plus lookups with their expected results, and each
 * malformed table must fail to open with an error naming its line.
 */
#include "sys.h"
#include "dict.h"
#include "log.h"
#include "mem.h"

#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>

struct probe {
    const char *key;
    const char *value; /* NULL: not found */
};

struct table_case {
    const char *text;
    struct probe probes[8];
};

struct bad_case {
    const char *text;
    const char *error; /* substring, including the line */
};

typedef dict_t *(*open_text_fn)(const char *, const char *, size_t, int, char **);

static void run_cases(open_text_fn open_text, const struct table_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char *error = NULL;
        dict_t *d = open_text("t", cases[i].text, strlen(cases[i].text), 0, &error);
        if (d == NULL)
            fail_msg("case %zu: %s", i, error);
        for (const struct probe *p = cases[i].probes; p->key != NULL; p++) {
            const char *v = NULL;
            int r = dict_lookup(d, p->key, &v);
            if (p->value == NULL && r != 0)
                fail_msg("case %zu key %s: got %d \"%s\", want not found", i, p->key, r,
                         r == 1 ? v : "");
            if (p->value != NULL && (r != 1 || strcmp(v, p->value) != 0))
                fail_msg("case %zu key %s: got %d \"%s\", want \"%s\"", i, p->key, r,
                         r == 1 ? v : "", p->value);
        }
        dict_close(&d);
    }
}

static void run_bad(open_text_fn open_text, const struct bad_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char *error = NULL;
        dict_t *d = open_text("t", cases[i].text, strlen(cases[i].text), 0, &error);
        if (d != NULL || error == NULL || strstr(error, cases[i].error) == NULL)
            fail_msg("bad case %zu: error \"%s\", want \"%s\"", i, error ? error : "(none)",
                     cases[i].error);
        free(error);
    }
}

static const struct table_case cidr_cases[] = {
    {"10.0.0.0/8 ten\n10.1.0.0/16 never\n0.0.0.0/0 any4\n",
     {{"10.1.2.3", "ten"}, {"192.0.2.1", "any4"}, {"::1", NULL}, {"not-an-ip", NULL}}},
    {"192.0.2.1 host\n192.0.2.0/24 net\n",
     {{"192.0.2.1", "host"}, {"192.0.2.2", "net"}, {"192.0.3.1", NULL}}},
    {"2001:db8::/32 doc\n[::1] loop\n::/0 any6\n",
     {{"2001:db8::5", "doc"}, {"::1", "loop"}, {"fe80::1", "any6"}, {"127.0.0.1", NULL}}},
    {"!10.0.0.0/8 outside\n", {{"10.2.3.4", NULL}, {"11.0.0.1", "outside"}, {"::1", NULL}}},
    {"if 10.0.0.0/8\n10.1.0.0/16 inner\nendif\n0.0.0.0/0 rest\n",
     {{"10.1.1.1", "inner"}, {"10.2.1.1", "rest"}, {"11.1.1.1", "rest"}}},
    {"if !10.0.0.0/8\nif 11.0.0.0/8\n0.0.0.0/0 eleven\nendif\nendif\n",
     {{"11.2.2.2", "eleven"}, {"10.1.1.1", NULL}, {"12.1.1.1", NULL}}},
    {"192.0.2.128/25 upper half\n  of the net\n", {{"192.0.2.200", "upper half of the net"}}},
    {"10.0.0.0/7 x\n", {{"11.255.255.255", "x"}, {"12.0.0.0", NULL}}},
};

static const struct bad_case cidr_bad[] = {
    {"10.0.0.0/8 ok\n10.0.0.1/8 bad\n", "t, line 2: non-null host address bits"},
    {"10.0.0.0/33 x\n", "t, line 1: prefix length 33"},
    {"# c\n300.0.0.0/8 x\n", "t, line 2: bad network address"},
    {"10.0.0.0/8\n", "t, line 1: expected"},
    {"10.0.0.0/x8 r\n", "t, line 1: bad prefix"},
    {"10.0.0.0/ r\n", "t, line 1: bad prefix"},
    {"endif\n", "t, line 1: \"endif\" without"},
    {"a b\n", "t, line 1: bad network address"},
    {"10.0.0.0/8 a\nif 10.0.0.0/8\n", "t, line 2: \"if\" without \"endif\""},
    {"if 10.0.0.0/8 junk\nendif\n", "t, line 1: expected \"if"},
    {"2001:db8::1/32 x\n", "t, line 1: non-null host address bits"},
};

static void test_cidr(void **state)
{
    (void)state;
    run_cases(dict_cidr_open_text, cidr_cases, N_ELEMENTS(cidr_cases));
    run_bad(dict_cidr_open_text, cidr_bad, N_ELEMENTS(cidr_bad));
}

static const struct table_case regexp_cases[] = {
    {"/^user-(.*)@example\\.com$/ $1@example.net\n/./ fallback\n",
     {{"user-bob@example.com", "bob@example.net"},
      {"USER-Bob@EXAMPLE.COM", "Bob@example.net"},
      {"other", "fallback"}}},
    {"/^Exact$/i case-sensitive\n", {{"Exact", "case-sensitive"}, {"exact", NULL}}},
    {"!/@example\\.com$/ foreign\n", {{"a@example.com", NULL}, {"a@elsewhere.org", "foreign"}}},
    {"/^(a)(b)?(c)$/ [$1][$2][$3][$$][${1}]\n", {{"ac", "[a][][c][$][a]"}}},
    {"if /@example\\.com$/\n/^postmaster@/ pm\nendif\n/^postmaster@/ other\n",
     {{"postmaster@example.com", "pm"}, {"postmaster@x.org", "other"}}},
    {"if !/^spam/\n/.*/ clean\nendif\n", {{"spam-1", NULL}, {"ham", "clean"}}},
    {"|x|  pipe delimited\n/a\\/b/ slash\n", {{"x", "pipe delimited"}, {"a/b", "slash"}}},
    {"/^a+$/x basic\n/^b+$/xx extended\n", {{"a+", "basic"}, {"aa", NULL}, {"bb", "extended"}}},
    {"/first/ 1\n/first|second/ 2\n", {{"first", "1"}, {"second", "2"}}},
};

static const struct bad_case regexp_bad[] = {
    {"/ok/ fine\n/(unclosed/ x\n", "t, line 2: bad regular expression"},
    {"/abc x\n", "t, line 1: missing closing '/'"},
    {"/abc/q x\n", "t, line 1: unknown regexp flag 'q'"},
    {"/abc/\n", "t, line 1: missing result"},
    {"/(a)/ $2\n", "t, line 1: $2 out of range"},
    {"!/(a)/ $1\n", "t, line 1: $1 in the result of a negated pattern"},
    {"/a/ $x\n", "t, line 1: bad '$'"},
    {"/a/ ${12}\n", "t, line 1: bad '$'"},
    {"abc x\n", "t, line 1: expected /pattern/"},
    {"endif\n", "t, line 1: \"endif\" without"},
    {"\n\nif /a/\n/b/ c\n", "t, line 3: \"if\" without \"endif\""},
    {"if /a/ junk\nendif\n", "t, line 1: text after"},
};

static void test_regexp(void **state)
{
    (void)state;
    run_cases(dict_regexp_open_text, regexp_cases, N_ELEMENTS(regexp_cases));
    run_bad(dict_regexp_open_text, regexp_bad, N_ELEMENTS(regexp_bad));
}

/* The file-based entry points: cidr:/regexp: open real files. */
static void test_open_files(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_dict_match.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char *path = xasprintf("%s/t", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const char text[] = "/^x/ y\n";
    assert_int_equal(write(fd, text, sizeof(text) - 1), (ssize_t)(sizeof(text) - 1));
    close(fd);
    char *spec = xasprintf("regexp:%s", path);
    char *error = NULL;
    dict_t *d = dict_open(spec, DICT_FLAG_DEFAULT, &error);
    assert_non_null(d);
    const char *v;
    assert_int_equal(dict_lookup(d, "xyz", &v), 1);
    assert_string_equal(v, "y");
    assert_int_equal(dict_lookup(d, "", &v), 0);
    dict_close(&d);
    free(spec);
    spec = xasprintf("cidr:%s", path); /* a regexp file is not a cidr table */
    assert_null(dict_open(spec, DICT_FLAG_DEFAULT, &error));
    assert_non_null(strstr(error, "line 1"));
    free(error);
    free(spec);
    unlink(path);
    rmdir(dir);
    free(path);
}

int main(void)
{
    log_init("test_dict_match");
    log_open("tern", "/dev/null");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cidr),
        cmocka_unit_test(test_regexp),
        cmocka_unit_test(test_open_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
