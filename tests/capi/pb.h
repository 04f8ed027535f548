// Minimal protobuf wire encoding/decoding for the C ABI tests. Deliberately independent of
// the generated code: the tests check the schema's wire numbers from the outside.
#ifndef LKCORE_TESTS_PB_H
#define LKCORE_TESTS_PB_H

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace pb {

// Msg builds one message.
class Msg {
 public:
  Msg &varint(uint32_t field, uint64_t v) {
    key(field, 0);
    put(v);
    return *this;
  }
  Msg &bytes(uint32_t field, const std::string &b) {
    key(field, 2);
    put(b.size());
    buf_ += b;
    return *this;
  }
  Msg &msg(uint32_t field, const Msg &m) { return bytes(field, m.str()); }
  const std::string &str() const { return buf_; }
  const uint8_t *data() const { return reinterpret_cast<const uint8_t *>(buf_.data()); }
  size_t size() const { return buf_.size(); }

 private:
  void key(uint32_t field, int wt) { put((uint64_t(field) << 3) | uint64_t(wt)); }
  void put(uint64_t v) {
    while (v >= 0x80) {
      buf_.push_back(char(v | 0x80));
      v >>= 7;
    }
    buf_.push_back(char(v));
  }
  std::string buf_;
};

// Fields is a decoded message: the last value of each field (enough for these tests).
struct Fields {
  bool ok = false;
  std::map<uint32_t, uint64_t> varints;
  std::map<uint32_t, std::string> bytes;

  bool has(uint32_t f) const { return varints.count(f) || bytes.count(f); }
  uint64_t u(uint32_t f) const {
    auto it = varints.find(f);
    return it == varints.end() ? 0 : it->second;
  }
  std::string b(uint32_t f) const {
    auto it = bytes.find(f);
    return it == bytes.end() ? std::string() : it->second;
  }
  Fields sub(uint32_t f) const;
};

inline bool get_varint(const uint8_t *&p, const uint8_t *end, uint64_t &v) {
  v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (p >= end) return false;
    uint8_t c = *p++;
    v |= uint64_t(c & 0x7f) << shift;
    if (!(c & 0x80)) return true;
  }
  return false;
}

inline Fields parse(const uint8_t *p, size_t n) {
  Fields out;
  const uint8_t *end = p + n;
  while (p < end) {
    uint64_t key, v;
    if (!get_varint(p, end, key)) return out;
    uint32_t field = uint32_t(key >> 3);
    switch (key & 7) {
      case 0:
        if (!get_varint(p, end, v)) return out;
        out.varints[field] = v;
        break;
      case 2:
        if (!get_varint(p, end, v) || v > uint64_t(end - p)) return out;
        out.bytes[field] = std::string(reinterpret_cast<const char *>(p), size_t(v));
        p += v;
        break;
      case 1:
        if (end - p < 8) return out;
        p += 8;
        break;
      case 5:
        if (end - p < 4) return out;
        p += 4;
        break;
      default:
        return out;
    }
  }
  out.ok = true;
  return out;
}

inline Fields parse(const std::string &s) {
  return parse(reinterpret_cast<const uint8_t *>(s.data()), s.size());
}

inline Fields Fields::sub(uint32_t f) const { return parse(b(f)); }

}  // namespace pb

#endif
