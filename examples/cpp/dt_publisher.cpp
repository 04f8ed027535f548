// Publishes a data track and pushes numbered frames at a fixed rate with
// LocalDataTrack::try_push (the direct lk_data_track_push path: no protobuf per frame).
//
//   dt_publisher --url URL --token TOKEN [--track sensor] [--frames 200] [--hz 100] [--size 64]
#include <chrono>
#include <cstring>
#include <cstdio>
#include <string>
#include <thread>

#include <lkcore.hpp>

#include "args.hpp"

int main(int argc, char **argv) {
  Args args(argc, argv, "[--track NAME] [--frames N] [--hz N] [--size BYTES]");
  const std::string name = args.get("track", "sensor");
  const long frames = args.num("frames", 200), hz = args.num("hz", 100), size = args.num("size", 64);
  try {
    lk::Room room;  // a room with its own client
    auto snap = room.connect(args.get("url"), args.get("token"));
    std::printf("connected to %s as %s\n", snap.room.name.c_str(), snap.local_participant.identity.c_str());
    lk::LocalDataTrack track = room.publish_data_track(name);
    std::printf("published %s (%s)\n", track.info().name.c_str(), track.info().sid.c_str());

    std::string frame(size_t(size < 16 ? 16 : size), '.');
    long pushed = 0, full = 0;
    auto next = std::chrono::steady_clock::now();
    for (long i = 0; i < frames; i++) {
      char head[32];
      int n = std::snprintf(head, sizeof head, "frame %08ld", i);
      frame.replace(0, size_t(n), head, size_t(n));
      auto ts = uint64_t(std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count());
      lk::Status st = track.try_push(reinterpret_cast<const uint8_t *>(frame.data()), frame.size(), ts);
      if (st.ok())
        pushed++;
      else if (st.code() == LK_ERR_QUEUE_FULL)
        full++;  // nothing queued; a real producer would retry or skip
      else
        throw lk::Error(st.code(), "push failed");
      next += std::chrono::microseconds(1000000 / (hz > 0 ? hz : 1));
      std::this_thread::sleep_until(next);
    }
    std::printf("pushed %ld frames (%ld refused with a full queue)\n", pushed, full);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));  // let the last frames leave
    room.disconnect();
    return 0;
  } catch (const lk::Error &e) {
    std::fprintf(stderr, "dt_publisher: %s\n", e.what());
    return 1;
  }
}
