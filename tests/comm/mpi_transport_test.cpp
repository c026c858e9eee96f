// MpiTransport under mpirun (ctest runs it with 3 ranks): messages of every
// size from empty to tens of MB arrive intact and in order per sender, to
// self too, also when several receives are under way at once; collectives
// return what each rank gave; drain() ends cleanly with
// messages nobody received still in flight. Exits non-zero on any mismatch.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "farm/comm/mpi_transport.h"

using namespace farm::comm;

namespace {

int failures = 0;
void check(bool ok, const char* what, int rank) {
  if (!ok) {
    std::fprintf(stderr, "rank %d: FAIL %s\n", rank, what);
    ++failures;
  }
}

Bytes pattern(size_t n, int from, int seq) {
  Bytes b(n);
  for (size_t i = 0; i < n; ++i) b[i] = static_cast<uint8_t>((i * 31 + static_cast<size_t>(from) * 7 + seq) & 0xff);
  return b;
}

}  // namespace

int main() {
  if (!launched_by_mpi()) {
    std::fprintf(stderr, "run me under mpirun\n");
    return 2;
  }
  MpiTransport t;
  const int me = t.rank(), n = t.size();
  const size_t sizes[] = {0, 1, 4096, 65537, 3u << 20, 24u << 20};
  // Every rank sends every size to every rank (itself included), in order.
  int seq = 0;
  for (size_t s : sizes) {
    for (int d = 0; d < n; ++d) t.send(d, 10 + seq, pattern(s, me, seq));
    ++seq;
  }
  std::vector<int> next(static_cast<size_t>(n), 0);
  for (int got = 0; got < n * seq; ++got) {
    Message m = t.wait();
    const int k = next[static_cast<size_t>(m.source)]++;
    check(m.tag == 10 + k, "per-sender order", me);
    check(m.bytes == pattern(sizes[k], m.source, k), "payload bytes", me);
  }
  // A big message, then small ones, from one sender: by the time the
  // receiver looks, every envelope has arrived and every receive starts at
  // once; the small ones complete first but must come out after the big one.
  const int prev = (me + n - 1) % n;
  t.send((me + 1) % n, 50, pattern(6u << 20, me, 50));
  for (int k = 1; k <= 5; ++k) t.send((me + 1) % n, 50 + k, pattern(100, me, 50 + k));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  for (int k = 0; k <= 5; ++k) {
    Message m = t.wait();
    check(m.source == prev && m.tag == 50 + k, "per-sender order with receives started together", me);
    check(m.bytes == pattern(k == 0 ? 6u << 20 : 100, prev, 50 + k), "payload bytes (started together)", me);
  }
  // Count before finishing the sends: a faster peer may already be past the
  // collectives below and sending the tag 98/99 messages, which a poll()
  // here would receive. sends_done() alone progresses the sends (MPI_Test).
  check(t.traffic().messages_received == static_cast<uint64_t>(n * seq + 6), "receive count", me);
  while (!t.sends_done()) {
  }

  const Bytes root = t.broadcast(me == 1 ? Bytes{9, 8, 7} : Bytes{}, 1);
  check(root == (Bytes{9, 8, 7}), "broadcast", me);
  const auto all = t.gather(pattern(static_cast<size_t>(me) * 100, me, 0), 0);
  if (me == 0)
    for (int r = 0; r < n; ++r) check(all[static_cast<size_t>(r)] == pattern(static_cast<size_t>(r) * 100, r, 0), "gather", me);

  // Left unreceived on purpose: a big one (rendezvous) and a small one (eager).
  t.send((me + 1) % n, 99, pattern(8u << 20, me, 1));
  t.send((me + 1) % n, 98, pattern(10, me, 2));
  t.drain();
  std::fprintf(stderr, "rank %d: %s\n", me, failures ? "FAILED" : "ok");
  return failures ? 1 : 0;
}
