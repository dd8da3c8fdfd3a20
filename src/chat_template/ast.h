#pragma once
// The parsed template: expressions and statements, each knowing its template line for errors.
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "value.h"

namespace shadowpeft::jinja {

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

enum class ExprKind {
  Const, Name, Attr, Item, Slice, Call, Filter, Test, Neg, Pos, Not, And, Or, Binary, Compare, Cond,
  ListLit, TupleLit, DictLit, Concat
};

struct Expr {
  ExprKind kind;
  int line = 0;
  Value value;                 // Const
  std::string name;            // Name, Attr, Filter, Test, Binary operator
  ExprPtr a, b, c;             // operands: object / left / test; key / right / then; step / else
  std::vector<ExprPtr> items;  // Call/Filter/Test positional args, list/tuple items, dict keys+values, Concat parts
  std::vector<std::pair<std::string, ExprPtr>> kwargs;
  std::vector<std::string> ops;  // Compare operators, one per items[i]
  bool negated = false;        // `is not`
  bool has_start = false, has_stop = false, has_step = false;  // Slice: a=start b=stop c=step, items[0]=object
};

struct Stmt;
using Body = std::vector<std::unique_ptr<Stmt>>;

// An assignment target: a name, `ns.attr`, or a tuple of names.
struct Target {
  std::string name;
  std::string attr;               // set for `ns.attr`
  std::vector<Target> elements;   // non-empty for tuple unpacking
};

enum class StmtKind { Text, Output, If, For, Set, SetBlock, Macro, Break, Continue, FilterBlock, With, Generation };

struct Stmt {
  StmtKind kind;
  int line = 0;
  std::string text;                                // Text; Macro name
  ExprPtr expr;                                    // Output, Set value, For iterable, For filter in c
  ExprPtr filter;                                  // For `if` condition; SetBlock/FilterBlock filter chain (input is a Const placeholder)
  std::vector<std::pair<ExprPtr, Body>> branches;  // If/elif
  Body body, else_body;
  Target target;
  std::vector<std::pair<std::string, ExprPtr>> params;  // Macro parameters (default may be null); With assignments
};

struct Template {
  Body body;
};

}  // namespace shadowpeft::jinja
