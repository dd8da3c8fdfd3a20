#pragma once
// Reads a dataset file into raw records, each with the line where it starts. A record that cannot
// be parsed is returned with `error` set, so that the caller decides whether to skip or throw.
#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

#include "shadowpeft/io/json_file.h"

namespace shadowpeft::data {

struct RawRecord {
  std::size_t line = 0;
  io::Json value;     // any JSON value; the caller checks that it is an object
  std::string error;  // non-empty: the record is unreadable (value is null)
};

// Dispatches on the extension (.jsonl, .json, .csv); `label_field` is the CSV column converted to
// an int when it reads as one. LoadError for a missing file, an unknown extension, an invalid .json
// file as a whole or a CSV without a header.
std::vector<RawRecord> read_records(const std::filesystem::path& path, const std::string& label_field);

std::vector<RawRecord> read_jsonl(const std::string& text);
std::vector<RawRecord> read_json_list(const std::filesystem::path& path, const std::string& text);
std::vector<RawRecord> read_csv(const std::filesystem::path& path, const std::string& text,
                                const std::string& label_field);

}  // namespace shadowpeft::data
