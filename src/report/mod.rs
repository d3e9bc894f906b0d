//! Everything a person reads: the text summary, number formatting, output
//! files written whole or not at all, and the progress bar.

pub mod charts;
pub mod html;
pub mod output;
pub mod progress;
pub mod tables;
pub mod text;

/// The word for the scenario's currency in prose ("yuan" for CNY).
pub fn currency_word(code: &str) -> String {
    match code {
        "CNY" | "RMB" => "yuan".to_string(),
        other => other.to_string(),
    }
}

/// Groups the integer part of a decimal string in thousands.
fn group_thousands(s: &str) -> String {
    let (sign, rest) = s.strip_prefix('-').map_or(("", s), |r| ("-", r));
    let (int, frac) = rest
        .split_once('.')
        .map_or((rest, None), |(i, f)| (i, Some(f)));
    let mut out = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    match frac {
        Some(f) => format!("{sign}{out}.{f}"),
        None => format!("{sign}{out}"),
    }
}

/// A whole number with thousands separators: `200,000`.
pub fn count(n: u64) -> String {
    group_thousands(&n.to_string())
}

/// A number with `digits` decimals and thousands separators.
pub fn decimal(x: f64, digits: usize) -> String {
    group_thousands(&format!("{x:.digits$}"))
}

/// An amount in millions with one decimal and separators: `1,234.5`.
pub fn millions(x: f64) -> String {
    group_thousands(&format!("{:.1}", x / 1e6))
}

/// An amount in words-friendly units: `1.00 billion`, `400.0 million`.
pub fn amount_words(x: f64) -> String {
    if x.abs() >= 1e9 {
        format!("{} billion", group_thousands(&format!("{:.2}", x / 1e9)))
    } else if x.abs() >= 1e6 {
        format!("{} million", group_thousands(&format!("{:.1}", x / 1e6)))
    } else {
        group_thousands(&format!("{x:.0}"))
    }
}

/// A probability as a percentage with enough digits to be read.
pub fn percent(p: f64) -> String {
    if p == 0.0 {
        "0%".to_string()
    } else if p < 1e-4 {
        format!("{:.4}%", p * 100.0)
    } else if p < 0.01 {
        format!("{:.3}%", p * 100.0)
    } else {
        format!("{:.2}%", p * 100.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(count(200_000), "200,000");
        assert_eq!(millions(1_234_567_890.0), "1,234.6");
        assert_eq!(millions(-5e5), "-0.5");
        assert_eq!(amount_words(1e9), "1.00 billion");
        assert_eq!(amount_words(4e8), "400.0 million");
        assert_eq!(percent(0.0123), "1.23%");
        assert_eq!(percent(0.000_12), "0.012%");
        assert_eq!(percent(0.0), "0%");
    }
}
