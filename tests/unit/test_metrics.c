/*
 * Unit tests for metrics.c: the [metrics] EXPECTED lines of every fixture
 * README, deltas between two samples of a tree the test rewrites, hostile
 * parser input, the JSON shape, and a sanity run against the live "/".
 */
#include <sys/stat.h>
#include <sys/statvfs.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "metrics.h"
#include "util.h"

struct expect {
	const char	*tree;
	uint64_t	 memory_used;
	uint64_t	 memory_total;
	double		 load[3];
	uint64_t	 uptime;
	uint64_t	 rx, tx;
	int		 ifaces;	/* README "interfaces:" but lo */
};

static const struct expect fixtures[] = {
	{ "alpine-lxc-cgroupv2", 399470592ULL, 4139057152ULL,
	    { 1.55, 1.74, 1.73 }, 21847, 1030969582ULL, 736679433ULL, 2 },
	{ "aws-graviton2-al2023-arm64", 0, 0, { 0, 0, 0 }, 0, 0, 0, 0 },
	{ "baremetal-noswap-many-ifaces", 2250846208ULL, 16042172416ULL,
	    { 0.02, 0.04, 0.05 }, 6135, 1077641739ULL, 2765154307ULL, 4 },
	/*
	 * The README names no memory_used; its meminfo keeps MemFree,
	 * Buffers and Cached before the cut, so the fallback applies
	 * (same node_exporter sample as the ubuntu tree).
	 */
	{ "broken", 2625277952ULL, 3831959552ULL, { 0, 0, 0 }, 0, 0, 0, 0 },
	{ "debian12-kvm-amd64", 1109897216ULL, 2052677632ULL,
	    { 0.00, 0.02, 0.00 }, 2142, 2576124525ULL, 4669169947ULL, 2 },
	{ "odd-osrelease-opensuse-vm", 190439424ULL, 4133560320ULL,
	    { 1.55, 1.74, 1.73 }, 0, 0, 0, 0 },
	{ "openwrt-riscv64", 0, 0, { 0, 0, 0 }, 0, 0, 0, 0 },
	{ "rocky9-vmware", 386412544ULL, 4133560320ULL, { 0.00, 0.03, 0.03 },
	    132172, 1486242328ULL, 1331916839ULL, 2 },
	{ "rpi4-arm64", 236441600ULL, 3925278720ULL, { 0, 0, 0 }, 0, 0, 0, 0 },
	{ "ubuntu2204-docker-cgroupv1", 2625277952ULL, 3831959552ULL,
	    { 0.21, 0.37, 0.39 }, 3135, 438, 648, 1 },
};

static struct timespec
ts(time_t sec, long nsec)
{
	struct timespec	 t;

	t.tv_sec = sec;
	t.tv_nsec = nsec;
	return t;
}

/* Interfaces counted in the tree's proc/net/dev, read independently. */
static int
count_ifaces(const char *dir)
{
	char	 path[1200], *text;
	size_t	 len;
	uint64_t	 rx, tx;
	int	 n;

	snprintf(path, sizeof(path), "%s/proc/net/dev", dir);
	if ((text = read_small_file(path, 1 << 20, &len)) == NULL)
		return 0;
	n = metrics_parse_netdev(text, &rx, &tx);
	free(text);
	return n;
}

static void
test_fixtures(void **state)
{
	const struct expect	*e;
	struct metrics_state	 ms;
	struct metrics		 m;
	struct rootfs		*rfs;
	struct statvfs		 st;
	char			 dir[1024];
	size_t			 i;

	for (i = 0; i < sizeof(fixtures) / sizeof(fixtures[0]); i++) {
		e = &fixtures[i];
		print_message("# %s\n", e->tree);
		snprintf(dir, sizeof(dir), "%s/%s", FIXTURES_DIR, e->tree);
		assert_non_null(rfs = rootfs_open(dir));
		memset(&ms, 0, sizeof(ms));
		metrics_collect(rfs, &ms, ts(100, 0), 1781438400, &m);
		rootfs_free(rfs);
		assert_int_equal(m.memory_used, e->memory_used);
		assert_int_equal(m.memory_total, e->memory_total);
		assert_true(fabs(m.load1 - e->load[0]) < 1e-9);
		assert_true(fabs(m.load5 - e->load[1]) < 1e-9);
		assert_true(fabs(m.load15 - e->load[2]) < 1e-9);
		assert_int_equal(m.uptime_seconds, e->uptime);
		assert_int_equal(m.net_rx_bytes, e->rx);
		assert_int_equal(m.net_tx_bytes, e->tx);
		/* Single sample: no rates yet. */
		assert_true(m.cpu_percent == 0);
		assert_int_equal(m.net_rx_speed, 0);
		assert_int_equal(m.net_tx_speed, 0);
		assert_int_equal(m.collected_at, 1781438400);
		assert_int_equal(count_ifaces(dir), e->ifaces);
		/* Disk: statvfs of the tree's own directory. */
		assert_int_equal(statvfs(dir, &st), 0);
		assert_int_equal(m.disk_total,
		    (uint64_t)st.f_blocks * st.f_frsize);
		/* Used changes as others write; only bound it. */
		assert_true(m.disk_used <= m.disk_total);
	}
}

static void
put(const char *dir, const char *rel, const char *text)
{
	char	 path[PATH_MAX];
	FILE	*f;

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	assert_non_null(f = fopen(path, "w"));
	fputs(text, f);
	fclose(f);
}

static void
test_two_samples(void **state)
{
	char			 tmpl[] = "/tmp/test_metrics.XXXXXX";
	char			 path[PATH_MAX], cmd[PATH_MAX + 16];
	struct metrics_state	 ms;
	struct metrics		 m;
	struct rootfs		*rfs;

	assert_non_null(mkdtemp(tmpl));
	snprintf(path, sizeof(path), "%s/proc", tmpl);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/proc/net", tmpl);
	assert_int_equal(mkdir(path, 0755), 0);
	assert_non_null(rfs = rootfs_open(tmpl));
	memset(&ms, 0, sizeof(ms));

	put(tmpl, "proc/stat", "cpu  100 0 100 700 100 0 0 0 0 0\n"
	    "cpu0 100 0 100 700 100 0 0 0 0 0\n");
	put(tmpl, "proc/net/dev", "Inter-|\n face |\n"
	    "    lo: 999 1 0 0 0 0 0 0 999 1 0 0 0 0 0 0\n"
	    "  eth0: 1000 1 0 0 0 0 0 0 2000 1 0 0 0 0 0 0\n");
	metrics_collect(rfs, &ms, ts(10, 0), 0, &m);
	assert_true(m.cpu_percent == 0);
	assert_int_equal(m.net_rx_speed, 0);
	assert_int_equal(m.net_rx_bytes, 1000);

	/* 1000 jiffies later: 250 busy (user+system), 750 idle+iowait. */
	put(tmpl, "proc/stat", "cpu  200 0 250 1300 250 0 0 0 50 0\n");
	put(tmpl, "proc/net/dev",
	    "  eth0: 3000 1 0 0 0 0 0 0 6000 1 0 0 0 0 0 0\n");
	metrics_collect(rfs, &ms, ts(12, 0), 0, &m);
	assert_true(fabs(m.cpu_percent - 25.0) < 1e-9);
	assert_int_equal(m.net_rx_speed, 1000);	/* 2000 B in 2 s */
	assert_int_equal(m.net_tx_speed, 2000);

	/* Counters reset (interface re-created, counters cleared). */
	put(tmpl, "proc/stat", "cpu  100 0 100 700 100 0 0 0 0 0\n");
	put(tmpl, "proc/net/dev",
	    "  eth0: 10 1 0 0 0 0 0 0 6500 1 0 0 0 0 0 0\n");
	metrics_collect(rfs, &ms, ts(13, 0), 0, &m);
	assert_true(m.cpu_percent == 0);
	assert_int_equal(m.net_rx_speed, 0);
	assert_int_equal(m.net_tx_speed, 500);

	/* Same clock reading twice: no division by zero. */
	metrics_collect(rfs, &ms, ts(13, 0), 0, &m);
	assert_int_equal(m.net_rx_speed, 0);

	/* A file that vanished keeps the previous baseline. */
	snprintf(path, sizeof(path), "%s/proc/net/dev", tmpl);
	unlink(path);
	metrics_collect(rfs, &ms, ts(14, 0), 0, &m);
	assert_int_equal(m.net_rx_bytes, 0);
	assert_int_equal(ms.net_rx, 10);

	rootfs_free(rfs);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpl);
	assert_int_equal(system(cmd), 0);
}

static void
test_cpu_line_table(void **state)
{
	static const struct {
		const char	*line;
		int		 rc;
		uint64_t	 total, idle;
	} cases[] = {
		{ "cpu  1 2 3 4 5 6 7 8 9 10", 0, 36, 9 },
		{ "cpu 1 2 3 4", 0, 10, 4 },		/* 2.4 kernels */
		{ "cpu  1 2 3 4 5 6 7", 0, 28, 9 },
		{ "cpu  1 2 3", -1, 0, 0 },		/* truncated */
		{ "cpu0 1 2 3 4 5", -1, 0, 0 },
		{ "cpu", -1, 0, 0 },
		{ "", -1, 0, 0 },
		{ "cpu  1 2 x 4", -1, 0, 0 },
		{ "cpu  1 2 -3 4", -1, 0, 0 },
		{ "cpu  1 2 3 4a", -1, 0, 0 },
		{ "cpu  1 2 3 99999999999999999999999", -1, 0, 0 },
		{ "cpu  18446744073709551615 1 0 0", -1, 0, 0 },
		{ "cpu  1 2 3 4 5 6 7 8 9 10 11 12", 0, 36, 9 },
	};
	uint64_t	 total, idle;
	size_t		 i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		print_message("# case %zu\n", i);
		total = idle = 0;
		assert_int_equal(metrics_parse_cpu_line(cases[i].line, &total,
		    &idle), cases[i].rc);
		assert_int_equal(total, cases[i].total);
		assert_int_equal(idle, cases[i].idle);
	}
}

static void
test_cpu_percent(void **state)
{
	assert_true(metrics_cpu_percent(0, 0, 100, 25) == 75.0);
	assert_true(metrics_cpu_percent(100, 50, 100, 50) == 0);
	assert_true(metrics_cpu_percent(100, 50, 90, 40) == 0);
	/* iowait went backwards: busy at most 100. */
	assert_true(metrics_cpu_percent(100, 90, 200, 80) == 100.0);
	/* more idle than time passed: 0, not negative. */
	assert_true(metrics_cpu_percent(100, 0, 200, 500) == 0);
}

static void
test_loadavg_uptime_table(void **state)
{
	static const struct {
		const char	*text;
		int		 rc;
		double		 l1;
	} load[] = {
		{ "0.12 0.10 0.05 1/112 2104\n", 0, 0.12 },
		{ "1.55 1.74 1.73", 0, 1.55 },
		{ "12 1 0", 0, 12 },
		{ "", -1, 0 },
		{ "0.12 0.10", -1, 0 },
		{ "NaN 1 1", -1, 0 },
		{ "nan inf inf\n", -1, 0 },
		{ "-1 0 0", -1, 0 },
		{ "1e3 0 0", -1, 0 },
		{ "0x10 0 0", -1, 0 },
		{ "1. 0 0", -1, 0 },
		{ "99999999999999999999999 0 0", -1, 0 },
		{ "\xff\xfe 1 2 3", -1, 0 },
	};
	static const struct {
		const char	*text;
		int		 rc;
		uint64_t	 secs;
	} up[] = {
		{ "2142.03 8389.82\n", 0, 2142 },
		{ "5", 0, 5 },
		{ "uptime: n/a\n", -1, 0 },
		{ "", -1, 0 },
		{ "12.x 1", -1, 0 },
		{ "-3.0 1", -1, 0 },
		{ "99999999999999999999999.1 1", -1, 0 },
	};
	double		 l[3];
	uint64_t	 secs;
	size_t		 i;

	for (i = 0; i < sizeof(load) / sizeof(load[0]); i++) {
		print_message("# load %zu\n", i);
		l[0] = 0;
		assert_int_equal(metrics_parse_loadavg(load[i].text, l),
		    load[i].rc);
		assert_true(fabs(l[0] - load[i].l1) < 1e-9);
	}
	for (i = 0; i < sizeof(up) / sizeof(up[0]); i++) {
		secs = 0;
		assert_int_equal(metrics_parse_uptime(up[i].text, &secs),
		    up[i].rc);
		assert_int_equal(secs, up[i].secs);
	}
}

static void
test_meminfo_table(void **state)
{
	struct metrics_meminfo	 mi;

	metrics_parse_meminfo("MemTotal:       2004568 kB\n"
	    "MemFree:          100 kB\nMemAvailable:   920684 kB\n", &mi);
	assert_int_equal(mi.have, METRICS_MEM_TOTAL | METRICS_MEM_FREE |
	    METRICS_MEM_AVAILABLE);
	assert_int_equal(metrics_memory_used(&mi), 1109897216ULL);

	/* No MemAvailable: MemTotal - (MemFree + Buffers + Cached). */
	metrics_parse_meminfo("MemTotal: 1000 kB\nMemFree: 100 kB\n"
	    "Buffers: 100 kB\nCached: 100 kB\nSwapTotal: 7 kB", &mi);
	assert_int_equal(metrics_memory_used(&mi), 700 * 1024);
	assert_int_equal(mi.swap_total, 7 * 1024);

	/* ... but not with a part of it missing. */
	metrics_parse_meminfo("MemTotal: 1000 kB\nMemFree: 100 kB\n", &mi);
	assert_int_equal(metrics_memory_used(&mi), 0);

	/* Available above total (odd container views): 0, not a wrap. */
	metrics_parse_meminfo("MemTotal: 10 kB\nMemAvailable: 20 kB\n", &mi);
	assert_int_equal(metrics_memory_used(&mi), 0);

	/* Hostile lines are ignored. */
	metrics_parse_meminfo("MemTotal 1000 kB\n"		/* no colon */
	    "MemTotal: 12\n"					/* cut */
	    "MemTotal: -5 kB\n"
	    "MemTotal: 99999999999999999999 kB\n"
	    "MemTotal: 18014398509481984 kB\n"			/* *1024 */
	    "MemTotal: 12 kBx\n"
	    "MemTotalx: 12 kB\n"
	    "SwapTo", &mi);
	assert_int_equal(mi.have, 0);
	assert_int_equal(metrics_memory_used(&mi), 0);

	/* NUL inside: the text ends there. */
	metrics_parse_meminfo("MemTotal: 1 kB\n\0MemFree: 1 kB\n", &mi);
	assert_int_equal(mi.have, METRICS_MEM_TOTAL);
}

static void
test_netdev_table(void **state)
{
	static const struct {
		const char	*line;
		int		 rc;
		uint64_t	 rx, tx;
	} cases[] = {
		{ "  eth0: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16", 1, 1, 9 },
		{ "eth0:1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16", 1, 1, 9 },
		{ "wg0: 5 0 0 0 0 0 0 0 6", 1, 5, 6 },	/* 9 fields */
		{ "    lo: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16", 0, 0, 0 },
		{ "  eth0: 1234", 0, 0, 0 },
		{ "Inter-|   Receive                |  Transmit", 0, 0, 0 },
		{ " face |bytes    packets errs", 0, 0, 0 },
		{ "  : 1 2 3 4 5 6 7 8 9", 0, 0, 0 },
		{ "  eth0: 1 2 3 4 5 6 7 8 x", 0, 0, 0 },
		{ "  eth0: 1 2 3 4 5 6 7 8 -9", 0, 0, 0 },
		{ "  eth0: 99999999999999999999 2 3 4 5 6 7 8 9", 0, 0, 0 },
		{ "  lo0: 1 2 3 4 5 6 7 8 9", 1, 1, 9 },
		{ "", 0, 0, 0 },
	};
	uint64_t	 rx, tx;
	size_t		 i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		print_message("# case %zu\n", i);
		rx = tx = 0;
		assert_int_equal(metrics_netdev_line(cases[i].line, &rx, &tx),
		    cases[i].rc);
		assert_int_equal(rx, cases[i].rx);
		assert_int_equal(tx, cases[i].tx);
	}
	/* Sums saturate instead of wrapping. */
	assert_int_equal(metrics_parse_netdev(
	    "a: 18446744073709551615 0 0 0 0 0 0 0 1\n"
	    "b: 5 0 0 0 0 0 0 0 1", &rx, &tx), 2);
	assert_true(rx == UINT64_MAX);
	assert_int_equal(tx, 2);
}

static void
test_json(void **state)
{
	struct metrics	 m;
	json_t		*j;
	char		*s;

	memset(&m, 0, sizeof(m));
	m.cpu_percent = 3.5;
	m.load1 = 0.12;
	m.load5 = 0.1;
	m.load15 = 0.05;
	m.memory_used = 123;
	m.memory_total = 456;
	m.disk_used = 1;
	m.disk_total = 2;
	m.net_rx_bytes = 10;
	m.net_tx_bytes = UINT64_MAX;
	m.uptime_seconds = 99;
	m.collected_at = 1781438400;
	j = metrics_to_json(&m);
	s = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(6));
	assert_string_equal(s, "{\"cpu_percent\":3.5,\"load1\":0.12,"
	    "\"load5\":0.1,\"load15\":0.05,\"memory_used\":123,"
	    "\"memory_total\":456,\"disk_used\":1,\"disk_total\":2,"
	    "\"net_rx_bytes\":10,\"net_tx_bytes\":9223372036854775807,"
	    "\"net_rx_speed\":0,\"net_tx_speed\":0,\"uptime_seconds\":99,"
	    "\"collected_at\":\"2026-06-14T12:00:00Z\"}");
	free(s);
	json_decref(j);
}

static void
test_live_root(void **state)
{
	struct metrics_state	 ms;
	struct metrics		 m1, m2;
	struct rootfs		*rfs;
	struct timespec		 t;
	int			 i;

	assert_non_null(rfs = rootfs_open("/"));
	memset(&ms, 0, sizeof(ms));
	clock_gettime(CLOCK_MONOTONIC, &t);
	metrics_collect(rfs, &ms, t, time(NULL), &m1);
	assert_true(ms.have_cpu);
	assert_true(ms.have_net);
	/* Burn a little CPU so the second sample has jiffies to compare. */
	for (i = 0; i < 50; i++) {
		clock_gettime(CLOCK_MONOTONIC, &t);
		metrics_collect(rfs, &ms, t, time(NULL), &m2);
	}
	rootfs_free(rfs);
	assert_true(m1.memory_total > 0);
	assert_true(m1.memory_used > 0 && m1.memory_used <= m1.memory_total);
	assert_true(m1.disk_total > 0 && m1.disk_used <= m1.disk_total);
	assert_true(m1.uptime_seconds > 0);
	assert_true(m1.cpu_percent == 0);
	assert_true(m2.cpu_percent >= 0 && m2.cpu_percent <= 100);
	assert_true(m2.load1 >= 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fixtures),
		cmocka_unit_test(test_two_samples),
		cmocka_unit_test(test_cpu_line_table),
		cmocka_unit_test(test_cpu_percent),
		cmocka_unit_test(test_loadavg_uptime_table),
		cmocka_unit_test(test_meminfo_table),
		cmocka_unit_test(test_netdev_table),
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_live_root),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
