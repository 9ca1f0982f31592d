/*
 * Unit tests for notify.c: datagrams arrive on a socket the test binds
 * (filesystem path and abstract name), and the watchdog variables.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "notify.h"

/* Bind a datagram socket; name starting with '@' is abstract. */
static int
bind_dgram(const char *name)
{
	struct sockaddr_un	 sun;
	socklen_t		 len;
	int			 fd;

	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	assert_true(strlen(name) < sizeof(sun.sun_path));
	memcpy(sun.sun_path, name, strlen(name));
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
	    strlen(name));
	if (name[0] == '@')
		sun.sun_path[0] = '\0';
	else
		len++;
	assert_int_equal(bind(fd, (struct sockaddr *)&sun, len), 0);
	return fd;
}

/* Receive one datagram, failing (not hanging) after 5 s. */
static void
expect_datagram(int fd, const char *want)
{
	struct pollfd	 pfd = { fd, POLLIN, 0 };
	char		 got[512];
	ssize_t		 n;

	assert_int_equal(poll(&pfd, 1, 5000), 1);
	n = recv(fd, got, sizeof(got) - 1, MSG_DONTWAIT);
	assert_true(n >= 0);
	got[n] = '\0';
	assert_string_equal(got, want);
}

/* Every descriptor above stderr must be close-on-exec. */
static void
assert_all_cloexec(void)
{
	DIR		*d;
	struct dirent	*de;
	int		 fd;

	assert_non_null(d = opendir("/proc/self/fd"));
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		fd = atoi(de->d_name);
		if (fd <= 2 || fd == dirfd(d))
			continue;
		if (!(fcntl(fd, F_GETFD) & FD_CLOEXEC))
			fail_msg("fd %d is not close-on-exec", fd);
	}
	closedir(d);
}

static void
test_unset_is_noop(void **state)
{
	unsetenv("NOTIFY_SOCKET");
	assert_int_equal(notify_init(), 0);
	assert_int_equal(notify_enabled(), 0);
	assert_int_equal(notify_send("READY=1"), 0);
	setenv("NOTIFY_SOCKET", "", 1);
	assert_int_equal(notify_init(), 0);
	assert_int_equal(notify_enabled(), 0);
	notify_close();
	notify_close();
	unsetenv("NOTIFY_SOCKET");
}

static void
test_path_socket(void **state)
{
	char	 dir[] = "/tmp/test_notify.XXXXXX", path[128];
	int	 fd;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/notify", dir);
	fd = bind_dgram(path);
	setenv("NOTIFY_SOCKET", path, 1);
	assert_int_equal(notify_init(), 0);
	assert_int_equal(notify_enabled(), 1);
	assert_all_cloexec();
	assert_int_equal(notify_send("READY=1\nSTATUS=connected"), 0);
	expect_datagram(fd, "READY=1\nSTATUS=connected");
	assert_int_equal(notify_send("WATCHDOG=1"), 0);
	expect_datagram(fd, "WATCHDOG=1");
	notify_close();
	assert_int_equal(notify_enabled(), 0);
	close(fd);
	unlink(path);
	rmdir(dir);
	unsetenv("NOTIFY_SOCKET");
}

static void
test_abstract_socket(void **state)
{
	char	 name[64];
	int	 fd;

	snprintf(name, sizeof(name), "@lattice-test-notify-%ld",
	    (long)getpid());
	fd = bind_dgram(name);
	setenv("NOTIFY_SOCKET", name, 1);
	assert_int_equal(notify_init(), 0);
	assert_int_equal(notify_send("STOPPING=1"), 0);
	expect_datagram(fd, "STOPPING=1");
	notify_close();
	close(fd);
	unsetenv("NOTIFY_SOCKET");
}

static void
test_send_to_missing_peer_fails(void **state)
{
	setenv("NOTIFY_SOCKET", "/nonexistent/lattice/notify", 1);
	assert_int_equal(notify_init(), 0);
	assert_int_equal(notify_send("READY=1"), -1);
	notify_close();
	unsetenv("NOTIFY_SOCKET");
}

static void
test_bad_addresses(void **state)
{
	static const char	*bad[] = { "relative/path", "@", "vsock:2:1" };
	char			 longpath[200];
	size_t			 i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		setenv("NOTIFY_SOCKET", bad[i], 1);
		errno = 0;
		assert_int_equal(notify_init(), -1);
		assert_int_equal(errno, EINVAL);
		assert_int_equal(notify_enabled(), 0);
	}
	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = '\0';
	setenv("NOTIFY_SOCKET", longpath, 1);
	assert_int_equal(notify_init(), -1);
	unsetenv("NOTIFY_SOCKET");
}

static void
test_watchdog(void **state)
{
	char	 pid[32];

	snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
	assert_int_equal(notify_watchdog_usec(), 0);
	setenv("WATCHDOG_USEC", "30000000", 1);
	assert_int_equal(notify_watchdog_usec(), 30000000);
	setenv("WATCHDOG_PID", pid, 1);
	assert_int_equal(notify_watchdog_usec(), 30000000);
	setenv("WATCHDOG_PID", "1", 1);
	assert_int_equal(notify_watchdog_usec(), getpid() == 1 ? 30000000 : 0);
	setenv("WATCHDOG_PID", "x", 1);
	assert_int_equal(notify_watchdog_usec(), 0);
	unsetenv("WATCHDOG_PID");
	setenv("WATCHDOG_USEC", "0", 1);
	assert_int_equal(notify_watchdog_usec(), 0);
	setenv("WATCHDOG_USEC", "-5", 1);
	assert_int_equal(notify_watchdog_usec(), 0);
	setenv("WATCHDOG_USEC", "12abc", 1);
	assert_int_equal(notify_watchdog_usec(), 0);
	setenv("WATCHDOG_USEC", "99999999999999999999999", 1);
	assert_int_equal(notify_watchdog_usec(), 0);
	unsetenv("WATCHDOG_USEC");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unset_is_noop),
		cmocka_unit_test(test_path_socket),
		cmocka_unit_test(test_abstract_socket),
		cmocka_unit_test(test_send_to_missing_peer_fails),
		cmocka_unit_test(test_bad_addresses),
		cmocka_unit_test(test_watchdog),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
