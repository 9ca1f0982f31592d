/*
 * facts: the slow-changing HostFacts of PROTOCOL.md (hostname, platform,
 * kernel, arch, CPU, memory, boot time, virtualization), collected from
 * files under a struct rootfs plus the few inputs that do not come from
 * files (struct facts_env), and turned into the wire JSON.
 *
 * struct facts is a plain value with fixed-size strings (the server's
 * clamps), owned by the caller; comparing two with facts_equal is how the
 * scheduler decides whether facts changed.  Nothing here allocates except
 * facts_to_json, logs, or fails: a missing or odd file leaves its field
 * empty.  The text parsers are exported for tests and fuzzing.
 */
#ifndef FACTS_H
#define FACTS_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <jansson.h>

#include "rootfs.h"

#define FACTS_STR_MAX		96	/* server clamp for string facts */
#define FACTS_CPU_MODEL_MAX	192	/* server clamp for cpu_model */

struct facts {
	char		 hostname[FACTS_STR_MAX + 1];
	char		 os[FACTS_STR_MAX + 1];
	char		 platform[FACTS_STR_MAX + 1];
	char		 platform_version[FACTS_STR_MAX + 1];
	char		 kernel_version[FACTS_STR_MAX + 1];
	char		 arch[FACTS_STR_MAX + 1];
	int		 cpu_cores;		/* 0: unknown */
	char		 cpu_model[FACTS_CPU_MODEL_MAX + 1];
	uint64_t	 memory_total;		/* bytes, 0: unknown */
	uint64_t	 swap_total;		/* bytes */
	char		 virtualization[FACTS_STR_MAX + 1];
	time_t		 boot_time;		/* 0: unknown */
};

/* What facts_collect cannot read from files; the caller fills it. */
struct facts_env {
	/* uname(2) machine, e.g. "x86_64"; NULL: arch stays empty. */
	const char	*machine;
	/*
	 * The agent's own $container, or NULL.  Pass NULL when the host root
	 * is not "/": the agent's environment then says nothing about the
	 * host being inspected.
	 */
	const char	*container;
};

/* Fill *ret from the files under rfs.  Always succeeds; returns 0. */
int		 facts_collect(struct rootfs *, const struct facts_env *,
		    struct facts *ret);

/*
 * The HostFacts object with reported_at; boot_time is left out when
 * unknown (an empty string is not a time).  Returns a new reference.
 */
json_t		*facts_to_json(const struct facts *, time_t reported_at);

/* 1 when every field is equal (boot_time within 1 s), else 0. */
int		 facts_equal(const struct facts *, const struct facts *);

/*
 * When facts travel (PROTOCOL.md: slow-changing, send on change): look for
 * a change every FACTS_CHECK_MS, and resend at least every
 * FACTS_RESEND_MS so a server that lost them gets them back.
 */
#define FACTS_CHECK_MS		(60 * 60 * 1000)
#define FACTS_RESEND_MS		(6 * 60 * 60 * 1000)

/* 1 when it is time to collect facts again and compare. */
int		 facts_check_due(int64_t now_ms, int64_t checked_ms);
/* 1 when the facts must ride on the next heartbeat. */
int		 facts_send_due(int64_t now_ms, int64_t sent_ms, int ever_sent,
		    int changed);

/* Go's GOARCH name for a uname machine ("x86_64" -> "amd64"). */
const char	*facts_goarch(const char *machine);

/*
 * Pure parsers over text (NUL-terminated; they never read past the NUL).
 */

/*
 * Value of key in os-release(5) text: shell-style assignments, values
 * unquoted, "double" (with \ escapes) or 'single' quoted, # comments, the
 * last assignment wins.  Returns 0 and writes out (truncated to outsz - 1
 * bytes), or -1 when the key is absent (out is then "").
 */
int		 facts_os_release_value(const char *text, const char *key,
		    char *out, size_t outsz);

/* What /proc/cpuinfo says, gathered line by line. */
struct facts_cpuinfo {
	int		 processors;		/* "processor" entries */
	char		 model_name[FACTS_CPU_MODEL_MAX + 1];
	char		 hardware[FACTS_CPU_MODEL_MAX + 1];
	char		 processor[FACTS_CPU_MODEL_MAX + 1];
	int		 implementer;		/* -1: none seen */
	int		 part;			/* -1: none seen */
	int		 hypervisor;		/* "hypervisor" in flags */
};

void		 facts_cpuinfo_init(struct facts_cpuinfo *);
/* Feed one line (no newline); the line may be modified. */
void		 facts_cpuinfo_line(struct facts_cpuinfo *, char *line);
void		 facts_parse_cpuinfo(const char *text, struct facts_cpuinfo *);
/*
 * The cpu_model the cpuinfo implies: model name, else Hardware, else
 * Processor, else the ARM implementer/part named as lscpu names them.
 */
void		 facts_cpu_model(const struct facts_cpuinfo *, char *out,
		    size_t outsz);
/* "ARM Cortex-A72", "ARM part 0xd0c", ... for an implementer/part pair. */
void		 facts_arm_cpu_name(int implementer, int part, char *out,
		    size_t outsz);

/*
 * Number of CPUs in a kernel CPU list such as "0-3,8,10-11\n".  Returns
 * the count, or -1 when the text is not such a list.
 */
int		 facts_parse_cpu_list(const char *text);

/* btime from one /proc/stat line: 0 and *ret_btime, or -1. */
int		 facts_stat_btime_line(const char *line, time_t *ret_btime);

/*
 * systemd-detect-virt's name for a container= value ("lxc", "docker",
 * "podman", ...; unknown non-empty values are "container-other"), or NULL
 * when value is empty.
 */
const char	*facts_container_name(const char *value);
/*
 * The container= value in a NUL-separated environ block of len bytes, or
 * NULL.  The result points into env and is bounded by len.
 */
const char	*facts_environ_container(const char *env, size_t len,
		    size_t *ret_vlen);
/* The container a /proc/1/cgroup text points at, or NULL. */
const char	*facts_cgroup_container(const char *text);
/* The hypervisor DMI vendor/product imply, or NULL. */
const char	*facts_dmi_virt(const char *sys_vendor,
		    const char *product_name);

#endif
