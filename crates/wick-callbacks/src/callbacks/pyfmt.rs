//! Python's number formatting, as Keras' messages, CSV files and checkpoint file names use it:
//! `str(float)` and `str.format` with format specs (`{epoch:02d}`, `{val_loss:.2f}`).

/// A value a file-name template can format: Python `int` (epoch, batch) or `float` (logs).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum PyValue {
    /// A Python `int`.
    Int(i64),
    /// A Python `float`.
    Float(f64),
}

/// Python's `str(x)` / `repr(x)` for a float: the shortest digits that round-trip, in fixed
/// notation when the decimal exponent is in `-4..16`, else in scientific notation with a
/// two-digit exponent (`0.5`, `1.0`, `1e-05`, `1.5e+16`, `nan`, `inf`).
pub(crate) fn repr_f64(x: f64) -> String {
    if x.is_nan() {
        return "nan".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let sign = if x.is_sign_negative() { "-" } else { "" };
    let (digits, exp) = shortest_digits(x.abs());
    let body = if (-4..16).contains(&exp) {
        if exp >= 0 {
            let e = exp as usize;
            let mut int = digits.clone();
            while int.len() < e + 1 {
                int.push('0');
            }
            let frac = if digits.len() > e + 1 { &digits[e + 1..] } else { "0" };
            format!("{}.{}", &int[..e + 1], frac)
        } else {
            format!("0.{}{}", "0".repeat((-exp - 1) as usize), digits)
        }
    } else {
        let mantissa = if digits.len() > 1 { format!("{}.{}", &digits[..1], &digits[1..]) } else { digits.clone() };
        format!("{mantissa}e{}", exp_suffix(exp))
    };
    format!("{sign}{body}")
}

/// The shortest round-trip decimal digits of a finite `x >= 0` and its decimal exponent
/// (`0.05` → `("5", -2)`; `0.0` → `("0", 0)`).
fn shortest_digits(x: f64) -> (String, i32) {
    split_exp(&format!("{x:e}"))
}

/// Splits Rust's `d.ddde-N` into the digits without the point and the exponent.
fn split_exp(s: &str) -> (String, i32) {
    let (mantissa, exp) = s.split_once('e').unwrap_or((s, "0"));
    (mantissa.replace('.', ""), exp.parse().unwrap_or(0))
}

/// Python's exponent suffix: a sign and at least two digits (`-05`, `+16`, `+100`).
fn exp_suffix(exp: i32) -> String {
    format!("{}{:02}", if exp < 0 { '-' } else { '+' }, exp.unsigned_abs())
}

/// Rust's `{:.pe}` rewritten with Python's exponent suffix (`1.50e+00`).
fn sci(x: f64, precision: usize, upper: bool, alt: bool, strip: bool) -> String {
    let s = format!("{x:.precision$e}");
    let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let mut mantissa = mantissa.to_string();
    if strip && !alt && mantissa.contains('.') {
        mantissa = mantissa.trim_end_matches('0').trim_end_matches('.').to_string();
    }
    if alt && !mantissa.contains('.') {
        mantissa.push('.');
    }
    format!("{mantissa}{}{}", if upper { 'E' } else { 'e' }, exp_suffix(exp))
}

/// A parsed Python format spec `[[fill]align][sign][z][#][0][width][grouping][.precision][type]`.
#[derive(Debug, Default)]
struct Spec {
    fill: Option<char>,
    align: Option<char>,
    sign: Option<char>,
    alt: bool,
    zero: bool,
    width: usize,
    grouping: Option<char>,
    precision: Option<usize>,
    ty: Option<char>,
}

fn parse_spec(spec: &str) -> Result<Spec, String> {
    let c: Vec<char> = spec.chars().collect();
    let mut s = Spec::default();
    let mut i = 0;
    let is_align = |ch: char| matches!(ch, '<' | '>' | '=' | '^');
    if c.len() >= 2 && is_align(c[1]) {
        s.fill = Some(c[0]);
        s.align = Some(c[1]);
        i = 2;
    } else if !c.is_empty() && is_align(c[0]) {
        s.align = Some(c[0]);
        i = 1;
    }
    if i < c.len() && matches!(c[i], '+' | '-' | ' ') {
        s.sign = Some(c[i]);
        i += 1;
    }
    if i < c.len() && c[i] == 'z' {
        i += 1;
    }
    if i < c.len() && c[i] == '#' {
        s.alt = true;
        i += 1;
    }
    if i < c.len() && c[i] == '0' {
        s.zero = true;
        i += 1;
    }
    let start = i;
    while i < c.len() && c[i].is_ascii_digit() {
        i += 1;
    }
    if i > start {
        s.width = c[start..i]
            .iter()
            .collect::<String>()
            .parse()
            .map_err(|_| format!("width too big in format spec {spec:?}"))?;
    }
    if i < c.len() && matches!(c[i], ',' | '_') {
        s.grouping = Some(c[i]);
        i += 1;
    }
    if i < c.len() && c[i] == '.' {
        i += 1;
        let start = i;
        while i < c.len() && c[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return Err(format!("format spec {spec:?}: missing precision after '.'"));
        }
        s.precision = Some(
            c[start..i]
                .iter()
                .collect::<String>()
                .parse()
                .map_err(|_| format!("precision too big in format spec {spec:?}"))?,
        );
    }
    if i < c.len() {
        s.ty = Some(c[i]);
        i += 1;
    }
    if i < c.len() {
        return Err(format!("invalid format specifier {spec:?}"));
    }
    Ok(s)
}

/// Inserts `sep` every three digits into the leading run of digits of `body`.
fn group(body: &str, sep: char) -> String {
    let end = body.find(|ch: char| !ch.is_ascii_digit()).unwrap_or(body.len());
    let (int, rest) = body.split_at(end);
    let mut out = String::new();
    for (k, ch) in int.chars().enumerate() {
        if k > 0 && (int.len() - k) % 3 == 0 {
            out.push(sep);
        }
        out.push(ch);
    }
    out + rest
}

/// Pads `sign + body` to the spec's width with its fill and alignment.
fn pad(sign: &str, body: &str, s: &Spec, default_align: char) -> String {
    let len = sign.chars().count() + body.chars().count();
    let (fill, align) = match (s.fill, s.align, s.zero) {
        (Some(f), Some(a), _) => (f, a),
        (None, Some(a), true) => ('0', a),
        (None, Some(a), false) => (' ', a),
        (_, None, true) => ('0', '='),
        (_, None, false) => (' ', default_align),
    };
    if len >= s.width {
        return format!("{sign}{body}");
    }
    let n = s.width - len;
    let fills = |k: usize| std::iter::repeat_n(fill, k).collect::<String>();
    match align {
        '<' => format!("{sign}{body}{}", fills(n)),
        '^' => format!("{}{sign}{body}{}", fills(n / 2), fills(n - n / 2)),
        '=' => format!("{sign}{}{body}", fills(n)),
        _ => format!("{}{sign}{body}", fills(n)),
    }
}

/// Python's `format(value, spec)` for an `int` or a `float` (types `d n x X o b` for ints,
/// `e E f F g G n %` and none for both). Errors read like Python's `ValueError`s.
pub(crate) fn format_value(value: PyValue, spec: &str) -> Result<String, String> {
    let s = parse_spec(spec)?;
    let sign_of = |negative: bool| match (negative, s.sign) {
        (true, _) => "-",
        (false, Some('+')) => "+",
        (false, Some(' ')) => " ",
        _ => "",
    };
    match (value, s.ty) {
        (PyValue::Int(v), None | Some('d' | 'n' | 'x' | 'X' | 'o' | 'b')) => {
            if s.precision.is_some() {
                return Err("precision not allowed in integer format specifier".into());
            }
            let a = v.unsigned_abs();
            let mut body = match s.ty {
                Some('x') => format!("{}{a:x}", if s.alt { "0x" } else { "" }),
                Some('X') => format!("{}{a:X}", if s.alt { "0X" } else { "" }),
                Some('o') => format!("{}{a:o}", if s.alt { "0o" } else { "" }),
                Some('b') => format!("{}{a:b}", if s.alt { "0b" } else { "" }),
                _ => a.to_string(),
            };
            if let Some(sep) = s.grouping {
                body = group(&body, sep);
            }
            Ok(pad(sign_of(v < 0), &body, &s, '>'))
        }
        (PyValue::Int(v), Some(_)) => format_value(PyValue::Float(v as f64), spec),
        (PyValue::Float(x), ty) => {
            let ty = ty.unwrap_or('\0');
            if !matches!(ty, '\0' | 'e' | 'E' | 'f' | 'F' | 'g' | 'G' | 'n' | '%') {
                return Err(format!("unknown format code '{ty}' for object of type 'float'"));
            }
            let negative = x.is_sign_negative() && !x.is_nan();
            let a = x.abs();
            let upper = matches!(ty, 'E' | 'F' | 'G');
            let mut body = if !a.is_finite() {
                let t = if a.is_nan() { "nan" } else { "inf" };
                let t = if upper { t.to_uppercase() } else { t.to_string() };
                if ty == '%' {
                    format!("{t}%")
                } else {
                    t
                }
            } else {
                match ty {
                    'f' | 'F' => {
                        let p = s.precision.unwrap_or(6);
                        let mut b = format!("{a:.p$}");
                        if s.alt && p == 0 {
                            b.push('.');
                        }
                        b
                    }
                    '%' => {
                        let p = s.precision.unwrap_or(6);
                        let mut b = format!("{:.p$}", a * 100.0);
                        if s.alt && p == 0 {
                            b.push('.');
                        }
                        b + "%"
                    }
                    'e' | 'E' => sci(a, s.precision.unwrap_or(6), upper, s.alt, false),
                    '\0' if s.precision.is_none() => repr_f64(a),
                    _ => general(a, s.precision.unwrap_or(6), upper, s.alt, ty == '\0'),
                }
            };
            if let Some(sep) = s.grouping {
                body = group(&body, sep);
            }
            Ok(pad(sign_of(negative), &body, &s, '>'))
        }
    }
}

/// Python's `g` format of a finite `a >= 0` with `p` significant digits; `add_dot_0` is the
/// no-type variant (`format(x, ".3")`), which keeps one decimal and goes scientific at
/// `exp >= p - 1`.
fn general(a: f64, p: usize, upper: bool, alt: bool, add_dot_0: bool) -> String {
    let p = p.max(1);
    let (_, exp) = split_exp(&format!("{a:.prec$e}", prec = p - 1));
    let sci_limit = if add_dot_0 { p as i32 - 1 } else { p as i32 };
    if a != 0.0 && (exp < -4 || exp >= sci_limit) {
        // Python keeps the mantissa plain ("1e+16") in the no-type variant too.
        sci(a, p - 1, upper, alt, true)
    } else {
        let decimals = (p as i32 - 1 - exp).max(0) as usize;
        let mut s = format!("{a:.decimals$}");
        if !alt && s.contains('.') {
            s = s.trim_end_matches('0').trim_end_matches('.').to_string();
        }
        if add_dot_0 && !s.contains('.') {
            s.push_str(".0");
        }
        s
    }
}

/// Python's `template.format(**fields)` for named fields only: `{name}`, `{name:spec}`,
/// `{name!r}`, and `{{`/`}}` escapes. `lookup` gives each field's value; a missing one is
/// an error naming it (Python's `KeyError`).
pub(crate) fn format_template(template: &str, lookup: impl Fn(&str) -> Option<PyValue>) -> Result<String, String> {
    let mut out = String::new();
    let mut chars = template.chars().peekable();
    while let Some(ch) = chars.next() {
        match ch {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                out.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                out.push('}');
            }
            '}' => return Err("single '}' encountered in format string".into()),
            '{' => {
                let mut field = String::new();
                loop {
                    match chars.next() {
                        Some('}') => break,
                        Some('{') => {
                            return Err(format!("nested replacement fields are not supported (in {{{field}...}})"))
                        }
                        Some(c) => field.push(c),
                        None => return Err("single '{' encountered in format string".into()),
                    }
                }
                let (head, spec) = field.split_once(':').unwrap_or((field.as_str(), ""));
                let (name, conversion) = match head.split_once('!') {
                    Some((n, c)) => (n, Some(c)),
                    None => (head, None),
                };
                if name.is_empty() || name.chars().all(|c| c.is_ascii_digit()) {
                    return Err(format!(
                        "positional field {{{name}}} is not supported; name a log key, e.g. {{epoch}}"
                    ));
                }
                if name.contains(['.', '[']) {
                    return Err(format!("field {{{name}}}: attribute and index lookups are not supported"));
                }
                let value = lookup(name).ok_or_else(|| format!("no value for field '{name}'"))?;
                let text = match conversion {
                    None => format_value(value, spec)?,
                    Some("r" | "s" | "a") => {
                        let r = match value {
                            PyValue::Int(v) => v.to_string(),
                            PyValue::Float(x) => repr_f64(x),
                        };
                        format_str(&r, spec)?
                    }
                    Some(c) => return Err(format!("unknown conversion specifier {c:?}")),
                };
                out.push_str(&text);
            }
            c => out.push(c),
        }
    }
    Ok(out)
}

/// Python's `format(str, spec)`: fill, alignment (default left), width, precision (truncates).
fn format_str(text: &str, spec: &str) -> Result<String, String> {
    let s = parse_spec(spec)?;
    if s.sign.is_some() || s.grouping.is_some() || s.alt {
        return Err(format!("format spec {spec:?} is not allowed for a string"));
    }
    if !matches!(s.ty, None | Some('s')) {
        return Err(format!("unknown format code '{}' for object of type 'str'", s.ty.unwrap_or(' ')));
    }
    let body: String = match s.precision {
        Some(p) => text.chars().take(p).collect(),
        None => text.to_string(),
    };
    Ok(pad("", &body, &s, '<'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repr_matches_python() {
        let cases = [
            (0.5, "0.5"),
            (1.0, "1.0"),
            (1e-5, "1e-05"),
            (0.0001, "0.0001"),
            (0.1, "0.1"),
            (0.10000000149011612, "0.10000000149011612"),
            (0.699999988079071, "0.699999988079071"),
            (123456.0, "123456.0"),
            (1e16, "1e+16"),
            (1.5e16, "1.5e+16"),
            (9999999999999998.0, "9999999999999998.0"),
            (1.2345678901234568e17, "1.2345678901234568e+17"),
            (-2.5, "-2.5"),
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (4.882812572759576e-05, "4.882812572759576e-05"),
            (1e100, "1e+100"),
            (f64::NAN, "nan"),
            (f64::NEG_INFINITY, "-inf"),
        ];
        for (x, want) in cases {
            assert_eq!(repr_f64(x), want, "{x}");
        }
    }

    #[test]
    fn format_specs_match_python() {
        use PyValue::*;
        let cases: &[(PyValue, &str, &str)] = &[
            (Int(3), "02d", "03"),
            (Int(3), "", "3"),
            (Int(12), "03", "012"),
            (Int(-3), "04d", "-003"),
            (Int(7), ">4", "   7"),
            (Int(7), "<4", "7   "),
            (Int(7), "^5", "  7  "),
            (Int(7), "*^5", "**7**"),
            (Int(1234567), ",d", "1,234,567"),
            (Int(255), "#x", "0xff"),
            (Int(3), ".2f", "3.00"),
            (Float(0.74132), ".2f", "0.74"),
            (Float(0.125), ".2f", "0.12"),
            (Float(1.0), ".4f", "1.0000"),
            (Float(0.69), ".4f", "0.6900"),
            (Float(0.5), "", "0.5"),
            (Float(1e-5), "", "1e-05"),
            (Float(1e-5), "e", "1.000000e-05"),
            (Float(12345.678), ".3e", "1.235e+04"),
            (Float(12345.678), ".3E", "1.235E+04"),
            (Float(0.5), "f", "0.500000"),
            (Float(0.0001234), "g", "0.0001234"),
            (Float(0.00001234), "g", "1.234e-05"),
            (Float(123456789.0), "g", "1.23457e+08"),
            (Float(100.0), "g", "100"),
            (Float(2.5), ".3g", "2.5"),
            (Float(2.5), "#.3g", "2.50"),
            (Float(123.0), ".3", "1.23e+02"),
            (Float(12.0), ".3", "12.0"),
            (Float(1e16), ".3", "1e+16"),
            (Float(0.25), ".1%", "25.0%"),
            (Float(0.5), "+.2f", "+0.50"),
            (Float(-0.5), ".2f", "-0.50"),
            (Float(-0.5), "08.3f", "-000.500"),
            (Float(4.5678), "10.2f", "      4.57"),
            (Float(4.5678), "<10.2f", "4.57      "),
            (Float(1234567.5), ",.1f", "1,234,567.5"),
            (Float(f64::NAN), ".2f", "nan"),
            (Float(f64::INFINITY), "f", "inf"),
            (Float(f64::INFINITY), "F", "INF"),
        ];
        for (v, spec, want) in cases {
            assert_eq!(format_value(*v, spec).as_deref(), Ok(*want), "format({v:?}, {spec:?})");
        }
        assert!(format_value(Float(0.5), "d").is_err());
        assert!(format_value(Int(5), ".2d").is_err());
        assert!(format_value(Float(0.5), ".2fx").is_err());
    }

    #[test]
    fn templates() {
        let f = |k: &str| match k {
            "epoch" => Some(PyValue::Int(3)),
            "val_loss" => Some(PyValue::Float(0.74132)),
            _ => None,
        };
        assert_eq!(format_template("m-{epoch:02d}-{val_loss:.2f}.keras", f).as_deref(), Ok("m-03-0.74.keras"));
        assert_eq!(format_template("{epoch}_{{x}}", f).as_deref(), Ok("3_{x}"));
        assert_eq!(format_template("{val_loss!r:>10}", f).as_deref(), Ok("   0.74132"));
        assert!(format_template("{loss}", f).unwrap_err().contains("'loss'"));
        assert!(format_template("{}", f).is_err());
        assert!(format_template("{epoch", f).is_err());
        assert!(format_template("a}b", f).is_err());
    }
}
