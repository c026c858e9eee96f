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
  c.cut_bytes.assign(6, 1e6);
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
