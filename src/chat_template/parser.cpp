#include "parser.h"

#include <algorithm>
#include <charconv>
#include <cstdlib>

#include "builtins.h"
#include "errors.h"
#include "shadowpeft/core/error.h"

namespace shadowpeft::jinja {
namespace {

ExprPtr make(ExprKind kind, int line) {
  auto e = std::make_unique<Expr>();
  e->kind = kind;
  e->line = line;
  return e;
}

// Tags jinja2 has that this renderer leaves out; anything else is an unknown tag.
const std::vector<std::string> kKnownUnsupportedTags = {"call", "block", "extends", "include", "import", "from",
                                                         "autoescape", "trans", "pluralize", "do", "debug"};

class Parser {
 public:
  Parser(const std::vector<Token>& tokens, const std::string& name) : t_(tokens), name_(name) {}

  Template parse_template() {
    Template tmpl;
    std::string end;
    tmpl.body = parse_body({}, end);
    return tmpl;
  }

 private:
  const std::vector<Token>& t_;
  const std::string& name_;
  size_t pos_ = 0;
  int depth_ = 0;  // nested expressions and blocks being parsed

  // Entered by every rule that can nest: past kMaxDepth levels (brackets, operators, blocks in
  // blocks) a template is refused before the recursion could exhaust the stack.
  struct Nest {
    Parser& p;
    Nest(Parser& parser) : p(parser) {
      if (++p.depth_ > kMaxDepth) p.error(p.cur(), "nested more than " + std::to_string(kMaxDepth) + " levels deep");
    }
    ~Nest() { --p.depth_; }
  };

  const Token& cur() const { return t_[pos_]; }
  const Token& peek(size_t n = 1) const { return t_[std::min(pos_ + n, t_.size() - 1)]; }
  const Token& next() { return t_[pos_ < t_.size() - 1 ? pos_++ : pos_]; }

  [[noreturn]] void error(const Token& tok, const std::string& msg) const {
    throw ConfigError(name_ + ": syntax error at line " + std::to_string(tok.line) + ", column " +
                      std::to_string(tok.column) + ": " + msg);
  }
  static std::string describe(const Token& tok) {
    switch (tok.type) {
      case Tok::VarEnd: return "end of print statement";
      case Tok::BlockEnd: return "end of statement block";
      case Tok::Eof: return "end of template";
      case Tok::Text: return "template data";
      case Tok::String: return "string";
      default: return "'" + tok.value + "'";
    }
  }
  bool is_op(const char* op) const { return cur().type == Tok::Op && cur().value == op; }
  bool is_name(const char* n) const { return cur().type == Tok::Name && cur().value == n; }
  bool skip_op(const char* op) {
    if (!is_op(op)) return false;
    next();
    return true;
  }
  bool skip_name(const char* n) {
    if (!is_name(n)) return false;
    next();
    return true;
  }
  void expect_op(const char* op) {
    if (!skip_op(op)) error(cur(), std::string("expected token '") + op + "', got " + describe(cur()));
  }
  void expect_block_end() {
    if (cur().type != Tok::BlockEnd) error(cur(), "expected end of statement block, got " + describe(cur()));
    next();
  }
  std::string expect_name() {
    if (cur().type != Tok::Name) error(cur(), "expected name, got " + describe(cur()));
    return next().value;
  }

  Body parse_body(const std::vector<std::string>& end_tags, std::string& which_end) {
    const Nest nest(*this);
    Body body;
    while (true) {
      const Token& tok = cur();
      if (tok.type == Tok::Eof) {
        if (!end_tags.empty()) {
          std::string tags;
          for (const auto& e : end_tags) tags += (tags.empty() ? "'" : " or '") + e + "'";
          error(tok, "unexpected end of template; jinja was looking for " + tags);
        }
        return body;
      }
      if (tok.type == Tok::Text) {
        auto s = std::make_unique<Stmt>();
        s->kind = StmtKind::Text;
        s->line = tok.line;
        s->text = tok.value;
        body.push_back(std::move(s));
        next();
      } else if (tok.type == Tok::VarBegin) {
        next();
        auto s = std::make_unique<Stmt>();
        s->kind = StmtKind::Output;
        s->line = tok.line;
        s->expr = parse_tuple(true, false);
        if (cur().type != Tok::VarEnd) error(cur(), "expected end of print statement, got " + describe(cur()));
        next();
        body.push_back(std::move(s));
      } else if (tok.type == Tok::BlockBegin) {
        const Token& tag = peek();
        if (tag.type != Tok::Name) error(tag, "tag name expected");
        if (std::find(end_tags.begin(), end_tags.end(), tag.value) != end_tags.end()) {
          next();
          next();
          which_end = tag.value;
          return body;
        }
        next();
        body.push_back(parse_statement());
      } else {
        error(tok, "unexpected " + describe(tok));
      }
    }
  }

  Body parse_until(const std::vector<std::string>& end_tags, std::string& which_end) { return parse_body(end_tags, which_end); }

  std::unique_ptr<Stmt> parse_statement() {
    const Token& tag = next();
    auto s = std::make_unique<Stmt>();
    s->line = tag.line;
    std::string end;
    const std::string& n = tag.value;
    if (n == "if") {
      s->kind = StmtKind::If;
      ExprPtr cond = parse_tuple(false, false);
      expect_block_end();
      while (true) {
        Body b = parse_until({"elif", "else", "endif"}, end);
        s->branches.emplace_back(std::move(cond), std::move(b));
        if (end == "elif") {
          cond = parse_tuple(false, false);
          expect_block_end();
          continue;
        }
        if (end == "else") {
          expect_block_end();
          s->else_body = parse_until({"endif"}, end);
        }
        expect_block_end();
        break;
      }
    } else if (n == "for") {
      s->kind = StmtKind::For;
      s->target = parse_target(false);
      if (!skip_name("in")) error(cur(), "expected 'in', got " + describe(cur()));
      s->expr = parse_tuple(false, false, true);
      if (skip_name("if")) s->filter = parse_expression(true);
      if (is_name("recursive")) unsupported(cur().line, "recursive for loops");
      expect_block_end();
      s->body = parse_until({"endfor", "else"}, end);
      if (end == "else") {
        expect_block_end();
        s->else_body = parse_until({"endfor"}, end);
      }
      expect_block_end();
    } else if (n == "set") {
      s->target = parse_target(true);
      if (skip_op("=")) {
        s->kind = StmtKind::Set;
        s->expr = parse_tuple(true, false);
        expect_block_end();
      } else {
        s->kind = StmtKind::SetBlock;
        if (is_op("|")) s->filter = parse_filter_chain();
        expect_block_end();
        s->body = parse_until({"endset"}, end);
        expect_block_end();
      }
    } else if (n == "macro") {
      s->kind = StmtKind::Macro;
      s->text = expect_name();
      expect_op("(");
      while (!skip_op(")")) {
        if (!s->params.empty()) expect_op(",");
        if (skip_op(")")) break;
        std::string p = expect_name();
        ExprPtr def;
        if (skip_op("=")) def = parse_expression(true);
        s->params.emplace_back(p, std::move(def));
      }
      expect_block_end();
      s->body = parse_until({"endmacro"}, end);
      if (cur().type == Tok::Name && cur().value == s->text) next();
      expect_block_end();
    } else if (n == "break" || n == "continue") {
      s->kind = n == "break" ? StmtKind::Break : StmtKind::Continue;
      expect_block_end();
    } else if (n == "filter") {
      s->kind = StmtKind::FilterBlock;
      s->filter = parse_filter_chain(false);
      expect_block_end();
      s->body = parse_until({"endfilter"}, end);
      expect_block_end();
    } else if (n == "with") {
      s->kind = StmtKind::With;
      while (cur().type != Tok::BlockEnd) {
        if (!s->params.empty()) expect_op(",");
        std::string var = expect_name();
        expect_op("=");
        s->params.emplace_back(var, parse_expression(true));
      }
      expect_block_end();
      s->body = parse_until({"endwith"}, end);
      expect_block_end();
    } else if (n == "generation") {
      // transformers' AssistantTracker: renders its body unchanged (it only records offsets).
      s->kind = StmtKind::Generation;
      expect_block_end();
      s->body = parse_until({"endgeneration"}, end);
      expect_block_end();
    } else if (std::find(kKnownUnsupportedTags.begin(), kKnownUnsupportedTags.end(), n) != kKnownUnsupportedTags.end()) {
      unsupported(tag.line, "the '{% " + n + " %}' tag");
    } else if (n.rfind("end", 0) == 0 || n == "elif" || n == "else") {
      error(tag, "encountered unknown tag '" + n + "' with no block to close");
    } else {
      unsupported(tag.line, "the unknown tag '{% " + n + " %}'");
    }
    return s;
  }

  // `{% set x|upper %}` / `{% filter upper|trim %}`: a filter chain applied to the block's text,
  // which the interpreter binds to the name "\x01block".
  ExprPtr parse_filter_chain(bool leading_pipe = true) {
    auto base = make(ExprKind::Name, cur().line);
    base->name = "\x01block";
    if (!leading_pipe) return parse_filter(std::move(base), true);
    return parse_filter_expr(std::move(base));
  }

  Target parse_target(bool allow_namespace) {
    Target t;
    bool paren = skip_op("(");
    if (allow_namespace && !paren && cur().type == Tok::Name && peek().type == Tok::Op && peek().value == ".") {
      t.name = next().value;
      next();
      t.attr = expect_name();
      return t;
    }
    std::vector<Target> parts;
    bool tuple = paren;
    while (true) {
      Target e;
      if (is_op("(")) {
        e = parse_target(false);
      } else {
        e.name = expect_name();
      }
      parts.push_back(std::move(e));
      if (!skip_op(",")) break;
      tuple = true;
      if (cur().type != Tok::Name && !is_op("(")) break;
    }
    if (paren) expect_op(")");
    if (!tuple) return parts[0];
    t.elements = std::move(parts);
    return t;
  }

  bool is_tuple_end(bool for_iter) const {
    if (cur().type == Tok::VarEnd || cur().type == Tok::BlockEnd || cur().type == Tok::Eof) return true;
    if (cur().type == Tok::Op && cur().value == ")") return true;
    return for_iter && cur().type == Tok::Name && cur().value == "recursive";
  }

  ExprPtr parse_tuple(bool with_condexpr, bool explicit_parens, bool for_iter = false) {
    int line = cur().line;
    std::vector<ExprPtr> items;
    bool is_tuple = false;
    while (true) {
      if (!items.empty()) expect_op(",");
      if (is_tuple_end(for_iter) || (for_iter && is_name("if"))) break;
      items.push_back(parse_expression(with_condexpr));
      if (is_op(","))
        is_tuple = true;
      else
        break;
    }
    if (!is_tuple) {
      if (!items.empty()) return std::move(items[0]);
      if (!explicit_parens) error(cur(), "expected an expression, got " + describe(cur()));
    }
    auto e = make(ExprKind::TupleLit, line);
    e->items = std::move(items);
    return e;
  }

  ExprPtr parse_expression(bool with_condexpr) {
    const Nest nest(*this);
    if (!with_condexpr) return parse_or();
    ExprPtr expr = parse_or();
    while (is_name("if")) {
      int line = next().line;
      auto cond = make(ExprKind::Cond, line);
      cond->a = parse_or();
      cond->b = std::move(expr);
      if (skip_name("else")) cond->c = parse_expression(true);
      expr = std::move(cond);
    }
    return expr;
  }

  ExprPtr binary(ExprKind kind, ExprPtr l, ExprPtr r, int line, std::string op = {}) {
    auto e = make(kind, line);
    e->a = std::move(l);
    e->b = std::move(r);
    e->name = std::move(op);
    return e;
  }

  ExprPtr parse_or() {
    ExprPtr l = parse_and();
    while (is_name("or")) {
      int line = next().line;
      l = binary(ExprKind::Or, std::move(l), parse_and(), line);
    }
    return l;
  }
  ExprPtr parse_and() {
    ExprPtr l = parse_not();
    while (is_name("and")) {
      int line = next().line;
      l = binary(ExprKind::And, std::move(l), parse_not(), line);
    }
    return l;
  }
  ExprPtr parse_not() {
    const Nest nest(*this);
    if (is_name("not")) {
      auto e = make(ExprKind::Not, next().line);
      e->a = parse_not();
      return e;
    }
    return parse_compare();
  }
  ExprPtr parse_compare() {
    int line = cur().line;
    ExprPtr first = parse_math1();
    std::unique_ptr<Expr> cmp;
    while (true) {
      std::string op;
      if (cur().type == Tok::Op && (cur().value == "==" || cur().value == "!=" || cur().value == "<" || cur().value == ">" ||
                                    cur().value == "<=" || cur().value == ">=")) {
        op = next().value;
      } else if (is_name("in")) {
        next();
        op = "in";
      } else if (is_name("not") && peek().type == Tok::Name && peek().value == "in") {
        next();
        next();
        op = "notin";
      } else {
        break;
      }
      if (!cmp) {
        cmp = make(ExprKind::Compare, line);
        cmp->a = std::move(first);
      }
      cmp->ops.push_back(op);
      cmp->items.push_back(parse_math1());
    }
    return cmp ? std::move(cmp) : std::move(first);
  }
  ExprPtr parse_math1() {
    ExprPtr l = parse_concat();
    while (is_op("+") || is_op("-")) {
      const Token& op = next();
      l = binary(ExprKind::Binary, std::move(l), parse_concat(), op.line, op.value);
    }
    return l;
  }
  ExprPtr parse_concat() {
    ExprPtr first = parse_math2();
    if (!is_op("~")) return first;
    auto e = make(ExprKind::Concat, cur().line);
    e->items.push_back(std::move(first));
    while (skip_op("~")) e->items.push_back(parse_math2());
    return e;
  }
  ExprPtr parse_math2() {
    ExprPtr l = parse_pow();
    while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
      const Token& op = next();
      l = binary(ExprKind::Binary, std::move(l), parse_pow(), op.line, op.value);
    }
    return l;
  }
  ExprPtr parse_pow() {
    ExprPtr l = parse_unary(true);
    while (is_op("**")) {
      const Token& op = next();
      l = binary(ExprKind::Binary, std::move(l), parse_unary(true), op.line, op.value);
    }
    return l;
  }
  ExprPtr parse_unary(bool with_filter) {
    const Nest nest(*this);
    ExprPtr node;
    if (is_op("-") || is_op("+")) {
      const Token& op = next();
      node = make(op.value == "-" ? ExprKind::Neg : ExprKind::Pos, op.line);
      node->a = parse_unary(false);
    } else {
      node = parse_primary();
    }
    node = parse_postfix(std::move(node));
    if (with_filter) node = parse_filter_expr(std::move(node));
    return node;
  }

  ExprPtr parse_primary() {
    const Token& tok = cur();
    switch (tok.type) {
      case Tok::Name: {
        next();
        auto e = make(ExprKind::Const, tok.line);
        if (tok.value == "true" || tok.value == "True") e->value = Value::boolean(true);
        else if (tok.value == "false" || tok.value == "False") e->value = Value::boolean(false);
        else if (tok.value == "none" || tok.value == "None") e->value = Value::none();
        else {
          e->kind = ExprKind::Name;
          e->name = tok.value;
        }
        return e;
      }
      case Tok::String: {
        std::string s;
        while (cur().type == Tok::String) s += next().value;
        auto e = make(ExprKind::Const, tok.line);
        e->value = Value::string(std::move(s));
        return e;
      }
      case Tok::Integer: {
        next();
        auto e = make(ExprKind::Const, tok.line);
        int64_t value = 0;
        const char* digits = tok.value.data();
        if (std::from_chars(digits, digits + tok.value.size(), value).ec != std::errc())
          error(tok, "the integer " + tok.value + " does not fit in 64 bits");
        e->value = Value::integer(value);
        return e;
      }
      case Tok::Float: {
        next();
        auto e = make(ExprKind::Const, tok.line);
        e->value = Value::real(std::strtod(tok.value.c_str(), nullptr));  // past double: inf, as Python's float()
        return e;
      }
      case Tok::Op:
        if (tok.value == "(") {
          next();
          ExprPtr e = parse_tuple(true, true);
          expect_op(")");
          return e;
        }
        if (tok.value == "[") {
          next();
          auto e = make(ExprKind::ListLit, tok.line);
          while (!is_op("]")) {
            if (!e->items.empty()) expect_op(",");
            if (is_op("]")) break;
            e->items.push_back(parse_expression(true));
          }
          expect_op("]");
          return e;
        }
        if (tok.value == "{") {
          next();
          auto e = make(ExprKind::DictLit, tok.line);
          while (!is_op("}")) {
            if (!e->items.empty()) expect_op(",");
            if (is_op("}")) break;
            e->items.push_back(parse_expression(true));
            expect_op(":");
            e->items.push_back(parse_expression(true));
          }
          expect_op("}");
          return e;
        }
        break;
      default: break;
    }
    error(tok, "unexpected " + describe(tok));
  }

  ExprPtr parse_postfix(ExprPtr node) {
    while (true) {
      if (is_op(".")) {
        const Token& dot = next();
        auto e = make(ExprKind::Attr, dot.line);
        e->a = std::move(node);
        if (cur().type == Tok::Name) {
          e->name = next().value;
        } else if (cur().type == Tok::Integer) {
          e->kind = ExprKind::Item;
          auto key = make(ExprKind::Const, dot.line);
          const Token& index = next();
          key->value = Value::integer(parse_digits(index.value, index.line));
          e->b = std::move(key);
        } else {
          error(cur(), "expected name or number after '.'");
        }
        node = std::move(e);
      } else if (is_op("[")) {
        node = parse_subscript(std::move(node));
      } else if (is_op("(")) {
        node = parse_call(std::move(node));
      } else {
        return node;
      }
    }
  }

  ExprPtr parse_subscript(ExprPtr obj) {
    const Token& open = next();
    std::vector<ExprPtr> keys;
    while (!is_op("]")) {
      if (!keys.empty()) expect_op(",");
      keys.push_back(parse_subscribed());
    }
    expect_op("]");
    if (keys.size() != 1) unsupported(open.line, "tuple subscripts");
    ExprPtr key = std::move(keys[0]);
    if (key->kind == ExprKind::Slice) {
      key->items.insert(key->items.begin(), std::move(obj));
      return key;
    }
    auto e = make(ExprKind::Item, open.line);
    e->a = std::move(obj);
    e->b = std::move(key);
    return e;
  }

  ExprPtr parse_subscribed() {
    int line = cur().line;
    ExprPtr start;
    if (!is_op(":")) {
      start = parse_expression(true);
      if (!is_op(":")) return start;
    }
    auto s = make(ExprKind::Slice, line);
    next();  // ':'
    s->has_start = start != nullptr;
    s->a = std::move(start);
    if (!is_op("]") && !is_op(",") && !is_op(":")) {
      s->b = parse_expression(true);
      s->has_stop = true;
    }
    if (skip_op(":")) {
      if (!is_op("]") && !is_op(",")) {
        s->c = parse_expression(true);
        s->has_step = true;
      }
    }
    return s;
  }

  void parse_args(Expr& e) {
    expect_op("(");
    bool first = true;
    while (!is_op(")")) {
      if (!first) expect_op(",");
      first = false;
      if (is_op(")")) break;
      if (is_op("*") || is_op("**")) unsupported(cur().line, "*args / **kwargs in calls");
      if (cur().type == Tok::Name && peek().type == Tok::Op && peek().value == "=") {
        std::string key = next().value;
        next();
        e.kwargs.emplace_back(key, parse_expression(true));
      } else {
        if (!e.kwargs.empty()) error(cur(), "invalid syntax for function call expression (positional after keyword)");
        e.items.push_back(parse_expression(true));
      }
    }
    expect_op(")");
  }

  ExprPtr parse_call(ExprPtr callee) {
    auto e = make(ExprKind::Call, cur().line);
    e->a = std::move(callee);
    parse_args(*e);
    return e;
  }

  std::string dotted_name() {
    std::string n = expect_name();
    while (is_op(".") && peek().type == Tok::Name) {
      next();
      n += "." + next().value;
    }
    return n;
  }

  ExprPtr parse_filter(ExprPtr node, bool start_inline) {
    while (start_inline || is_op("|")) {
      if (!start_inline) next();
      start_inline = false;
      int line = cur().line;
      auto f = make(ExprKind::Filter, line);
      f->name = dotted_name();
      if (!find_filter(f->name)) unsupported(line, "the filter '" + f->name + "'");
      f->a = std::move(node);
      if (is_op("(")) parse_args(*f);
      node = std::move(f);
    }
    return node;
  }

  ExprPtr parse_filter_expr(ExprPtr node) {
    while (true) {
      if (is_op("|")) {
        node = parse_filter(std::move(node), false);
      } else if (is_name("is")) {
        node = parse_test(std::move(node));
      } else if (is_op("(")) {
        node = parse_call(std::move(node));
      } else {
        return node;
      }
    }
  }

  ExprPtr parse_test(ExprPtr node) {
    int line = next().line;  // 'is'
    auto e = make(ExprKind::Test, line);
    e->negated = skip_name("not");
    e->name = dotted_name();
    if (!find_test(e->name)) unsupported(line, "the test '" + e->name + "'");
    e->a = std::move(node);
    const Token& c = cur();
    if (is_op("(")) {
      parse_args(*e);
    } else if ((c.type == Tok::Name || c.type == Tok::String || c.type == Tok::Integer || c.type == Tok::Float ||
                (c.type == Tok::Op && (c.value == "(" || c.value == "[" || c.value == "{"))) &&
               !(c.type == Tok::Name && (c.value == "else" || c.value == "or" || c.value == "and"))) {
      if (is_name("is")) error(c, "you cannot chain multiple tests with is");
      e->items.push_back(parse_postfix(parse_primary()));
    }
    return e;
  }
};

}  // namespace

Template parse(const std::vector<Token>& tokens, const std::string& name) { return Parser(tokens, name).parse_template(); }

}  // namespace shadowpeft::jinja
