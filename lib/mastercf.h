/*
 * mastercf.h - master.cf parser.
 *
 * Postfix syntax: one service per logical line, fields
 *   service type private unpriv chroot wakeup maxproc command [args...]
 * with '-' for a default, comments from '#', continuation lines starting
 * with whitespace, and "-o name=value" arguments that override main.cf
 * for that service.  type is inet, unix, fifo or pass.  For inet the
 * service field is [host:]port (host may be [IPv6]), and port may be a
 * number or a name from /etc/services.
 */
#ifndef TERN_MASTERCF_H
#define TERN_MASTERCF_H

#include "sys.h"

enum mastercf_type { MCF_INET, MCF_UNIX, MCF_FIFO, MCF_PASS };

struct mastercf_entry {
    char *name; /* field 1 as written, e.g. "smtp", "127.0.0.1:2525" */
    enum mastercf_type type;
    char *host;          /* inet: host part or NULL (= inet_interfaces) */
    char *port;          /* inet: port (number or service name) */
    bool private_;       /* field 2; default y (inet: n is implied by Postfix) */
    bool unpriv;         /* field 3; default y */
    bool chroot;         /* field 4; default n */
    int wakeup;          /* field 5: seconds, 0 = none */
    bool wakeup_if_used; /* wakeup written with a trailing '?' */
    int maxproc;         /* field 6: -1 = default_process_limit, 0 = no limit */
    char *command;       /* field 7: program name (in daemon_directory) */
    char **argv;         /* field 7..: command and its args, NULL-terminated */
    int argc;
    char **overrides; /* "-o" values "name=value", NULL-terminated */
    int noverrides;
    char *file; /* where it was defined, for messages */
    int line;
};

struct mastercf {
    struct mastercf_entry *entries;
    size_t count;
};

/*
 * Parse a whole master.cf.  Errors are logged as "FILE, line N: ..." with
 * msg_error; any error makes the result NULL.
 */
struct mastercf *mastercf_parse_file(const char *path);
struct mastercf *mastercf_parse_string(const char *text, size_t len, const char *name);
void mastercf_free(struct mastercf **mp);

#endif
