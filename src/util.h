/*
 * util: allocation wrappers that die on out-of-memory, a bounded growable
 * byte buffer, clocks and RFC 3339 time formatting.  Every module uses these;
 * none of them logs except to die.
 */
#ifndef UTIL_H
#define UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define nitems(a) (sizeof(a) / sizeof((a)[0]))

void	*xmalloc(size_t);
void	*xcalloc(size_t, size_t);
void	*xreallocarray(void *, size_t, size_t);
char	*xstrdup(const char *);
char	*xstrndup(const char *, size_t);
int	 xasprintf(char **, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
int	 xvasprintf(char **, const char *, va_list)
	    __attribute__((format(printf, 2, 0)));

/* Overwrite a secret with zeros the compiler may not elide, then free it. */
void	 freezero_str(char *);

/*
 * A growable byte buffer.  data is always NUL-terminated (so text can be
 * used as a C string) and len never counts the terminator.  The owner
 * embeds the struct and calls buf_free().
 */
struct buf {
	char	*data;
	size_t	 len;
	size_t	 cap;
};

void	 buf_init(struct buf *);
void	 buf_free(struct buf *);
void	 buf_reset(struct buf *);
void	 buf_reserve(struct buf *, size_t);
void	 buf_add(struct buf *, const void *, size_t);
void	 buf_add_str(struct buf *, const char *);
void	 buf_add_char(struct buf *, char);
void	 buf_printf(struct buf *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
/* Hand the bytes over to the caller (NUL-terminated) and reset the buffer. */
char	*buf_steal(struct buf *, size_t *ret_len);

struct event;
/* Arm a libevent timer ms milliseconds from now (negative: now). */
void	 timer_add_ms(struct event *, int64_t ms);

/* Milliseconds from CLOCK_MONOTONIC: for deadlines and elapsed times. */
int64_t	 now_mono_ms(void);
/* CLOCK_MONOTONIC as a timespec. */
struct timespec now_mono(void);
/* Wall clock as a timespec (CLOCK_REALTIME). */
struct timespec now_wall(void);

#define RFC3339_LEN 32
/* "2026-06-14T12:00:00Z" */
void	 fmt_rfc3339(char out[RFC3339_LEN], time_t);
/* "2026-06-14T12:00:00.123Z" (milliseconds) */
void	 fmt_rfc3339_ms(char out[RFC3339_LEN], struct timespec);

/* Trim ASCII whitespace at both ends, in place; returns s. */
char	*strtrim(char *s);

/*
 * Read a whole small file that must be a regular file of at most max bytes
 * (without blocking on FIFOs or devices).  Returns a new NUL-terminated
 * string or NULL with errno set (EINVAL: not a regular file, EFBIG: too
 * large).
 */
char	*read_small_file(const char *path, size_t max, size_t *ret_len);

#endif
