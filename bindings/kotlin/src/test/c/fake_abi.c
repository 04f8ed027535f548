/* A stand-in for liblkcore, for the binding's load-time ABI check (LoadingTest). By default it
 * has ABI major version 2 and every function of lkcore.h, so that only the version check can
 * fail. Built with -DLK_FAKE_ABI_1_6 it is a library of ABI 1.6, the minor version before
 * lk_data_track_push_paced, and lacks that function and the later lk_data_track_read_frame, as
 * such a library does. */
#include <stddef.h>
#include <stdint.h>

#ifdef LK_FAKE_ABI_1_6
uint32_t lk_abi_version(void) { return (1u << 16) | 6u; }
#else
uint32_t lk_abi_version(void) { return 2u << 16; }
#endif
uint64_t lk_client_new(void *cb, void *ud) { (void)cb; (void)ud; return 0; }
int32_t lk_client_close(uint64_t c, int32_t t) { (void)c; (void)t; return 8; }
int32_t lk_request(uint64_t c, const uint8_t *r, size_t n, uint8_t **o, size_t *on) {
  (void)c; (void)r; (void)n; (void)o; (void)on; return 8;
}
int32_t lk_client_next_event(uint64_t c, int32_t t, uint8_t **e, size_t *n) { (void)c; (void)t; (void)e; (void)n; return 8; }
void lk_free(void *p) { (void)p; }
int32_t lk_handle_drop(uint64_t c, uint64_t h) { (void)c; (void)h; return 8; }
int32_t lk_data_track_push(uint64_t c, uint64_t t, const uint8_t *d, size_t n, uint64_t ts, _Bool has) {
  (void)c; (void)t; (void)d; (void)n; (void)ts; (void)has; return 8;
}
#ifndef LK_FAKE_ABI_1_6
int32_t lk_data_track_push_paced(uint64_t c, uint64_t t, const uint8_t *d, size_t n, uint64_t ts, _Bool has) {
  (void)c; (void)t; (void)d; (void)n; (void)ts; (void)has; return 8;
}
#endif
int32_t lk_data_track_read(uint64_t c, uint64_t s, int32_t t, uint8_t **f, size_t *n, uint64_t *ts, _Bool *has) {
  (void)c; (void)s; (void)t; (void)f; (void)n; (void)ts; (void)has; return 8;
}
#ifndef LK_FAKE_ABI_1_6
int32_t lk_data_track_read_frame(uint64_t c, uint64_t s, int32_t t, uint8_t **f, size_t *n, uint64_t *ts, _Bool *has,
                                 uint64_t *dropped) {
  (void)c; (void)s; (void)t; (void)f; (void)n; (void)ts; (void)has; (void)dropped; return 8;
}
#endif
const char *lk_status_name(int32_t s) { (void)s; return "LK_ERR_UNKNOWN"; }
