// Registers an RPC method before connecting and answers calls: "reverse" returns the payload
// reversed, an empty payload is answered with an application error.
//
//   rpc_callee --url URL --token TOKEN [--method reverse] [--calls 1] [--wait-ms 30000]
#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

#include <lkcore.hpp>

#include "args.hpp"

int main(int argc, char **argv) {
  Args args(argc, argv, "[--method NAME] [--calls N] [--wait-ms MS]");
  const std::string method = args.get("method", "reverse");
  const long calls = args.num("calls", 1);
  const auto wait = std::chrono::milliseconds(args.num("wait-ms", 30000));
  std::atomic<long> answered{0};
  try {
    lk::Room room;
    // Handlers run on the client's handler threads and may block.
    room.register_rpc_method(method, [&](const lk::RpcInvocation &inv) {
      std::printf("call from %s: %s\n", inv.caller_identity.c_str(), inv.payload.c_str());
      std::fflush(stdout);
      answered++;
      if (inv.payload.empty()) throw lk::RpcError(4000, "empty payload", "send some text");
      return std::string(inv.payload.rbegin(), inv.payload.rend());
    });
    auto snap = room.connect(args.get("url"), args.get("token"));
    std::printf("connected as %s, serving %s\n", snap.local_participant.identity.c_str(), method.c_str());
    std::fflush(stdout);
    auto deadline = std::chrono::steady_clock::now() + wait;
    while (answered.load() < calls && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // let the last answer leave
    if (answered.load() < calls) {
      std::fprintf(stderr, "rpc_callee: %ld of %ld calls within the wait\n", answered.load(), calls);
      return 1;
    }
    return 0;
  } catch (const lk::Error &e) {
    std::fprintf(stderr, "rpc_callee: %s\n", e.what());
    return 1;
  }
}
