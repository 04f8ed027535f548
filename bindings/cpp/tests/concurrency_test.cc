// Concurrent use and teardown while callbacks run (meaningful mostly under ASan: a callback
// running after its object was destroyed would touch freed memory).
#include "common.hpp"

using namespace lktest;

TEST_F(E2E, ConcurrentRpcsFromManyThreads) {
  lk::Room bob(client_b);
  bob.register_rpc_method("echo", [](const lk::RpcInvocation &inv) { return inv.payload; });
  bob.connect(sfu.url, token("bob"));
  lk::Room alice = join(client_a, "alice");
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; t++) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 20; i++) {
        std::string p = "t" + std::to_string(t) + "-" + std::to_string(i);
        auto f = alice.perform_rpc("bob", "echo", p);
        if (f.wait_for(kGuard) == std::future_status::ready && f.get() == p) ok++;
      }
    });
  }
  for (auto &th : threads) th.join();
  EXPECT_EQ(ok.load(), 80);
}

TEST_F(E2E, SubscriptionDestroyedWhileItsCallbackRuns) {
  lk::Room alice = join(client_a, "alice");
  Joined jb = join_with_events(client_b, "bob");
  lk::Room &bob = jb.room;
  Events &ev_b = jb.events;
  lk::LocalDataTrack track = alice.publish_data_track("busy");
  auto pub = ev_b.wait<lk::DataTrackPublishedEvent>();
  std::atomic<bool> stop{false};
  std::thread pusher([&] {
    while (!stop.load()) {
      (void)track.try_push("tick");
      std::this_thread::sleep_for(2ms);
    }
  });
  for (int round = 0; round < 3; round++) {
    auto frames = std::make_unique<std::atomic<int>>(0);
    auto sub = std::make_unique<lk::DataTrackSubscription>(bob.subscribe(pub.track, [counter = frames.get()](lk::Frame &&) {
      counter->fetch_add(1);
      std::this_thread::sleep_for(1ms);  // widen the window in which destruction races the callback
    }));
    auto deadline = std::chrono::steady_clock::now() + kGuard;
    while (frames->load() < 5 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(5ms);
    ASSERT_GE(frames->load(), 5) << "round " << round;
    sub.reset();  // waits for a running callback; none starts afterwards
    int after = frames->load();
    std::this_thread::sleep_for(50ms);
    EXPECT_EQ(frames->load(), after) << "a callback ran after the subscription was destroyed";
    frames.reset();
  }
  stop = true;
  pusher.join();
}

// An auto-subscription taken in callback mode (switched by the library to events, its credits
// granted from the event thread): destroying it while its callback runs, from another thread
// (which waits for the callback) or from the callback itself (on the event thread), stops the
// frames and releases its handle (ASan: nothing touched after it is gone).
TEST_F(E2E, AutoSubscriptionInCallbackModeDestroyedWhileItsCallbackRuns) {
  lk::Room alice = join(client_a, "alice");
  Joined jb = join_with_events(client_b, "bob", auto_subscribing());
  lk::Room &bob = jb.room;
  Events &ev_b = jb.events;
  for (int round = 0; round < 4; round++) {
    const bool by_itself = round % 2 == 1;
    SCOPED_TRACE(std::string("round ") + std::to_string(round) + (by_itself ? ", by its callback" : ", by the test"));
    const std::string name = "busy" + std::to_string(round);
    lk::LocalDataTrack track = alice.publish_data_track(name);
    auto pub = ev_b.wait<lk::DataTrackPublishedEvent>(
        [&](const lk::DataTrackPublishedEvent &e) { return e.track.info.name == name; });
    struct Pusher {  // stopped on every way out of the round
      std::atomic<bool> stop{false};
      std::thread thread;
      ~Pusher() {
        stop = true;
        if (thread.joinable()) thread.join();
      }
    } pusher;
    pusher.thread = std::thread([&] {
      while (!pusher.stop.load()) {
        (void)track.try_push("tick");
        std::this_thread::sleep_for(2ms);
      }
    });
    std::mutex mu;
    std::condition_variable cv;
    int frames = 0;
    bool destroyed = false;
    std::unique_ptr<lk::DataTrackSubscription> sub;
    struct Release {  // the subscription, if still held, goes under the lock its callback takes
      std::mutex &mu;
      std::unique_ptr<lk::DataTrackSubscription> &sub;
      ~Release() {
        std::unique_ptr<lk::DataTrackSubscription> doomed;
        {
          std::lock_guard<std::mutex> l(mu);
          doomed = std::move(sub);
        }
      }
    } release{mu, sub};
    {
      auto taken = std::make_unique<lk::DataTrackSubscription>(bob.subscribe(pub.track, [&](lk::Frame &&) {
        std::unique_ptr<lk::DataTrackSubscription> doomed;
        {
          std::lock_guard<std::mutex> l(mu);
          frames++;
          cv.notify_all();
          if (by_itself && frames >= 5 && sub) doomed = std::move(sub);
        }
        std::this_thread::sleep_for(1ms);  // widen the window in which destruction races the callback
        if (!doomed) return;
        doomed.reset();  // on the event thread (its own callback: not waited for)
        std::lock_guard<std::mutex> l(mu);
        destroyed = true;
        cv.notify_all();
      }));
      std::lock_guard<std::mutex> l(mu);
      sub = std::move(taken);
    }
    EXPECT_EQ(client_b.live_handles(), 2u) << "room and the auto-subscription";
    lk::DataTrackSubscription probe = bob.subscribe(pub.track);  // shows frames still arriving
    int after;
    {
      std::unique_lock<std::mutex> l(mu);
      if (by_itself) {
        ASSERT_TRUE(cv.wait_for(l, kGuard, [&] { return destroyed; })) << "the callback did not destroy it";
      } else {
        ASSERT_TRUE(cv.wait_for(l, kGuard, [&] { return frames >= 5; }));
        auto doomed = std::move(sub);
        l.unlock();
        doomed.reset();  // waits for a running callback; none starts afterwards
        l.lock();
      }
      after = frames;
    }
    EXPECT_EQ(client_b.live_handles(), 2u) << "room and the probe";
    for (int i = 0; i < 10; i++) ASSERT_TRUE(probe.read(kGuard).has_value()) << "frames stopped flowing";
    std::lock_guard<std::mutex> l(mu);
    EXPECT_EQ(frames, after) << "a callback ran after the subscription was destroyed";
  }
}

TEST_F(E2E, RoomDestroyedWhileHandlersAndEventsRun) {
  lk::Room alice = join(client_a, "alice");
  std::atomic<bool> stop{false};
  std::thread sender([&] {
    while (!stop.load()) {
      try {
        alice.publish_data("flood", {false, "flood", {}});
      } catch (const lk::Error &) {
      }
      std::this_thread::sleep_for(1ms);
    }
  });
  for (int round = 0; round < 3; round++) {
    auto seen = std::make_unique<std::atomic<int>>(0);
    {
      lk::Room bob(client_b);
      bob.set_event_handler([counter = seen.get()](const lk::RoomEvent &) {
        counter->fetch_add(1);
        std::this_thread::sleep_for(1ms);
      });
      bob.connect(sfu.url, token("bob"));
      auto deadline = std::chrono::steady_clock::now() + kGuard;
      while (seen->load() < 5 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(5ms);
      ASSERT_GE(seen->load(), 5);
    }  // destroyed while events arrive
    int after = seen->load();
    std::this_thread::sleep_for(50ms);
    EXPECT_EQ(seen->load(), after) << "a handler ran after the room was destroyed";
  }
  stop = true;
  sender.join();
}

// A blocking call whose deadline passes while a handler holds up the event thread still reports
// the library's outcome: its completion (a success) waits behind the handler. Before, the
// binding's own deadline (the operation's + 5 s) reported the success as LK_ERR_TIMEOUT.
TEST_F(E2E, SlowHandlerDoesNotTurnASuccessIntoATimeout) {
  std::promise<void> blocked, release;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<bool> once{false};
  lk::Room alice = join(client_a, "alice");
  lk::Room bob = join(client_b, "bob");
  lk::LocalDataTrack track = bob.publish_data_track("idle");  // nothing queued: flush completes at once
  bob.set_event_handler([&](const lk::RoomEvent &e) {
    if (std::holds_alternative<lk::DataReceivedEvent>(e) && !once.exchange(true)) {
      blocked.set_value();
      released.wait_for(kGuard);  // holds the event thread
    }
  });
  alice.publish_data("hold", {true, "hold", {}});
  ASSERT_EQ(blocked.get_future().wait_for(kGuard), std::future_status::ready);
  auto flushed = std::async(std::launch::async, [&] { track.flush(lk::Millis(100)); });
  std::this_thread::sleep_for(6500ms);  // past the old binding deadline (100 ms + 5 s), well within the new bound
  release.set_value();
  ASSERT_EQ(flushed.wait_for(kGuard), std::future_status::ready);
  EXPECT_NO_THROW(flushed.get());
  bob.set_event_handler(nullptr);
}

// A Room destroyed by its own event handler does not wait for its RPC handler, which is itself
// waiting for a completion only the event thread delivers (before, both waited on each other
// until the handler's own bound: every room of the client stalled meanwhile).
TEST_F(E2E, RoomDestroyedByItsEventHandlerDoesNotWaitForBlockedHandlers) {
  std::promise<void> entered, destroying;
  std::shared_future<void> destroying_f = destroying.get_future().share();
  std::promise<bool> echoed;  // whether the RPC handler's completion arrived (not the guard)
  std::atomic<bool> once{false};
  lk::Room alice = join(client_a, "alice");
  auto bob = std::make_unique<lk::Room>(client_b);
  lk::Client &cb = client_b;
  bob->register_rpc_method("slow", [&](const lk::RpcInvocation &) -> std::string {
    entered.set_value();
    destroying_f.wait_for(kGuard);
    // A blocking call on the same client: its completion comes from the event thread.
    auto f = cb.echo_async("x", lk::Millis(0));
    echoed.set_value(f.wait_for(kGuard) == std::future_status::ready);
    return "late";
  });
  bob->set_event_handler([&](const lk::RoomEvent &e) {
    if (std::holds_alternative<lk::DataReceivedEvent>(e) && !once.exchange(true)) {
      destroying.set_value();
      bob.reset();  // on the event thread, while the RPC handler runs
    }
  });
  bob->connect(sfu.url, token("bob"));
  auto answer = alice.perform_rpc("bob", "slow", "", lk::Millis(2000));
  ASSERT_EQ(entered.get_future().wait_for(kGuard), std::future_status::ready);
  alice.publish_data("go", {true, "go", {}});
  auto echoed_f = echoed.get_future();
  ASSERT_EQ(echoed_f.wait_for(2 * kGuard), std::future_status::ready);
  EXPECT_TRUE(echoed_f.get()) << "the RPC handler's completion waited behind the room's destruction";
  EXPECT_EQ(answer.wait_for(kGuard), std::future_status::ready);  // answered or failed, not left pending
}
