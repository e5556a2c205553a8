/*
 * test_queue_id.c - unit tests for lib/queue_id.c: format, ordering,
 * decoding and the validity check used on IDs typed by users.
 */
#include "sys.h"
#include "queue_id.h"

#include <setjmp.h>
#include <cmocka.h>

static void test_make_and_time(void **state)
{
    (void)state;
    struct timeval tv = {.tv_sec = 1700000000, .tv_usec = 123456}, back;
    char id[QUEUE_ID_SIZE];
    queue_id_make(id, &tv, 987654321);
    assert_true(queue_id_valid(id));
    assert_int_equal(queue_id_time(id, &back), 0);
    assert_int_equal(back.tv_sec, tv.tv_sec);
    assert_int_equal(back.tv_usec, tv.tv_usec);
}

static void test_extremes(void **state)
{
    (void)state;
    char id[QUEUE_ID_SIZE];
    struct timeval tv = {.tv_sec = 0, .tv_usec = 0};
    queue_id_make(id, &tv, 0);
    assert_string_equal(id, "00000000000");
    tv.tv_sec = 4102444800; /* 2100 */
    tv.tv_usec = 999999;
    queue_id_make(id, &tv, UINT64_MAX);
    assert_int_equal(strlen(id), QUEUE_ID_MAX);
    assert_true(queue_id_valid(id));
}

static void test_ordering(void **state)
{
    (void)state;
    struct timeval a = {.tv_sec = 1700000000, .tv_usec = 999999};
    struct timeval b = {.tv_sec = 1700000001, .tv_usec = 0};
    char ia[QUEUE_ID_SIZE], ib[QUEUE_ID_SIZE], ic[QUEUE_ID_SIZE];
    queue_id_make(ia, &a, 99999999);
    queue_id_make(ib, &b, 1);
    assert_true(strcmp(ia, ib) < 0);
    /* Same time, different inodes: different IDs. */
    queue_id_make(ic, &a, 99999998);
    assert_string_not_equal(ia, ic);
}

static void test_valid_table(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        bool ok;
    } cases[] = {
        {"1rXbW70DPq4Kj", true},
        {"00000000000", true},
        {"0000000000", false}, /* too short */
        {"", false},
        {"0000000000000000000000", false}, /* 22: too long */
        {"../../etc/pa", false},
        {"00000000/000", false},
        {"0000000000.", false},
        {"00000000000 ", false},
        {"000000000-0", false},
        {"00000000_00", false},
        {"tmp.123.4567", false},
    };
    for (size_t i = 0; i < N_ELEMENTS(cases); i++)
        assert_int_equal(queue_id_valid(cases[i].s), cases[i].ok);
    struct timeval tv;
    assert_int_equal(queue_id_time("../x", &tv), -1);
    /* Microsecond field out of range. */
    assert_int_equal(queue_id_time("000000zzzz1", &tv), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_make_and_time),
        cmocka_unit_test(test_extremes),
        cmocka_unit_test(test_ordering),
        cmocka_unit_test(test_valid_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
