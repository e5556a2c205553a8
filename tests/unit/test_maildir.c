/*
 * test_maildir.c - unit tests for lib/maildir.c: delivery into new/ with
 * exact bytes and nothing left in tmp/, unique names, size limit and
 * quota, a full file system, name parsing and listing.
 */
#include "sys.h"
#include "maildir.h"
#include "durable.h"
#include "mem.h"
#include "str.h"

#include <setjmp.h>
#include <cmocka.h>

#include "unit_tmp.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>

static char tmpdir[64];

static int setup(void **state)
{
    (void)state;
    return unit_mkdtemp(tmpdir, sizeof(tmpdir), "maildir");
}

static int teardown(void **state)
{
    (void)state;
    return unit_rm_rf(tmpdir);
}

static size_t count_in(const char *md, const char *sub)
{
    char *dir = xasprintf("%s/%s", md, sub);
    DIR *d = opendir(dir);
    free(dir);
    if (d == NULL)
        return 0;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static str_t *slurp(const char *path)
{
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    str_t *s = str_new(0);
    char buf[4096];
    ssize_t n;
    while ((n = read(fd, buf, sizeof(buf))) > 0)
        str_append(s, buf, (size_t)n);
    close(fd);
    return s;
}

static void must(int rc, char *err)
{
    if (rc != 0)
        fail_msg("unexpected error %d: %s", rc, err ? err : "(none)");
}

static str_t *make_msg(size_t n)
{
    str_t *m = str_new(n);
    str_appendz(m, "From: a@b\nSubject: t\n\n");
    while (str_len(m) < n)
        str_appendc(m, (char)('a' + str_len(m) % 26));
    return m;
}

static void test_deliver(void **state)
{
    (void)state;
    char *md = xasprintf("%s/user/Maildir", tmpdir); /* parents created too */
    str_t *msg = make_msg(200000);
    maildir_delivery_t *d;
    char *err = NULL, *name = NULL;
    struct maildir_opts o = {.hostname = "mx/1:a,b"};
    must(maildir_deliver_begin(md, &o, &d, &err), err);
    /* Small and large writes. */
    must(maildir_write(d, str_c(msg), 10), NULL);
    must(maildir_write(d, str_c(msg) + 10, 100000), NULL);
    must(maildir_write(d, str_c(msg) + 100010, str_len(msg) - 100010), NULL);
    assert_int_equal(maildir_delivery_size(d), str_len(msg));
    must(maildir_deliver_commit(&d, &name, &err), err);
    assert_null(d);
    assert_int_equal(count_in(md, "tmp"), 0);
    assert_int_equal(count_in(md, "new"), 1);
    assert_non_null(strstr(name, ".mx\\0571\\072a\\054b,S=200000"));
    assert_null(strchr(name, '/'));
    assert_null(strchr(name, ':'));
    uint64_t sz;
    assert_int_equal(maildir_name_size(name, &sz), 0);
    assert_int_equal(sz, 200000);
    char *p = xasprintf("%s/new/%s", md, name);
    str_t *got = slurp(p);
    assert_int_equal(str_len(got), str_len(msg));
    assert_memory_equal(str_c(got), str_c(msg), str_len(msg));
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    char *sub = xasprintf("%s/cur", md);
    assert_int_equal(stat(sub, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    free(sub);
    str_free(&got);
    str_free(&msg);
    free(p);
    free(name);
    free(md);
}

static void test_unique_names(void **state)
{
    (void)state;
    enum { N = 300 };
    char *md = xasprintf("%s/uniq", tmpdir);
    char **names = xcalloc(N, sizeof(*names));
    for (int i = 0; i < N; i++) {
        maildir_delivery_t *d;
        char *err = NULL;
        must(maildir_deliver_begin(md, NULL, &d, &err), err);
        must(maildir_write(d, "x\n", 2), NULL);
        must(maildir_deliver_commit(&d, &names[i], &err), err);
        for (int j = 0; j < i; j++)
            assert_string_not_equal(names[i], names[j]);
    }
    assert_int_equal(count_in(md, "new"), N);
    assert_int_equal(count_in(md, "tmp"), 0);
    for (int i = 0; i < N; i++)
        free(names[i]);
    free(names);
    free(md);
}

static void test_abort_and_limits(void **state)
{
    (void)state;
    char *md = xasprintf("%s/limits", tmpdir);
    maildir_delivery_t *d;
    char *err = NULL;
    must(maildir_deliver_begin(md, NULL, &d, &err), err);
    must(maildir_write(d, "abc", 3), NULL);
    assert_int_equal(count_in(md, "tmp"), 1);
    maildir_deliver_abort(&d);
    assert_null(d);
    maildir_deliver_abort(&d);
    assert_int_equal(count_in(md, "tmp"), 0);

    /* Over the per-message limit. */
    struct maildir_opts o = {.size_limit = 100};
    must(maildir_deliver_begin(md, &o, &d, &err), err);
    must(maildir_write(d, "0123456789", 10), NULL);
    char big[200] = {0};
    assert_int_equal(maildir_write(d, big, sizeof(big)), -1);
    assert_int_equal(maildir_deliver_commit(&d, NULL, &err), MAILDIR_ETOOBIG);
    xfree(err);
    assert_null(d);
    assert_int_equal(count_in(md, "tmp") + count_in(md, "new"), 0);

    /* Quota over the whole mailbox. */
    o = (struct maildir_opts){.quota = 150};
    must(maildir_deliver_begin(md, &o, &d, &err), err);
    must(maildir_write(d, big, 100), NULL);
    must(maildir_deliver_commit(&d, NULL, &err), err);
    must(maildir_deliver_begin(md, &o, &d, &err), err);
    must(maildir_write(d, big, 100), NULL);
    assert_int_equal(maildir_deliver_commit(&d, NULL, &err), MAILDIR_ETOOBIG);
    xfree(err);
    assert_int_equal(count_in(md, "new"), 1);
    assert_int_equal(count_in(md, "tmp"), 0);
    uint64_t used;
    must(maildir_usage(md, &used, &err), err);
    assert_int_equal(used, 100);
    free(md);

    /* A Maildir path that cannot exist: temporary. */
    assert_int_equal(maildir_deliver_begin("/proc/self/nope/Maildir", NULL, &d, &err),
                     MAILDIR_ETEMP);
    xfree(err);
}

static void put(const char *md, const char *sub, const char *name, const char *data)
{
    char *p = xasprintf("%s/%s/%s", md, sub, name);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, strlen(data)), (ssize_t)strlen(data));
    close(fd);
    free(p);
}

static void test_list(void **state)
{
    (void)state;
    char *md = xasprintf("%s/list", tmpdir);
    char *err = NULL;
    must(maildir_create(md, &err), err);
    put(md, "new", "1700000002.M1P1Q1.h,S=5", "hello");
    put(md, "cur", "1700000001.M1P1Q1.h,S=3:2,FS", "abc");
    put(md, "cur", "1700000003.M1P1Q1.h:2,", "12345678");
    put(md, "cur", "1700000004.M1P1Q1.h", "1234");
    put(md, "cur", ".hidden", "x");
    put(md, "tmp", "1700000000.M1P1Q1.h", "in tmp: not listed");
    struct maildir_entry *e;
    size_t n;
    must(maildir_list(md, &e, &n, &err), err);
    assert_int_equal(n, 4);
    assert_string_equal(e[0].name, "1700000001.M1P1Q1.h,S=3:2,FS");
    assert_false(e[0].in_new);
    assert_int_equal(e[0].size, 3);
    assert_string_equal(e[0].flags, "FS");
    assert_true(e[1].in_new);
    assert_int_equal(e[1].size, 5);
    assert_string_equal(e[1].flags, "");
    assert_int_equal(e[2].size, 8); /* from stat */
    assert_string_equal(e[2].flags, "");
    assert_int_equal(e[3].size, 4);
    maildir_list_free(&e, n);
    assert_null(e);
    free(md);
    assert_int_equal(maildir_list("/nonexistent", &e, &n, &err), -1);
    xfree(err);
}

static void test_name_parsing(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        int rc;
        uint64_t size;
        const char *flags;
    } cases[] = {
        {"1.M2P3Q4.host,S=123", 0, 123, NULL},
        {"1.M2P3Q4.host,S=123:2,RS", 0, 123, "RS"},
        {"1.M2P3Q4.host,S=123,W=130:2,", 0, 123, ""},
        {"1.M2P3Q4.host", -1, 0, NULL},
        {"1.M2P3Q4.host,S=:2,S", -1, 0, "S"},
        {"1.M2P3Q4.host,S=12x", -1, 0, NULL},
        {"1.M2P3Q4.host:2,S,S=12", -1, 0, "S,S=12"},
        {"1.M2P3Q4.host,S=99999999999999999999999", -1, 0, NULL},
        {"1.M2P3Q4.host:1,xyz", -1, 0, NULL},
    };
    for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
        uint64_t sz = 0;
        assert_int_equal(maildir_name_size(cases[i].name, &sz), cases[i].rc);
        if (cases[i].rc == 0)
            assert_int_equal(sz, cases[i].size);
        const char *f = maildir_name_flags(cases[i].name);
        if (cases[i].flags)
            assert_string_equal(f, cases[i].flags);
        else
            assert_null(f);
    }
    char *h = maildir_escape_host("a/b:c,d");
    assert_string_equal(h, "a\\057b\\072c\\054d");
    free(h);
}

static void test_full_filesystem(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip();
    char *mnt = xasprintf("%s/small", tmpdir);
    assert_int_equal(mkdir(mnt, 0700), 0);
    if (mount("tmpfs", mnt, "tmpfs", 0, "size=64k") < 0) {
        rmdir(mnt);
        free(mnt);
        skip();
    }
    char *md = xasprintf("%s/Maildir", mnt);
    maildir_delivery_t *d;
    char *err = NULL;
    must(maildir_deliver_begin(md, NULL, &d, &err), err);
    str_t *msg = make_msg(256 * 1024);
    (void)maildir_write(d, str_c(msg), str_len(msg));
    assert_int_equal(maildir_deliver_commit(&d, NULL, &err), MAILDIR_ETEMP);
    assert_non_null(strstr(err, "No space"));
    xfree(err);
    assert_int_equal(count_in(md, "new"), 0);
    assert_int_equal(count_in(md, "tmp"), 0);
    /* After the failure a small message still gets through. */
    must(maildir_deliver_begin(md, NULL, &d, &err), err);
    must(maildir_write(d, "small\n", 6), NULL);
    must(maildir_deliver_commit(&d, NULL, &err), err);
    assert_int_equal(count_in(md, "new"), 1);
    str_free(&msg);
    free(md);
    durable_group_close_all(); /* the Maildir's group commit state file */
    assert_int_equal(umount(mnt), 0);
    rmdir(mnt);
    free(mnt);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deliver),          cmocka_unit_test(test_unique_names),
        cmocka_unit_test(test_abort_and_limits), cmocka_unit_test(test_list),
        cmocka_unit_test(test_name_parsing),     cmocka_unit_test(test_full_filesystem),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
