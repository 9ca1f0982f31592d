/*
 * metrics: one heartbeat sample from /proc and statvfs under a root.
 *
 * This runs on the event loop every interval, so it must be cheap and
 * bounded: every file is read once into a fixed stack buffer (or scanned
 * line by line through one, for files whose size grows with the machine),
 * numbers are parsed by hand without allocation, and only what the wire
 * needs is looked at (/proc/stat: the aggregate "cpu " line, which comes
 * first).  Rates come from deltas against the caller's metrics_state.
 */
#include <ctype.h>
#include <stddef.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "metrics.h"
#include "util.h"

/*
 * A run of decimal digits at *pp into *ret without overflow; advances *pp.
 * Returns 0, or -1 when there is no digit or the value overflows.
 */
static int
metrics_u64(const char **pp, uint64_t *ret)
{
	const char	*p = *pp;
	uint64_t	 n = 0;
	unsigned	 d;

	if (!isdigit((unsigned char)*p))
		return -1;
	for (; isdigit((unsigned char)*p); p++) {
		d = (unsigned)(*p - '0');
		if (n > (UINT64_MAX - d) / 10)
			return -1;
		n = n * 10 + d;
	}
	*pp = p;
	*ret = n;
	return 0;
}

/* "12.34" (fraction optional) as a double; no sign, exponent, NaN, inf. */
static int
metrics_decimal(const char **pp, double *ret)
{
	const char	*p = *pp;
	uint64_t	 ip;
	double		 v, scale = 0.1;

	if (metrics_u64(&p, &ip) == -1)
		return -1;
	v = (double)ip;
	if (*p == '.') {
		p++;
		if (!isdigit((unsigned char)*p))
			return -1;
		for (; isdigit((unsigned char)*p); p++) {
			v += (*p - '0') * scale;
			scale /= 10;
		}
	}
	*pp = p;
	*ret = v;
	return 0;
}

static void
metrics_skip_blank(const char **pp)
{
	while (**pp == ' ' || **pp == '\t')
		(*pp)++;
}

int
metrics_parse_cpu_line(const char *line, uint64_t *ret_total,
    uint64_t *ret_idle)
{
	const char	*p;
	uint64_t	 v[8] = { 0 }, total = 0;
	int		 i, n = 0;

	if (strncmp(line, "cpu ", 4) != 0)
		return -1;
	p = line + 4;
	/* user nice system idle [iowait irq softirq steal [guest ...]] */
	while (n < 10) {
		metrics_skip_blank(&p);
		if (*p == '\0' || *p == '\n' || *p == '\r')
			break;
		if (n < 8) {
			if (metrics_u64(&p, &v[n]) == -1)
				return -1;
		} else {
			/* guest, guest_nice: already in user and nice. */
			uint64_t	 skip;

			if (metrics_u64(&p, &skip) == -1)
				return -1;
		}
		if (*p != ' ' && *p != '\t' && *p != '\0' && *p != '\n' &&
		    *p != '\r')
			return -1;
		n++;
	}
	if (n < 4)
		return -1;
	for (i = 0; i < 8; i++) {
		if (total > UINT64_MAX - v[i])
			return -1;
		total += v[i];
	}
	*ret_total = total;
	*ret_idle = v[3] + v[4] < v[3] ? UINT64_MAX : v[3] + v[4];
	if (*ret_idle > total)
		*ret_idle = total;
	return 0;
}

int
metrics_parse_loadavg(const char *text, double ret_load[3])
{
	const char	*p = text;
	double		 l[3];
	int		 i;

	for (i = 0; i < 3; i++) {
		metrics_skip_blank(&p);
		if (metrics_decimal(&p, &l[i]) == -1)
			return -1;
		if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\0')
			return -1;
	}
	for (i = 0; i < 3; i++)
		ret_load[i] = l[i];
	return 0;
}

int
metrics_parse_uptime(const char *text, uint64_t *ret_secs)
{
	const char	*p = text;
	uint64_t	 secs;

	metrics_skip_blank(&p);
	if (metrics_u64(&p, &secs) == -1)
		return -1;
	if (*p == '.') {
		p++;
		if (!isdigit((unsigned char)*p))
			return -1;
		while (isdigit((unsigned char)*p))
			p++;
	}
	if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\0')
		return -1;
	*ret_secs = secs;
	return 0;
}

/* The field of *mi that a meminfo key fills, with its flag. */
static uint64_t *
metrics_mem_field(struct metrics_meminfo *mi, const char *key, size_t klen,
    unsigned *ret_flag)
{
#define KEY(k, f, fl) do {						\
	if (klen == sizeof(k) - 1 && memcmp(key, k, klen) == 0) {	\
		*ret_flag = fl;						\
		return &mi->f;						\
	}								\
} while (0)
	KEY("MemTotal", total, METRICS_MEM_TOTAL);
	KEY("MemFree", free, METRICS_MEM_FREE);
	KEY("MemAvailable", available, METRICS_MEM_AVAILABLE);
	KEY("Buffers", buffers, METRICS_MEM_BUFFERS);
	KEY("Cached", cached, METRICS_MEM_CACHED);
	KEY("SwapTotal", swap_total, METRICS_MEM_SWAP_TOTAL);
#undef KEY
	return NULL;
}

void
metrics_meminfo_line(struct metrics_meminfo *mi, const char *line)
{
	const char	*colon, *p;
	uint64_t	 kb, *field;
	unsigned	 flag;

	if ((colon = strchr(line, ':')) == NULL)
		return;
	field = metrics_mem_field(mi, line, (size_t)(colon - line), &flag);
	if (field == NULL)
		return;
	p = colon + 1;
	metrics_skip_blank(&p);
	if (metrics_u64(&p, &kb) == -1)
		return;
	/* Insist on the unit, so a line cut inside the number is refused. */
	metrics_skip_blank(&p);
	if (strncmp(p, "kB", 2) != 0)
		return;
	p += 2;
	metrics_skip_blank(&p);
	if (*p != '\0' && *p != '\n' && *p != '\r')
		return;
	if (kb > UINT64_MAX / 1024)
		return;
	*field = kb * 1024;
	mi->have |= flag;
}

static int
metrics_meminfo_cb(char *line, void *arg)
{
	metrics_meminfo_line(arg, line);
	return 0;
}

int
metrics_read_meminfo(struct rootfs *rfs, char *buf, size_t cap,
    struct metrics_meminfo *mi)
{
	memset(mi, 0, sizeof(*mi));
	return rootfs_scan_lines(rfs, "proc/meminfo", buf, cap,
	    metrics_meminfo_cb, mi);
}

void
metrics_parse_meminfo(const char *text, struct metrics_meminfo *mi)
{
	char	 line[256];

	memset(mi, 0, sizeof(*mi));
	rootfs_scan_text(text, line, sizeof(line), metrics_meminfo_cb, mi);
}

uint64_t
metrics_memory_used(const struct metrics_meminfo *mi)
{
	const unsigned	 old = METRICS_MEM_FREE | METRICS_MEM_BUFFERS |
	    METRICS_MEM_CACHED;
	uint64_t	 avail;

	if (!(mi->have & METRICS_MEM_TOTAL))
		return 0;
	if (mi->have & METRICS_MEM_AVAILABLE)
		avail = mi->available;
	else if ((mi->have & old) == old) {
		avail = mi->free;
		if (avail + mi->buffers >= avail)
			avail += mi->buffers;
		if (avail + mi->cached >= avail)
			avail += mi->cached;
	} else
		return 0;
	return avail < mi->total ? mi->total - avail : 0;
}

int
metrics_netdev_line(const char *line, uint64_t *ret_rx, uint64_t *ret_tx)
{
	const char	*colon, *name, *end, *p;
	uint64_t	 v[16];
	int		 n;

	if ((colon = strchr(line, ':')) == NULL)
		return 0;
	for (name = line; name < colon && isspace((unsigned char)*name);
	    name++)
		;
	for (end = colon; end > name && isspace((unsigned char)end[-1]);
	    end--)
		;
	if (end == name || (end - name == 2 && memcmp(name, "lo", 2) == 0))
		return 0;
	/* rx: bytes packets errs drop fifo frame compressed multicast, tx */
	p = colon + 1;
	for (n = 0; n < 16; n++) {
		metrics_skip_blank(&p);
		if (*p == '\0' || *p == '\n' || *p == '\r')
			break;
		if (metrics_u64(&p, &v[n]) == -1)
			return 0;
		if (*p != ' ' && *p != '\t' && *p != '\0' && *p != '\n' &&
		    *p != '\r')
			return 0;
	}
	if (n < 9)
		return 0;
	*ret_rx = v[0];
	*ret_tx = v[8];
	return 1;
}

struct metrics_net_sum {
	uint64_t	 rx;
	uint64_t	 tx;
	int		 count;
};

static int
metrics_netdev_cb(char *line, void *arg)
{
	struct metrics_net_sum	*s = arg;
	uint64_t		 rx, tx;

	if (metrics_netdev_line(line, &rx, &tx) == 1) {
		/* Saturate: a sum past 2^64 is nonsense anyway. */
		s->rx = s->rx + rx < s->rx ? UINT64_MAX : s->rx + rx;
		s->tx = s->tx + tx < s->tx ? UINT64_MAX : s->tx + tx;
		s->count++;
	}
	return 0;
}

int
metrics_parse_netdev(const char *text, uint64_t *ret_rx, uint64_t *ret_tx)
{
	struct metrics_net_sum	 s = { 0, 0, 0 };
	char			 line[512];

	rootfs_scan_text(text, line, sizeof(line), metrics_netdev_cb, &s);
	*ret_rx = s.rx;
	*ret_tx = s.tx;
	return s.count;
}

double
metrics_cpu_percent(uint64_t prev_total, uint64_t prev_idle, uint64_t total,
    uint64_t idle)
{
	uint64_t	 dt, di;
	double		 pct;

	if (total <= prev_total)
		return 0;
	dt = total - prev_total;
	/* iowait may go backwards on some kernels; never below 0 idle. */
	di = idle >= prev_idle ? idle - prev_idle : 0;
	if (di > dt)
		di = dt;
	pct = (double)(dt - di) * 100.0 / (double)dt;
	if (pct < 0)
		pct = 0;
	if (pct > 100)
		pct = 100;
	return pct;
}

/* Bytes per second from a counter delta; 0 when it went backwards. */
static uint64_t
metrics_rate(uint64_t prev, uint64_t cur, double secs)
{
	if (cur < prev || secs <= 0)
		return 0;
	return (uint64_t)((double)(cur - prev) / secs + 0.5);
}

static uint64_t
metrics_mul_sat(uint64_t a, uint64_t b)
{
	uint64_t	 r;

	if (__builtin_mul_overflow(a, b, &r))
		return UINT64_MAX;
	return r;
}

void
metrics_collect(struct rootfs *rfs, struct metrics_state *state,
    struct timespec now_mono, time_t now_wall, struct metrics *ret)
{
	struct metrics		 m;
	struct metrics_meminfo	 mi;
	struct metrics_net_sum	 ns = { 0, 0, 0 };
	struct statvfs		 st;
	char			 buf[4096];
	uint64_t		 total, idle, avail;
	double			 load[3], secs;

	memset(&m, 0, sizeof(m));
	m.collected_at = now_wall;

	/* The aggregate "cpu " line is the first line: one read is enough. */
	if (rootfs_read(rfs, "proc/stat", buf, sizeof(buf)) > 0) {
		buf[strcspn(buf, "\n")] = '\0';
		if (metrics_parse_cpu_line(buf, &total, &idle) == 0) {
			if (state->have_cpu)
				m.cpu_percent = metrics_cpu_percent(
				    state->cpu_total, state->cpu_idle, total,
				    idle);
			state->have_cpu = 1;
			state->cpu_total = total;
			state->cpu_idle = idle;
		}
	}

	if (rootfs_read(rfs, "proc/loadavg", buf, sizeof(buf)) > 0 &&
	    metrics_parse_loadavg(buf, load) == 0) {
		m.load1 = load[0];
		m.load5 = load[1];
		m.load15 = load[2];
	}

	if (metrics_read_meminfo(rfs, buf, sizeof(buf), &mi) == 0) {
		if (mi.have & METRICS_MEM_TOTAL)
			m.memory_total = mi.total;
		m.memory_used = metrics_memory_used(&mi);
	}

	/* used = total - available to unprivileged users (PROTOCOL.md). */
	if (rootfs_statvfs(rfs, &st) == 0) {
		m.disk_total = metrics_mul_sat(st.f_blocks, st.f_frsize);
		avail = metrics_mul_sat(st.f_bavail, st.f_frsize);
		m.disk_used = avail < m.disk_total ? m.disk_total - avail : 0;
	}

	/* One line per interface: scan, the count is unbounded. */
	if (rootfs_scan_lines(rfs, "proc/net/dev", buf, sizeof(buf),
	    metrics_netdev_cb, &ns) == 0) {
		m.net_rx_bytes = ns.rx;
		m.net_tx_bytes = ns.tx;
		if (state->have_net) {
			secs = (double)(now_mono.tv_sec -
			    state->net_at.tv_sec) +
			    (double)(now_mono.tv_nsec -
			    state->net_at.tv_nsec) / 1e9;
			m.net_rx_speed = metrics_rate(state->net_rx, ns.rx,
			    secs);
			m.net_tx_speed = metrics_rate(state->net_tx, ns.tx,
			    secs);
		}
		state->have_net = 1;
		state->net_rx = ns.rx;
		state->net_tx = ns.tx;
		state->net_at = now_mono;
	}

	if (rootfs_read(rfs, "proc/uptime", buf, sizeof(buf)) > 0)
		metrics_parse_uptime(buf, &m.uptime_seconds);

	*ret = m;
}

static json_int_t
metrics_json_int(uint64_t v)
{
	return v > INT64_MAX ? INT64_MAX : (json_int_t)v;
}

json_t *
metrics_to_json(const struct metrics *m)
{
	json_t	*o;
	char	 ts[RFC3339_LEN];

	o = json_object();
	/* Two decimals are all a dashboard shows; the rest is wire bytes. */
	json_object_set_new(o, "cpu_percent",
	    json_real(round(m->cpu_percent * 100.0) / 100.0));
	json_object_set_new(o, "load1", json_real(m->load1));
	json_object_set_new(o, "load5", json_real(m->load5));
	json_object_set_new(o, "load15", json_real(m->load15));
	json_object_set_new(o, "memory_used",
	    json_integer(metrics_json_int(m->memory_used)));
	json_object_set_new(o, "memory_total",
	    json_integer(metrics_json_int(m->memory_total)));
	json_object_set_new(o, "disk_used",
	    json_integer(metrics_json_int(m->disk_used)));
	json_object_set_new(o, "disk_total",
	    json_integer(metrics_json_int(m->disk_total)));
	json_object_set_new(o, "net_rx_bytes",
	    json_integer(metrics_json_int(m->net_rx_bytes)));
	json_object_set_new(o, "net_tx_bytes",
	    json_integer(metrics_json_int(m->net_tx_bytes)));
	json_object_set_new(o, "net_rx_speed",
	    json_integer(metrics_json_int(m->net_rx_speed)));
	json_object_set_new(o, "net_tx_speed",
	    json_integer(metrics_json_int(m->net_tx_speed)));
	json_object_set_new(o, "uptime_seconds",
	    json_integer(metrics_json_int(m->uptime_seconds)));
	fmt_rfc3339(ts, m->collected_at);
	json_object_set_new(o, "collected_at", json_string(ts));
	return o;
}
