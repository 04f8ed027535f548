/* Compiled by check_header.sh as C11 and as C++ with every warning an error: lkcore.h must be
 * self-contained and clean, and each function must link against liblkcore.so with the
 * declared type. Returns 0 if the loaded library matches the header's ABI version. */
#include "lkcore.h"

#include <stdio.h>

int main(void) {
  uint32_t (*abi_version)(void) = lk_abi_version;
  lk_client_t (*client_new)(lk_event_callback, void *) = lk_client_new;
  int32_t (*client_close)(lk_client_t, int32_t) = lk_client_close;
  int32_t (*request)(lk_client_t, const uint8_t *, size_t, uint8_t **, size_t *) = lk_request;
  int32_t (*next_event)(lk_client_t, int32_t, uint8_t **, size_t *) = lk_client_next_event;
  void (*free_fn)(void *) = lk_free;
  int32_t (*handle_drop)(lk_client_t, lk_handle_t) = lk_handle_drop;
  int32_t (*push)(lk_client_t, lk_handle_t, const uint8_t *, size_t, uint64_t, bool) = lk_data_track_push;
  int32_t (*push_paced)(lk_client_t, lk_handle_t, const uint8_t *, size_t, uint64_t, bool) = lk_data_track_push_paced;
  int32_t (*read)(lk_client_t, lk_handle_t, int32_t, uint8_t **, size_t *, uint64_t *, bool *) = lk_data_track_read;
  int32_t (*read_frame)(lk_client_t, lk_handle_t, int32_t, uint8_t **, size_t *, uint64_t *, bool *, uint64_t *) =
      lk_data_track_read_frame;
  const char *(*status_name)(int32_t) = lk_status_name;

  uint32_t v = abi_version();
  lk_client_t c = client_new(NULL, NULL);
  int ok = LK_ABI_COMPATIBLE(v) && c != 0 && client_close(c, 0) == LK_OK;
  (void)request, (void)next_event, (void)free_fn, (void)handle_drop, (void)push, (void)push_paced, (void)read,
      (void)read_frame;
  printf("liblkcore ABI %u.%u, header %u.%u: %s\n", (unsigned)(v >> 16), (unsigned)(v & 0xFFFFu),
         (unsigned)LK_ABI_VERSION_MAJOR, (unsigned)LK_ABI_VERSION_MINOR, status_name(ok ? LK_OK : LK_ERR_INTERNAL));
  return ok ? 0 : 1;
}
