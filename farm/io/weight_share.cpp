#include "farm/io/weight_share.h"

#include <algorithm>

#include "farm/core/error.h"

namespace farm {

WeightShare::WeightShare(std::unique_ptr<GroupLink> link) : link_(std::move(link)) {
  FARM_ASSERT(link_ && link_->size() >= 1, "a stage group without ranks");
  reader_name_ = link_->reader_name();
}

uint8_t* WeightShare::buffer(size_t n) {
  if (buffer_.size() < n) buffer_.resize(n);  // grows only: never zeroed twice
  return buffer_.data();
}

void WeightShare::send_round(Kind kind, const std::string& text, DType dtype, const uint8_t* bytes, size_t n) {
  FARM_ASSERT(reads_files(), "a follower sending weights");
  FARM_ASSERT(!ended_, "weights sent after the group's end");
  uint64_t head[4] = {kind, text.size(), n, static_cast<uint64_t>(dtype)};
  link_->broadcast(head, sizeof head, true);
  std::string t = text;
  if (!t.empty()) link_->broadcast(t.data(), t.size(), false);
  if (n) {
    uint8_t* b = buffer(n);
    std::copy(bytes, bytes + n, b);
    link_->broadcast(b, n, false);
  }
  if (kind != kTensor) ended_ = true;
}

void WeightShare::send(const std::string& key, DType dtype, const uint8_t* stored, size_t n) {
  send_round(kTensor, key, dtype, stored, n);
}

void WeightShare::send_error(const std::string& error) { send_round(kError, error, DType::f32, nullptr, 0); }

WeightShare::Round WeightShare::next_round() {
  FARM_ASSERT(!reads_files(), "the reader receiving weights");
  FARM_ASSERT(!ended_, "weights received after the group's end");
  uint64_t head[4] = {};
  link_->broadcast(head, sizeof head, true);
  Round r;
  FARM_ASSERT(head[0] >= kTensor && head[0] <= kError, "weight round of kind ", head[0]);
  r.kind = static_cast<Kind>(head[0]);
  r.text.resize(head[1]);
  if (!r.text.empty()) link_->broadcast(r.text.data(), r.text.size(), false);
  r.dtype = static_cast<DType>(head[3]);
  r.size = head[2];
  if (r.size) link_->broadcast(buffer(r.size), r.size, false);
  if (r.kind != kTensor) ended_ = true;
  return r;
}

WeightShare::Stored WeightShare::receive(const std::string& key) {
  Round r = next_round();
  // The reader's own words first: they name its file and the key.
  if (r.kind == kError) fail(r.text, " (reported by ", reader_name_, ", which reads this stage's weights)");
  if (r.kind == kEnd)
    fail("weight '", key, "': ", reader_name_, ", which reads this stage's weights, finished without it (the ranks "
         "of a stage disagree on which weights it needs)");
  if (r.text != key)
    fail("weight '", key, "': ", reader_name_, ", which reads this stage's weights, sent '", r.text,
         "' instead (the ranks of a stage disagree on which weights it needs)");
  return {r.dtype, buffer_.data(), r.size};
}

void WeightShare::finish() {
  if (ended_) return;
  if (reads_files()) {
    send_round(kEnd, "", DType::f32, nullptr, 0);
    return;
  }
  const Round r = next_round();
  if (r.kind == kError) fail(r.text, " (reported by ", reader_name_, ", which reads this stage's weights)");
  if (r.kind == kTensor) {
    std::string key = r.text;
    while (!ended_) next_round();  // the rest: the reader must not be left waiting
    fail(reader_name_, ", which reads this stage's weights, sent weight '", key,
         "' that this rank does not need (the ranks of a stage disagree on which weights it needs)");
  }
}

void WeightShare::leave(const std::string& error) noexcept {
  if (ended_) return;
  if (reads_files()) {
    send_error(error);
    return;
  }
  while (!ended_) next_round();
}

}  // namespace farm
