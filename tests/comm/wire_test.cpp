// The message layout: what is written reads back exactly; a cut or corrupt
// message fails with a clear error instead of reading past the buffer.
#include <gtest/gtest.h>

#include "farm/comm/local_transport.h"
#include "farm/comm/wire.h"
#include "farm/core/error.h"

using namespace farm;

TEST(Wire, RoundTrip) {
  Tensor a({2, 3, 1, 5}), b({0}), c({4});
  for (int64_t i = 0; i < a.size(); ++i) a.data[i] = static_cast<float>(i) * 0.25f - 1.0f;
  c.data = {1e-38f, -0.0f, 3.4e38f, 1.5f};
  comm::WireWriter w(nlohmann::json{{"id", 7}, {"name", "x"}});
  w.tensor(a);
  w.blob({1, 2, 3});
  w.tensor(b);
  w.tensor(c);
  const auto bytes = w.take();
  // 8 + header + (8 + 4·8 + 30·4) + (8 + 3) + (8 + 8) + (8 + 8 + 16)
  const size_t header = nlohmann::json{{"id", 7}, {"name", "x"}}.dump().size();
  EXPECT_EQ(bytes.size(), 8 + header + (8 + 32 + 120) + 11 + 16 + 32);
  comm::WireReader r(bytes, "test");
  EXPECT_EQ(r.header()["id"], 7);
  const Tensor a2 = r.tensor();
  EXPECT_EQ(a2.shape, a.shape);
  EXPECT_EQ(a2.data, a.data);
  EXPECT_EQ(r.blob(), (comm::Bytes{1, 2, 3}));
  EXPECT_EQ(r.tensor().shape, b.shape);
  const Tensor c2 = r.tensor();
  EXPECT_EQ(std::memcmp(c2.data.data(), c.data.data(), 16), 0);
  EXPECT_TRUE(r.at_end());
}

TEST(Wire, TruncatedMessagesFailClearly) {
  Tensor a({3, 3});
  comm::WireWriter w(nlohmann::json{{"k", 1}});
  w.tensor(a);
  const auto bytes = w.take();
  for (size_t cut : {size_t{0}, size_t{5}, size_t{12}, bytes.size() - 1}) {
    comm::Bytes part(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(cut));
    try {
      comm::WireReader r(part, "message from rank 3");
      r.tensor();
      ADD_FAILURE() << "no error for a message cut at " << cut;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("message from rank 3"), std::string::npos) << e.what();
    }
  }
}

TEST(LocalTransport, DeliversToSelfInOrder) {
  comm::LocalTransport t;
  EXPECT_FALSE(t.poll().has_value());
  t.send(0, 3, {1});
  t.send(0, 4, {2, 2});
  auto m = t.poll();
  ASSERT_TRUE(m);
  EXPECT_EQ(m->tag, 3);
  EXPECT_EQ(t.wait().bytes.size(), 2u);
  EXPECT_EQ(t.traffic().bytes_sent, 3u);
}
