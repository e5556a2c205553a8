/*
 * queue_id.c - encode and check queue IDs.  See queue_id.h for the format
 * and why IDs are unique.
 */
#include "queue_id.h"

#define ID_SEC_WIDTH 6
#define ID_USEC_WIDTH 4

static const char id_alphabet[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/* Value of one alphabet character, or -1. */
static int id_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'Z')
        return c - 'A' + 10;
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 36;
    return -1;
}

/* Write v in base 62, exactly width digits (higher digits dropped). */
static void id_put_fixed(char *out, uint64_t v, int width)
{
    for (int i = width - 1; i >= 0; i--) {
        out[i] = id_alphabet[v % 62];
        v /= 62;
    }
}

void queue_id_make(char buf[QUEUE_ID_SIZE], const struct timeval *tv, uint64_t ino)
{
    id_put_fixed(buf, (uint64_t)tv->tv_sec, ID_SEC_WIDTH);
    id_put_fixed(buf + ID_SEC_WIDTH, (uint64_t)tv->tv_usec % 1000000, ID_USEC_WIDTH);
    char rev[16];
    int n = 0;
    do {
        rev[n++] = id_alphabet[ino % 62];
        ino /= 62;
    } while (ino > 0);
    char *p = buf + ID_SEC_WIDTH + ID_USEC_WIDTH;
    while (n > 0)
        *p++ = rev[--n];
    *p = '\0';
}

bool queue_id_valid(const char *s)
{
    size_t n = 0;
    for (; s[n] != '\0'; n++) {
        if (n >= QUEUE_ID_MAX || id_digit(s[n]) < 0)
            return false;
    }
    return n >= QUEUE_ID_MIN;
}

/* Decode width base-62 digits. */
static uint64_t id_get_fixed(const char *s, int width)
{
    uint64_t v = 0;
    for (int i = 0; i < width; i++)
        v = v * 62 + (uint64_t)id_digit(s[i]);
    return v;
}

int queue_id_time(const char *id, struct timeval *tv_r)
{
    if (!queue_id_valid(id))
        return -1;
    uint64_t usec = id_get_fixed(id + ID_SEC_WIDTH, ID_USEC_WIDTH);
    if (usec >= 1000000)
        return -1;
    tv_r->tv_sec = (time_t)id_get_fixed(id, ID_SEC_WIDTH);
    tv_r->tv_usec = (suseconds_t)usec;
    return 0;
}
