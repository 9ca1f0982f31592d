/*
 * libFuzzer target for the /proc, /sys and cgroup text parsers of facts.c
 * and metrics.c: every parser sees every input, as text (up to the first
 * NUL, as the collectors pass it) and, for environ, as raw bytes.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "facts.h"
#include "metrics.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct facts_cpuinfo	 ci;
	struct metrics_meminfo	 mi;
	char			*text, *nl, model[FACTS_CPU_MODEL_MAX + 1];
	const char		*product, *v;
	uint64_t		 a, b;
	double			 load[3];
	time_t			 t;
	size_t			 vlen;

	if ((text = malloc(size + 1)) == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';

	facts_parse_cpuinfo(text, &ci);
	facts_cpu_model(&ci, model, sizeof(model));
	facts_parse_cpu_list(text);
	facts_stat_btime_line(text, &t);
	facts_cgroup_container(text);
	if ((v = facts_environ_container((const char *)data, size,
	    &vlen)) != NULL && v + vlen > (const char *)data + size)
		abort();

	metrics_parse_cpu_line(text, &a, &b);
	metrics_parse_loadavg(text, load);
	metrics_parse_uptime(text, &a);
	metrics_parse_meminfo(text, &mi);
	metrics_memory_used(&mi);
	metrics_parse_netdev(text, &a, &b);

	/* First line: DMI sys_vendor, the rest: product_name. */
	product = "";
	if ((nl = strchr(text, '\n')) != NULL) {
		*nl = '\0';
		product = nl + 1;
	}
	facts_dmi_virt(text, product);
	facts_container_name(text);
	facts_goarch(text);

	free(text);
	return 0;
}
