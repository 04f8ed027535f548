/*
 * dt_publisher — publishes a data track and pushes frames on it through the fast path.
 *
 *   dt_publisher URL TOKEN [TRACK_NAME] [FRAMES] [HZ]
 *
 * Defaults: track "sensor", 100 frames at 50 Hz. Each frame is "frame N" with the Unix time
 * in milliseconds as its user timestamp. Works against the devsfu CLI or any LiveKit server
 * with data tracks.
 */
#include "lkex.h"

static void on_event(void *ud, const lkx_event_t *ev) {
  (void)ud;
  const Lkcore__Ffi__V1__RoomEvent *room = lkx_room_event(ev);
  if (room && room->message_case == LKCORE__FFI__V1__ROOM_EVENT__MESSAGE_DISCONNECTED) fprintf(stderr, "room disconnected\n");
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s URL TOKEN [TRACK_NAME] [FRAMES] [HZ]\n", argv[0]);
    return 2;
  }
  const char *url = argv[1], *token = argv[2];
  const char *name = argc > 3 ? argv[3] : "sensor";
  long frames = argc > 4 ? atol(argv[4]) : 100;
  long hz = argc > 5 ? atol(argv[5]) : 50;
  if (!LK_ABI_COMPATIBLE(lk_abi_version())) {
    fprintf(stderr, "liblkcore ABI %u.%u is not compatible with this program\n", lk_abi_version() >> 16, lk_abi_version() & 0xffff);
    return 1;
  }

  lk_client_t c = lk_client_new(NULL, NULL); /* pull mode: this thread takes the events */
  uint64_t room = lkx_create_room(c);
  if (!room || lkx_connect(c, room, url, token, 1, on_event, NULL, NULL) != LK_OK) {
    lk_client_close(c, 5000);
    return 1;
  }
  printf("connected\n");

  /* PublishDataTrackRequest (ASYNC): the completion carries the track handle. */
  Lkcore__Ffi__V1__PublishDataTrackRequest pub = LKCORE__FFI__V1__PUBLISH_DATA_TRACK_REQUEST__INIT;
  pub.room_handle = room;
  pub.name = (char *)name;
  lkx_request_t req = LKCORE__FFI__V1__REQUEST__INIT;
  req.request_id = 2;
  req.message_case = LKCORE__FFI__V1__REQUEST__MESSAGE_PUBLISH_DATA_TRACK;
  req.publish_data_track = &pub;
  int32_t st = lkx_request(c, &req, NULL);
  lkx_event_t *done = NULL;
  if (st != LK_OK || lkx_wait_completion(c, 2, 30000, on_event, NULL, &done) != LK_OK) {
    lk_client_close(c, 5000);
    return 1;
  }
  const Lkcore__Ffi__V1__OwnedLocalDataTrack *owned =
      done->completion->result_case == LKCORE__FFI__V1__COMPLETION__RESULT_PUBLISH_DATA_TRACK
          ? done->completion->publish_data_track->track
          : NULL;
  if (!owned) {
    fprintf(stderr, "publish completed without a track\n");
    lkx_event_free(done);
    lk_client_close(c, 5000);
    return 1;
  }
  uint64_t track = owned->handle;
  printf("published track %s (%s)\n", name, owned->info ? owned->info->sid : "?");
  lkx_event_free(done);

  long sent = 0, full = 0;
  for (long i = 0; i < frames; i++) {
    char frame[64];
    int n = snprintf(frame, sizeof frame, "frame %ld", i);
    for (;;) {
      /* The fast path: no protobuf per frame. */
      st = lk_data_track_push(c, track, (const uint8_t *)frame, (size_t)n, lkx_now_ms(), true);
      if (st != LK_ERR_QUEUE_FULL) break;
      full++; /* nothing was queued: wait a little and retry */
      lkx_sleep_ms(2);
    }
    if (st != LK_OK) {
      fprintf(stderr, "push failed: %s\n", lk_status_name(st));
      break;
    }
    sent++;
    /* Keep taking events (log records, participants) so the queue never fills up. */
    lkx_drain(c, on_event, NULL);
    if (hz > 0) lkx_sleep_ms(1000 / hz);
  }
  printf("pushed %ld frames (%ld queue-full retries)\n", sent, full);

  lk_handle_drop(c, track); /* unpublishes */
  lk_handle_drop(c, room);  /* disconnects */
  lk_client_close(c, 5000);
  return sent == frames ? 0 : 1;
}
