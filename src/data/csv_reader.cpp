// CSV per RFC 4180, as Python's csv module reads it with its default dialect: comma separated,
// records end with LF or CRLF, a field in double quotes may hold commas, newlines and "" (one
// quote). Fully blank lines between records are ignored, as Python's csv.DictReader does.
#include <fmt/format.h>

#include <charconv>

#include "record_reader.h"
#include "shadowpeft/core/error.h"

namespace shadowpeft::data {

namespace {

struct CsvRow {
  std::size_t line = 0;
  std::vector<std::string> fields;
  std::string error;
};

class CsvScanner {
 public:
  explicit CsvScanner(const std::string& text) : text_(text) {}

  // The next non-blank row, or nullopt at the end of the text.
  std::optional<CsvRow> next() {
    while (pos_ < text_.size() && (text_[pos_] == '\n' || text_[pos_] == '\r')) {
      if (text_[pos_] == '\n') ++line_;
      ++pos_;
    }
    if (pos_ >= text_.size()) return std::nullopt;
    CsvRow row{line_, {}, {}};
    std::string field;
    while (true) {
      if (pos_ < text_.size() && text_[pos_] == '"') {
        const std::size_t quote_line = line_;
        ++pos_;
        bool closed = false;
        while (pos_ < text_.size()) {
          const char c = text_[pos_++];
          if (c == '"') {
            if (pos_ < text_.size() && text_[pos_] == '"') {
              field += '"';
              ++pos_;
            } else {
              closed = true;
              break;
            }
          } else {
            if (c == '\n') ++line_;
            field += c;
          }
        }
        if (!closed) {
          row.error = fmt::format("quoted field opened on line {} is never closed", quote_line);
          return row;
        }
        if (pos_ < text_.size() && text_[pos_] != ',' && text_[pos_] != '\n' && text_[pos_] != '\r') {
          row.error = fmt::format("unexpected character '{}' after a closing quote (expected , or end of line)",
                                  text_[pos_]);
          skip_to_end_of_line();
          return row;
        }
      } else {
        while (pos_ < text_.size() && text_[pos_] != ',' && text_[pos_] != '\n' && text_[pos_] != '\r')
          field += text_[pos_++];
      }
      row.fields.push_back(std::move(field));
      field.clear();
      if (pos_ < text_.size() && text_[pos_] == ',') {
        ++pos_;
        continue;
      }
      skip_to_end_of_line();
      return row;
    }
  }

 private:
  void skip_to_end_of_line() {
    while (pos_ < text_.size() && text_[pos_] != '\n') ++pos_;
    if (pos_ < text_.size()) {
      ++pos_;
      ++line_;
    }
  }

  const std::string& text_;
  std::size_t pos_ = 0;
  std::size_t line_ = 1;
};

std::optional<int64_t> as_int(const std::string& s) {
  const char* begin = s.data();
  const char* end = s.data() + s.size();
  if (begin == end || !(std::isdigit(static_cast<unsigned char>(*begin)) || *begin == '-')) return std::nullopt;
  int64_t value = 0;
  const auto [ptr, ec] = std::from_chars(begin, end, value);
  if (ec != std::errc() || ptr != end) return std::nullopt;
  return value;
}

}  // namespace

std::vector<RawRecord> read_csv(const std::filesystem::path& path, const std::string& text,
                                const std::string& label_field) {
  CsvScanner scanner(text);
  const auto header = scanner.next();
  if (!header) throw LoadError(fmt::format("{}:1: CSV file has no header row", path.string()));
  if (!header->error.empty()) throw LoadError(fmt::format("{}:{}: CSV header: {}", path.string(), header->line, header->error));
  std::vector<RawRecord> records;
  while (auto row = scanner.next()) {
    RawRecord record{row->line, nullptr, row->error};
    if (record.error.empty() && row->fields.size() != header->fields.size())
      record.error = fmt::format("expected {} fields (as in the header), got {}", header->fields.size(), row->fields.size());
    if (record.error.empty()) {
      record.value = io::Json::object();
      for (std::size_t i = 0; i < row->fields.size(); ++i) {
        const std::string& name = header->fields[i];
        const auto number = name == label_field ? as_int(row->fields[i]) : std::nullopt;
        if (number) record.value[name] = *number;
        else record.value[name] = std::move(row->fields[i]);
      }
    }
    records.push_back(std::move(record));
  }
  return records;
}

}  // namespace shadowpeft::data
