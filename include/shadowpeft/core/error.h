#pragma once
// Exceptions thrown by shadowpeft. Every message names the file, field or tensor involved and,
// where it applies, what was expected and what was found.
#include <stdexcept>
#include <string>

namespace shadowpeft {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A configuration file or option holds an invalid or inconsistent value.
class ConfigError : public Error {
 public:
  using Error::Error;
};

// A file is missing, unreadable or malformed.
class LoadError : public Error {
 public:
  using Error::Error;
};

// A tensor does not have the shape or dtype the model expects.
class ShapeError : public Error {
 public:
  using Error::Error;
};

// A valid input uses a feature shadowpeft does not implement (yet).
class UnsupportedError : public Error {
 public:
  using Error::Error;
};

}  // namespace shadowpeft
