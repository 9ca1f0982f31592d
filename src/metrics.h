/*
 * metrics: the heartbeat's metrics object of PROTOCOL.md (CPU busy share,
 * load, memory, disk, network counters and speeds, uptime), collected from
 * /proc and statvfs under a struct rootfs.
 *
 * The caller owns a struct metrics_state that carries the previous CPU and
 * network counters between heartbeats (zero it before the first call) and
 * the struct metrics each collection fills.  A collection reads each file
 * once into a fixed stack buffer, allocates nothing, logs nothing and never
 * fails: an unreadable file leaves its fields 0.  The text parsers are
 * exported for tests and fuzzing.
 */
#ifndef METRICS_H
#define METRICS_H

#include <stdint.h>
#include <time.h>

#include <jansson.h>

#include "rootfs.h"

struct metrics_state {
	int		 have_cpu;
	uint64_t	 cpu_total;	/* jiffies, all CPUs */
	uint64_t	 cpu_idle;	/* idle + iowait */
	int		 have_net;
	uint64_t	 net_rx;
	uint64_t	 net_tx;
	struct timespec	 net_at;	/* CLOCK_MONOTONIC of net_rx/tx */
};

struct metrics {
	double		 cpu_percent;	/* 0..100 */
	double		 load1;
	double		 load5;
	double		 load15;
	uint64_t	 memory_used;	/* bytes */
	uint64_t	 memory_total;
	uint64_t	 disk_used;
	uint64_t	 disk_total;
	uint64_t	 net_rx_bytes;	/* all interfaces but lo */
	uint64_t	 net_tx_bytes;
	uint64_t	 net_rx_speed;	/* bytes/s since the last sample */
	uint64_t	 net_tx_speed;
	uint64_t	 uptime_seconds;
	time_t		 collected_at;
};

/*
 * Collect one sample into *ret and advance *state.  now_mono times the
 * network speeds; now_wall becomes collected_at.
 */
void		 metrics_collect(struct rootfs *, struct metrics_state *,
		    struct timespec now_mono, time_t now_wall,
		    struct metrics *ret);

/*
 * The metrics object in PROTOCOL.md's key order.  Returns a new
 * reference.  Dump it with JSON_REAL_PRECISION (e.g. 6) or loads such as
 * 0.12 print with 17 significant digits.
 */
json_t		*metrics_to_json(const struct metrics *);

/*
 * Pure parsers over text.  They accept only well-formed numbers: no sign,
 * no NaN/inf, no overflow; on any doubt the value is not taken.
 */

/* The aggregate "cpu " line of /proc/stat: 0 and totals, or -1. */
int		 metrics_parse_cpu_line(const char *line, uint64_t *ret_total,
		    uint64_t *ret_idle);

/* /proc/loadavg: 0 and the three averages, or -1. */
int		 metrics_parse_loadavg(const char *text, double ret_load[3]);

/* /proc/uptime: 0 and whole seconds, or -1. */
int		 metrics_parse_uptime(const char *text, uint64_t *ret_secs);

/* The /proc/meminfo fields the collectors use, in bytes. */
#define METRICS_MEM_TOTAL	0x01
#define METRICS_MEM_FREE	0x02
#define METRICS_MEM_AVAILABLE	0x04
#define METRICS_MEM_BUFFERS	0x08
#define METRICS_MEM_CACHED	0x10
#define METRICS_MEM_SWAP_TOTAL	0x20

struct metrics_meminfo {
	unsigned	 have;		/* METRICS_MEM_* of the fields seen */
	uint64_t	 total;
	uint64_t	 free;
	uint64_t	 available;
	uint64_t	 buffers;
	uint64_t	 cached;
	uint64_t	 swap_total;
};

/* Feed one meminfo line ("MemTotal:  2004568 kB") into *mi. */
void		 metrics_meminfo_line(struct metrics_meminfo *,
		    const char *line);
void		 metrics_parse_meminfo(const char *text,
		    struct metrics_meminfo *);
/*
 * Read proc/meminfo under rfs into *mi (zeroed first) with the caller's
 * line buffer; 0, or -1 when the file cannot be read.  Facts use it too.
 */
int		 metrics_read_meminfo(struct rootfs *, char *buf, size_t cap,
		    struct metrics_meminfo *);
/*
 * MemTotal - MemAvailable, or MemTotal - (MemFree + Buffers + Cached) on
 * kernels without MemAvailable; 0 when unknown.
 */
uint64_t	 metrics_memory_used(const struct metrics_meminfo *);

/*
 * One /proc/net/dev line: 1 and its rx/tx byte counters for an interface
 * other than lo, 0 for lo, headers and unparsable lines.
 */
int		 metrics_netdev_line(const char *line, uint64_t *ret_rx,
		    uint64_t *ret_tx);
/* Sums over a whole /proc/net/dev text; returns the interfaces counted. */
int		 metrics_parse_netdev(const char *text, uint64_t *ret_rx,
		    uint64_t *ret_tx);

/*
 * Busy share in percent between two cpu samples, clamped to 0..100; 0
 * when no time passed or a counter went backwards.
 */
double		 metrics_cpu_percent(uint64_t prev_total, uint64_t prev_idle,
		    uint64_t total, uint64_t idle);

#endif
