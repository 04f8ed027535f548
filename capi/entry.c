// The public entry points (lk_* in lkcore.h, except lk_status_name in status.c). Each checks
// that it runs in the process that loaded the library, then calls its Go implementation
// (lkint_go_*, exports.go). In a child created by fork() after loading, the Go runtime's
// threads are gone and entering it can hang for good (a lock held by a thread that no longer
// exists), so the check is made here, in C, before any Go code runs: every call returns
// LK_ERR_FORKED at once (lk_client_new 0; lk_free still frees: the buffers are malloc'd).
// cgo exports the lkint_go_* symbols too (it cannot hide them); they are not part of the ABI.
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "lkcore.h"
#include "_cgo_export.h"

static atomic_bool lkint_forked;

static void lkint_mark_forked(void) { atomic_store_explicit(&lkint_forked, true, memory_order_relaxed); }

// Runs when the library is loaded (before any lk_* call can be made).
__attribute__((constructor)) static void lkint_watch_fork(void) { pthread_atfork(NULL, NULL, lkint_mark_forked); }

static inline bool forked(void) { return atomic_load_explicit(&lkint_forked, memory_order_relaxed); }

// forked_out answers a call with a buffer out-parameter in a forked child: NULL/0, LK_ERR_FORKED.
static int32_t forked_out(uint8_t **out, size_t *out_len) {
	if (out != NULL && out_len != NULL) {
		*out = NULL;
		*out_len = 0;
	}
	return LK_ERR_FORKED;
}

uint32_t lk_abi_version(void) { return LK_ABI_VERSION; }

lk_client_t lk_client_new(lk_event_callback callback, void *user_data) {
	if (forked()) return 0;
	return lkint_go_client_new(callback, user_data);
}

int32_t lk_client_close(lk_client_t client, int32_t timeout_ms) {
	if (forked()) return LK_ERR_FORKED;
	return lkint_go_client_close(client, timeout_ms);
}

int32_t lk_request(lk_client_t client, const uint8_t *request, size_t request_len, uint8_t **response,
                   size_t *response_len) {
	if (forked()) return forked_out(response, response_len);
	return lkint_go_request(client, (uint8_t *)request, request_len, response, response_len);
}

int32_t lk_client_next_event(lk_client_t client, int32_t timeout_ms, uint8_t **event, size_t *event_len) {
	if (forked()) return forked_out(event, event_len);
	return lkint_go_client_next_event(client, timeout_ms, event, event_len);
}

void lk_free(void *ptr) { free(ptr); }

int32_t lk_handle_drop(lk_client_t client, lk_handle_t handle) {
	if (forked()) return LK_ERR_FORKED;
	return lkint_go_handle_drop(client, handle);
}

int32_t lk_data_track_push(lk_client_t client, lk_handle_t track, const uint8_t *data, size_t len,
                           uint64_t user_timestamp, bool has_user_timestamp) {
	if (forked()) return LK_ERR_FORKED;
	return lkint_go_data_track_push(client, track, (uint8_t *)data, len, user_timestamp, has_user_timestamp);
}

int32_t lk_data_track_push_paced(lk_client_t client, lk_handle_t track, const uint8_t *data, size_t len,
                                 uint64_t user_timestamp, bool has_user_timestamp) {
	if (forked()) return LK_ERR_FORKED;
	return lkint_go_data_track_push_paced(client, track, (uint8_t *)data, len, user_timestamp, has_user_timestamp);
}

int32_t lk_data_track_read(lk_client_t client, lk_handle_t subscription, int32_t timeout_ms, uint8_t **frame,
                           size_t *frame_len, uint64_t *user_timestamp, bool *has_user_timestamp) {
	return lk_data_track_read_frame(client, subscription, timeout_ms, frame, frame_len, user_timestamp,
	                                has_user_timestamp, NULL);
}

int32_t lk_data_track_read_frame(lk_client_t client, lk_handle_t subscription, int32_t timeout_ms,
                                 uint8_t **frame, size_t *frame_len, uint64_t *user_timestamp,
                                 bool *has_user_timestamp, uint64_t *dropped_before) {
	if (forked()) {
		if (user_timestamp != NULL) *user_timestamp = 0;
		if (has_user_timestamp != NULL) *has_user_timestamp = false;
		if (dropped_before != NULL) *dropped_before = 0;
		return forked_out(frame, frame_len);
	}
	return lkint_go_data_track_read_frame(client, subscription, timeout_ms, frame, frame_len, user_timestamp,
	                                has_user_timestamp, dropped_before);
}
