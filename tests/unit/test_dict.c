/*
 * test_dict.c - unit tests for the lookup table interface (lib/dict*.c):
 * indexed types built from text (hash, btree, lmdb), rebuilds seen by an
 * open table, three-way results, case folding, the text source parser,
 * texthash, inline and static, and misuse that must fail loudly.
 */
#include "sys.h"
#include "dict.h"
#include "log.h"
#include "mem.h"
#include "str.h"

#include <setjmp.h>
#include <cmocka.h>

#include "unit_tmp.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

static char test_dir[] = "/tmp/test_dict.XXXXXX";

static char *tpath(const char *name)
{
    return xasprintf("%s/%s", test_dir, name);
}

static void write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

/* Build type:DIR/name from text; returns the spec (allocated). */
static char *build(const char *type, const char *name, const char *text, int flags)
{
    char *path = tpath(name);
    write_file(path, text);
    char *spec = xasprintf("%s:%s", type, path);
    char *error = NULL;
    if (dict_build(spec, flags, &error) < 0)
        fail_msg("build %s: %s", spec, error);
    free(path);
    return spec;
}

static void check_value(dict_t *d, const char *key, const char *want)
{
    const char *v = NULL;
    int r = dict_lookup(d, key, &v);
    if (want == NULL) {
        assert_int_equal(r, 0);
        return;
    }
    if (r != 1)
        fail_msg("%s: key \"%s\": result %d, want \"%s\"", dict_spec(d), key, r, want);
    assert_string_equal(v, want);
}

static int count_cb(const char *key, const char *value, void *ctx)
{
    (void)key;
    (void)value;
    (*(int *)ctx)++;
    return 0;
}

static const char *indexed_types[] = {"hash", "btree", "lmdb"};

static const char source_text[] = "# a comment\n"
                                  "Alice alice@example.com\n"
                                  "bob   bob@example.com,\n"
                                  "  bob2@example.com\n"
                                  "\n"
                                  "   # indented comment\n"
                                  "ALICE second@example.com\n";

static void test_indexed_build_lookup(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_ELEMENTS(indexed_types); i++) {
        char *spec = build(indexed_types[i], "src", source_text, DICT_FLAG_DEFAULT);
        char *error = NULL;
        dict_t *d = dict_open(spec, DICT_FLAG_DEFAULT, &error);
        assert_non_null(d);
        check_value(d, "alice", "alice@example.com"); /* first wins */
        check_value(d, "ALICE", "alice@example.com"); /* folded */
        check_value(d, "bob", "bob@example.com, bob2@example.com");
        check_value(d, "carol", NULL);
        check_value(d, "", NULL);
        int n = 0;
        assert_int_equal(dict_iterate(d, count_cb, &n), 0);
        assert_int_equal(n, 2);
        dict_close(&d);
        assert_null(d);
        free(spec);
    }
}

static void test_indexed_no_fold(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_ELEMENTS(indexed_types); i++) {
        char *spec = build(indexed_types[i], "nofold", "MiXed value\n", DICT_FLAG_NO_FOLD);
        char *error = NULL;
        dict_t *d = dict_open(spec, DICT_FLAG_NO_FOLD, &error);
        assert_non_null(d);
        check_value(d, "MiXed", "value");
        check_value(d, "mixed", NULL);
        dict_close(&d);
        d = dict_open(spec, DICT_FLAG_DEFAULT, &error);
        check_value(d, "MiXed", NULL); /* folded to "mixed": not stored */
        dict_close(&d);
        free(spec);
    }
}

/* An open table sees a rebuilt file; a vanished file is a temporary error. */
static void test_indexed_rebuild_and_error(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_ELEMENTS(indexed_types); i++) {
        char *spec = build(indexed_types[i], "re", "k old\n", DICT_FLAG_DEFAULT);
        char *error = NULL;
        dict_t *d = dict_open(spec, DICT_FLAG_DEFAULT, &error);
        assert_non_null(d);
        check_value(d, "k", "old");
        free(build(indexed_types[i], "re", "k new\nk2 v2\n", DICT_FLAG_DEFAULT));
        check_value(d, "k", "new");
        check_value(d, "k2", "v2");
        char *file = dict_indexed_path(indexed_types[i], strchr(spec, ':') + 1);
        assert_int_equal(unlink(file), 0);
        const char *v;
        assert_int_equal(dict_lookup(d, "k", &v), -1);
        dict_close(&d);
        /* A file that is not a database cannot be opened. */
        write_file(file, "this is not a database file at all, not even close\n");
        d = dict_open(spec, DICT_FLAG_DEFAULT, &error);
        assert_null(d);
        assert_non_null(error);
        xfree(error);
        free(file);
        free(spec);
    }
}

static void test_indexed_update_delete(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_ELEMENTS(indexed_types); i++) {
        char *spec = build(indexed_types[i], "upd", "a 1\nb 2\n", DICT_FLAG_DEFAULT);
        char *error = NULL;
        dict_t *d = dict_open(spec, DICT_FLAG_DEFAULT, &error);
        assert_int_equal(dict_update(d, "C", "3"), 0);
        assert_int_equal(dict_update(d, "a", "one"), 0);
        check_value(d, "c", "3");
        check_value(d, "a", "one");
        assert_int_equal(dict_delete(d, "b"), 1);
        assert_int_equal(dict_delete(d, "b"), 0);
        check_value(d, "b", NULL);
        check_value(d, "a", "one");
        dict_close(&d);
        free(spec);
    }
}

static void test_writer_duplicates(void **state)
{
    (void)state;
    char *path = tpath("w");
    char *spec = xasprintf("lmdb:%s", path);
    char *error = NULL;
    dict_writer_t *w = dict_writer_begin(spec, DICT_FLAG_DEFAULT, &error);
    assert_non_null(w);
    assert_int_equal(dict_writer_put(w, "x", "1"), 0);
    assert_int_equal(dict_writer_put(w, "X", "2"), 1);
    assert_int_equal(dict_writer_commit(&w, &error), 0);
    assert_null(w);
    dict_t *d = dict_open(spec, DICT_FLAG_DEFAULT, &error);
    check_value(d, "x", "1");
    dict_close(&d);
    /* Aborting leaves no temporary file behind. */
    w = dict_writer_begin(spec, DICT_FLAG_DEFAULT, &error);
    dict_writer_abort(&w);
    char *tmp = xasprintf("%s.lmdb.tmp.%ld", path, (long)getpid());
    assert_int_equal(access(tmp, F_OK), -1);
    free(tmp);
    /* Not an indexed type. */
    assert_null(dict_writer_begin("cidr:/x", 0, &error));
    xfree(error);
    free(spec);
    free(path);
}

struct parse_case {
    const char *text;
    bool alias;
    const char *error; /* expected substring of the first error, or NULL */
    const char *key, *value;
};

static const struct parse_case parse_cases[] = {
    {"k v\n", false, NULL, "k", "v"},
    {"k   v w  \n", false, NULL, "k", "v w"},
    {"k v\r\n", false, NULL, "k", "v"},
    {"k\n  v\n", false, NULL, "k", "v"},
    {"#c\n\nk\tv", false, NULL, "k", "v"},
    {"ok v\nnovalue\n", false, "line 2: expected format", NULL, NULL},
    {"  indented v\n", false, "line 1: continuation", NULL, NULL},
    {"a b\nk\0x v\n", false, "line 2: NUL byte", NULL, NULL},
    {"root: admin\n", true, NULL, "root", "admin"},
    {"\"odd name\" : a, b\n", true, NULL, "odd name", "a, b"},
    {"postmaster:root\n", true, NULL, "postmaster", "root"},
    {"x: y\nnocolon value\n", true, "line 2: expected format: name: value", NULL, NULL},
    {"a: b\n\nempty:\n", true, "line 3: missing value", NULL, NULL},
    {"\"open: x\n", true, "line 1: unbalanced", NULL, NULL},
    {": x\n", true, "line 1: empty alias name", NULL, NULL},
};

struct parse_result {
    char *key, *value;
};

static int parse_cb(const char *key, const char *value, int line, void *ctx)
{
    struct parse_result *r = ctx;
    (void)line;
    if (r->key == NULL) {
        r->key = xstrdup(key);
        r->value = xstrdup(value);
    }
    return 0;
}

static void test_source_parse(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_ELEMENTS(parse_cases); i++) {
        const struct parse_case *c = &parse_cases[i];
        size_t len = strlen(c->text);
        if (strstr(c->error ? c->error : "", "NUL") != NULL)
            len = 10; /* "a b\nk\0x v\n" */
        struct parse_result r = {0};
        char *error = NULL;
        int rc = dict_source_parse(c->text, len, "src", c->alias, parse_cb, &r, &error);
        if (c->error != NULL) {
            assert_int_equal(rc, -1);
            assert_non_null(error);
            if (strstr(error, c->error) == NULL)
                fail_msg("case %zu: error \"%s\" lacks \"%s\"", i, error, c->error);
            assert_non_null(strstr(error, "src, "));
        } else {
            assert_int_equal(rc, 0);
            assert_null(error);
            assert_string_equal(r.key, c->key);
            assert_string_equal(r.value, c->value);
        }
        free(error);
        free(r.key);
        free(r.value);
    }
}

static void test_build_source_error_keeps_old(void **state)
{
    (void)state;
    char *spec = build("hash", "keep", "k v\n", DICT_FLAG_DEFAULT);
    char *path = tpath("keep");
    write_file(path, "k v2\nbroken\n");
    char *error = NULL;
    assert_int_equal(dict_build(spec, DICT_FLAG_DEFAULT, &error), -1);
    assert_non_null(strstr(error, "line 2"));
    xfree(error);
    dict_t *d = dict_open(spec, DICT_FLAG_DEFAULT, &error);
    check_value(d, "k", "v");
    dict_close(&d);
    /* Missing source file. */
    free(path);
    path = tpath("missing");
    free(spec);
    spec = xasprintf("hash:%s", path);
    assert_int_equal(dict_build(spec, DICT_FLAG_DEFAULT, &error), -1);
    assert_non_null(strstr(error, "No such file"));
    xfree(error);
    free(spec);
    free(path);
}

static void test_texthash(void **state)
{
    (void)state;
    char *path = tpath("th");
    write_file(path, "Key value one\n  continued\nkey dup\nother x\n");
    char *spec = xasprintf("texthash:%s", path);
    char *error = NULL;
    dict_t *d = dict_open(spec, DICT_FLAG_DEFAULT, &error);
    assert_non_null(d);
    check_value(d, "KEY", "value one continued");
    check_value(d, "other", "x");
    check_value(d, "none", NULL);
    dict_close(&d);
    write_file(path, "a b\nbad\n");
    assert_null(dict_open(spec, DICT_FLAG_DEFAULT, &error));
    assert_non_null(strstr(error, "line 2"));
    xfree(error);
    free(spec);
    free(path);
}

struct inline_case {
    const char *spec;
    const char *key, *value; /* NULL value: not found */
    const char *error;       /* open must fail with this substring */
};

static const struct inline_case inline_cases[] = {
    {"inline:{ a=1, b=2 }", "b", "2", NULL},
    {"inline:{a=1,b=2}", "A", "1", NULL},
    {"inline:{ a=1 b=2 }", "b", "2", NULL},
    {"inline:{ { k = a value, with comma }, x=y }", "k", "a value, with comma", NULL},
    {"inline:{ a=1 }", "c", NULL, NULL},
    {"inline:{}", "a", NULL, NULL},
    {"inline:{ a=1, a=2 }", "a", "1", NULL},
    {"inline:a=1", NULL, NULL, "expected inline:{"},
    {"inline:{ a=1 ", NULL, NULL, "expected inline:{"},
    {"inline:{ novalue }", NULL, NULL, "expected key=value"},
    {"inline:{ =x }", NULL, NULL, "missing key"},
    {"inline:{ k= }", NULL, NULL, "missing value"},
    {"inline:{ { a=1 }", NULL, NULL, "expected inline:{"},
    {"static:fixed", "anything", "fixed", NULL},
    {"static:{ with spaces }", "x", "with spaces", NULL},
    {"static:{ open", NULL, NULL, "missing '}'"},
    {"nosuch:x", NULL, NULL, "unsupported table type"},
    {"hash", NULL, NULL, "expected type:name"},
    {"hash:", NULL, NULL, "missing table name"},
    {"texthash:/nonexistent/file", NULL, NULL, "No such file"},
};

static void test_inline_static_spec(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_ELEMENTS(inline_cases); i++) {
        const struct inline_case *c = &inline_cases[i];
        char *error = NULL;
        dict_t *d = dict_open(c->spec, DICT_FLAG_DEFAULT, &error);
        if (c->error != NULL) {
            if (d != NULL || error == NULL || strstr(error, c->error) == NULL)
                fail_msg("case %zu (%s): error \"%s\", want \"%s\"", i, c->spec,
                         error ? error : "(none)", c->error);
            free(error);
            continue;
        }
        if (d == NULL)
            fail_msg("case %zu (%s): %s", i, c->spec, error);
        check_value(d, c->key, c->value);
        check_value(d, "", NULL);
        dict_close(&d);
    }
}

/* Run fn in a child; it must die from a signal (abort via msg_panic). */
static void expect_abort(void (*fn)(void))
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        fn();
        _exit(0);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
}

static void misuse_null_key(void)
{
    char *error = NULL;
    dict_t *d = dict_open("static:x", 0, &error);
    const char *v;
    dict_lookup(d, NULL, &v);
}

static void misuse_both_fold_flags(void)
{
    char *error = NULL;
    dict_open("static:x", DICT_FLAG_FOLD_KEY | DICT_FLAG_NO_FOLD, &error);
}

static void test_misuse(void **state)
{
    (void)state;
    expect_abort(misuse_null_key);
    expect_abort(misuse_both_fold_flags);
    char *error = NULL;
    dict_t *d = dict_open("static:x", 0, &error);
    /* Non-indexed tables cannot be changed or (static) listed. */
    assert_int_equal(dict_update(d, "a", "b"), -1);
    assert_int_equal(dict_delete(d, "a"), -1);
    int n = 0;
    assert_int_equal(dict_iterate(d, count_cb, &n), -1);
    dict_close(&d);
    dict_close(&d); /* closing a NULL handle is harmless */
}

static int cleanup_dir(void **state)
{
    (void)state;
    return unit_rm_rf(test_dir);
}

int main(void)
{
    log_init("test_dict");
    log_open("tern", "/dev/null");
    if (mkdtemp(test_dir) == NULL)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_indexed_build_lookup),
        cmocka_unit_test(test_indexed_no_fold),
        cmocka_unit_test(test_indexed_rebuild_and_error),
        cmocka_unit_test(test_indexed_update_delete),
        cmocka_unit_test(test_writer_duplicates),
        cmocka_unit_test(test_source_parse),
        cmocka_unit_test(test_build_source_error_keeps_old),
        cmocka_unit_test(test_texthash),
        cmocka_unit_test(test_inline_static_spec),
        cmocka_unit_test(test_misuse),
    };
    return cmocka_run_group_tests(tests, NULL, cleanup_dir);
}
