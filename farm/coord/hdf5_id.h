// RAII owners for HDF5 identifiers and the one error check the archive uses.
// Only archive*.cpp include this: hdf5.h stays out of the coordinator's headers.
#pragma once

#include <hdf5.h>

#include <string>
#include <utility>

namespace farm::hdf5 {

// Owns one identifier of any kind (file, group, dataset, dataspace, datatype,
// property list, attribute). H5Idec_ref closes each kind the way its own
// H5*close would, so one class serves them all. Files whose close errors
// matter (the last flush) are closed with close_file() instead.
class Id {
 public:
  Id() = default;
  explicit Id(hid_t id) : id_(id) {}
  Id(Id&& o) noexcept : id_(std::exchange(o.id_, H5I_INVALID_HID)) {}
  Id& operator=(Id&& o) noexcept {
    if (this != &o) {
      reset();
      id_ = std::exchange(o.id_, H5I_INVALID_HID);
    }
    return *this;
  }
  Id(const Id&) = delete;
  Id& operator=(const Id&) = delete;
  ~Id() { reset(); }

  hid_t get() const { return id_; }
  explicit operator bool() const { return id_ >= 0; }
  hid_t release() { return std::exchange(id_, H5I_INVALID_HID); }
  void reset() {
    if (id_ >= 0) H5Idec_ref(id_);
    id_ = H5I_INVALID_HID;
  }

 private:
  hid_t id_ = H5I_INVALID_HID;
};

// HDF5 prints its error stack to stderr by default; the archive turns every
// failure into a farm::Error instead, so printing is off while one is alive.
class QuietErrors {
 public:
  QuietErrors();
  ~QuietErrors();
  QuietErrors(const QuietErrors&) = delete;
  QuietErrors& operator=(const QuietErrors&) = delete;

 private:
  H5E_auto2_t func_ = nullptr;
  void* data_ = nullptr;
};

// The innermost messages of the current error stack ("unable to lock file,
// errno = 11, ..."), the part that tells a user what went wrong.
std::string error_text();

// Throws farm::Error "<context>: <what>: <error_text()>".
[[noreturn]] void fail_call(const std::string& context, const char* what);

// `rc` is an herr_t, htri_t, hssize_t or hid_t: negative means failure.
template <class Rc>
Rc check(Rc rc, const std::string& context, const char* what) {
  if (rc < 0) fail_call(context, what);
  return rc;
}

// An owned identifier from a call that returns one, checked.
Id make(hid_t id, const std::string& context, const char* what);

// Variable-length UTF-8 string type: h5py reads it as str (with .asstr() for
// datasets), h5dump prints it as text.
Id utf8_string_type();

// Scalar UTF-8 attributes. set_ creates the attribute or overwrites it (a
// file being extended keeps its attributes).
void set_string_attribute(hid_t object, const char* name, const std::string& value, const std::string& context);
// A missing attribute reads as "" and sets *found (when given) to false.
std::string read_string_attribute(hid_t object, const char* name, const std::string& context, bool* found = nullptr);

}  // namespace farm::hdf5
