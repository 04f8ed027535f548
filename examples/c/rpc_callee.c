/*
 * rpc_callee — answers RPC calls: registers METHOD before connecting (so no early call is
 * missed by the library), then answers each RpcInvocation with the payload reversed.
 *
 *   rpc_callee URL TOKEN [METHOD] [CALLS]
 *
 * Exits after CALLS answered calls, once a caller left or 5 s passed, so the last response
 * is on its way before leaving (default: run until the room disconnects). A payload "fail" is
 * answered with application error 2001 to show error responses.
 */
#include "lkex.h"

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s URL TOKEN [METHOD] [CALLS]\n", argv[0]);
    return 2;
  }
  const char *method = argc > 3 ? argv[3] : "reverse";
  long calls = argc > 4 ? atol(argv[4]) : -1;
  if (!LK_ABI_COMPATIBLE(lk_abi_version())) return 1;

  lk_client_t c = lk_client_new(NULL, NULL);
  pbw body = {0}, req = {0};
  pbw_msg(&req, LKX_REQ_CREATE_ROOM, &body);
  uint8_t *rbuf = NULL;
  pbv resp;
  if (lkx_request(c, &req, &rbuf, &resp) != LK_OK) return 1;
  pbw_free(&req);
  uint64_t room = pb_u(pb_sub(pb_sub(resp, 20), 1), 1);
  lk_free(rbuf);

  pbw reg = {0};
  pbw_varint(&reg, 1, room);
  pbw_str(&reg, 2, method);
  pbw_msg(&req, LKX_REQ_REGISTER_RPC_METHOD, &reg);
  int32_t st = lkx_request(c, &req, NULL, NULL);
  pbw_free(&req);
  pbw_free(&reg);
  if (st != LK_OK) return 1;

  pbw conn = {0};
  pbw_varint(&conn, 1, room);
  pbw_str(&conn, 2, argv[1]);
  pbw_str(&conn, 3, argv[2]);
  pbw_varint(&req, LKX_REQ_ID, 1);
  pbw_msg(&req, LKX_REQ_CONNECT, &conn);
  st = lkx_request(c, &req, NULL, NULL);
  pbw_free(&req);
  pbw_free(&conn);
  if (st != LK_OK || lkx_wait_completion(c, 1, 30000, NULL, NULL, NULL, NULL) != LK_OK) return 1;
  printf("connected; answering %s\n", method);
  fflush(stdout);

  long answered = 0;
  for (;;) {
    uint8_t *evb;
    pbv ev, room_ev, inv;
    bool done = calls >= 0 && answered >= calls;
    st = lkx_next(c, done ? 5000 : -1, &evb, &ev);
    if (st != LK_OK) break;
    if (pb_get(ev, LKX_EV_ROOM, &room_ev)) {
      if (pb_has(room_ev, LKX_ROOM_DISCONNECTED) || (done && pb_has(room_ev, LKX_ROOM_PARTICIPANT_DISCONNECTED))) {
        lk_free(evb);
        break;
      }
      if (pb_get(room_ev, LKX_ROOM_RPC_INVOCATION, &inv)) {
        char caller[256];
        pbv payload = pb_sub(inv, 4);
        pb_str(inv, 3, caller, sizeof caller);
        /* RespondRpcRequest: room_handle 1, invocation_id 2, payload 3 | error 4. */
        pbw answer = {0};
        pbw_varint(&answer, 1, room);
        pbw_varint(&answer, 2, pb_u(inv, 1));
        if (payload.n == 4 && memcmp(payload.p, "fail", 4) == 0) {
          pbw e = {0};
          pbw_varint(&e, 1, 2001);
          pbw_str(&e, 2, "asked to fail");
          pbw_msg(&answer, 4, &e);
          pbw_free(&e);
        } else {
          char *rev = (char *)malloc(payload.n + 1);
          for (size_t i = 0; i < payload.n; i++) rev[i] = (char)payload.p[payload.n - 1 - i];
          pbw_bytes(&answer, 3, rev, payload.n);
          free(rev);
        }
        pbw_msg(&req, LKX_REQ_RESPOND_RPC, &answer);
        st = lkx_request(c, &req, NULL, NULL);
        pbw_free(&req);
        pbw_free(&answer);
        printf("answered a call from %s (%s)\n", caller, lk_status_name(st));
        fflush(stdout);
        answered++;
      }
    }
    lk_free(evb);
  }
  lk_handle_drop(c, room);
  lk_client_close(c, 5000);
  return 0;
}
