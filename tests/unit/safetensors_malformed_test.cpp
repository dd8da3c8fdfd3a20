// A catalog of malformed safetensors files (tests/reference/make_fixtures.py, MALFORMED), each of
// which Python `safetensors` also rejects: every one must raise LoadError naming the file and saying
// what is wrong.
#include <gtest/gtest.h>

#include "shadowpeft/core/error.h"
#include "shadowpeft/io/json_file.h"
#include "shadowpeft/io/safetensors.h"
#include "test_utils.h"

namespace shadowpeft {
namespace {

struct MalformedCase {
  std::string file;
  std::vector<std::string> expect;
  bool python_rejects = false;
};

std::vector<MalformedCase> load_catalog() {
  std::vector<MalformedCase> cases;
  for (const auto& e : io::read_json_file(test::fixtures_dir() / "malformed" / "catalog.json"))
    cases.push_back({e["file"].get<std::string>(), e["expect"].get<std::vector<std::string>>(),
                     !e["python_error"].is_null()});
  return cases;
}

TEST(SafetensorsMalformed, CatalogHasAtLeastFifteenCases) { EXPECT_GE(load_catalog().size(), 15u); }

TEST(SafetensorsMalformed, EveryCaseIsRejectedWithAPreciseMessage) {
  for (const MalformedCase& c : load_catalog()) {
    SCOPED_TRACE(c.file);
    EXPECT_TRUE(c.python_rejects) << "the reference accepts this file; the catalog entry is wrong";
    try {
      io::SafetensorsFile::open(test::fixtures_dir() / "malformed" / c.file);
      ADD_FAILURE() << "accepted a malformed file";
    } catch (const LoadError& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find(c.file), std::string::npos) << msg;
      for (const std::string& part : c.expect) EXPECT_NE(msg.find(part), std::string::npos) << "want '" << part << "' in: " << msg;
    }
  }
}

}  // namespace
}  // namespace shadowpeft
