/*
 * test_valias.c - unit tests for virtual_alias_maps expansion
 * (lib/valias.c): the key order of virtual(5), local-domain-only "user"
 * keys, catch-all, extensions, recursion, self-mapping, duplicates,
 * qualification, loops and runaway tables bounded by the limits, and
 * table errors; plus smtpd's view of the same table (resolve_rcpt_known).
 */
#include "sys.h"
#include "config.h"
#include "log.h"
#include "mem.h"
#include "resolve.h"
#include "str.h"
#include "valias.h"

#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <sys/stat.h>

static char test_dir[] = "/tmp/test_valias.XXXXXX";

static const char table[] = "# a comment\n"
                            "postmaster@example.test   alice@example.test\n"
                            "abuse@example.test        postmaster@example.test\n"
                            "team@example.test         alice@example.test, bob@example.org\n"
                            "root                      alice@example.test\n"
                            "bob@example.com           robert@example.org\n"
                            "@catch.example            catcher@example.test\n"
                            "exact@catch.example       exact@example.test\n"
                            "self@example.test         self@example.test, copy@example.test\n"
                            "loop1@example.test        loop2@example.test\n"
                            "loop2@example.test        loop1@example.test\n"
                            "fan@example.test          fan@example.test fan2@example.test\n"
                            "fan2@example.test         fan3@example.test fan@example.test\n"
                            "fan3@example.test         fan2@example.test, fan3@example.test\n"
                            "wide1@example.test        w1@x w2@x w3@x wide2@example.test\n"
                            "wide2@example.test        wide1@example.test w4@x\n"
                            "dup@example.test          alice@example.test team@example.test\n"
                            "bare@example.test         justuser\n";

static void write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

static void load(const char *extra)
{
    char *text = xasprintf("myhostname = mx.example.com\n"
                           "myorigin = origin.example\n"
                           "mydestination = $myhostname, localhost, example.com\n"
                           "virtual_mailbox_domains = example.test\n"
                           "recipient_delimiter = +\n"
                           "local_recipient_maps =\n"
                           "virtual_alias_maps = texthash:%s/virtual\n%s",
                           test_dir, extra);
    resolve_reset();
    assert_int_equal(config_load_string(text, strlen(text), "test"), 0);
    free(text);
}

struct expand_case {
    const char *addr;
    enum valias_status status;
    const char *want[6]; /* NULL-terminated, in order */
};

static const struct expand_case cases[] = {
    {"nobody@example.test", VALIAS_OK, {"nobody@example.test"}},
    {"postmaster@example.test", VALIAS_OK, {"alice@example.test"}},
    {"POSTMASTER@Example.TEST", VALIAS_OK, {"alice@example.test"}},
    {"abuse@example.test", VALIAS_OK, {"alice@example.test"}}, /* two levels */
    {"team@example.test", VALIAS_OK, {"alice@example.test", "bob@example.org"}},
    /* "user" keys only for domains in mydestination */
    {"root@example.com", VALIAS_OK, {"alice@example.test"}},
    {"root@mx.example.com", VALIAS_OK, {"alice@example.test"}},
    {"root@example.test", VALIAS_OK, {"root@example.test"}},
    {"root", VALIAS_OK, {"alice@example.test"}},
    /* extension: user@domain after user+ext@domain */
    {"bob+tag@example.com", VALIAS_OK, {"robert@example.org"}},
    {"team+x@example.test", VALIAS_OK, {"alice@example.test", "bob@example.org"}},
    /* catch-all, after the exact address */
    {"anyone@catch.example", VALIAS_OK, {"catcher@example.test"}},
    {"exact@catch.example", VALIAS_OK, {"exact@example.test"}},
    /* an address that maps to itself ends the recursion */
    {"self@example.test", VALIAS_OK, {"self@example.test", "copy@example.test"}},
    {"fan@example.test", VALIAS_LIMIT, {NULL}},
    /* duplicates kept once */
    {"dup@example.test", VALIAS_OK, {"alice@example.test", "bob@example.org"}},
    /* a result without a domain gets @$myorigin */
    {"bare@example.test", VALIAS_OK, {"justuser@origin.example"}},
    /* loops end at the limits */
    {"loop1@example.test", VALIAS_LIMIT, {NULL}},
    {"wide1@example.test", VALIAS_LIMIT, {NULL}},
};

static void check_case(const struct expand_case *c)
{
    char **list = NULL, *err = NULL;
    enum valias_status st = valias_expand(c->addr, &list, &err);
    if (st != c->status)
        fail_msg("%s: status %d, want %d (%s)", c->addr, st, c->status, err ? err : "");
    if (st != VALIAS_OK) {
        assert_null(list);
        assert_non_null(err);
        assert_non_null(strstr(err, "virtual_alias"));
        free(err);
        return;
    }
    assert_null(err);
    size_t n = 0;
    for (; c->want[n] != NULL; n++)
        if (list[n] == NULL || strcmp(list[n], c->want[n]) != 0)
            fail_msg("%s: result %zu is %s, want %s", c->addr, n, list[n] ? list[n] : "(end)",
                     c->want[n]);
    if (list[n] != NULL)
        fail_msg("%s: extra result %s", c->addr, list[n]);
    cfg_list_free(&list);
}

static void test_expand(void **state)
{
    (void)state;
    load("");
    assert_true(valias_enabled());
    for (size_t i = 0; i < N_ELEMENTS(cases); i++)
        check_case(&cases[i]);
}

/* The limits are parameters. */
static void test_limits(void **state)
{
    (void)state;
    load("virtual_alias_recursion_limit = 1\n");
    check_case(&(struct expand_case){"postmaster@example.test", VALIAS_OK, {"alice@example.test"}});
    check_case(&(struct expand_case){"abuse@example.test", VALIAS_LIMIT, {NULL}});
    load("virtual_alias_expansion_limit = 1\n");
    check_case(&(struct expand_case){"team@example.test", VALIAS_LIMIT, {NULL}});
    check_case(&(struct expand_case){"abuse@example.test", VALIAS_OK, {"alice@example.test"}});
}

static void test_table_error(void **state)
{
    (void)state;
    char *text = xasprintf("virtual_alias_maps = texthash:%s/missing\n", test_dir);
    resolve_reset();
    assert_int_equal(config_load_string(text, strlen(text), "test"), 0);
    free(text);
    char **list = NULL, *err = NULL;
    assert_int_equal(valias_expand("a@b.example", &list, &err), VALIAS_TABLE);
    assert_null(list);
    assert_non_null(strstr(err, "missing"));
    free(err);
}

static void test_disabled(void **state)
{
    (void)state;
    resolve_reset();
    assert_int_equal(config_load_string("", 0, "test"), 0);
    assert_false(valias_enabled());
    char **list = NULL, *err = NULL;
    assert_int_equal(valias_expand("a@b.example", &list, &err), VALIAS_OK);
    assert_string_equal(list[0], "a@b.example");
    assert_null(list[1]);
    cfg_list_free(&list);
}

/* smtpd's recipient check agrees: aliased addresses exist. */
static void test_rcpt_known(void **state)
{
    (void)state;
    load("");
    static const struct {
        const char *addr;
        int known;
    } known[] = {
        {"postmaster@example.test", 1}, {"team+x@example.test", 1}, {"nobody@example.test", 0},
        {"anyone@catch.example", 1}, /* not ours: relay rules decide */
        {"root@example.com", 1},
    };
    for (size_t i = 0; i < N_ELEMENTS(known); i++) {
        char *err = NULL;
        int rc = resolve_rcpt_known(known[i].addr, &err);
        if (rc != known[i].known)
            fail_msg("%s: %d, want %d (%s)", known[i].addr, rc, known[i].known, err ? err : "");
    }
    /* A local domain with local_recipient_maps: the bare "user" key counts. */
    load("local_recipient_maps = inline:{ someone=1 }\n");
    assert_int_equal(resolve_rcpt_known("root@example.com", NULL), 1);
    assert_int_equal(resolve_rcpt_known("other@example.com", NULL), 0);
}

static int setup(void **state)
{
    (void)state;
    assert_non_null(mkdtemp(test_dir));
    char *path = xasprintf("%s/virtual", test_dir);
    write_file(path, table);
    free(path);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char *path = xasprintf("%s/virtual", test_dir);
    unlink(path);
    free(path);
    rmdir(test_dir);
    resolve_reset();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_expand),      cmocka_unit_test(test_limits),
        cmocka_unit_test(test_table_error), cmocka_unit_test(test_disabled),
        cmocka_unit_test(test_rcpt_known),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
