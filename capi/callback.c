// C side of the capi shell: the callback trampoline (Go cannot call a C function pointer
// directly) and the thread-local marker that lets lk_client_close know it runs inside a
// callback of the client it closes. Symbols are hidden: only lk_* functions are the ABI.
#include <stdint.h>
#include <stddef.h>

typedef void (*lkint_event_cb)(void *user_data, const uint8_t *event, size_t event_len);

void lkint_defined(void *p, size_t n);

static _Thread_local uint64_t lkint_tls_client;

__attribute__((visibility("hidden")))
void lkint_invoke_callback(lkint_event_cb cb, void *user_data, uint64_t client, const uint8_t *event, size_t event_len) {
	uint64_t prev = lkint_tls_client;
	lkint_tls_client = client;
	lkint_defined(&event_len, sizeof event_len); // see memout.c
	cb(user_data, event, event_len);
	lkint_tls_client = prev;
}

__attribute__((visibility("hidden")))
uint64_t lkint_current_callback_client(void) {
	return lkint_tls_client;
}
