// json_stats: an ABI v2 JSON plugin in C++ with libc++. Summary statistics of a list of numbers.
//
//   {"values": [1, 2.5, 3]}  ->  {"count":3,"sum":6.5,"mean":2.1666666666666665,"min":1,"max":3}
//   {"values": []}           ->  {"count":0,"sum":0,"mean":null,"min":null,"max":null}
//
// Input: a JSON object with a key "values" whose value is an array of numbers. Other keys are
// parsed (so the whole input must be valid JSON) and ignored. Everything else is error -3
// (ABI_ERROR_INVALID_INPUT) with a message; messages that concern a place in the input end in
// "at position N", N being the 0-based byte offset into the input:
//
//   invalid JSON (syntax, bad escapes, invalid UTF-8, numbers out of double range, nesting
//   deeper than 128), a top-level value that is not an object, no "values" key, "values" twice,
//   "values" not an array, an element that is not a number.
//
// Stricter than Python's json in three places, all outside RFC 8259 or ambiguous: NaN and
// Infinity are errors, a \u escape must not leave a lone surrogate (it has no UTF-8 form), and a
// second "values" key is an error rather than silently winning. Numbers are converted with
// wasi-libc's strtod (correctly rounded; it needs no imports) after the grammar is checked.
//
// Syntax errors take precedence: the whole input is checked before the first semantic error is
// reported, as json.loads followed by a check would.
//
// A sum beyond the double range is error -4 (ABI_ERROR_INTERNAL): there is no JSON for it.
//
// Arithmetic: IEEE doubles. The sum is a plain left-to-right sum (Python's sum() up to 3.11;
// 3.12 compensates rounding errors, so results may differ in the last bits); mean = sum / count.
//
// Number output: numbers are printed the way Python's repr(float) does: the shortest decimal
// that reads back as the same double (the nearest to it if there are several), so json.loads
// round-trips every value bit for bit. The one difference: integral values below 1e16 are
// printed as integers ("min":1, not 1.0), which json.loads reads as an int equal to the float.
// Digits come from an exact big-integer expansion of the double and of its rounding interval,
// not from printf (stdio would add WASI imports) or floating-point arithmetic, so no precision
// is lost anywhere.
//
// The parser keeps no document tree: it validates as it reads and only aggregates the numbers,
// so memory use is the input plus O(nesting depth) whatever the input size; plugin.toml caps its
// memory at 4 MiB. It does not log, and defines WASMEDGE_PLUGIN_NO_LOG so that it is sure to
// import nothing (any wp_log call compiles to nothing) and runs on hosts without env.host_log.
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#define WASMEDGE_PLUGIN_NO_LOG
#include "wasmedge_plugin.h"

namespace {

constexpr int kMaxDepth = 128;  // nesting limit; keeps the recursion well inside the 64 KiB stack

// ---------------------------------------------------------------------------------------------
// Number formatting
// ---------------------------------------------------------------------------------------------

// An unsigned integer in base 10^9 limbs (least significant first), just enough for the exact
// decimal expansion of a double: at most m * 5^1074 or m * 2^971, i.e. under 800 digits.
class BigInt {
public:
    explicit BigInt(uint64_t v) {
        do {
            limbs_.push_back(static_cast<uint32_t>(v % kBase));
            v /= kBase;
        } while (v != 0);
    }

    void multiply(uint32_t factor) {  // factor < 2^32: limb * factor + carry < 2^62
        uint64_t carry = 0;
        for (uint32_t &limb : limbs_) {
            uint64_t x = static_cast<uint64_t>(limb) * factor + carry;
            limb = static_cast<uint32_t>(x % kBase);
            carry = x / kBase;
        }
        while (carry != 0) {
            limbs_.push_back(static_cast<uint32_t>(carry % kBase));
            carry /= kBase;
        }
    }

    std::string to_string() const {  // no leading zeros
        std::string s = std::to_string(limbs_.back());
        for (size_t i = limbs_.size() - 1; i-- > 0;) {
            std::string part = std::to_string(limbs_[i]);
            s.append(9 - part.size(), '0');
            s += part;
        }
        return s;
    }

private:
    static constexpr uint64_t kBase = 1000000000;
    std::vector<uint32_t> limbs_;
};

// A positive decimal 0.DIGITS x 10^point; digits has no leading or trailing zeros.
struct Decimal {
    std::string digits;
    int point;
};

void strip_trailing_zeros(std::string &digits) {
    size_t end = digits.find_last_not_of('0');
    digits.resize(end == std::string::npos ? 1 : end + 1);
}

// The exact value of mantissa * 2^exponent (mantissa > 0), expanded in base 10.
Decimal exact_decimal(uint64_t mantissa, int exponent) {
    BigInt n(mantissa);
    int fraction_digits = 0;
    if (exponent >= 0) {
        for (int e = exponent; e > 0; e -= 28) n.multiply(uint32_t{1} << (e < 28 ? e : 28));
    } else {
        // m * 2^-k = m * 5^k / 10^k: multiply by 5^k and put the decimal point k digits left.
        fraction_digits = -exponent;
        for (int k = fraction_digits; k > 0; k -= 13) {
            uint32_t power = 1;
            for (int i = 0; i < (k < 13 ? k : 13); i++) power *= 5;  // 5^13 < 2^32
            n.multiply(power);
        }
    }
    Decimal d{n.to_string(), 0};
    d.point = static_cast<int>(d.digits.size()) - fraction_digits;
    strip_trailing_zeros(d.digits);
    return d;
}

// Orders two positive Decimals. Both are normalised (no leading or trailing zeros), so the
// point decides first, and then the digit strings compare like the numbers they spell.
int compare(const Decimal &a, const Decimal &b) {
    if (a.point != b.point) return a.point < b.point ? -1 : 1;
    int c = a.digits.compare(b.digits);
    return (c > 0) - (c < 0);
}

enum class Rounding { Nearest, Down, Up };  // Nearest: half to even

// `exact` rounded to at most `precision` significant digits.
Decimal round_to(const Decimal &exact, size_t precision, Rounding mode = Rounding::Nearest) {
    if (exact.digits.size() <= precision) return exact;
    Decimal r{exact.digits.substr(0, precision), exact.point};
    // exact.digits has no trailing zeros, so something non-zero was cut off.
    char next = exact.digits[precision];
    bool beyond_half = exact.digits.size() > precision + 1;
    bool odd = (r.digits.back() - '0') % 2 == 1;
    bool up = mode == Rounding::Up ||
              (mode == Rounding::Nearest && (next > '5' || (next == '5' && (beyond_half || odd))));
    if (up) {
        size_t i = r.digits.size();
        while (i > 0 && r.digits[i - 1] == '9') r.digits[--i] = '0';
        if (i == 0) {
            r.digits.insert(r.digits.begin(), '1');  // 99.9 -> 100
            r.digits.pop_back();
            r.point++;
        } else {
            r.digits[i - 1]++;
        }
    }
    strip_trailing_zeros(r.digits);
    return r;
}

// Python's repr layout: positional for 1e-4 <= |v| < 1e16, otherwise d.ddde+XX (two exponent
// digits at least). Integers are printed without ".0".
std::string render(const Decimal &d, bool negative) {
    std::string s = negative ? "-" : "";
    int len = static_cast<int>(d.digits.size());
    int exponent = d.point - 1;  // v = d.ddd x 10^exponent
    if (exponent >= -4 && exponent < 16) {
        if (d.point <= 0) {
            s += "0.";
            s.append(static_cast<size_t>(-d.point), '0');
            s += d.digits;
        } else if (d.point >= len) {
            s += d.digits;
            s.append(static_cast<size_t>(d.point - len), '0');
        } else {
            s.append(d.digits, 0, static_cast<size_t>(d.point));
            s += '.';
            s.append(d.digits, static_cast<size_t>(d.point), std::string::npos);
        }
        return s;
    }
    s += d.digits[0];
    if (len > 1) {
        s += '.';
        s.append(d.digits, 1, std::string::npos);
    }
    s += exponent < 0 ? "e-" : "e+";
    int magnitude = exponent < 0 ? -exponent : exponent;
    if (magnitude < 10) s += '0';
    s += std::to_string(magnitude);
    return s;
}

// A finite double as a JSON number that json.loads reads back as the same value.
//
// Every decimal strictly between the midpoints to the neighbouring doubles reads back as v
// (the midpoints themselves too when v's mantissa is even: strtod rounds ties to even). The
// midpoints are exact binary fractions, so all three numbers expand exactly, and the check is
// exact: no floating-point, no strtod. The answer has the fewest digits of any decimal inside,
// and among those is the nearest to v: what repr(float) prints. 17 digits always fit.
std::string format_number(double v) {
    if (v == 0) return std::signbit(v) ? "-0.0" : "0";  // "-0" would read back as the int 0
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    int biased = static_cast<int>((bits >> 52) & 0x7FF);
    uint64_t m = bits & ((uint64_t{1} << 52) - 1);  // v = m * 2^e
    if (biased == 0) {
        biased = 1;  // subnormal
    } else {
        m |= uint64_t{1} << 52;
    }
    int e = biased - 1075;
    Decimal exact = exact_decimal(m, e);
    Decimal high = exact_decimal(2 * m + 1, e - 1);
    // At a power of two the next double down is only half as far away.
    bool narrow_below = m == uint64_t{1} << 52 && biased > 1;
    Decimal low = narrow_below ? exact_decimal(4 * m - 1, e - 2) : exact_decimal(2 * m - 1, e - 1);
    bool ties_read_back = m % 2 == 0;
    auto reads_back = [&](const Decimal &d) {
        int above_low = compare(d, low), below_high = compare(high, d);
        return (above_low > 0 || (ties_read_back && above_low == 0)) &&
               (below_high > 0 || (ties_read_back && below_high == 0));
    };
    for (size_t precision = 1; precision < 17; precision++) {
        // If any decimal of this many digits reads back, one of the two nearest to v does
        // (the interval contains v). Prefer the nearer one; the other can still be inside
        // where the interval is lopsided, at powers of two.
        Decimal nearest = round_to(exact, precision);
        if (reads_back(nearest)) return render(nearest, std::signbit(v));
        Decimal other = round_to(exact, precision, compare(nearest, exact) > 0 ? Rounding::Down : Rounding::Up);
        if (reads_back(other)) return render(other, std::signbit(v));
    }
    return render(round_to(exact, 17), std::signbit(v));
}

// ---------------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------------

enum class Kind { Null, Bool, Number, String, Array, Object };

struct Stats {
    uint64_t count = 0;
    double sum = 0, min = 0, max = 0;

    void add(double v) {
        if (count == 0 || v < min) min = v;
        if (count == 0 || v > max) max = v;
        sum += v;
        count++;
    }
};

// Length of the well-formed UTF-8 sequence at s[0] (n bytes available), or 0. Strict, as
// Python's decoder: no overlong forms, no surrogates, nothing above U+10FFFF.
size_t utf8_sequence_length(const unsigned char *s, size_t n) {
    unsigned char b = s[0], lo = 0x80, hi = 0xBF;
    size_t len;
    if (b < 0x80) return 1;
    if (b < 0xC2) return 0;
    if (b < 0xE0) {
        len = 2;
    } else if (b < 0xF0) {
        len = 3;
        if (b == 0xE0) lo = 0xA0;
        if (b == 0xED) hi = 0x9F;
    } else if (b < 0xF5) {
        len = 4;
        if (b == 0xF0) lo = 0x90;
        if (b == 0xF4) hi = 0x8F;
    } else {
        return 0;
    }
    if (n < len || s[1] < lo || s[1] > hi) return 0;
    for (size_t i = 2; i < len; i++)
        if ((s[i] & 0xC0) != 0x80) return 0;
    return len;
}

void append_utf8(std::string &out, uint32_t cp) {
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    }
}

// A validating recursive-descent parser for RFC 8259 JSON. Every function returns 0 or a
// negative code with the message already set (no exceptions under -fno-exceptions), and leaves
// pos_ after what it consumed.
class Parser {
public:
    explicit Parser(std::string_view in) : in_(in) {}

    // The whole input: one value, whitespace around it. On success `stats` holds the numbers of
    // the top-level "values" array, or a semantic error is reported.
    int32_t document(Stats &stats) {
        skip_whitespace();
        size_t start = pos_;
        int32_t rc;
        if (pos_ < in_.size() && in_[pos_] == '{') {
            rc = object(1, &stats);
        } else {
            rc = value(0, nullptr, nullptr);
            if (rc == 0) semantic("expected a JSON object", start);
        }
        if (rc != 0) return rc;
        skip_whitespace();
        if (pos_ != in_.size()) return wp::fail_at(WP_ERR_INVALID_INPUT, "unexpected data after the JSON value", pos_);
        if (!semantic_error_.empty()) return wp::fail(WP_ERR_INVALID_INPUT, semantic_error_);
        if (!seen_values_) return wp::fail(WP_ERR_INVALID_INPUT, "missing key \"values\"");
        return 0;
    }

private:
    std::string_view in_;
    size_t pos_ = 0;
    bool seen_values_ = false;
    std::string semantic_error_;  // the first one; reported only if the input is valid JSON
    std::string number_text_;     // scratch: strtod needs a NUL-terminated copy

    // Remember a problem with valid JSON; syntax errors found later still win.
    void semantic(std::string_view msg, size_t at) {
        if (!semantic_error_.empty()) return;
        semantic_error_ = msg;
        semantic_error_ += " at position ";
        semantic_error_ += std::to_string(at);
    }

    int32_t fail(std::string_view msg, size_t at) { return wp::fail_at(WP_ERR_INVALID_INPUT, msg, at); }

    int32_t unexpected() {
        if (pos_ >= in_.size()) return fail("unexpected end of input", pos_);
        unsigned char c = static_cast<unsigned char>(in_[pos_]);
        if (c >= 0x20 && c < 0x7F) return fail(std::string("unexpected character '") + static_cast<char>(c) + "'", pos_);
        static const char hex[] = "0123456789abcdef";
        return fail(std::string("unexpected byte 0x") + hex[c >> 4] + hex[c & 15], pos_);
    }

    void skip_whitespace() {
        while (pos_ < in_.size() && (in_[pos_] == ' ' || in_[pos_] == '\t' || in_[pos_] == '\n' || in_[pos_] == '\r'))
            pos_++;
    }

    bool at(char c) const { return pos_ < in_.size() && in_[pos_] == c; }

    // Any JSON value. `depth` counts the containers around it. Reports its kind and, for a
    // number, its value, to callers that ask.
    int32_t value(int depth, Kind *kind, double *number) {
        skip_whitespace();
        if (pos_ >= in_.size()) return unexpected();
        Kind k;
        int32_t rc;
        switch (in_[pos_]) {
        case '{': k = Kind::Object; rc = object(depth + 1, nullptr); break;
        case '[': k = Kind::Array; rc = array(depth + 1); break;
        case '"': k = Kind::String; rc = string_value(nullptr); break;
        case 't': k = Kind::Bool; rc = literal("true"); break;
        case 'f': k = Kind::Bool; rc = literal("false"); break;
        case 'n': k = Kind::Null; rc = literal("null"); break;
        default: {
            if (in_[pos_] != '-' && (in_[pos_] < '0' || in_[pos_] > '9')) return unexpected();
            k = Kind::Number;
            double v = 0;
            rc = parse_number(&v);
            if (rc == 0 && number) *number = v;
        }
        }
        if (rc == 0 && kind) *kind = k;
        return rc;
    }

    int32_t literal(std::string_view word) {
        if (in_.substr(pos_, word.size()) != word) return unexpected();
        pos_ += word.size();
        return 0;
    }

    int32_t enter(int depth) {
        if (depth > kMaxDepth) return fail("nesting deeper than " + std::to_string(kMaxDepth), pos_);
        return 0;
    }

    // An object at pos_. With `stats` it is the top-level one, whose "values" key is collected.
    int32_t object(int depth, Stats *stats) {
        if (int32_t rc = enter(depth)) return rc;
        pos_++;  // '{'
        skip_whitespace();
        if (at('}')) {
            pos_++;
            return 0;
        }
        std::string key;
        for (;;) {
            skip_whitespace();
            if (!at('"')) return pos_ < in_.size() ? fail("expected a string key", pos_) : unexpected();
            size_t key_pos = pos_;
            if (int32_t rc = string_value(stats ? &key : nullptr)) return rc;
            skip_whitespace();
            if (!at(':')) return pos_ < in_.size() ? fail("expected ':'", pos_) : unexpected();
            pos_++;
            if (stats && key == "values") {
                if (seen_values_) semantic("duplicate key \"values\"", key_pos);
                seen_values_ = true;
                if (int32_t rc = values(depth, *stats)) return rc;
            } else if (int32_t rc = value(depth, nullptr, nullptr)) {
                return rc;
            }
            skip_whitespace();
            if (at(',')) {
                pos_++;
            } else if (at('}')) {
                pos_++;
                return 0;
            } else {
                return pos_ < in_.size() ? fail("expected ',' or '}'", pos_) : unexpected();
            }
        }
    }

    int32_t array(int depth) {
        if (int32_t rc = enter(depth)) return rc;
        pos_++;  // '['
        skip_whitespace();
        if (at(']')) {
            pos_++;
            return 0;
        }
        for (;;) {
            if (int32_t rc = value(depth, nullptr, nullptr)) return rc;
            if (int32_t rc = array_separator()) return rc > 0 ? 0 : rc;
        }
    }

    // After an element: 0 after ',', 1 after the closing ']', or an error.
    int32_t array_separator() {
        skip_whitespace();
        if (at(',')) {
            pos_++;
            return 0;
        }
        if (at(']')) {
            pos_++;
            return 1;
        }
        return pos_ < in_.size() ? fail("expected ',' or ']'", pos_) : unexpected();
    }

    // The value of the top-level "values" key: an array of numbers, added to `stats`.
    int32_t values(int depth, Stats &stats) {
        skip_whitespace();
        size_t start = pos_;
        if (!at('[')) {
            int32_t rc = value(depth, nullptr, nullptr);
            if (rc == 0) semantic("\"values\" must be an array", start);
            return rc;
        }
        if (int32_t rc = enter(depth + 1)) return rc;
        stats = Stats();
        pos_++;
        skip_whitespace();
        if (at(']')) {
            pos_++;
            return 0;
        }
        for (uint64_t index = 0;; index++) {
            skip_whitespace();
            size_t element = pos_;
            Kind kind;
            double number = 0;
            if (int32_t rc = value(depth + 1, &kind, &number)) return rc;
            if (kind == Kind::Number) {
                stats.add(number);
            } else {
                semantic("values[" + std::to_string(index) + "] is not a number", element);
            }
            if (int32_t rc = array_separator()) return rc > 0 ? 0 : rc;
        }
    }

    // -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?, then strtod for the correctly rounded value.
    int32_t parse_number(double *out) {
        size_t start = pos_;
        auto digits = [this] {
            size_t from = pos_;
            while (pos_ < in_.size() && in_[pos_] >= '0' && in_[pos_] <= '9') pos_++;
            return pos_ - from;
        };
        if (at('-')) pos_++;
        if (at('0')) {
            pos_++;
        } else if (digits() == 0) {
            return fail("invalid number", start);
        }
        if (at('.')) {
            pos_++;
            if (digits() == 0) return fail("invalid number", start);
        }
        if (at('e') || at('E')) {
            pos_++;
            if (at('+') || at('-')) pos_++;
            if (digits() == 0) return fail("invalid number", start);
        }
        // The copy matters: the input is not NUL-terminated, and strtod would read on past a
        // number that ends the input.
        number_text_.assign(in_.data() + start, pos_ - start);
        double v = std::strtod(number_text_.c_str(), nullptr);
        if (std::isinf(v)) return fail("number out of range", start);
        *out = v;
        return 0;
    }

    // A string at pos_, decoded into `out` if given (only keys of the top-level object are).
    int32_t string_value(std::string *out) {
        size_t start = pos_;
        pos_++;  // '"'
        if (out) out->clear();
        for (;;) {
            if (pos_ >= in_.size()) return fail("unterminated string starting", start);
            unsigned char c = static_cast<unsigned char>(in_[pos_]);
            if (c == '"') {
                pos_++;
                return 0;
            }
            if (c == '\\') {
                if (int32_t rc = escape(out)) return rc;
            } else if (c < 0x20) {
                return fail("control character in string", pos_);
            } else if (c < 0x80) {
                if (out) *out += static_cast<char>(c);
                pos_++;
            } else {
                size_t n = utf8_sequence_length(reinterpret_cast<const unsigned char *>(in_.data()) + pos_, in_.size() - pos_);
                if (n == 0) return fail("invalid UTF-8", pos_);
                if (out) out->append(in_.data() + pos_, n);
                pos_ += n;
            }
        }
    }

    // Four hex digits at pos_ (after "\u").
    bool hex4(uint32_t *unit) {
        if (in_.size() - pos_ < 4) return false;
        uint32_t v = 0;
        for (int i = 0; i < 4; i++) {
            char c = in_[pos_ + i];
            uint32_t d;
            if (c >= '0' && c <= '9') d = static_cast<uint32_t>(c - '0');
            else if (c >= 'a' && c <= 'f') d = static_cast<uint32_t>(c - 'a' + 10);
            else if (c >= 'A' && c <= 'F') d = static_cast<uint32_t>(c - 'A' + 10);
            else return false;
            v = v * 16 + d;
        }
        *unit = v;
        pos_ += 4;
        return true;
    }

    int32_t escape(std::string *out) {
        size_t start = pos_;
        if (in_.size() - pos_ < 2) return fail("unterminated string escape", start);
        char c = in_[pos_ + 1];
        pos_ += 2;
        const char *simple = nullptr;
        switch (c) {
        case '"': simple = "\""; break;
        case '\\': simple = "\\"; break;
        case '/': simple = "/"; break;
        case 'b': simple = "\b"; break;
        case 'f': simple = "\f"; break;
        case 'n': simple = "\n"; break;
        case 'r': simple = "\r"; break;
        case 't': simple = "\t"; break;
        case 'u': break;
        default: return fail("invalid escape", start);
        }
        if (simple) {
            if (out) *out += *simple;
            return 0;
        }
        uint32_t unit;
        if (!hex4(&unit)) return fail("invalid \\u escape", start);
        if (unit >= 0xDC00 && unit <= 0xDFFF) return fail("unpaired surrogate in \\u escape", start);
        if (unit >= 0xD800 && unit <= 0xDBFF) {
            // UTF-16 needs a low surrogate next; alone it encodes no character and has no UTF-8.
            uint32_t low;
            if (in_.substr(pos_, 2) != "\\u") return fail("unpaired surrogate in \\u escape", start);
            pos_ += 2;
            if (!hex4(&low)) return fail("invalid \\u escape", pos_ - 2);
            if (low < 0xDC00 || low > 0xDFFF) return fail("unpaired surrogate in \\u escape", start);
            unit = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00);
        }
        if (out) append_utf8(*out, unit);
        return 0;
    }
};

int32_t json_stats(std::string_view in, std::string &out) {
    Stats stats;
    Parser parser(in);
    if (int32_t rc = parser.document(stats)) return rc;
    out = "{\"count\":" + std::to_string(stats.count);
    if (stats.count == 0) {
        out += ",\"sum\":0,\"mean\":null,\"min\":null,\"max\":null}";
        return 0;
    }
    if (!std::isfinite(stats.sum)) return wp::fail(WP_ERR_INTERNAL, "the sum is beyond the range of a double");
    out += ",\"sum\":" + format_number(stats.sum);
    out += ",\"mean\":" + format_number(stats.sum / static_cast<double>(stats.count));
    out += ",\"min\":" + format_number(stats.min);
    out += ",\"max\":" + format_number(stats.max);
    out += '}';
    return 0;
}

}  // namespace

WASMEDGE_PLUGIN_V2_CXX(json_stats)
