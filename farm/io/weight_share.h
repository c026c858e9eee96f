// Weights read once per stage group (`farm render --weights shared`). The
// ranks that hold the same pipeline stage load the same tensors in the same
// order, so one of them, the reader, reads each tensor's stored bytes from
// its file and broadcasts them; the others (followers) convert the bytes
// they receive through the same function the reader uses (stored_to_f32),
// so every rank's weights are bit-identical, and a follower never touches
// its files' data pages (it still opens and checks every header itself).
//
// farm/io knows nothing of MPI: the broadcast is a GroupLink, made over a
// communicator split by stage in farm/comm/mpi_weight_share.h.
//
// The reader leads. Each round is a header (a tensor, the end, or the
// reader's error), its text (the key, or the error message) and, for a
// tensor, its bytes. A rank that fails to load calls leave(): the reader
// sends its error, which ends the group's loading; a follower takes the
// reader's remaining rounds until that end, so nobody is left blocked in a
// broadcast. The job's start-up then fails through run_rank's all_ok().
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "farm/core/tensor.h"

namespace farm {

// The ranks of one stage group; group rank 0 reads the files.
class GroupLink {
 public:
  virtual ~GroupLink() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // The reader as error messages name it: "rank 2 (host n1)".
  virtual std::string reader_name() const = 0;
  // Group rank 0's `n` bytes at `data` into every rank's `data` (the same n
  // on every rank). `idle`: the wait may be long (the reader is reading the
  // next tensor from disk), so wait without spinning a core.
  virtual void broadcast(void* data, size_t n, bool idle) = 0;
};

class WeightShare {
 public:
  explicit WeightShare(std::unique_ptr<GroupLink> link);

  bool reads_files() const { return link_->rank() == 0; }
  const std::string& reader_name() const { return reader_name_; }

  // Reader: one tensor's `n` stored bytes (in `dtype`), to every follower.
  void send(const std::string& key, DType dtype, const uint8_t* stored, size_t n);
  // Reader: ends the group's loading; every follower's receive() throws `error`.
  void send_error(const std::string& error);

  struct Stored {
    DType dtype;
    const uint8_t* bytes;  // valid until the next call
    size_t size;
  };
  // Follower: `key`'s bytes as the reader read them. Throws the reader's
  // error, or when the reader sent another key (a bug: the ranks of a group
  // must load the same keys in the same order).
  Stored receive(const std::string& key);

  // Every rank after its last weight: the reader says so; a follower checks
  // that the reader has nothing more (throws when it has, after taking it).
  void finish();
  // Every rank whose loading failed, with its error: see the file comment.
  // Does nothing once this rank has seen (or sent) the group's end.
  void leave(const std::string& error) noexcept;

 private:
  enum Kind : uint64_t { kTensor = 1, kEnd = 2, kError = 3 };
  struct Round {
    Kind kind = kEnd;
    std::string text;  // the key, or the reader's error
    DType dtype = DType::f32;
    size_t size = 0;  // bytes, in buffer_
  };
  void send_round(Kind kind, const std::string& text, DType dtype, const uint8_t* bytes, size_t n);
  Round next_round();  // follower: the reader's next round, whole
  uint8_t* buffer(size_t n);

  std::unique_ptr<GroupLink> link_;
  std::string reader_name_;
  bool ended_ = false;  // this rank has sent (reader) or taken (follower) the end or the error
  // One tensor's bytes, kept from tensor to tensor: a fresh buffer each
  // time would fault in and zero its pages again (a follower's load time).
  // The reader copies into it too: MPI may not send from a read-only mapping.
  std::vector<uint8_t> buffer_;
};

}  // namespace farm
