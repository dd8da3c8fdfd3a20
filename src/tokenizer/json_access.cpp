#include "json_access.h"

#include "shadowpeft/core/error.h"

namespace shadowpeft::tokenizer {

std::string json_kind(const JsonValue& v) {
  if (v.is_null()) return "null";
  if (v.is_boolean()) return "boolean";
  if (v.is_number()) return "number " + v.dump();
  if (v.is_string()) return "string " + v.dump();
  if (v.is_array()) return "array";
  return "object";
}

Node Node::at(const std::string& key) const {
  if (!value_->is_object()) throw ConfigError(where() + ": expected an object, found " + json_kind(*value_));
  const auto it = value_->find(key);
  if (it == value_->end()) throw ConfigError(where(key) + ": missing required field");
  return Node(*it, *file_, path_ + "." + key);
}

Node Node::at(std::size_t index) const { return Node((*value_)[index], *file_, path_ + "[" + std::to_string(index) + "]"); }

std::optional<Node> Node::find(const std::string& key) const {
  if (!has(key)) return std::nullopt;
  return Node((*value_)[key], *file_, path_ + "." + key);
}

std::string Node::type() const {
  if (!value_->is_object() || !value_->contains("type") || !(*value_)["type"].is_string())
    throw ConfigError(where() + ": expected an object with a string field \"type\", found " + json_kind(*value_));
  return (*value_)["type"].get<std::string>();
}

std::string Node::str(const std::string& key) const {
  const Node n = at(key);
  if (!n.value().is_string()) fail(key, "a string");
  return n.value().get<std::string>();
}

std::string Node::str(const std::string& key, const std::string& fallback) const { return has(key) ? str(key) : fallback; }

bool Node::flag(const std::string& key, bool fallback) const {
  if (!has(key)) return fallback;
  const auto& v = (*value_)[key];
  if (!v.is_boolean()) fail(key, "a boolean");
  return v.get<bool>();
}

int64_t Node::integer(const std::string& key) const {
  const Node n = at(key);
  if (!n.value().is_number_integer()) fail(key, "an integer");
  return n.value().get<int64_t>();
}

int64_t Node::integer(const std::string& key, int64_t fallback) const { return has(key) ? integer(key) : fallback; }

void Node::fail(const std::string& key, const std::string& expected) const {
  const std::string found = has(key) ? json_kind((*value_)[key]) : "nothing";
  throw ConfigError(where(key) + ": expected " + expected + ", found " + found);
}

void Node::unsupported() const {
  throw UnsupportedError(where() + ".type: unsupported component type \"" + type() + "\"");
}

}  // namespace shadowpeft::tokenizer
