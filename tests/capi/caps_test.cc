// Caps on host-controlled sizes through the real shared library: a data-track buffer of
// 2^32-1 frames (SubscribeDataTrackRequest.buffer_size, RoomOptions.data_track_buffer_size)
// used to abort the host process with a Go out-of-memory fatal error; now it is refused with
// LK_ERR_INVALID_ARGUMENT and the library keeps working.
//
// Environment: LK_URL, LK_TOKEN_CAPS_A, LK_TOKEN_CAPS_B (identities "alice" and "bob" in one
// room), set by tests/suites/capi.sh. Wire numbers come from capi/proto/*.proto.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "lkcore.h"
#include "pb.h"

namespace {

constexpr uint32_t kReqID = 1, kReqCreateRoom = 20, kReqConnect = 21, kReqPublishDataTrack = 40,
                   kReqSubscribeDataTrack = 44;
constexpr uint32_t kRespError = 2, kRespCreateRoom = 20, kRespSubscribeDataTrack = 44;
constexpr uint32_t kEvCompletion = 10, kEvRoom = 20, kCompID = 1, kCompError = 2, kCompPublishDataTrack = 40;
constexpr uint32_t kRoomDataTrackPublished = 40;
// RoomOptions / SubscribeDataTrackRequest fields.
constexpr uint32_t kOptDataTrackBufferSize = 7, kSubBufferSize = 4, kSubDelivery = 5;
constexpr uint64_t kMaxU32 = 0xFFFFFFFFu, kCap = 65536;
constexpr int32_t kHang = 60000;  // hang guard only

std::string env(const char *name) {
  const char *v = std::getenv(name);
  return v ? v : "";
}

// request returns the status and the decoded response.
int32_t request(lk_client_t c, const pb::Msg &req, pb::Fields *resp = nullptr) {
  uint8_t *out = nullptr;
  size_t n = 0;
  int32_t st = lk_request(c, req.data(), req.size(), &out, &n);
  pb::Fields f = pb::parse(out, n);
  EXPECT_TRUE(f.ok);
  EXPECT_EQ(int32_t(f.sub(kRespError).u(1)), st);
  if (resp) *resp = f;
  lk_free(out);
  return st;
}

uint64_t create_room(lk_client_t c, const pb::Msg &opts, int32_t *status) {
  pb::Fields resp;
  *status = request(c, pb::Msg().msg(kReqCreateRoom, pb::Msg().msg(1, opts)), &resp);
  return resp.sub(kRespCreateRoom).sub(1).u(1);
}

// next_event pulls events until pred matches (pull-mode client).
template <class Pred>
pb::Fields next_event(lk_client_t c, Pred pred) {
  for (int i = 0; i < 10000; i++) {
    uint8_t *p = nullptr;
    size_t n = 0;
    int32_t st = lk_client_next_event(c, kHang, &p, &n);
    if (st != LK_OK) {
      ADD_FAILURE() << "next_event: " << lk_status_name(st);
      return pb::Fields();
    }
    pb::Fields f = pb::parse(p, n);
    lk_free(p);
    if (pred(f)) return f;
  }
  ADD_FAILURE() << "event not seen";
  return pb::Fields();
}

pb::Fields completion(lk_client_t c, uint64_t id) {
  return next_event(c, [&](const pb::Fields &e) { return e.has(kEvCompletion) && e.sub(kEvCompletion).u(kCompID) == id; })
      .sub(kEvCompletion);
}

void connect(lk_client_t c, uint64_t room, const std::string &token) {
  ASSERT_EQ(request(c, pb::Msg().varint(kReqID, 1).msg(kReqConnect, pb::Msg().varint(1, room).bytes(2, env("LK_URL")).bytes(3, token))), LK_OK);
  pb::Fields comp = completion(c, 1);
  ASSERT_FALSE(comp.has(kCompError)) << comp.sub(kCompError).b(2);
}

TEST(Caps, RoomDataTrackBufferSize) {
  lk_client_t c = lk_client_new(nullptr, nullptr);
  ASSERT_NE(c, 0u);
  int32_t st = LK_OK;
  for (uint64_t n : {kMaxU32, kCap + 1}) {
    EXPECT_EQ(create_room(c, pb::Msg().varint(kOptDataTrackBufferSize, n), &st), 0u);
    EXPECT_EQ(st, LK_ERR_INVALID_ARGUMENT) << n;
  }
  EXPECT_NE(create_room(c, pb::Msg().varint(kOptDataTrackBufferSize, kCap), &st), 0u);
  EXPECT_EQ(st, LK_OK);
  EXPECT_EQ(lk_client_close(c, kHang), LK_OK);
}

// A live track on the server; subscribing with buffer_size 2^32-1 is refused, the cap itself
// works and frames arrive.
TEST(Caps, SubscribeBufferSizeOnLiveTrack) {
  ASSERT_FALSE(env("LK_URL").empty()) << "LK_URL not set (run through tests/suites/capi.sh)";
  lk_client_t a = lk_client_new(nullptr, nullptr), b = lk_client_new(nullptr, nullptr);
  ASSERT_NE(a, 0u);
  ASSERT_NE(b, 0u);
  int32_t st = LK_OK;
  uint64_t ra = create_room(a, pb::Msg(), &st);
  ASSERT_EQ(st, LK_OK);
  // bob's room default buffer is the cap itself: allowed.
  uint64_t rb = create_room(b, pb::Msg().varint(kOptDataTrackBufferSize, kCap), &st);
  ASSERT_EQ(st, LK_OK);
  connect(a, ra, env("LK_TOKEN_CAPS_A"));
  connect(b, rb, env("LK_TOKEN_CAPS_B"));

  ASSERT_EQ(request(a, pb::Msg().varint(kReqID, 2).msg(kReqPublishDataTrack, pb::Msg().varint(1, ra).bytes(2, "caps"))), LK_OK);
  pb::Fields pub = completion(a, 2);
  ASSERT_FALSE(pub.has(kCompError)) << pub.sub(kCompError).b(2);
  uint64_t track = pub.sub(kCompPublishDataTrack).sub(1).u(1);
  std::string sid = pub.sub(kCompPublishDataTrack).sub(1).sub(2).b(1);
  next_event(b, [](const pb::Fields &e) { return e.has(kEvRoom) && e.sub(kEvRoom).has(kRoomDataTrackPublished); });

  auto subscribe = [&](uint64_t buffer_size, pb::Fields *resp) {
    pb::Msg m = pb::Msg().varint(1, rb).bytes(2, "alice").bytes(3, sid).varint(kSubDelivery, 2 /* DELIVERY_MODE_PULL */);
    if (buffer_size) m.varint(kSubBufferSize, buffer_size);
    return request(b, pb::Msg().msg(kReqSubscribeDataTrack, m), resp);
  };
  pb::Fields resp;
  for (uint64_t n : {kMaxU32, kCap + 1}) {
    EXPECT_EQ(subscribe(n, &resp), LK_ERR_INVALID_ARGUMENT) << n;
    EXPECT_EQ(resp.sub(kRespSubscribeDataTrack).sub(1).u(1), 0u);
  }
  // The library is still alive and serving: the room's default (the cap) subscribes.
  ASSERT_EQ(subscribe(0, &resp), LK_OK);
  uint64_t sub = resp.sub(kRespSubscribeDataTrack).sub(1).u(1);
  ASSERT_NE(sub, 0u);
  bool got = false;
  for (int i = 0; i < 1000 && !got; i++) {
    const char w[] = "x";
    st = lk_data_track_push(a, track, reinterpret_cast<const uint8_t *>(w), 1, 0, false);
    ASSERT_TRUE(st == LK_OK || st == LK_ERR_QUEUE_FULL) << lk_status_name(st);
    uint8_t *p = nullptr;
    size_t n = 0;
    uint64_t ts = 0;
    bool has = false;
    st = lk_data_track_read(b, sub, 20, &p, &n, &ts, &has);
    if (st == LK_OK) {
      got = true;
      EXPECT_EQ(n, 1u);
      lk_free(p);
    } else {
      ASSERT_EQ(st, LK_ERR_TIMEOUT) << lk_status_name(st);
    }
  }
  EXPECT_TRUE(got) << "no frame on the capped subscription";
  EXPECT_EQ(lk_client_close(a, kHang), LK_OK);
  EXPECT_EQ(lk_client_close(b, kHang), LK_OK);
}

// A handle whose kind bits (the top byte, see capi/internal/ffi/handles.go) were altered is
// LK_ERR_WRONG_HANDLE_TYPE for lk_handle_drop and both fast paths, and drops nothing.
TEST(Handles, ForgedKind) {
  lk_client_t c = lk_client_new(nullptr, nullptr);
  ASSERT_NE(c, 0u);
  int32_t st = LK_OK;
  uint64_t room = create_room(c, pb::Msg(), &st);
  ASSERT_EQ(st, LK_OK);
  auto forge = [](uint64_t h, uint64_t kind) { return (h & 0x00FFFFFFFFFFFFFFull) | kind << 56; };
  const uint64_t as_track = forge(room, 2), as_sub = forge(room, 3);
  EXPECT_EQ(lk_handle_drop(c, as_track), LK_ERR_WRONG_HANDLE_TYPE);
  EXPECT_EQ(lk_data_track_push(c, as_track, nullptr, 0, 0, false), LK_ERR_WRONG_HANDLE_TYPE);
  uint8_t *p = nullptr;
  size_t n = 0;
  EXPECT_EQ(lk_data_track_read(c, as_sub, 0, &p, &n, nullptr, nullptr), LK_ERR_WRONG_HANDLE_TYPE);
  EXPECT_EQ(p, nullptr);
  // The room is still there: dropping it works once, then idempotently; the forgery stays refused.
  EXPECT_EQ(lk_handle_drop(c, room), LK_OK);
  EXPECT_EQ(lk_handle_drop(c, room), LK_OK);
  EXPECT_EQ(lk_handle_drop(c, as_track), LK_ERR_WRONG_HANDLE_TYPE);
  EXPECT_EQ(lk_client_close(c, kHang), LK_OK);
}

}  // namespace
