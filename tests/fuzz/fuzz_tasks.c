/*
 * libFuzzer target for task.c's lease-list parser: any bytes through
 * task_parse_leases(), then every lease it returns through the gates and
 * the result builder (with the script as output, to hit the UTF-8 repair
 * and the body-size fitting), checking the contracts: a returned lease has
 * a usable id and lease id, and a result body is JSON of at most the
 * requested size.  Seeds: tests/fuzz/corpus/tasks/.
 */
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "task.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
check_lease(const struct task_lease *l)
{
	struct task_policy	 p;
	struct task_outcome	 o;
	char			 path[PATH_MAX], err[512], *body;
	size_t			 len, max;
	json_t			*j;

	if (l->id == NULL || l->lease_id == NULL || l->id[0] == '\0' ||
	    l->lease_id[0] == '\0' || strlen(l->id) > TASK_ID_MAX ||
	    strlen(l->lease_id) > TASK_ID_MAX)
		abort();
	if (l->invalid == NULL && (l->interpreter == NULL ||
	    l->script == NULL || strlen(l->script) != l->script_len))
		abort();

	memset(&p, 0, sizeof(p));
	p.allow_exec = 1;
	p.euid = 1000;
	p.search_path = "/nonexistent";
	if (task_check(&p, l, path, sizeof(path), err, sizeof(err)) == 0)
		abort();		/* nothing is installed there */

	memset(&o, 0, sizeof(o));
	o.task_id = l->id;
	o.lease_id = l->lease_id;
	o.node_id = "fuzz-node";
	o.exit_code = -1;
	o.error = err;
	o.out = l->script;
	o.out_len = l->script_len;
	o.err = l->script;
	o.err_len = l->script_len;
	o.limit = task_output_limit(l->output_limit);
	max = 4096 + (size_t)(l->timeout_sec & 0xffff);
	if ((body = task_result_body(&o, max, &len)) == NULL)
		return;
	if (len > max || strlen(body) != len)
		abort();
	if ((j = json_loadb(body, len, 0, NULL)) == NULL)
		abort();
	json_decref(j);
	free(body);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct task_lease	*leases = NULL;
	char			 err[256];
	size_t			 i, n = 0, skipped = 0;

	if (task_parse_leases((const char *)data, size, &leases, &n, &skipped,
	    err, sizeof(err)) == -1) {
		if (leases != NULL || err[0] == '\0')
			abort();
		return 0;
	}
	if (n > TASK_MAX_LEASES)
		abort();
	for (i = 0; i < n; i++)
		check_lease(&leases[i]);
	task_leases_free(leases, n);
	return 0;
}
