// CSV as RFC 4180 writes it: fields separated by commas, rows ended by CRLF-free "\n" (as every CSV
// keynet wrote before), and a field quoted when it holds a comma, a double quote, a carriage return
// or a line feed, with its double quotes doubled. Every CSV keynet writes goes through here, so a file
// name with a comma or a newline in it cannot shift the columns of predict's output or a Kaggle file.
#pragma once
#include <sstream>
#include <string>
#include <vector>

namespace keynet {

// The field as it appears in a row: quoted only when it must be.
std::string csv_field(const std::string& text);

// Builds rows: add fields with <<, end each with end_row(). Numbers have `precision` significant digits,
// or `precision` digits after the point when `fixed`.
class CsvWriter {
 public:
  explicit CsvWriter(int precision = 7, bool fixed = false) {
    out_.precision(precision);
    if (fixed) out_ << std::fixed;
  }
  CsvWriter& operator<<(const std::string& text);
  CsvWriter& operator<<(const char* text) { return *this << std::string(text); }
  template <class Number>
  CsvWriter& operator<<(Number value) {
    separate();
    out_ << value;
    return *this;
  }
  void end_row();
  void row(const std::vector<std::string>& fields);  // a whole row of text fields
  std::string str() const { return out_.str(); }

 private:
  void separate();
  std::ostringstream out_;
  bool row_started_ = false;
};

}  // namespace keynet
