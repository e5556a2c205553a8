/*
 * test_durable_group.c - unit tests for lib/durable_group.c: the shared
 * counters of a group commit advance with each fsync, a caller already
 * covered by a later fsync skips its own, a stale file (another boot) is
 * reset, and a directory without a group is left to the caller.
 */
#include "sys.h"
#include "durable.h"
#include "mem.h"
#include "str.h"

#include <setjmp.h>
#include <cmocka.h>

#include "unit_tmp.h"

#include <fcntl.h>

static char tmpdir[64];

static int setup(void **state)
{
    (void)state;
    return unit_mkdtemp(tmpdir, sizeof(tmpdir), "dgroup");
}

static int teardown(void **state)
{
    (void)state;
    return unit_rm_rf(tmpdir);
}

/* The state file's counters: requested, durable. */
static void counters(const char *path, uint64_t *req, uint64_t *dur)
{
    uint64_t v[2];
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(pread(fd, v, sizeof(v), 0), sizeof(v));
    close(fd);
    *req = v[0];
    *dur = v[1];
}

static void set_counters(const char *path, uint64_t req, uint64_t dur)
{
    uint64_t v[2] = {req, dur};
    int fd = open(path, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, v, sizeof(v), 0), sizeof(v));
    close(fd);
}

static char *make_dir(const char *name)
{
    char *d = xasprintf("%s/%s", tmpdir, name);
    assert_int_equal(mkdir(d, 0700), 0);
    return d;
}

static void test_counts_and_skip(void **state)
{
    (void)state;
    char *dir = make_dir("a");
    char *st = xasprintf("%s/a.sync", tmpdir);
    assert_int_equal(durable_group_open(dir, st), 0);
    assert_int_equal(durable_group_open(dir, st), 0); /* once is enough */
    for (int i = 0; i < 3; i++)
        assert_int_equal(durable_fsync_dir(dir), 0);
    uint64_t req, dur;
    counters(st, &req, &dur);
    assert_int_equal(req, 3);
    assert_int_equal(dur, 3);
    /* Someone's fsync that started later covered the next ticket: no fsync,
     * durable stays. */
    set_counters(st, 3, 10);
    assert_int_equal(durable_group_fsync_dir(dir), 0);
    counters(st, &req, &dur);
    assert_int_equal(req, 4);
    assert_int_equal(dur, 10);
    /* Not covered: this caller fsyncs and publishes every ticket so far. */
    set_counters(st, 7, 2);
    assert_int_equal(durable_group_fsync_dir(dir), 0);
    counters(st, &req, &dur);
    assert_int_equal(req, 8);
    assert_int_equal(dur, 8);
    free(dir);
    free(st);
}

static void test_stale_file_reset(void **state)
{
    (void)state;
    char *dir = make_dir("b");
    char *st = xasprintf("%s/b.sync", tmpdir);
    int fd = open(st, O_RDWR | O_CREAT, 0600);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, 4096), 0);
    close(fd);
    set_counters(st, 500, 900); /* and no boot id: from another boot */
    assert_int_equal(durable_group_open(dir, st), 0);
    uint64_t req, dur;
    counters(st, &req, &dur);
    assert_int_equal(req, 0);
    assert_int_equal(dur, 0);
    assert_int_equal(durable_fsync_dir(dir), 0);
    counters(st, &req, &dur);
    assert_int_equal(req, 1);
    assert_int_equal(dur, 1);
    free(dir);
    free(st);
}

static void test_no_group(void **state)
{
    (void)state;
    char *dir = make_dir("c");
    assert_int_equal(durable_group_fsync_dir(dir), 1);
    assert_int_equal(durable_fsync_dir(dir), 0);
    char *st = xasprintf("%s/missing/c.sync", tmpdir);
    assert_int_equal(durable_group_open(dir, st), -1);
    assert_int_equal(errno, ENOENT);
    assert_int_equal(durable_group_fsync_dir(dir), 1);
    free(dir);
    free(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counts_and_skip),
        cmocka_unit_test(test_stale_file_reset),
        cmocka_unit_test(test_no_group),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
