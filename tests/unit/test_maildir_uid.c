/*
 * test_maildir_uid.c - unit tests for lib/maildir_uid.c: the text form
 * (round trip, every malformed-line case), assignment order and
 * stability, dropping vanished messages, the file with its lock, a
 * broken file replaced by a new uidvalidity, the UIDL form, and misuse.
 */
#include "sys.h"
#include "maildir_uid.h"
#include "mem.h"
#include "str.h"

#include <setjmp.h>
#include <cmocka.h>

#include "unit_tmp.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>

static char tmpdir[64];

static int setup(void **state)
{
    (void)state;
    return unit_mkdtemp(tmpdir, sizeof(tmpdir), "uid");
}

static int teardown(void **state)
{
    (void)state;
    return unit_rm_rf(tmpdir);
}

static void test_parse_format_roundtrip(void **state)
{
    (void)state;
    const char *text = "tern-uidlist 1 V1700000000 N7\n"
                       "1 0 1700000000.M1P1Q1.host,S=10\n"
                       "4 1234 1700000001.M2P1Q2.host,S=20\n"
                       "6 99 b\n";
    maildir_uidlist_t *l = maildir_uid_new(1);
    char *err = NULL;
    assert_int_equal(maildir_uid_parse(l, text, strlen(text), &err), 0);
    assert_int_equal(maildir_uid_validity(l), 1700000000u);
    assert_int_equal(maildir_uid_next(l), 7);
    assert_int_equal(maildir_uid_count(l), 3);
    assert_int_equal(maildir_uid_lookup(l, "b"), 6);
    assert_int_equal(maildir_uid_lookup(l, "1700000001.M2P1Q2.host,S=20"), 4);
    assert_int_equal(maildir_uid_lookup(l, "nope"), 0);
    str_t *out = str_new(256);
    maildir_uid_format(l, false, out);
    assert_string_equal(str_c(out), text);
    str_free(&out);
    maildir_uid_abort(&l);
    assert_null(l);
}

static void test_parse_errors(void **state)
{
    (void)state;
    static const char *bad[] = {
        "",
        "tern-uidlist 1 V1 N2",   /* no newline */
        "tern-uidlist 2 V1 N2\n", /* version */
        "tern-uidlist 1 V0 N2\n", /* uidvalidity 0 */
        "tern-uidlist 1 V1 N0\n",
        "tern-uidlist 1 V1 N2 \n",
        "tern-uidlist 1 Vx N2\n",
        "tern-uidlist 1 V1 N5\n1 0 a\n1 0 b\n", /* uid not ascending */
        "tern-uidlist 1 V1 N5\n3 0 a\n2 0 b\n",
        "tern-uidlist 1 V1 N5\n5 0 a\n", /* uid >= next */
        "tern-uidlist 1 V1 N5\n0 0 a\n",
        "tern-uidlist 1 V1 N5\n1 0 a\n2 0 a\n", /* duplicate base */
        "tern-uidlist 1 V1 N5\n1 0\n",
        "tern-uidlist 1 V1 N5\n1 0 \n",
        "tern-uidlist 1 V1 N5\n1 0 a:2,S\n", /* info part in a base */
        "tern-uidlist 1 V1 N5\n1 0 a/b\n",
        "tern-uidlist 1 V1 N5\n1 0 a b\n",
        "tern-uidlist 1 V1 N5\n01 0 a\n",
        "tern-uidlist 1 V1 N5\n1 -1 a\n",
        "tern-uidlist 1 V1 N5\n1 99999999999999999999999 a\n",
        "tern-uidlist 1 V99999999999 N5\n",
    };
    for (size_t i = 0; i < N_ELEMENTS(bad); i++) {
        maildir_uidlist_t *l = maildir_uid_new(1);
        char *err = NULL;
        if (maildir_uid_parse(l, bad[i], strlen(bad[i]), &err) != -1)
            fail_msg("case %zu parsed: %s", i, bad[i]);
        assert_non_null(err);
        free(err);
        maildir_uid_abort(&l);
    }
}

static void test_assign(void **state)
{
    (void)state;
    maildir_uidlist_t *l = maildir_uid_new(42);
    uint64_t vs = 7;
    assert_int_equal(maildir_uid_assign(l, "c", &vs), 1);
    assert_int_equal(vs, 0);
    assert_int_equal(maildir_uid_assign(l, "a", NULL), 2);
    assert_int_equal(maildir_uid_assign(l, "b", NULL), 3);
    assert_int_equal(maildir_uid_assign(l, "a", NULL), 2); /* stable */
    maildir_uid_set_vsize(l, 2, 555);
    maildir_uid_set_vsize(l, 99, 1); /* unknown: ignored */
    assert_int_equal(maildir_uid_assign(l, "a", &vs), 2);
    assert_int_equal(vs, 555);
    assert_int_equal(maildir_uid_assign(l, "", NULL), 0);
    assert_int_equal(maildir_uid_assign(l, "x:2,S", NULL), 0);
    assert_int_equal(maildir_uid_assign(l, "x y", NULL), 0);
    assert_int_equal(maildir_uid_next(l), 4);
    str_t *out = str_new(64);
    maildir_uid_format(l, false, out);
    assert_string_equal(str_c(out), "tern-uidlist 1 V42 N4\n1 0 c\n2 555 a\n3 0 b\n");
    str_free(&out);
    maildir_uid_abort(&l);
}

static void test_base_and_uidl(void **state)
{
    (void)state;
    assert_int_equal(maildir_uid_base_len("abc:2,S"), 3);
    assert_int_equal(maildir_uid_base_len("abc"), 3);
    char buf[MAILDIR_UIDL_LEN + 1];
    maildir_uid_uidl(1, 0x65000000u, buf);
    assert_string_equal(buf, "0000000165000000");
    maildir_uid_uidl(UINT32_MAX - 1, UINT32_MAX, buf);
    assert_string_equal(buf, "fffffffeffffffff");
}

static char *read_list(void)
{
    char *path = xasprintf("%s/%s", tmpdir, MAILDIR_UID_FILE);
    FILE *f = fopen(path, "r");
    free(path);
    if (f == NULL)
        return NULL;
    str_t *s = str_new(256);
    char buf[256];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
        str_append(s, buf, n);
    fclose(f);
    return str_steal(&s);
}

static void test_file_cycle(void **state)
{
    (void)state;
    maildir_uidlist_t *l;
    char *err = NULL;
    assert_int_equal(maildir_uid_open(tmpdir, &l, &err), 0);
    uint32_t v = maildir_uid_validity(l);
    assert_true(v > 1);
    assert_int_equal(maildir_uid_assign(l, "m1", NULL), 1);
    assert_int_equal(maildir_uid_assign(l, "m2", NULL), 2);
    maildir_uid_set_vsize(l, 2, 10);
    /* The lock is held: another open must wait (checked without blocking). */
    char *lock = xasprintf("%s/%s", tmpdir, MAILDIR_UID_LOCK);
    int fd = open(lock, O_RDWR);
    assert_true(fd >= 0);
    assert_int_equal(flock(fd, LOCK_EX | LOCK_NB), -1);
    assert_int_equal(maildir_uid_commit(&l, true, &err), 0);
    assert_null(l);
    assert_int_equal(flock(fd, LOCK_EX | LOCK_NB), 0);
    close(fd);
    free(lock);

    /* Reopen: same identities; m1 vanished and is dropped; next never goes back. */
    assert_int_equal(maildir_uid_open(tmpdir, &l, &err), 0);
    assert_int_equal(maildir_uid_validity(l), v);
    uint64_t vs;
    assert_int_equal(maildir_uid_assign(l, "m2", &vs), 2);
    assert_int_equal(vs, 10);
    assert_int_equal(maildir_uid_assign(l, "m3", NULL), 3);
    assert_int_equal(maildir_uid_commit(&l, true, &err), 0);
    char *text = read_list();
    char *want = xasprintf("tern-uidlist 1 V%u N4\n2 10 m2\n3 0 m3\n", (unsigned)v);
    assert_string_equal(text, want);
    free(text);
    free(want);

    /* A broken file: a new list with a larger uidvalidity. */
    char *path = xasprintf("%s/%s", tmpdir, MAILDIR_UID_FILE);
    FILE *f = fopen(path, "w");
    fputs("garbage\n", f);
    fclose(f);
    free(path);
    assert_int_equal(maildir_uid_open(tmpdir, &l, &err), 0);
    assert_true(maildir_uid_validity(l) >= v);
    assert_int_equal(maildir_uid_count(l), 0);
    assert_int_equal(maildir_uid_assign(l, "m2", NULL), 1);
    maildir_uid_abort(&l);
}

static void write_file(const char *name, const char *text)
{
    char *path = xasprintf("%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    free(path);
}

static void test_dovecot_parse(void **state)
{
    (void)state;
    static const char good[] = "3 V1275660208 N25 G3085f01b7f11094c501100008c4a11c1\n"
                               "7 :1511442247.M529702P32470.host,S=201,W=206\n"
                               "9 W300 X1 :1511442438.M141759P32632.host,S=290\n";
    maildir_uidlist_t *l = maildir_uid_new(1);
    char *err = NULL;
    assert_int_equal(maildir_uid_parse_dovecot(l, good, strlen(good), &err), 0);
    assert_int_equal(maildir_uid_validity(l), 1275660208u);
    assert_int_equal(maildir_uid_next(l), 25);
    uint64_t vs = 1;
    assert_int_equal(maildir_uid_assign(l, "1511442247.M529702P32470.host,S=201,W=206", &vs), 7);
    assert_int_equal(vs, 0); /* no W field: size not known yet */
    assert_int_equal(maildir_uid_assign(l, "1511442438.M141759P32632.host,S=290", &vs), 9);
    assert_int_equal(vs, 300);
    assert_int_equal(maildir_uid_assign(l, "new-one", NULL), 25);
    maildir_uid_abort(&l);
    static const char *bad[] = {
        "",
        "1 1275660208 25\n",     /* version 1 (Courier's): not taken */
        "3 N25\n",               /* no V */
        "3 V12\n",               /* no N */
        "3 V0 N25\n",            /* uidvalidity 0 */
        "3 V1 N5\n5 :a\n",       /* uid >= next */
        "3 V1 N5\n2 :a\n1 :b\n", /* not ascending */
        "3 V1 N5\n1 :a\n2 :a\n", /* duplicate base */
        "3 V1 N5\n1 a\n",        /* no ':' field */
        "3 V1 N5\n1 :\n",        /* empty name */
        "3 V1 N5\n1 :a/b\n",     /* a path */
        "3 V1 N5\n1 Wx :a\n",    /* bad size */
        "3 V1 N5\nx :a\n",
    };
    for (size_t i = 0; i < N_ELEMENTS(bad); i++) {
        l = maildir_uid_new(1);
        if (maildir_uid_parse_dovecot(l, bad[i], strlen(bad[i]), &err) != -1)
            fail_msg("case %zu parsed: %s", i, bad[i]);
        assert_non_null(err);
        free(err);
        err = NULL;
        maildir_uid_abort(&l);
    }
}

static void test_dovecot_take_over(void **state)
{
    (void)state;
    maildir_uidlist_t *l;
    char *err = NULL;
    write_file(MAILDIR_UID_DOVECOT, "3 V1600000000 N12 Gabc\n4 W50 :m4\n11 :m11\n");
    assert_int_equal(maildir_uid_open(tmpdir, &l, &err), 0);
    assert_int_equal(maildir_uid_validity(l), 1600000000u);
    assert_int_equal(maildir_uid_assign(l, "m11", NULL), 11);
    assert_int_equal(maildir_uid_assign(l, "m12", NULL), 12); /* m4 is gone */
    assert_int_equal(maildir_uid_commit(&l, true, &err), 0);
    char *text = read_list();
    assert_string_equal(text, "tern-uidlist 1 V1600000000 N13\n11 0 m11\n12 0 m12\n");
    free(text);
    /* From now on tern-uidlist rules: a changed dovecot-uidlist is not read again. */
    write_file(MAILDIR_UID_DOVECOT, "3 V1700000000 N2\n1 :m11\n");
    assert_int_equal(maildir_uid_open(tmpdir, &l, &err), 0);
    assert_int_equal(maildir_uid_validity(l), 1600000000u);
    assert_int_equal(maildir_uid_lookup(l, "m11"), 11);
    maildir_uid_abort(&l);
}

static void test_dovecot_broken_not_taken(void **state)
{
    (void)state;
    maildir_uidlist_t *l;
    char *err = NULL;
    write_file(MAILDIR_UID_DOVECOT, "3 V1600000000 N12\n12 :m12\n");
    assert_int_equal(maildir_uid_open(tmpdir, &l, &err), 0);
    assert_true(maildir_uid_validity(l) != 1600000000u);
    assert_int_equal(maildir_uid_count(l), 0);
    assert_int_equal(maildir_uid_assign(l, "m12", NULL), 1);
    maildir_uid_abort(&l);
}

static void test_open_missing_dir(void **state)
{
    (void)state;
    maildir_uidlist_t *l = NULL;
    char *err = NULL;
    char *dir = xasprintf("%s/no/such", tmpdir);
    assert_int_equal(maildir_uid_open(dir, &l, &err), -1);
    assert_non_null(err);
    assert_null(l);
    free(err);
    free(dir);
}

static void commit_detached(void)
{
    maildir_uidlist_t *l = maildir_uid_new(1);
    (void)maildir_uid_commit(&l, false, NULL);
}

static void test_misuse_panics(void **state)
{
    (void)state;
    pid_t pid = fork();
    if (pid == 0) {
        int nul = open("/dev/null", O_WRONLY);
        dup2(nul, 2);
        commit_detached();
        _exit(0);
    }
    int st;
    waitpid(pid, &st, 0);
    assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_format_roundtrip),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_assign),
        cmocka_unit_test(test_base_and_uidl),
        cmocka_unit_test_setup_teardown(test_file_cycle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_missing_dir, setup, teardown),
        cmocka_unit_test(test_dovecot_parse),
        cmocka_unit_test_setup_teardown(test_dovecot_take_over, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dovecot_broken_not_taken, setup, teardown),
        cmocka_unit_test(test_misuse_panics),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
