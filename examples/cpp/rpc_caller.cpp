// Calls an RPC method on another participant (waiting until it has joined) and prints the
// answer or the RPC error.
//
//   rpc_caller --url URL --token TOKEN --destination IDENTITY [--method reverse] [--payload hello]
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

#include <lkcore.hpp>

#include "args.hpp"

int main(int argc, char **argv) {
  Args args(argc, argv, "--destination IDENTITY [--method NAME] [--payload TEXT] [--wait-ms MS]");
  const std::string dest = args.get("destination"), method = args.get("method", "reverse");
  const auto wait = std::chrono::milliseconds(args.num("wait-ms", 30000));
  if (dest.empty()) {
    std::fprintf(stderr, "rpc_caller: --destination is required\n");
    return 2;
  }
  try {
    lk::Room room;
    room.connect(args.get("url"), args.get("token"));
    auto deadline = std::chrono::steady_clock::now() + wait;
    while (!room.remote_participant(dest) && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    std::future<std::string> answer = room.perform_rpc(dest, method, args.get("payload", "hello"));
    if (answer.wait_for(wait) != std::future_status::ready) {
      std::fprintf(stderr, "rpc_caller: no answer\n");
      return 1;
    }
    std::printf("response: %s\n", answer.get().c_str());
    return 0;
  } catch (const lk::RpcError &e) {
    std::printf("rpc error %u: %s (%s)\n", e.rpc_code(), e.rpc_message().c_str(), e.data().c_str());
    return 3;
  } catch (const lk::Error &e) {
    std::fprintf(stderr, "rpc_caller: %s\n", e.what());
    return 1;
  }
}
