/*
 * Logging backends: logfmt and JSON lines on stderr, or the native journald
 * protocol (one datagram per entry, with structured fields) when systemd
 * connected our stderr to the journal.  One write per line so concurrent
 * writers never interleave.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "log.h"
#include "utf8.h"
#include "util.h"

#define LOG_MAX_SECRETS	4
#define LOG_MAX_FIELDS	16

static struct {
	enum log_format	 format;
	int		 debug;
	char		*node_id;
	char		*secrets[LOG_MAX_SECRETS];
	char		*journal_path;
	int		 journal_fd;
} log_state = {
	.format = LOG_FORMAT_LOGFMT,
	.journal_fd = -1,
};

static const char *
log_level_name(int prio)
{
	switch (prio) {
	case LOG_EMERG:
	case LOG_ALERT:
	case LOG_CRIT:
		return "fatal";
	case LOG_ERR:
		return "error";
	case LOG_WARNING:
		return "warn";
	case LOG_NOTICE:
	case LOG_INFO:
		return "info";
	default:
		return "debug";
	}
}

int
log_format_parse(const char *s, enum log_format *ret_format)
{
	static const struct {
		const char	*name;
		enum log_format	 format;
	} names[] = {
		{ "auto", LOG_FORMAT_AUTO },
		{ "logfmt", LOG_FORMAT_LOGFMT },
		{ "json", LOG_FORMAT_JSON },
		{ "journal", LOG_FORMAT_JOURNAL },
	};
	size_t	 i;

	for (i = 0; i < nitems(names); i++) {
		if (strcmp(s, names[i].name) == 0) {
			*ret_format = names[i].format;
			return 0;
		}
	}
	return -1;
}

/* JOURNAL_STREAM is "dev:ino" of the stream systemd gave us as stderr. */
static int
log_stderr_is_journal(void)
{
	const char		*js = getenv("JOURNAL_STREAM");
	struct stat		 st;
	unsigned long long	 dev, ino;

	if (js == NULL || sscanf(js, "%llu:%llu", &dev, &ino) != 2)
		return 0;
	if (fstat(STDERR_FILENO, &st) == -1)
		return 0;
	return (unsigned long long)st.st_dev == dev &&
	    (unsigned long long)st.st_ino == ino;
}

void
log_init(enum log_format format, int debug)
{
	int	 saved = errno;

	if (format == LOG_FORMAT_AUTO)
		format = log_stderr_is_journal() ? LOG_FORMAT_JOURNAL :
		    LOG_FORMAT_LOGFMT;
	log_state.format = format;
	log_state.debug = debug;
	errno = saved;
}

enum log_format
log_get_format(void)
{
	return log_state.format;
}

int
log_debug_enabled(void)
{
	return log_state.debug;
}

void
log_set_node_id(const char *id)
{
	free(log_state.node_id);
	log_state.node_id = id != NULL && *id != '\0' ? xstrdup(id) : NULL;
}

void
log_set_journal_socket(const char *path)
{
	free(log_state.journal_path);
	log_state.journal_path = path != NULL ? xstrdup(path) : NULL;
	if (log_state.journal_fd != -1) {
		close(log_state.journal_fd);
		log_state.journal_fd = -1;
	}
}

void
log_add_secret(const char *s)
{
	size_t	 i;

	if (s == NULL || *s == '\0')
		return;
	for (i = 0; i < LOG_MAX_SECRETS; i++) {
		if (log_state.secrets[i] != NULL &&
		    strcmp(log_state.secrets[i], s) == 0)
			return;
	}
	for (i = 0; i < LOG_MAX_SECRETS; i++) {
		if (log_state.secrets[i] == NULL) {
			log_state.secrets[i] = xstrdup(s);
			return;
		}
	}
	fatalx("log_add_secret: too many secrets");
}

void
log_remove_secret(const char *s)
{
	size_t	 i;

	if (s == NULL)
		return;
	for (i = 0; i < LOG_MAX_SECRETS; i++) {
		if (log_state.secrets[i] != NULL &&
		    strcmp(log_state.secrets[i], s) == 0) {
			freezero_str(log_state.secrets[i]);
			log_state.secrets[i] = NULL;
		}
	}
}

/* Replace every registered secret in b by "[redacted]". */
static void
log_redact(struct buf *b)
{
	struct buf	 out;
	const char	*p, *hit;
	size_t		 i, slen;

	for (i = 0; i < LOG_MAX_SECRETS; i++) {
		if (log_state.secrets[i] == NULL || b->len == 0)
			continue;
		slen = strlen(log_state.secrets[i]);
		if (memmem(b->data, b->len, log_state.secrets[i], slen) == NULL)
			continue;
		buf_init(&out);
		p = b->data;
		while ((hit = memmem(p, b->len - (size_t)(p - b->data),
		    log_state.secrets[i], slen)) != NULL) {
			buf_add(&out, p, (size_t)(hit - p));
			buf_add_str(&out, "[redacted]");
			p = hit + slen;
		}
		buf_add(&out, p, b->len - (size_t)(p - b->data));
		explicit_bzero(b->data, b->len);
		buf_free(b);
		*b = out;
	}
}

static int
log_has_secret(const char *s)
{
	size_t	 i;

	for (i = 0; i < LOG_MAX_SECRETS; i++) {
		if (log_state.secrets[i] != NULL &&
		    strstr(s, log_state.secrets[i]) != NULL)
			return 1;
	}
	return 0;
}

/* logfmt value: bare when safe, else quoted with escapes. */
static void
log_logfmt_value(struct buf *out, const char *v)
{
	const unsigned char	*s = (const unsigned char *)v;
	int			 quote = *s == '\0';

	for (; *s != '\0'; s++) {
		if (*s <= ' ' || *s == '"' || *s == '=' || *s == '\\' ||
		    *s == 0x7f)
			quote = 1;
	}
	if (!quote) {
		buf_add_str(out, v);
		return;
	}
	buf_add_char(out, '"');
	for (s = (const unsigned char *)v; *s != '\0'; s++) {
		switch (*s) {
		case '"':
			buf_add_str(out, "\\\"");
			break;
		case '\\':
			buf_add_str(out, "\\\\");
			break;
		case '\n':
			buf_add_str(out, "\\n");
			break;
		case '\t':
			buf_add_str(out, "\\t");
			break;
		case '\r':
			buf_add_str(out, "\\r");
			break;
		default:
			if (*s < ' ' || *s == 0x7f)
				buf_printf(out, "\\x%02x", *s);
			else
				buf_add_char(out, (char)*s);
		}
	}
	buf_add_char(out, '"');
}

static void
log_format_logfmt(struct buf *out, int prio, const char *msg,
    const struct log_kv *kv, size_t nkv)
{
	char	 ts[RFC3339_LEN];
	size_t	 i;

	fmt_rfc3339_ms(ts, now_wall());
	buf_printf(out, "time=%s level=%s msg=", ts, log_level_name(prio));
	log_logfmt_value(out, msg);
	for (i = 0; i < nkv; i++) {
		if (kv[i].val == NULL)
			continue;
		buf_printf(out, " %s=", kv[i].key);
		log_logfmt_value(out, kv[i].val);
	}
	buf_add_char(out, '\n');
}

static void
log_json_set(json_t *obj, const char *key, const char *val)
{
	struct buf	 clean;

	buf_init(&clean);
	utf8_sanitize(&clean, val, strlen(val));
	json_object_set_new(obj, key, json_stringn(clean.data, clean.len));
	buf_free(&clean);
}

static void
log_format_json(struct buf *out, int prio, const char *msg,
    const struct log_kv *kv, size_t nkv)
{
	json_t	*obj;
	char	 ts[RFC3339_LEN], *s;
	size_t	 i;

	fmt_rfc3339_ms(ts, now_wall());
	obj = json_object();
	json_object_set_new(obj, "time", json_string(ts));
	json_object_set_new(obj, "level", json_string(log_level_name(prio)));
	log_json_set(obj, "msg", msg);
	for (i = 0; i < nkv; i++) {
		if (kv[i].val != NULL)
			log_json_set(obj, kv[i].key, kv[i].val);
	}
	s = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(obj);
	if (s == NULL)
		fatalx("json_dumps");
	buf_add_str(out, s);
	buf_add_char(out, '\n');
	free(s);
}

/* One journal field; values with a newline use the binary form. */
static void
log_journal_field(struct buf *out, const char *key, const char *val)
{
	uint64_t	 n = strlen(val);
	unsigned char	 le[8];
	int		 i;

	if (strchr(val, '\n') == NULL) {
		buf_printf(out, "%s=%s\n", key, val);
		return;
	}
	for (i = 0; i < 8; i++)
		le[i] = (unsigned char)(n >> (8 * i));
	buf_printf(out, "%s\n", key);
	buf_add(out, le, sizeof(le));
	buf_add(out, val, n);
	buf_add_char(out, '\n');
}

static void
log_format_journal(struct buf *out, int prio, const char *msg,
    const struct log_kv *kv, size_t nkv)
{
	char	 name[64], pbuf[4];
	size_t	 i, j;

	snprintf(pbuf, sizeof(pbuf), "%d", prio);
	log_journal_field(out, "PRIORITY", pbuf);
	log_journal_field(out, "SYSLOG_IDENTIFIER", "lattice-agent");
	log_journal_field(out, "MESSAGE", msg);
	for (i = 0; i < nkv; i++) {
		if (kv[i].val == NULL)
			continue;
		/* task_id -> LATTICE_TASK_ID: journal field names are upper. */
		snprintf(name, sizeof(name), "LATTICE_%s", kv[i].key);
		for (j = 0; name[j] != '\0'; j++) {
			if (name[j] >= 'a' && name[j] <= 'z')
				name[j] = (char)(name[j] - 'a' + 'A');
			else if (!(name[j] >= 'A' && name[j] <= 'Z') &&
			    !(name[j] >= '0' && name[j] <= '9'))
				name[j] = '_';
		}
		log_journal_field(out, name, kv[i].val);
	}
}

static int
log_journal_send(const struct buf *b)
{
	struct sockaddr_un	 sun;
	const char		*path;

	path = log_state.journal_path != NULL ? log_state.journal_path :
	    "/run/systemd/journal/socket";
	if (log_state.journal_fd == -1) {
		log_state.journal_fd = socket(AF_UNIX,
		    SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (log_state.journal_fd == -1)
			return -1;
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path))
		return -1;
	memcpy(sun.sun_path, path, strlen(path) + 1);
	/*
	 * Never wait for journald: a stalled journal (full socket queue)
	 * would stop the event loop.  EAGAIN falls back to stderr.
	 */
	if (sendto(log_state.journal_fd, b->data, b->len,
	    MSG_NOSIGNAL | MSG_DONTWAIT, (struct sockaddr *)&sun,
	    sizeof(sun)) == -1)
		return -1;
	return 0;
}

static void
log_write_all(int fd, const char *p, size_t n)
{
	ssize_t	 w;

	while (n > 0) {
		w = write(fd, p, n);
		if (w == -1 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

static void
log_vemit(int prio, const struct log_kv *kv, size_t nkv, const char *suffix,
    const char *fmt, va_list ap) __attribute__((format(printf, 5, 0)));

static void
log_vemit(int prio, const struct log_kv *kv, size_t nkv, const char *suffix,
    const char *fmt, va_list ap)
{
	struct log_kv	 all[LOG_MAX_FIELDS + 1];
	struct buf	 msg, line;
	char		 text[2048];
	size_t		 n = 0, i;
	int		 saved = errno;

	if (prio >= LOG_DEBUG && !log_state.debug)
		return;
	buf_init(&msg);
	buf_init(&line);
	/* Log messages are bounded: a runaway remote string cannot flood. */
	vsnprintf(text, sizeof(text), fmt, ap);
	buf_add_str(&msg, text);
	if (suffix != NULL)
		buf_printf(&msg, ": %s", suffix);
	/*
	 * Redact before formatting: escaping (a quote or backslash inside a
	 * secret) would hide it from a search of the finished line.
	 */
	log_redact(&msg);
	if (log_state.node_id != NULL)
		all[n++] = (struct log_kv){ "node_id", log_state.node_id };
	for (i = 0; i < nkv && n < nitems(all); i++) {
		all[n] = kv[i];
		if (kv[i].val != NULL && log_has_secret(kv[i].val))
			all[n].val = "[redacted]";
		n++;
	}

	switch (log_state.format) {
	case LOG_FORMAT_JOURNAL:
		log_format_journal(&line, prio, msg.data, all, n);
		log_redact(&line);
		if (log_journal_send(&line) == 0)
			break;
		/* The journal is gone: keep the line on stderr. */
		buf_reset(&line);
		/* FALLTHROUGH */
	case LOG_FORMAT_AUTO:
	case LOG_FORMAT_LOGFMT:
		log_format_logfmt(&line, prio, msg.data, all, n);
		log_redact(&line);
		log_write_all(STDERR_FILENO, line.data, line.len);
		break;
	case LOG_FORMAT_JSON:
		log_format_json(&line, prio, msg.data, all, n);
		log_redact(&line);
		log_write_all(STDERR_FILENO, line.data, line.len);
		break;
	}
	explicit_bzero(text, sizeof(text));
	explicit_bzero(msg.data, msg.len);
	buf_free(&msg);
	buf_free(&line);
	errno = saved;
}

void
log_kv(int prio, const struct log_kv *kv, size_t nkv, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vemit(prio, kv, nkv, NULL, fmt, ap);
	va_end(ap);
}

void
log_warn(const char *fmt, ...)
{
	va_list	 ap;
	int	 saved = errno;

	va_start(ap, fmt);
	log_vemit(LOG_WARNING, NULL, 0, strerror(saved), fmt, ap);
	va_end(ap);
}

void
log_warnx(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vemit(LOG_WARNING, NULL, 0, NULL, fmt, ap);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vemit(LOG_INFO, NULL, 0, NULL, fmt, ap);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list	 ap;

	if (!log_state.debug)
		return;
	va_start(ap, fmt);
	log_vemit(LOG_DEBUG, NULL, 0, NULL, fmt, ap);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	va_list	 ap;
	int	 saved = errno;

	va_start(ap, fmt);
	log_vemit(LOG_CRIT, NULL, 0, strerror(saved), fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vemit(LOG_CRIT, NULL, 0, NULL, fmt, ap);
	va_end(ap);
	exit(1);
}
