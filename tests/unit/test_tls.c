/*
 * test_tls.c - unit tests for lib/tls: protocol lists, levels,
 * self-signed certificates, and real handshakes between a server and a
 * client context over a socketpair (the server side in a child process):
 * RSA and ECDSA keys, chain files, verification by CA file and name,
 * protocol mismatch, clear errors for missing or mismatched keys, and
 * misuse that must abort.
 */
#include "sys.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "unit_tmp.h"

#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <openssl/ssl.h>

#include "log.h"
#include "mem.h"
#include "str.h"
#include "stream.h"
#include "tls.h"

static char tmpdir[] = "/tmp/test_tls.XXXXXX";
static char *rsa_key, *rsa_cert, *ec_key, *ec_cert, *rsa_chain, *ec_chain, *other_key, *other_cert;

/* ---- protocol lists --------------------------------------------------- */

static void test_protocols(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int min, max;
        uint64_t ops;
    } ok[] = {
        {">=TLSv1.2", TLS1_2_VERSION, TLS1_3_VERSION, SSL_OP_NO_TLSv1 | SSL_OP_NO_TLSv1_1},
        {"!SSLv2, !SSLv3, !TLSv1, !TLSv1.1", TLS1_2_VERSION, TLS1_3_VERSION,
         SSL_OP_NO_TLSv1 | SSL_OP_NO_TLSv1_1},
        {"TLSv1.2", TLS1_2_VERSION, TLS1_2_VERSION,
         SSL_OP_NO_TLSv1 | SSL_OP_NO_TLSv1_1 | SSL_OP_NO_TLSv1_3},
        {"<=TLSv1.2", TLS1_VERSION, TLS1_2_VERSION, SSL_OP_NO_TLSv1_3},
        {"", TLS1_VERSION, TLS1_3_VERSION, 0},
        {"!TLSv1.2", TLS1_VERSION, TLS1_3_VERSION, SSL_OP_NO_TLSv1_2},
        {">=TLSv1.1:<=TLSv1.2", TLS1_1_VERSION, TLS1_2_VERSION,
         SSL_OP_NO_TLSv1 | SSL_OP_NO_TLSv1_3},
        {"tlsv1.3", TLS1_3_VERSION, TLS1_3_VERSION,
         SSL_OP_NO_TLSv1 | SSL_OP_NO_TLSv1_1 | SSL_OP_NO_TLSv1_2},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        int min = -1, max = -1;
        uint64_t ops = 1;
        char *err = NULL;
        assert_int_equal(tls_protocols_parse(ok[i].text, &min, &max, &ops, &err), 0);
        assert_int_equal(min, ok[i].min);
        assert_int_equal(max, ok[i].max);
        assert_true(ops == ok[i].ops);
    }
    static const char *bad[] = {
        "TLSv9",   ">=", "!TLSv1 !TLSv1.1 !TLSv1.2 !TLSv1.3", "SSLv3", ">=TLSv1.3 <=TLSv1.2",
        "TLSv1.2x"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int min, max;
        uint64_t ops;
        char *err = NULL;
        assert_int_equal(tls_protocols_parse(bad[i], &min, &max, &ops, &err), -1);
        assert_non_null(err);
        free(err);
    }
}

static void test_levels(void **state)
{
    (void)state;
    enum tls_level l;
    assert_int_equal(tls_level_parse("", &l), 0);
    assert_int_equal(l, TLS_LEV_NONE);
    assert_int_equal(tls_level_parse("MAY", &l), 0);
    assert_int_equal(l, TLS_LEV_MAY);
    assert_int_equal(tls_level_parse("encrypt", &l), 0);
    assert_int_equal(l, TLS_LEV_ENCRYPT);
    assert_int_equal(tls_level_parse("verify", &l), 0);
    assert_int_equal(l, TLS_LEV_VERIFY);
    assert_int_equal(tls_level_parse("dane", &l), -1);
    assert_int_equal(tls_level_parse("mayx", &l), -1);
}

/* ---- certificates ----------------------------------------------------- */

static void test_selfsigned(void **state)
{
    (void)state;
    struct stat st;
    assert_int_equal(stat(rsa_key, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    char *err = NULL;
    char *fp = tls_cert_fingerprint(rsa_cert, &err);
    assert_non_null(fp);
    assert_int_equal(strlen(fp), 32 * 3 - 1);
    char *fp2 = tls_cert_fingerprint(ec_cert, &err);
    assert_string_not_equal(fp, fp2);
    free(fp);
    free(fp2);
    char *missing = xasprintf("%s/nope.pem", tmpdir);
    assert_null(tls_cert_fingerprint(missing, &err));
    assert_non_null(strstr(err, missing));
    free(err);
    free(missing);
}

static void test_server_errors(void **state)
{
    (void)state;
    char *missing = xasprintf("%s/missing.key", tmpdir);
    static const char *empty[] = {NULL};
    struct {
        struct tls_server_settings set;
        const char *want; /* in the error */
    } cases[] = {
        {{.cert_file = rsa_cert, .key_file = missing}, missing},
        {{.cert_file = missing}, missing},
        {{.cert_file = rsa_cert, .key_file = ec_key}, "does not match"},
        {{.cert_file = rsa_key, .key_file = rsa_key}, "no certificate"},
        {{.cert_file = rsa_cert, .key_file = rsa_cert}, "no private key"},
        {{.cert_file = "", .chain_files = empty}, "no server certificate"},
        {{.cert_file = rsa_cert, .key_file = rsa_key, .protocols = "TLSv7"}, "TLSv7"},
        {{.cert_file = rsa_cert, .key_file = rsa_key, .cipherlist = "NOSUCHCIPHER"},
         "NOSUCHCIPHER"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *err = NULL;
        tls_server_t *srv = tls_server_new(&cases[i].set, &err);
        assert_null(srv);
        assert_non_null(err);
        if (strstr(err, cases[i].want) == NULL)
            fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err, cases[i].want);
        free(err);
    }
    free(missing);
}

/* ---- handshakes ------------------------------------------------------- */

struct pair {
    struct tls_server_settings srv;
    struct tls_client_settings cli;
    const char *peername;
    enum tls_level level;
    /* results */
    int client_rc;
    char *client_err;
    int server_exit; /* 0 ok, 1 handshake failed, 2 I/O after it, 3 setup */
    char protocol[32], cipher[96], peer_cn[128];
    bool verified, resumed;
};

static int pair_server(int fd, const struct tls_server_settings *set)
{
    char *err = NULL;
    tls_server_t *srv = tls_server_new(set, &err);
    if (srv == NULL) {
        fprintf(stderr, "server: %s\n", err);
        return 3;
    }
    stream_t *s = stream_open_fd(fd, STREAM_OWN_FD);
    stream_set_timeout(s, 5);
    int rc = 1;
    if (tls_server_start(s, srv, &err) < 0) {
        if (getenv("TEST_TLS_VERBOSE") != NULL)
            fprintf(stderr, "server: %s\n", err);
        free(err);
    } else {
        str_t *line = str_new(64);
        rc = 2;
        if (tls_active(s) && stream_read_line(s, line, 100) == STREAM_OK &&
            strcmp(str_c(line), "ping\r\n") == 0) {
            stream_printf(s, "pong %s\r\n", tls_info(s)->protocol);
            rc = stream_flush(s) == STREAM_OK ? 0 : 2;
        }
        str_free(&line);
    }
    stream_close(&s);
    tls_server_free(&srv);
    return rc;
}

static void pair_client(int fd, struct pair *p)
{
    char *err = NULL;
    tls_client_t *c = tls_client_new(&p->cli, &err);
    assert_non_null(c);
    stream_t *s = stream_open_fd(fd, STREAM_OWN_FD);
    stream_set_timeout(s, 5);
    p->client_rc = tls_client_start(s, c, p->peername, p->level, &p->client_err);
    if (p->client_rc < 0 && getenv("TEST_TLS_VERBOSE") != NULL)
        fprintf(stderr, "client: %s\n", p->client_err);
    if (p->client_rc == 0) {
        const struct tls_info *i = tls_info(s);
        str_lcpy(p->protocol, i->protocol, sizeof(p->protocol));
        str_lcpy(p->cipher, i->cipher, sizeof(p->cipher));
        str_lcpy(p->peer_cn, i->peer_cn, sizeof(p->peer_cn));
        p->verified = i->peer_verified;
        p->resumed = i->resumed;
        str_t *line = str_new(64);
        stream_puts(s, "ping\r\n");
        assert_int_equal(stream_flush(s), STREAM_OK);
        assert_int_equal(stream_read_line(s, line, 100), STREAM_OK);
        char *want = xasprintf("pong %s\r\n", p->protocol);
        assert_string_equal(str_c(line), want);
        free(want);
        str_t *d = str_new(64);
        tls_info_describe(s, d);
        assert_non_null(strstr(str_c(d), " with cipher "));
        str_free(&d);
        str_free(&line);
    }
    stream_close(&s);
    tls_client_free(&c);
}

static void run_pair(struct pair *p)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(sv[0]);
        _exit(pair_server(sv[1], &p->srv));
    }
    close(sv[1]);
    pair_client(sv[0], p);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    p->server_exit = WEXITSTATUS(status);
}

static void test_handshake_rsa_verified(void **state)
{
    (void)state;
    struct pair p = {
        .srv = {.cert_file = rsa_cert, .key_file = rsa_key},
        .cli = {.CAfile = rsa_cert},
        .peername = "localhost",
        .level = TLS_LEV_VERIFY,
    };
    run_pair(&p);
    assert_int_equal(p.client_rc, 0);
    assert_int_equal(p.server_exit, 0);
    assert_string_equal(p.protocol, "TLSv1.3");
    assert_string_equal(p.peer_cn, "localhost");
    assert_true(p.verified);
}

static void test_handshake_tls12_ecdsa_chain(void **state)
{
    (void)state;
    const char *chains[] = {ec_chain, NULL};
    struct pair p = {
        .srv = {.chain_files = chains},
        .cli = {.CAfile = ec_cert, .protocols = "TLSv1.2"},
        .peername = "ec.example",
        .level = TLS_LEV_SECURE,
    };
    run_pair(&p);
    assert_int_equal(p.client_rc, 0);
    assert_int_equal(p.server_exit, 0);
    assert_string_equal(p.protocol, "TLSv1.2");
    assert_non_null(strstr(p.cipher, "ECDSA"));
    assert_string_equal(p.peer_cn, "ec.example");
}

static void test_handshake_both_key_types(void **state)
{
    (void)state;
    const char *chains[] = {rsa_chain, ec_chain, NULL};
    /* A TLS 1.2 client that only takes RSA suites gets the RSA chain. */
    struct pair p = {
        .srv = {.chain_files = chains},
        .cli = {.protocols = "TLSv1.2", .cipherlist = "aRSA", .CAfile = rsa_cert},
        .peername = "localhost",
        .level = TLS_LEV_VERIFY,
    };
    run_pair(&p);
    assert_int_equal(p.client_rc, 0);
    assert_string_equal(p.peer_cn, "localhost");
    struct pair q = p;
    q.cli.cipherlist = "aECDSA";
    q.cli.CAfile = ec_cert;
    q.peername = "ec.example";
    q.client_err = NULL;
    run_pair(&q);
    assert_int_equal(q.client_rc, 0);
    assert_string_equal(q.peer_cn, "ec.example");
}

static void test_handshake_untrusted(void **state)
{
    (void)state;
    /* Name mismatch at level verify: the client refuses. */
    struct pair p = {
        .srv = {.cert_file = rsa_cert, .key_file = rsa_key},
        .cli = {.CAfile = rsa_cert},
        .peername = "wrong.example",
        .level = TLS_LEV_VERIFY,
    };
    run_pair(&p);
    assert_int_equal(p.client_rc, -1);
    assert_non_null(strstr(p.client_err, "not verified"));
    free(p.client_err);
    /* Untrusted at level encrypt: accepted, recorded as unverified. */
    struct pair q = {
        .srv = {.cert_file = rsa_cert, .key_file = rsa_key},
        .cli = {.CAfile = ec_cert},
        .peername = "localhost",
        .level = TLS_LEV_ENCRYPT,
    };
    run_pair(&q);
    assert_int_equal(q.client_rc, 0);
    assert_int_equal(q.server_exit, 0);
    assert_false(q.verified);
}

static void test_handshake_protocol_mismatch(void **state)
{
    (void)state;
    struct pair p = {
        .srv = {.cert_file = rsa_cert, .key_file = rsa_key, .protocols = ">=TLSv1.3"},
        .cli = {.protocols = "<=TLSv1.2"},
        .level = TLS_LEV_MAY,
    };
    run_pair(&p);
    assert_int_equal(p.client_rc, -1);
    assert_non_null(strstr(p.client_err, "SSL_connect error"));
    free(p.client_err);
    assert_int_equal(p.server_exit, 1);
}

/* A peer that says nothing: the handshake ends at the stream's timeout. */
static void test_handshake_timeout(void **state)
{
    (void)state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    struct tls_server_settings set = {.cert_file = rsa_cert, .key_file = rsa_key};
    char *err = NULL;
    tls_server_t *srv = tls_server_new(&set, &err);
    assert_non_null(srv);
    stream_t *s = stream_open_fd(sv[0], STREAM_OWN_FD);
    stream_set_timeout_ms(s, 200);
    int64_t t0 = stream_now_ms();
    assert_int_equal(tls_server_start(s, srv, &err), -1);
    assert_true(stream_now_ms() - t0 >= 150);
    assert_non_null(strstr(err, "timeout"));
    assert_false(tls_active(s));
    assert_null(tls_info(s));
    free(err);
    /* Plaintext junk instead of a ClientHello fails cleanly too. */
    stream_close(&s);
    close(sv[1]);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    assert_int_equal(write(sv[1], "EHLO x\r\n", 8), 8);
    close(sv[1]);
    s = stream_open_fd(sv[0], STREAM_OWN_FD);
    stream_set_timeout(s, 2);
    err = NULL;
    assert_int_equal(tls_server_start(s, srv, &err), -1);
    assert_non_null(strstr(err, "SSL_accept error"));
    free(err);
    stream_close(&s);
    tls_server_free(&srv);
    assert_null(srv);
}

/* The ticket key file: created 0600, and a second opener shares it. */
static void test_ticket_file(void **state)
{
    (void)state;
    char *path = xasprintf("%s/tickets", tmpdir);
    char *err = NULL;
    tls_ticket_keys_t *a = tls_ticket_open(path, 3600, -1, -1, &err);
    assert_non_null(a);
    assert_int_equal(tls_ticket_load(a, &err), 0);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_true(st.st_size > 64);
    tls_ticket_keys_t *b = tls_ticket_open(path, 3600, -1, -1, &err);
    assert_non_null(b);
    assert_int_equal(tls_ticket_load(b, &err), 0);
    tls_ticket_free(&a);
    tls_ticket_free(&b);
    assert_null(a);
    /* A world-readable key file is refused. */
    assert_int_equal(chmod(path, 0644), 0);
    assert_null(tls_ticket_open(path, 3600, -1, -1, &err));
    assert_non_null(strstr(err, path));
    free(err);
    free(path);
}

/* ---- misuse ----------------------------------------------------------- */

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

/* Starting TLS twice on one stream is a bug in the caller. */
static void misuse_double_start(void)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
        _exit(1);
    pid_t pid = fork();
    if (pid == 0) {
        struct tls_client_settings cs = {0};
        tls_client_t *c = tls_client_new(&cs, NULL);
        stream_t *cl = stream_open_fd(sv[1], 0);
        stream_set_timeout(cl, 5);
        (void)tls_client_start(cl, c, NULL, TLS_LEV_MAY, NULL);
        sleep(2);
        _exit(0);
    }
    struct tls_server_settings set = {.cert_file = rsa_cert, .key_file = rsa_key};
    tls_server_t *srv = tls_server_new(&set, NULL);
    stream_t *s = stream_open_fd(sv[0], 0);
    stream_set_timeout(s, 5);
    if (tls_server_start(s, srv, NULL) < 0)
        _exit(1);
    (void)tls_server_start(s, srv, NULL);
}

static void test_misuse(void **state)
{
    (void)state;
    expect_abort(misuse_double_start);
}

/* ---- setup ------------------------------------------------------------ */

static char *cat_files(const char *a, const char *b, const char *name)
{
    char *out = xasprintf("%s/%s", tmpdir, name);
    str_t *s = str_new(4096);
    const char *files[] = {a, b};
    for (int i = 0; i < 2; i++) {
        FILE *f = fopen(files[i], "r");
        assert_non_null(f);
        char buf[4096];
        size_t n;
        while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
            str_append(s, buf, n);
        fclose(f);
    }
    FILE *o = fopen(out, "w");
    assert_non_null(o);
    fwrite(str_c(s), 1, str_len(s), o);
    fclose(o);
    chmod(out, 0600);
    str_free(&s);
    return out;
}

static int group_setup(void **state)
{
    (void)state;
    log_init("test_tls");
    if (mkdtemp(tmpdir) == NULL)
        return -1;
    rsa_key = xasprintf("%s/rsa.key", tmpdir);
    rsa_cert = xasprintf("%s/rsa.pem", tmpdir);
    ec_key = xasprintf("%s/ec.key", tmpdir);
    ec_cert = xasprintf("%s/ec.pem", tmpdir);
    other_key = xasprintf("%s/other.key", tmpdir);
    other_cert = xasprintf("%s/other.pem", tmpdir);
    char *err = NULL;
    if (tls_cert_selfsigned("localhost", TLS_KEY_RSA, 30, rsa_key, rsa_cert, &err) < 0 ||
        tls_cert_selfsigned("ec.example", TLS_KEY_ECDSA, 30, ec_key, ec_cert, &err) < 0 ||
        tls_cert_selfsigned("other", TLS_KEY_ECDSA, 30, other_key, other_cert, &err) < 0) {
        fprintf(stderr, "setup: %s\n", err);
        return -1;
    }
    rsa_chain = cat_files(rsa_key, rsa_cert, "rsa-chain.pem");
    ec_chain = cat_files(ec_key, ec_cert, "ec-chain.pem");
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    if (unit_rm_rf(tmpdir) != 0)
        fprintf(stderr, "cannot remove %s\n", tmpdir);
    char **all[] = {&rsa_key,   &rsa_cert, &ec_key,    &ec_cert,
                    &rsa_chain, &ec_chain, &other_key, &other_cert};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        xfree(*all[i]);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_protocols),
        cmocka_unit_test(test_levels),
        cmocka_unit_test(test_selfsigned),
        cmocka_unit_test(test_server_errors),
        cmocka_unit_test(test_handshake_rsa_verified),
        cmocka_unit_test(test_handshake_tls12_ecdsa_chain),
        cmocka_unit_test(test_handshake_both_key_types),
        cmocka_unit_test(test_handshake_untrusted),
        cmocka_unit_test(test_handshake_protocol_mismatch),
        cmocka_unit_test(test_handshake_timeout),
        cmocka_unit_test(test_ticket_file),
        cmocka_unit_test(test_misuse),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
