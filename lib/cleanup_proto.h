/*
 * cleanup_proto.h - the protocol spoken to the cleanup service
 * (QUEUE_DIRECTORY/private/cleanup), by smtpd, pickup and qmgr (bounces).
 *
 * It runs over one UNIX stream connection per message, in attribute
 * records (attr.h) plus raw content chunks:
 *
 * 1. Client -> cleanup, the envelope record:
 *      request=submit
 *      origin=smtpd | pickup | bounce      (who submits)
 *      sender=ADDR                         (empty value: the null sender <>)
 *      client_name=, client_addr=, client_port=, helo_name=
 *      protocol=SMTP | ESMTP | ESMTPS | ESMTPA | ESMTPSA | LOCAL
 *      sasl_username=, tls_info=           (optional)
 *      envid=, ret=FULL|HDRS, body=7BIT|8BITMIME|BINARYMIME, smtputf8=0|1
 *      local_submission=0|1   (1: add Message-ID/Date/From when missing)
 *      extract_recipients=0|1 (sendmail -t: take recipients from headers)
 *      rcpt_count=N
 *    Unknown attributes are ignored.
 * 2. Client -> cleanup, N recipient records:
 *      rcpt=ADDR  [orcpt=TYPE;ADDR]  [notify=NEVER | SUCCESS,FAILURE,DELAY]
 * 3. Client -> cleanup, the content: a record "chunk=LEN" (1..65536)
 *    followed by exactly LEN raw bytes, repeated; "chunk=0" ends it.  The
 *    content is the message as it will be stored: header and body, lines
 *    ended by a bare "\n" (smtpd has removed dot-stuffing and turned CRLF
 *    into LF).  A client that closes the connection before "chunk=0"
 *    aborts: nothing is queued.
 * 4. Cleanup -> client, one reply record:
 *      status=0     the queue file and its directory entry are on stable
 *                   storage (the caller may now answer 250)
 *      status=4     temporary failure (disk full, I/O error): answer 4xx
 *      status=5     permanent rejection (size, header_checks REJECT)
 *      queue_id=ID  (always present when status=0)
 *      dsn=X.Y.Z    enhanced status code, reason=TEXT  human-readable
 *    After the reply the connection is closed by cleanup.
 *
 * Cleanup then wakes qmgr by writing "A" to QUEUE_DIRECTORY/public/qmgr.
 */
#ifndef TERN_CLEANUP_PROTO_H
#define TERN_CLEANUP_PROTO_H

#define CLEANUP_SERVICE "private/cleanup"
#define CLEANUP_CHUNK_MAX 65536

#define CLEANUP_STAT_OK 0
#define CLEANUP_STAT_TEMP 4
#define CLEANUP_STAT_PERM 5

/* qmgr's wakeup socket, relative to queue_directory, and its requests. */
#define QMGR_SERVICE "public/qmgr"
#define QMGR_REQ_NEW 'A'   /* new mail in incoming/ */
#define QMGR_REQ_FLUSH 'F' /* deliver deferred mail now */

#endif
