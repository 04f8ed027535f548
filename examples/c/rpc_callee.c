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

/* answer sends the RespondRpcRequest for one invocation; returns the request's status. */
static int32_t answer(lk_client_t c, uint64_t room, const Lkcore__Ffi__V1__RpcInvocation *inv) {
  Lkcore__Ffi__V1__RespondRpcRequest respond = LKCORE__FFI__V1__RESPOND_RPC_REQUEST__INIT;
  Lkcore__Ffi__V1__RpcError err = LKCORE__FFI__V1__RPC_ERROR__INIT;
  char *rev = NULL;
  respond.room_handle = room;
  respond.invocation_id = inv->invocation_id;
  if (strcmp(inv->payload, "fail") == 0) {
    err.code = 2001;
    err.message = (char *)"asked to fail";
    respond.result_case = LKCORE__FFI__V1__RESPOND_RPC_REQUEST__RESULT_ERROR;
    respond.error = &err;
  } else {
    size_t n = strlen(inv->payload);
    rev = (char *)malloc(n + 1);
    if (!rev) lkx_oom();
    for (size_t i = 0; i < n; i++) rev[i] = inv->payload[n - 1 - i];
    rev[n] = 0;
    respond.result_case = LKCORE__FFI__V1__RESPOND_RPC_REQUEST__RESULT_PAYLOAD;
    respond.payload = rev;
  }
  lkx_request_t req = LKCORE__FFI__V1__REQUEST__INIT;
  req.message_case = LKCORE__FFI__V1__REQUEST__MESSAGE_RESPOND_RPC;
  req.respond_rpc = &respond;
  int32_t st = lkx_request(c, &req, NULL);
  free(rev);
  return st;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s URL TOKEN [METHOD] [CALLS]\n", argv[0]);
    return 2;
  }
  const char *method = argc > 3 ? argv[3] : "reverse";
  long calls = argc > 4 ? atol(argv[4]) : -1;
  if (!LK_ABI_COMPATIBLE(lk_abi_version())) return 1;

  lk_client_t c = lk_client_new(NULL, NULL);
  uint64_t room = lkx_create_room(c);
  if (!room) {
    lk_client_close(c, 5000);
    return 1;
  }

  Lkcore__Ffi__V1__RegisterRpcMethodRequest reg = LKCORE__FFI__V1__REGISTER_RPC_METHOD_REQUEST__INIT;
  reg.room_handle = room;
  reg.method = (char *)method;
  lkx_request_t req = LKCORE__FFI__V1__REQUEST__INIT;
  req.message_case = LKCORE__FFI__V1__REQUEST__MESSAGE_REGISTER_RPC_METHOD;
  req.register_rpc_method = &reg;
  if (lkx_request(c, &req, NULL) != LK_OK || lkx_connect(c, room, argv[1], argv[2], 1, NULL, NULL, NULL) != LK_OK) {
    lk_client_close(c, 5000);
    return 1;
  }
  printf("connected; answering %s\n", method);
  fflush(stdout);

  long answered = 0;
  for (;;) {
    lkx_event_t *ev;
    bool done = calls >= 0 && answered >= calls;
    if (lkx_next(c, done ? 5000 : -1, &ev) != LK_OK) break;
    const Lkcore__Ffi__V1__RoomEvent *room_ev = lkx_room_event(ev);
    if (room_ev) {
      if (room_ev->message_case == LKCORE__FFI__V1__ROOM_EVENT__MESSAGE_DISCONNECTED ||
          (done && room_ev->message_case == LKCORE__FFI__V1__ROOM_EVENT__MESSAGE_PARTICIPANT_DISCONNECTED)) {
        lkx_event_free(ev);
        break;
      }
      if (room_ev->message_case == LKCORE__FFI__V1__ROOM_EVENT__MESSAGE_RPC_INVOCATION) {
        int32_t st = answer(c, room, room_ev->rpc_invocation);
        printf("answered a call from %s (%s)\n", room_ev->rpc_invocation->caller_identity, lk_status_name(st));
        fflush(stdout);
        answered++;
      }
    }
    lkx_event_free(ev);
  }
  lk_handle_drop(c, room);
  lk_client_close(c, 5000);
  return 0;
}
