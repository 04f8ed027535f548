/*
 * dt_subscriber — subscribes to a remote data track and reads its frames with the
 * lk_data_track_read fast path (DELIVERY_MODE_PULL).
 *
 *   dt_subscriber URL TOKEN [PUBLISHER_IDENTITY] [TRACK_NAME] [MAX_FRAMES]
 *
 * Waits for the track (already published at join, or announced later), prints every frame
 * with its latency (the publisher's user timestamp is Unix ms), and exits after MAX_FRAMES
 * frames (default 50) or when the track ends. Exit status 0 if frames arrived in order.
 */
#include "lkex.h"

struct want {
  const char *publisher, *name;
  char sid[128];
};

/* match remembers the track's sid when t is the wanted publisher's track of that name. */
static void match(struct want *w, const Lkcore__Ffi__V1__RemoteDataTrackInfo *t) {
  if (w->sid[0] || !t || !t->info) return;
  if (strcmp(t->publisher_identity, w->publisher) == 0 && strcmp(t->info->name, w->name) == 0)
    snprintf(w->sid, sizeof w->sid, "%s", t->info->sid);
}

static void on_event(void *ud, const lkx_event_t *ev) {
  struct want *w = (struct want *)ud;
  const Lkcore__Ffi__V1__RoomEvent *room = lkx_room_event(ev);
  if (room && room->message_case == LKCORE__FFI__V1__ROOM_EVENT__MESSAGE_DATA_TRACK_PUBLISHED)
    match(w, room->data_track_published->track);
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s URL TOKEN [PUBLISHER_IDENTITY] [TRACK_NAME] [MAX_FRAMES]\n", argv[0]);
    return 2;
  }
  struct want w = {argc > 3 ? argv[3] : "publisher", argc > 4 ? argv[4] : "sensor", {0}};
  long max_frames = argc > 5 ? atol(argv[5]) : 50;
  if (!LK_ABI_COMPATIBLE(lk_abi_version())) return 1;

  lk_client_t c = lk_client_new(NULL, NULL);
  uint64_t room = lkx_create_room(c);
  lkx_event_t *done = NULL;
  if (!room || lkx_connect(c, room, argv[1], argv[2], 1, on_event, &w, &done) != LK_OK) {
    lk_client_close(c, 5000);
    return 1;
  }
  /* The ConnectResult lists the tracks already published at join. */
  if (done->completion->result_case == LKCORE__FFI__V1__COMPLETION__RESULT_CONNECT) {
    const Lkcore__Ffi__V1__ConnectResult *result = done->completion->connect;
    for (size_t i = 0; i < result->n_remote_data_tracks; i++) match(&w, result->remote_data_tracks[i]);
  }
  lkx_event_free(done);
  printf("connected; waiting for %s/%s\n", w.publisher, w.name);

  int32_t st;
  while (!w.sid[0]) {
    lkx_event_t *ev;
    st = lkx_next(c, 30000, &ev);
    if (st != LK_OK) {
      fprintf(stderr, "no such track: %s\n", lk_status_name(st));
      lk_client_close(c, 5000);
      return 1;
    }
    on_event(&w, ev);
    lkx_event_free(ev);
  }

  /* SubscribeDataTrackRequest (sync): the handle comes back at once; the subscription is
   * established in the background. */
  Lkcore__Ffi__V1__SubscribeDataTrackRequest sub = LKCORE__FFI__V1__SUBSCRIBE_DATA_TRACK_REQUEST__INIT;
  sub.room_handle = room;
  sub.publisher_identity = (char *)w.publisher;
  sub.track_sid = w.sid;
  sub.delivery = LKCORE__FFI__V1__DELIVERY_MODE__DELIVERY_MODE_PULL;
  lkx_request_t req = LKCORE__FFI__V1__REQUEST__INIT;
  req.message_case = LKCORE__FFI__V1__REQUEST__MESSAGE_SUBSCRIBE_DATA_TRACK;
  req.subscribe_data_track = &sub;
  lkx_response_t *resp = NULL;
  if (lkx_request(c, &req, &resp) != LK_OK) {
    lk_client_close(c, 5000);
    return 1;
  }
  uint64_t subscription = 0;
  if (resp->message_case == LKCORE__FFI__V1__RESPONSE__MESSAGE_SUBSCRIBE_DATA_TRACK && resp->subscribe_data_track->subscription)
    subscription = resp->subscribe_data_track->subscription->handle;
  lkx_response_free(resp);
  if (!subscription) {
    fprintf(stderr, "subscribe returned no subscription\n");
    lk_client_close(c, 5000);
    return 1;
  }
  printf("subscribed to %s\n", w.sid);

  long got = 0, last = -1, out_of_order = 0;
  while (got < max_frames) {
    uint8_t *frame;
    size_t len;
    uint64_t ts;
    bool has_ts;
    /* The fast path: frames come straight from the subscription's buffer, no protobuf. */
    st = lk_data_track_read(c, subscription, 100, &frame, &len, &ts, &has_ts);
    if (st == LK_OK) {
      long n = -1;
      char text[64];
      size_t k = len < sizeof text - 1 ? len : sizeof text - 1;
      memcpy(text, frame, k);
      text[k] = 0;
      sscanf(text, "frame %ld", &n);
      if (n <= last) out_of_order++;
      last = n;
      got++;
      printf("%s (%lld ms)\n", text, has_ts ? (long long)(lkx_now_ms() - ts) : -1LL);
      lk_free(frame);
    } else if (st == LK_ERR_END_OF_STREAM) {
      printf("track ended\n");
      break;
    } else if (st != LK_ERR_TIMEOUT) {
      fprintf(stderr, "read failed: %s\n", lk_status_name(st));
      break;
    }
    /* Room events keep coming in pull mode: take them so the queue never fills up. */
    lkx_drain(c, NULL, NULL);
  }
  printf("received %ld frames, %ld out of order\n", got, out_of_order);
  lk_handle_drop(c, room); /* releases the subscription and disconnects */
  lk_client_close(c, 5000);
  return got > 0 && out_of_order == 0 ? 0 : 1;
}
