/*
 * params.c - the parameter table: every main.cf name tern knows, with its
 * type, default and a short description.
 *
 * This table is the single source for defaults: config.c reads it,
 * `ternconf -d` prints it and man/man5/main.cf.5 is generated from it
 * (scripts/gen-maincf-man).  Keep it sorted by name (param_find uses a
 * binary search and a unit test checks the order).  Names and defaults
 * follow Postfix where the concept is the same.
 *
 * A default starting with '@' is computed at run time by config.c:
 *   @hostname    the system host name as returned by gethostname()
 *   @domain      $myhostname without its first label, else "localdomain"
 *   @config_dir  the configuration directory actually loaded
 */
#include "config.h"

#ifndef TERN_SYSCONFDIR
#define TERN_SYSCONFDIR "/etc/tern"
#endif
#ifndef TERN_LIBEXECDIR
#define TERN_LIBEXECDIR "/usr/libexec/tern"
#endif
#ifndef TERN_QUEUEDIR
#define TERN_QUEUEDIR "/var/spool/tern"
#endif
#ifndef TERN_BINDIR
#define TERN_BINDIR "/usr/bin"
#endif

#define S(n, d, doc)                                                                               \
    {                                                                                              \
        n, PARAM_STR, d, 0, 0, doc                                                                 \
    }
#define L(n, d, doc)                                                                               \
    {                                                                                              \
        n, PARAM_LIST, d, 0, 0, doc                                                                \
    }
#define I(n, d, mn, doc)                                                                           \
    {                                                                                              \
        n, PARAM_INT, d, 0, mn, doc                                                                \
    }
#define Z(n, d, mn, doc)                                                                           \
    {                                                                                              \
        n, PARAM_SIZE, d, 0, mn, doc                                                               \
    }
#define B(n, d, doc)                                                                               \
    {                                                                                              \
        n, PARAM_BOOL, d, 0, 0, doc                                                                \
    }
#define T(n, d, u, mn, doc)                                                                        \
    {                                                                                              \
        n, PARAM_TIME, d, u, mn, doc                                                               \
    }

const struct param_def param_table[] = {
    S("2bounce_notice_recipient", "postmaster",
      "Who receives a bounce that could not be returned: the failure report for mail from the null "
      "sender, which is never bounced back."),
    L("alias_database", "hash:/etc/aliases",
      "The alias databases that newaliases rebuilds. Usually the indexed tables among "
      "$alias_maps."),
    L("alias_maps", "hash:/etc/aliases",
      "Lookup tables the local delivery agent consults for aliases of local recipients."),
    L("allow_mail_to_commands", "alias, forward",
      "Where the local delivery agent lets an address of the form |command run a command: any of "
      "alias (alias_maps), forward (.forward files) and include (:include: files); empty forbids "
      "it."),
    L("allow_mail_to_files", "alias, forward",
      "Where the local delivery agent lets an address of the form /file/name append to a file: any "
      "of alias, forward and include; empty forbids it."),
    B("allow_untrusted_routing", "no",
      "Whether the SMTP server relays for untrusted clients addresses with sender-specified "
      "routing (user%host@, host!user@, quoted '@', source routes) to a domain that is ours. Off: "
      "such recipients count as foreign."),
    B("append_at_myorigin", "yes",
      "Whether cleanup appends \"@$myorigin\" to an envelope sender or recipient without a domain "
      "(mail from local users)."),
    B("append_dot_mydomain", "no",
      "Whether a bare host name in an address gets \".$mydomain\" appended. Off, as in current "
      "Postfix."),
    B("auth_allow_plaintext_passwords", "no",
      "Whether authd accepts {PLAIN} and {CLEARTEXT} passwords in $auth_user_database. Off: such "
      "lines are reported and ignored, so only crypt(3) hashes are used."),
    T("auth_failure_delay", "1s", 's', 0,
      "How long authd waits before answering a failed authentication; it doubles with each recent "
      "failure from the same client address or for the same user, up to $auth_failure_max_delay."),
    I("auth_failure_limit", "10", 1,
      "After this many recent failures from one client address, or for one user name, authd "
      "refuses further attempts outright (\"too many failures\") until $auth_failure_reset_time "
      "passes without a failure."),
    T("auth_failure_max_delay", "8s", 's', 0,
      "The largest delay authd applies to a failed or refused authentication."),
    T("auth_failure_reset_time", "10m", 's', 1,
      "How long authd remembers failures: the count for a client address or user name is forgotten "
      "once this much time has passed since its last failure."),
    T("auth_login_cookie_lifetime", "60s", 's', 1,
      "How long a one-time login cookie that authd hands a POP3 or IMAP login process stays "
      "valid: the session parent must redeem it within this time (see authd(8))."),
    S("auth_user_database", "$config_directory/users",
      "The user database authd reads for SMTP AUTH, POP3 and IMAP logins, in Dovecot's passwd-file "
      "format (user@domain:{SCHEME}hash:uid:gid::home::extra). Only authd reads it; it should be "
      "readable by mail_owner and nobody else."),
    I("auth_worker_count", "2", 1,
      "How many worker processes authd starts to check password hashes, so that this many checks "
      "run at once while authd goes on answering other requests; more wait in a queue (see "
      "authd(8))."),
    T("bounce_queue_lifetime", "5d", 'd', 0,
      "How long a bounce message that cannot be delivered stays queued before it is given up."),
    Z("bounce_size_limit", "50000", 1,
      "The most bytes of the original message returned in a bounce or delivery status "
      "notification; a larger message is returned as its headers only."),
    I("cleanup_recipient_limit", "10000", 1,
      "The most envelope recipients the cleanup service accepts for one message, from the envelope "
      "and from headers (sendmail -t) together."),
    S("command_directory", TERN_BINDIR,
      "Where the tern administrative commands (tern, ternconf, sendmail, ...) are installed."),
    S("config_directory", "@config_dir",
      "The directory that holds main.cf and master.cf. Normally set by the -c option or "
      "$MAIL_CONFIG, not in main.cf."),
    S("daemon_directory", TERN_LIBEXECDIR,
      "Where master finds the daemon programs named in master.cf. May point at build/libexec for "
      "an instance run from the source tree."),
    T("daemon_timeout", "18000s", 's', 1,
      "How long a daemon may spend on one request before it gives up and exits."),
    S("data_directory", "/var/lib/tern",
      "A directory writable by mail_owner for caches and other state that is not queue content."),
    I("debug_peer_level", "2", 0,
      "How much verbose logging is added when a peer matches $debug_peer_list."),
    L("debug_peer_list", "", "Remote hosts or networks for which verbose logging is turned on."),
    S("default_database_type", "hash",
      "The table type newaliases and the map tool build when none is given: hash, btree or lmdb."),
    I("default_destination_concurrency_limit", "20", 1,
      "The most deliveries in parallel to one destination, for transports that set no limit of "
      "their own."),
    T("default_destination_rate_delay", "0s", 's', 0,
      "The pause between two deliveries to one destination, for transports that set no delay of "
      "their own; above 0 at most one delivery to the destination runs at a time. 0 means no "
      "pause."),
    I("default_destination_recipient_limit", "50", 1,
      "The most recipients given to one delivery request, for transports that set no limit of "
      "their own."),
    S("default_privs", "nobody",
      "The unprivileged user the local delivery agent uses where no recipient owns the delivery."),
    I("default_process_limit", "100", 1,
      "The most processes of one service that master runs at once, for master.cf lines whose "
      "maxproc is '-'."),
    S("default_transport", "smtp",
      "The transport for destinations that are not local, virtual or relayed; the form is "
      "transport[:nexthop]."),
    T("delay_warning_time", "0h", 'h', 0,
      "After this long without delivery the sender gets a warning that the message is delayed; 0 "
      "turns the warning off."),
    I("destination_concurrency_failed_cohort_limit", "1", 1,
      "How many pseudo-cohorts (a concurrency window's worth of delivery requests) must fail at "
      "the site level (no server of the destination reached or willing to talk), without a "
      "success in between, before qmgr declares the destination dead: its queued mail is then "
      "deferred without being tried (\"delivery temporarily suspended\") for "
      "$minimal_backoff_time."),
    B("disable_vrfy_command", "no",
      "Whether the SMTP server refuses VRFY, which can be used to harvest addresses."),
    I("dns_cache_limit", "1000", 0,
      "The most answers tern's resolver keeps in its in-process cache (each held no longer than "
      "its TTL; negative answers for the SOA minimum); 0 turns the cache off."),
    B("dns_dnssec_ok", "no",
      "Whether tern's resolver sets the EDNS0 DO bit, asking a validating nameserver to report "
      "DNSSEC status (the AD bit) for DANE."),
    L("dns_nameservers", "",
      "The nameservers tern's resolver asks, as address, address:port or [IPv6-address]:port; "
      "empty means those listed in /etc/resolv.conf."),
    I("dns_retries", "2", 1,
      "How many rounds over all nameservers tern's resolver makes before a query fails "
      "temporarily."),
    T("dns_timeout", "5s", 's', 1,
      "How long tern's resolver waits for one nameserver to answer one try of a query."),
    S("empty_address_relayhost_maps_lookup_key", "<>",
      "The key $sender_dependent_relayhost_maps is searched with for the null sender."),
    L("export_environment", "TZ MAIL_CONFIG LANG",
      "Environment variables that master and tools pass on to the programs they start."),
    L("forward_path", "$home/.forward",
      "Where the local delivery agent looks for a user's .forward file."),
    I("hash_queue_depth", "1", 1, "How many levels of subdirectories hashed queues use."),
    L("hash_queue_names", "deferred, defer",
      "Queue directories that are split into hashed subdirectories to keep each directory small."),
    L("header_checks", "",
      "Lookup tables (usually regexp:) applied by cleanup to each logical message header; see "
      "header_checks(5) for the actions."),
    Z("header_size_limit", "102400", 1,
      "The most bytes of a message's header section that cleanup parses as headers (header_checks, "
      "Received counting, sendmail -t); content past the limit is kept unchanged as body."),
    S("home_mailbox", "Maildir/",
      "Where local delivery puts mail, relative to the user's home directory. Must end in '/' "
      "(Maildir format)."),
    I("hopcount_limit", "50", 1,
      "The most Received: headers a message may carry; cleanup rejects a message with more as a "
      "mail loop (5.4.6)."),
    L("import_environment", "MAIL_CONFIG MAIL_DEBUG MAIL_LOGTAG TZ LANG=C",
      "Environment variables that programs keep from their parent when they start; the rest is "
      "removed."),
    L("inet_interfaces", "all",
      "The local addresses SMTP and other inet services listen on: all, loopback-only, or a list "
      "of addresses."),
    L("inet_protocols", "all",
      "The IP versions used for listening and for outbound connections: all, ipv4, ipv6, or both "
      "as a list."),
    I("initial_destination_concurrency", "5", 1,
      "How many deliveries qmgr runs in parallel to a destination (transport and next hop) it has "
      "no recent experience with; the number grows with successful deliveries up to "
      "$default_destination_concurrency_limit and shrinks with failed ones."),
    B("inline_cleanup", "yes",
      "Whether smtpd and pickup run cleanup's work (header_checks, virtual_alias_maps, Received:, "
      "the durable queue file, the qmgr wakeup) in their own process, as the cleanup service "
      "would, instead of handing each message to the cleanup service over a socket. They run as "
      "mail_owner like cleanup, so no privilege boundary is crossed; bounces from qmgr always go "
      "to the cleanup service."),
    T("ipc_idle", "5s", 's', 1,
      "How long a client keeps an idle connection to an internal service before closing it."),
    T("ipc_timeout", "3600s", 's', 1,
      "The time limit for one read or write on a connection between tern's own processes."),
    Z("line_length_limit", "2048", 1,
      "The longest line, in bytes, that is read as one line from SMTP clients or local "
      "submissions; longer ones are split."),
    I("local_destination_concurrency_limit", "$default_destination_concurrency_limit", 1,
      "The most deliveries in parallel through the local transport to one destination (one "
      "recipient when $local_destination_recipient_limit is 1, else one domain)."),
    I("local_destination_recipient_limit", "$default_destination_recipient_limit", 1,
      "The most recipients in one delivery request to the local transport; 1 makes each "
      "recipient a destination of its own for $local_destination_concurrency_limit."),
    L("local_recipient_maps", "unix:passwd.byname $alias_maps",
      "Tables of the valid local recipients; the SMTP server rejects unknown ones. Empty turns the "
      "check off."),
    S("local_transport", "local:$myhostname",
      "The transport for recipients in $mydestination, in the form transport[:nexthop]."),
    S("mail_name", "tern",
      "The name of the mail system, as shown in the SMTP banner and in Received headers."),
    S("mail_owner", "tern",
      "The unprivileged user that owns the queue and that most daemons run as. Must not be shared "
      "with other software."),
    S("mail_version", "0.1", "The version of tern. Set at build time; do not change it."),
    Z("mailbox_size_limit", "51200000", 0,
      "The largest mailbox or Maildir message the local delivery agent writes; 0 means no limit."),
    S("maillog_file", "",
      "Where daemons log: empty for syslog, or a file name such as /dev/stderr or "
      "/var/log/tern.log."),
    T("max_idle", "100s", 's', 1,
      "How long an idle daemon process waits for a new client before it exits."),
    I("max_use", "100", 1,
      "How many clients a daemon process serves before it exits and master starts a fresh one."),
    T("maximal_backoff_time", "4000s", 's', 1,
      "The longest wait between delivery attempts for a deferred message."),
    T("maximal_queue_lifetime", "5d", 'd', 0,
      "How long a message that cannot be delivered stays queued before it is returned to the "
      "sender."),
    Z("message_size_limit", "26214400", 0,
      "The largest message, in bytes, accepted from SMTP or local submission (25 MB); 0 means no "
      "limit."),
    T("minimal_backoff_time", "300s", 's', 1,
      "The shortest wait between delivery attempts for a deferred message."),
    L("mydestination", "$myhostname, localhost.$mydomain, localhost",
      "The domains this host delivers locally; mail for them goes to $local_transport."),
    S("mydomain", "@domain",
      "The internet domain of this host. The default is $myhostname without its first label, or "
      "localdomain."),
    S("myhostname", "@hostname",
      "The fully qualified host name of this system, used in the SMTP banner, HELO and Received "
      "headers. The default is the system host name."),
    L("mynetworks", "127.0.0.0/8 [::1]/128",
      "Networks whose SMTP clients are trusted to relay mail, as address/prefix entries or "
      "tables."),
    S("mynetworks_style", "host",
      "How mynetworks is computed when it is not set: host, subnet or class. tern's explicit "
      "default above takes precedence."),
    S("myorigin", "$myhostname",
      "The domain appended to addresses without one in locally submitted mail."),
    L("notify_classes", "resource, software",
      "Which problems are reported to the postmaster: bounce, 2bounce, data, delay, policy, "
      "protocol, resource, software."),
    I("pop3d_command_count_limit", "100000", 1,
      "The POP3 server disconnects a client after this many commands in one session."),
    I("pop3d_command_line_limit", "255", 255,
      "The longest POP3 command line in bytes, not counting CRLF (RFC 2449 allows 255); AUTH "
      "responses may be as long as a SASL PLAIN response needs."),
    S("pop3d_expire", "",
      "The message retention policy the POP3 server announces in CAPA (RFC 2449 EXPIRE): empty "
      "(nothing announced), NEVER, or a number of days; 0 also makes the server remove every "
      "message a session retrieved with RETR when it ends with QUIT."),
    I("pop3d_hard_error_limit", "10", 1,
      "The POP3 server disconnects a client after this many bad commands (unknown, malformed or "
      "too long) in one session."),
    T("pop3d_login_delay", "0", 's', 0,
      "The shortest time between two POP3 logins to one mailbox (RFC 2449 LOGIN-DELAY, announced "
      "in CAPA); an earlier login gets -ERR [LOGIN-DELAY] after its password was checked. 0: no "
      "limit, nothing announced."),
    S("pop3d_plaintext_auth", "loopback",
      "When the POP3 server accepts USER/PASS and AUTH without TLS: yes (always), loopback (only "
      "from 127.0.0.0/8 and ::1) or no (only after STLS or on the implicit TLS port)."),
    T("pop3d_timeout", "10m", 's', 1,
      "How long the POP3 server waits for a client command before it disconnects (RFC 1939 asks "
      "for at least 10 minutes) and the bound on each write."),
    S("pop3d_tls_cert_file", "$smtpd_tls_cert_file",
      "The certificate (and chain) file of the POP3 server, PEM, leaf first."),
    S("pop3d_tls_key_file", "$smtpd_tls_key_file",
      "The private key file of the POP3 server, PEM (may be $pop3d_tls_cert_file)."),
    S("pop3d_tls_protocols", ">=TLSv1.2",
      "TLS protocol versions the POP3 server accepts, in Postfix syntax (\">=TLSv1.2\", \"!SSLv3, "
      "!TLSv1\")."),
    T("pop3d_tls_session_cache_timeout", "3600s", 's', 0,
      "Lifetime of the POP3 server's TLS session tickets and the age at which the ticket key "
      "that all pop3d-login processes share ($queue_directory/private/pop3_tls_ticket_keys) is "
      "replaced; 0 turns session resumption off."),
    B("pop3d_tls_wrappermode", "no",
      "Whether the POP3 server starts TLS at once, as on port 995 (pop3s); normally set with -o in "
      "master.cf."),
    S("process_id_directory", "pid",
      "Where master keeps its pid file, relative to $queue_directory."),
    I("qmgr_message_active_limit", "20000", 1,
      "The most messages qmgr has open at once (each holds a file descriptor, so the limit is "
      "also kept below half of the process's descriptor limit); others wait in their queue."),
    S("queue_directory", TERN_QUEUEDIR,
      "The top of the mail queue; the queue subdirectories and internal sockets live below it."),
    T("queue_run_delay", "300s", 's', 1,
      "How often the queue manager scans the deferred queue for messages due for another attempt."),
    S("recipient_delimiter", "",
      "Characters that separate a user name from an address extension, as in user+ext; empty turns "
      "extensions off."),
    I("relay_destination_concurrency_limit", "$default_destination_concurrency_limit", 1,
      "The most deliveries in parallel through the relay transport to one destination."),
    T("relay_destination_rate_delay", "$default_destination_rate_delay", 's', 0,
      "The pause between two deliveries through the relay transport to one destination."),
    I("relay_destination_recipient_limit", "$default_destination_recipient_limit", 1,
      "The most recipients in one delivery request to the relay transport."),
    L("relay_domains", "",
      "Domains this host accepts mail for and forwards to another host. Empty: none beyond the "
      "local and virtual ones."),
    S("relay_transport", "relay",
      "The transport for destinations in $relay_domains, in the form transport[:nexthop]."),
    S("relayhost", "",
      "The next-hop host for mail that is not local; empty means direct delivery by MX lookup. Use "
      "[host]:port to skip the MX lookup."),
    L("sender_dependent_relayhost_maps", "",
      "Tables that override $relayhost by envelope sender: searched with the full sender "
      "address, then @domain ($empty_address_relayhost_maps_lookup_key for the null sender). "
      "The result is a next hop as in $relayhost; DUNNO ends the search without an override. "
      "Not used for local or virtual recipients, nor when the transport names its own next hop."),
    T("service_throttle_time", "60s", 's', 1,
      "How long master waits before restarting a service whose processes keep failing at start."),
    S("setgid_group", "terndrop",
      "The group that the setgid terndrop program and the maildrop directory share. Must not be "
      "shared with other software."),
    T("smtp_connect_timeout", "30s", 's', 0,
      "How long the SMTP client waits for a TCP connection to a remote server; 0 leaves it to the "
      "system."),
    T("smtp_connection_cache_time_limit", "2s", 's', 0,
      "How long the SMTP client keeps an idle connection open after a delivery, for the next "
      "message to the same next hop; 0 closes it at once."),
    T("smtp_data_done_timeout", "600s", 's', 1,
      "How long the SMTP client waits for the server's reply after sending the end of a message."),
    T("smtp_data_init_timeout", "120s", 's', 1,
      "How long the SMTP client waits for the server's reply to DATA (or, with PIPELINING, to the "
      "whole MAIL FROM, RCPT TO and DATA group)."),
    T("smtp_data_xfer_timeout", "180s", 's', 1,
      "How long the SMTP client waits for the server to take each part of the message content "
      "before it gives up."),
    I("smtp_destination_concurrency_limit", "$default_destination_concurrency_limit", 1,
      "The most deliveries in parallel through the smtp transport to one destination. Any "
      "master.cf transport NAME may have NAME_destination_concurrency_limit, "
      "NAME_destination_recipient_limit and NAME_destination_rate_delay in main.cf."),
    T("smtp_destination_rate_delay", "$default_destination_rate_delay", 's', 0,
      "The pause between two deliveries through the smtp transport to one destination."),
    I("smtp_destination_recipient_limit", "$default_destination_recipient_limit", 1,
      "The most recipients in one delivery request to the smtp transport."),
    S("smtp_helo_name", "$myhostname", "The host name the SMTP client sends in EHLO or HELO."),
    T("smtp_helo_timeout", "300s", 's', 1,
      "How long the SMTP client waits for the greeting and for the reply to EHLO or HELO."),
    T("smtp_mail_timeout", "300s", 's', 1,
      "How long the SMTP client waits for the server's reply to MAIL FROM."),
    I("smtp_mx_address_limit", "5", 0,
      "The most IP addresses the SMTP client tries for one delivery, over all MX hosts of the "
      "destination; 0 means no limit."),
    I("smtp_mx_session_limit", "2", 0,
      "The most SMTP sessions (connections that got a greeting) the SMTP client makes for one "
      "delivery before it defers; 0 means no limit."),
    T("smtp_quit_timeout", "300s", 's', 1,
      "How long the SMTP client waits for the server's reply to QUIT."),
    T("smtp_rcpt_timeout", "300s", 's', 1,
      "How long the SMTP client waits for the server's reply to each RCPT TO."),
    B("smtp_sasl_auth_enable", "no",
      "Whether the SMTP client authenticates to remote servers, using $smtp_sasl_password_maps."),
    L("smtp_sasl_password_maps", "",
      "Tables of user names and passwords the SMTP client uses to authenticate to a relay host or "
      "next hop."),
    S("smtp_sasl_security_options", "noplaintext, noanonymous",
      "What the SMTP client's AUTH may use on a connection without TLS: noplaintext forbids PLAIN "
      "and LOGIN (the password would go in the clear), noanonymous is always in force; empty "
      "allows both."),
    S("smtp_sasl_tls_security_options", "noanonymous",
      "As $smtp_sasl_security_options, for connections that run over TLS."),
    S("smtp_tls_CAfile", "",
      "A file of trusted CA certificates (PEM) for the SMTP client's verify and secure levels; "
      "empty (with $smtp_tls_CApath empty) uses the system's trust store."),
    S("smtp_tls_CApath", "",
      "A directory of trusted CA certificates (hashed, as c_rehash makes) for the SMTP client."),
    S("smtp_tls_cert_file", "",
      "The PEM file with the SMTP client's certificate (then its chain), presented to a server "
      "that asks for one; empty: none.  Read as root before the privilege drop."),
    S("smtp_tls_key_file", "$smtp_tls_cert_file",
      "The PEM file with the private key of $smtp_tls_cert_file."),
    I("smtp_tls_loglevel", "0", 0,
      "How much the SMTP client logs about TLS: 0 only failures, 1 the outcome of each handshake, "
      "2 and up the handshake steps."),
    S("smtp_tls_mandatory_protocols", ">=TLSv1.2",
      "TLS protocol versions the SMTP client allows at the encrypt, verify and secure levels "
      "(\">=TLSv1.2\", \"!TLSv1, !TLSv1.1\" or a list)."),
    L("smtp_tls_policy_maps", "",
      "Tables of per-destination TLS policy, keyed by next hop ([host]:port, [host], domain or "
      "domain:port): a level (none, may, encrypt, verify, secure) and options match=name:name and "
      "protocols=list."),
    S("smtp_tls_protocols", ">=TLSv1.2",
      "TLS protocol versions the SMTP client allows at level may."),
    S("smtp_tls_security_level", "",
      "TLS policy of the SMTP client: none, may (STARTTLS when offered, plaintext when it fails), "
      "encrypt (TLS required, certificate not checked), verify or secure (TLS with a trusted "
      "certificate for the server's name); empty means none."),
    S("smtpd_banner", "$myhostname ESMTP $mail_name",
      "The text after the 220 code in the SMTP greeting. It must start with $myhostname."),
    L("smtpd_client_restrictions", "",
      "Access restrictions the SMTP server applies when a client connects."),
    B("smtpd_delay_reject", "yes",
      "Whether the SMTP server waits until RCPT TO before it applies $smtpd_client_restrictions, "
      "$smtpd_helo_restrictions and $smtpd_sender_restrictions."),
    T("smtpd_error_sleep_time", "1s", 's', 0,
      "How long the SMTP server pauses before replying to a client that made more than "
      "$smtpd_soft_error_limit errors."),
    S("smtpd_forbid_bare_newline", "yes",
      "What the SMTP server does with a command or DATA line ending in a bare LF: yes (or reject) "
      "answers 521 and disconnects, normalize (or no) takes it as a line end. Only "
      "<CR><LF>.<CR><LF> ever ends DATA."),
    L("smtpd_forbid_bare_newline_exclusions", "$mynetworks",
      "Clients (network/prefix lists, as mynetworks) for which $smtpd_forbid_bare_newline acts as "
      "normalize."),
    B("smtpd_forbid_unauth_pipelining", "yes",
      "Whether the SMTP server disconnects a client that talks before the greeting or sends more "
      "input after a command that must end a pipelined group (EHLO, HELO, DATA, NOOP, VRFY)."),
    I("smtpd_hard_error_limit", "20", 1,
      "The SMTP server disconnects a client after this many errors in one session."),
    B("smtpd_helo_required", "no",
      "Whether the SMTP server requires EHLO or HELO before MAIL FROM."),
    L("smtpd_helo_restrictions", "",
      "Access restrictions the SMTP server applies to the EHLO or HELO argument."),
    I("smtpd_junk_command_limit", "100", 1,
      "The most NOOP, RSET, VRFY and HELP commands the SMTP server answers in one session before "
      "counting each further one as an error."),
    S("smtpd_null_access_lookup_key", "<>",
      "The key that check_sender_access looks up for the null sender."),
    I("smtpd_recipient_limit", "1000", 1,
      "The most recipients the SMTP server accepts for one message."),
    L("smtpd_recipient_restrictions", "",
      "Access restrictions the SMTP server applies to RCPT TO, after $smtpd_relay_restrictions."),
    B("smtpd_reject_unlisted_recipient", "yes",
      "Whether the SMTP server rejects RCPT TO for an unknown recipient in a domain that is ours "
      "(550 5.1.1), even when no restriction asks for it."),
    L("smtpd_relay_restrictions",
      "permit_mynetworks, permit_sasl_authenticated, defer_unauth_destination",
      "Relay control for RCPT TO: who may send mail to domains that are not ours."),
    B("smtpd_sasl_auth_enable", "no",
      "Whether the SMTP server offers AUTH (SASL PLAIN and LOGIN, checked by authd) to clients; "
      "usually turned on for submission and smtps with -o in master.cf."),
    L("smtpd_sasl_security_options", "noanonymous",
      "Which SASL mechanisms the SMTP server offers and accepts before TLS, Postfix's names: "
      "noplaintext, noactive, nodictionary, noanonymous, mutual_auth, forward_secrecy. PLAIN and "
      "LOGIN are plaintext mechanisms (without mutual authentication or forward secrecy), so "
      "noplaintext, mutual_auth or forward_secrecy turns AUTH off; an unknown word also does, with "
      "a warning."),
    L("smtpd_sasl_tls_security_options", "$smtpd_sasl_security_options",
      "The same as smtpd_sasl_security_options, for sessions over TLS (after STARTTLS or in "
      "wrapper mode); e.g. noplaintext before TLS and noanonymous over TLS."),
    L("smtpd_sender_login_maps", "",
      "Tables that map an envelope sender address (looked up as the address, then as @domain) to "
      "the SASL login names allowed to use it, separated by commas or spaces; used by "
      "reject_sender_login_mismatch and its variants."),
    L("smtpd_sender_restrictions", "", "Access restrictions the SMTP server applies to MAIL FROM."),
    I("smtpd_soft_error_limit", "10", 1,
      "After this many errors in one session the SMTP server delays each reply by "
      "$smtpd_error_sleep_time."),
    T("smtpd_timeout", "300s", 's', 1,
      "How long the SMTP server waits for a client command or for message data before it "
      "disconnects."),
    B("smtpd_tls_auth_only", "yes",
      "Whether the SMTP server offers and accepts AUTH only over TLS (after STARTTLS or in wrapper "
      "mode); tern's default is yes, so that passwords never cross the network in the clear."),
    S("smtpd_tls_cert_file", "", "The PEM file with the SMTP server's certificate chain."),
    L("smtpd_tls_chain_files", "",
      "PEM files each holding a private key followed by its certificate chain (leaf first), one "
      "file per key type (RSA, ECDSA); when set, $smtpd_tls_cert_file and $smtpd_tls_key_file are "
      "not used."),
    S("smtpd_tls_ciphers", "medium",
      "The minimum cipher grade with opportunistic TLS (level may): high or medium (TLS 1.2 and "
      "older; TLS 1.3 suites are always OpenSSL's defaults)."),
    L("smtpd_tls_exclude_ciphers", "",
      "OpenSSL cipher names or classes the SMTP server never uses, in addition to the cipher "
      "grade."),
    S("smtpd_tls_key_file", "$smtpd_tls_cert_file",
      "The PEM file with the SMTP server's private key."),
    I("smtpd_tls_loglevel", "0", 0,
      "How much the SMTP server logs about TLS: 0 only failures, 1 also a summary line per "
      "established TLS session, 2 and more also handshake details."),
    S("smtpd_tls_mandatory_ciphers", "medium",
      "The minimum cipher grade when TLS is mandatory (level encrypt, or wrapper mode): high or "
      "medium."),
    S("smtpd_tls_mandatory_protocols", ">=TLSv1.2",
      "TLS protocol versions the SMTP server accepts when TLS is mandatory: \">=TLSv1.2\", "
      "\"<=TLSv1.3\", or a list of versions to use or exclude with '!', such as \"!SSLv2, !SSLv3, "
      "!TLSv1, !TLSv1.1\"."),
    S("smtpd_tls_protocols", ">=TLSv1.2",
      "TLS protocol versions the SMTP server accepts with opportunistic TLS; same syntax as "
      "$smtpd_tls_mandatory_protocols."),
    B("smtpd_tls_received_header", "no",
      "Whether the Received: header of mail that arrived over TLS names the protocol version and "
      "cipher."),
    S("smtpd_tls_security_level", "",
      "TLS policy of the SMTP server: none, may (offer STARTTLS) or encrypt (require it); empty "
      "means none."),
    T("smtpd_tls_session_cache_timeout", "3600s", 's', 0,
      "Lifetime of TLS session tickets and the age at which the ticket key that all smtpd "
      "processes share ($queue_directory/private/tls_ticket_keys) is replaced; 0 turns session "
      "resumption off."),
    B("smtpd_tls_wrappermode", "no",
      "Whether the SMTP server starts TLS at once, as on port 465 (smtps); normally set with -o in "
      "master.cf."),
    B("smtputf8_enable", "yes",
      "Whether the SMTP server and client support SMTPUTF8 (internationalised addresses)."),
    B("soft_bounce", "no",
      "A safety net while testing: turn every permanent failure into a temporary one so that no "
      "mail is bounced."),
    B("strict_rfc821_envelopes", "no",
      "Whether the SMTP server requires addresses in MAIL FROM and RCPT TO to be in angle "
      "brackets, without comments or phrases."),
    S("syslog_facility", "mail", "The syslog facility tern logs to."),
    S("syslog_name", "tern",
      "The prefix of every program name in log lines, as in tern/smtpd; set it per instance to "
      "tell them apart."),
    S("tls_high_cipherlist", "HIGH:!aNULL:!eNULL:!MD5:!RC4:!3DES:@STRENGTH",
      "The OpenSSL cipher list of the cipher grade high (TLS 1.2 and older)."),
    S("tls_medium_cipherlist", "HIGH:MEDIUM:!aNULL:!eNULL:!MD5:!RC4:!3DES:@STRENGTH",
      "The OpenSSL cipher list of the cipher grade medium (TLS 1.2 and older)."),
    L("transport_maps", "",
      "Tables that map recipient domains or addresses to transport:nexthop, overriding the default "
      "routing."),
    I("virtual_alias_expansion_limit", "1000", 1,
      "The most addresses one envelope recipient may become through $virtual_alias_maps; over it "
      "the message is not accepted."),
    L("virtual_alias_maps", "",
      "Tables that rewrite recipient addresses to other addresses, for any domain. The cleanup "
      "service looks up user@domain, then user (for domains in $mydestination), then @domain, and "
      "rewrites each result again; see virtual(5)."),
    I("virtual_alias_recursion_limit", "1000", 1,
      "How deep $virtual_alias_maps rewriting may nest (an address mapping to an address that maps "
      "again); deeper is treated as a loop and the message is not accepted."),
    L("virtual_gid_maps", "",
      "Tables with the group ID for deliveries to virtual mailboxes, such as static:5000."),
    S("virtual_mailbox_base", "",
      "The directory that virtual mailbox paths from $virtual_mailbox_maps are relative to."),
    L("virtual_mailbox_domains", "",
      "Domains whose recipients have mailboxes that belong to no system user."),
    L("virtual_mailbox_maps", "",
      "Tables of the valid recipients in $virtual_mailbox_domains and the path of each one's "
      "Maildir (ending in '/')."),
    S("virtual_transport", "local",
      "The transport for recipients in $virtual_mailbox_domains, in the form transport[:nexthop]. "
      "The local delivery agent also delivers virtual mailboxes."),
    L("virtual_uid_maps", "",
      "Tables with the user ID for deliveries to virtual mailboxes, such as static:5000."),
};

const size_t param_table_count = N_ELEMENTS(param_table);

static int param_cmp(const void *key, const void *elem)
{
    const struct param_def *def = elem;
    return strcmp(key, def->name);
}

const struct param_def *param_find(const char *name)
{
    return bsearch(name, param_table, param_table_count, sizeof(param_table[0]), param_cmp);
}

/* Suffixes of the parameters any master.cf transport NAME may have. */
static const char *const param_service_suffixes[] = {
    "_destination_concurrency_limit",
    "_destination_recipient_limit",
    "_destination_rate_delay",
};

const char *param_service_suffix(const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < N_ELEMENTS(param_service_suffixes); i++) {
        size_t k = strlen(param_service_suffixes[i]);
        if (n > k && strcmp(name + n - k, param_service_suffixes[i]) == 0)
            return param_service_suffixes[i];
    }
    return NULL;
}
