// Data streams against devsfu: whole and incremental text/byte streams, files, aborts, with
// SHA-256 checks of multi-megabyte contents.
#include <fstream>

#include "common.hpp"

using namespace lktest;

namespace {

// Inbox collects what stream handlers read (on handler threads).
struct Received {
  std::string identity;
  std::string content;
  int32_t error = LK_OK;
  lk::Attributes trailer;
  std::optional<lk::TextStreamInfo> text;
  std::optional<lk::ByteStreamInfo> bytes;
};

class Inbox {
 public:
  void put(Received r) {
    std::lock_guard<std::mutex> l(mu_);
    items_.push_back(std::move(r));
    cv_.notify_all();
  }
  Received take() {
    std::unique_lock<std::mutex> l(mu_);
    if (!cv_.wait_for(l, kGuard, [&] { return !items_.empty(); })) {
      ADD_FAILURE() << "no stream received within the guard";
      return {};
    }
    Received r = std::move(items_.front());
    items_.erase(items_.begin());
    return r;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Received> items_;
};

template <typename Reader>
Received drain(Reader &reader, const std::string &identity) {
  Received r;
  r.identity = identity;
  try {
    r.content = reader.read_all(kGuard);
  } catch (const lk::Error &e) {
    r.error = e.code();
  }
  r.trailer = reader.trailer_attributes();
  return r;
}

}  // namespace

TEST_F(E2E, TextAndByteStreamsWithSha256) {
  Inbox texts, bytes;
  lk::Room bob(client_b);
  bob.register_text_stream_handler("chat", [&](lk::TextStreamReader reader, const std::string &identity) {
    Received r = drain(reader, identity);
    r.text = reader.info();
    texts.put(std::move(r));
  });
  bob.register_byte_stream_handler("files", [&](lk::ByteStreamReader reader, const std::string &identity) {
    Received r = drain(reader, identity);
    r.bytes = reader.info();
    bytes.put(std::move(r));
  });
  bob.connect(sfu.url, token("bob"));
  lk::Room alice = join(client_a, "alice");

  // Whole text stream, with attributes; multi-byte UTF-8 survives chunking.
  std::string text;
  for (int i = 0; i < 4000; i++) text += "héllo wörld ✓ ";
  lk::TextStreamOptions to;
  to.topic = "chat";
  to.attributes = {{"k", "v"}};
  auto sent = alice.send_text(text, to);
  EXPECT_FALSE(sent.stream_id.empty());
  auto r = texts.take();
  EXPECT_EQ(r.error, LK_OK);
  EXPECT_EQ(r.identity, "alice");
  EXPECT_EQ(sha256(r.content), sha256(text));
  ASSERT_TRUE(r.text.has_value());
  EXPECT_EQ(r.text->stream_id, sent.stream_id);
  EXPECT_EQ(r.text->attributes.at("k"), "v");
  EXPECT_FALSE(r.text->encrypted);

  // 3 MB byte stream.
  std::string blob = random_bytes(3 * 1000 * 1000, 7);
  lk::ByteStreamOptions bo;
  bo.topic = "files";
  bo.name = "blob.bin";
  bo.mime_type = "application/x-test";
  auto binfo = alice.send_bytes(blob.data(), blob.size(), bo);
  r = bytes.take();
  EXPECT_EQ(r.error, LK_OK);
  EXPECT_EQ(r.content.size(), blob.size());
  EXPECT_EQ(sha256(r.content), sha256(blob));
  ASSERT_TRUE(r.bytes.has_value());
  EXPECT_EQ(r.bytes->stream_id, binfo.stream_id);
  EXPECT_EQ(r.bytes->name, "blob.bin");
  EXPECT_EQ(r.bytes->mime_type, "application/x-test");

  // Incremental byte writer: writes in order, trailer attributes at the end.
  lk::ByteStreamOptions wo;
  wo.topic = "files";
  wo.name = "incremental";
  lk::StreamWriter w = alice.open_byte_writer(wo);
  EXPECT_FALSE(w.is_text());
  std::string whole;
  for (uint32_t i = 0; i < 20; i++) {
    std::string part = random_bytes(50 * 1000, 100 + i);
    w.write(part);
    whole += part;
  }
  w.close({{"parts", "20"}});
  expect_error(LK_ERR_FAILED_PRECONDITION, [&] { w.write("more"); }, "write after close");
  r = bytes.take();
  EXPECT_EQ(r.error, LK_OK);
  EXPECT_EQ(sha256(r.content), sha256(whole));
  EXPECT_EQ(r.trailer["parts"], "20");

  // Text writer.
  lk::TextStreamOptions two;
  two.topic = "chat";
  lk::StreamWriter tw = alice.open_text_writer(two);
  EXPECT_TRUE(tw.is_text());
  tw.write("one ");
  tw.write("two");
  tw.close();
  EXPECT_EQ(texts.take().content, "one two");

  // A file, read by the library.
  std::string path = ::testing::TempDir() + "lkcore-cpp-stream-" + std::to_string(getpid()) + ".bin";
  std::string file = random_bytes(1200 * 1000, 9);
  {
    std::ofstream out(path, std::ios::binary);
    out.write(file.data(), std::streamsize(file.size()));
  }
  lk::ByteStreamOptions fo;
  fo.topic = "files";
  auto finfo = alice.send_file(path, fo);
  std::remove(path.c_str());
  r = bytes.take();
  EXPECT_EQ(sha256(r.content), sha256(file));
  EXPECT_EQ(r.bytes->name, finfo.name);
  EXPECT_EQ(r.bytes->total_length, std::optional<uint64_t>(file.size()));
  expect_error(LK_ERR_IO_ERROR, [&] { alice.send_file("/nonexistent/lkcore-file", fo); }, "missing file");

  // An unclosed writer that is destroyed aborts its stream.
  {
    lk::StreamWriter aborted = alice.open_text_writer(two);
    aborted.write("partial");
  }
  r = texts.take();
  EXPECT_EQ(r.error, LK_ERR_ABORTED);

  // A stream on a topic without a handler is ignored; unregistering stops delivery.
  bob.unregister_text_stream_handler("chat");
  alice.send_text("ignored", to);
  alice.send_bytes("marker", 6, bo);
  EXPECT_EQ(bytes.take().content, "marker");
}

TEST_F(E2E, SlowReaderGetsEverythingInOrder) {
  Inbox inbox;
  lk::Room bob(client_b);
  bob.register_byte_stream_handler("slow", [&](lk::ByteStreamReader reader, const std::string &identity) {
    Received r;
    r.identity = identity;
    try {
      while (auto chunk = reader.read_chunk(kGuard)) {
        r.content += *chunk;
        std::this_thread::sleep_for(1ms);  // slower than the sender: flow control holds it back
      }
    } catch (const lk::Error &e) {
      r.error = e.code();
    }
    inbox.put(std::move(r));
  });
  bob.connect(sfu.url, token("bob"));
  lk::Room alice = join(client_a, "alice");
  std::string blob = random_bytes(2 * 1000 * 1000, 3);
  lk::ByteStreamOptions o;
  o.topic = "slow";
  alice.send_bytes(blob.data(), blob.size(), o);
  auto r = inbox.take();
  EXPECT_EQ(r.error, LK_OK);
  EXPECT_EQ(sha256(r.content), sha256(blob));
}
