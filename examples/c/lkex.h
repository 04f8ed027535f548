/*
 * lkex.h — request/event plumbing shared by the C examples, over lkcore.h.
 *
 * Requests, responses and events are lkcore.ffi.v1 messages; the examples build and read them
 * with protobuf-c, from code the Makefile generates out of the capi/proto .proto files at build
 * time (lkcore_ffi.pb-c.h; the generated names are Lkcore__Ffi__V1__<Message>). The per-frame
 * hot path needs no protobuf at all: lk_data_track_push and lk_data_track_read.
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
#include "lkcore_ffi.pb-c.h"

typedef Lkcore__Ffi__V1__Request lkx_request_t;
typedef Lkcore__Ffi__V1__Response lkx_response_t;
typedef Lkcore__Ffi__V1__Event lkx_event_t;

/* lkx_oom reports an allocation failure and exits (the examples do not recover from it). */
static inline void lkx_oom(void) {
  fprintf(stderr, "out of memory\n");
  exit(1);
}

/* lkx_error_text renders an Error ("LK_ERR_...: message"). */
static inline const char *lkx_error_text(const Lkcore__Ffi__V1__Error *err, char *buf, size_t size) {
  snprintf(buf, size, "%s: %s", lk_status_name((int32_t)err->code), err->message ? err->message : "");
  return buf;
}

/* lkx_request packs req, sends it with lk_request and decodes the Response. Returns the status
 * (the code of Response.error, LK_OK if unset); a failure is printed. With resp != NULL and
 * LK_OK, *resp receives the Response (free with lkx_response_free). */
static inline int32_t lkx_request(lk_client_t c, const lkx_request_t *req, lkx_response_t **resp) {
  size_t n = lkcore__ffi__v1__request__get_packed_size(req);
  uint8_t *buf = (uint8_t *)malloc(n ? n : 1);
  if (!buf) lkx_oom();
  lkcore__ffi__v1__request__pack(req, buf);
  uint8_t *out = NULL;
  size_t out_len = 0;
  int32_t st = lk_request(c, buf, n, &out, &out_len);
  free(buf);
  lkx_response_t *r = out ? lkcore__ffi__v1__response__unpack(NULL, out_len, out) : NULL;
  lk_free(out);
  if (st != LK_OK) {
    char text[256];
    if (r && r->error)
      fprintf(stderr, "request failed: %s\n", lkx_error_text(r->error, text, sizeof text));
    else
      fprintf(stderr, "request failed: %s\n", lk_status_name(st));
  } else if (!r) {
    fprintf(stderr, "undecodable response\n");
    st = LK_ERR_INTERNAL;
  }
  if (resp && st == LK_OK) {
    *resp = r;
  } else if (r) {
    lkcore__ffi__v1__response__free_unpacked(r, NULL);
  }
  return st;
}

static inline void lkx_response_free(lkx_response_t *r) {
  if (r) lkcore__ffi__v1__response__free_unpacked(r, NULL);
}

/* lkx_next pulls the next event (pull-mode client) and decodes it into *ev (free with
 * lkx_event_free); returns the status of lk_client_next_event, or LK_ERR_INTERNAL when the
 * event cannot be decoded. */
static inline int32_t lkx_next(lk_client_t c, int32_t timeout_ms, lkx_event_t **ev) {
  uint8_t *buf = NULL;
  size_t n = 0;
  *ev = NULL;
  int32_t st = lk_client_next_event(c, timeout_ms, &buf, &n);
  if (st != LK_OK) return st;
  *ev = lkcore__ffi__v1__event__unpack(NULL, n, buf); /* copies what it keeps */
  lk_free(buf);
  if (!*ev) {
    fprintf(stderr, "undecodable event\n");
    return LK_ERR_INTERNAL;
  }
  return LK_OK;
}

static inline void lkx_event_free(lkx_event_t *ev) {
  if (ev) lkcore__ffi__v1__event__free_unpacked(ev, NULL);
}

/* lkx_room_event returns the RoomEvent of ev, or NULL for other events. */
static inline const Lkcore__Ffi__V1__RoomEvent *lkx_room_event(const lkx_event_t *ev) {
  return ev->message_case == LKCORE__FFI__V1__EVENT__MESSAGE_ROOM ? ev->room : NULL;
}

/* lkx_event_fn sees every event lkx_wait_completion pulls that is not the awaited completion. */
typedef void (*lkx_event_fn)(void *ud, const lkx_event_t *ev);

/* lkx_wait_completion pulls events until the Completion of request_id, handing other events
 * to on_other (may be NULL). Returns the completion's status (LK_OK on success); with
 * result != NULL and LK_OK, *result receives the whole Event (its ->completion holds the
 * result; free with lkx_event_free). */
static inline int32_t lkx_wait_completion(lk_client_t c, uint64_t request_id, int32_t timeout_ms, lkx_event_fn on_other,
                                          void *ud, lkx_event_t **result) {
  for (;;) {
    lkx_event_t *ev;
    int32_t st = lkx_next(c, timeout_ms, &ev);
    if (st != LK_OK) return st;
    if (ev->message_case == LKCORE__FFI__V1__EVENT__MESSAGE_COMPLETION && ev->completion->request_id == request_id) {
      int32_t code = LK_OK;
      if (ev->completion->error) {
        char text[256];
        code = (int32_t)ev->completion->error->code;
        fprintf(stderr, "operation %llu failed: %s\n", (unsigned long long)request_id,
                lkx_error_text(ev->completion->error, text, sizeof text));
      }
      if (result && code == LK_OK) {
        *result = ev;
      } else {
        lkx_event_free(ev);
      }
      return code;
    }
    if (on_other) on_other(ud, ev);
    lkx_event_free(ev);
  }
}

/* lkx_create_room creates a room object (CreateRoomRequest, default options); returns its
 * handle or 0. */
static inline uint64_t lkx_create_room(lk_client_t c) {
  Lkcore__Ffi__V1__CreateRoomRequest create = LKCORE__FFI__V1__CREATE_ROOM_REQUEST__INIT;
  lkx_request_t req = LKCORE__FFI__V1__REQUEST__INIT;
  req.message_case = LKCORE__FFI__V1__REQUEST__MESSAGE_CREATE_ROOM;
  req.create_room = &create;
  lkx_response_t *resp = NULL;
  if (lkx_request(c, &req, &resp) != LK_OK) return 0;
  uint64_t room = 0;
  if (resp->message_case == LKCORE__FFI__V1__RESPONSE__MESSAGE_CREATE_ROOM && resp->create_room->room)
    room = resp->create_room->room->handle;
  lkx_response_free(resp);
  return room;
}

/* lkx_connect connects room (ConnectRequest, ASYNC, with request_id) and waits for its
 * completion, handing other events to on_other. Returns the status; with result != NULL and
 * LK_OK, *result receives the completion Event (->completion->connect is the ConnectResult). */
static inline int32_t lkx_connect(lk_client_t c, uint64_t room, const char *url, const char *token, uint64_t request_id,
                                  lkx_event_fn on_other, void *ud, lkx_event_t **result) {
  Lkcore__Ffi__V1__ConnectRequest conn = LKCORE__FFI__V1__CONNECT_REQUEST__INIT;
  conn.room_handle = room;
  conn.url = (char *)url;
  conn.token = (char *)token;
  lkx_request_t req = LKCORE__FFI__V1__REQUEST__INIT;
  req.request_id = request_id;
  req.message_case = LKCORE__FFI__V1__REQUEST__MESSAGE_CONNECT;
  req.connect = &conn;
  int32_t st = lkx_request(c, &req, NULL);
  if (st != LK_OK) return st;
  return lkx_wait_completion(c, request_id, 30000, on_other, ud, result);
}

/* lkx_drain takes every event already queued (pull mode), handing each to fn (may be NULL), so
 * the client's event queue never fills up while the program does something else. */
static inline void lkx_drain(lk_client_t c, lkx_event_fn fn, void *ud) {
  lkx_event_t *ev;
  while (lkx_next(c, 0, &ev) == LK_OK) {
    if (fn) fn(ud, ev);
    lkx_event_free(ev);
  }
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
