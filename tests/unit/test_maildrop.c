/*
 * test_maildrop.c - unit tests for lib/maildrop.c: the sendmail ->
 * terndrop request (round trip and a table of hostile requests), content
 * chunks, address checks, NOTIFY conversion, and the maildrop file writer
 * (its files must read back with qfile_open, and an aborted one leaves
 * nothing).
 */
#include "sys.h"
#include "maildrop.h"
#include "mem.h"
#include "qfile.h"
#include "str.h"
#include "stream.h"

#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <sys/socket.h>
#include <sys/stat.h>

/* Write text into a stream over a socketpair and return the read end. */
static stream_t *feed(const void *data, size_t len)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    assert_int_equal(write(sv[0], data, len), (ssize_t)len);
    close(sv[0]);
    stream_t *s = stream_open_fd(sv[1], STREAM_OWN_FD);
    stream_set_timeout_ms(s, 2000);
    return s;
}

static void test_request_round_trip(void **state)
{
    (void)state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    stream_t *w = stream_open_fd(sv[0], STREAM_OWN_FD);
    stream_t *r = stream_open_fd(sv[1], STREAM_OWN_FD);
    struct maildrop_request req = {.sender = xstrdup("a@example.org"),
                                   .full_name = xstrdup("A. Person"),
                                   .extract_recipients = true,
                                   .ret = xstrdup("HDRS"),
                                   .notify = xstrdup("SUCCESS,DELAY"),
                                   .envid = xstrdup("id-1")};
    maildrop_request_add_rcpt(&req, "b@example.org");
    maildrop_request_add_rcpt(&req, "\"x y\"@example.org");
    maildrop_request_write(w, &req);
    maildrop_chunk_write(w, "Subject: x\n\nbody\n", 17);
    maildrop_chunk_write(w, NULL, 0);
    assert_int_equal(stream_flush(w), STREAM_OK);
    stream_close(&w);

    struct maildrop_request got;
    char *err = NULL;
    assert_int_equal(maildrop_request_read(r, &got, &err), 0);
    assert_string_equal(got.sender, "a@example.org");
    assert_string_equal(got.full_name, "A. Person");
    assert_true(got.extract_recipients);
    assert_int_equal(got.rcpt_count, 2);
    assert_string_equal(got.rcpts[1], "\"x y\"@example.org");
    str_t *c = str_new(64);
    assert_int_equal(maildrop_chunk_read(r, c, &err), 17);
    assert_int_equal(maildrop_chunk_read(r, c, &err), 0);
    assert_string_equal(str_c(c), "Subject: x\n\nbody\n");
    str_free(&c);
    maildrop_request_clear(&got);
    maildrop_request_clear(&req);
    stream_close(&r);
}

static const struct {
    const char *text;
    const char *why; /* substring of the error */
} bad_requests[] = {
    {"", "reading the request"},
    {"request=submit\n\n", "sender"},
    {"request=other\nsender=\nrcpt=a@b\n\n", "unknown request"},
    {"request=submit\nsender=\n\n", "no recipients"},
    {"request=submit\nsender=a@b\nrcpt=\n\n", "empty recipient"},
    {"request=submit\nsender=a@b\nrcpt=a b@c\n\n", "bad address"},
    {"request=submit\nsender=a@b\nrcpt=<x@y>\n\n", "bad address"},
    {"request=submit\nsender=a@b\nrcpt=x@y\nret=ALL\n\n", "RET"},
    {"request=submit\nsender=a@b\nrcpt=x@y\nnotify=NEVER,SUCCESS\n\n", "NOTIFY"},
    {"request=submit\nsender=a@b\nrcpt=x@y\nenvid=a%0Ab\n\n", "ENVID"},
    {"request=submit\nsender=a@b\nrcpt=x@y\nextract_recipients=2\n\n", "malformed"},
    {"request=submit\nsender=a@b\nsender=c@d\nrcpt=x@y\n\n", "malformed"},
    {"request=submit\nsender=a%00b\nrcpt=x@y\n\n", "malformed"},
    {"request=submit\nsender=a@b\nrcpt=x@y\nfull_name=a%0Db\n\n", "full name"},
};

static void test_request_bad(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_ELEMENTS(bad_requests); i++) {
        stream_t *s = feed(bad_requests[i].text, strlen(bad_requests[i].text));
        struct maildrop_request r;
        char *err = NULL;
        assert_int_equal(maildrop_request_read(s, &r, &err), -1);
        assert_non_null(err);
        if (strstr(err, bad_requests[i].why) == NULL)
            fail_msg("case %zu: %s", i, err);
        assert_null(r.sender);
        free(err);
        stream_close(&s);
    }
}

static void test_request_too_many_rcpts(void **state)
{
    (void)state;
    str_t *t = str_new(0);
    str_appendz(t, "request=submit\nsender=a@b\n");
    for (int i = 0; i <= MAILDROP_RCPT_MAX; i++)
        str_appendf(t, "rcpt=u%d@example.org\n", i);
    str_appendz(t, "\n");
    stream_t *s = feed(str_c(t), str_len(t));
    struct maildrop_request r;
    char *err = NULL;
    assert_int_equal(maildrop_request_read(s, &r, &err), -1);
    free(err);
    stream_close(&s);
    str_free(&t);
}

static void test_chunk_bad(void **state)
{
    (void)state;
    static const char *cases[] = {"chunk=65537\n\n", "chunk=-1\n\n", "chunk=5\n\nabc",
                                  "size=3\n\nabc", "chunk=01\n\nx"};
    for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
        stream_t *s = feed(cases[i], strlen(cases[i]));
        str_t *out = str_new(16);
        char *err = NULL;
        assert_int_equal(maildrop_chunk_read(s, out, &err), -1);
        free(err);
        str_free(&out);
        stream_close(&s);
    }
}

static void test_addr_and_notify(void **state)
{
    (void)state;
    char *err = NULL;
    char *a = maildrop_addr_check("\"x\"@example.org", false, &err);
    assert_string_equal(a, "x@example.org");
    free(a);
    a = maildrop_addr_check("", true, &err);
    assert_string_equal(a, "");
    free(a);
    a = maildrop_addr_check("user", false, &err); /* unqualified: cleanup qualifies */
    assert_string_equal(a, "user");
    free(a);
    assert_null(maildrop_addr_check("", false, &err));
    free(err);
    assert_null(maildrop_addr_check("@a,@b:x@y", false, &err));
    free(err);
    unsigned bits;
    assert_int_equal(maildrop_notify_bits("success,delay", &bits), 0);
    assert_int_equal(bits, QFILE_NOTIFY_SUCCESS | QFILE_NOTIFY_DELAY);
    char *t = maildrop_notify_text(bits);
    assert_string_equal(t, "SUCCESS,DELAY");
    free(t);
    assert_null(maildrop_notify_text(0));
    assert_int_equal(maildrop_notify_bits("sometimes", &bits), -1);
}

static size_t count_files(const char *dir)
{
    DIR *d = opendir(dir);
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static void test_writer(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_maildrop.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char *err = NULL;
    maildrop_writer_t *w = maildrop_create(dir, &err);
    assert_non_null(w);
    maildrop_put(w, QFILE_REC_TIME, "1700000000.000001", 17);
    maildrop_put(w, QFILE_REC_SENDER, "a@b", 3);
    maildrop_put_attr(w, MAILDROP_ATTR_UID, "1000");
    maildrop_put_rcpt(w, "x@y", QFILE_NOTIFY_FAILURE);
    str_t *big = str_new(0);
    for (int i = 0; i < 20000; i++)
        str_appendz(big, "0123456789\n");
    maildrop_put_content(w, str_c(big), str_len(big));
    char id[QUEUE_ID_SIZE];
    assert_int_equal(maildrop_commit(&w, id, &err), 0);
    assert_null(w);
    assert_true(queue_id_valid(id));
    assert_int_equal(count_files(dir), 1);

    char *path = qfile_path(dir, id);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, MAILDROP_FILE_MODE);
    qfile_t *qf = NULL;
    assert_int_equal(qfile_open(path, 0, &qf, &err), 0);
    assert_string_equal(qfile_sender(qf), "a@b");
    assert_string_equal(qfile_attr(qf, MAILDROP_ATTR_UID), "1000");
    assert_int_equal(qfile_rcpt_count(qf), 1);
    assert_string_equal(qfile_rcpt(qf, 0)->address, "x@y");
    assert_int_equal(qfile_rcpt(qf, 0)->notify, QFILE_NOTIFY_FAILURE);
    assert_int_equal(qfile_content_size(qf), str_len(big));
    qfile_close(&qf);
    unlink(path);
    free(path);

    w = maildrop_create(dir, &err); /* an aborted file leaves nothing */
    maildrop_put_content(w, "x", 1);
    maildrop_abort(&w);
    assert_null(w);
    assert_int_equal(count_files(dir), 0);
    str_free(&big);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_round_trip),     cmocka_unit_test(test_request_bad),
        cmocka_unit_test(test_request_too_many_rcpts), cmocka_unit_test(test_chunk_bad),
        cmocka_unit_test(test_addr_and_notify),        cmocka_unit_test(test_writer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
