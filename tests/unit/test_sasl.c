/*
 * test_sasl.c - unit tests for lib/sasl.c: strict base64 both ways,
 * PLAIN with and without authzid, NUL and length rules, the LOGIN two
 * steps, initial responses ("=" for empty), cancel, over-long responses,
 * and misuse (a step without an exchange) aborting.
 */
#include "sys.h"
#include "mem.h"
#include "sasl.h"
#include "str.h"

#include <setjmp.h>
#include <cmocka.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>

static char *b64(const void *data, size_t len)
{
    str_t *s = str_new(16);
    sasl_base64_encode(data, len, s);
    return str_steal(&s);
}

static void test_base64_roundtrip(void **state)
{
    (void)state;
    static const struct {
        const char *plain, *enc;
    } cases[] = {
        {"", ""},
        {"f", "Zg=="},
        {"fo", "Zm8="},
        {"foo", "Zm9v"},
        {"foob", "Zm9vYg=="},
        {"fooba", "Zm9vYmE="},
        {"foobar", "Zm9vYmFy"},
        {"Username:", "VXNlcm5hbWU6"},
    };
    str_t *out = str_new(16);
    for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
        char *e = b64(cases[i].plain, strlen(cases[i].plain));
        assert_string_equal(e, cases[i].enc);
        free(e);
        assert_int_equal(sasl_base64_decode(cases[i].enc, strlen(cases[i].enc), out, 100, NULL), 0);
        assert_int_equal(str_len(out), strlen(cases[i].plain));
        assert_memory_equal(str_c(out), cases[i].plain, str_len(out));
    }
    /* Binary with NULs and high bytes. */
    unsigned char bin[256];
    for (int i = 0; i < 256; i++)
        bin[i] = (unsigned char)i;
    char *e = b64(bin, sizeof(bin));
    assert_int_equal(sasl_base64_decode(e, strlen(e), out, 256, NULL), 0);
    assert_memory_equal(str_c(out), bin, 256);
    assert_int_equal(sasl_base64_decode(e, strlen(e), out, 255, NULL), -1); /* over max */
    free(e);
    str_free(&out);
}

static void test_base64_bad(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "Zg",   "Zg=",      "Z===", "Zm9v\n",   " Zm9v", "Zm9v ", "Zm=v",   "Zh==",    "Zm9=",
        "Zm 9", "Zm9v====", "=Zm9", "Zg==Zg==", "Zm9-",  "Zm9_",  "Zm\r\n", "\x80xyz",
    };
    str_t *out = str_new(16);
    for (size_t i = 0; i < N_ELEMENTS(bad); i++) {
        char *err = NULL;
        if (sasl_base64_decode(bad[i], strlen(bad[i]), out, 100, &err) != -1)
            fail_msg("case %zu accepted", i);
        assert_non_null(err);
        assert_int_equal(str_len(out), 0);
        free(err);
    }
    /* Length checked before decoding: a huge input is refused at once. */
    size_t n = 1 << 20;
    char *big = xmalloc(n);
    memset(big, 'A', n);
    char *err = NULL;
    assert_int_equal(sasl_base64_decode(big, n, out, SASL_DECODED_MAX, &err), -1);
    assert_non_null(strstr(err, "too long"));
    free(err);
    free(big);
    str_free(&out);
}

static void test_plain_parse(void **state)
{
    (void)state;
    static const struct {
        const char *msg;
        size_t len;
        const char *z, *c, *p;
    } ok[] = {
        {"\0alice\0secret", 13, "", "alice", "secret"},
        {"admin\0alice\0s e=c:r", 19, "admin", "alice", "s e=c:r"},
        {"alice\0alice\0x", 13, "alice", "alice", "x"},
    };
    for (size_t i = 0; i < N_ELEMENTS(ok); i++) {
        struct sasl_creds c;
        char *err = NULL;
        if (sasl_plain_parse(ok[i].msg, ok[i].len, &c, &err) != 0)
            fail_msg("case %zu: %s", i, err);
        assert_string_equal(c.authzid, ok[i].z);
        assert_string_equal(c.authcid, ok[i].c);
        assert_string_equal(c.password, ok[i].p);
        sasl_creds_clear(&c);
        assert_null(c.password);
    }
    static const struct {
        const char *msg;
        size_t len;
    } bad[] = {
        {"", 0},
        {"alice", 5},
        {"\0alice", 6},
        {"\0alice\0", 7},          /* empty password */
        {"\0\0secret", 8},         /* empty authcid */
        {"\0alice\0sec\0ret", 14}, /* a third NUL */
        {"\0\0\0", 3},
    };
    for (size_t i = 0; i < N_ELEMENTS(bad); i++) {
        struct sasl_creds c;
        char *err = NULL;
        if (sasl_plain_parse(bad[i].msg, bad[i].len, &c, &err) != -1)
            fail_msg("bad case %zu accepted", i);
        assert_null(c.authcid);
        free(err);
    }
    /* Field lengths: 255 fits, 256 does not. */
    char msg[600];
    memset(msg, 'a', sizeof(msg));
    msg[0] = '\0';
    msg[256] = '\0'; /* authcid 255 bytes, password 255 bytes */
    struct sasl_creds c;
    char *err = NULL;
    assert_int_equal(sasl_plain_parse(msg, 512, &c, &err), 0);
    assert_int_equal(strlen(c.authcid), 255);
    assert_int_equal(strlen(c.password), 255);
    sasl_creds_clear(&c);
    assert_int_equal(sasl_plain_parse(msg, 513, &c, &err), -1);
    free(err);
}

/* Run a whole exchange from a list of client lines. */
static int exchange(const char *mech, const char *initial, const char *const *lines, size_t n,
                    struct sasl_server *x, const char **last_challenge)
{
    const char *ch = NULL;
    char *err = NULL;
    int rc = sasl_server_start(x, mech, initial, &ch, &err);
    for (size_t i = 0; rc == SASL_CONTINUE && i < n; i++)
        rc = sasl_server_step(x, lines[i], strlen(lines[i]), &ch, &err);
    *last_challenge = ch;
    free(err);
    return rc;
}

static void test_exchanges(void **state)
{
    (void)state;
    struct sasl_server x;
    const char *ch;
    char *plain = b64("\0alice\0secret", 13), *user = b64("alice", 5), *pw = b64("secret", 6);
    /* PLAIN with an initial response. */
    assert_int_equal(exchange("plain", plain, NULL, 0, &x, &ch), SASL_DONE);
    assert_string_equal(x.creds.authcid, "alice");
    assert_string_equal(x.creds.password, "secret");
    sasl_server_clear(&x);
    /* PLAIN without: an empty challenge, then the response. */
    const char *l1[] = {plain};
    assert_int_equal(exchange("PLAIN", NULL, NULL, 0, &x, &ch), SASL_CONTINUE);
    assert_string_equal(ch, "");
    sasl_server_clear(&x);
    assert_int_equal(exchange("PLAIN", NULL, l1, 1, &x, &ch), SASL_DONE);
    assert_string_equal(x.creds.password, "secret");
    sasl_server_clear(&x);
    /* PLAIN with "=" (empty initial response) is an error: no NULs. */
    assert_int_equal(exchange("PLAIN", "=", NULL, 0, &x, &ch), SASL_ERROR);
    sasl_server_clear(&x);
    /* LOGIN: two challenges. */
    assert_int_equal(exchange("LOGIN", NULL, NULL, 0, &x, &ch), SASL_CONTINUE);
    assert_string_equal(ch, "VXNlcm5hbWU6");
    sasl_server_clear(&x);
    const char *l2[] = {user, pw};
    assert_int_equal(exchange("login", NULL, l2, 2, &x, &ch), SASL_DONE);
    assert_string_equal(x.creds.authcid, "alice");
    assert_string_equal(x.creds.password, "secret");
    assert_string_equal(x.creds.authzid, "");
    sasl_server_clear(&x);
    /* LOGIN with the user name as initial response. */
    const char *l3[] = {pw};
    assert_int_equal(exchange("LOGIN", user, NULL, 0, &x, &ch), SASL_CONTINUE);
    assert_string_equal(ch, "UGFzc3dvcmQ6");
    sasl_server_clear(&x);
    assert_int_equal(exchange("LOGIN", user, l3, 1, &x, &ch), SASL_DONE);
    sasl_server_clear(&x);
    /* Cancel at each step. */
    const char *c1[] = {"*"}, *c2[] = {user, "*"};
    assert_int_equal(exchange("PLAIN", NULL, c1, 1, &x, &ch), SASL_CANCELLED);
    sasl_server_clear(&x);
    assert_int_equal(exchange("LOGIN", NULL, c2, 2, &x, &ch), SASL_CANCELLED);
    assert_null(x.creds.authcid); /* wiped on cancel */
    sasl_server_clear(&x);
    /* LOGIN: empty user, NUL in the password, bad base64. */
    char *nulpw = b64("a\0b", 3);
    const char *e1[] = {""}, *e2[] = {user, nulpw}, *e3[] = {"!!!!"};
    assert_int_equal(exchange("LOGIN", NULL, e1, 1, &x, &ch), SASL_ERROR);
    sasl_server_clear(&x);
    assert_int_equal(exchange("LOGIN", NULL, e2, 2, &x, &ch), SASL_ERROR);
    sasl_server_clear(&x);
    assert_int_equal(exchange("LOGIN", NULL, e3, 1, &x, &ch), SASL_ERROR);
    sasl_server_clear(&x);
    /* Unknown mechanism. */
    assert_int_equal(exchange("CRAM-MD5", NULL, NULL, 0, &x, &ch), SASL_ERROR);
    assert_true(sasl_mech_supported("login"));
    assert_false(sasl_mech_supported("GSSAPI"));
    assert_string_equal(sasl_mech_list(), "PLAIN LOGIN");
    free(nulpw);
    free(plain);
    free(user);
    free(pw);
}

/* smtpd_sasl_security_options: parsing and the mechanisms each list leaves. */
static void test_security_options(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int rc;
        const char *mechs; /* left (when rc == 0) */
    } cases[] = {
        {"", 0, "PLAIN LOGIN"},
        {"noanonymous", 0, "PLAIN LOGIN"},
        {" noanonymous,noactive  nodictionary ", 0, "PLAIN LOGIN"},
        {"NoPlainText", 0, ""},
        {"noanonymous, noplaintext", 0, ""},
        {"mutual_auth", 0, ""},
        {"forward_secrecy", 0, ""},
        {"noanonymous, nosuchthing", -1, NULL},
        {"noplain", -1, NULL},
        {"noanonymousx", -1, NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        unsigned flags = 12345;
        char *err = NULL;
        int rc = sasl_security_parse(cases[i].text, &flags, &err);
        if (rc != cases[i].rc)
            fail_msg("case %zu \"%s\": rc %d", i, cases[i].text, rc);
        if (rc < 0) {
            assert_non_null(strstr(err, "unknown SASL security option"));
            free(err);
            continue;
        }
        assert_string_equal(sasl_mech_list_for(flags), cases[i].mechs);
        bool left = *cases[i].mechs != '\0';
        assert_int_equal(sasl_mech_allowed("plain", flags), left);
        assert_int_equal(sasl_mech_allowed("LOGIN", flags), left);
        assert_false(sasl_mech_allowed("CRAM-MD5", flags));
    }
}

static void test_overlong(void **state)
{
    (void)state;
    struct sasl_server x;
    const char *ch;
    /* A LOGIN user name of 256 bytes. */
    char name[256];
    memset(name, 'n', sizeof(name));
    char *enc = b64(name, sizeof(name));
    const char *l[] = {enc};
    assert_int_equal(exchange("LOGIN", NULL, l, 1, &x, &ch), SASL_ERROR);
    sasl_server_clear(&x);
    free(enc);
    enc = b64(name, 255);
    const char *l2[] = {enc};
    assert_int_equal(exchange("LOGIN", NULL, l2, 1, &x, &ch), SASL_CONTINUE);
    sasl_server_clear(&x);
    free(enc);
    /* A PLAIN message over SASL_DECODED_MAX. */
    char big[SASL_DECODED_MAX + 1];
    memset(big, 'b', sizeof(big));
    big[0] = '\0';
    big[200] = '\0';
    enc = b64(big, sizeof(big));
    assert_true(strlen(enc) <= SASL_ENCODED_MAX + 4);
    assert_int_equal(exchange("PLAIN", enc, NULL, 0, &x, &ch), SASL_ERROR);
    sasl_server_clear(&x);
    free(enc);
}

static int in_child(void (*fn)(void))
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct rlimit nocore = {0, 0};
        setrlimit(RLIMIT_CORE, &nocore);
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, 2);
        fn();
        _exit(0);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return status;
}

static void step_without_start(void)
{
    struct sasl_server x;
    const char *ch;
    memset(&x, 0, sizeof(x));
    sasl_server_step(&x, "", 0, &ch, NULL);
}

static void step_after_done(void)
{
    struct sasl_server x;
    const char *ch;
    sasl_server_start(&x, "LOGIN", "YQ==", &ch, NULL);
    sasl_server_step(&x, "Yg==", 4, &ch, NULL);
    sasl_server_step(&x, "Yw==", 4, &ch, NULL);
}

static void test_misuse_panics(void **state)
{
    (void)state;
    void (*fns[])(void) = {step_without_start, step_after_done};
    for (size_t i = 0; i < N_ELEMENTS(fns); i++) {
        int st = in_child(fns[i]);
        if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGABRT)
            fail_msg("case %zu did not abort (status %d)", i, st);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_base64_roundtrip), cmocka_unit_test(test_base64_bad),
        cmocka_unit_test(test_plain_parse),      cmocka_unit_test(test_exchanges),
        cmocka_unit_test(test_overlong),         cmocka_unit_test(test_security_options),
        cmocka_unit_test(test_misuse_panics),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
