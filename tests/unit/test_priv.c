/*
 * test_priv.c - unit tests for lib/priv.c.  Cases that change ids run in
 * a forked child (they are irreversible); cases that need root are skipped
 * unless the tests run as root.  A child reports the first failed check
 * as its exit status.
 */
#include "sys.h"
#include "priv.h"
#include "log.h"
#include "mem.h"

#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/wait.h>

#define NOBODY_NAME "nobody"

static uid_t nobody_uid;
static gid_t nobody_gid;
static char logfile[64];

static int group_setup(void **state)
{
    (void)state;
    struct passwd *pw = getpwnam(NOBODY_NAME);
    if (pw == NULL)
        return -1;
    nobody_uid = pw->pw_uid;
    nobody_gid = pw->pw_gid;
    snprintf(logfile, sizeof(logfile), "/tmp/tern-priv-log-XXXXXX");
    int fd = mkstemp(logfile);
    if (fd < 0)
        return -1;
    close(fd);
    log_init("test_priv");
    return log_open("tern", logfile);
}

static int group_teardown(void **state)
{
    (void)state;
    unlink(logfile);
    return 0;
}

static void need_root(void)
{
    if (geteuid() != 0)
        skip();
}

/* Run fn in a child; assert that it exited 0, else report its step. */
static void run_child(int (*fn)(void))
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(fn());
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (!WIFEXITED(status))
        fail_msg("child died with signal %d", WTERMSIG(status));
    if (WEXITSTATUS(status) != 0)
        fail_msg("child failed at check %d", WEXITSTATUS(status));
}

#define CHECK(n, cond)                                                                             \
    do {                                                                                           \
        if (!(cond))                                                                               \
            return (n);                                                                            \
    } while (0)

/* The state after a drop to (uid, gid): ids, one group, root is gone. */
static int check_dropped(uid_t uid, gid_t gid)
{
    uid_t ru, eu, su;
    gid_t rg, eg, sg, groups[8];
    CHECK(20, getresuid(&ru, &eu, &su) == 0 && ru == uid && eu == uid && su == uid);
    CHECK(21, getresgid(&rg, &eg, &sg) == 0 && rg == gid && eg == gid && sg == gid);
    int n = getgroups(8, groups);
    CHECK(22, n == 1 && groups[0] == gid);
    CHECK(23, setuid(0) == -1 && errno == EPERM);
    CHECK(24, seteuid(0) == -1);
    CHECK(25, setgid(0) == -1);
    CHECK(26, setgroups(0, NULL) == -1);
    return 0;
}

static void test_lookup_user(void **state)
{
    (void)state;
    uid_t uid;
    gid_t gid;
    assert_int_equal(priv_lookup_user("root", &uid, &gid), 0);
    assert_int_equal(uid, 0);
    assert_int_equal(gid, 0);
    assert_int_equal(priv_lookup_user(NOBODY_NAME, &uid, &gid), 0);
    assert_int_equal(uid, nobody_uid);
    assert_int_equal(gid, nobody_gid);
    /* By number: the passwd entry supplies the gid... */
    char num[32];
    snprintf(num, sizeof(num), "%ld", (long)nobody_uid);
    assert_int_equal(priv_lookup_user(num, &uid, &gid), 0);
    assert_int_equal(uid, nobody_uid);
    assert_int_equal(gid, nobody_gid);
    /* ...and without one the gid is the uid. */
    if (getpwuid(54321) == NULL) {
        assert_int_equal(priv_lookup_user("54321", &uid, &gid), 0);
        assert_int_equal(uid, 54321);
        assert_int_equal(gid, 54321);
    }
    static const char *const bad[] = {"no_such_user_tern", "12x", "-1", "4294967295",
                                      "99999999999999999999"};
    for (size_t i = 0; i < N_ELEMENTS(bad); i++) {
        errno = 0;
        if (priv_lookup_user(bad[i], &uid, &gid) != -1 || errno != ENOENT)
            fail_msg("'%s' should be an unknown user", bad[i]);
    }
    assert_int_equal(priv_lookup_user("", &uid, &gid), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(priv_lookup_user(NULL, &uid, &gid), -1);
}

static void test_lookup_group(void **state)
{
    (void)state;
    gid_t gid;
    assert_int_equal(priv_lookup_group("root", &gid), 0);
    assert_int_equal(gid, 0);
    assert_int_equal(priv_lookup_group("1234", &gid), 0);
    assert_int_equal(gid, 1234);
    assert_int_equal(priv_lookup_group("no_such_group_tern", &gid), -1);
    assert_int_equal(errno, ENOENT);
    assert_int_equal(priv_lookup_group("", &gid), -1);
    assert_int_equal(errno, EINVAL);
}

/* Failing lookups are plain errors naming the culprit; nothing changes. */
static void test_drop_unknown(void **state)
{
    (void)state;
    char *err = NULL;
    uid_t before = geteuid();
    assert_int_equal(priv_drop("no_such_user_tern", NULL, &err), -1);
    assert_string_equal(err, "unknown user 'no_such_user_tern'");
    xfree(err);
    assert_int_equal(priv_drop(NOBODY_NAME, "no_such_group_tern", &err), -1);
    assert_string_equal(err, "unknown group 'no_such_group_tern'");
    xfree(err);
    assert_int_equal(priv_enter("", NULL, NULL, &err), -1);
    xfree(err);
    assert_int_equal(geteuid(), before);
}

static int child_drop_nobody(void)
{
    CHECK(1, setgroups(2, (gid_t[]){0, 4}) == 0); /* give it groups to clear */
    char *err = NULL;
    CHECK(2, priv_drop(NOBODY_NAME, NULL, &err) == 0);
    return check_dropped(nobody_uid, nobody_gid);
}

static void test_drop_nobody(void **state)
{
    (void)state;
    need_root();
    run_child(child_drop_nobody);
}

static int child_drop_group(void)
{
    char *err = NULL;
    CHECK(1, priv_drop(NOBODY_NAME, "1234", &err) == 0);
    return check_dropped(nobody_uid, 1234);
}

static void test_drop_group(void **state)
{
    (void)state;
    need_root();
    run_child(child_drop_group);
}

static int child_drop_numeric(void)
{
    char *err = NULL;
    CHECK(1, priv_drop("54321", "54322", &err) == 0);
    return check_dropped(54321, 54322);
}

static void test_drop_numeric(void **state)
{
    (void)state;
    need_root();
    run_child(child_drop_numeric);
}

/* As a non-root user: same user is a no-op, anyone else an error. */
static int child_nonroot_rules(void)
{
    if (geteuid() == 0)
        CHECK(1, setgroups(1, &nobody_gid) == 0 &&
                     setresgid(nobody_gid, nobody_gid, nobody_gid) == 0 &&
                     setresuid(nobody_uid, nobody_uid, nobody_uid) == 0);
    uid_t me = getuid();
    gid_t mygid = getgid();
    struct passwd *pw = getpwuid(me);
    CHECK(2, pw != NULL);
    char *myname = xstrdup(pw->pw_name);
    char *err = NULL;
    CHECK(3, priv_drop(myname, NULL, &err) == 0);
    CHECK(4, getuid() == me && geteuid() == me && getgid() == mygid);
    CHECK(5, priv_drop("root", NULL, &err) == -1 && err != NULL);
    CHECK(6, strstr(err, "not running as root") != NULL);
    xfree(err);
    CHECK(7, priv_drop_ids(0, 0, &err) == -1 && errno == EPERM);
    xfree(err);
    CHECK(8, priv_chroot("/tmp", &err) == -1 && strstr(err, "needs root") != NULL);
    xfree(err);
    CHECK(9, priv_chroot(NULL, &err) == 0 && priv_chroot("", &err) == 0);
    CHECK(10, priv_enter(myname, NULL, NULL, &err) == 0);
    CHECK(11, priv_enter(myname, NULL, "/tmp", &err) == -1);
    xfree(err);
    CHECK(12, priv_refuse_root("smtpd") == 0);
    free(myname);
    return 0;
}

static void test_nonroot_rules(void **state)
{
    (void)state;
    run_child(child_nonroot_rules);
}

static char chroot_dir[64];

static int child_enter_chroot(void)
{
    char *err = NULL;
    CHECK(1, priv_enter(NOBODY_NAME, NULL, chroot_dir, &err) == 0);
    CHECK(2, access("/marker", F_OK) == 0); /* we see the jail's root */
    char cwd[64];
    CHECK(3, getcwd(cwd, sizeof(cwd)) != NULL && strcmp(cwd, "/") == 0);
    return check_dropped(nobody_uid, nobody_gid);
}

static int child_chroot_missing(void)
{
    char *err = NULL;
    CHECK(1, priv_chroot("/nonexistent/tern-jail", &err) == -1);
    CHECK(2, strstr(err, "/nonexistent/tern-jail") != NULL);
    CHECK(3, access("/proc", F_OK) == 0); /* still outside */
    return 0;
}

static void test_chroot(void **state)
{
    (void)state;
    need_root();
    snprintf(chroot_dir, sizeof(chroot_dir), "/tmp/tern-jail-XXXXXX");
    assert_non_null(mkdtemp(chroot_dir));
    assert_int_equal(chmod(chroot_dir, 0755), 0); /* nobody must see inside */
    char marker[96];
    snprintf(marker, sizeof(marker), "%s/marker", chroot_dir);
    int fd = open(marker, O_WRONLY | O_CREAT, 0644);
    assert_true(fd >= 0);
    close(fd);
    run_child(child_enter_chroot);
    run_child(child_chroot_missing);
    unlink(marker);
    rmdir(chroot_dir);
}

static void test_refuse_root(void **state)
{
    (void)state;
    need_root();
    assert_int_equal(priv_refuse_root("pop3d-login"), -1);
    char buf[4096] = {0};
    int fd = open(logfile, O_RDONLY);
    assert_true(fd >= 0);
    assert_true(read(fd, buf, sizeof(buf) - 1) > 0);
    close(fd);
    assert_non_null(strstr(buf, "error: pop3d-login must not run as root"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lookup_user),   cmocka_unit_test(test_lookup_group),
        cmocka_unit_test(test_drop_unknown),  cmocka_unit_test(test_drop_nobody),
        cmocka_unit_test(test_drop_group),    cmocka_unit_test(test_drop_numeric),
        cmocka_unit_test(test_nonroot_rules), cmocka_unit_test(test_chroot),
        cmocka_unit_test(test_refuse_root),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
