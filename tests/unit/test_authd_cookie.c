/*
 * test_authd_cookie.c - unit tests for authd/authd_cookie.c (included
 * whole: it has no I/O) and auth_cookie_valid from lib/auth_client.c:
 * the cookie format, single use, service and expiry checks, malformed
 * cookies not consuming anything, pruning, and the bounded table dropping
 * expired entries before the oldest live one.
 */
#include "../../authd/authd_cookie.c"

#include "log.h"

#include <ctype.h>
#include <setjmp.h>
#include <cmocka.h>

#include "unit_tmp.h"

static char log_path[] = "/tmp/test_authd_cookie.XXXXXX";

static char *log_text(void)
{
    char *buf = unit_read_file(log_path);
    assert_non_null(buf);
    return buf;
}

static const struct authd_login carol = {.service = "pop3",
                                         .user = "carol@example.test",
                                         .uid = 5000,
                                         .gid = 5001,
                                         .home = "/var/mail/carol"};

static void issue(struct authd_cookies *t, const char *user, int64_t now, int64_t life,
                  char cookie[AUTH_COOKIE_LEN + 1])
{
    struct authd_login l = carol;
    l.user = (char *)user;
    authd_cookie_issue(t, &l, now, life, cookie);
}

static void test_valid(void **state)
{
    (void)state;
    assert_true(auth_cookie_valid("0123456789abcdef0123456789abcdef"));
    assert_false(auth_cookie_valid(NULL));
    assert_false(auth_cookie_valid(""));
    assert_false(auth_cookie_valid("0123456789abcdef0123456789abcde"));   /* 31 */
    assert_false(auth_cookie_valid("0123456789abcdef0123456789abcdef0")); /* 33 */
    assert_false(auth_cookie_valid("0123456789ABCDEF0123456789abcdef"));  /* upper case */
    assert_false(auth_cookie_valid("0123456789abcdeg0123456789abcdef"));
    assert_false(auth_cookie_valid("0123456789abcdef0123456789abcde "));
}

static void test_issue_and_redeem_once(void **state)
{
    (void)state;
    struct authd_cookies *t = authd_cookies_new(8);
    char a[AUTH_COOKIE_LEN + 1], b[AUTH_COOKIE_LEN + 1];
    issue(t, "carol@example.test", 1000, 60000, a);
    issue(t, "dan@example.test", 1000, 60000, b);
    assert_true(auth_cookie_valid(a));
    assert_true(auth_cookie_valid(b));
    assert_string_not_equal(a, b);
    assert_int_equal(authd_cookies_count(t), 2);

    struct authd_login l;
    assert_int_equal(authd_cookie_redeem(t, a, "pop3", 2000, &l), AUTHD_COOKIE_OK);
    assert_string_equal(l.user, "carol@example.test");
    assert_string_equal(l.service, "pop3");
    assert_int_equal(l.uid, 5000);
    assert_int_equal(l.gid, 5001);
    assert_string_equal(l.home, "/var/mail/carol");
    authd_login_clear(&l);
    assert_null(l.user);
    assert_int_equal(authd_cookies_count(t), 1);
    /* Single use. */
    assert_int_equal(authd_cookie_redeem(t, a, "pop3", 2000, &l), AUTHD_COOKIE_UNKNOWN);
    assert_null(l.user);
    /* b is another login. */
    assert_int_equal(authd_cookie_redeem(t, b, "pop3", 2000, &l), AUTHD_COOKIE_OK);
    assert_string_equal(l.user, "dan@example.test");
    authd_login_clear(&l);
    assert_int_equal(authd_cookies_count(t), 0);
    authd_cookies_free(&t);
    assert_null(t);
}

static void test_near_miss_and_malformed(void **state)
{
    (void)state;
    struct authd_cookies *t = authd_cookies_new(8);
    char a[AUTH_COOKIE_LEN + 1], guess[AUTH_COOKIE_LEN + 1];
    issue(t, "carol@example.test", 0, 60000, a);
    struct authd_login l;
    /* One digit off: unknown, and the real cookie still works after. */
    memcpy(guess, a, sizeof(guess));
    guess[AUTH_COOKIE_LEN - 1] = guess[AUTH_COOKIE_LEN - 1] == '0' ? '1' : '0';
    assert_int_equal(authd_cookie_redeem(t, guess, "pop3", 1, &l), AUTHD_COOKIE_UNKNOWN);
    /* The all-zero key of an empty slot matches nothing. */
    assert_int_equal(authd_cookie_redeem(t, "00000000000000000000000000000000", "pop3", 1, &l),
                     AUTHD_COOKIE_UNKNOWN);
    /* Malformed: not looked up, so the same cookie in upper case or cut short burns nothing. */
    memcpy(guess, a, sizeof(guess));
    for (char *p = guess; *p; p++)
        *p = (char)toupper((unsigned char)*p);
    if (strcmp(guess, a) != 0)
        assert_int_equal(authd_cookie_redeem(t, guess, "pop3", 1, &l), AUTHD_COOKIE_MALFORMED);
    memcpy(guess, a, sizeof(guess));
    guess[10] = '\0';
    assert_int_equal(authd_cookie_redeem(t, guess, "pop3", 1, &l), AUTHD_COOKIE_MALFORMED);
    assert_int_equal(authd_cookie_redeem(t, "", "pop3", 1, &l), AUTHD_COOKIE_MALFORMED);
    assert_null(l.user);
    assert_int_equal(authd_cookies_count(t), 1);
    assert_int_equal(authd_cookie_redeem(t, a, "pop3", 1, &l), AUTHD_COOKIE_OK);
    authd_login_clear(&l);
    authd_cookies_free(&t);
}

static void test_service_and_expiry(void **state)
{
    (void)state;
    struct authd_cookies *t = authd_cookies_new(8);
    char a[AUTH_COOKIE_LEN + 1], b[AUTH_COOKIE_LEN + 1], c[AUTH_COOKIE_LEN + 1];
    struct authd_login l;
    /* Another service: refused, and the cookie is gone. */
    issue(t, "carol@example.test", 0, 1000, a);
    assert_int_equal(authd_cookie_redeem(t, a, "imap", 10, &l), AUTHD_COOKIE_SERVICE);
    assert_string_equal(l.user, "carol@example.test"); /* for the log */
    authd_login_clear(&l);
    assert_int_equal(authd_cookie_redeem(t, a, "pop3", 10, &l), AUTHD_COOKIE_UNKNOWN);
    /* Valid until just before now + lifetime. */
    issue(t, "carol@example.test", 0, 1000, b);
    issue(t, "carol@example.test", 0, 1000, c);
    assert_int_equal(authd_cookie_redeem(t, b, "pop3", 999, &l), AUTHD_COOKIE_OK);
    authd_login_clear(&l);
    assert_int_equal(authd_cookie_redeem(t, c, "pop3", 1000, &l), AUTHD_COOKIE_EXPIRED);
    authd_login_clear(&l);
    assert_int_equal(authd_cookie_redeem(t, c, "pop3", 1000, &l), AUTHD_COOKIE_UNKNOWN);
    assert_int_equal(authd_cookies_count(t), 0);
    authd_cookies_free(&t);
}

static void test_prune(void **state)
{
    (void)state;
    struct authd_cookies *t = authd_cookies_new(8);
    char a[AUTH_COOKIE_LEN + 1], b[AUTH_COOKIE_LEN + 1];
    issue(t, "carol@example.test", 0, 1000, a);
    issue(t, "carol@example.test", 0, 5000, b);
    authd_cookies_prune(t, 1000 + AUTHD_COOKIE_KEEP_MS - 1);
    assert_int_equal(authd_cookies_count(t), 2);
    struct authd_login l;
    authd_cookies_prune(t, 1000 + AUTHD_COOKIE_KEEP_MS);
    assert_int_equal(authd_cookies_count(t), 1);
    /* Pruned: unknown now, no longer "expired". */
    assert_int_equal(authd_cookie_redeem(t, a, "pop3", 1000 + AUTHD_COOKIE_KEEP_MS, &l),
                     AUTHD_COOKIE_UNKNOWN);
    assert_int_equal(authd_cookie_redeem(t, b, "pop3", 1000 + AUTHD_COOKIE_KEEP_MS, &l),
                     AUTHD_COOKIE_EXPIRED);
    authd_login_clear(&l);
    authd_cookies_free(&t);
}

static void test_full_table(void **state)
{
    (void)state;
    struct authd_cookies *t = authd_cookies_new(3);
    char c[5][AUTH_COOKIE_LEN + 1];
    struct authd_login l;
    assert_int_equal(truncate(log_path, 0), 0);
    issue(t, "u0@example.test", 0, 100, c[0]);   /* expires at 100 */
    issue(t, "u1@example.test", 10, 1000, c[1]); /* oldest live at 200 */
    issue(t, "u2@example.test", 20, 1000, c[2]);
    /* Full: the expired u0 makes room, silently. */
    issue(t, "u3@example.test", 200, 1000, c[3]);
    assert_int_equal(authd_cookies_count(t), 3);
    char *log = log_text();
    assert_null(strstr(log, "table full"));
    free(log);
    assert_int_equal(authd_cookie_redeem(t, c[0], "pop3", 200, &l), AUTHD_COOKIE_UNKNOWN);
    /* Full of live cookies: the oldest (u1) goes, with a warning. */
    issue(t, "u4@example.test", 300, 1000, c[4]);
    assert_int_equal(authd_cookies_count(t), 3);
    log = log_text();
    assert_non_null(strstr(log, "login cookie table full (3 entries): dropped the oldest "
                                "unredeemed cookie, of user <u1@example.test>"));
    /* The cookie itself is never logged. */
    for (int i = 0; i < 5; i++)
        assert_null(strstr(log, c[i]));
    free(log);
    assert_int_equal(authd_cookie_redeem(t, c[1], "pop3", 300, &l), AUTHD_COOKIE_UNKNOWN);
    for (int i = 2; i < 5; i++) {
        assert_int_equal(authd_cookie_redeem(t, c[i], "pop3", 300, &l), AUTHD_COOKIE_OK);
        char want[32];
        snprintf(want, sizeof(want), "u%d@example.test", i);
        assert_string_equal(l.user, want);
        authd_login_clear(&l);
    }
    assert_int_equal(authd_cookies_count(t), 0);
    authd_cookies_free(&t);
}

static void test_reasons(void **state)
{
    (void)state;
    assert_string_equal(authd_cookie_reason(AUTHD_COOKIE_EXPIRED), "login cookie expired");
    assert_string_equal(authd_cookie_reason(AUTHD_COOKIE_UNKNOWN),
                        "unknown or already used login cookie");
    assert_string_equal(authd_cookie_reason(AUTHD_COOKIE_SERVICE),
                        "login cookie issued for another service");
    assert_string_equal(authd_cookie_reason(AUTHD_COOKIE_MALFORMED), "malformed login cookie");
}

int main(void)
{
    int fd = mkstemp(log_path);
    if (fd < 0)
        return 1;
    close(fd);
    log_init("test_authd_cookie");
    log_open("tern", log_path);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_issue_and_redeem_once),
        cmocka_unit_test(test_near_miss_and_malformed),
        cmocka_unit_test(test_service_and_expiry),
        cmocka_unit_test(test_prune),
        cmocka_unit_test(test_full_table),
        cmocka_unit_test(test_reasons),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    unlink(log_path);
    return rc;
}
