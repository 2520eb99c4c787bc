#include "io/csv.h"

namespace keynet {

std::string csv_field(const std::string& text) {
  if (text.find_first_of(",\"\r\n") == std::string::npos) return text;
  std::string quoted = "\"";
  for (const char c : text) {
    if (c == '"') quoted += '"';
    quoted += c;
  }
  return quoted + "\"";
}

void CsvWriter::separate() {
  if (row_started_) out_ << ',';
  row_started_ = true;
}

CsvWriter& CsvWriter::operator<<(const std::string& text) {
  separate();
  out_ << csv_field(text);
  return *this;
}

void CsvWriter::end_row() {
  out_ << '\n';
  row_started_ = false;
}

void CsvWriter::row(const std::vector<std::string>& fields) {
  for (const std::string& field : fields) *this << field;
  end_row();
}

}  // namespace keynet
