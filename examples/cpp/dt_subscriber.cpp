// Waits for a data track of a publisher, subscribes in pull mode and reads frames with
// DataTrackSubscription::read (the direct lk_data_track_read path).
//
//   dt_subscriber --url URL --token TOKEN [--publisher pub] [--track sensor] [--max 20] [--wait-ms 30000]
#include <chrono>
#include <cstdio>
#include <string>

#include <lkcore.hpp>

#include "args.hpp"

int main(int argc, char **argv) {
  Args args(argc, argv, "[--publisher IDENTITY] [--track NAME] [--max N] [--wait-ms MS]");
  const std::string publisher = args.get("publisher", "pub"), name = args.get("track", "sensor");
  const long max = args.num("max", 20);
  const lk::Millis wait(args.num("wait-ms", 30000));
  try {
    lk::Room room;
    auto snap = room.connect(args.get("url"), args.get("token"));
    std::printf("connected to %s as %s, waiting for %s/%s\n", snap.room.name.c_str(),
                snap.local_participant.identity.c_str(), publisher.c_str(), name.c_str());

    // The track may already be published (snapshot) or come later (event).
    std::optional<lk::RemoteDataTrack> track;
    for (auto &t : snap.remote_data_tracks)
      if (t.publisher_identity == publisher && t.info.name == name) track = t;
    auto deadline = std::chrono::steady_clock::now() + wait;
    while (!track && std::chrono::steady_clock::now() < deadline) {
      auto ev = room.next_event(lk::Millis(500));
      if (!ev) continue;
      if (auto *p = std::get_if<lk::DataTrackPublishedEvent>(&*ev))
        if (p->track.publisher_identity == publisher && p->track.info.name == name) track = p->track;
    }
    if (!track) {
      std::fprintf(stderr, "dt_subscriber: track not published within %lld ms\n", (long long)wait.count());
      return 1;
    }
    lk::DataTrackSubscription sub = room.subscribe(*track);
    long got = 0;
    while (got < max) {
      std::optional<lk::Frame> f = sub.read(wait);  // throws LK_ERR_END_OF_STREAM when it ends
      if (!f) {
        std::fprintf(stderr, "dt_subscriber: no frame within %lld ms\n", (long long)wait.count());
        return 1;
      }
      got++;
      std::printf("frame %ld: %zu bytes, \"%.14s\", ts %llu\n", got, f->payload.size(),
                  reinterpret_cast<const char *>(f->payload.data()),
                  (unsigned long long)f->user_timestamp.value_or(0));
    }
    std::printf("received %ld frames\n", got);
    return 0;
  } catch (const lk::Error &e) {
    std::fprintf(stderr, "dt_subscriber: %s\n", e.what());
    return 1;
  }
}
