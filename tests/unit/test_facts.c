/*
 * Unit tests for facts.c: every EXPECTED line of the fixture READMEs
 * (tests/fixtures/<tree>/README.txt), table tests with hostile input for
 * each parser, the JSON shape, and a sanity run against the live "/".
 */
#include <sys/stat.h>
#include <sys/utsname.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "facts.h"
#include "utf8.h"

struct expect {
	const char	*tree;
	const char	*machine;	/* the source's uname -m */
	const char	*hostname;
	const char	*platform;
	const char	*platform_version;
	const char	*kernel_version;
	const char	*arch;
	int		 cpu_cores;
	const char	*cpu_model;
	uint64_t	 memory_total;
	uint64_t	 swap_total;
	const char	*boot_time;	/* "" when empty */
	const char	*virtualization;
};

/* 60 x U+00E9 clamped to 96 bytes: 48 characters. */
#define E48 "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
#define BROKEN_HOSTNAME E48 E48 E48 E48 E48 E48

static const struct expect fixtures[] = {
	{ "alpine-lxc-cgroupv2", "x86_64", "zoneminder", "alpine", "3.17.3",
	    "5.11.22-4-pve", "amd64", 4,
	    "Intel(R) Xeon(R) CPU E5-2697 v4 @ 2.30GHz",
	    4139057152ULL, 1073737728ULL, "2018-02-17T03:27:53Z", "lxc" },
	{ "aws-graviton2-al2023-arm64", "aarch64",
	    "ip-172-31-44-94.ap-southeast-1.compute.internal", "amzn", "2023",
	    "6.1.132-147.221.amzn2023.aarch64", "arm64", 2, "ARM Neoverse-N1",
	    0, 0, "", "amazon" },
	{ "baremetal-noswap-many-ifaces", "x86_64", "dmz01", "ubuntu",
	    "20.04", "5.4.0-113-generic", "amd64", 8,
	    "Intel(R) Core(TM) i7-8650U CPU @ 1.90GHz",
	    16042172416ULL, 0, "2014-12-10T03:47:56Z", "none" },
	{ "broken", "x86_64", BROKEN_HOSTNAME, "", "",
	    "6.1.0[31m-18-amd64", "amd64", 0, "",
	    3831959552ULL, 0, "", "none" },
	{ "debian12-kvm-amd64", "x86_64", "ttrss", "debian", "12",
	    "6.1.0-18-amd64", "amd64", 1, "QEMU Virtual CPU version 2.5+",
	    2052677632ULL, 0, "2016-12-07T04:28:38Z", "kvm" },
	{ "odd-osrelease-opensuse-vm", "x86_64", "", "opensuse-leap", "15.0",
	    "", "amd64", 2, "Intel(R) Xeon(R) CPU E5-2680 v2 @ 2.80GHz",
	    4133560320ULL, 2147479552ULL, "", "vm" },
	{ "openwrt-riscv64", "riscv64", "OpenWrt", "openwrt", "snapshot",
	    "6.6.36", "riscv64", 8, "Spacemit(R) X60", 0, 0, "", "none" },
	{ "rocky9-vmware", "x86_64", "rocky9.localdomain", "rocky", "9.3",
	    "5.14.0-362.13.1.el9_3.x86_64", "amd64", 4,
	    "Intel(R) Xeon(R) CPU E5-2697 v4 @ 2.30GHz",
	    4133560320ULL, 2147479552ULL, "2019-10-19T04:24:43Z", "vmware" },
	{ "rpi4-arm64", "aarch64", "raspberrypi", "debian", "10",
	    "5.10.63-v8+", "arm64", 4, "BCM2835",
	    3925278720ULL, 104853504ULL, "", "none" },
	{ "ubuntu2204-docker-cgroupv1", "x86_64", "cd24e11f73a5", "ubuntu",
	    "22.04", "5.15.0-91-generic", "amd64", 8,
	    "Intel(R) Core(TM) i7-8650U CPU @ 1.90GHz",
	    3831959552ULL, 4294963200ULL, "2014-12-10T03:47:56Z", "docker" },
};

static void
collect_tree(const char *tree, const char *machine, int fallback,
    struct facts *ret)
{
	struct facts_env	 env = { machine, NULL };
	struct rootfs		*rfs;
	char			 dir[1024];

	snprintf(dir, sizeof(dir), "%s/%s", FIXTURES_DIR, tree);
	rfs = rootfs_open(dir);
	if (rfs == NULL)
		fail_msg("%s: cannot open", dir);
	rootfs_set_fallback(rfs, fallback);
	assert_int_equal(facts_collect(rfs, &env, ret), 0);
	rootfs_free(rfs);
}

static void
check_fixtures(int fallback)
{
	const struct expect	*e;
	struct facts		 f;
	char			 bt[RFC3339_LEN];
	size_t			 i;

	for (i = 0; i < sizeof(fixtures) / sizeof(fixtures[0]); i++) {
		e = &fixtures[i];
		collect_tree(e->tree, e->machine, fallback, &f);
		print_message("# %s\n", e->tree);
		assert_string_equal(f.hostname, e->hostname);
		assert_string_equal(f.os, "linux");
		assert_string_equal(f.platform, e->platform);
		assert_string_equal(f.platform_version, e->platform_version);
		assert_string_equal(f.kernel_version, e->kernel_version);
		assert_string_equal(f.arch, e->arch);
		assert_int_equal(f.cpu_cores, e->cpu_cores);
		assert_string_equal(f.cpu_model, e->cpu_model);
		assert_int_equal(f.memory_total, e->memory_total);
		assert_int_equal(f.swap_total, e->swap_total);
		if (*e->boot_time == '\0')
			assert_int_equal(f.boot_time, 0);
		else {
			fmt_rfc3339(bt, f.boot_time);
			assert_string_equal(bt, e->boot_time);
		}
		assert_string_equal(f.virtualization, e->virtualization);
	}
}

static void
test_fixtures(void **state)
{
	check_fixtures(0);
}

static void
test_fixtures_fallback_resolver(void **state)
{
	check_fixtures(1);
}

static void
test_broken_hostname_clamp(void **state)
{
	struct facts	 f;

	collect_tree("broken", "x86_64", 0, &f);
	assert_int_equal(strlen(f.hostname), 96);
	assert_int_equal(utf8_clamp(f.hostname, 96, 96), 96);
}

static void
test_container_env_wins(void **state)
{
	struct facts_env	 env = { "x86_64", "podman" };
	struct rootfs		*rfs;
	struct facts		 f;

	/* The agent's own container= beats the DMI of a KVM tree. */
	assert_non_null(rfs = rootfs_open(FIXTURES_DIR "/debian12-kvm-amd64"));
	facts_collect(rfs, &env, &f);
	assert_string_equal(f.virtualization, "podman");
	env.container = "";
	facts_collect(rfs, &env, &f);
	assert_string_equal(f.virtualization, "kvm");
	facts_collect(rfs, NULL, &f);
	assert_string_equal(f.arch, "");
	assert_string_equal(f.virtualization, "kvm");
	rootfs_free(rfs);
}

static void
put(const char *dir, const char *rel, const char *text, size_t len)
{
	char	 path[1024];
	FILE	*f;

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	assert_non_null(f = fopen(path, "w"));
	assert_int_equal(fwrite(text, 1, len, f), len);
	fclose(f);
}

#define PUT(dir, rel, lit) put(dir, rel, lit, sizeof(lit) - 1)

/*
 * The rules no fixture reaches: etc/hostname, the CPU online list over
 * cpuinfo, run/.containerenv, cgroup-only docker, an absolute os-release
 * link, a FIFO where a file should be.
 */
static void
test_synthetic_tree(void **state)
{
	static const char	*dirs[] = { "etc", "usr", "usr/lib", "run",
	    "proc", "proc/1", "sys", "sys/devices", "sys/devices/system",
	    "sys/devices/system/cpu" };
	struct facts_env	 env = { "armv7l", NULL };
	char			 root[] = "/tmp/test_facts.XXXXXX";
	char			 path[1024], cmd[1100];
	struct rootfs		*rfs;
	struct facts		 f;
	size_t			 i;

	assert_non_null(mkdtemp(root));
	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", root, dirs[i]);
		assert_int_equal(mkdir(path, 0755), 0);
	}
	PUT(root, "etc/hostname", "  node-7 \nsecond line\n");
	PUT(root, "usr/lib/os-release", "ID=\"ubuntu\"\nVERSION_ID='24.04'\n");
	snprintf(path, sizeof(path), "%s/etc/os-release", root);
	assert_int_equal(symlink("/usr/lib/os-release", path), 0);
	PUT(root, "proc/cpuinfo", "processor : 0\nmodel name : ARMv7 rev 5\n");
	PUT(root, "sys/devices/system/cpu/online", "0-5,7\n");
	PUT(root, "proc/1/environ", "container=\0HOME=/\0");
	PUT(root, "proc/1/cgroup", "1:name=systemd:/\n0::/docker/abc\n");
	snprintf(path, sizeof(path), "%s/proc/meminfo", root);
	assert_int_equal(mkfifo(path, 0600), 0);

	assert_non_null(rfs = rootfs_open(root));
	facts_collect(rfs, &env, &f);
	assert_string_equal(f.hostname, "node-7");
	assert_string_equal(f.platform, "ubuntu");
	assert_string_equal(f.platform_version, "24.04");
	assert_string_equal(f.arch, "arm");
	assert_int_equal(f.cpu_cores, 7);
	assert_string_equal(f.cpu_model, "ARMv7 rev 5");
	assert_int_equal(f.memory_total, 0);		/* FIFO: skipped */
	assert_string_equal(f.virtualization, "docker");	/* cgroup */

	PUT(root, "run/.containerenv", "");
	facts_collect(rfs, &env, &f);
	assert_string_equal(f.virtualization, "podman");
	PUT(root, "proc/1/environ", "container=lxc-libvirt");
	facts_collect(rfs, &env, &f);
	assert_string_equal(f.virtualization, "lxc-libvirt");

	/* A broken online list falls back to counting processors. */
	PUT(root, "sys/devices/system/cpu/online", "garbage\n");
	facts_collect(rfs, &env, &f);
	assert_int_equal(f.cpu_cores, 1);
	rootfs_free(rfs);

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	assert_int_equal(system(cmd), 0);
}

static void
test_goarch_table(void **state)
{
	static const struct {
		const char	*m;
		const char	*go;
	} cases[] = {
		{ "x86_64", "amd64" },
		{ "aarch64", "arm64" },
		{ "arm64", "arm64" },
		{ "armv7l", "arm" },
		{ "armv6l", "arm" },
		{ "i386", "386" },
		{ "i686", "386" },
		{ "riscv64", "riscv64" },
		{ "ppc64le", "ppc64le" },
		{ "s390x", "s390x" },
		{ "mips64", "mips64" },
		{ "mips64el", "mips64le" },
		{ "mips", "mips" },
		{ "mipsel", "mipsle" },
		{ "loongarch64", "loong64" },
		{ "sparc64", "sparc64" },	/* unknown: passed through */
		{ "", "" },
	};
	size_t	 i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_string_equal(facts_goarch(cases[i].m), cases[i].go);
	assert_string_equal(facts_goarch(NULL), "");
}

static void
test_os_release_table(void **state)
{
	static const struct {
		const char	*text;
		const char	*key;
		int		 rc;
		const char	*want;
	} cases[] = {
		{ "ID=debian\n", "ID", 0, "debian" },
		{ "ID=\"rocky\"\nVERSION_ID=\"9.3\"\n", "VERSION_ID", 0,
		    "9.3" },
		{ "ID='single quoted'\n", "ID", 0, "single quoted" },
		{ "# VERSION_ID=\"15.0\"\nID=x\n", "VERSION_ID", -1, "" },
		{ "#ID=no\nID=yes", "ID", 0, "yes" },	/* no newline */
		{ "  ID=indented\n", "ID", 0, "indented" },
		{ "ID=a\nID=b\n", "ID", 0, "b" },	/* last wins */
		{ "VERSION_ID=1\n", "ID", -1, "" },	/* not a suffix */
		{ "ID_LIKE=debian\n", "ID", -1, "" },	/* not a prefix */
		{ "ID = spaced\n", "ID", -1, "" },
		{ "ID\n", "ID", -1, "" },		/* missing = */
		{ "ID=\n", "ID", 0, "" },
		{ "ID=\"\"\n", "ID", 0, "" },
		{ "ID=\"a\\\"b\\\\c\\$d\\x\"\n", "ID", 0, "a\"b\\c$d\\x" },
		{ "ID=unq\\ uoted\n", "ID", 0, "unq uoted" },
		{ "ID=foo # comment\n", "ID", 0, "foo" },
		{ "ID=\"unterminated\n", "ID", 0, "unterminated" },
		{ "ID=crlf\r\n", "ID", 0, "crlf" },
		{ "ID=\"a\"'b'c\n", "ID", 0, "abc" },
		{ "", "ID", -1, "" },
		{ "\n\n\n", "ID", -1, "" },
		{ "=\n", "ID", -1, "" },
		{ "ID=x\0ID=hidden\n", "ID", 0, "x" },	/* NUL ends the text */
	};
	char	 out[32];
	size_t	 i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		print_message("# case %zu\n", i);
		assert_int_equal(facts_os_release_value(cases[i].text,
		    cases[i].key, out, sizeof(out)), cases[i].rc);
		assert_string_equal(out, cases[i].want);
	}
	/* Truncation to the output size. */
	assert_int_equal(facts_os_release_value("ID=abcdefgh\n", "ID", out, 4),
	    0);
	assert_string_equal(out, "abc");
}

static void
test_cpuinfo_table(void **state)
{
	struct facts_cpuinfo	 ci;
	char			 model[FACTS_CPU_MODEL_MAX + 1];
	char			 big[600];

	facts_parse_cpuinfo("processor\t: 0\nmodel name\t: A\n"
	    "processor\t: 1\nmodel name\t: B\nflags\t: fpu hypervisor\n", &ci);
	assert_int_equal(ci.processors, 2);
	assert_string_equal(ci.model_name, "A");
	assert_true(ci.hypervisor);

	/* "hypervisor" only as a whole word. */
	facts_parse_cpuinfo("flags : fpu nothypervisor hypervisorx\n", &ci);
	assert_false(ci.hypervisor);
	facts_parse_cpuinfo("flags:hypervisor", &ci);	/* no newline */
	assert_true(ci.hypervisor);

	/* Missing colon, empty values, garbage ids. */
	facts_parse_cpuinfo("processor 0\nmodel name:\nCPU part : zz\n"
	    "CPU implementer : 0x41\n", &ci);
	assert_int_equal(ci.processors, 0);
	assert_string_equal(ci.model_name, "");
	assert_int_equal(ci.part, -1);
	assert_int_equal(ci.implementer, 0x41);
	facts_cpu_model(&ci, model, sizeof(model));
	assert_string_equal(model, "");

	/* Fallback order: model name, Hardware, Processor, ARM ids. */
	facts_parse_cpuinfo("Processor : ARMv7 rev 4\nHardware : BCM2709\n",
	    &ci);
	facts_cpu_model(&ci, model, sizeof(model));
	assert_string_equal(model, "BCM2709");
	facts_parse_cpuinfo("Processor : ARMv7 rev 4\n", &ci);
	facts_cpu_model(&ci, model, sizeof(model));
	assert_string_equal(model, "ARMv7 rev 4");
	facts_parse_cpuinfo("CPU implementer : 0x41\nCPU part : 0xd0c\n"
	    "CPU part : 0xd08\n", &ci);
	facts_cpu_model(&ci, model, sizeof(model));
	assert_string_equal(model, "ARM Neoverse-N1");
	facts_parse_cpuinfo("CPU implementer\t: 0x41\nCPU part\t: 0xfff\n",
	    &ci);
	facts_cpu_model(&ci, model, sizeof(model));
	assert_string_equal(model, "ARM part 0xfff");

	/* s390x style and huge numbers. */
	facts_parse_cpuinfo("processor 0: version = FF\n"
	    "processor 1: version = FF\nCPU part : 0x99999999999\n", &ci);
	assert_int_equal(ci.processors, 2);
	assert_int_equal(ci.part, -1);

	/* Control characters go, a long model is clamped. */
	facts_parse_cpuinfo("model name : Fast\x1b[1m CPU\x07\n", &ci);
	assert_string_equal(ci.model_name, "Fast[1m CPU");
	memset(big, 'x', sizeof(big));
	memcpy(big, "model name: ", 12);
	big[sizeof(big) - 1] = '\0';
	facts_parse_cpuinfo(big, &ci);
	assert_int_equal(strlen(ci.model_name), FACTS_CPU_MODEL_MAX);
}

static void
test_arm_names(void **state)
{
	static const struct {
		int		 impl, part;
		const char	*name;
	} cases[] = {
		{ 0x41, 0xd03, "ARM Cortex-A53" },
		{ 0x41, 0xd05, "ARM Cortex-A55" },
		{ 0x41, 0xd07, "ARM Cortex-A57" },
		{ 0x41, 0xd08, "ARM Cortex-A72" },
		{ 0x41, 0xd09, "ARM Cortex-A73" },
		{ 0x41, 0xd0a, "ARM Cortex-A75" },
		{ 0x41, 0xd0b, "ARM Cortex-A76" },
		{ 0x41, 0xd0d, "ARM Cortex-A77" },
		{ 0x41, 0xd41, "ARM Cortex-A78" },
		{ 0x41, 0xd44, "ARM Cortex-X1" },
		{ 0x41, 0xd0c, "ARM Neoverse-N1" },
		{ 0x41, 0xd49, "ARM Neoverse-N2" },
		{ 0x41, 0xd40, "ARM Neoverse-V1" },
		{ 0x41, 0xd4f, "ARM Neoverse-V2" },
		{ 0x41, 0x123, "ARM part 0x123" },
		{ 0x61, 0x023, "Apple Firestorm-M1" },
		{ 0x51, 0x805, "Qualcomm Kryo-4XX-Silver" },
		{ 0xc0, 0xac3, "Ampere Ampere-1" },
		{ 0x4e, 0x004, "NVIDIA part 0x004" },
		{ 0x99, 0x001, "CPU implementer 0x99 part 0x001" },
	};
	char	 out[64];
	size_t	 i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		facts_arm_cpu_name(cases[i].impl, cases[i].part, out,
		    sizeof(out));
		assert_string_equal(out, cases[i].name);
	}
}

static void
test_cpu_list_table(void **state)
{
	static const struct {
		const char	*text;
		int		 n;
	} cases[] = {
		{ "0\n", 1 },
		{ "0-3\n", 4 },
		{ "0-3,8,10-11\n", 7 },
		{ "0-1", 2 },
		{ "", -1 },
		{ "\n", -1 },
		{ "3-1\n", -1 },
		{ "0-\n", -1 },
		{ "-1\n", -1 },
		{ "0,,1\n", -1 },
		{ "0-3x\n", -1 },
		{ "0-99999999999999999999\n", -1 },
		{ "0-4194304,0-4194304,0-4194304\n", -1 },
	};
	size_t	 i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(facts_parse_cpu_list(cases[i].text),
		    cases[i].n);
}

static void
test_btime_table(void **state)
{
	time_t	 t = 42;

	assert_int_equal(facts_stat_btime_line("btime 1481084918", &t), 0);
	assert_int_equal(t, 1481084918);
	t = 42;
	assert_int_equal(facts_stat_btime_line("btime", &t), -1);
	assert_int_equal(facts_stat_btime_line("btime ", &t), -1);
	assert_int_equal(facts_stat_btime_line("btime -5", &t), -1);
	assert_int_equal(facts_stat_btime_line("btime 12x", &t), -1);
	assert_int_equal(facts_stat_btime_line("btime 0", &t), -1);
	assert_int_equal(facts_stat_btime_line(
	    "btime 99999999999999999999999", &t), -1);
	assert_int_equal(facts_stat_btime_line("btimex 1", &t), -1);
	assert_int_equal(facts_stat_btime_line("cpu 1 2 3", &t), -1);
	assert_int_equal(t, 42);
}

static void
test_virt_parsers(void **state)
{
	static const char	 env1[] = "A=1\0container=lxc\0B=2";
	static const char	 env2[] = "container";
	static const char	 env3[] = "xcontainer=docker\0container=";
	const char		*v;
	size_t			 vlen = 99;

	v = facts_environ_container(env1, sizeof(env1) - 1, &vlen);
	assert_non_null(v);
	assert_int_equal(vlen, 3);
	assert_memory_equal(v, "lxc", 3);
	assert_null(facts_environ_container(env2, sizeof(env2) - 1, &vlen));
	v = facts_environ_container(env3, sizeof(env3) - 1, &vlen);
	assert_non_null(v);
	assert_int_equal(vlen, 0);
	/* Not NUL-terminated at the end: stays within len. */
	v = facts_environ_container("container=oci", 12, &vlen);
	assert_int_equal(vlen, 2);

	assert_string_equal(facts_container_name("lxc"), "lxc");
	assert_string_equal(facts_container_name("systemd-nspawn"),
	    "systemd-nspawn");
	assert_string_equal(facts_container_name("oci"), "container-other");
	assert_null(facts_container_name(""));
	assert_null(facts_container_name(NULL));

	assert_string_equal(facts_cgroup_container(
	    "12:cpu:/docker/0123abcd\n"), "docker");
	assert_string_equal(facts_cgroup_container(
	    "0::/system.slice/docker-0123abcd.scope\n"), "docker");
	assert_string_equal(facts_cgroup_container("1:name=x:/lxc/ct1"),
	    "lxc");
	assert_string_equal(facts_cgroup_container(
	    "0::/lxc.payload.ct1/init.scope"), "lxc");
	assert_string_equal(facts_cgroup_container(
	    "0::/kubepods/besteffort/pod1/abc"), "container-other");
	assert_null(facts_cgroup_container("0::/init.scope\n"));
	assert_null(facts_cgroup_container("0::/system.slice/lxcfs.service"));
	assert_null(facts_cgroup_container(
	    "0::/system.slice/docker.service"));
	assert_null(facts_cgroup_container("0::"));
	assert_null(facts_cgroup_container("docker"));	/* no colons */
	assert_null(facts_cgroup_container(""));

	assert_string_equal(facts_dmi_virt("QEMU", "Standard PC"), "kvm");
	assert_string_equal(facts_dmi_virt("", "KVM"), "kvm");
	assert_string_equal(facts_dmi_virt("Amazon EC2", "t4g.small"),
	    "amazon");
	assert_null(facts_dmi_virt("Amazon EC2", "m6g.metal"));
	assert_string_equal(facts_dmi_virt("VMware, Inc.",
	    "VMware Virtual Platform"), "vmware");
	assert_string_equal(facts_dmi_virt("Microsoft Corporation",
	    "Virtual Machine"), "microsoft");
	assert_null(facts_dmi_virt("Microsoft Corporation", "Surface Pro"));
	assert_string_equal(facts_dmi_virt("Xen", "HVM domU"), "xen");
	assert_string_equal(facts_dmi_virt("innotek GmbH", "VirtualBox"),
	    "oracle");
	assert_string_equal(facts_dmi_virt("Google", "Google Compute Engine"),
	    "google");
	assert_null(facts_dmi_virt("Dell Inc.", "PowerEdge R6515"));
	assert_null(facts_dmi_virt("", "To Be Filled By O.E.M."));
}

static void
test_json_and_equal(void **state)
{
	struct facts	 a, b;
	json_t		*j;
	char		*s;

	collect_tree("debian12-kvm-amd64", "x86_64", 0, &a);
	j = facts_to_json(&a, 1781438400);	/* 2026-06-14T12:00:00Z */
	s = json_dumps(j, JSON_COMPACT);
	assert_string_equal(s, "{\"hostname\":\"ttrss\",\"os\":\"linux\","
	    "\"platform\":\"debian\",\"platform_version\":\"12\","
	    "\"kernel_version\":\"6.1.0-18-amd64\",\"arch\":\"amd64\","
	    "\"cpu_cores\":1,\"cpu_model\":\"QEMU Virtual CPU version 2.5+\","
	    "\"memory_total\":2052677632,\"swap_total\":0,"
	    "\"virtualization\":\"kvm\",\"boot_time\":\"2016-12-07T04:28:38Z\","
	    "\"reported_at\":\"2026-06-14T12:00:00Z\"}");
	free(s);
	json_decref(j);

	/* Unknown boot time is left out, not sent as "". */
	collect_tree("rpi4-arm64", "aarch64", 0, &b);
	j = facts_to_json(&b, 1781438400);
	assert_null(json_object_get(j, "boot_time"));
	assert_non_null(json_object_get(j, "reported_at"));
	json_decref(j);

	assert_true(facts_equal(&a, &a));
	assert_false(facts_equal(&a, &b));
	b = a;
	b.boot_time++;
	assert_true(facts_equal(&a, &b));	/* btime wobble */
	b.boot_time += 5;
	assert_false(facts_equal(&a, &b));
	b = a;
	b.swap_total = 1;
	assert_false(facts_equal(&a, &b));
	b = a;
	strcpy(b.hostname, "other");
	assert_false(facts_equal(&a, &b));
}

static void
test_live_root(void **state)
{
	struct utsname		 u;
	struct facts_env	 env;
	struct rootfs		*rfs;
	struct facts		 f;
	json_t			*j;

	assert_int_equal(uname(&u), 0);
	env.machine = u.machine;
	env.container = getenv("container");
	assert_non_null(rfs = rootfs_open("/"));
	facts_collect(rfs, &env, &f);
	rootfs_free(rfs);
	assert_true(f.memory_total > 0);
	assert_true(f.cpu_cores >= 1);
	assert_string_equal(f.kernel_version, u.release);
	assert_true(f.boot_time > 0);
	assert_true(f.virtualization[0] != '\0');
	assert_true(f.arch[0] != '\0');
	j = facts_to_json(&f, time(NULL));
	assert_non_null(j);
	assert_int_equal(json_object_size(j), 13);
	json_decref(j);
}

static void
test_schedule(void **state)
{
	const int64_t	 h = 60 * 60 * 1000;

	assert_false(facts_check_due(h - 1, 0));
	assert_true(facts_check_due(h, 0));
	/* never sent: send; changed: send; else only after 6 h */
	assert_true(facts_send_due(0, 0, 0, 0));
	assert_true(facts_send_due(10, 0, 1, 1));
	assert_false(facts_send_due(6 * h - 1, 0, 1, 0));
	assert_true(facts_send_due(6 * h, 0, 1, 0));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_schedule),
		cmocka_unit_test(test_fixtures),
		cmocka_unit_test(test_fixtures_fallback_resolver),
		cmocka_unit_test(test_broken_hostname_clamp),
		cmocka_unit_test(test_container_env_wins),
		cmocka_unit_test(test_synthetic_tree),
		cmocka_unit_test(test_goarch_table),
		cmocka_unit_test(test_os_release_table),
		cmocka_unit_test(test_cpuinfo_table),
		cmocka_unit_test(test_arm_names),
		cmocka_unit_test(test_cpu_list_table),
		cmocka_unit_test(test_btime_table),
		cmocka_unit_test(test_virt_parsers),
		cmocka_unit_test(test_json_and_equal),
		cmocka_unit_test(test_live_root),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
