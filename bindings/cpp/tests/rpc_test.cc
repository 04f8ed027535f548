// RPC against devsfu: std::function handlers on handler threads, perform_rpc futures and
// callbacks, every error path, 1 MiB payloads.
#include "common.hpp"

using namespace lktest;

namespace {

template <typename T>
T get(std::future<T> &f) {
  if (f.wait_for(kGuard) != std::future_status::ready) throw std::runtime_error("no RPC completion within the guard");
  return f.get();
}

// expect_rpc_error waits for f and checks it fails with the RPC code.
void expect_rpc_error(std::future<std::string> f, uint32_t rpc_code, const char *what) {
  try {
    get(f);
    ADD_FAILURE() << what << ": expected RPC error " << rpc_code;
  } catch (const lk::RpcError &e) {
    EXPECT_EQ(e.rpc_code(), rpc_code) << what << ": " << e.what();
    EXPECT_EQ(e.code(), LK_ERR_RPC_ERROR);
  }
}

}  // namespace

TEST_F(E2E, RpcRoundTripsAndEveryErrorPath) {
  lk::Room bob(client_b);
  std::mutex mu;
  std::vector<lk::RpcInvocation> calls;
  std::atomic<bool> on_event_thread{false};
  // Registered before connecting: nothing that arrives right after joining is missed.
  bob.register_rpc_method("echo", [&](const lk::RpcInvocation &inv) {
    std::lock_guard<std::mutex> l(mu);
    calls.push_back(inv);
    return inv.payload;
  });
  bob.connect(sfu.url, token("bob"));
  bob.register_rpc_method("upper", [&](const lk::RpcInvocation &inv) {
    std::string s = inv.payload;
    for (auto &c : s) c = char(toupper(c));
    // Handlers may block: they run on handler threads, not on the event thread.
    try {
      bob.snapshot();
    } catch (const lk::Error &) {
      on_event_thread = true;
    }
    return s;
  });
  bob.register_rpc_method("fail", [](const lk::RpcInvocation &) -> std::string {
    throw lk::RpcError(4001, "nope", "details");
  });
  bob.register_rpc_method("crash", [](const lk::RpcInvocation &) -> std::string {
    throw std::runtime_error("boom");
  });
  bob.register_rpc_method("slow", [](const lk::RpcInvocation &) {
    std::this_thread::sleep_for(1500ms);
    return std::string("too late");
  });
  expect_error(LK_ERR_ALREADY_EXISTS, [&] {
    bob.register_rpc_method("echo", [](const lk::RpcInvocation &) { return std::string(); });
  }, "duplicate method");

  lk::Room alice = join(client_a, "alice");
  auto f = alice.perform_rpc("bob", "echo", "hi there");
  EXPECT_EQ(get(f), "hi there");
  {
    std::lock_guard<std::mutex> l(mu);
    ASSERT_EQ(calls.size(), 1u);
    EXPECT_EQ(calls[0].caller_identity, "alice");
    EXPECT_EQ(calls[0].method, "echo");
    EXPECT_FALSE(calls[0].request_id.empty());
    EXPECT_GT(calls[0].response_timeout_ms, 0u);
  }
  f = alice.perform_rpc("bob", "upper", "abc", lk::Millis(5000));
  EXPECT_EQ(get(f), "ABC");
  EXPECT_FALSE(on_event_thread.load());

  // 1 MiB each way.
  std::string big;
  for (int i = 0; i < 65536; i++) big += "0123456789abcdef";
  ASSERT_EQ(big.size(), 1u << 20);
  f = alice.perform_rpc("bob", "echo", big);
  EXPECT_EQ(get(f), big);

  // Application error with code, message and data.
  try {
    f = alice.perform_rpc("bob", "fail", "");
    get(f);
    ADD_FAILURE() << "fail: expected an RpcError";
  } catch (const lk::RpcError &e) {
    EXPECT_EQ(e.rpc_code(), 4001u);
    EXPECT_EQ(e.rpc_message(), "nope");
    EXPECT_EQ(e.data(), "details");
  }
  expect_rpc_error(alice.perform_rpc("bob", "crash", ""), lk::RpcError::kApplicationError, "crash");
  expect_rpc_error(alice.perform_rpc("bob", "missing", ""), lk::RpcError::kUnsupportedMethod, "missing");
  try {
    f = alice.perform_rpc("nobody", "echo", "");
    get(f);
    ADD_FAILURE() << "nobody: expected an RpcError";
  } catch (const lk::RpcError &e) {
    EXPECT_TRUE(e.rpc_code() == lk::RpcError::kRecipientNotFound || e.rpc_code() == lk::RpcError::kConnectionTimeout)
        << e.what();
  }
  expect_rpc_error(alice.perform_rpc("bob", "slow", "", lk::Millis(300)), lk::RpcError::kResponseTimeout, "slow");

  // The callback form.
  std::promise<std::string> p;
  alice.perform_rpc("bob", "echo", "cb", [&](std::string payload, std::exception_ptr err) {
    if (err)
      p.set_exception(err);
    else
      p.set_value(std::move(payload));
  });
  auto pf = p.get_future();
  EXPECT_EQ(get(pf), "cb");

  bob.unregister_rpc_method("upper");
  expect_rpc_error(alice.perform_rpc("bob", "upper", "abc"), lk::RpcError::kUnsupportedMethod, "unregistered");
  expect_error(LK_ERR_NOT_FOUND, [&] { bob.unregister_rpc_method("upper"); }, "unregister twice");
}

TEST_F(E2E, RpcOnADisconnectedRoomFails) {
  lk::Room alice = join(client_a, "alice");
  alice.disconnect();
  auto f = alice.perform_rpc("bob", "echo", "x");
  ASSERT_EQ(f.wait_for(kGuard), std::future_status::ready);
  try {
    f.get();
    ADD_FAILURE() << "expected an error";
  } catch (const lk::Error &e) {
    EXPECT_EQ(e.code(), LK_ERR_DISCONNECTED) << e.what();
  }
}

// An RPC handler returning bytes that are not UTF-8 answers kApplicationError at once (before,
// the library refused the response and the caller waited for its timeout, 1502).
TEST_F(E2E, RpcResponseThatIsNotUtf8IsAnApplicationError) {
  lk::Room bob(client_b);
  bob.register_rpc_method("binary", [](const lk::RpcInvocation &) { return std::string("\xff\xfe\x00", 3); });
  bob.register_rpc_method("binary-error", [](const lk::RpcInvocation &) -> std::string {
    throw lk::RpcError(4001, "bad \xff message");
  });
  bob.connect(sfu.url, token("bob"));
  lk::Room alice = join(client_a, "alice");
  expect_rpc_error(alice.perform_rpc("bob", "binary", "", kGuard), lk::RpcError::kApplicationError, "binary response");
  expect_rpc_error(alice.perform_rpc("bob", "binary-error", "", kGuard), lk::RpcError::kApplicationError, "binary error");
}
