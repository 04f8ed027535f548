/*
 * lkex.h — a tiny, dependency-free helper for the C examples: just enough protobuf wire
 * encoding/decoding to build lkcore.ffi.v1 requests and read responses and events, plus
 * request/event plumbing over lkcore.h. A real C host would more likely generate code from
 * capi/proto/lkcore_ffi.proto (protobuf-c, nanopb); the wire numbers used by the examples
 * are the field numbers of that file.
 *
 * Header-only; every function is static inline.
 */
#ifndef LKEX_H
#define LKEX_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lkcore.h"

/* ---- writing ---------------------------------------------------------------------------- */

/* pbw is a growable message being written. Zero-initialise it; free with pbw_free. */
typedef struct {
  uint8_t *buf;
  size_t len, cap;
} pbw;

static inline void pbw_put(pbw *w, const void *p, size_t n) {
  if (w->len + n > w->cap) {
    size_t cap = w->cap ? w->cap * 2 : 64;
    while (cap < w->len + n) cap *= 2;
    uint8_t *nb = (uint8_t *)realloc(w->buf, cap);
    if (!nb) {
      fprintf(stderr, "out of memory\n");
      exit(1);
    }
    w->buf = nb;
    w->cap = cap;
  }
  if (n) memcpy(w->buf + w->len, p, n);
  w->len += n;
}

static inline void pbw_raw_varint(pbw *w, uint64_t v) {
  uint8_t b[10];
  size_t n = 0;
  while (v >= 0x80) {
    b[n++] = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  b[n++] = (uint8_t)v;
  pbw_put(w, b, n);
}

static inline void pbw_varint(pbw *w, uint32_t field, uint64_t v) {
  pbw_raw_varint(w, (uint64_t)field << 3);
  pbw_raw_varint(w, v);
}

static inline void pbw_bytes(pbw *w, uint32_t field, const void *p, size_t n) {
  pbw_raw_varint(w, (uint64_t)field << 3 | 2);
  pbw_raw_varint(w, n);
  pbw_put(w, p, n);
}

static inline void pbw_str(pbw *w, uint32_t field, const char *s) { pbw_bytes(w, field, s, strlen(s)); }

/* pbw_msg appends sub as a nested message field (sub is not freed). */
static inline void pbw_msg(pbw *w, uint32_t field, const pbw *sub) { pbw_bytes(w, field, sub->buf, sub->len); }

static inline void pbw_free(pbw *w) {
  free(w->buf);
  w->buf = NULL;
  w->len = w->cap = 0;
}

/* ---- reading ---------------------------------------------------------------------------- */

/* pbv is a view of an encoded message (or of a bytes/string field). */
typedef struct {
  const uint8_t *p;
  size_t n;
} pbv;

static inline bool pb_read_varint(const uint8_t **p, const uint8_t *end, uint64_t *v) {
  *v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (*p >= end) return false;
    uint8_t c = *(*p)++;
    *v |= (uint64_t)(c & 0x7f) << shift;
    if (!(c & 0x80)) return true;
  }
  return false;
}

/* pb_next iterates over the fields of m: call with *pos = 0 first. Returns false at the end
 * or on malformed input. Length-delimited fields set *val, varints set *num. */
static inline bool pb_next(pbv m, size_t *pos, uint32_t *field, uint64_t *num, pbv *val) {
  const uint8_t *p = m.p + *pos, *end = m.p + m.n;
  uint64_t key, v;
  if (p >= end || !pb_read_varint(&p, end, &key)) return false;
  *field = (uint32_t)(key >> 3);
  switch (key & 7) {
    case 0:
      if (!pb_read_varint(&p, end, &v)) return false;
      *num = v;
      val->p = NULL;
      val->n = 0;
      break;
    case 2:
      if (!pb_read_varint(&p, end, &v) || v > (uint64_t)(end - p)) return false;
      val->p = p;
      val->n = (size_t)v;
      p += v;
      *num = 0;
      break;
    case 1:
      if (end - p < 8) return false;
      p += 8;
      break;
    case 5:
      if (end - p < 4) return false;
      p += 4;
      break;
    default:
      return false;
  }
  *pos = (size_t)(p - m.p);
  return true;
}

/* pb_get finds the last occurrence of a length-delimited field (submessage, bytes, string). */
static inline bool pb_get(pbv m, uint32_t field, pbv *out) {
  size_t pos = 0;
  uint32_t f;
  uint64_t num;
  pbv val;
  bool found = false;
  while (pb_next(m, &pos, &f, &num, &val)) {
    if (f == field && val.p) {
      *out = val;
      found = true;
    }
  }
  if (!found) out->p = NULL, out->n = 0;
  return found;
}

/* pb_u returns the last varint of a field (0 when absent). */
static inline uint64_t pb_u(pbv m, uint32_t field) {
  size_t pos = 0;
  uint32_t f;
  uint64_t num, out = 0;
  pbv val;
  while (pb_next(m, &pos, &f, &num, &val))
    if (f == field && !val.p) out = num;
  return out;
}

/* pb_sub returns a submessage (an empty view when absent). */
static inline pbv pb_sub(pbv m, uint32_t field) {
  pbv out;
  pb_get(m, field, &out);
  return out;
}

/* pb_has reports whether a field is present. */
static inline bool pb_has(pbv m, uint32_t field) {
  size_t pos = 0;
  uint32_t f;
  uint64_t num;
  pbv val;
  while (pb_next(m, &pos, &f, &num, &val))
    if (f == field) return true;
  return false;
}

/* pb_str copies a string field into a NUL-terminated buffer. */
static inline const char *pb_str(pbv m, uint32_t field, char *buf, size_t size) {
  pbv v = pb_sub(m, field);
  size_t n = v.n < size - 1 ? v.n : size - 1;
  if (n) memcpy(buf, v.p, n);
  buf[n] = 0;
  return buf;
}

/* ---- lkcore plumbing -------------------------------------------------------------------- */

/* Wire numbers of lkcore.ffi.v1 used by the examples. */
enum {
  /* Request */
  LKX_REQ_ID = 1,
  LKX_REQ_TIMEOUT = 2,
  LKX_REQ_SET_LOG_LEVEL = 12,
  LKX_REQ_CREATE_ROOM = 20,
  LKX_REQ_CONNECT = 21,
  LKX_REQ_DISCONNECT = 22,
  LKX_REQ_PUBLISH_DATA = 24,
  LKX_REQ_PUBLISH_DATA_TRACK = 40,
  LKX_REQ_SUBSCRIBE_DATA_TRACK = 44,
  LKX_REQ_PERFORM_RPC = 60,
  LKX_REQ_REGISTER_RPC_METHOD = 61,
  LKX_REQ_RESPOND_RPC = 63,
  /* Event */
  LKX_EV_COMPLETION = 10,
  LKX_EV_LOG = 11,
  LKX_EV_ROOM = 20,
  LKX_EV_DATA_TRACK_FRAME = 40,
  LKX_EV_DATA_TRACK_SUBSCRIPTION_ENDED = 41,
  /* Completion */
  LKX_COMP_ID = 1,
  LKX_COMP_ERROR = 2,
  /* RoomEvent */
  LKX_ROOM_DISCONNECTED = 13,
  LKX_ROOM_PARTICIPANT_CONNECTED = 20,
  LKX_ROOM_PARTICIPANT_DISCONNECTED = 21,
  LKX_ROOM_DATA_RECEIVED = 30,
  LKX_ROOM_DATA_TRACK_PUBLISHED = 40,
  LKX_ROOM_DATA_TRACK_UNPUBLISHED = 41,
  LKX_ROOM_RPC_INVOCATION = 60,
};

/* lkx_request sends req (a Request) and returns the status; on success with resp != NULL the
 * caller gets the Response buffer in *resp_buf (free with lk_free) and a view in *resp. */
static inline int32_t lkx_request(lk_client_t c, const pbw *req, uint8_t **resp_buf, pbv *resp) {
  uint8_t *out = NULL;
  size_t n = 0;
  int32_t st = lk_request(c, req->buf, req->len, &out, &n);
  if (st != LK_OK) {
    pbv r = {out, n};
    char msg[256];
    fprintf(stderr, "request failed: %s: %s\n", lk_status_name(st), pb_str(pb_sub(r, 2), 2, msg, sizeof msg));
  }
  if (resp_buf && st == LK_OK) {
    *resp_buf = out;
    resp->p = out;
    resp->n = n;
  } else {
    lk_free(out);
  }
  return st;
}

/* lkx_next pulls the next event (pull-mode client) into buf and ev; returns the status. */
static inline int32_t lkx_next(lk_client_t c, int32_t timeout_ms, uint8_t **buf, pbv *ev) {
  size_t n = 0;
  int32_t st = lk_client_next_event(c, timeout_ms, buf, &n);
  ev->p = *buf;
  ev->n = n;
  return st;
}

/* lkx_error_text renders an Error submessage ("CODE: message"). */
static inline const char *lkx_error_text(pbv err, char *buf, size_t size) {
  char msg[200];
  snprintf(buf, size, "%s: %s", lk_status_name((int32_t)pb_u(err, 1)), pb_str(err, 2, msg, sizeof msg));
  return buf;
}

/* lkx_wait_completion pulls events until the completion of request_id, handing other events
 * to on_other (may be NULL). Returns the completion's status (LK_OK on success) and, if
 * result != NULL, copies the completion into *result_buf (free with lk_free). */
typedef void (*lkx_event_fn)(void *ud, pbv ev);
static inline int32_t lkx_wait_completion(lk_client_t c, uint64_t request_id, int32_t timeout_ms, lkx_event_fn on_other,
                                   void *ud, uint8_t **result_buf, pbv *result) {
  for (;;) {
    uint8_t *buf = NULL;
    pbv ev;
    int32_t st = lkx_next(c, timeout_ms, &buf, &ev);
    if (st != LK_OK) return st;
    pbv comp;
    if (pb_get(ev, LKX_EV_COMPLETION, &comp) && pb_u(comp, LKX_COMP_ID) == request_id) {
      pbv err;
      int32_t code = LK_OK;
      if (pb_get(comp, LKX_COMP_ERROR, &err)) {
        char text[256];
        code = (int32_t)pb_u(err, 1);
        fprintf(stderr, "operation %llu failed: %s\n", (unsigned long long)request_id, lkx_error_text(err, text, sizeof text));
      }
      if (result_buf && code == LK_OK) {
        *result_buf = buf;
        *result = comp;
      } else {
        lk_free(buf);
      }
      return code;
    }
    if (on_other) on_other(ud, ev);
    lk_free(buf);
  }
}

/* lkx_connect creates a room and connects it; returns the room handle or 0. */
static inline uint64_t lkx_connect(lk_client_t c, const char *url, const char *token, uint64_t request_id, lkx_event_fn on_other,
                            void *ud) {
  pbw req = {0}, body = {0}, conn = {0};
  pbw_msg(&req, LKX_REQ_CREATE_ROOM, &body);
  uint8_t *rbuf = NULL;
  pbv resp;
  int32_t st = lkx_request(c, &req, &rbuf, &resp);
  pbw_free(&req);
  if (st != LK_OK) return 0;
  uint64_t room = pb_u(pb_sub(pb_sub(resp, 20), 1), 1); /* create_room.room.handle */
  lk_free(rbuf);

  pbw_varint(&conn, 1, room);
  pbw_str(&conn, 2, url);
  pbw_str(&conn, 3, token);
  pbw_varint(&req, LKX_REQ_ID, request_id);
  pbw_msg(&req, LKX_REQ_CONNECT, &conn);
  st = lkx_request(c, &req, NULL, NULL);
  pbw_free(&req);
  pbw_free(&conn);
  if (st != LK_OK) return 0;
  if (lkx_wait_completion(c, request_id, 30000, on_other, ud, NULL, NULL) != LK_OK) return 0;
  return room;
}

static inline void lkx_sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static inline uint64_t lkx_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

#endif /* LKEX_H */
