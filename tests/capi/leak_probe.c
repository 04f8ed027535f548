/* Deliberately leaks one lk_request response. tests/suites/capi.sh runs it under valgrind to
 * prove that the leak check would catch a forgotten lk_free (a check that can fail). */
#include "lkcore.h"

int main(void) {
  lk_client_t c = lk_client_new(NULL, NULL);
  /* Request { get_version (field 13) = {} } */
  const uint8_t req[] = {(13 << 3) | 2, 0};
  uint8_t *resp = NULL;
  size_t len = 0;
  int32_t st = lk_request(c, req, sizeof req, &resp, &len);
  resp = NULL; /* the leak */
  lk_client_close(c, 0);
  return st == LK_OK ? 0 : 1;
}
