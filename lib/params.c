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

#define S(n, d, doc) { n, PARAM_STR, d, 0, 0, doc }
#define L(n, d, doc) { n, PARAM_LIST, d, 0, 0, doc }
#define I(n, d, mn, doc) { n, PARAM_INT, d, 0, mn, doc }
#define Z(n, d, mn, doc) { n, PARAM_SIZE, d, 0, mn, doc }
#define B(n, d, doc) { n, PARAM_BOOL, d, 0, 0, doc }
#define T(n, d, u, mn, doc) { n, PARAM_TIME, d, u, mn, doc }

const struct param_def param_table[] = {
    L("alias_database", "hash:/etc/aliases",
      "The alias databases that newaliases rebuilds. Usually the indexed tables among $alias_maps."),
    L("alias_maps", "hash:/etc/aliases",
      "Lookup tables the local delivery agent consults for aliases of local recipients."),
    B("allow_mail_to_commands", "no",
      "Whether aliases and .forward files may deliver to a command. tern does not run commands from either, so this must stay off."),
    B("allow_mail_to_files", "no",
      "Whether aliases and .forward files may deliver to a file name. tern delivers only to Maildir, so this must stay off."),
    B("append_dot_mydomain", "no",
      "Whether a bare host name in an address gets \".$mydomain\" appended. Off, as in current Postfix."),
    T("bounce_queue_lifetime", "5d", 'd', 0,
      "How long a bounce message that cannot be delivered stays queued before it is given up."),
    S("command_directory", TERN_BINDIR,
      "Where the tern administrative commands (tern, ternconf, sendmail, ...) are installed."),
    S("config_directory", "@config_dir",
      "The directory that holds main.cf and master.cf. Normally set by the -c option or $MAIL_CONFIG, not in main.cf."),
    S("daemon_directory", TERN_LIBEXECDIR,
      "Where master finds the daemon programs named in master.cf. May point at build/libexec for an instance run from the source tree."),
    T("daemon_timeout", "18000s", 's', 1,
      "How long a daemon may spend on one request before it gives up and exits."),
    S("data_directory", "/var/lib/tern",
      "A directory writable by mail_owner for caches and other state that is not queue content."),
    I("debug_peer_level", "2", 0,
      "How much verbose logging is added when a peer matches $debug_peer_list."),
    L("debug_peer_list", "",
      "Remote hosts or networks for which verbose logging is turned on."),
    S("default_database_type", "hash",
      "The table type newaliases and the map tool build when none is given: hash, btree or lmdb."),
    I("default_destination_concurrency_limit", "20", 1,
      "The most deliveries in parallel to one destination, for transports that set no limit of their own."),
    I("default_destination_recipient_limit", "50", 1,
      "The most recipients given to one delivery request, for transports that set no limit of their own."),
    S("default_privs", "nobody",
      "The unprivileged user the local delivery agent uses where no recipient owns the delivery."),
    I("default_process_limit", "100", 1,
      "The most processes of one service that master runs at once, for master.cf lines whose maxproc is '-'."),
    S("default_transport", "smtp",
      "The transport for destinations that are not local, virtual or relayed; the form is transport[:nexthop]."),
    T("delay_warning_time", "0h", 'h', 0,
      "After this long without delivery the sender gets a warning that the message is delayed; 0 turns the warning off."),
    B("disable_vrfy_command", "no",
      "Whether the SMTP server refuses VRFY, which can be used to harvest addresses."),
    L("dns_nameservers", "",
      "The nameservers tern's resolver asks, as address[:port]; empty means those listed in /etc/resolv.conf."),
    L("export_environment", "TZ MAIL_CONFIG LANG",
      "Environment variables that master and tools pass on to the programs they start."),
    L("forward_path", "$home/.forward",
      "Where the local delivery agent looks for a user's .forward file."),
    I("hash_queue_depth", "1", 1,
      "How many levels of subdirectories hashed queues use."),
    L("hash_queue_names", "deferred, defer",
      "Queue directories that are split into hashed subdirectories to keep each directory small."),
    Z("header_size_limit", "102400", 1,
      "The most bytes of message headers kept; the excess is discarded."),
    S("home_mailbox", "Maildir/",
      "Where local delivery puts mail, relative to the user's home directory. Must end in '/' (Maildir format)."),
    L("import_environment", "MAIL_CONFIG MAIL_DEBUG MAIL_LOGTAG TZ LANG=C",
      "Environment variables that programs keep from their parent when they start; the rest is removed."),
    L("inet_interfaces", "all",
      "The local addresses SMTP and other inet services listen on: all, loopback-only, or a list of addresses."),
    L("inet_protocols", "all",
      "The IP versions used for listening and for outbound connections: all, ipv4, ipv6, or both as a list."),
    T("ipc_idle", "5s", 's', 1,
      "How long a client keeps an idle connection to an internal service before closing it."),
    T("ipc_timeout", "3600s", 's', 1,
      "The time limit for one read or write on a connection between tern's own processes."),
    Z("line_length_limit", "2048", 1,
      "The longest line, in bytes, that is read as one line from SMTP clients or local submissions; longer ones are split."),
    L("local_recipient_maps", "unix:passwd.byname $alias_maps",
      "Tables of the valid local recipients; the SMTP server rejects unknown ones. Empty turns the check off."),
    S("local_transport", "local:$myhostname",
      "The transport for recipients in $mydestination, in the form transport[:nexthop]."),
    S("mail_name", "tern",
      "The name of the mail system, as shown in the SMTP banner and in Received headers."),
    S("mail_owner", "tern",
      "The unprivileged user that owns the queue and that most daemons run as. Must not be shared with other software."),
    S("mail_version", "0.1",
      "The version of tern. Set at build time; do not change it."),
    Z("mailbox_size_limit", "51200000", 0,
      "The largest mailbox or Maildir message the local delivery agent writes; 0 means no limit."),
    S("maillog_file", "",
      "Where daemons log: empty for syslog, or a file name such as /dev/stderr or /var/log/tern.log."),
    T("max_idle", "100s", 's', 1,
      "How long an idle daemon process waits for a new client before it exits."),
    I("max_use", "100", 1,
      "How many clients a daemon process serves before it exits and master starts a fresh one."),
    T("maximal_backoff_time", "4000s", 's', 1,
      "The longest wait between delivery attempts for a deferred message."),
    T("maximal_queue_lifetime", "5d", 'd', 0,
      "How long a message that cannot be delivered stays queued before it is returned to the sender."),
    Z("message_size_limit", "26214400", 0,
      "The largest message, in bytes, accepted from SMTP or local submission (25 MB); 0 means no limit."),
    T("minimal_backoff_time", "300s", 's', 1,
      "The shortest wait between delivery attempts for a deferred message."),
    L("mydestination", "$myhostname, localhost.$mydomain, localhost",
      "The domains this host delivers locally; mail for them goes to $local_transport."),
    S("mydomain", "@domain",
      "The internet domain of this host. The default is $myhostname without its first label, or localdomain."),
    S("myhostname", "@hostname",
      "The fully qualified host name of this system, used in the SMTP banner, HELO and Received headers. The default is the system host name."),
    L("mynetworks", "127.0.0.0/8 [::1]/128",
      "Networks whose SMTP clients are trusted to relay mail, as address/prefix entries or tables."),
    S("mynetworks_style", "host",
      "How mynetworks is computed when it is not set: host, subnet or class. tern's explicit default above takes precedence."),
    S("myorigin", "$myhostname",
      "The domain appended to addresses without one in locally submitted mail."),
    L("notify_classes", "resource, software",
      "Which problems are reported to the postmaster: bounce, 2bounce, data, delay, policy, protocol, resource, software."),
    S("process_id_directory", "pid",
      "Where master keeps its pid file, relative to $queue_directory."),
    S("queue_directory", TERN_QUEUEDIR,
      "The top of the mail queue; the queue subdirectories and internal sockets live below it."),
    T("queue_run_delay", "300s", 's', 1,
      "How often the queue manager scans the deferred queue for messages due for another attempt."),
    S("recipient_delimiter", "",
      "Characters that separate a user name from an address extension, as in user+ext; empty turns extensions off."),
    L("relay_domains", "",
      "Domains this host accepts mail for and forwards to another host. Empty: none beyond the local and virtual ones."),
    S("relay_transport", "relay",
      "The transport for destinations in $relay_domains, in the form transport[:nexthop]."),
    S("relayhost", "",
      "The next-hop host for mail that is not local; empty means direct delivery by MX lookup. Use [host]:port to skip the MX lookup."),
    T("service_throttle_time", "60s", 's', 1,
      "How long master waits before restarting a service whose processes keep failing at start."),
    S("setgid_group", "terndrop",
      "The group that the setgid terndrop program and the maildrop directory share. Must not be shared with other software."),
    T("smtp_connect_timeout", "30s", 's', 0,
      "How long the SMTP client waits for a TCP connection to a remote server; 0 leaves it to the system."),
    T("smtp_data_done_timeout", "600s", 's', 1,
      "How long the SMTP client waits for the server's reply after sending the end of a message."),
    T("smtp_helo_timeout", "300s", 's', 1,
      "How long the SMTP client waits for the greeting and for the reply to EHLO or HELO."),
    B("smtp_sasl_auth_enable", "no",
      "Whether the SMTP client authenticates to remote servers, using $smtp_sasl_password_maps."),
    L("smtp_sasl_password_maps", "",
      "Tables of user names and passwords the SMTP client uses to authenticate to a relay host or next hop."),
    S("smtp_tls_security_level", "",
      "TLS policy of the SMTP client: none, may (opportunistic), encrypt, or verify levels; empty means none."),
    S("smtpd_banner", "$myhostname ESMTP $mail_name",
      "The text after the 220 code in the SMTP greeting. It must start with $myhostname."),
    L("smtpd_client_restrictions", "",
      "Access restrictions the SMTP server applies when a client connects."),
    T("smtpd_error_sleep_time", "1s", 's', 0,
      "How long the SMTP server pauses before replying to a client that made more than $smtpd_soft_error_limit errors."),
    I("smtpd_hard_error_limit", "20", 1,
      "The SMTP server disconnects a client after this many errors in one session."),
    B("smtpd_helo_required", "no",
      "Whether the SMTP server requires EHLO or HELO before MAIL FROM."),
    L("smtpd_helo_restrictions", "",
      "Access restrictions the SMTP server applies to the EHLO or HELO argument."),
    I("smtpd_recipient_limit", "1000", 1,
      "The most recipients the SMTP server accepts for one message."),
    L("smtpd_recipient_restrictions", "",
      "Access restrictions the SMTP server applies to RCPT TO, after $smtpd_relay_restrictions."),
    L("smtpd_relay_restrictions", "permit_mynetworks, permit_sasl_authenticated, defer_unauth_destination",
      "Relay control for RCPT TO: who may send mail to domains that are not ours."),
    B("smtpd_sasl_auth_enable", "no",
      "Whether the SMTP server offers AUTH to clients (usually turned on for submission with -o)."),
    L("smtpd_sender_restrictions", "",
      "Access restrictions the SMTP server applies to MAIL FROM."),
    I("smtpd_soft_error_limit", "10", 1,
      "After this many errors in one session the SMTP server delays each reply by $smtpd_error_sleep_time."),
    T("smtpd_timeout", "300s", 's', 1,
      "How long the SMTP server waits for a client command or for message data before it disconnects."),
    B("smtpd_tls_auth_only", "no",
      "Whether the SMTP server offers AUTH only after STARTTLS."),
    S("smtpd_tls_cert_file", "",
      "The PEM file with the SMTP server's certificate chain."),
    S("smtpd_tls_key_file", "$smtpd_tls_cert_file",
      "The PEM file with the SMTP server's private key."),
    S("smtpd_tls_security_level", "",
      "TLS policy of the SMTP server: none, may (offer STARTTLS) or encrypt (require it); empty means none."),
    B("smtpd_tls_wrappermode", "no",
      "Whether the SMTP server starts TLS at once, as on port 465 (smtps); normally set with -o in master.cf."),
    B("smtputf8_enable", "yes",
      "Whether the SMTP server and client support SMTPUTF8 (internationalised addresses)."),
    B("soft_bounce", "no",
      "A safety net while testing: turn every permanent failure into a temporary one so that no mail is bounced."),
    B("strict_rfc821_envelopes", "no",
      "Whether the SMTP server requires addresses in MAIL FROM and RCPT TO to be in angle brackets, without comments or phrases."),
    S("syslog_facility", "mail",
      "The syslog facility tern logs to."),
    S("syslog_name", "tern",
      "The prefix of every program name in log lines, as in tern/smtpd; set it per instance to tell them apart."),
    L("transport_maps", "",
      "Tables that map recipient domains or addresses to transport:nexthop, overriding the default routing."),
    L("virtual_alias_maps", "",
      "Tables that rewrite recipient addresses to other addresses, for any domain."),
    L("virtual_gid_maps", "",
      "Tables with the group ID for deliveries to virtual mailboxes, such as static:5000."),
    S("virtual_mailbox_base", "",
      "The directory that virtual mailbox paths from $virtual_mailbox_maps are relative to."),
    L("virtual_mailbox_domains", "",
      "Domains whose recipients have mailboxes that belong to no system user."),
    L("virtual_mailbox_maps", "",
      "Tables of the valid recipients in $virtual_mailbox_domains and the path of each one's Maildir (ending in '/')."),
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
