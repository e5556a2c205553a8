/*
 * rfc822_date.c - RFC 5322 dates with a numeric zone (rfc822_date.h).
 */
#include "sys.h"
#include "rfc822_date.h"

#include <ctype.h>

void rfc822_date(str_t *out, time_t t)
{
    static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    struct tm tm;
    if (localtime_r(&t, &tm) == NULL)
        gmtime_r(&t, &tm);
    long off = tm.tm_gmtoff / 60;
    char sign = off < 0 ? '-' : '+';
    if (off < 0)
        off = -off;
    str_appendf(out, "%s, %d %s %d %02d:%02d:%02d %c%02ld%02ld", days[tm.tm_wday % 7], tm.tm_mday,
                months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec, sign,
                off / 60, off % 60);
    /* The zone's abbreviation as a comment, when it is a plain word. */
    const char *z = tm.tm_zone;
    size_t n = z != NULL ? strlen(z) : 0;
    bool word = n > 0 && n <= 8;
    for (size_t i = 0; i < n && word; i++)
        word = isalpha((unsigned char)z[i]) != 0;
    if (word)
        str_appendf(out, " (%s)", z);
}
