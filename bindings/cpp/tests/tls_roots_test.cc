// RoomOptions::tls_root_certificates_pem (ABI 1.30): the roots a room's wss:// signalling trusts,
// against the suite's devsfu, which also serves wss:// (LKCORE_DEVSFU_TLS_URL) with a certificate
// for 127.0.0.1 that a CA made at its start signed (its PEM in LKCORE_DEVSFU_TLS_CA). The library
// applies and checks the option; the binding passes it on. These tests fail, never skip, without
// the two variables (tests/suites/cpp.sh sets them).
#include <fstream>
#include <sstream>

#include "common.hpp"

using namespace lktest;

namespace {

// A self-signed CA that signed nothing the server presents (generated once with openssl; valid
// until 2126, though an expired root would be refused the same way).
const char kAnotherCa[] = R"(-----BEGIN CERTIFICATE-----
MIIBtDCCAVmgAwIBAgIUW1Rxi7x9p1cMJzsYhmnSivXzZmcwCgYIKoZIzj0EAwIw
JjEkMCIGA1UEAwwbbGtjb3JlIGNwcCB0ZXN0OiBhbm90aGVyIENBMCAXDTI2MTIw
NzA1MTcxOVoYDzIxMjYxMTEzMDUxNzE5WjAmMSQwIgYDVQQDDBtsa2NvcmUgY3Bw
IHRlc3Q6IGFub3RoZXIgQ0EwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAASysI74
txc8hAwtGSxDWzV4Tv1a1PwEiQ5gy+EfOKfwPgsPoAJb7OHrlQw/suRo1c1a2XIr
3EcOrBrXLhmUjgW3o2MwYTAdBgNVHQ4EFgQU4fpbideSf4YWTGiFXz34k490Wl8w
HwYDVR0jBBgwFoAU4fpbideSf4YWTGiFXz34k490Wl8wDwYDVR0TAQH/BAUwAwEB
/zAOBgNVHQ8BAf8EBAMCAgQwCgYIKoZIzj0EAwIDSQAwRgIhAOXvY+chPTA857V4
bC/qORoBwhZiZ5JcUmVPB2Ypjf5sAiEA3VocGP7y+XGAsKUo+xXVbSHAXAn2pRet
a24jy+RBqqI=
-----END CERTIFICATE-----
)";

std::string read_file(const std::string &path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

constexpr const char *kNeedsTls =
    "LKCORE_DEVSFU_TLS_URL/TLS_CA must be set (tests/suites/cpp.sh starts devsfu with --tls-ca-out)";

// expect_connect_refused checks that a room with these options fails to connect to the wss://
// URL with LK_ERR_CONNECTION_FAILED, for the server's certificate (the library's message names
// the certificate).
void expect_connect_refused(lk::Client &c, const lk::RoomOptions &o, const std::string &url,
                            const std::string &token, const char *what) {
  lk::Room r(c, o);
  try {
    r.connect(url, token);
    ADD_FAILURE() << what << ": connect to " << url << " succeeded";
  } catch (const lk::Error &e) {
    EXPECT_EQ(e.code(), LK_ERR_CONNECTION_FAILED) << what << ": " << e.what();
    EXPECT_NE(std::string(e.what()).find("certificate"), std::string::npos) << what << ": " << e.what();
  }
}

}  // namespace

// Given the server's CA, a room connects over wss://: its snapshot names it, and a participant
// that joined the same room over the plain ws:// URL sees it arrive (one server, one room). The
// roots do not get in the way of a ws:// URL either. Fails when the option does not reach the
// library (the system's roots do not know the CA).
TEST_F(E2E, TlsRootsConnectToAServerAPrivateCaSigned) {
  ASSERT_TRUE(sfu.tls_ok()) << kNeedsTls;
  ASSERT_EQ(sfu.tls_url.rfind("wss://", 0), 0u) << sfu.tls_url;
  const std::string ca = read_file(sfu.tls_ca);
  ASSERT_NE(ca.find("-----BEGIN CERTIFICATE-----"), std::string::npos) << sfu.tls_ca;

  auto bob = join_with_events(client_b, "bob");
  lk::RoomOptions o;
  o.tls_root_certificates_pem = ca;
  lk::Room alice(client_a, o);
  lk::RoomSnapshot s = alice.connect(sfu.tls_url, token("alice"));
  EXPECT_EQ(s.local_participant.identity, "alice");
  EXPECT_EQ(s.room.name, room);
  bool sees_bob = false;
  for (const auto &p : s.remote_participants) sees_bob |= p.identity == "bob";
  EXPECT_TRUE(sees_bob) << "alice, over wss://, does not see bob, who joined over ws://";
  auto joined = bob.events.wait<lk::ParticipantConnectedEvent>(
      [](const lk::ParticipantConnectedEvent &e) { return e.info.identity == "alice"; });
  EXPECT_EQ(joined.info.identity, "alice");
  // Data flows over the connection the signalling set up.
  alice.publish_data("over wss", {true, "tls", {}});
  auto got = bob.events.wait<lk::DataReceivedEvent>([](const lk::DataReceivedEvent &e) { return e.topic == "tls"; });
  EXPECT_EQ(got.payload, "over wss");
  EXPECT_EQ(got.participant_identity, "alice");

  // The same roots on a ws:// URL: nothing to verify, it connects.
  lk::Room carol(client_a, o);
  EXPECT_EQ(carol.connect(sfu.url, token("carol")).local_participant.identity, "carol");
}

// Without the option (the system's roots), or with a CA that did not sign the server's
// certificate, connecting to the wss:// URL fails with LK_ERR_CONNECTION_FAILED.
TEST_F(E2E, TlsRootsWithoutTheServersCaConnectFails) {
  ASSERT_TRUE(sfu.tls_ok()) << kNeedsTls;
  expect_connect_refused(client_a, lk::RoomOptions{}, sfu.tls_url, token("alice"), "the system's roots");
  lk::RoomOptions other;
  other.tls_root_certificates_pem = kAnotherCa;
  expect_connect_refused(client_a, other, sfu.tls_url, token("bob"), "another CA");
}

// A value that holds no certificate, or is larger than 1 MiB (even with the server's CA in it),
// is refused by the library when the room is created: the Room constructor throws
// LK_ERR_INVALID_ARGUMENT naming the field, and no handle is left (TearDown checks). Fails when
// the option does not reach the library (the room would be created).
TEST_F(E2E, TlsRootsThatAreNoCertificateAreRefused) {
  ASSERT_TRUE(sfu.tls_ok()) << kNeedsTls;
  const std::string ca = read_file(sfu.tls_ca);
  ASSERT_FALSE(ca.empty()) << sfu.tls_ca;
  // n bytes of text before the CA (a block begins at the start of a line).
  auto pad = [](size_t n) { return std::string(n - 1, '#') + "\n"; };
  const std::pair<const char *, std::string> cases[] = {
      {"not a certificate", "not a certificate"},
      {"a CERTIFICATE block that is not one", "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n"},
      {"more than 1 MiB", pad(1u << 20) + ca},
  };
  for (const auto &[what, pem] : cases) {
    lk::RoomOptions o;
    o.tls_root_certificates_pem = pem;
    try {
      lk::Room r(client_a, o);
      ADD_FAILURE() << what << ": the room was created";
    } catch (const lk::Error &e) {
      EXPECT_EQ(e.code(), LK_ERR_INVALID_ARGUMENT) << what << ": " << e.what();
      EXPECT_NE(std::string(e.what()).find("tls_root_certificates_pem"), std::string::npos) << what << ": " << e.what();
    }
  }
  // Exactly 1 MiB is accepted (the server's CA with the same padding in front, shorter).
  lk::RoomOptions o;
  o.tls_root_certificates_pem = pad((1u << 20) - ca.size()) + ca;
  ASSERT_EQ(o.tls_root_certificates_pem.size(), 1u << 20);
  lk::Room r(client_a, o);
  EXPECT_EQ(r.connect(sfu.tls_url, token("alice")).local_participant.identity, "alice");
}
