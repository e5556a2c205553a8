/*
 * test_passwd_file.c - unit tests for lib/passwd_file.c: every field of a
 * passwd-file line, bad lines (reported with their line numbers and
 * skipped), duplicates, case-insensitive lookup, each scheme through
 * passwd_hash and passwd_verify, plaintext policy, locked accounts, the
 * constant-time compare, and a file re-read from disk.
 */
#include "sys.h"
#include "log.h"
#include "mem.h"
#include "passwd_file.h"
#include "str.h"

#include <setjmp.h>
#include <cmocka.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include "unit_tmp.h"

static char log_path[] = "/tmp/test_passwd_file.XXXXXX";

static const struct passwd_opts no_plain = {.allow_plaintext = false};
static const struct passwd_opts plain_ok = {.allow_plaintext = true};

static char *log_text(void)
{
    char *buf = unit_read_file(log_path);
    assert_non_null(buf);
    return buf;
}

static void log_reset(void)
{
    assert_int_equal(truncate(log_path, 0), 0);
}

static void test_full_line(void **state)
{
    (void)state;
    struct passwd_entry e;
    char *err = NULL;
    const char *l = "alice@example.org:{SHA512-CRYPT}$6$salt$hash:5000:5001:Alice:/var/mail/a"
                    ":/bin/false:userdb_quota_rule=*:storage=1G";
    assert_int_equal(passwd_line_parse(l, strlen(l), &no_plain, &e, &err), 1);
    assert_string_equal(e.user, "alice@example.org");
    assert_string_equal(e.scheme, "SHA512-CRYPT");
    assert_string_equal(e.hash, "$6$salt$hash");
    assert_int_equal(e.uid, 5000);
    assert_int_equal(e.gid, 5001);
    assert_string_equal(e.home, "/var/mail/a");
    assert_string_equal(e.extra, "userdb_quota_rule=*:storage=1G");
    passwd_entry_clear(&e);
    assert_null(e.user);
}

static void test_short_lines(void **state)
{
    (void)state;
    static const struct {
        const char *line, *scheme, *hash;
        long uid, gid;
        const char *home;
    } cases[] = {
        {"a@x:$6$s$h", "CRYPT", "$6$s$h", -1, -1, ""},
        {"a@x:{crypt}$y$j9T$s$h::::::", "CRYPT", "$y$j9T$s$h", -1, -1, ""},
        {"a@x:{blf-crypt}$2b$05$abc:12", "BLF-CRYPT", "$2b$05$abc", 12, -1, ""},
        {"a@x:{YESCRYPT}$y$x:1:2::/h", "YESCRYPT", "$y$x", 1, 2, "/h"},
        {"a@x:{SHA256-CRYPT}$5$s$h\r", "SHA256-CRYPT", "$5$s$h", -1, -1, ""},
        {"a@x:{MD5-CRYPT}$1$s$h", "MD5-CRYPT", "$1$s$h", -1, -1, ""},
        {"a@x:!$6$locked", "CRYPT", "!$6$locked", -1, -1, ""},
        {"a@x:{SHA512-CRYPT}*", "SHA512-CRYPT", "*", -1, -1, ""},
    };
    for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
        struct passwd_entry e;
        char *err = NULL;
        int rc = passwd_line_parse(cases[i].line, strlen(cases[i].line), &no_plain, &e, &err);
        if (rc != 1)
            fail_msg("case %zu: %s", i, err ? err : "not an entry");
        assert_string_equal(e.user, "a@x");
        assert_string_equal(e.scheme, cases[i].scheme);
        assert_string_equal(e.hash, cases[i].hash);
        assert_int_equal(e.uid, cases[i].uid);
        assert_int_equal(e.gid, cases[i].gid);
        assert_string_equal(e.home, cases[i].home);
        passwd_entry_clear(&e);
    }
}

static void test_blank_and_comments(void **state)
{
    (void)state;
    static const char *const lines[] = {"", "   ", "\t", "# comment", "  # indented", "\r"};
    for (size_t i = 0; i < N_ELEMENTS(lines); i++) {
        struct passwd_entry e;
        char *err = NULL;
        assert_int_equal(passwd_line_parse(lines[i], strlen(lines[i]), &no_plain, &e, &err), 0);
    }
}

static void test_bad_lines(void **state)
{
    (void)state;
    static const struct {
        const char *line, *why;
    } cases[] = {
        {"nopassword", "no password field"},
        {"a@x:", "empty password"},
        {":$6$s$h", "empty user name"},
        {"a b@x:$6$s$h", "space"},
        {"a@x:{SSHA}abc", "unknown password scheme"},
        {"a@x:{SHA512-CRYPT$6$s", "closing"},
        {"a@x:{SHA512-CRYPT}$5$s$h", "does not match scheme"},
        {"a@x:{YESCRYPT}$6$s$h", "does not match scheme"},
        {"a@x:{PLAIN}secret", "plaintext"},
        {"a@x:{CLEARTEXT}secret", "plaintext"},
        {"a@x:$6$s$h:0", "uid 0"},
        {"a@x:$6$s$h:1:0", "gid 0"},
        {"a@x:$6$s$h:x1", "uid is not a number"},
        {"a@x:$6$s$h:-5", "uid is not a number"},
        {"a@x:$6$s$h:99999999999", "uid"},
        {"a@x:$6$s$h:1:1::relative/home", "absolute"},
    };
    for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
        struct passwd_entry e;
        char *err = NULL;
        int rc = passwd_line_parse(cases[i].line, strlen(cases[i].line), &no_plain, &e, &err);
        if (rc != -1)
            fail_msg("case %zu (%s) accepted", i, cases[i].line);
        assert_non_null(err);
        if (strstr(err, cases[i].why) == NULL)
            fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err, cases[i].why);
        assert_null(e.user);
        free(err);
    }
    /* NUL inside, and a line over the limit. */
    struct passwd_entry e;
    char *err = NULL;
    assert_int_equal(passwd_line_parse("a@x:$6\0$s", 9, &no_plain, &e, &err), -1);
    free(err);
    char *big = xmalloc(PASSWD_LINE_MAX + 10);
    memset(big, 'a', PASSWD_LINE_MAX + 10);
    big[1] = ':';
    assert_int_equal(passwd_line_parse(big, PASSWD_LINE_MAX + 10, &no_plain, &e, &err), -1);
    assert_non_null(strstr(err, "longer"));
    free(err);
    free(big);
    /* A 256-byte user name is too long, 255 is fine. */
    char user[300];
    memset(user, 'u', sizeof(user));
    memcpy(user + 256, ":$6$s", 5);
    assert_int_equal(passwd_line_parse(user, 261, &no_plain, &e, &err), -1);
    free(err);
    assert_int_equal(passwd_line_parse(user + 1, 260, &no_plain, &e, &err), 1);
    passwd_entry_clear(&e);
}

static void test_plaintext_allowed(void **state)
{
    (void)state;
    struct passwd_entry e;
    char *err = NULL;
    const char *l = "p@x:{PLAIN}pa ss=word";
    assert_int_equal(passwd_line_parse(l, strlen(l), &plain_ok, &e, &err), 1);
    assert_string_equal(e.scheme, "PLAIN");
    assert_int_equal(passwd_verify(&e, "pa ss=word", &err), 1);
    assert_int_equal(passwd_verify(&e, "pa ss=wor", &err), 0);
    assert_int_equal(passwd_verify(&e, "pa ss=wordX", &err), 0);
    assert_int_equal(passwd_verify(&e, "", &err), 0);
    passwd_entry_clear(&e);
}

static void test_db_parse(void **state)
{
    (void)state;
    static const char text[] = "# users\n"
                               "Alice@Example.org:{SHA512-CRYPT}$6$s$h:10:10::/home/a::\n"
                               "broken line\n"
                               "\n"
                               "bob@example.org:{PLAIN}pw\n"
                               "carol@example.org:$6$s$h\n"
                               "alice@example.org:$6$other\n"
                               "dave@example.org:{NOPE}x"; /* no final newline */
    log_reset();
    struct passwd_db *db = passwd_db_parse(text, sizeof(text) - 1, "USERS", &no_plain);
    assert_int_equal(passwd_db_count(db), 2);
    assert_int_equal(passwd_db_bad_lines(db), 4);
    const struct passwd_entry *e = passwd_db_find(db, "ALICE@example.ORG");
    assert_non_null(e);
    assert_string_equal(e->user, "Alice@Example.org");
    assert_int_equal(e->line, 2);
    assert_int_equal(e->uid, 10);
    assert_non_null(passwd_db_find(db, "carol@example.org"));
    assert_null(passwd_db_find(db, "bob@example.org"));
    assert_null(passwd_db_find(db, "dave@example.org"));
    assert_null(passwd_db_find(db, "nobody"));
    char *log = log_text();
    assert_non_null(strstr(log, "USERS, line 3: no password field"));
    assert_non_null(strstr(log, "USERS, line 5: plaintext password"));
    assert_non_null(strstr(log, "USERS, line 7: user alice@example.org already defined on line 2"));
    assert_non_null(strstr(log, "USERS, line 8: unknown password scheme {NOPE}"));
    assert_null(strstr(log, "line 6"));
    free(log);
    passwd_db_free(&db);
    assert_null(db);
    /* Empty text: an empty database. */
    db = passwd_db_parse("", 0, "EMPTY", &no_plain);
    assert_int_equal(passwd_db_count(db), 0);
    assert_null(passwd_db_find(db, "x"));
    passwd_db_free(&db);
}

static void test_hash_and_verify(void **state)
{
    (void)state;
    static const struct {
        const char *scheme, *label, *prefix;
    } cases[] = {
        {"YESCRYPT", "{YESCRYPT}", "$y$"},
        {"sha512-crypt", "{SHA512-CRYPT}", "$6$"},
        {"SHA256-CRYPT", "{SHA256-CRYPT}", "$5$"},
        {"BLF-CRYPT", "{BLF-CRYPT}", "$2b$"},
        {"CRYPT", "{CRYPT}", "$y$"},
        {"PLAIN", "{PLAIN}", "Secret"},
    };
    for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
        char *err = NULL;
        char *h = passwd_hash(cases[i].scheme, "Secret-1", &err);
        if (h == NULL)
            fail_msg("%s: %s", cases[i].scheme, err);
        size_t ll = strlen(cases[i].label);
        assert_memory_equal(h, cases[i].label, ll);
        assert_memory_equal(h + ll, cases[i].prefix, strlen(cases[i].prefix));
        assert_int_equal(passwd_verify_string(h, "Secret-1", &err), 1);
        assert_int_equal(passwd_verify_string(h, "Secret-2", &err), 0);
        assert_int_equal(passwd_verify_string(h, "", &err), 0);
        /* The same hash through a parsed line. */
        char *line = xasprintf("u@x:%s", h);
        struct passwd_entry e;
        assert_int_equal(passwd_line_parse(line, strlen(line), &plain_ok, &e, &err), 1);
        assert_int_equal(passwd_verify(&e, "Secret-1", &err), 1);
        assert_int_equal(passwd_verify(&e, "secret-1", &err), 0);
        passwd_entry_clear(&e);
        free(line);
        free(h);
    }
    /* Two hashes of one password differ (fresh salt). */
    char *a = passwd_hash("YESCRYPT", "x", NULL), *b = passwd_hash("YESCRYPT", "x", NULL);
    assert_string_not_equal(a, b);
    free(a);
    free(b);
}

static void test_hash_errors(void **state)
{
    (void)state;
    char *err = NULL;
    assert_null(passwd_hash("SSHA", "x", &err));
    assert_non_null(strstr(err, "unknown"));
    free(err);
    assert_null(passwd_hash("MD5-CRYPT", "x", &err));
    free(err);
    assert_null(passwd_hash("PLAIN", "a:b", &err));
    free(err);
    assert_true(passwd_scheme_known("blf-crypt"));
    assert_false(passwd_scheme_known("ARGON2ID"));
}

static void test_verify_odd_hashes(void **state)
{
    (void)state;
    char *err = NULL;
    /* Locked accounts never match, not even the text after the mark. */
    assert_int_equal(passwd_verify_string("!$6$s$h", "$6$s$h", &err), 0);
    assert_int_equal(passwd_verify_string("{CRYPT}*", "*", &err), 0);
    /* A malformed crypt hash cannot be checked. */
    assert_int_equal(passwd_verify_string("$9$abc", "x", &err), -1);
    assert_non_null(err);
    free(err);
    err = NULL;
    assert_int_equal(passwd_verify_string("{SHA512-CRYPT}$y$abc", "x", &err), -1);
    free(err);
    err = NULL;
    assert_int_equal(passwd_verify_string("{NOPE}abc", "x", &err), -1);
    free(err);
    err = NULL;
    assert_int_equal(passwd_verify_string("{PLAIN}", "", &err), -1);
    free(err);
    /* A bare hash (no {SCHEME}) is checked as CRYPT. */
    char *h = passwd_hash("SHA512-CRYPT", "test", NULL);
    assert_int_equal(passwd_verify_string(h + strlen("{SHA512-CRYPT}"), "test", NULL), 1);
    free(h);
}

/* The stored-string check with the database's plaintext policy (authd's workers). */
static void test_verify_string_opts(void **state)
{
    (void)state;
    const struct passwd_opts no = {.allow_plaintext = false}, yes = {.allow_plaintext = true};
    char *err = NULL;
    assert_int_equal(passwd_verify_string_opts("{PLAIN}pw", "pw", &no, &err), -1);
    assert_non_null(strstr(err, "plaintext"));
    free(err);
    err = NULL;
    assert_int_equal(passwd_verify_string_opts("{cleartext}pw", "pw", NULL, &err), -1);
    free(err);
    err = NULL;
    assert_int_equal(passwd_verify_string_opts("{PLAIN}pw", "pw", &yes, &err), 1);
    assert_int_equal(passwd_verify_string_opts("{PLAIN}pw", "pX", &yes, &err), 0);
    /* Hashes are checked whatever the policy. */
    char *h = passwd_hash("SHA512-CRYPT", "test", NULL);
    assert_int_equal(passwd_verify_string_opts(h, "test", &no, &err), 1);
    assert_int_equal(passwd_verify_string_opts(h, "tesT", &no, &err), 0);
    free(h);
    /* The old entry point still allows everything (ternpasswd). */
    assert_int_equal(passwd_verify_string("{PLAIN}pw", "pw", &err), 1);
    assert_null(err);
}

static void test_memcmp_ct(void **state)
{
    (void)state;
    assert_int_equal(passwd_memcmp_ct("abc", "abc", 3), 0);
    assert_int_not_equal(passwd_memcmp_ct("abc", "abd", 3), 0);
    assert_int_not_equal(passwd_memcmp_ct("\x80"
                                          "bc",
                                          "\x00"
                                          "bc",
                                          3),
                         0);
    assert_int_equal(passwd_memcmp_ct("", "", 0), 0);
}

static void test_load_file(void **state)
{
    (void)state;
    char path[] = "/tmp/test_passwd_db.XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    char *h = passwd_hash("SHA512-CRYPT", "pw", NULL);
    char *text = xasprintf("u1@x:%s:7:8::/m/u1::\nbad\n", h);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    char *err = NULL;
    log_reset();
    struct passwd_db *db = passwd_db_load(path, &no_plain, &err);
    assert_non_null(db);
    const struct passwd_entry *e = passwd_db_find(db, "u1@x");
    assert_non_null(e);
    assert_int_equal(passwd_verify(e, "pw", &err), 1);
    char *log = log_text();
    char *want = xasprintf("%s, line 2:", path);
    assert_non_null(strstr(log, want));
    free(want);
    free(log);
    passwd_db_free(&db);
    unlink(path);
    assert_null(passwd_db_load(path, &no_plain, &err));
    assert_non_null(strstr(err, "No such file"));
    free(err);
    err = NULL;
    assert_null(passwd_db_load("/tmp", &no_plain, &err)); /* a directory */
    free(err);
    free(text);
    free(h);
}

int main(void)
{
    int fd = mkstemp(log_path);
    if (fd < 0)
        return 1;
    close(fd);
    log_init("test_passwd_file");
    log_open("tern", log_path);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_line),          cmocka_unit_test(test_short_lines),
        cmocka_unit_test(test_blank_and_comments), cmocka_unit_test(test_bad_lines),
        cmocka_unit_test(test_plaintext_allowed),  cmocka_unit_test(test_db_parse),
        cmocka_unit_test(test_hash_and_verify),    cmocka_unit_test(test_hash_errors),
        cmocka_unit_test(test_verify_odd_hashes),  cmocka_unit_test(test_verify_string_opts),
        cmocka_unit_test(test_memcmp_ct),          cmocka_unit_test(test_load_file),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    unlink(log_path);
    return rc;
}
