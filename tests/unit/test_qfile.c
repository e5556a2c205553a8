/*
 * test_qfile.c - unit tests for lib/qfile*.c: round trip of every record
 * type, strict rejection of truncated, over-long and malformed files,
 * the incomplete-until-commit mode bit, in-place recipient marks, moves
 * between queue directories and a full file system.
 */
#include "sys.h"
#include "durable.h"
#include "mem.h"
#include "qfile.h"
#include "str.h"

#include <setjmp.h>
#include <cmocka.h>

#include "unit_tmp.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>

static char tmpdir[64];
static char qdir[128], qdir2[128];

static void rm_rf(const char *path)
{
    assert_int_equal(unit_rm_rf(path), 0);
}

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/tern-qfile-XXXXXX");
    if (mkdtemp(tmpdir) == NULL)
        return -1;
    snprintf(qdir, sizeof(qdir), "%s/incoming", tmpdir);
    snprintf(qdir2, sizeof(qdir2), "%s/active", tmpdir);
    return mkdir(qdir, 0700) || mkdir(qdir2, 0700);
}

static int teardown(void **state)
{
    (void)state;
    rm_rf(tmpdir);
    return 0;
}

static size_t dir_entries(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static char *must_ok(int rc, char *err)
{
    if (rc != 0)
        fail_msg("unexpected error: %s", err ? err : "(none)");
    return err;
}

/* Write a complete message; content is hdr then (after the marker) body. */
static char *write_msg(const char *dir, const char *hdr, const str_t *body, size_t nrcpt,
                       char id[QUEUE_ID_SIZE])
{
    qfile_writer_t *w;
    char *err = NULL;
    must_ok(qfile_create(dir, &w, id, &err), err);
    struct timeval tv = {.tv_sec = 1700000000, .tv_usec = 42};
    struct qfile_client cl = {.name = "mx.example.org",
                              .addr = "192.0.2.1",
                              .port = "40000",
                              .helo = "mx.example.org",
                              .protocol = "ESMTP",
                              .sasl_method = "PLAIN",
                              .sasl_username = "alice"};
    must_ok(qfile_write_arrival(w, &tv, &err), err);
    must_ok(qfile_write_sender(w, "alice@example.org", &err), err);
    must_ok(qfile_write_client(w, &cl, &err), err);
    must_ok(qfile_write_dsn(w, "ENV-1", "HDRS", &err), err);
    for (size_t i = 0; i + 1 < nrcpt; i++) {
        char addr[64];
        snprintf(addr, sizeof(addr), "user%zu@example.net", i);
        struct qfile_rcpt_spec r = {.address = addr,
                                    .orcpt = "rfc822;orig@example.net",
                                    .original = "list@example.net",
                                    .notify = QFILE_NOTIFY_SUCCESS | QFILE_NOTIFY_FAILURE};
        must_ok(qfile_write_rcpt(w, &r, &err), err);
    }
    must_ok(qfile_write_content(w, hdr, strlen(hdr), &err), err);
    must_ok(qfile_write_body_marker(w, &err), err);
    must_ok(qfile_write_content(w, str_c(body), str_len(body), &err), err);
    if (nrcpt > 0) {
        struct qfile_rcpt_spec r = {.address = "extracted@example.com",
                                    .notify = QFILE_NOTIFY_NEVER};
        must_ok(qfile_write_rcpt(w, &r, &err), err);
    }
    must_ok(qfile_write_attr(w, "x_tail", "after content", &err), err);
    must_ok(qfile_commit(&w, &err), err);
    assert_null(w);
    return qfile_path(dir, id);
}

static str_t *make_body(size_t n)
{
    str_t *b = str_new(n);
    for (size_t i = 0; i < n; i++)
        str_appendc(b, (char)(i % 251)); /* includes NUL and 8-bit bytes */
    return b;
}

static void test_round_trip(void **state)
{
    (void)state;
    const char *hdr = "Subject: hi\nFrom: alice@example.org\n\n";
    str_t *body = make_body(3 * QFILE_CHUNK_SIZE + 17);
    char id[QUEUE_ID_SIZE];
    char *path = write_msg(qdir, hdr, body, 3, id);
    assert_true(queue_id_valid(id));
    assert_int_equal(dir_entries(qdir), 1); /* no temporary left */
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, QFILE_MODE_COMPLETE);

    qfile_t *qf;
    char *err = NULL;
    must_ok(qfile_open(path, 0, &qf, &err), err);
    struct timeval tv;
    qfile_arrival(qf, &tv);
    assert_int_equal(tv.tv_sec, 1700000000);
    assert_int_equal(tv.tv_usec, 42);
    assert_string_equal(qfile_sender(qf), "alice@example.org");
    assert_string_equal(qfile_attr(qf, QFILE_ATTR_CLIENT_NAME), "mx.example.org");
    assert_string_equal(qfile_attr(qf, QFILE_ATTR_CLIENT_ADDR), "192.0.2.1");
    assert_string_equal(qfile_attr(qf, QFILE_ATTR_CLIENT_PORT), "40000");
    assert_string_equal(qfile_attr(qf, QFILE_ATTR_HELO_NAME), "mx.example.org");
    assert_string_equal(qfile_attr(qf, QFILE_ATTR_PROTOCOL), "ESMTP");
    assert_string_equal(qfile_attr(qf, QFILE_ATTR_SASL_METHOD), "PLAIN");
    assert_string_equal(qfile_attr(qf, QFILE_ATTR_SASL_USERNAME), "alice");
    assert_string_equal(qfile_attr(qf, QFILE_ATTR_DSN_ENVID), "ENV-1");
    assert_string_equal(qfile_attr(qf, QFILE_ATTR_DSN_RET), "HDRS");
    assert_string_equal(qfile_attr(qf, "x_tail"), "after content");
    assert_null(qfile_attr(qf, "nonexistent"));
    assert_int_equal(qfile_attr_count(qf), 10);
    const char *n, *v;
    qfile_attr_at(qf, 0, &n, &v);
    assert_string_equal(n, "client_name");

    assert_int_equal(qfile_rcpt_count(qf), 3);
    assert_int_equal(qfile_rcpt_pending(qf), 3);
    const struct qfile_rcpt *r = qfile_rcpt(qf, 1);
    assert_string_equal(r->address, "user1@example.net");
    assert_string_equal(r->orcpt, "rfc822;orig@example.net");
    assert_string_equal(r->original, "list@example.net");
    assert_int_equal(r->notify, QFILE_NOTIFY_SUCCESS | QFILE_NOTIFY_FAILURE);
    assert_int_equal(r->status, QFILE_RCPT_PENDING);
    r = qfile_rcpt(qf, 2);
    assert_string_equal(r->address, "extracted@example.com");
    assert_string_equal(r->orcpt, "");
    assert_string_equal(r->original, "");
    assert_int_equal(r->notify, QFILE_NOTIFY_NEVER);

    assert_int_equal(qfile_header_size(qf), strlen(hdr));
    assert_int_equal(qfile_content_size(qf), strlen(hdr) + str_len(body));
    /* Read back in odd-sized pieces, twice (rewind). */
    for (int pass = 0; pass < 2; pass++) {
        str_t *got = str_new(0);
        char buf[1000];
        ssize_t k;
        while ((k = qfile_content_read(qf, buf, sizeof(buf), &err)) > 0)
            str_append(got, buf, (size_t)k);
        assert_int_equal(k, 0);
        assert_int_equal(str_len(got), strlen(hdr) + str_len(body));
        assert_memory_equal(str_c(got), hdr, strlen(hdr));
        assert_memory_equal(str_c(got) + strlen(hdr), str_c(body), str_len(body));
        str_free(&got);
        qfile_content_rewind(qf);
    }
    qfile_close(&qf);
    assert_null(qf);
    str_free(&body);
    unlink(path);
    free(path);
}

static void test_empty_content(void **state)
{
    (void)state;
    qfile_writer_t *w;
    char *err = NULL, id[QUEUE_ID_SIZE];
    struct timeval tv = {.tv_sec = 5, .tv_usec = 0};
    must_ok(qfile_create(qdir, &w, id, &err), err);
    must_ok(qfile_write_arrival(w, &tv, &err), err);
    must_ok(qfile_write_sender(w, "", &err), err); /* null sender */
    struct qfile_rcpt_spec r = {.address = "postmaster"};
    must_ok(qfile_write_rcpt(w, &r, &err), err);
    must_ok(qfile_commit(&w, &err), err);
    char *path = qfile_path(qdir, id);
    qfile_t *qf;
    must_ok(qfile_open(path, 0, &qf, &err), err);
    assert_string_equal(qfile_sender(qf), "");
    assert_int_equal(qfile_content_size(qf), 0);
    char buf[8];
    assert_int_equal(qfile_content_read(qf, buf, sizeof(buf), &err), 0);
    qfile_close(&qf);
    unlink(path);
    free(path);
}

static void test_incomplete_until_commit(void **state)
{
    (void)state;
    qfile_writer_t *w;
    char *err = NULL, id[QUEUE_ID_SIZE];
    struct timeval tv = {.tv_sec = 5, .tv_usec = 0};
    must_ok(qfile_create(qdir, &w, id, &err), err);
    must_ok(qfile_write_arrival(w, &tv, &err), err);
    must_ok(qfile_write_sender(w, "a@b", &err), err);
    must_ok(qfile_write_content(w, "x", 1, &err), err);
    const char *path = qfile_writer_path(w);
    assert_string_equal(qfile_writer_id(w), id);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, QFILE_MODE_WRITING);
    qfile_t *qf;
    assert_int_equal(qfile_open(path, 0, &qf, &err), QFILE_INCOMPLETE);
    free(err);
    assert_int_equal(qfile_open(path, QFILE_OPEN_ANY_MODE, &qf, &err), QFILE_CORRUPT);
    free(err);
    char *keep = xstrdup(path);
    must_ok(qfile_commit(&w, &err), err);
    assert_int_equal(stat(keep, &st), 0);
    assert_int_equal(st.st_mode & 0777, QFILE_MODE_COMPLETE);
    must_ok(qfile_open(keep, 0, &qf, &err), err);
    qfile_close(&qf);

    /* A crash between fsync and chmod: recover marks it complete. */
    assert_int_equal(chmod(keep, 0600), 0);
    assert_int_equal(qfile_open(keep, 0, &qf, &err), QFILE_INCOMPLETE);
    free(err);
    must_ok(qfile_recover(keep, &err), err);
    assert_int_equal(stat(keep, &st), 0);
    assert_int_equal(st.st_mode & 0777, QFILE_MODE_COMPLETE);
    unlink(keep);
    free(keep);

    /* An aborted writer leaves nothing. */
    must_ok(qfile_create(qdir, &w, id, &err), err);
    qfile_abort(&w);
    assert_null(w);
    qfile_abort(&w);
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

static void put_file(const char *path, const void *data, size_t n, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(durable_write_all(fd, data, n), 0);
    assert_int_equal(fchmod(fd, mode), 0);
    close(fd);
}

static void test_truncated_everywhere(void **state)
{
    (void)state;
    str_t *body = make_body(300);
    char id[QUEUE_ID_SIZE];
    char *path = write_msg(qdir, "Subject: t\n\n", body, 2, id);
    str_t *whole = slurp(path);
    char *cut = xasprintf("%s/cut", tmpdir);
    for (size_t k = 0; k < str_len(whole); k++) {
        put_file(cut, str_c(whole), k, 0700);
        qfile_t *qf = NULL;
        char *err = NULL;
        int rc = qfile_open(cut, 0, &qf, &err);
        if (rc != QFILE_CORRUPT)
            fail_msg("truncated at %zu: rc %d", k, rc);
        assert_null(qf);
        assert_non_null(err);
        free(err);
    }
    /* And one byte too many. */
    str_appendc(whole, 'E');
    put_file(cut, str_c(whole), str_len(whole), 0700);
    qfile_t *qf;
    char *err = NULL;
    assert_int_equal(qfile_open(cut, 0, &qf, &err), QFILE_CORRUPT);
    assert_non_null(strstr(err, "after the end"));
    free(err);
    unlink(cut);
    unlink(path);
    free(cut);
    free(path);
    str_free(&whole);
    str_free(&body);
}

/* Append a raw record. */
static void rec(str_t *s, char type, const void *data, size_t n)
{
    unsigned char h[5] = {(unsigned char)type, (unsigned char)(n >> 24), (unsigned char)(n >> 16),
                          (unsigned char)(n >> 8), (unsigned char)n};
    str_append(s, h, 5);
    str_append(s, data, n);
}

static void recz(str_t *s, char type, const char *z)
{
    rec(s, type, z, strlen(z));
}

/* A valid envelope head: version, time, sender. */
static str_t *head(void)
{
    str_t *s = str_new(64);
    recz(s, 'V', "1");
    recz(s, 'T', "1700000000.000001");
    recz(s, 'F', "a@b");
    return s;
}

static int open_raw(const str_t *s, const struct qfile_limits *lim, char **err_r)
{
    char *p = xasprintf("%s/raw", tmpdir);
    put_file(p, str_c(s), str_len(s), 0700);
    int fd = open(p, O_RDONLY);
    assert_true(fd >= 0);
    qfile_t *qf = NULL;
    int rc = qfile_open_fd(fd, p, 0, lim, &qf, err_r);
    qfile_close(&qf);
    unlink(p);
    free(p);
    return rc;
}

static void test_overlong_record(void **state)
{
    (void)state;
    /* Declared length over the default bound (data need not follow). */
    str_t *s = head();
    unsigned char big[5] = {'A', 0x00, 0x20, 0x00, 0x00}; /* 2 MiB */
    str_append(s, big, 5);
    char *err = NULL;
    assert_int_equal(open_raw(s, NULL, &err), QFILE_CORRUPT);
    assert_non_null(strstr(err, "longer than"));
    xfree(err);
    str_free(&s);

    /* A caller-set bound. */
    s = head();
    str_t *val = str_new(300);
    str_appendz(val, "x_big=");
    for (int i = 0; i < 200; i++)
        str_appendc(val, 'v');
    rec(s, 'A', str_c(val), str_len(val));
    rec(s, 'E', NULL, 0);
    struct qfile_limits lim = {.max_record = 100, .max_rcpt = 10};
    assert_int_equal(open_raw(s, &lim, &err), QFILE_CORRUPT);
    xfree(err);
    assert_int_equal(open_raw(s, NULL, &err), 0);
    str_free(&s);
    str_free(&val);

    /* The writer refuses an over-long envelope value. */
    qfile_writer_t *w;
    char id[QUEUE_ID_SIZE];
    must_ok(qfile_create(qdir, &w, id, &err), err);
    char *huge = xmalloc(QFILE_RECORD_MAX + 2);
    memset(huge, 'h', QFILE_RECORD_MAX + 1);
    huge[QFILE_RECORD_MAX + 1] = '\0';
    assert_int_equal(qfile_write_attr(w, "x_huge", huge, &err), -1);
    xfree(err);
    assert_int_equal(qfile_write_sender(w, huge, &err), -1);
    xfree(err);
    free(huge);
    qfile_abort(&w);
}

static void test_corrupt_table(void **state)
{
    (void)state;
    static const struct {
        const char *what;
        const char *tail; /* records after head(), as "Tdata|Tdata|" */
    } cases[] = {
        {"unknown type", "Zx|E|"},
        {"no end", "R"
                   "P0a\x01"
                   "b|"},
        {"time after content", "Chello|T1.000000|E|"},
        {"sender after content", "Chello|Fx|E|"},
        {"second content run", "Ca|Abx=1|Cb|E|"},
        {"repeated body marker", "Ca|B|B|E|"},
        {"body marker with data", "Bx|E|"},
        {"repeated attribute", "Ax=1|Ax=2|E|"},
        {"bad attribute name", "AX=1|E|"},
        {"attribute without =", "Axyz|E|"},
        {"repeated time", "T5.000000|E|"},
        {"repeated sender", "Fb@c|E|"},
        {"repeated version", "V1|E|"},
        {"end with data", "Ex|"},
        {"bad recipient status", "RX0a\x01\x01|E|"},
        {"bad notify", "RP9a\x01\x01|E|"},
        {"two recipient fields", "RP0a\x01|E|"},
        {"four recipient fields", "RP0a\x01\x01\x01|E|"},
        {"empty recipient", "RP0\x01\x01|E|"},
        {"short recipient", "RP0|E|"},
    };
    for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
        str_t *s = head();
        /* '|' ends a record, '\x01' stands for NUL inside data. */
        const char *p = cases[i].tail;
        while (*p) {
            const char *end = strchr(p, '|');
            str_t *d = str_new(16);
            for (const char *q = p + 1; q < end; q++)
                str_appendc(d, *q == '\x01' ? '\0' : *q);
            rec(s, *p, str_c(d), str_len(d));
            str_free(&d);
            p = end + 1;
        }
        char *err = NULL;
        int rc = open_raw(s, NULL, &err);
        if (rc != QFILE_CORRUPT)
            fail_msg("case '%s': rc %d", cases[i].what, rc);
        free(err);
        str_free(&s);
    }
    /* Bad time formats and bad headers. */
    static const char *bad_heads[] = {"V\0\0\0\0012", "X\0\0\0\0011", "V\0\0", ""};
    static const size_t bad_lens[] = {6, 6, 3, 0};
    for (size_t i = 0; i < N_ELEMENTS(bad_heads); i++) {
        str_t *s = str_new(8);
        str_append(s, bad_heads[i], bad_lens[i]);
        char *err = NULL;
        assert_int_equal(open_raw(s, NULL, &err), QFILE_CORRUPT);
        free(err);
        str_free(&s);
    }
    static const char *bad_times[] = {
        "1", "1.12345", "1.1234567", ".123456", "a.123456", "1.12345x", "1234567890123456.000000"};
    for (size_t i = 0; i < N_ELEMENTS(bad_times); i++) {
        str_t *s = str_new(64);
        recz(s, 'V', "1");
        recz(s, 'T', bad_times[i]);
        recz(s, 'F', "a@b");
        rec(s, 'E', NULL, 0);
        char *err = NULL;
        if (open_raw(s, NULL, &err) != QFILE_CORRUPT)
            fail_msg("time '%s' accepted", bad_times[i]);
        free(err);
        str_free(&s);
    }
    /* Missing sender. */
    str_t *s = str_new(64);
    recz(s, 'V', "1");
    recz(s, 'T', "1.000000");
    rec(s, 'E', NULL, 0);
    char *err = NULL;
    assert_int_equal(open_raw(s, NULL, &err), QFILE_CORRUPT);
    free(err);
    str_free(&s);
    /* Too many recipients for the caller's bound. */
    s = head();
    for (int i = 0; i < 3; i++)
        rec(s, 'R', "P0a\0\0", 5);
    rec(s, 'E', NULL, 0);
    struct qfile_limits lim = {.max_record = 100, .max_rcpt = 2};
    assert_int_equal(open_raw(s, &lim, &err), QFILE_CORRUPT);
    free(err);
    str_free(&s);
}

static void test_mark_done(void **state)
{
    (void)state;
    str_t *body = make_body(10);
    char id[QUEUE_ID_SIZE];
    char *path = write_msg(qdir, "S: x\n\n", body, 3, id);
    char *err = NULL;
    must_ok(qfile_mark_done(path, 1, &err), err);
    qfile_t *qf;
    must_ok(qfile_open(path, QFILE_OPEN_RDWR, &qf, &err), err);
    assert_int_equal(qfile_rcpt(qf, 0)->status, QFILE_RCPT_PENDING);
    assert_int_equal(qfile_rcpt(qf, 1)->status, QFILE_RCPT_DELIVERED);
    assert_true(qfile_rcpt_done(qfile_rcpt(qf, 1)));
    assert_int_equal(qfile_rcpt_pending(qf), 2);
    must_ok(qfile_mark(qf, 2, QFILE_RCPT_FAILED, &err), err);
    must_ok(qfile_sync(qf, &err), err);
    /* Misuse: bad index, bad status. */
    assert_int_equal(qfile_mark(qf, 3, QFILE_RCPT_DELIVERED, &err), -1);
    xfree(err);
    assert_int_equal(qfile_mark(qf, 0, 'Z', &err), -1);
    xfree(err);
    qfile_close(&qf);
    must_ok(qfile_open(path, 0, &qf, &err), err);
    assert_int_equal(qfile_rcpt(qf, 2)->status, QFILE_RCPT_FAILED);
    assert_int_equal(qfile_rcpt_pending(qf), 1);
    /* Read-only handle refuses. */
    assert_int_equal(qfile_mark(qf, 0, QFILE_RCPT_DELIVERED, &err), -1);
    xfree(err);
    qfile_close(&qf);
    assert_int_equal(qfile_mark_done(path, 99, &err), -1);
    xfree(err);
    unlink(path);
    free(path);
    str_free(&body);
}

static void test_move(void **state)
{
    (void)state;
    str_t *body = make_body(10);
    char id[QUEUE_ID_SIZE];
    char *path = write_msg(qdir, "S: x\n\n", body, 1, id);
    char *err = NULL;
    must_ok(qfile_move(id, qdir, qdir2, &err), err);
    struct stat st;
    assert_int_equal(stat(path, &st), -1);
    char *moved = qfile_path(qdir2, id);
    qfile_t *qf;
    must_ok(qfile_open(moved, 0, &qf, &err), err);
    qfile_close(&qf);
    /* Gone from the source: fails; a bad ID: fails. */
    assert_int_equal(qfile_move(id, qdir, qdir2, &err), -1);
    xfree(err);
    assert_int_equal(qfile_move("../active/x", qdir, qdir2, &err), -1);
    xfree(err);
    /* Never replaces an existing file. */
    put_file(path, "x", 1, 0600);
    assert_int_equal(qfile_move(id, qdir, qdir2, &err), -1);
    xfree(err);
    must_ok(qfile_open(moved, 0, &qf, &err), err);
    qfile_close(&qf);
    must_ok(qfile_remove(qdir2, id, &err), err);
    assert_int_equal(qfile_remove(qdir2, id, &err), -1);
    xfree(err);
    unlink(path);
    free(path);
    free(moved);
    str_free(&body);
}

static void test_writer_misuse(void **state)
{
    (void)state;
    qfile_writer_t *w;
    char *err = NULL, id[QUEUE_ID_SIZE];
    struct timeval tv = {.tv_sec = 5, .tv_usec = 0};
    must_ok(qfile_create(qdir, &w, id, &err), err);
    must_ok(qfile_write_arrival(w, &tv, &err), err);
    assert_int_equal(qfile_write_arrival(w, &tv, &err), -1);
    xfree(err);
    assert_int_equal(qfile_write_attr(w, "Bad", "x", &err), -1);
    xfree(err);
    assert_int_equal(qfile_write_attr(w, "", "x", &err), -1);
    xfree(err);
    struct qfile_rcpt_spec r = {.address = ""};
    assert_int_equal(qfile_write_rcpt(w, &r, &err), -1);
    xfree(err);
    r.address = "a@b";
    r.notify = QFILE_NOTIFY_NEVER | QFILE_NOTIFY_DELAY;
    assert_int_equal(qfile_write_rcpt(w, &r, &err), -1);
    xfree(err);
    must_ok(qfile_write_content(w, "abc", 3, &err), err);
    assert_int_equal(qfile_write_sender(w, "late@x", &err), -1);
    xfree(err);
    r.notify = 0;
    must_ok(qfile_write_rcpt(w, &r, &err), err);
    assert_int_equal(qfile_write_content(w, "more", 4, &err), -1);
    xfree(err);
    assert_int_equal(qfile_write_body_marker(w, &err), -1);
    xfree(err);
    /* Commit without a sender fails and removes the file. */
    assert_int_equal(qfile_commit(&w, &err), -1);
    assert_null(w);
    xfree(err);
    assert_int_equal(dir_entries(qdir), 0);
    /* Create in a missing directory. */
    assert_int_equal(qfile_create("/nonexistent/dir", &w, id, &err), -1);
    xfree(err);
}

static void test_unique_ids(void **state)
{
    (void)state;
    enum { N = 500 };
    char(*ids)[QUEUE_ID_SIZE] = xcalloc(N, QUEUE_ID_SIZE);
    qfile_writer_t **live = xcalloc(N, sizeof(*live));
    for (int i = 0; i < N; i++) {
        char *err = NULL;
        must_ok(qfile_create(qdir2, &live[i], ids[i], &err), err);
        assert_true(queue_id_valid(ids[i]));
        for (int j = 0; j < i; j++)
            assert_string_not_equal(ids[i], ids[j]);
        /* Drop every other file at once so inode numbers get reused. */
        if (i % 2)
            qfile_abort(&live[i]);
    }
    for (int i = 0; i < N; i++)
        qfile_abort(&live[i]);
    free(live);
    free(ids);
    assert_int_equal(dir_entries(qdir2), 0);
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
    qfile_writer_t *w;
    char *err = NULL, id[QUEUE_ID_SIZE];
    struct timeval tv = {.tv_sec = 5, .tv_usec = 0};
    must_ok(qfile_create(mnt, &w, id, &err), err);
    must_ok(qfile_write_arrival(w, &tv, &err), err);
    must_ok(qfile_write_sender(w, "a@b", &err), err);
    str_t *body = make_body(256 * 1024);
    int rc = qfile_write_content(w, str_c(body), str_len(body), &err);
    if (rc == 0)
        rc = qfile_commit(&w, &err);
    else
        qfile_abort(&w);
    assert_int_equal(rc, -1);
    assert_non_null(strstr(err, "No space"));
    xfree(err);
    assert_null(w);
    assert_int_equal(dir_entries(mnt), 0);
    str_free(&body);
    assert_int_equal(umount(mnt), 0);
    rmdir(mnt);
    free(mnt);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_empty_content),
        cmocka_unit_test(test_incomplete_until_commit),
        cmocka_unit_test(test_truncated_everywhere),
        cmocka_unit_test(test_overlong_record),
        cmocka_unit_test(test_corrupt_table),
        cmocka_unit_test(test_mark_done),
        cmocka_unit_test(test_move),
        cmocka_unit_test(test_writer_misuse),
        cmocka_unit_test(test_unique_ids),
        cmocka_unit_test(test_full_filesystem),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
