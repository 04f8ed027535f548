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

/* match checks a RemoteDataTrackInfo (publisher_identity = 1, info = 2 {sid = 1, name = 2}). */
static void match(struct want *w, pbv rinfo) {
  char pub[256], name[256];
  pb_str(rinfo, 1, pub, sizeof pub);
  pb_str(pb_sub(rinfo, 2), 2, name, sizeof name);
  if (!w->sid[0] && strcmp(pub, w->publisher) == 0 && strcmp(name, w->name) == 0)
    pb_str(pb_sub(rinfo, 2), 1, w->sid, sizeof w->sid);
}

static void on_event(void *ud, pbv ev) {
  struct want *w = (struct want *)ud;
  pbv room, pub;
  if (pb_get(ev, LKX_EV_ROOM, &room) && pb_get(room, LKX_ROOM_DATA_TRACK_PUBLISHED, &pub)) match(w, pb_sub(pub, 1));
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
  /* ConnectResult.remote_data_tracks (4) is repeated: look at every one. */
  pbv result = pb_sub(comp, 21);
  size_t pos = 0;
  uint32_t f;
  uint64_t num;
  pbv val;
  while (pb_next(result, &pos, &f, &num, &val))
    if (f == 4) match(&w, val);
  lk_free(cbuf);
  printf("connected; waiting for %s/%s\n", w.publisher, w.name);

  while (!w.sid[0]) {
    uint8_t *evb;
    pbv ev;
    st = lkx_next(c, 30000, &evb, &ev);
    if (st != LK_OK) {
      fprintf(stderr, "no such track: %s\n", lk_status_name(st));
      return 1;
    }
    on_event(&w, ev);
    lk_free(evb);
  }

  /* SubscribeDataTrackRequest (sync): the handle comes back at once; the subscription is
   * established in the background. */
  pbw sub = {0};
  pbw_varint(&sub, 1, room);
  pbw_str(&sub, 2, w.publisher);
  pbw_str(&sub, 3, w.sid);
  pbw_varint(&sub, 5, 2); /* DELIVERY_MODE_PULL */
  pbw_msg(&req, LKX_REQ_SUBSCRIBE_DATA_TRACK, &sub);
  st = lkx_request(c, &req, &rbuf, &resp);
  pbw_free(&req);
  pbw_free(&sub);
  if (st != LK_OK) return 1;
  uint64_t subscription = pb_u(pb_sub(pb_sub(resp, 44), 1), 1);
  lk_free(rbuf);
  printf("subscribed to %s\n", w.sid);

  long got = 0, last = -1, out_of_order = 0;
  while (got < max_frames) {
    uint8_t *frame;
    size_t len;
    uint64_t ts;
    bool has_ts;
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
    uint8_t *evb;
    pbv ev;
    while (lkx_next(c, 0, &evb, &ev) == LK_OK) lk_free(evb);
  }
  printf("received %ld frames, %ld out of order\n", got, out_of_order);
  lk_handle_drop(c, room); /* releases the subscription and disconnects */
  lk_client_close(c, 5000);
  return got > 0 && out_of_order == 0 ? 0 : 1;
}
