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

static void on_event(void *ud, pbv ev) {
  (void)ud;
  pbv room;
  if (pb_get(ev, LKX_EV_ROOM, &room) && pb_has(room, LKX_ROOM_DISCONNECTED)) fprintf(stderr, "room disconnected\n");
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
  uint64_t room = lkx_connect(c, url, token, 1, on_event, NULL);
  if (!room) return 1;
  printf("connected\n");

  /* PublishDataTrackRequest (ASYNC): the completion carries the track handle. */
  pbw pub = {0}, req = {0};
  pbw_varint(&pub, 1, room);
  pbw_str(&pub, 2, name);
  pbw_varint(&req, LKX_REQ_ID, 2);
  pbw_msg(&req, LKX_REQ_PUBLISH_DATA_TRACK, &pub);
  int32_t st = lkx_request(c, &req, NULL, NULL);
  pbw_free(&req);
  pbw_free(&pub);
  uint8_t *buf = NULL;
  pbv comp;
  if (st != LK_OK || lkx_wait_completion(c, 2, 30000, on_event, NULL, &buf, &comp) != LK_OK) {
    lk_client_close(c, 5000);
    return 1;
  }
  pbv owned = pb_sub(pb_sub(comp, 40), 1); /* publish_data_track.track */
  uint64_t track = pb_u(owned, 1);
  char sid[128];
  printf("published track %s (%s)\n", name, pb_str(pb_sub(owned, 2), 1, sid, sizeof sid));
  lk_free(buf);

  long sent = 0, full = 0;
  for (long i = 0; i < frames; i++) {
    char frame[64];
    int n = snprintf(frame, sizeof frame, "frame %ld", i);
    for (;;) {
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
    uint8_t *evb;
    pbv ev;
    while (lkx_next(c, 0, &evb, &ev) == LK_OK) {
      on_event(NULL, ev);
      lk_free(evb);
    }
    if (hz > 0) lkx_sleep_ms(1000 / hz);
  }
  printf("pushed %ld frames (%ld queue-full retries)\n", sent, full);

  lk_handle_drop(c, track); /* unpublishes */
  lk_handle_drop(c, room);  /* disconnects */
  lk_client_close(c, 5000);
  return sent == frames ? 0 : 1;
}
