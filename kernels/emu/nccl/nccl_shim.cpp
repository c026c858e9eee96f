// NCCL's point-to-point API for emulated builds, carried over MPI (see
// include/nccl.h for what blocks, README.md for the tag scheme and limits).
//
// Everything goes over MPI_COMM_WORLD, which the shim shares with other
// users: it only ever receives with its own tags (the upper half of the tag
// space, one block of three per communicator) and, but for the creator's
// gather during init, from an exact source. It cannot duplicate WORLD: that
// is collective over all ranks, and communicator init is not.
#include <mpi.h>
#include <nccl.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <deque>
#include <mutex>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace {

thread_local std::string last_error;

template <class... Args>
ncclResult_t fail(ncclResult_t r, const Args&... args);

// Process-wide MPI facts, read once MPI is up.
struct World {
  int rank = -1, size = 0;
  int tag_base = 0, tag_ub = 0;
  std::string host;
};

std::mutex world_mu;
World world_state;
uint32_t next_serial = 0;  // per process: ids from different creators differ by root

ncclResult_t world(const World** out) {
  int up = 0, down = 0;
  MPI_Initialized(&up);
  MPI_Finalized(&down);
  if (!up || down) return fail(ncclSystemError, "MPI is not initialised (the shim carries NCCL over MPI)");
  std::lock_guard lock(world_mu);
  World& w = world_state;
  if (w.size == 0) {
    // Errors as return codes: a peer that died must not kill this rank
    // inside ncclCommAbort. MpiTransport sets the same on WORLD.
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &w.rank);
    MPI_Comm_size(MPI_COMM_WORLD, &w.size);
    void* ub = nullptr;
    int found = 0;
    MPI_Comm_get_attr(MPI_COMM_WORLD, MPI_TAG_UB, &ub, &found);
    w.tag_ub = found ? *static_cast<int*>(ub) : 32767;  // 32767: the least MPI guarantees
    w.tag_base = w.tag_ub / 2 + 1;
    char name[MPI_MAX_PROCESSOR_NAME] = {};
    int len = 0;
    MPI_Get_processor_name(name, &len);
    w.host.assign(name, static_cast<size_t>(len));
  }
  *out = &w;
  return ncclSuccess;
}

template <class... Args>
ncclResult_t fail(ncclResult_t r, const Args&... args) {
  std::ostringstream s;
  s << "NCCL (farm emulator shim): ";
  (s << ... << args);
  if (world_state.size > 0) s << " (world rank " << world_state.rank << " on " << world_state.host << ")";
  last_error = s.str();
  return r;
}

ncclResult_t mpi_fail(int rc, const char* call) {
  char text[MPI_MAX_ERROR_STRING] = {};
  int len = 0;
  MPI_Error_string(rc, text, &len);
  return fail(ncclRemoteError, call, " failed: ", text);
}

// The 128 bytes of an ncclUniqueId.
struct IdFields {
  char magic[8];
  int32_t root;        // world rank of the creator, which gathers the rank table
  uint32_t serial;     // the creator's count of ids made before this one
  int32_t world_size;  // to refuse an id from another job
};
static_assert(sizeof(IdFields) <= sizeof(ncclUniqueId));
constexpr char kMagic[8] = {'f', 'a', 'r', 'm', 'N', 'C', 'C', 'L'};

// Tags of one communicator: base + 3 * (serial * world_size + root) + kind.
enum TagKind { kHello = 0, kTable = 1, kData = 2 };
constexpr int kTagsPerComm = 3;

ncclResult_t comm_tag_base(const World& w, const IdFields& id, int* tag) {
  const int64_t slot = int64_t{id.serial} * w.size + id.root;
  const int64_t first = w.tag_base + kTagsPerComm * slot;
  if (first + kTagsPerComm - 1 > w.tag_ub)
    return fail(ncclInternalError, "out of MPI tags: world rank ", id.root, " made its id number ", id.serial,
                ", but MPI_TAG_UB ", w.tag_ub, " leaves room for ", (w.tag_ub - w.tag_base + 1) / kTagsPerComm / w.size,
                " per rank");
  *tag = static_cast<int>(first);
  return ncclSuccess;
}

size_t type_size(ncclDataType_t t) {
  switch (t) {
    case ncclInt8:
    case ncclUint8:
    case ncclFloat8e4m3:
    case ncclFloat8e5m2: return 1;
    case ncclFloat16:
    case ncclBfloat16: return 2;
    case ncclInt32:
    case ncclUint32:
    case ncclFloat32: return 4;
    case ncclInt64:
    case ncclUint64:
    case ncclFloat64: return 8;
    default: return 0;
  }
}

// A send posted to MPI; `bytes` must live until the request completes.
struct Posted {
  std::vector<char> bytes;
  MPI_Request request = MPI_REQUEST_NULL;
};

// Buffers of sends given up by ncclCommAbort: MPI may still read them, so
// they are never freed (reachable, so leak checkers stay quiet).
std::mutex abandoned_mu;
std::deque<std::vector<char>> abandoned;

}  // namespace

struct ncclComm {
  int nranks = 0, rank = 0;
  IdFields id{};
  int tag = 0;             // first of the communicator's kTagsPerComm tags
  std::vector<int> world;  // world rank of each rank; empty until init completed
  std::vector<Posted> posted;
  ncclResult_t init_error = ncclSuccess;   // sticky: ops on a failed comm return it
  ncclResult_t async_error = ncclSuccess;  // a posted send that failed

  bool creator() const { return id.root == world_state.rank; }
};

namespace {

// Operations deferred by ncclGroupStart until the outermost ncclGroupEnd.
struct Op {
  enum Kind { kInit, kSend, kRecv } kind;
  ncclComm* comm;
  const void* send_buf = nullptr;
  void* recv_buf = nullptr;
  size_t bytes = 0;
  int peer = 0;
};

struct Group {
  int depth = 0;
  std::vector<Op> ops;
  ncclResult_t error = ncclSuccess;  // the first call in the group that failed
};
thread_local Group group;

ncclResult_t post(ncclComm* c, int world_dest, int tag, std::vector<char> bytes) {
  Posted p{std::move(bytes), MPI_REQUEST_NULL};
  const int rc = MPI_Isend(p.bytes.data(), static_cast<int>(p.bytes.size()), MPI_BYTE, world_dest, tag, MPI_COMM_WORLD,
                           &p.request);
  if (rc != MPI_SUCCESS) return mpi_fail(rc, "MPI_Isend");
  c->posted.push_back(std::move(p));
  return ncclSuccess;
}

// Frees the copies of sends that completed; records a failed one as the
// communicator's asynchronous error.
void reap(ncclComm* c) {
  auto done = [c](Posted& p) {
    int flag = 0;
    const int rc = MPI_Test(&p.request, &flag, MPI_STATUS_IGNORE);
    if (rc != MPI_SUCCESS) {
      if (c->async_error == ncclSuccess) c->async_error = mpi_fail(rc, "MPI_Test of a send");
      return false;
    }
    return flag != 0;
  };
  c->posted.erase(std::remove_if(c->posted.begin(), c->posted.end(), done), c->posted.end());
}

template <class T>
std::vector<char> as_bytes(const std::vector<T>& v) {
  std::vector<char> b(v.size() * sizeof(T));
  if (!b.empty()) std::memcpy(b.data(), v.data(), b.size());
  return b;
}

// Init, step 1 (never blocks): a non-creator tells the creator its rank.
ncclResult_t init_hello(ncclComm* c) {
  if (c->creator() || c->nranks == 1) return ncclSuccess;
  return post(c, c->id.root, c->tag + kHello, as_bytes(std::vector<int32_t>{c->nranks, c->rank}));
}

// Init, step 2 (blocks on hellos only): the creator gathers every other
// rank's hello and posts the table {status, world rank of each rank}.
ncclResult_t init_gather(ncclComm* c) {
  if (!c->creator()) return ncclSuccess;
  std::vector<int32_t> table(1 + static_cast<size_t>(c->nranks), -1);
  int32_t& status = table[0];
  status = ncclSuccess;
  table[1 + c->rank] = world_state.rank;
  std::string why;
  std::vector<int> members;
  for (int i = 1; i < c->nranks; ++i) {
    int32_t hello[2] = {0, 0};
    MPI_Status st;
    // Any source, as the creator cannot know who joins; the tag is this
    // communicator's own, so nothing else is taken.
    const int rc = MPI_Recv(hello, 2, MPI_INT32_T, MPI_ANY_SOURCE, c->tag + kHello, MPI_COMM_WORLD, &st);
    if (rc != MPI_SUCCESS) return c->init_error = mpi_fail(rc, "MPI_Recv of a rank's hello");
    members.push_back(st.MPI_SOURCE);
    if (hello[0] != c->nranks && why.empty())
      why = "world rank " + std::to_string(st.MPI_SOURCE) + " has nranks " + std::to_string(hello[0]) +
            ", the creator " + std::to_string(c->nranks);
    else if ((hello[1] < 0 || hello[1] >= c->nranks || table[1 + hello[1]] != -1) && why.empty())
      why = "world rank " + std::to_string(st.MPI_SOURCE) + " joins as rank " + std::to_string(hello[1]) +
            ", which is out of range or taken";
    else if (why.empty())
      table[1 + hello[1]] = st.MPI_SOURCE;
  }
  std::vector<int> sorted = members;
  std::sort(sorted.begin(), sorted.end());
  if (std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end() && why.empty())
    why = "two ranks of one communicator in one process (the shim takes one per process)";
  if (!why.empty()) status = ncclInvalidUsage;
  for (int m : members)
    if (ncclResult_t r = post(c, m, c->tag + kTable, as_bytes(table)); r != ncclSuccess) return c->init_error = r;
  if (status != ncclSuccess) return c->init_error = fail(ncclInvalidUsage, "ncclCommInitRank: ", why);
  c->world.assign(table.begin() + 1, table.end());
  return ncclSuccess;
}

// Init, step 3 (blocks on the creator's table): a non-creator learns the table.
ncclResult_t init_table(ncclComm* c) {
  if (c->nranks == 1) c->world = {world_state.rank};
  if (c->creator() || c->nranks == 1) return ncclSuccess;
  MPI_Message m;
  MPI_Status st;
  int rc = MPI_Mprobe(c->id.root, c->tag + kTable, MPI_COMM_WORLD, &m, &st);
  if (rc != MPI_SUCCESS) return c->init_error = mpi_fail(rc, "MPI_Mprobe of the rank table");
  int n = 0;
  MPI_Get_count(&st, MPI_INT32_T, &n);
  std::vector<int32_t> table(static_cast<size_t>(std::max(n, 1)));
  rc = MPI_Mrecv(table.data(), n, MPI_INT32_T, &m, MPI_STATUS_IGNORE);
  if (rc != MPI_SUCCESS) return c->init_error = mpi_fail(rc, "MPI_Mrecv of the rank table");
  if (n != 1 + c->nranks)
    return c->init_error = fail(ncclInvalidUsage, "ncclCommInitRank: nranks ", c->nranks, " here, ", n - 1,
                                " at the id's creator (world rank ", c->id.root, ")");
  if (table[0] != ncclSuccess)
    return c->init_error = fail(ncclInvalidUsage, "ncclCommInitRank: the id's creator (world rank ", c->id.root,
                                ") refused this communicator; see its error");
  c->world.assign(table.begin() + 1, table.end());
  return ncclSuccess;
}

ncclResult_t check_usable(ncclComm* c) {
  if (c->init_error != ncclSuccess) return fail(c->init_error, "communicator whose ncclCommInitRank failed");
  if (c->async_error != ncclSuccess) return fail(c->async_error, "communicator with an asynchronous error");
  if (c->world.empty()) return fail(ncclInvalidUsage, "communicator whose ncclCommInitRank has not completed");
  return ncclSuccess;
}

ncclResult_t do_send(const Op& op) {
  ncclComm* c = op.comm;
  reap(c);
  if (ncclResult_t r = check_usable(c); r != ncclSuccess) return r;
  // A copy: the emulated stream is done when ncclSend returns, so the caller
  // may free or overwrite the buffer before the peer receives.
  const char* from = static_cast<const char*>(op.send_buf);
  std::vector<char> bytes(from, from + op.bytes);
  return post(c, c->world[op.peer], c->tag + kData, std::move(bytes));
}

ncclResult_t do_recv(const Op& op) {
  ncclComm* c = op.comm;
  reap(c);
  if (ncclResult_t r = check_usable(c); r != ncclSuccess) return r;
  // Probe first: a receive into a smaller buffer would fail with the message
  // lost, and a larger one would pass unnoticed.
  MPI_Message m;
  MPI_Status st;
  int rc = MPI_Mprobe(c->world[op.peer], c->tag + kData, MPI_COMM_WORLD, &m, &st);
  if (rc != MPI_SUCCESS) return mpi_fail(rc, "MPI_Mprobe");
  int n = 0;
  MPI_Get_count(&st, MPI_BYTE, &n);
  if (static_cast<size_t>(n) != op.bytes) {
    std::vector<char> dropped(static_cast<size_t>(n));
    rc = MPI_Mrecv(dropped.data(), n, MPI_BYTE, &m, MPI_STATUS_IGNORE);
    if (rc != MPI_SUCCESS) return mpi_fail(rc, "MPI_Mrecv");
    return fail(ncclInvalidUsage, "ncclRecv of ", op.bytes, " bytes from rank ", op.peer, " of ", c->nranks,
                ", which sent ", n, " bytes (count x datatype size must match; the message was dropped)");
  }
  rc = MPI_Mrecv(op.recv_buf, n, MPI_BYTE, &m, MPI_STATUS_IGNORE);
  if (rc != MPI_SUCCESS) return mpi_fail(rc, "MPI_Mrecv");
  return ncclSuccess;
}

// Runs a group's operations so that no rank blocks on a step its peers reach
// only later: every hello first, then creators gather (needing only hellos)
// and post tables, then members read tables, then every send is posted, then
// receives complete. Any ring or pattern whose ops match thus completes.
ncclResult_t run_group(std::vector<Op>& ops) {
  ncclResult_t first = ncclSuccess;
  auto note = [&first](ncclResult_t r) {
    if (first == ncclSuccess) first = r;
  };
  for (const Op& op : ops)
    if (op.kind == Op::kInit) note(init_hello(op.comm));
  for (const Op& op : ops)
    if (op.kind == Op::kInit && op.comm->init_error == ncclSuccess) note(init_gather(op.comm));
  for (const Op& op : ops)
    if (op.kind == Op::kInit && op.comm->init_error == ncclSuccess) note(init_table(op.comm));
  for (const Op& op : ops)
    if (op.kind == Op::kSend) note(do_send(op));
  for (const Op& op : ops)
    if (op.kind == Op::kRecv) note(do_recv(op));
  return first;
}

ncclResult_t check_comm(const ncclComm* c) { return c ? ncclSuccess : fail(ncclInvalidArgument, "null communicator"); }

// Argument checks shared by ncclSend and ncclRecv; on success *bytes is the size.
ncclResult_t check_p2p(const char* call, const void* buf, size_t count, ncclDataType_t type, int peer, ncclComm* c,
                       size_t* bytes) {
  if (ncclResult_t r = check_comm(c); r != ncclSuccess) return r;
  const size_t size = type_size(type);
  if (size == 0) return fail(ncclInvalidArgument, call, ": datatype ", static_cast<int>(type), " is not valid");
  if (peer < 0 || peer >= c->nranks)
    return fail(ncclInvalidArgument, call, ": peer ", peer, " is not a rank of this ", c->nranks, "-rank communicator");
  if (count > static_cast<size_t>(INT_MAX) / size)
    return fail(ncclInvalidArgument, call, ": ", count, " elements of ", size,
                " bytes; the shim carries at most INT_MAX bytes per message");
  if (count > 0 && !buf) return fail(ncclInvalidArgument, call, ": null buffer for ", count, " elements");
  *bytes = count * size;
  return ncclSuccess;
}

// Runs op now, or defers it to ncclGroupEnd inside a group.
ncclResult_t run_or_defer(const Op& op) {
  if (group.depth > 0) {
    group.ops.push_back(op);
    return ncclSuccess;
  }
  std::vector<Op> one{op};
  return run_group(one);
}

ncclResult_t in_group(ncclResult_t r) {
  if (r != ncclSuccess && group.depth > 0 && group.error == ncclSuccess) group.error = r;
  return r;
}

void drop_group_ops(const ncclComm* c) {
  auto& ops = group.ops;
  ops.erase(std::remove_if(ops.begin(), ops.end(), [c](const Op& op) { return op.comm == c; }), ops.end());
}

}  // namespace

extern "C" {

ncclResult_t ncclGetVersion(int* version) {
  if (!version) return fail(ncclInvalidArgument, "ncclGetVersion: null version");
  *version = NCCL_VERSION_CODE;
  return ncclSuccess;
}

ncclResult_t ncclGetUniqueId(ncclUniqueId* uniqueId) {
  if (!uniqueId) return fail(ncclInvalidArgument, "ncclGetUniqueId: null id");
  const World* w = nullptr;
  if (ncclResult_t r = world(&w); r != ncclSuccess) return r;
  IdFields id{};
  std::memcpy(id.magic, kMagic, sizeof kMagic);
  id.root = w->rank;
  id.world_size = w->size;
  {
    std::lock_guard lock(world_mu);
    id.serial = next_serial++;
  }
  int tag = 0;
  if (ncclResult_t r = comm_tag_base(*w, id, &tag); r != ncclSuccess) return r;
  std::memset(uniqueId, 0, sizeof *uniqueId);
  std::memcpy(uniqueId->internal, &id, sizeof id);
  return ncclSuccess;
}

ncclResult_t ncclCommInitRank(ncclComm_t* comm, int nranks, ncclUniqueId commId, int rank) {
  if (!comm) return in_group(fail(ncclInvalidArgument, "ncclCommInitRank: null comm"));
  const World* w = nullptr;
  if (ncclResult_t r = world(&w); r != ncclSuccess) return in_group(r);
  IdFields id;
  std::memcpy(&id, commId.internal, sizeof id);
  if (std::memcmp(id.magic, kMagic, sizeof kMagic) != 0 || id.world_size != w->size || id.root < 0 ||
      id.root >= w->size)
    return in_group(fail(ncclInvalidArgument, "ncclCommInitRank: the id was not made by this job's ncclGetUniqueId"));
  if (nranks < 1 || rank < 0 || rank >= nranks)
    return in_group(fail(ncclInvalidArgument, "ncclCommInitRank: rank ", rank, " of ", nranks));
  auto* c = new ncclComm;
  c->nranks = nranks;
  c->rank = rank;
  c->id = id;
  if (ncclResult_t r = comm_tag_base(*w, id, &c->tag); r != ncclSuccess) {
    delete c;
    return in_group(r);
  }
  *comm = c;
  if (group.depth > 0) return run_or_defer(Op{Op::kInit, c});
  std::vector<Op> one{Op{Op::kInit, c}};
  if (ncclResult_t r = run_group(one); r != ncclSuccess) {
    ncclCommAbort(c);
    *comm = nullptr;
    return r;
  }
  return ncclSuccess;
}

ncclResult_t ncclCommDestroy(ncclComm_t comm) {
  if (ncclResult_t r = check_comm(comm); r != ncclSuccess) return r;
  drop_group_ops(comm);
  // As NCCL's: the sends still queued on the comm complete first, that is,
  // once their peers receive them.
  for (Posted& p : comm->posted) {
    const int rc = MPI_Wait(&p.request, MPI_STATUS_IGNORE);
    if (rc != MPI_SUCCESS) {
      const ncclResult_t r = mpi_fail(rc, "MPI_Wait of a send at ncclCommDestroy");
      const std::string why = last_error;
      ncclCommAbort(comm);  // gives up the rest without waiting
      last_error = why;
      return r;
    }
  }
  delete comm;
  return ncclSuccess;
}

ncclResult_t ncclCommAbort(ncclComm_t comm) {
  if (ncclResult_t r = check_comm(comm); r != ncclSuccess) return r;
  drop_group_ops(comm);
  reap(comm);
  // Never waits: a send nobody receives (its peer died or gave up) is freed
  // as a request and its buffer kept, as MPI may still read it.
  std::lock_guard lock(abandoned_mu);
  for (Posted& p : comm->posted) {
    if (p.request != MPI_REQUEST_NULL) MPI_Request_free(&p.request);
    abandoned.push_back(std::move(p.bytes));
  }
  delete comm;
  return ncclSuccess;
}

const char* ncclGetErrorString(ncclResult_t result) {
  switch (result) {
    case ncclSuccess: return "no error";
    case ncclUnhandledCudaError: return "unhandled cuda error";
    case ncclSystemError: return "unhandled system error (see ncclGetLastError)";
    case ncclInternalError: return "internal error (see ncclGetLastError)";
    case ncclInvalidArgument: return "invalid argument (see ncclGetLastError)";
    case ncclInvalidUsage: return "invalid usage (see ncclGetLastError)";
    case ncclRemoteError: return "remote process exited or there was a network error";
    case ncclInProgress: return "NCCL operation in progress";
    default: return "unknown result code";
  }
}

const char* ncclGetLastError(ncclComm_t) { return last_error.c_str(); }

ncclResult_t ncclCommGetAsyncError(ncclComm_t comm, ncclResult_t* asyncError) {
  if (ncclResult_t r = check_comm(comm); r != ncclSuccess) return r;
  if (!asyncError) return fail(ncclInvalidArgument, "ncclCommGetAsyncError: null result");
  reap(comm);
  *asyncError = comm->init_error != ncclSuccess ? comm->init_error : comm->async_error;
  return ncclSuccess;
}

ncclResult_t ncclCommCount(const ncclComm_t comm, int* count) {
  if (ncclResult_t r = check_comm(comm); r != ncclSuccess) return r;
  if (!count) return fail(ncclInvalidArgument, "ncclCommCount: null count");
  *count = comm->nranks;
  return ncclSuccess;
}

ncclResult_t ncclCommUserRank(const ncclComm_t comm, int* rank) {
  if (ncclResult_t r = check_comm(comm); r != ncclSuccess) return r;
  if (!rank) return fail(ncclInvalidArgument, "ncclCommUserRank: null rank");
  *rank = comm->rank;
  return ncclSuccess;
}

ncclResult_t ncclSend(const void* sendbuff, size_t count, ncclDataType_t datatype, int peer, ncclComm_t comm,
                      cudaStream_t) {
  size_t bytes = 0;
  if (ncclResult_t r = check_p2p("ncclSend", sendbuff, count, datatype, peer, comm, &bytes); r != ncclSuccess)
    return in_group(r);
  Op op{Op::kSend, comm};
  op.send_buf = sendbuff;
  op.bytes = bytes;
  op.peer = peer;
  return run_or_defer(op);
}

ncclResult_t ncclRecv(void* recvbuff, size_t count, ncclDataType_t datatype, int peer, ncclComm_t comm, cudaStream_t) {
  size_t bytes = 0;
  if (ncclResult_t r = check_p2p("ncclRecv", recvbuff, count, datatype, peer, comm, &bytes); r != ncclSuccess)
    return in_group(r);
  Op op{Op::kRecv, comm};
  op.recv_buf = recvbuff;
  op.bytes = bytes;
  op.peer = peer;
  return run_or_defer(op);
}

ncclResult_t ncclGroupStart() {
  ++group.depth;
  return ncclSuccess;
}

ncclResult_t ncclGroupEnd() {
  if (group.depth == 0) return fail(ncclInvalidUsage, "ncclGroupEnd without ncclGroupStart");
  if (--group.depth > 0) return ncclSuccess;
  std::vector<Op> ops = std::move(group.ops);
  const ncclResult_t early = group.error;
  group = Group{};
  // Unlike NCCL, which drops a group with a failed call, the valid calls run:
  // peers that matched them then do not wait forever.
  const ncclResult_t r = run_group(ops);
  return early != ncclSuccess ? early : r;
}

}  // extern "C"
