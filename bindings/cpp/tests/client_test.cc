// The C++ API without a server: versions, the async path, errors with their ABI codes, RAII
// and move semantics, closing.
#include <signal.h>
#include <sys/wait.h>

#include "common.hpp"

using namespace lktest;

TEST(Client, VersionMatchesTheLoadedLibrary) {
  lk::Client c;
  EXPECT_NE(c.id(), 0u);
  auto v = c.version();
  EXPECT_EQ(v.abi_version, lk_abi_version());
  EXPECT_TRUE(LK_ABI_COMPATIBLE(v.abi_version));
  EXPECT_EQ(v.schema, "lkcore.ffi.v1");
  EXPECT_EQ(c.live_handles(), 0u);
}

TEST(Client, EchoSyncAndAsyncCompletionsAreCorrelated) {
  lk::Client c;
  std::string binary("a\0b\xff", 4);
  EXPECT_EQ(c.echo(binary), binary);
  // Started in one order, completing in the reverse one: each future gets its own payload.
  std::vector<std::future<std::string>> fs;
  for (int i = 0; i < 5; i++) fs.push_back(c.echo_async("p" + std::to_string(i), lk::Millis(100 - 20 * i)));
  for (int i = 0; i < 5; i++) {
    ASSERT_EQ(fs[i].wait_for(kGuard), std::future_status::ready);
    EXPECT_EQ(fs[i].get(), "p" + std::to_string(i));
  }
}

TEST(Client, LibraryDeadlineIsATimeoutError) {
  lk::Client c;
  auto f = c.echo_async("late", lk::Millis(5000), lk::Millis(50));
  ASSERT_EQ(f.wait_for(kGuard), std::future_status::ready);
  expect_error(LK_ERR_TIMEOUT, [&] { f.get(); }, "echo past its deadline");
}

TEST(Client, CloseFailsPendingOperationsAndLaterCalls) {
  lk::Client c;
  auto f = c.echo_async("never", lk::Millis(60000));
  c.close();
  ASSERT_EQ(f.wait_for(kGuard), std::future_status::ready);
  expect_error(LK_ERR_CLIENT_CLOSED, [&] { f.get(); }, "pending echo");
  expect_error(LK_ERR_CLIENT_CLOSED, [&] { c.echo("x"); }, "echo after close");
  expect_error(LK_ERR_CLIENT_CLOSED, [&] { lk::Room r(c); }, "room after close");
  c.close();  // idempotent
}

TEST(Client, ForkedChildGetsForkedErrorAtOnce) {
  lk::Client parent;
  EXPECT_EQ(parent.echo("before"), "before");
  std::fflush(nullptr);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {  // no gtest in the child: its exit code tells what happened
    int rc = 1;
    try {
      lk::Client c;
      rc = 2;
    } catch (const lk::Error &e) {
      rc = e.code() == LK_ERR_FORKED ? 0 : 3;
    } catch (...) {
      rc = 4;
    }
    _exit(rc);
  }
  int status = 0;
  pid_t got = 0;
  for (int i = 0; i < 3000 && got == 0; i++) {  // bounded: a hang in the child fails the test
    got = waitpid(pid, &status, WNOHANG);
    if (got == 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (got == 0) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    FAIL() << "the forked child hung creating a client";
  }
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "1: no exception, 2: client created, 3: other code, 4: other exception";
  EXPECT_EQ(parent.echo("after"), "after");  // the parent is unaffected
}

TEST(Client, TwoClientsAreIndependent) {
  lk::Client a, b;
  EXPECT_NE(a.id(), b.id());
  lk::Room ra(a);
  EXPECT_EQ(a.live_handles(), 1u);
  EXPECT_EQ(b.live_handles(), 0u);
  b.close();
  EXPECT_EQ(a.echo("still here"), "still here");
}

TEST(Errors, BadInputGivesTheAbiCode) {
  lk::Client c;
  // E2EE without a key.
  lk::RoomOptions bad;
  bad.e2ee = lk::E2eeOptions{};
  expect_error(LK_ERR_INVALID_ARGUMENT, [&] { lk::Room r(c, bad); }, "e2ee without key");
  EXPECT_EQ(c.live_handles(), 0u);

  lk::Room room(c);
  EXPECT_EQ(c.live_handles(), 1u);
  // Operations that need a connection.
  expect_error(LK_ERR_DISCONNECTED, [&] { room.publish_data("x"); }, "publish_data before connect");
  expect_error(LK_ERR_DISCONNECTED, [&] { room.publish_data_track("t"); }, "publish_data_track before connect");
  // Arguments checked by the binding itself.
  expect_error(LK_ERR_INVALID_ARGUMENT, [&] { room.publish_data(nullptr, 3); }, "NULL data");
  expect_error(LK_ERR_INVALID_ARGUMENT, [&] { room.register_rpc_method("m", nullptr); }, "empty handler");
  // Registration before connect works once per name.
  room.register_rpc_method("m", [](const lk::RpcInvocation &) { return std::string(); });
  expect_error(LK_ERR_ALREADY_EXISTS, [&] {
    room.register_rpc_method("m", [](const lk::RpcInvocation &) { return std::string(); });
  }, "duplicate method");
  room.register_text_stream_handler("t", [](lk::TextStreamReader, const std::string &) {});
  expect_error(LK_ERR_ALREADY_EXISTS, [&] {
    room.register_text_stream_handler("t", [](lk::TextStreamReader, const std::string &) {});
  }, "duplicate stream handler");
  // A server that is not there.
  lk::RoomOptions quick;
  quick.connect_timeout_ms = 3000;
  lk::Room unreachable(c, quick);
  expect_error(LK_ERR_CONNECTION_FAILED, [&] { unreachable.connect("ws://127.0.0.1:1", "token"); }, "unreachable");
  expect_error(LK_ERR_INVALID_ARGUMENT, [&] { unreachable.connect("not a url", "token"); }, "bad url");
}

TEST(Errors, EmptyObjectsFailWithInvalidHandle) {
  lk::LocalDataTrack t;
  EXPECT_FALSE(t.valid());
  EXPECT_EQ(t.try_push("x").code(), LK_ERR_INVALID_HANDLE);
  expect_error(LK_ERR_INVALID_HANDLE, [&] { t.push("x"); }, "push on empty track");
  expect_error(LK_ERR_INVALID_HANDLE, [&] { t.is_published(); }, "is_published on empty track");
  lk::DataTrackSubscription s;
  lk::Frame f;
  EXPECT_EQ(s.try_read(f, 0).code(), LK_ERR_INVALID_HANDLE);
  expect_error(LK_ERR_INVALID_HANDLE, [&] { s.read(lk::Millis(0)); }, "read on empty subscription");
  lk::StreamWriter w;
  expect_error(LK_ERR_INVALID_HANDLE, [&] { w.write("x"); }, "write on empty writer");

  lk::Client c;
  lk::Room a(c);
  lk::Room b(std::move(a));
  EXPECT_FALSE(a.valid());
  EXPECT_TRUE(b.valid());
  expect_error(LK_ERR_INVALID_HANDLE, [&] { a.snapshot(); }, "moved-from room");
  lk::Client moved(std::move(c));
  expect_error(LK_ERR_INVALID_HANDLE, [&] { lk::Room r(c); }, "moved-from client");
  EXPECT_EQ(moved.live_handles(), 1u);
}

TEST(Errors, StatusAndErrorCarryTheCode) {
  lk::Status s(LK_ERR_QUEUE_FULL);
  EXPECT_FALSE(s.ok());
  EXPECT_STREQ(s.name(), "LK_ERR_QUEUE_FULL");
  lk::Error e(LK_ERR_TIMEOUT, "slow", true);
  EXPECT_EQ(e.code(), LK_ERR_TIMEOUT);
  EXPECT_TRUE(e.retryable());
  EXPECT_STREQ(e.what(), "LK_ERR_TIMEOUT: slow");
  lk::RpcError r(4001, "nope", "details");
  EXPECT_EQ(r.code(), LK_ERR_RPC_ERROR);
  EXPECT_EQ(r.rpc_code(), 4001u);
  EXPECT_EQ(r.data(), "details");
}

TEST(Client, OwnClientRoomsCloseTheirClient) {
  // A Room without a Client creates and closes its own.
  for (int i = 0; i < 3; i++) {
    lk::Room r;
    EXPECT_TRUE(r.valid());
    EXPECT_NE(r.handle(), 0u);
  }
}

// Strings are UTF-8: one that is not is refused with INVALID_ARGUMENT naming its field (before,
// the library refused the whole request as malformed, INVALID_REQUEST, with libprotobuf
// complaining on stderr).
TEST(Errors, StringsThatAreNotUtf8AreInvalidArguments) {
  lk::Client c;
  lk::RoomOptions o;
  o.ice_servers = {lk::IceServer{{std::string("stun:\xff\xfe.example:3478")}, "", ""}};
  try {
    lk::Room r(c, o);
    ADD_FAILURE() << "a non-UTF-8 ICE URL was accepted";
  } catch (const lk::Error &e) {
    EXPECT_EQ(e.code(), LK_ERR_INVALID_ARGUMENT) << e.what();
    EXPECT_NE(e.message().find("urls"), std::string::npos) << e.what();
  }
  lk::Room r(c);
  expect_error(LK_ERR_INVALID_ARGUMENT, [&] { r.register_rpc_method("caf\xc3", [](const lk::RpcInvocation &) { return ""; }); },
               "truncated sequence");
  expect_error(LK_ERR_INVALID_ARGUMENT, [&] { r.register_text_stream_handler("\xed\xa0\x80", [](lk::TextStreamReader, const std::string &) {}); },
               "surrogate");
  expect_error(LK_ERR_INVALID_ARGUMENT, [&] { r.register_rpc_method("\xc0\xaf", [](const lk::RpcInvocation &) { return ""; }); },
               "overlong");
  r.register_rpc_method("caf\xc3\xa9 \xf0\x9f\x98\x80", [](const lk::RpcInvocation &) { return ""; });  // valid
  EXPECT_EQ(c.echo(std::string("\xff\x00", 2)), std::string("\xff\x00", 2));  // bytes are bytes
}
