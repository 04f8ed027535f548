// A child forked after liblkcore was loaded cannot use it (the Go runtime's threads do not
// survive fork): every lk_* function must return LK_ERR_FORKED at once there — including the
// calls that would otherwise wait (timeout -1) — while the parent goes on using its client.
// Run natively by tests/suites/capi.sh (not under valgrind: the child exits without cleanup).
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lkcore.h"

static int failures;

#define CHECK(cond)                                                  \
	do {                                                             \
		if (!(cond)) {                                               \
			fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #cond); \
			failures++;                                              \
		}                                                            \
	} while (0)

// child runs in the forked process; its exit status is the number of failed checks.
static int child(lk_client_t c) {
	uint8_t *out = (uint8_t *)&failures; // garbage that must be overwritten with NULL
	size_t n = 7;
	uint8_t req[] = {0x6a, 0x00}; // Request{get_version: {}} (field 13, empty)
	CHECK(lk_request(c, req, sizeof req, &out, &n) == LK_ERR_FORKED && out == NULL && n == 0);
	out = (uint8_t *)&failures, n = 7;
	CHECK(lk_client_next_event(c, -1, &out, &n) == LK_ERR_FORKED && out == NULL && n == 0);
	out = (uint8_t *)&failures, n = 7;
	uint64_t ts = 42;
	bool has_ts = true;
	CHECK(lk_data_track_read(c, 1, -1, &out, &n, &ts, &has_ts) == LK_ERR_FORKED && out == NULL && n == 0 && ts == 0 &&
	      !has_ts);
	CHECK(lk_data_track_push(c, 1, NULL, 0, 0, false) == LK_ERR_FORKED);
	CHECK(lk_data_track_push_paced(c, 1, NULL, 0, 0, false) == LK_ERR_FORKED);
	CHECK(lk_handle_drop(c, 1) == LK_ERR_FORKED);
	CHECK(lk_client_new(NULL, NULL) == 0);
	CHECK(lk_client_close(c, -1) == LK_ERR_FORKED);
	CHECK(lk_abi_version() == LK_ABI_VERSION);
	CHECK(strcmp(lk_status_name(LK_ERR_FORKED), "LK_ERR_FORKED") == 0);
	lk_free(malloc(16));
	lk_free(NULL);
	return failures;
}

int main(void) {
	lk_client_t c = lk_client_new(NULL, NULL);
	CHECK(c != 0);
	uint8_t req[] = {0x6a, 0x00};
	uint8_t *out = NULL;
	size_t n = 0;
	CHECK(lk_request(c, req, sizeof req, &out, &n) == LK_OK);
	lk_free(out);

	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		perror("fork");
		return 1;
	}
	if (pid == 0) _exit(child(c));

	// The child must be done quickly; a hang is a failure (bounded wait: 30 s).
	int status = 0;
	pid_t got = 0;
	for (int i = 0; i < 3000 && got == 0; i++) {
		got = waitpid(pid, &status, WNOHANG);
		if (got == 0) nanosleep(&(struct timespec){.tv_nsec = 10 * 1000 * 1000}, NULL);
	}
	if (got == 0) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		fprintf(stderr, "the forked child hung in an lk_* call\n");
		failures++;
	} else {
		CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}

	// The parent's client still works.
	out = NULL, n = 0;
	CHECK(lk_request(c, req, sizeof req, &out, &n) == LK_OK);
	lk_free(out);
	CHECK(lk_client_close(c, 10000) == LK_OK);
	if (failures == 0) printf("fork_test: OK\n");
	return failures ? 1 : 0;
}
