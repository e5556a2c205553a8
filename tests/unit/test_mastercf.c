/*
 * test_mastercf.c - unit tests for the master.cf parser (lib/mastercf.c):
 * every field, defaults, -o overrides and grouping, each error with its
 * line number, and the shipped conf/master.cf.
 */
#include "sys.h"
#include "log.h"
#include "mastercf.h"
#include "mem.h"
#include "str.h"

#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>

static char log_path[] = "/tmp/test_mastercf.logXXXXXX";

static void log_reset(void)
{
    assert_int_equal(truncate(log_path, 0), 0);
}

static void log_expect(const char *needle)
{
    int fd = open(log_path, O_RDONLY);
    assert_true(fd >= 0);
    str_t *s = str_new(1024);
    char buf[4096];
    ssize_t n;
    while ((n = read(fd, buf, sizeof(buf))) > 0)
        str_append(s, buf, (size_t)n);
    close(fd);
    if (strstr(str_c(s), needle) == NULL)
        fail_msg("log lacks \"%s\"; log is:\n%s", needle, str_c(s));
    str_free(&s);
}

static struct mastercf *parse(const char *text)
{
    log_reset();
    return mastercf_parse_string(text, strlen(text), "m.cf");
}

static void test_fields(void **state)
{
    (void)state;
    struct mastercf *m = parse("# header\n"
                               "smtp      inet  n - n - - smtpd\n"
                               "\n"
                               "127.0.0.1:2525 inet n y y 10? 5 smtpd -v\n"
                               "[::1]:587 inet - n - 0 0 smtpd\n"
                               "*:465 inet n - - - 7 smtpd\n"
                               "pickup    unix  n       -       n       60      1       pickup\n"
                               "cleanup   unix  -       -       -       -       -       cleanup\n"
                               "qmgr fifo n - n 300 1 qmgr\n"
                               "x.y-z_1+2 pass - - - - - smtpd\n");
    assert_non_null(m);
    assert_int_equal(m->count, 8);

    const struct mastercf_entry *e = &m->entries[0];
    assert_string_equal(e->name, "smtp");
    assert_int_equal(e->type, MCF_INET);
    assert_null(e->host);
    assert_string_equal(e->port, "smtp");
    assert_false(e->private_);
    assert_true(e->unpriv);
    assert_false(e->chroot);
    assert_int_equal(e->wakeup, 0);
    assert_false(e->wakeup_if_used);
    assert_int_equal(e->maxproc, -1);
    assert_string_equal(e->command, "smtpd");
    assert_int_equal(e->argc, 1);
    assert_string_equal(e->argv[0], "smtpd");
    assert_null(e->argv[1]);
    assert_int_equal(e->noverrides, 0);
    assert_null(e->overrides[0]);
    assert_string_equal(e->file, "m.cf");
    assert_int_equal(e->line, 2);

    e = &m->entries[1];
    assert_string_equal(e->host, "127.0.0.1");
    assert_string_equal(e->port, "2525");
    assert_true(e->unpriv);
    assert_true(e->chroot);
    assert_int_equal(e->wakeup, 10);
    assert_true(e->wakeup_if_used);
    assert_int_equal(e->maxproc, 5);
    assert_int_equal(e->argc, 2);
    assert_string_equal(e->argv[1], "-v");
    assert_int_equal(e->line, 4);

    e = &m->entries[2];
    assert_string_equal(e->host, "::1");
    assert_string_equal(e->port, "587");
    assert_false(e->unpriv);
    assert_int_equal(e->maxproc, 0);

    e = &m->entries[3];
    assert_null(e->host);
    assert_string_equal(e->port, "465");

    e = &m->entries[4];
    assert_int_equal(e->type, MCF_UNIX);
    assert_false(e->private_);
    assert_int_equal(e->wakeup, 60);
    assert_int_equal(e->maxproc, 1);
    assert_null(e->host);
    assert_null(e->port);

    e = &m->entries[5];
    assert_true(e->private_); /* '-' for unix is y */
    assert_true(e->unpriv);
    assert_false(e->chroot);

    assert_int_equal(m->entries[6].type, MCF_FIFO);
    assert_int_equal(m->entries[7].type, MCF_PASS);
    mastercf_free(&m);
    assert_null(m);
}

static void test_overrides(void **state)
{
    (void)state;
    struct mastercf *m =
        parse("submission inet n - n - - smtpd\n"
              "  -o syslog_name=tern/submission\n"
              "# a comment between\n"
              "  -o smtpd_tls_security_level=encrypt -v\n"
              "  -o { smtpd_client_restrictions = permit_sasl_authenticated, reject }\n"
              "  -o {relayhost=[a]:25}\n");
    assert_non_null(m);
    assert_int_equal(m->count, 1);
    const struct mastercf_entry *e = &m->entries[0];
    assert_int_equal(e->noverrides, 4);
    assert_string_equal(e->overrides[0], "syslog_name=tern/submission");
    assert_string_equal(e->overrides[1], "smtpd_tls_security_level=encrypt");
    assert_string_equal(e->overrides[2],
                        "smtpd_client_restrictions=permit_sasl_authenticated, reject");
    assert_string_equal(e->overrides[3], "relayhost=[a]:25");
    assert_null(e->overrides[4]);
    /* argv is the command line as master will exec it. */
    static const char *const argv[] = {
        "smtpd",
        "-o",
        "syslog_name=tern/submission",
        "-o",
        "smtpd_tls_security_level=encrypt",
        "-v",
        "-o",
        "smtpd_client_restrictions=permit_sasl_authenticated, reject",
        "-o",
        "relayhost=[a]:25"};
    assert_int_equal(e->argc, (int)N_ELEMENTS(argv));
    for (size_t i = 0; i < N_ELEMENTS(argv); i++)
        assert_string_equal(e->argv[i], argv[i]);
    assert_null(e->argv[e->argc]);
    mastercf_free(&m);
}

static const struct {
    const char *text, *msg;
} error_cases[] = {
    {"smtp inet n - n - - \n", "m.cf, line 1: only 7 fields"},
    {"# c\n\nsmtp\n", "m.cf, line 3: only 1 fields"},
    {"smtp tcp n - n - - smtpd\n", "m.cf, line 1: bad service type \"tcp\""},
    {"smtp inet x - n - - smtpd\n", "line 1: bad private field \"x\""},
    {"smtp inet n yes n - - smtpd\n", "line 1: bad unpriv field \"yes\""},
    {"smtp inet n - Y - - smtpd\n", "line 1: bad chroot field \"Y\""},
    {"smtp inet y - n - - smtpd\n", "line 1: an inet service cannot be private"},
    {"smtp inet n - n abc - smtpd\n", "line 1: bad wakeup field \"abc\""},
    {"smtp inet n - n 10?? - smtpd\n", "line 1: bad wakeup field \"10??\""},
    {"smtp inet n - n -5 - smtpd\n", "line 1: bad wakeup field \"-5\""},
    {"smtp inet n - n ? - smtpd\n", "line 1: bad wakeup field \"?\""},
    {"smtp inet n - n 9999999999 - smtpd\n", "line 1: bad wakeup field"},
    {"smtp inet n - n - -1 smtpd\n", "line 1: bad maxproc field \"-1\""},
    {"smtp inet n - n - x smtpd\n", "line 1: bad maxproc field \"x\""},
    {"smtp inet n - n - - smtpd\nsmtp inet n - n - - smtpd\n",
     "m.cf, line 2: duplicate service smtp/inet (first defined on line 1)"},
    {"host: inet n - n - - smtpd\n", "line 1: bad inet service \"host:\""},
    {"[::1]2525 inet n - n - - smtpd\n", "line 1: bad inet service \"[::1]2525\""},
    {"[::1 inet n - n - - smtpd\n", "line 1: bad inet service"},
    {"0 inet n - n - - smtpd\n", "line 1: bad inet service \"0\""},
    {"70000 inet n - n - - smtpd\n", "line 1: bad inet service \"70000\""},
    {"a/b:25 inet n - n - - smtpd\n", "line 1: bad inet service"},
    {"../x unix - - n - - smtpd\n", "line 1: bad service name \"../x\""},
    {"a/b unix - - n - - smtpd\n", "line 1: bad service name \"a/b\""},
    {".hidden unix - - n - - smtpd\n", "line 1: bad service name \".hidden\""},
    {"x unix - - n - - /bin/sh\n", "line 1: bad command \"/bin/sh\""},
    {"x unix - - n - - ../smtpd\n", "line 1: bad command"},
    {"x unix - - n - - smtpd -o\n", "line 1: -o without name=value"},
    {"x unix - - n - - smtpd -o foo\n", "line 1: -o foo: missing '='"},
    {"x unix - - n - - smtpd\n  -o =x\n", "line 1: -o =x: bad parameter name"},
    {"x unix - - n - - smtpd\n  -o bad-name=x\n", "line 1: -o bad-name=x: bad parameter name"},
    {"x unix - - n - - smtpd -o { a = b\n", "line 1: missing '}'"},
    {"x unix - - n - - smtpd -o {a=b}c\n", "line 1: text after '}'"},
    {"  smtp inet n - n - - smtpd\n", "m.cf, line 1: continuation line without a service"},
    {"ok unix - - n - - a\n#c\nbad unix - - n - - /a\n  -o x=y\n", "m.cf, line 3: bad command"},
};

static void test_errors(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_ELEMENTS(error_cases); i++) {
        struct mastercf *m = parse(error_cases[i].text);
        if (m != NULL)
            fail_msg("case %zu parsed: %s", i, error_cases[i].text);
        log_expect(error_cases[i].msg);
    }
}

static void test_binary(void **state)
{
    (void)state;
    static const char text[] = "smtp inet n - n - - smt\0pd\n";
    log_reset();
    assert_null(mastercf_parse_string(text, sizeof(text) - 1, "m.cf"));
    log_expect("m.cf, line 1: NUL byte");
}

static void test_same_name_other_type(void **state)
{
    (void)state;
    struct mastercf *m = parse("smtp inet n - n - - smtpd\nsmtp unix - - n - - smtp\n");
    assert_non_null(m);
    assert_int_equal(m->count, 2);
    mastercf_free(&m);
    m = parse("# only comments\n\n");
    assert_non_null(m);
    assert_int_equal(m->count, 0);
    mastercf_free(&m);
}

/* The shipped file parses, and so does it with every service uncommented. */
static void test_shipped_file(void **state)
{
    (void)state;
    const char *src = getenv("TERN_SRC");
    char *path = xasprintf("%s/conf/master.cf", src && *src ? src : ".");
    if (access(path, R_OK) != 0) {
        free(path);
        skip();
    }
    log_reset();
    struct mastercf *m = mastercf_parse_file(path);
    assert_non_null(m);
    mastercf_free(&m);

    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    str_t *text = str_new(4096);
    char line[1024];
    bool in_services = false;
    while (fgets(line, sizeof(line), fp)) {
        if (strncmp(line, "# =====", 7) == 0 && strstr(line, "=====") && in_services == false &&
            str_len(text) > 0)
            in_services = true;
        if (in_services && line[0] == '#' && line[1] != ' ' && line[1] != '=' && line[1] != '\n')
            str_appendz(text, line + 1);
        else
            str_appendz(text, line);
    }
    fclose(fp);
    m = mastercf_parse_string(str_c(text), str_len(text), "uncommented master.cf");
    assert_non_null(m);
    assert_true(m->count >= 10);
    mastercf_free(&m);
    str_free(&text);
    free(path);

    log_reset();
    assert_null(mastercf_parse_file("/nonexistent/master.cf"));
    log_expect("open /nonexistent/master.cf");
}

static int group_setup(void **state)
{
    (void)state;
    int fd = mkstemp(log_path);
    if (fd < 0)
        return -1;
    close(fd);
    log_init("test_mastercf");
    return log_open("tern", log_path);
}

static int group_teardown(void **state)
{
    (void)state;
    unlink(log_path);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fields),
        cmocka_unit_test(test_overrides),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_binary),
        cmocka_unit_test(test_same_name_other_type),
        cmocka_unit_test(test_shipped_file),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
