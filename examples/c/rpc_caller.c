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

static void on_event(void *ud, const lkx_event_t *ev) {
  struct wait_for *w = (struct wait_for *)ud;
  const Lkcore__Ffi__V1__RoomEvent *room = lkx_room_event(ev);
  if (room && room->message_case == LKCORE__FFI__V1__ROOM_EVENT__MESSAGE_PARTICIPANT_CONNECTED &&
      room->participant_connected->info && strcmp(room->participant_connected->info->identity, w->identity) == 0)
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
  uint64_t room = lkx_create_room(c);
  lkx_event_t *done = NULL;
  if (!room || lkx_connect(c, room, argv[1], argv[2], 1, on_event, &w, &done) != LK_OK) {
    lk_client_close(c, 5000);
    return 1;
  }
  /* The ConnectResult lists the participants already in the room. */
  if (done->completion->result_case == LKCORE__FFI__V1__COMPLETION__RESULT_CONNECT) {
    const Lkcore__Ffi__V1__ConnectResult *result = done->completion->connect;
    for (size_t i = 0; i < result->n_remote_participants; i++)
      if (strcmp(result->remote_participants[i]->identity, w.identity) == 0) w.present = true;
  }
  lkx_event_free(done);

  while (!w.present) {
    lkx_event_t *ev;
    if (lkx_next(c, 30000, &ev) != LK_OK) {
      fprintf(stderr, "%s did not join\n", w.identity);
      lk_client_close(c, 5000);
      return 1;
    }
    on_event(&w, ev);
    lkx_event_free(ev);
  }

  Lkcore__Ffi__V1__PerformRpcRequest call = LKCORE__FFI__V1__PERFORM_RPC_REQUEST__INIT;
  call.room_handle = room;
  call.destination_identity = (char *)w.identity;
  call.method = (char *)method;
  call.payload = (char *)payload;
  lkx_request_t req = LKCORE__FFI__V1__REQUEST__INIT;
  req.request_id = 2;
  req.message_case = LKCORE__FFI__V1__REQUEST__MESSAGE_PERFORM_RPC;
  req.perform_rpc = &call;
  if (lkx_request(c, &req, NULL) != LK_OK) {
    lk_client_close(c, 5000);
    return 1;
  }
  int rc = 1;
  int32_t st = lkx_wait_completion(c, 2, 60000, NULL, NULL, &done);
  if (st == LK_OK) {
    const char *answer = done->completion->result_case == LKCORE__FFI__V1__COMPLETION__RESULT_PERFORM_RPC
                             ? done->completion->perform_rpc->payload
                             : "";
    printf("response: %s\n", answer);
    lkx_event_free(done);
    rc = 0;
  } else {
    printf("call failed: %s\n", lk_status_name(st)); /* details were printed by lkx_wait_completion */
  }
  lk_handle_drop(c, room);
  lk_client_close(c, 5000);
  return rc;
}
