/*
 * rpc_caller — calls a method on another participant and prints the answer.
 *
 *   rpc_caller URL TOKEN DESTINATION [METHOD] [PAYLOAD]
 *
 * Waits until DESTINATION is in the room, performs the call (PerformRpcRequest, ASYNC) and
 * prints the response payload, or the RPC error's code and message. Exit status 0 on a
 * successful response.
 */
#include "lkex.h"

struct wait_for {
  const char *identity;
  bool present;
};

static void on_event(void *ud, pbv ev) {
  struct wait_for *w = (struct wait_for *)ud;
  pbv room, pc;
  char id[256];
  if (pb_get(ev, LKX_EV_ROOM, &room) && pb_get(room, LKX_ROOM_PARTICIPANT_CONNECTED, &pc) &&
      strcmp(pb_str(pb_sub(pc, 1), 2, id, sizeof id), w->identity) == 0)
    w->present = true;
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: %s URL TOKEN DESTINATION [METHOD] [PAYLOAD]\n", argv[0]);
    return 2;
  }
  struct wait_for w = {argv[3], false};
  const char *method = argc > 4 ? argv[4] : "reverse";
  const char *payload = argc > 5 ? argv[5] : "hello from C";
  if (!LK_ABI_COMPATIBLE(lk_abi_version())) return 1;

  lk_client_t c = lk_client_new(NULL, NULL);
  pbw body = {0}, req = {0}, conn = {0};
  pbw_msg(&req, LKX_REQ_CREATE_ROOM, &body);
  uint8_t *rbuf = NULL;
  pbv resp;
  if (lkx_request(c, &req, &rbuf, &resp) != LK_OK) return 1;
  pbw_free(&req);
  uint64_t room = pb_u(pb_sub(pb_sub(resp, 20), 1), 1);
  lk_free(rbuf);
  pbw_varint(&conn, 1, room);
  pbw_str(&conn, 2, argv[1]);
  pbw_str(&conn, 3, argv[2]);
  pbw_varint(&req, LKX_REQ_ID, 1);
  pbw_msg(&req, LKX_REQ_CONNECT, &conn);
  int32_t st = lkx_request(c, &req, NULL, NULL);
  pbw_free(&req);
  pbw_free(&conn);
  uint8_t *cbuf = NULL;
  pbv comp;
  if (st != LK_OK || lkx_wait_completion(c, 1, 30000, on_event, &w, &cbuf, &comp) != LK_OK) return 1;
  /* ConnectResult.remote_participants (3), repeated ParticipantInfo (identity = 2). */
  size_t pos = 0;
  uint32_t f;
  uint64_t num;
  pbv val;
  char id[256];
  while (pb_next(pb_sub(comp, 21), &pos, &f, &num, &val))
    if (f == 3 && strcmp(pb_str(val, 2, id, sizeof id), w.identity) == 0) w.present = true;
  lk_free(cbuf);

  while (!w.present) {
    uint8_t *evb;
    pbv ev;
    if (lkx_next(c, 30000, &evb, &ev) != LK_OK) {
      fprintf(stderr, "%s did not join\n", w.identity);
      return 1;
    }
    on_event(&w, ev);
    lk_free(evb);
  }

  /* PerformRpcRequest: room 1, destination 2, method 3, payload 4. */
  pbw call = {0};
  pbw_varint(&call, 1, room);
  pbw_str(&call, 2, w.identity);
  pbw_str(&call, 3, method);
  pbw_str(&call, 4, payload);
  pbw_varint(&req, LKX_REQ_ID, 2);
  pbw_msg(&req, LKX_REQ_PERFORM_RPC, &call);
  st = lkx_request(c, &req, NULL, NULL);
  pbw_free(&req);
  pbw_free(&call);
  if (st != LK_OK) return 1;
  uint8_t *buf = NULL;
  int rc = 1;
  st = lkx_wait_completion(c, 2, 60000, NULL, NULL, &buf, &comp);
  if (st == LK_OK) {
    char out[1024];
    printf("response: %s\n", pb_str(pb_sub(comp, 60), 1, out, sizeof out));
    lk_free(buf);
    rc = 0;
  } else {
    printf("call failed: %s\n", lk_status_name(st)); /* details were printed by lkx_wait_completion */
  }
  lk_handle_drop(c, room);
  lk_client_close(c, 5000);
  return rc;
}
