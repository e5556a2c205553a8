/*
 * valias.h - virtual alias expansion (virtual(5)): what an envelope
 * recipient becomes through virtual_alias_maps.  The cleanup service runs
 * it on every recipient before a message is queued, for any domain.
 *
 * For an address user+ext@domain the keys are, first match wins:
 *   user+ext@domain, user@domain,
 *   user+ext, user          (only when domain is in mydestination),
 *   @domain                 (catch-all)
 * A value is a list of addresses (commas and/or white space; an address
 * without '@' gets "@$myorigin" when append_at_myorigin is set).  Each
 * result is expanded again, unless it is the address that was looked up
 * (an address that maps to itself ends the recursion).  Duplicates are
 * kept once.  Nesting deeper than virtual_alias_recursion_limit, or more
 * than virtual_alias_expansion_limit addresses in play at once, ends the
 * expansion with VALIAS_LIMIT (a loop or a runaway table).
 */
#ifndef TERN_VALIAS_H
#define TERN_VALIAS_H

#include "sys.h"

enum valias_status {
    VALIAS_OK = 0,
    VALIAS_TABLE = -1, /* a table could not be read: try again later */
    VALIAS_LIMIT = -2, /* nesting or expansion limit: a loop or a bad table */
};

/* Whether virtual_alias_maps names any table (else expansion is a no-op). */
bool valias_enabled(void);

/*
 * Expand addr.  On VALIAS_OK *result_r is a NULL-terminated malloc'ed
 * list (free with cfg_list_free), holding at least one address; it is
 * {addr} when no table matched.  On failure *error_r (malloc'ed) says why.
 */
enum valias_status valias_expand(const char *addr, char ***result_r, char **error_r);

#endif
