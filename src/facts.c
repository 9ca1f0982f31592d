/*
 * facts: collect HostFacts from /proc, /sys and os-release under a root.
 *
 * Facts are best effort: every file may be missing, truncated or hostile
 * (a container's PID 1 environment, a fixture tree), so each field comes
 * from its own small bounded read, parsers take only what is well formed,
 * and every string is stripped of control characters and clamped to what
 * the server keeps before it is stored.  The identifiers (GOARCH names,
 * systemd-detect-virt names, lscpu's ARM names) are those operators
 * already know from the original agent and their own tools.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "facts.h"
#include "metrics.h"
#include "utf8.h"
#include "util.h"

#define FACTS_LINE_MAX	8192	/* x86 "flags" lines run past 1.5 KiB */

/*
 * Strip control characters (C0 but whitespace, DEL, C1) outright, so an
 * escape sequence does not leave a gap, then let utf8_clean_field repair,
 * collapse whitespace, trim and clamp to max bytes.
 */
static void
facts_clean(char *s, size_t max)
{
	unsigned char	*r = (unsigned char *)s, *w = (unsigned char *)s;

	for (; *r != '\0'; r++) {
		if ((*r < 0x20 && !isspace(*r)) || *r == 0x7f)
			continue;
		if (r[0] == 0xc2 && r[1] >= 0x80 && r[1] <= 0x9f) {
			r++;
			continue;
		}
		*w++ = *r;
	}
	*w = '\0';
	utf8_clean_field(s, max);
}

/* Copy src into dst[dstsz] (truncating), then clean to max bytes. */
static void
facts_set(char *dst, size_t dstsz, const char *src, size_t max)
{
	size_t	 len;

	len = strnlen(src, dstsz - 1);
	memcpy(dst, src, len);
	dst[len] = '\0';
	facts_clean(dst, max);
}

static const struct {
	const char	*machine;
	const char	*goarch;
} facts_arch_table[] = {
	{ "x86_64", "amd64" },
	{ "amd64", "amd64" },
	{ "aarch64", "arm64" },
	{ "aarch64_be", "arm64be" },
	{ "arm64", "arm64" },
	{ "i386", "386" },
	{ "i486", "386" },
	{ "i586", "386" },
	{ "i686", "386" },
	{ "riscv64", "riscv64" },
	{ "ppc64le", "ppc64le" },
	{ "ppc64", "ppc64" },
	{ "s390x", "s390x" },
	{ "mips64", "mips64" },
	{ "mips64el", "mips64le" },
	{ "mips", "mips" },
	{ "mipsel", "mipsle" },
	{ "loongarch64", "loong64" },
};

const char *
facts_goarch(const char *machine)
{
	size_t	 i;

	if (machine == NULL)
		return "";
	for (i = 0; i < nitems(facts_arch_table); i++) {
		if (strcmp(machine, facts_arch_table[i].machine) == 0)
			return facts_arch_table[i].goarch;
	}
	/* armv5tel, armv6l, armv7l, armv8l (32-bit userland), ... */
	if (strncmp(machine, "arm", 3) == 0)
		return "arm";
	return machine;
}

int
facts_os_release_value(const char *text, const char *key, char *out,
    size_t outsz)
{
	const char	*p = text, *k;
	size_t		 klen = strlen(key), o;
	int		 found = -1, quote;
	char		 c;

	if (outsz == 0)
		return -1;
	out[0] = '\0';
	while (*p != '\0') {
		while (*p == ' ' || *p == '\t')
			p++;
		k = p;
		while (isalnum((unsigned char)*p) || *p == '_')
			p++;
		if (*p != '=' || (size_t)(p - k) != klen ||
		    strncmp(k, key, klen) != 0 || k == p)
			goto next;
		p++;
		o = 0;
		quote = 0;
		while (*p != '\0' && *p != '\n') {
			c = *p;
			if (quote == 0) {
				if (c == '"' || c == '\'') {
					/* NOLINTNEXTLINE: c is an ASCII quote */
					quote = c;
					p++;
					continue;
				}
				if (c == ' ' || c == '\t' || c == '\r')
					break;
				if (c == '\\' && p[1] != '\0' && p[1] != '\n')
					c = *++p;
			} else if (quote == '\'') {
				if (c == '\'') {
					quote = 0;
					p++;
					continue;
				}
			} else {
				if (c == '"') {
					quote = 0;
					p++;
					continue;
				}
				if (c == '\\' && p[1] != '\0' &&
				    strchr("$\"\\`", p[1]) != NULL)
					c = *++p;
			}
			if (o + 1 < outsz)
				out[o++] = c;
			p++;
		}
		out[o] = '\0';
		found = 0;
next:
		while (*p != '\0' && *p != '\n')
			p++;
		if (*p == '\n')
			p++;
	}
	return found;
}

void
facts_cpuinfo_init(struct facts_cpuinfo *ci)
{
	memset(ci, 0, sizeof(*ci));
	ci->implementer = -1;
	ci->part = -1;
}

/* A hex or decimal cpuinfo id ("0x41", "0xd0c"), or -1. */
static int
facts_cpuinfo_id(const char *v)
{
	char		*end;
	unsigned long	 n;

	if (!isdigit((unsigned char)*v))
		return -1;
	errno = 0;
	n = strtoul(v, &end, 0);
	if (errno != 0 || *end != '\0' || n > 0xffff)
		return -1;
	return (int)n;
}

/* Whether word is one of the space-separated words of list. */
static int
facts_has_word(const char *list, const char *word)
{
	size_t		 wlen = strlen(word);
	const char	*p = list;

	while ((p = strstr(p, word)) != NULL) {
		if ((p == list || isspace((unsigned char)p[-1])) &&
		    (p[wlen] == '\0' || isspace((unsigned char)p[wlen])))
			return 1;
		p += wlen;
	}
	return 0;
}

void
facts_cpuinfo_line(struct facts_cpuinfo *ci, char *line)
{
	char	*colon, *key, *val;

	if ((colon = strchr(line, ':')) == NULL)
		return;
	*colon = '\0';
	key = strtrim(line);
	val = strtrim(colon + 1);

	if (strcmp(key, "processor") == 0 ||
	    (strncmp(key, "processor ", 10) == 0 &&
	    isdigit((unsigned char)key[10]))) {		/* s390x */
		if (ci->processors < INT_MAX)
			ci->processors++;
	} else if (strcmp(key, "model name") == 0) {
		if (ci->model_name[0] == '\0')
			facts_set(ci->model_name, sizeof(ci->model_name), val,
			    FACTS_CPU_MODEL_MAX);
	} else if (strcmp(key, "Hardware") == 0) {
		if (ci->hardware[0] == '\0')
			facts_set(ci->hardware, sizeof(ci->hardware), val,
			    FACTS_CPU_MODEL_MAX);
	} else if (strcmp(key, "Processor") == 0) {
		if (ci->processor[0] == '\0')
			facts_set(ci->processor, sizeof(ci->processor), val,
			    FACTS_CPU_MODEL_MAX);
	} else if (strcmp(key, "CPU implementer") == 0) {
		if (ci->implementer == -1)
			ci->implementer = facts_cpuinfo_id(val);
	} else if (strcmp(key, "CPU part") == 0) {
		if (ci->part == -1)
			ci->part = facts_cpuinfo_id(val);
	} else if (strcmp(key, "flags") == 0) {
		if (facts_has_word(val, "hypervisor"))
			ci->hypervisor = 1;
	}
}

static int
facts_cpuinfo_cb(char *line, void *arg)
{
	facts_cpuinfo_line(arg, line);
	return 0;
}

void
facts_parse_cpuinfo(const char *text, struct facts_cpuinfo *ci)
{
	char	 line[FACTS_LINE_MAX];

	facts_cpuinfo_init(ci);
	rootfs_scan_text(text, line, sizeof(line), facts_cpuinfo_cb, ci);
}

struct facts_part {
	int		 id;
	const char	*name;
};

/* util-linux sys-utils/lscpu-arm.c, the parts servers and boards use. */
static const struct facts_part facts_arm_parts[] = {
	{ 0xb76, "ARM1176" },
	{ 0xc05, "Cortex-A5" },
	{ 0xc07, "Cortex-A7" },
	{ 0xc08, "Cortex-A8" },
	{ 0xc09, "Cortex-A9" },
	{ 0xc0d, "Cortex-A17" },
	{ 0xc0f, "Cortex-A15" },
	{ 0xc0e, "Cortex-A17" },
	{ 0xd01, "Cortex-A32" },
	{ 0xd03, "Cortex-A53" },
	{ 0xd04, "Cortex-A35" },
	{ 0xd05, "Cortex-A55" },
	{ 0xd06, "Cortex-A65" },
	{ 0xd07, "Cortex-A57" },
	{ 0xd08, "Cortex-A72" },
	{ 0xd09, "Cortex-A73" },
	{ 0xd0a, "Cortex-A75" },
	{ 0xd0b, "Cortex-A76" },
	{ 0xd0c, "Neoverse-N1" },
	{ 0xd0d, "Cortex-A77" },
	{ 0xd0e, "Cortex-A76AE" },
	{ 0xd40, "Neoverse-V1" },
	{ 0xd41, "Cortex-A78" },
	{ 0xd42, "Cortex-A78AE" },
	{ 0xd43, "Cortex-A65AE" },
	{ 0xd44, "Cortex-X1" },
	{ 0xd46, "Cortex-A510" },
	{ 0xd47, "Cortex-A710" },
	{ 0xd48, "Cortex-X2" },
	{ 0xd49, "Neoverse-N2" },
	{ 0xd4a, "Neoverse-E1" },
	{ 0xd4b, "Cortex-A78C" },
	{ 0xd4c, "Cortex-X1C" },
	{ 0xd4d, "Cortex-A715" },
	{ 0xd4e, "Cortex-X3" },
	{ 0xd4f, "Neoverse-V2" },
	{ 0xd80, "Cortex-A520" },
	{ 0xd81, "Cortex-A720" },
	{ 0xd82, "Cortex-X4" },
	{ 0xd84, "Neoverse-V3" },
	{ 0xd85, "Cortex-X925" },
	{ 0xd87, "Cortex-A725" },
	{ 0xd8e, "Neoverse-N3" },
	{ -1, NULL }
};

static const struct facts_part facts_apple_parts[] = {
	{ 0x022, "Icestorm-M1" },
	{ 0x023, "Firestorm-M1" },
	{ 0x024, "Icestorm-M1-Pro" },
	{ 0x025, "Firestorm-M1-Pro" },
	{ 0x028, "Icestorm-M1-Max" },
	{ 0x029, "Firestorm-M1-Max" },
	{ 0x032, "Blizzard-M2" },
	{ 0x033, "Avalanche-M2" },
	{ -1, NULL }
};

static const struct facts_part facts_qcom_parts[] = {
	{ 0x001, "Oryon" },
	{ 0x00f, "Scorpion" },
	{ 0x02d, "Scorpion" },
	{ 0x04d, "Krait" },
	{ 0x06f, "Krait" },
	{ 0x201, "Kryo" },
	{ 0x205, "Kryo" },
	{ 0x211, "Kryo" },
	{ 0x800, "Falkor-V1/Kryo" },
	{ 0x801, "Kryo-V2" },
	{ 0x802, "Kryo-3XX-Gold" },
	{ 0x803, "Kryo-3XX-Silver" },
	{ 0x804, "Kryo-4XX-Gold" },
	{ 0x805, "Kryo-4XX-Silver" },
	{ 0xc00, "Falkor" },
	{ 0xc01, "Saphira" },
	{ -1, NULL }
};

static const struct facts_part facts_cavium_parts[] = {
	{ 0x0a0, "ThunderX" },
	{ 0x0a1, "ThunderX-88XX" },
	{ 0x0a2, "ThunderX-81XX" },
	{ 0x0a3, "ThunderX-83XX" },
	{ 0x0af, "ThunderX2-99xx" },
	{ -1, NULL }
};

static const struct facts_part facts_hisi_parts[] = {
	{ 0xd01, "TaiShan-v110" },
	{ 0xd02, "TaiShan-v120" },
	{ -1, NULL }
};

static const struct facts_part facts_ampere_parts[] = {
	{ 0xac3, "Ampere-1" },
	{ 0xac4, "Ampere-1a" },
	{ -1, NULL }
};

static const struct facts_part facts_none_parts[] = {
	{ -1, NULL }
};

static const struct {
	int			 id;
	const char		*name;
	const struct facts_part	*parts;
} facts_arm_implementers[] = {
	{ 0x41, "ARM", facts_arm_parts },
	{ 0x42, "Broadcom", facts_none_parts },
	{ 0x43, "Cavium", facts_cavium_parts },
	{ 0x46, "FUJITSU", facts_none_parts },
	{ 0x48, "HiSilicon", facts_hisi_parts },
	{ 0x4e, "NVIDIA", facts_none_parts },
	{ 0x50, "APM", facts_none_parts },
	{ 0x51, "Qualcomm", facts_qcom_parts },
	{ 0x53, "Samsung", facts_none_parts },
	{ 0x56, "Marvell", facts_none_parts },
	{ 0x61, "Apple", facts_apple_parts },
	{ 0x69, "Intel", facts_none_parts },
	{ 0x6d, "Microsoft", facts_none_parts },
	{ 0x70, "Phytium", facts_none_parts },
	{ 0xc0, "Ampere", facts_ampere_parts },
};

void
facts_arm_cpu_name(int implementer, int part, char *out, size_t outsz)
{
	const struct facts_part	*p;
	size_t			 i;

	for (i = 0; i < nitems(facts_arm_implementers); i++) {
		if (facts_arm_implementers[i].id != implementer)
			continue;
		for (p = facts_arm_implementers[i].parts; p->name != NULL;
		    p++) {
			if (p->id == part) {
				snprintf(out, outsz, "%s %s",
				    facts_arm_implementers[i].name, p->name);
				return;
			}
		}
		snprintf(out, outsz, "%s part 0x%03x",
		    facts_arm_implementers[i].name, (unsigned)part);
		return;
	}
	snprintf(out, outsz, "CPU implementer 0x%02x part 0x%03x",
	    (unsigned)implementer, (unsigned)part);
}

void
facts_cpu_model(const struct facts_cpuinfo *ci, char *out, size_t outsz)
{
	if (outsz == 0)
		return;
	if (ci->model_name[0] != '\0')
		snprintf(out, outsz, "%s", ci->model_name);
	else if (ci->hardware[0] != '\0')
		snprintf(out, outsz, "%s", ci->hardware);
	else if (ci->processor[0] != '\0')
		snprintf(out, outsz, "%s", ci->processor);
	else if (ci->implementer >= 0 && ci->part >= 0)
		facts_arm_cpu_name(ci->implementer, ci->part, out, outsz);
	else
		out[0] = '\0';
}

/* A decimal CPU number of a CPU list, bounded; advances *pp. */
static int
facts_cpu_num(const char **pp, long *ret)
{
	const char	*p = *pp;
	long		 n = 0;

	if (!isdigit((unsigned char)*p))
		return -1;
	for (; isdigit((unsigned char)*p); p++) {
		n = n * 10 + (*p - '0');
		if (n > 1L << 22)	/* far beyond any NR_CPUS */
			return -1;
	}
	*pp = p;
	*ret = n;
	return 0;
}

int
facts_parse_cpu_list(const char *text)
{
	const char	*p = text;
	long		 lo, hi, count = 0;

	for (;;) {
		if (facts_cpu_num(&p, &lo) == -1)
			return -1;
		hi = lo;
		if (*p == '-') {
			p++;
			if (facts_cpu_num(&p, &hi) == -1 || hi < lo)
				return -1;
		}
		count += hi - lo + 1;
		if (count > 1L << 22)
			return -1;
		if (*p != ',')
			break;
		p++;
	}
	while (isspace((unsigned char)*p))
		p++;
	if (*p != '\0')
		return -1;
	return (int)count;
}

int
facts_stat_btime_line(const char *line, time_t *ret_btime)
{
	const char	*p;
	uint64_t	 n = 0;

	if (strncmp(line, "btime ", 6) != 0)
		return -1;
	for (p = line + 6; *p == ' '; p++)
		;
	if (!isdigit((unsigned char)*p))
		return -1;
	for (; isdigit((unsigned char)*p); p++) {
		n = n * 10 + (uint64_t)(*p - '0');
		if (n > INT64_MAX / 20)		/* year 10^10 is enough */
			return -1;
	}
	while (isspace((unsigned char)*p))
		p++;
	if (*p != '\0' || n == 0)
		return -1;
	*ret_btime = (time_t)n;
	return 0;
}

static const struct {
	const char	*value;
	const char	*name;
} facts_containers[] = {
	{ "lxc", "lxc" },
	{ "lxc-libvirt", "lxc-libvirt" },
	{ "systemd-nspawn", "systemd-nspawn" },
	{ "docker", "docker" },
	{ "podman", "podman" },
	{ "rkt", "rkt" },
	{ "wsl", "wsl" },
	{ "proot", "proot" },
	{ "pouch", "pouch" },
};

const char *
facts_container_name(const char *value)
{
	size_t	 i;

	if (value == NULL || *value == '\0')
		return NULL;
	for (i = 0; i < nitems(facts_containers); i++) {
		if (strcmp(value, facts_containers[i].value) == 0)
			return facts_containers[i].name;
	}
	return "container-other";
}

const char *
facts_environ_container(const char *env, size_t len, size_t *ret_vlen)
{
	static const char	 var[] = "container=";
	const char		*p = env, *end = env + len, *nul;
	size_t			 elen;

	while (p < end) {
		nul = memchr(p, '\0', (size_t)(end - p));
		elen = nul != NULL ? (size_t)(nul - p) : (size_t)(end - p);
		if (elen >= sizeof(var) - 1 &&
		    memcmp(p, var, sizeof(var) - 1) == 0) {
			*ret_vlen = elen - (sizeof(var) - 1);
			return p + sizeof(var) - 1;
		}
		p += elen + 1;
	}
	return NULL;
}

/* The container one cgroup path component names, or NULL. */
static const char *
facts_cgroup_component(const char *c, size_t len)
{
#define IS(s) (len == sizeof(s) - 1 && memcmp(c, s, len) == 0)
#define HAS_PREFIX(s) (len >= sizeof(s) - 1 && memcmp(c, s, sizeof(s) - 1) == 0)
	if (IS("docker") || (HAS_PREFIX("docker-") && len > 13 &&
	    memcmp(c + len - 6, ".scope", 6) == 0))
		return "docker";
	if (IS("lxc") || HAS_PREFIX("lxc.payload"))
		return "lxc";
	if (HAS_PREFIX("kubepods") || IS("containerd") ||
	    HAS_PREFIX("cri-containerd"))
		return "container-other";
	return NULL;
#undef IS
#undef HAS_PREFIX
}

const char *
facts_cgroup_container(const char *text)
{
	const char	*line = text, *p, *c, *eol, *name;
	int		 colons;

	while (*line != '\0') {
		eol = strchr(line, '\n');
		if (eol == NULL)
			eol = line + strlen(line);
		/* hierarchy-ID:controllers:path */
		for (p = line, colons = 0; p < eol && colons < 2; p++) {
			if (*p == ':')
				colons++;
		}
		while (colons == 2 && p < eol) {
			while (p < eol && *p == '/')
				p++;
			for (c = p; p < eol && *p != '/'; p++)
				;
			if (p > c &&
			    (name = facts_cgroup_component(c,
			    (size_t)(p - c))) != NULL)
				return name;
		}
		line = *eol == '\n' ? eol + 1 : eol;
	}
	return NULL;
}

static const struct {
	const char	*prefix;
	const char	*name;
} facts_dmi_vendors[] = {
	{ "KVM", "kvm" },
	{ "QEMU", "kvm" },
	{ "OpenStack", "kvm" },
	{ "KubeVirt", "kvm" },
	{ "Amazon EC2", "amazon" },
	{ "VMware", "vmware" },
	{ "VMW", "vmware" },
	{ "innotek", "oracle" },
	{ "Oracle", "oracle" },
	{ "VirtualBox", "oracle" },
	{ "Xen", "xen" },
	{ "Bochs", "bochs" },
	{ "Parallels", "parallels" },
	{ "BHYVE", "bhyve" },
	{ "Hyper-V", "microsoft" },
	{ "Apple Virtualization", "apple" },
	{ "Google", "google" },
};

static const char *
facts_dmi_match(const char *s)
{
	size_t	 i;

	for (i = 0; i < nitems(facts_dmi_vendors); i++) {
		if (strncmp(s, facts_dmi_vendors[i].prefix,
		    strlen(facts_dmi_vendors[i].prefix)) == 0)
			return facts_dmi_vendors[i].name;
	}
	return NULL;
}

const char *
facts_dmi_virt(const char *vendor, const char *product)
{
	const char	*name;
	size_t		 plen = strlen(product);

	if (strncmp(vendor, "Microsoft Corporation", 21) == 0 &&
	    strncmp(product, "Virtual Machine", 15) == 0)
		return "microsoft";
	if ((name = facts_dmi_match(vendor)) == NULL)
		name = facts_dmi_match(product);
	/* EC2 bare-metal instances (".metal") are not virtualized. */
	if (name != NULL && strcmp(name, "amazon") == 0 && plen >= 6 &&
	    strcmp(product + plen - 6, ".metal") == 0)
		return NULL;
	return name;
}

struct facts_stat_scan {
	time_t	 btime;
};

static int
facts_stat_cb(char *line, void *arg)
{
	struct facts_stat_scan	*s = arg;

	return facts_stat_btime_line(line, &s->btime) == 0;
}

/* Read a one-line file (hostname, osrelease, DMI) and clean it. */
static int
facts_read_field(struct rootfs *rfs, const char *path, char *out,
    size_t outsz, size_t max)
{
	char	 buf[512];

	if (rootfs_read(rfs, path, buf, sizeof(buf)) == -1) {
		out[0] = '\0';
		return -1;
	}
	buf[strcspn(buf, "\n")] = '\0';
	facts_set(out, outsz, buf, max);
	return 0;
}

static void
facts_virtualization(struct rootfs *rfs, const struct facts_env *env,
    const struct facts_cpuinfo *ci, char *out, size_t outsz)
{
	char		 buf[8192], vendor[128], product[128], value[64];
	const char	*name = NULL, *v;
	ssize_t		 n;
	size_t		 vlen;

	if (env != NULL)
		name = facts_container_name(env->container);
	if (name == NULL &&
	    (n = rootfs_read(rfs, "proc/1/environ", buf, sizeof(buf))) > 0 &&
	    (v = facts_environ_container(buf, (size_t)n, &vlen)) != NULL) {
		snprintf(value, sizeof(value), "%.*s", (int)vlen, v);
		name = facts_container_name(value);
	}
	if (name == NULL && facts_read_field(rfs, "run/systemd/container",
	    value, sizeof(value), sizeof(value) - 1) == 0)
		name = facts_container_name(value);
	if (name == NULL && rootfs_exists(rfs, "run/.containerenv"))
		name = "podman";
	if (name == NULL && rootfs_exists(rfs, ".dockerenv"))
		name = "docker";
	if (name == NULL && rootfs_read(rfs, "proc/1/cgroup", buf,
	    sizeof(buf)) > 0)
		name = facts_cgroup_container(buf);
	if (name == NULL) {
		facts_read_field(rfs, "sys/class/dmi/id/sys_vendor", vendor,
		    sizeof(vendor), sizeof(vendor) - 1);
		facts_read_field(rfs, "sys/class/dmi/id/product_name",
		    product, sizeof(product), sizeof(product) - 1);
		name = facts_dmi_virt(vendor, product);
	}
	if (name == NULL && ci->hypervisor)
		name = "vm";
	if (name == NULL)
		name = "none";
	facts_set(out, outsz, name, FACTS_STR_MAX);
}

int
facts_collect(struct rootfs *rfs, const struct facts_env *env,
    struct facts *ret)
{
	struct facts		 f;
	struct facts_cpuinfo	 ci;
	struct metrics_meminfo	 mi;
	struct facts_stat_scan	 ss;
	char			 buf[FACTS_LINE_MAX];
	int			 n;

	memset(&f, 0, sizeof(f));

	if (facts_read_field(rfs, "proc/sys/kernel/hostname", f.hostname,
	    sizeof(f.hostname), FACTS_STR_MAX) == -1 || f.hostname[0] == '\0')
		facts_read_field(rfs, "etc/hostname", f.hostname,
		    sizeof(f.hostname), FACTS_STR_MAX);

	facts_set(f.os, sizeof(f.os), "linux", FACTS_STR_MAX);

	/* /etc/os-release, else /usr/lib/os-release (os-release(5)). */
	if (rootfs_read(rfs, "etc/os-release", buf, sizeof(buf)) != -1 ||
	    rootfs_read(rfs, "usr/lib/os-release", buf, sizeof(buf)) != -1) {
		facts_os_release_value(buf, "ID", f.platform,
		    sizeof(f.platform));
		facts_clean(f.platform, FACTS_STR_MAX);
		facts_os_release_value(buf, "VERSION_ID", f.platform_version,
		    sizeof(f.platform_version));
		facts_clean(f.platform_version, FACTS_STR_MAX);
	}

	facts_read_field(rfs, "proc/sys/kernel/osrelease", f.kernel_version,
	    sizeof(f.kernel_version), FACTS_STR_MAX);

	if (env != NULL)
		facts_set(f.arch, sizeof(f.arch), facts_goarch(env->machine),
		    FACTS_STR_MAX);

	facts_cpuinfo_init(&ci);
	rootfs_scan_lines(rfs, "proc/cpuinfo", buf, sizeof(buf),
	    facts_cpuinfo_cb, &ci);
	n = -1;
	if (rootfs_read(rfs, "sys/devices/system/cpu/online", buf,
	    sizeof(buf)) > 0)
		n = facts_parse_cpu_list(buf);
	f.cpu_cores = n > 0 ? n : ci.processors;
	facts_cpu_model(&ci, f.cpu_model, sizeof(f.cpu_model));
	facts_clean(f.cpu_model, FACTS_CPU_MODEL_MAX);

	(void)metrics_read_meminfo(rfs, buf, sizeof(buf), &mi);
	if (mi.have & METRICS_MEM_TOTAL)
		f.memory_total = mi.total;
	if (mi.have & METRICS_MEM_SWAP_TOTAL)
		f.swap_total = mi.swap_total;

	/* btime follows the per-CPU and intr lines: scan, do not slurp. */
	ss.btime = 0;
	rootfs_scan_lines(rfs, "proc/stat", buf, sizeof(buf), facts_stat_cb,
	    &ss);
	f.boot_time = ss.btime;

	facts_virtualization(rfs, env, &ci, f.virtualization,
	    sizeof(f.virtualization));

	*ret = f;
	return 0;
}

static json_int_t
facts_json_int(uint64_t v)
{
	return v > INT64_MAX ? INT64_MAX : (json_int_t)v;
}

json_t *
facts_to_json(const struct facts *f, time_t reported_at)
{
	json_t	*o;
	char	 ts[RFC3339_LEN];

	o = json_object();
	json_object_set_new(o, "hostname", json_string(f->hostname));
	json_object_set_new(o, "os", json_string(f->os));
	json_object_set_new(o, "platform", json_string(f->platform));
	json_object_set_new(o, "platform_version",
	    json_string(f->platform_version));
	json_object_set_new(o, "kernel_version",
	    json_string(f->kernel_version));
	json_object_set_new(o, "arch", json_string(f->arch));
	json_object_set_new(o, "cpu_cores", json_integer(f->cpu_cores));
	json_object_set_new(o, "cpu_model", json_string(f->cpu_model));
	json_object_set_new(o, "memory_total",
	    json_integer(facts_json_int(f->memory_total)));
	json_object_set_new(o, "swap_total",
	    json_integer(facts_json_int(f->swap_total)));
	json_object_set_new(o, "virtualization",
	    json_string(f->virtualization));
	if (f->boot_time > 0) {
		fmt_rfc3339(ts, f->boot_time);
		json_object_set_new(o, "boot_time", json_string(ts));
	}
	fmt_rfc3339(ts, reported_at);
	json_object_set_new(o, "reported_at", json_string(ts));
	return o;
}

int
facts_equal(const struct facts *a, const struct facts *b)
{
	return strcmp(a->hostname, b->hostname) == 0 &&
	    strcmp(a->os, b->os) == 0 &&
	    strcmp(a->platform, b->platform) == 0 &&
	    strcmp(a->platform_version, b->platform_version) == 0 &&
	    strcmp(a->kernel_version, b->kernel_version) == 0 &&
	    strcmp(a->arch, b->arch) == 0 &&
	    a->cpu_cores == b->cpu_cores &&
	    strcmp(a->cpu_model, b->cpu_model) == 0 &&
	    a->memory_total == b->memory_total &&
	    a->swap_total == b->swap_total &&
	    strcmp(a->virtualization, b->virtualization) == 0 &&
	    /* btime is derived from uptime and may wobble by a second. */
	    (a->boot_time > b->boot_time ? a->boot_time - b->boot_time :
	    b->boot_time - a->boot_time) <= 1;
}

int
facts_check_due(int64_t now_ms, int64_t checked_ms)
{
	return now_ms - checked_ms >= FACTS_CHECK_MS;
}

int
facts_send_due(int64_t now_ms, int64_t sent_ms, int ever_sent, int changed)
{
	return !ever_sent || changed || now_ms - sent_ms >= FACTS_RESEND_MS;
}
