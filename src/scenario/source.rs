//! The text a scenario was read from, `--set` overrides applied on top of it,
//! and the mapping from a byte span back to a file position and a key.
//!
//! Override values are parsed on their own; their spans are moved past the
//! end of the file (each into its own slot), so any error inside one can be
//! reported as coming from that `--set` argument rather than from the file.

use std::ops::Range;

use serde_spanned::Spanned;
use toml::de::{DeArray, DeTable, DeValue};

use crate::error::InputError;

/// One `--set KEY=VALUE` argument and the virtual span its value occupies.
#[derive(Clone, Debug)]
struct SetSlot {
    arg: String,
    start: usize,
    end: usize,
}

/// A scenario file's text and its overrides, for error reporting.
#[derive(Clone, Debug)]
pub struct Source {
    /// How the file is named in messages (the path as given).
    pub origin: String,
    /// The file's text.
    pub text: String,
    slots: Vec<SetSlot>,
}

impl Source {
    /// A source for `text` read from `origin`.
    pub fn new(origin: impl Into<String>, text: impl Into<String>) -> Self {
        Self {
            origin: origin.into(),
            text: text.into(),
            slots: Vec::new(),
        }
    }

    /// Reserves a virtual span for an override value of `len` bytes and
    /// returns its start offset.
    fn reserve(&mut self, arg: &str, len: usize) -> usize {
        let start = self.slots.last().map_or(self.text.len() + 1, |s| s.end + 1);
        self.slots.push(SetSlot {
            arg: arg.to_string(),
            start,
            end: start + len,
        });
        start
    }

    /// An error at `span`, naming the key found there in `table`.
    pub fn error_at(
        &self,
        table: &DeTable<'_>,
        span: Option<Range<usize>>,
        message: impl Into<String>,
    ) -> InputError {
        let message = message.into();
        let Some(span) = span else {
            return InputError::new(&self.origin, message);
        };
        let key = key_at(table, span.start);
        if let Some(slot) = self
            .slots
            .iter()
            .find(|s| span.start >= s.start && span.start <= s.end)
        {
            return InputError {
                origin: format!("--set {}", slot.arg),
                position: None,
                key,
                message,
            };
        }
        InputError {
            origin: self.origin.clone(),
            position: Some(line_column(&self.text, span.start)),
            key,
            message,
        }
    }
}

/// 1-based line and column (in characters) of byte offset `at` in `text`.
pub fn line_column(text: &str, at: usize) -> (usize, usize) {
    let at = at.min(text.len());
    let mut boundary = at;
    while !text.is_char_boundary(boundary) {
        boundary -= 1;
    }
    let before = &text[..boundary];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

/// The dotted key (as `--set` takes it) of the innermost entry of `table`
/// whose key or value contains byte offset `at`.
pub fn key_at(table: &DeTable<'_>, at: usize) -> Option<String> {
    let mut path = Vec::new();
    if find_in_table(table, at, &mut path) {
        Some(path.join("."))
    } else {
        None
    }
}

fn contains(span: &Range<usize>, at: usize) -> bool {
    span.start <= at && at < span.end.max(span.start + 1)
}

fn find_in_table(table: &DeTable<'_>, at: usize, path: &mut Vec<String>) -> bool {
    for (key, value) in table.iter() {
        if contains(&key.span(), at) {
            path.push(key.get_ref().to_string());
            return true;
        }
        if contains(&value.span(), at) {
            path.push(key.get_ref().to_string());
            find_in_value(value.get_ref(), at, path);
            return true;
        }
    }
    // Standard tables (`[pool]`) may carry only their header's span: look
    // inside every sub-table as well.
    for (key, value) in table.iter() {
        path.push(key.get_ref().to_string());
        let found = match value.get_ref() {
            DeValue::Table(t) => find_in_table(t, at, path),
            DeValue::Array(a) => find_in_array(a, at, path),
            _ => false,
        };
        if found {
            return true;
        }
        path.pop();
    }
    false
}

fn find_in_value(value: &DeValue<'_>, at: usize, path: &mut Vec<String>) {
    match value {
        DeValue::Table(t) => {
            find_in_table(t, at, path);
        }
        DeValue::Array(a) => {
            find_in_array(a, at, path);
        }
        _ => {}
    }
}

fn find_in_array(array: &DeArray<'_>, at: usize, path: &mut Vec<String>) -> bool {
    for (i, item) in array.iter().enumerate() {
        let inside = contains(&item.span(), at);
        let label = element_label(item.get_ref(), i);
        if inside {
            path.push(label);
            find_in_value(item.get_ref(), at, path);
            return true;
        }
        if let DeValue::Table(t) = item.get_ref() {
            path.push(label);
            if find_in_table(t, at, path) {
                return true;
            }
            path.pop();
        }
    }
    false
}

/// How an element of an array is named in a key: a table's `name` when it
/// has one (`segment.biomedicine`), else its 0-based index.
fn element_label(value: &DeValue<'_>, index: usize) -> String {
    if let DeValue::Table(t) = value
        && let Some(name) = t.get("name")
        && let DeValue::String(s) = name.get_ref()
    {
        return s.to_string();
    }
    index.to_string()
}

/// Applies `--set KEY=VALUE` overrides to a parsed scenario table.
///
/// `KEY` is dotted (`pool.initial_balance`); an element of an array of tables
/// is named by its `name` or its 0-based index (`segment.biomedicine.pd`,
/// `segment.0.pd`). `VALUE` is read as a TOML value (`5e8`, `true`,
/// `[1, 2]`, `"text"`); anything that is not one is taken as a string.
/// Missing tables on the way are created.
pub fn apply_overrides<'i>(
    source: &mut Source,
    table: &mut DeTable<'i>,
    overrides: &'i [String],
) -> Result<(), InputError> {
    for arg in overrides {
        let Some((key, value_text)) = arg.split_once('=') else {
            return Err(InputError::new(
                format!("--set {arg}"),
                "expected KEY=VALUE, for example --set pool.initial_balance=5e8",
            ));
        };
        let key = key.trim();
        let parts: Vec<&str> = key.split('.').map(str::trim).collect();
        if key.is_empty() || parts.iter().any(|p| p.is_empty()) {
            return Err(InputError::new(
                format!("--set {arg}"),
                "the key must be dotted names such as pool.initial_balance or segment.biomedicine.pd",
            ));
        }
        let value_text = value_text.trim();
        let start = source.reserve(arg, value_text.len());
        let value = match DeValue::parse(value_text) {
            Ok(v) => shift(v, start),
            Err(_) => Spanned::new(
                start..start + value_text.len(),
                DeValue::String(value_text.to_string().into()),
            ),
        };
        let slot_span = start..start + value_text.len();
        insert_at(table, &parts, value, slot_span)
            .map_err(|message| InputError::new(format!("--set {arg}"), message).with_key(key))?;
    }
    Ok(())
}

fn insert_at<'i>(
    table: &mut DeTable<'i>,
    parts: &[&str],
    value: Spanned<DeValue<'i>>,
    span: Range<usize>,
) -> Result<(), String> {
    let (first, rest) = parts.split_first().ok_or("empty key")?;
    if rest.is_empty() {
        table.insert(Spanned::new(span, (*first).to_string().into()), value);
        return Ok(());
    }
    if !table.contains_key(*first) {
        // A table created on the way: its key gets an empty span so that
        // errors inside the value name the full key.
        table.insert(
            Spanned::new(span.end..span.end, (*first).to_string().into()),
            Spanned::new(span.clone(), DeValue::Table(DeTable::new())),
        );
    }
    let Some(entry) = table.get_mut(*first) else {
        return Err(format!("no table `{first}`"));
    };
    match entry.get_mut() {
        DeValue::Table(t) => insert_at(t, rest, value, span),
        DeValue::Array(a) => {
            let (selector, rest) = rest.split_first().ok_or("empty key")?;
            let count = a.len();
            let found = a.iter_mut().enumerate().find(|(i, item)| {
                element_label(item.get_ref(), *i) == *selector || i.to_string() == *selector
            });
            let Some((_, item)) = found else {
                return Err(format!(
                    "`{first}` has no element named or numbered `{selector}` (it has {count}; name one by its `name` or by its 0-based index)"
                ));
            };
            match item.get_mut() {
                DeValue::Table(t) if !rest.is_empty() => insert_at(t, rest, value, span),
                _ if rest.is_empty() => {
                    *item = value;
                    Ok(())
                }
                _ => Err(format!("`{first}.{selector}` is not a table")),
            }
        }
        _ => Err(format!("`{first}` is a value, not a table")),
    }
}

/// Moves every span inside `value` by `offset` bytes.
fn shift(value: Spanned<DeValue<'_>>, offset: usize) -> Spanned<DeValue<'_>> {
    let span = value.span();
    let moved = span.start + offset..span.end + offset;
    let inner = match value.into_inner() {
        DeValue::Array(a) => DeValue::Array(a.into_iter().map(|v| shift(v, offset)).collect()),
        DeValue::Table(t) => {
            let mut out = DeTable::new();
            for (k, v) in t {
                let ks = k.span();
                out.insert(
                    Spanned::new(ks.start + offset..ks.end + offset, k.into_inner()),
                    shift(v, offset),
                );
            }
            DeValue::Table(out)
        }
        other => other,
    };
    Spanned::new(moved, inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_count_characters() {
        let text = "a = 1\nb = \"é\" x\n";
        assert_eq!(line_column(text, 0), (1, 1));
        assert_eq!(line_column(text, 6), (2, 1));
        // 'x' follows a two-byte character.
        let x = text.find('x').unwrap();
        assert_eq!(line_column(text, x), (2, 9));
    }

    #[test]
    fn keys_are_found_by_position() {
        let text = "[pool]\ninitial_balance = 5\n\n[[segment]]\nname = \"bio\"\npd = 2\n";
        let table = DeTable::parse(text).unwrap().into_inner();
        let at = text.find("5").unwrap();
        assert_eq!(key_at(&table, at).as_deref(), Some("pool.initial_balance"));
        let at = text.find("2").unwrap();
        assert_eq!(key_at(&table, at).as_deref(), Some("segment.bio.pd"));
    }
}
