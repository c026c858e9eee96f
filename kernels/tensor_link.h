// TensorLink: a backend's tensors sent from this rank's device straight to
// another rank's device (NCCL), for the stages of a pipeline. The control
// message that says what a state is (ids, shapes) still goes over the rank's
// Transport (MPI); its device tensors go over the link, so a stage's state
// never visits the host.
//
// Both calls return at once. `send` is ordered after the compute already
// queued on this rank's stream that produces the tensors, and keeps them
// alive until the peer has them. `recv` posts the receive and returns
// tensors that the compute queued after it will see filled (the rank's
// stream waits for the receive on the device, the host does not). A rank
// posts its receives from a peer in the order that peer sent (the control
// messages between a pair arrive in order, and each announces its tensors).
//
// Links exist between the directed pairs given at creation: one NCCL
// communicator and one stream per pair, so no receive ever queues behind a
// send of the same rank (see NcclLink in kernels/cuda/nccl_link.h).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "farm/core/tensor.h"

namespace farm::kernels {

struct TensorSpec {
  Shape shape;
  DType dtype = DType::f32;
};

struct LinkEdge {
  int from = -1, to = -1;  // ranks
  bool operator<(const LinkEdge& o) const { return from != o.from ? from < o.from : to < o.to; }
  bool operator==(const LinkEdge& o) const = default;
};

// An all-gather of one byte string per rank over the control transport
// (rank r's bytes at index r), for exchanging communicator ids at start-up.
using AllGather = std::function<std::vector<std::vector<uint8_t>>(std::vector<uint8_t>)>;

class TensorLink {
 public:
  virtual ~TensorLink() = default;
  virtual std::string name() const = 0;
  virtual void send(int dest, std::vector<Tensor> tensors) = 0;
  virtual std::vector<Tensor> recv(int source, const std::vector<TensorSpec>& specs) = 0;
  // True when every send has been handed to its peer.
  virtual bool sends_done() = 0;
  // Payload bytes sent so far.
  virtual int64_t bytes_sent() const = 0;
  // The job failed: a peer may never take a send in flight, so the end of
  // the link must not wait for one (NCCL: abort rather than destroy).
  virtual void abandon() = 0;
};

}  // namespace farm::kernels
