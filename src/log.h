/*
 * log: leveled, structured logging in OpenBSD's vocabulary.
 *
 * Lines carry a message plus key=value fields.  The backend is chosen once
 * by log_init(): the native journald protocol when stderr is the journal
 * (JOURNAL_STREAM), else logfmt or JSON lines on stderr.  Registered
 * secrets are redacted from every line whatever the caller passed; callers
 * still never pass them.  errno is preserved across every call.
 */
#ifndef LOG_H
#define LOG_H

#include <stddef.h>
#include <syslog.h>

enum log_format {
	LOG_FORMAT_AUTO,
	LOG_FORMAT_LOGFMT,
	LOG_FORMAT_JSON,
	LOG_FORMAT_JOURNAL,
};

/* A structured field; key is lower-case ("task_id"), val may be NULL. */
struct log_kv {
	const char	*key;
	const char	*val;
};

int	 log_format_parse(const char *, enum log_format *ret_format);
void	 log_init(enum log_format, int debug);
enum log_format log_get_format(void);
int	 log_debug_enabled(void);
void	 log_set_node_id(const char *);
/* For tests: where journal datagrams go (default the systemd socket). */
void	 log_set_journal_socket(const char *path);

/* Redact this string from every later line (up to a few secrets). */
void	 log_add_secret(const char *);
void	 log_remove_secret(const char *);

void	 log_kv(int prio, const struct log_kv *, size_t nkv, const char *, ...)
	    __attribute__((format(printf, 4, 5)));
void	 log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 fatal(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));
void	 fatalx(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));

#endif
