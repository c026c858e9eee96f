// Plan JSON: a round trip keeps every field; malformed plans fail with the
// source and the field in the message.
#include <gtest/gtest.h>

#include "farm/core/error.h"
#include "partition/partitioner.h"

namespace farm::partition {
namespace {

Plan sample_plan() {
  ModelCosts c;
  c.device.name = "test";
  c.device.link_bytes_per_s = 1e9;
  c.device.memory_bytes = 1e12;
  c.device.overlap_transfers = true;
  c.workload.steps = 3;
  for (double s : {0.5, 0.25, 0.75, 0.5, 0.25}) c.blocks.push_back({.name = "b", .weight_bytes = 1e6, .seconds = s});
  c.hidden_msg_bytes.assign(6, 1e6);
  c.skips.push_back({.pushed_by = 0, .popped_by = 4, .bytes = 5e5});  // 0 -> 2 in the 3-stage split
  c.blocks[3].reads_context = true;
  c.context_bytes = 2e5;
  c.text_seconds = 0.125;
  c.vae_seconds = 0.5;
  PlanOptions o;
  o.sim_micro_batches_per_pipeline = 6;
  Plan p = partition(c, 2, 3, o);
  p.model = "tiny";
  return p;
}

std::string error_of(const nlohmann::json& j) {
  try {
    Plan::from_json(j, "plan.json");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(PlanJson, RoundTrip) {
  const Plan p = sample_plan();
  const Plan q = Plan::from_json(p.to_json(), "plan.json");
  EXPECT_EQ(q.to_json(), p.to_json());
  EXPECT_EQ(q.stage.size(), 3u);
  EXPECT_EQ(q.stage[2].end, 5u);
  EXPECT_EQ(q.pipelines, 2);
}

// The direct ring's fields: stage 0 sends the skip straight to stage 2 and
// the context once; a plan written before them reads with no once-traffic.
TEST(PlanJson, TrafficFieldsAndOlderPlans) {
  const Plan p = sample_plan();
  const auto& s0 = p.stage[0];
  ASSERT_EQ(s0.end, 2u) << p.to_json().dump();
  EXPECT_EQ(s0.send_bytes, 1e6 + 5e5);
  EXPECT_EQ(s0.send_messages, 2);
  ASSERT_EQ(s0.send_to.size(), 2u);
  EXPECT_EQ(s0.send_to[1].stage, 2);
  EXPECT_EQ(s0.send_to[1].bytes, 5e5);
  EXPECT_EQ(s0.send_bytes_once, 2e5);
  EXPECT_EQ(s0.send_messages_once, 1);  // the last stage: context and items in one batch message
  const auto j = p.to_json();
  EXPECT_EQ(j["stage"][0]["send_to"][1]["bytes"], 5e5);
  EXPECT_EQ(j["stage"][0]["send_bytes_once"], 2e5);
  auto old = j;
  for (auto& st : old["stage"])
    for (const char* k : {"send_bytes_once", "send_messages", "send_messages_once", "send_to", "recv_bytes",
                          "recv_bytes_once", "send_once_s"})
      st.erase(k);
  const Plan q = Plan::from_json(old, "old.json");
  EXPECT_EQ(q.stage[0].send_bytes, s0.send_bytes);
  EXPECT_EQ(q.stage[0].send_bytes_once, 0);
  EXPECT_EQ(q.stage[0].send_messages, 1);
  EXPECT_TRUE(q.stage[0].send_to.empty());
  EXPECT_EQ(q.stage[0].send_once_s, 0);
  auto bad = j;
  bad["stage"][0]["send_to"][0]["stage"] = 3;
  EXPECT_NE(error_of(bad).find("field 'stage[0].send_to[0].stage': expected a stage below 3"), std::string::npos)
      << error_of(bad);
}

// What a hand-written plan needs: the layout and the ranges.
TEST(PlanJson, MinimalHandWrittenPlan) {
  const auto j = nlohmann::json::parse(R"({"pipelines": 1, "stages": 2, "blocks": 5,
                                           "stage": [{"begin": 0, "end": 2}, {"begin": 2, "end": 5}]})");
  const Plan p = Plan::from_json(j, "hand.json");
  EXPECT_EQ(p.window, 3);
  EXPECT_TRUE(p.stage[0].text_encoder);
  EXPECT_TRUE(p.stage[1].vae);
  EXPECT_EQ(p.workload.steps, 20);
}

TEST(PlanJson, ErrorsNameSourceAndField) {
  const nlohmann::json good = sample_plan().to_json();
  auto j = good;
  j["stage"][1]["begin"] = 0;
  {
    const std::string e = error_of(j);
    EXPECT_NE(e.find("plan.json: field 'stage[1].begin'"), std::string::npos) << e;
  }
  j = good;
  j["stage"][2]["end"] = 4;
  EXPECT_NE(error_of(j).find("cover blocks [0, 4)"), std::string::npos) << error_of(j);
  j = good;
  j["stage"][0]["end"] = j["stage"][0]["begin"];
  EXPECT_NE(error_of(j).find("field 'stage[0].end'"), std::string::npos) << error_of(j);
  j = good;
  j["stage"].erase(2);
  EXPECT_NE(error_of(j).find("field 'stage': expected 3 entries"), std::string::npos) << error_of(j);
  j = good;
  j["workload"]["steps"] = 0;
  EXPECT_NE(error_of(j).find("field 'workload.steps': expected at least 1"), std::string::npos) << error_of(j);
  j = good;
  j["stage"][1].erase("end");
  EXPECT_NE(error_of(j).find("field 'stage[1].end': missing"), std::string::npos) << error_of(j);
  j = good;
  j["pipelines"] = "two";
  EXPECT_NE(error_of(j).find("field 'pipelines': expected an integer"), std::string::npos) << error_of(j);
  j = good;
  j["stage"][1]["vae"] = true;
  EXPECT_NE(error_of(j).find("field 'stage[1].vae'"), std::string::npos) << error_of(j);
  EXPECT_EQ(error_of(nlohmann::json::array()), "plan.json: expected a JSON object");
  j = good;
  j["stage"][0] = 3;
  EXPECT_EQ(error_of(j), "plan.json: field 'stage[0]': expected an object");
}

}  // namespace
}  // namespace farm::partition
