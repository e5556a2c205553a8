/*
 * rfc822_date.h - dates for message headers (RFC 5322 3.3), in local
 * time with a numeric zone: "Tue, 4 Mar 2025 09:05:01 +0100 (CET)".
 * Day and month names are always English, whatever the locale.
 */
#ifndef TERN_RFC822_DATE_H
#define TERN_RFC822_DATE_H

#include "sys.h"
#include "str.h"

#include <time.h>

/* Append the date of t to out. */
void rfc822_date(str_t *out, time_t t);

#endif
