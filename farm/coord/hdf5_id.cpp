#include "farm/coord/hdf5_id.h"

#include <vector>

#include "farm/core/error.h"

namespace farm::hdf5 {

QuietErrors::QuietErrors() {
  H5Eget_auto2(H5E_DEFAULT, &func_, &data_);
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
}

QuietErrors::~QuietErrors() { H5Eset_auto2(H5E_DEFAULT, func_, data_); }

std::string error_text() {
  // The stack runs from the API call (outermost) to the failing internal
  // step (innermost); the last two entries carry the cause (errno text,
  // "file is already open for write", "unable to lock file").
  std::vector<std::string> messages;
  H5Ewalk2(
      H5E_DEFAULT, H5E_WALK_UPWARD,
      [](unsigned, const H5E_error2_t* e, void* out) -> herr_t {
        if (e->desc && *e->desc) static_cast<std::vector<std::string>*>(out)->emplace_back(e->desc);
        return 0;
      },
      &messages);
  H5Eclear2(H5E_DEFAULT);
  if (messages.empty()) return "HDF5 gave no reason";
  // Upward walk: messages[0] is the innermost.
  std::string text = messages[0];
  if (messages.size() > 1) text = messages[1] + ": " + text;
  return text;
}

void fail_call(const std::string& context, const char* what) { fail(context, ": ", what, ": ", error_text()); }

Id make(hid_t id, const std::string& context, const char* what) { return Id(check(id, context, what)); }

Id utf8_string_type() {
  Id t(H5Tcopy(H5T_C_S1));
  FARM_ASSERT(t && H5Tset_size(t.get(), H5T_VARIABLE) >= 0 && H5Tset_cset(t.get(), H5T_CSET_UTF8) >= 0,
              "HDF5 refused a variable-length UTF-8 string type");
  return t;
}

void set_string_attribute(hid_t object, const char* name, const std::string& value, const std::string& context) {
  const Id type = utf8_string_type();
  const htri_t exists = check(H5Aexists(object, name), context, "looking for an attribute");
  Id attr;
  if (exists) {
    attr = make(H5Aopen(object, name, H5P_DEFAULT), context, "opening an attribute");
  } else {
    const Id scalar = make(H5Screate(H5S_SCALAR), context, "making a dataspace");
    attr = make(H5Acreate2(object, name, type.get(), scalar.get(), H5P_DEFAULT, H5P_DEFAULT), context,
                "creating an attribute");
  }
  const char* c = value.c_str();
  check(H5Awrite(attr.get(), type.get(), &c), context, "writing an attribute");
}

std::string read_string_attribute(hid_t object, const char* name, const std::string& context, bool* found) {
  const htri_t exists = check(H5Aexists(object, name), context, "looking for an attribute");
  if (found) *found = exists > 0;
  if (!exists) return "";
  const Id attr = make(H5Aopen(object, name, H5P_DEFAULT), context, "opening an attribute");
  const Id file_type = make(H5Aget_type(attr.get()), context, "reading an attribute's type");
  if (H5Tget_class(file_type.get()) != H5T_STRING || H5Tis_variable_str(file_type.get()) <= 0)
    fail(context, ": attribute ", name, " is not a variable-length string");
  const Id type = utf8_string_type();
  char* c = nullptr;
  check(H5Aread(attr.get(), type.get(), &c), context, "reading an attribute");
  std::string value = c ? c : "";
  H5free_memory(c);
  return value;
}

}  // namespace farm::hdf5
