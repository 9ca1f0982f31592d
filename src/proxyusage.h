/*
 * proxyusage: turn what a local proxy-usage source produced (a file or a
 * loopback HTTP answer) into the normalised ProxyUsageSnapshot and build the
 * POST /api/agent/proxy-usage bodies, both the "ok" report and the collector
 * health report for failures.
 *
 * Everything here is pure except proxyusage_read_file(): no logging, no
 * network, time passed in.  The caller owns the text it parses, the
 * snapshot it gets back (proxyusage_snapshot_free) and the JSON reports
 * (json_decref).  Error texts written to errbuf are short (at most
 * PROXYUSAGE_ERROR_MAX bytes), valid UTF-8 and free of control characters,
 * so they may be logged and sent to the server as collector_error.
 */
#ifndef PROXYUSAGE_H
#define PROXYUSAGE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <jansson.h>

/* Largest file or HTTP answer accepted. */
#define PROXYUSAGE_MAX_INPUT	(1024 * 1024)
/* Most users the server accepts in one snapshot. */
#define PROXYUSAGE_MAX_USERS	4096
/* Longest error text, in bytes, without the terminator. */
#define PROXYUSAGE_ERROR_MAX	256

/*
 * Where the text came from.  The file takes the Lattice snapshot shape
 * only; the HTTP source also takes the {"snapshot":{...}} envelope and the
 * V2Ray/Xray {"stat":[...]} output.
 */
enum proxyusage_source {
	PROXYUSAGE_FILE,
	PROXYUSAGE_HTTP,
};

struct proxyusage_snapshot;

/* "file" or "http", the collector_source the server expects. */
const char	*proxyusage_source_name(enum proxyusage_source);

/*
 * Parse and normalise text[0..len).  On success *ret_snap is a new snapshot
 * owned by the caller.  On failure returns -1 and writes a short reason
 * (naming the offending user id where there is one) to errbuf.
 */
int	 proxyusage_parse(const char *text, size_t len,
	    enum proxyusage_source, struct proxyusage_snapshot **ret_snap,
	    char *errbuf, size_t errlen);
void	 proxyusage_snapshot_free(struct proxyusage_snapshot *);

/* Users that will be reported (ids valid for the server). */
size_t	 proxyusage_user_count(const struct proxyusage_snapshot *);
/*
 * Ids left out because the server could never accept them (e-mail style
 * ids of hand-written Xray configs).  The summary is a short printable
 * list ("" when none); the fingerprint is 0 when none and otherwise changes
 * when the set of dropped ids changes, so the caller logs once per change.
 */
size_t	 proxyusage_dropped_count(const struct proxyusage_snapshot *);
const char	*proxyusage_dropped_summary(const struct proxyusage_snapshot *);
uint64_t proxyusage_dropped_fingerprint(const struct proxyusage_snapshot *);

/*
 * The full POST body for a good snapshot: the configured node_id replaces
 * any in the input, "at" defaults to now, collector_status is "ok".
 * node_id must be non-NULL, valid UTF-8.  Returns a new reference.
 */
json_t	*proxyusage_report_ok(const struct proxyusage_snapshot *,
	    const char *node_id, enum proxyusage_source, time_t now);
/*
 * The POST body for a collector failure: collector_status "error", the
 * error cleaned and clamped to PROXYUSAGE_ERROR_MAX bytes, no user_bytes
 * and no core_uptime_sec, so the server's accounting baseline stays put.
 * Returns a new reference.
 */
json_t	*proxyusage_report_error(const char *node_id, enum proxyusage_source,
	    const char *error, time_t now);

/*
 * Read the usage file: a regular file (FIFOs, devices and directories are
 * refused without blocking) of at most PROXYUSAGE_MAX_INPUT bytes.  On
 * success *ret_text is a new NUL-terminated buffer the caller frees.
 */
int	 proxyusage_read_file(const char *path, char **ret_text,
	    size_t *ret_len, char *errbuf, size_t errlen);

#endif
