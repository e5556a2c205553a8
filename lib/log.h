/*
 * log.h - the logging family: info, warn, error, fatal, panic.
 *
 * Lines look like "tern/PROGRAM[PID]: text"; callers that handle a message
 * start the text with its queue ID ("3F2A1B: to=<...>").  Output goes to
 * syslog (facility mail) by default, or to a file or stderr: log_open()
 * with maillog_file = "" (syslog), "/dev/stderr", "/dev/stdout" or a path.
 * Untrusted text must be made printable (str_append_printable) before it is
 * logged; secrets are never logged.
 */
#ifndef TERN_LOG_H
#define TERN_LOG_H

#include "sys.h"

enum log_level { LOG_LVL_INFO, LOG_LVL_WARN, LOG_LVL_ERROR, LOG_LVL_FATAL, LOG_LVL_PANIC };

/* Set the program name shown after "tern/" (call first thing in main). */
void log_init(const char *progname);
/*
 * Choose the destination: syslog_name (e.g. "tern") prefixes the program;
 * file is "" for syslog, else a path opened for append ("/dev/stderr").
 * Returns 0, or -1 with errno when the file cannot be opened (logging then
 * stays where it was).
 */
int log_open(const char *syslog_name, const char *file);
/*
 * Log to a descriptor a parent opened (a program run as mail_owner may
 * not open the log file itself); log_file_fd() is this process's log
 * file descriptor, -1 when it logs to syslog.
 */
void log_open_fd(const char *syslog_name, int fd);
int log_file_fd(void);
const char *log_progname(void);
/* Send a copy of every line to stderr as well (tools run by a person). */
void log_also_stderr(bool on);
/*
 * Log the following lines as program name (a static string; same PID)
 * until called with NULL: a library that runs inside another daemon, such
 * as the cleanup engine inside smtpd and pickup, logs under its own name,
 * where log readers (and Postfix log tools) look for it.
 */
void log_set_component(const char *name);
/* Verbose debugging lines (msg_debug) on or off. */
void log_set_verbose(int level);
int log_verbose(void);

void msg_debug(const char *fmt, ...) TERN_PRINTF(1, 2);
void msg_info(const char *fmt, ...) TERN_PRINTF(1, 2);
void msg_warn(const char *fmt, ...) TERN_PRINTF(1, 2);
void msg_error(const char *fmt, ...) TERN_PRINTF(1, 2);
/* The environment is wrong: log and exit(1). */
void msg_fatal(const char *fmt, ...) TERN_PRINTF(1, 2) TERN_NORETURN;
/* A bug: log and abort() with a core. */
void msg_panic(const char *fmt, ...) TERN_PRINTF(1, 2) TERN_NORETURN;

/* Hook run before msg_fatal exits (e.g. to remove a pid file). */
void log_set_fatal_hook(void (*hook)(void));

#endif
