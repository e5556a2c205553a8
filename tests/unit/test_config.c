/*
 * test_config.c - unit tests for main.cf loading (lib/config.c) and the
 * parameter table (lib/params.c): syntax, expansion, types, errors with
 * their line numbers, overrides, unknown names, reload and misuse.
 */
#include "sys.h"
#include "config.h"
#include "log.h"
#include "mem.h"
#include "str.h"

#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

static char log_path[] = "/tmp/test_config.logXXXXXX";

/* ---- log capture -------------------------------------------------------- */

static void log_reset(void)
{
    assert_int_equal(truncate(log_path, 0), 0);
}

/* Everything logged since log_reset() (caller frees). */
static char *log_text(void)
{
    int fd = open(log_path, O_RDONLY);
    assert_true(fd >= 0);
    str_t *s = str_new(1024);
    char buf[4096];
    ssize_t n;
    while ((n = read(fd, buf, sizeof(buf))) > 0)
        str_append(s, buf, (size_t)n);
    close(fd);
    return str_steal(&s);
}

static void log_expect(const char *needle)
{
    char *text = log_text();
    if (strstr(text, needle) == NULL)
        fail_msg("log lacks \"%s\"; log is:\n%s", needle, text);
    free(text);
}

static void log_expect_none(const char *needle)
{
    char *text = log_text();
    if (strstr(text, needle) != NULL)
        fail_msg("log unexpectedly has \"%s\":\n%s", needle, text);
    free(text);
}

static int load(const char *text)
{
    log_reset();
    return config_load_string(text, strlen(text), "t.cf");
}

/* ---- the table ---------------------------------------------------------- */

static void test_table_sane(void **state)
{
    (void)state;
    assert_true(param_table_count > 50);
    for (size_t i = 0; i < param_table_count; i++) {
        const struct param_def *d = &param_table[i];
        if (i > 0)
            assert_true(strcmp(param_table[i - 1].name, d->name) < 0);
        assert_ptr_equal(param_find(d->name), d);
        assert_non_null(d->def);
        assert_true(d->doc != NULL && strlen(d->doc) > 10);
        if (d->type == PARAM_TIME)
            assert_non_null(strchr("smhdw", d->time_unit));
    }
    assert_null(param_find("no_such_parameter"));
    assert_null(param_find(""));
}

static void test_defaults(void **state)
{
    (void)state;
    assert_int_equal(load(""), 0);
    static const struct {
        const char *name, *value;
    } want[] = {
        {"mail_owner", "tern"},
        {"setgid_group", "terndrop"},
        {"default_privs", "nobody"},
        {"syslog_name", "tern"},
        {"inet_interfaces", "all"},
        {"mynetworks", "127.0.0.0/8 [::1]/128"},
        {"message_size_limit", "26214400"},
        {"line_length_limit", "2048"},
        {"max_idle", "100s"},
        {"default_database_type", "hash"},
        {"maillog_file", ""},
        {"relayhost", ""},
    };
    for (size_t i = 0; i < N_ELEMENTS(want); i++)
        assert_string_equal(cfg_str(want[i].name), want[i].value);
    assert_int_equal(cfg_int("message_size_limit"), 26214400);
    assert_int_equal(cfg_int("default_process_limit"), 100);
    assert_int_equal(cfg_time("max_idle"), 100);
    assert_int_equal(cfg_time("ipc_timeout"), 3600);
    assert_int_equal(cfg_time("maximal_queue_lifetime"), 5 * 86400);
    assert_false(cfg_bool("soft_bounce"));

    /* Host-dependent defaults. */
    char host[256] = "";
    gethostname(host, sizeof(host));
    assert_string_equal(cfg_str("myhostname"), host);
    const char *dot = strchr(host, '.');
    assert_string_equal(cfg_str("mydomain"), dot && dot[1] ? dot + 1 : "localdomain");
    str_t *banner = str_new(64);
    str_appendf(banner, "%s ESMTP tern", host);
    assert_string_equal(cfg_str("smtpd_banner"), str_c(banner));
    str_free(&banner);
}

static void test_computed_domain(void **state)
{
    (void)state;
    assert_int_equal(load("myhostname = mx1.example.com\n"), 0);
    assert_string_equal(cfg_str("mydomain"), "example.com");
    assert_string_equal(cfg_default("mydomain"), "example.com");
    assert_string_equal(cfg_str("mydestination"),
                        "mx1.example.com, localhost.example.com, localhost");
    assert_int_equal(load("myhostname = single\n"), 0);
    assert_string_equal(cfg_str("mydomain"), "localdomain");
    assert_int_equal(load("myhostname = trailing.\n"), 0);
    assert_string_equal(cfg_str("mydomain"), "localdomain");
    bool set = true;
    assert_string_equal(cfg_raw("myorigin", &set), "$myhostname");
    assert_false(set);
}

/* ---- syntax and expansion ----------------------------------------------- */

static const struct {
    const char *text, *name, *value;
} syntax_cases[] = {
    {"relayhost = x\n", "relayhost", "x"},
    {"relayhost=x", "relayhost", "x"},
    {"relayhost   =   x y  \t\n", "relayhost", "x y"},
    {"relayhost =\n", "relayhost", ""},
    {"relayhost = a=b\n", "relayhost", "a=b"},
    {"relayhost = x\r\n", "relayhost", "x"},
    {"# comment\n\n   \nrelayhost = x\n", "relayhost", "x"},
    {"relayhost = x # not a comment\n", "relayhost", "x # not a comment"},
    {"mynetworks = a,\n  b,\n\tc\n", "mynetworks", "a, b, c"},
    {"mynetworks = a\n# comment inside\n  b\n", "mynetworks", "a b"},
    {"mynetworks = a\n\n  b\n", "mynetworks", "a b"},
    {"mynetworks = a\n    # indented comment\n  b\n", "mynetworks", "a b"},
    {"relayhost = one\nrelayhost = two\n", "relayhost", "two"},
    {"myhostname = h.example\nrelayhost = $myhostname\n", "relayhost", "h.example"},
    {"myhostname = h\nrelayhost = ${myhostname}x\n", "relayhost", "hx"},
    {"myhostname = h\nrelayhost = $(myhostname)x\n", "relayhost", "hx"},
    {"myhostname = h\nrelayhost = [$myhostname]:25\n", "relayhost", "[h]:25"},
    {"relayhost = a$$b\n", "relayhost", "a$b"},
    {"relayhost = cost $ 5\n", "relayhost", "cost $ 5"},
    {"relayhost = $undefined_thing.x\n", "relayhost", ".x"},
    {"foo = bar\nrelayhost = <$foo>\n", "relayhost", "<bar>"},
    {"relayhost = $foo\nfoo = later\n", "relayhost", "later"},
    {"relayhost = ${mail_name?set}\n", "relayhost", "set"},
    {"relayhost = ${maillog_file?set}\n", "relayhost", ""},
    {"relayhost = ${mail_name:empty}\n", "relayhost", ""},
    {"relayhost = ${maillog_file:empty}\n", "relayhost", "empty"},
    {"relayhost = ${mail_name?{$mail_name}}\n", "relayhost", "{tern}"},
    {"relayhost = ${mail_name?${syslog_name}x}\n", "relayhost", "ternx"},
    {"a = $b\nb = $c\nc = deep\nrelayhost = $a\n", "relayhost", "deep"},
    {"relayhost = $mail_name$mail_name\n", "relayhost", "terntern"},
    {"mail_name = x\nsmtpd_banner = $myhostname ESMTP $mail_name\n", "mail_name", "x"},
};

static void test_syntax(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_ELEMENTS(syntax_cases); i++) {
        const char *text = syntax_cases[i].text;
        if (load(text) != 0)
            fail_msg("case %zu: load failed for \"%s\"", i, text);
        const char *got = cfg_str(syntax_cases[i].name);
        if (strcmp(got, syntax_cases[i].value) != 0)
            fail_msg("case %zu: %s = \"%s\", want \"%s\"", i, syntax_cases[i].name, got,
                     syntax_cases[i].value);
        log_expect_none("error:");
    }
}

static void test_raw_and_expand(void **state)
{
    (void)state;
    assert_int_equal(load("myhostname = h.example\nmyorigin = $mydomain\n"), 0);
    bool set = false;
    assert_string_equal(cfg_raw("myorigin", &set), "$mydomain");
    assert_true(set);
    assert_string_equal(cfg_str("myorigin"), "example");
    char *e = cfg_expand("x${myhostname}y$myorigin");
    assert_string_equal(e, "xh.exampleyexample");
    free(e);
    log_reset();
    e = cfg_expand("bad ${myhostname");
    log_expect("missing '}'");
    free(e);
}

/* ---- typed values ------------------------------------------------------- */

static void test_types(void **state)
{
    (void)state;
    assert_int_equal(load("max_idle = 5m\nipc_timeout = 2h\nmaximal_queue_lifetime = 3\n"
                          "bounce_queue_lifetime = 1w\nqueue_run_delay = 7\n"
                          "soft_bounce = YES\nsmtpd_helo_required = on\n"
                          "disable_vrfy_command = 1\nsmtputf8_enable = false\n"
                          "message_size_limit = 0\nmax_use = 7\n"),
                     0);
    assert_int_equal(cfg_time("max_idle"), 300);
    assert_int_equal(cfg_time("ipc_timeout"), 7200);
    assert_int_equal(cfg_time("maximal_queue_lifetime"), 3 * 86400); /* bare: days */
    assert_int_equal(cfg_time("bounce_queue_lifetime"), 7 * 86400);
    assert_int_equal(cfg_time("queue_run_delay"), 7);
    assert_true(cfg_bool("soft_bounce"));
    assert_true(cfg_bool("smtpd_helo_required"));
    assert_true(cfg_bool("disable_vrfy_command"));
    assert_false(cfg_bool("smtputf8_enable"));
    assert_int_equal(cfg_int("message_size_limit"), 0);
    assert_int_equal(cfg_int("max_use"), 7);
}

static void test_lists(void **state)
{
    (void)state;
    assert_int_equal(load("mynetworks = 10.0.0.0/8,, 192.168.0.0/16\n\t[::1]/128 ,\n"), 0);
    char **l = cfg_list("mynetworks");
    assert_string_equal(l[0], "10.0.0.0/8");
    assert_string_equal(l[1], "192.168.0.0/16");
    assert_string_equal(l[2], "[::1]/128");
    assert_null(l[3]);
    cfg_list_free(&l);
    assert_null(l);
    l = cfg_list("relay_domains");
    assert_null(l[0]);
    cfg_list_free(&l);
    assert_int_equal(load("mydestination = a b c d e f g h i j k l m n\n"), 0);
    l = cfg_list("mydestination");
    size_t n = 0;
    while (l[n])
        n++;
    assert_int_equal(n, 14);
    cfg_list_free(&l);
}

/* Postfix list syntax: "{...}" groups; a bare "{ text }" loses its braces. */
static const struct {
    const char *value;
    const char *want[5]; /* NULL-terminated */
} list_cases[] = {
    {"inline:{ a=b, c=d }", {"inline:{ a=b, c=d }"}},
    {"inline:{ a=b, c=d }, texthash:/x", {"inline:{ a=b, c=d }", "texthash:/x"}},
    {"static:{ some text, here }\n\tx", {"static:{ some text, here }", "x"}},
    {"{ a b, c }  d", {"a b, c", "d"}},
    {"{a}", {"a"}},
    {"{ { nested } }", {"{ nested }"}},
    {"{a}{b} c", {"{a}{b}", "c"}},
    {"{a}b", {"{a}b"}},
    {"x{ y z }w, v", {"x{ y z }w", "v"}},
    {"{}, { }, a", {"a"}},
    {"inline:{ { k = v, w } }", {"inline:{ { k = v, w } }"}},
    {",,, ,", {NULL}},
};

static void test_list_braces(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_ELEMENTS(list_cases); i++) {
        char *text = xasprintf("alias_maps = %s\n", list_cases[i].value);
        if (load(text) != 0)
            fail_msg("case %zu: \"%s\" did not load", i, list_cases[i].value);
        free(text);
        char **l = cfg_list("alias_maps");
        size_t n = 0;
        for (; list_cases[i].want[n] != NULL; n++) {
            if (l[n] == NULL || strcmp(l[n], list_cases[i].want[n]) != 0)
                fail_msg("case %zu: element %zu is \"%s\", want \"%s\"", i, n,
                         l[n] ? l[n] : "(end)", list_cases[i].want[n]);
        }
        if (l[n] != NULL)
            fail_msg("case %zu: extra element \"%s\"", i, l[n]);
        cfg_list_free(&l);
        /* The same splitter for any text. */
        l = config_list_split(list_cases[i].value);
        for (n = 0; list_cases[i].want[n] != NULL; n++)
            assert_string_equal(l[n], list_cases[i].want[n]);
        assert_null(l[n]);
        cfg_list_free(&l);
    }
    /* Unbalanced braces in a list are a load error with the line number. */
    assert_int_equal(load("mail_name = x\nalias_maps = inline:{ a=b\n"), -1);
    log_expect("line 2: parameter alias_maps: missing '}' in list");
    assert_int_equal(load("alias_maps = a }, b\n"), -1);
    log_expect("line 1: parameter alias_maps: unexpected '}'");
    /* Braces in a string parameter are nobody's business. */
    assert_int_equal(load("smtpd_banner = }{\n"), 0);
    assert_null(config_list_check("a {b} {c {d}}"));
    assert_non_null(config_list_check("{"));
    assert_non_null(config_list_check("}{"));
}

static void test_parse_time(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        char unit;
        int ok;
        long long secs;
    } cases[] = {
        {"0", 's', 0, 0},
        {"10", 's', 0, 10},
        {"10", 'm', 0, 600},
        {"10", 'h', 0, 36000},
        {"2", 'd', 0, 172800},
        {"10s", 'd', 0, 10},
        {"5m", 's', 0, 300},
        {"1w", 's', 0, 604800},
        {"", 's', -1, 0},
        {"s", 's', -1, 0},
        {"5x", 's', -1, 0},
        {"-5", 's', -1, 0},
        {"5ss", 's', -1, 0},
        {" 5", 's', -1, 0},
        {"5 s", 's', -1, 0},
        {"99999999999999999999", 's', -1, 0},
        {"999999999999999999w", 's', -1, 0},
    };
    for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
        long long secs = -1;
        int rc = config_parse_time(cases[i].text, cases[i].unit, &secs);
        if (rc != cases[i].ok)
            fail_msg("case %zu \"%s\": rc %d", i, cases[i].text, rc);
        if (rc == 0)
            assert_int_equal(secs, cases[i].secs);
    }
}

static void test_parse_bool(void **state)
{
    (void)state;
    static const char *const yes[] = {"yes", "YES", "true", "On", "1"};
    static const char *const no[] = {"no", "False", "off", "0"};
    static const char *const bad[] = {"", "y", "n", "2", "yes ", "maybe"};
    bool v;
    for (size_t i = 0; i < N_ELEMENTS(yes); i++)
        assert_true(config_parse_bool(yes[i], &v) == 0 && v);
    for (size_t i = 0; i < N_ELEMENTS(no); i++)
        assert_true(config_parse_bool(no[i], &v) == 0 && !v);
    for (size_t i = 0; i < N_ELEMENTS(bad); i++)
        assert_int_equal(config_parse_bool(bad[i], &v), -1);
}

/* ---- errors, each with its line ----------------------------------------- */

static const struct {
    const char *text, *msg;
} error_cases[] = {
    {"relayhost x\n", "t.cf, line 1: missing '=' after parameter name"},
    {"# c\n\nrelayhost x\n", "t.cf, line 3: missing '='"},
    {"relayhost = a\n\n# c\nbad-name = x\n", "t.cf, line 4: bad parameter name"},
    {"= x\n", "t.cf, line 1: missing parameter name"},
    {"  relayhost = x\n", "t.cf, line 1: continuation line without a parameter"},
    {"message_size_limit = 10k\n",
     "t.cf, line 1: parameter message_size_limit: bad numeric value \"10k\""},
    {"message_size_limit = \n", "line 1: parameter message_size_limit: bad numeric value"},
    {"max_use = 99999999999999999999999\n", "line 1: parameter max_use: bad numeric value"},
    {"x = 1\nmax_idle = 5y\n", "t.cf, line 2: parameter max_idle: bad time value \"5y\""},
    {"max_idle = -5s\n", "line 1: parameter max_idle: bad time value"},
    {"soft_bounce = perhaps\n",
     "t.cf, line 1: parameter soft_bounce: bad boolean value \"perhaps\""},
    {"default_process_limit = 0\n",
     "line 1: parameter default_process_limit: value \"0\" is below the minimum 1"},
    {"message_size_limit = -1\n",
     "line 1: parameter message_size_limit: value \"-1\" is below the minimum 0"},
    {"max_idle = 0\n", "line 1: parameter max_idle: value \"0\" is below the minimum 1"},
    {"relayhost = $relayhost\n",
     "t.cf, line 1: parameter relayhost: expansion loop: relayhost -> relayhost"},
    {"a = $b\nb = ${a}\n", "t.cf, line 1: parameter a: expansion loop: a -> b -> a"},
    {"a = $b\nb = $(a)\n", "t.cf, line 2: parameter b: expansion loop: b -> a -> b"},
    {"relayhost = ${mail_name?$relayhost}\n", "line 1: parameter relayhost: expansion loop"},
    {"myhostname = $mydomain\n",
     "line 1: parameter myhostname: expansion loop: myhostname -> mydomain -> myhostname"},
    {"relayhost = ${mail_name\n", "line 1: parameter relayhost: missing '}'"},
    {"relayhost = $(mail_name\n", "line 1: parameter relayhost: missing ')'"},
    {"relayhost = ${mail_name!x}\n",
     "line 1: parameter relayhost: bad character after parameter name mail_name"},
    {"relayhost = ${}\n", "line 1: parameter relayhost: bad parameter name"},
    {"max_use = $mail_name\n", "line 1: parameter max_use: bad numeric value \"tern\""},
    {"mail_name = x\n", NULL}, /* sanity: no error */
};

static void test_errors(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_ELEMENTS(error_cases); i++) {
        int rc = load(error_cases[i].text);
        if (error_cases[i].msg == NULL) {
            assert_int_equal(rc, 0);
            continue;
        }
        if (rc != -1)
            fail_msg("case %zu: \"%s\" loaded", i, error_cases[i].text);
        log_expect(error_cases[i].msg);
        log_expect("error: ");
    }
}

/* Exponential expansion is bounded, not a hang. */
static void test_expansion_bombs(void **state)
{
    (void)state;
    str_t *t = str_new(1024);
    for (char c = 'a'; c < 'z'; c++)
        str_appendf(t, "%c = $%c$%c$%c$%c\n", c, c + 1, c + 1, c + 1, c + 1);
    str_appendz(t, "z = x\n");
    assert_int_equal(load(str_c(t)), -1);
    str_reset(t);
    for (char c = 'a'; c < 'z'; c++)
        str_appendf(t, "%c = $%c$%c$%c$%c\n", c, c + 1, c + 1, c + 1, c + 1);
    str_appendz(t, "z =\n");
    assert_int_equal(load(str_c(t)), -1);
    log_expect("too many $name references");
    str_reset(t);
    for (int i = 0; i < 100; i++)
        str_appendf(t, "p%d = $p%d\n", i, i + 1);
    assert_int_equal(load(str_c(t)), -1);
    log_expect("nested too deeply");
    str_free(&t);
}

static void test_unknown_names(void **state)
{
    (void)state;
    assert_int_equal(load("relayhost = x\nfoo = 1\n\nbar_baz = two words\nfoo = 3\n"), 0);
    log_expect("warning: t.cf, line 2: unknown parameter foo");
    log_expect("warning: t.cf, line 4: unknown parameter bar_baz");
    char **names = config_unknown_names();
    assert_string_equal(names[0], "foo");
    assert_string_equal(names[1], "bar_baz");
    assert_null(names[2]);
    cfg_list_free(&names);
    assert_string_equal(config_unknown_value("foo"), "3");
    assert_string_equal(config_unknown_value("bar_baz"), "two words");
    assert_null(config_unknown_value("relayhost"));
    assert_null(config_unknown_value("nothing"));
}

/* ---- overrides and reload ----------------------------------------------- */

static void test_overrides(void **state)
{
    (void)state;
    assert_int_equal(load("max_use = 5\nsmtpd_banner = $myhostname hi\n"), 0);
    assert_int_equal(config_override("max_use=9"), 0);
    assert_int_equal(cfg_int("max_use"), 9);
    assert_int_equal(config_override("myhostname = o.example"), 0);
    assert_string_equal(cfg_str("smtpd_banner"), "o.example hi");
    assert_string_equal(cfg_str("mydomain"), "example");
    bool set = false;
    assert_string_equal(cfg_raw("myhostname", &set), "o.example");
    assert_true(set);
    assert_int_equal(config_override("syslog_name=tern/submission"), 0);
    assert_string_equal(cfg_str("syslog_name"), "tern/submission");
    assert_int_equal(config_override("smtpd_client_restrictions=permit, reject"), 0);
    assert_string_equal(cfg_str("smtpd_client_restrictions"), "permit, reject");

    static const char *const bad[] = {"max_use",    "max_use=x", "=5",
                                      "bad name=1", "max_use=0", "relayhost=$relayhost",
                                      "max_idle=3q"};
    for (size_t i = 0; i < N_ELEMENTS(bad); i++) {
        log_reset();
        if (config_override(bad[i]) != -1)
            fail_msg("override \"%s\" accepted", bad[i]);
        log_expect("error: ");
    }
    /* Failed overrides changed nothing. */
    assert_int_equal(cfg_int("max_use"), 9);
    assert_string_equal(cfg_str("relayhost"), "");
    assert_int_equal(cfg_time("max_idle"), 100);

    log_reset();
    assert_int_equal(config_override("my_custom = v"), 0);
    log_expect("unknown parameter my_custom");
    assert_string_equal(config_unknown_value("my_custom"), "v");
    assert_int_equal(config_override("my_loop=$my_loop"), -1);
    assert_null(config_unknown_value("my_loop"));
}

static void test_reload(void **state)
{
    (void)state;
    assert_int_equal(load("relayhost = first\nfoo = 1\n"), 0);
    assert_string_equal(cfg_str("relayhost"), "first");
    assert_int_equal(load("max_use = 3\n"), 0);
    assert_string_equal(cfg_str("relayhost"), "");
    assert_int_equal(cfg_int("max_use"), 3);
    assert_null(config_unknown_value("foo"));
    /* A bad reload keeps the previous configuration. */
    assert_int_equal(load("max_use = 4\nmax_idle = bad\n"), -1);
    assert_int_equal(cfg_int("max_use"), 3);
}

static char *make_dir(const char *maincf)
{
    char tmpl[] = "/tmp/test_config.dXXXXXX";
    assert_non_null(mkdtemp(tmpl));
    char *path = xasprintf("%s/main.cf", tmpl);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(maincf, fp);
    fclose(fp);
    free(path);
    return xstrdup(tmpl);
}

static void remove_dir(char *dir)
{
    char *path = xasprintf("%s/main.cf", dir);
    unlink(path);
    rmdir(dir);
    free(path);
    free(dir);
}

static void test_load_file(void **state)
{
    (void)state;
    char *dir = make_dir("relayhost = [r]\n# c\nmax_use = nope\n");
    log_reset();
    assert_int_equal(config_load(dir), -1);
    char *want = xasprintf("%s/main.cf, line 3: parameter max_use: bad numeric value", dir);
    log_expect(want);
    free(want);
    remove_dir(dir);

    dir = make_dir("relayhost = [r]\n");
    assert_int_equal(config_load(dir), 0);
    assert_string_equal(config_dir(), dir);
    assert_string_equal(cfg_str("config_directory"), dir);
    assert_string_equal(cfg_str("relayhost"), "[r]");
    setenv("MAIL_CONFIG", dir, 1);
    assert_int_equal(config_load(NULL), 0);
    assert_string_equal(config_dir(), dir);
    unsetenv("MAIL_CONFIG");
    remove_dir(dir);

    log_reset();
    assert_int_equal(config_load("/nonexistent/dir"), -1);
    log_expect("open /nonexistent/dir/main.cf");
    assert_string_equal(cfg_str("relayhost"), "[r]"); /* still the last good one */
}

static void test_binary_input(void **state)
{
    (void)state;
    static const char text[] = "relayhost = a\0b\nmax_use = 3\n";
    log_reset();
    assert_int_equal(config_load_string(text, sizeof(text) - 1, "t.cf"), -1);
    log_expect("t.cf, line 1: NUL byte");
}

static void test_reader(void **state)
{
    (void)state;
    static const char text[] = "a\n  b\n#c\n\nd\n  e\n\tf\ng";
    struct config_reader rd;
    str_t *line = str_new(16);
    int n = 0;
    config_reader_init(&rd, text, sizeof(text) - 1);
    assert_int_equal(config_read_line(&rd, line, &n), 1);
    assert_string_equal(str_c(line), "a b");
    assert_int_equal(n, 1);
    assert_int_equal(config_read_line(&rd, line, &n), 1);
    assert_string_equal(str_c(line), "d e f");
    assert_int_equal(n, 5);
    assert_int_equal(config_read_line(&rd, line, &n), 1);
    assert_string_equal(str_c(line), "g");
    assert_int_equal(n, 8);
    assert_int_equal(config_read_line(&rd, line, &n), 0);
    str_free(&line);
}

/* ---- misuse panics ------------------------------------------------------ */

static void expect_abort(void (*fn)(void))
{
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        fn();
        _exit(0);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
}

static void misuse_str(void)
{
    (void)cfg_str("no_such_parameter");
}
static void misuse_int(void)
{
    (void)cfg_int("myhostname");
}
static void misuse_time(void)
{
    (void)cfg_time("max_use");
}
static void misuse_bool(void)
{
    (void)cfg_bool("max_idle");
}
static void misuse_raw(void)
{
    (void)cfg_raw("nope", NULL);
}
static void misuse_list(void)
{
    char **l = cfg_list("nope");
    (void)l;
}

static void test_misuse_panics(void **state)
{
    (void)state;
    expect_abort(misuse_str);
    expect_abort(misuse_int);
    expect_abort(misuse_time);
    expect_abort(misuse_bool);
    expect_abort(misuse_raw);
    expect_abort(misuse_list);
}

static int group_setup(void **state)
{
    (void)state;
    int fd = mkstemp(log_path);
    if (fd < 0)
        return -1;
    close(fd);
    log_init("test_config");
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
        cmocka_unit_test(test_table_sane),      cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_computed_domain), cmocka_unit_test(test_syntax),
        cmocka_unit_test(test_raw_and_expand),  cmocka_unit_test(test_types),
        cmocka_unit_test(test_lists),           cmocka_unit_test(test_list_braces),
        cmocka_unit_test(test_parse_time),      cmocka_unit_test(test_parse_bool),
        cmocka_unit_test(test_errors),          cmocka_unit_test(test_expansion_bombs),
        cmocka_unit_test(test_unknown_names),   cmocka_unit_test(test_overrides),
        cmocka_unit_test(test_reload),          cmocka_unit_test(test_load_file),
        cmocka_unit_test(test_binary_input),    cmocka_unit_test(test_reader),
        cmocka_unit_test(test_misuse_panics),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
