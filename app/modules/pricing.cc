// The demo's `pricing` server, a canopy module built in three versions
// (PRICING_VERSION, app/CMakeLists.txt) to show a hot upgrade:
//   1  prices per item in cents; counts quotes.
//   2  adds a currency to its state; its code_change from 1 sets "EUR".
//   3  its code_change from 2 rejects a state holding a free item (price 0):
//      the demo's catalogue has one, so upgrading 2 -> 3 rolls back.
// Protocol (ModuleCall / ModuleCast bodies):
//   call "price ITEM"       -> "ITEM 120" (v1) / "ITEM 120 EUR" (v2, v3), or an error
//   call "info"             -> "version=V quotes=N items=K" (+ " currency=C" from v2)
//   call or cast "set ITEM CENTS", cast "quote ITEM" (counts a quote)
// The state's serialized form (save_state), one "key=value" per line:
//   quotes=N
//   currency=EUR                 (version 2 and 3 only)
//   item.NAME=CENTS              (one per item)
#include <map>
#include <memory>
#include <stdexcept>
#include <string>

#include "canopy/core/module.hpp"

#ifndef PRICING_VERSION
#error PRICING_VERSION must be defined
#endif
#define PRICING_STR2(x) #x
#define PRICING_STR(x) PRICING_STR2(x)

namespace {

constexpr bool kHasCurrency = PRICING_VERSION >= 2;

struct Pricing {
  long quotes = 0;
  std::string currency = "EUR";
  std::map<std::string, long> prices;

  // The spawn argument: "item=cents,item=cents,...".
  static Pricing* create(std::string_view arg) {
    auto* p = new Pricing;
    size_t pos = 0;
    while (pos < arg.size()) {
      size_t comma = arg.find(',', pos);
      if (comma == std::string_view::npos) comma = arg.size();
      const std::string entry(arg.substr(pos, comma - pos));
      pos = comma + 1;
      const size_t eq = entry.find('=');
      if (eq == std::string::npos) {
        delete p;
        throw std::runtime_error("catalogue entry '" + entry + "' is not item=cents");
      }
      p->prices[entry.substr(0, eq)] = std::stol(entry.substr(eq + 1));
    }
    return p;
  }

  std::string quote(const std::string& item) const {
    auto it = prices.find(item);
    if (it == prices.end()) throw std::runtime_error("no price for '" + item + "'");
    std::string s = item + " " + std::to_string(it->second);
    if (kHasCurrency) s += " " + currency;
    return s;
  }

  std::string handle_call(std::string_view req) {
    const std::string r(req);
    if (r == "info") {
      std::string s = "version=" PRICING_STR(PRICING_VERSION) " quotes=" + std::to_string(quotes) +
                      " items=" + std::to_string(prices.size());
      if (kHasCurrency) s += " currency=" + currency;
      return s;
    }
    if (r.rfind("price ", 0) == 0) {
      ++quotes;
      return quote(r.substr(6));
    }
    if (r.rfind("set ", 0) == 0) {
      set(r.substr(4));
      return "ok";
    }
    throw std::runtime_error("unknown request '" + r + "' (price ITEM, set ITEM CENTS, info)");
  }

  void handle_cast(std::string_view msg) {
    const std::string m(msg);
    if (m.rfind("quote ", 0) == 0) {
      if (prices.count(m.substr(6)) != 0) ++quotes;
    } else if (m.rfind("set ", 0) == 0) {
      set(m.substr(4));
    }
  }

  void set(const std::string& rest) {
    const size_t sp = rest.find(' ');
    if (sp == std::string::npos) throw std::runtime_error("set wants ITEM CENTS");
    prices[rest.substr(0, sp)] = std::stol(rest.substr(sp + 1));
  }

  std::string save_state() const {
    std::string s = "quotes=" + std::to_string(quotes) + "\n";
    if (kHasCurrency) s += "currency=" + currency + "\n";
    for (const auto& [item, cents] : prices) s += "item." + item + "=" + std::to_string(cents) + "\n";
    return s;
  }

  // Reads a saved state of the previous version; `with_currency` says
  // whether that form has the currency line.
  static Pricing* parse(std::string_view text, bool with_currency) {
    auto p = std::make_unique<Pricing>();
    bool saw_quotes = false, saw_currency = false;
    size_t pos = 0;
    while (pos < text.size()) {
      size_t nl = text.find('\n', pos);
      if (nl == std::string_view::npos) nl = text.size();
      const std::string line(text.substr(pos, nl - pos));
      pos = nl + 1;
      const size_t eq = line.find('=');
      if (eq == std::string::npos) throw std::runtime_error("state line without '=': '" + line + "'");
      const std::string key = line.substr(0, eq), value = line.substr(eq + 1);
      if (key == "quotes") {
        p->quotes = std::stol(value);
        saw_quotes = true;
      } else if (key == "currency") {
        p->currency = value;
        saw_currency = true;
      } else if (key.rfind("item.", 0) == 0) {
        p->prices[key.substr(5)] = std::stol(value);
      } else {
        throw std::runtime_error("unknown state field '" + key + "'");
      }
    }
    if (!saw_quotes) throw std::runtime_error("not a pricing state (no quotes line)");
    if (saw_currency != with_currency) throw std::runtime_error("a pricing state of another version");
    return p.release();
  }

  static Pricing* code_change(std::string_view old) {
#if PRICING_VERSION == 2
    Pricing* p = parse(old, false);
    p->currency = "EUR";  // the field version 2 adds
    return p;
#elif PRICING_VERSION == 3
    std::unique_ptr<Pricing> p(parse(old, true));
    for (const auto& [item, cents] : p->prices) {
      if (cents == 0) throw std::runtime_error("version 3 refuses free items: '" + item + "' is priced 0");
    }
    return p.release();
#else
    (void)old;
    throw std::runtime_error("version 1 upgrades from nothing");
#endif
  }
};

const canopy_behaviour_v1 kBehaviours[] = {canopy::module::Behaviour<Pricing>::describe("server")};
const canopy_code_change_v1 kChanges[] = {
    {"server", PRICING_VERSION == 3 ? "2" : "1", &canopy::module::code_change<&Pricing::code_change>}};

}  // namespace

CANOPY_MODULE((canopy_module_v1{CANOPY_MODULE_ABI_VERSION, "pricing", PRICING_STR(PRICING_VERSION), kBehaviours, 1,
                                kChanges, PRICING_VERSION == 1 ? 0u : 1u}))
