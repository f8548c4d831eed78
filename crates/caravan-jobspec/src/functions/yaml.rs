//! `yamlencode` and a `yamldecode` for the YAML that job files embed.
//!
//! The encoder writes the block style Nomad's `yamlencode` writes: keys sorted and
//! quoted, strings double-quoted, sequences under a key at the key's indentation.
//! The decoder reads one document of: block mappings and sequences, flow `[...]` and
//! `{...}` collections, plain, single- and double-quoted scalars, `|` and `>` block
//! scalars, and comments. Anchors, aliases, tags, complex keys and multiple documents
//! fail with "yamldecode: ... not supported". Scalars resolve as YAML 1.2's core schema:
//! `null ~ true false`, integers, floats; anything else is a string.

use hcl::eval::FuncArgs;
use hcl::{Map, Number, Value};

use super::encoding::sorted;
use super::{Args, FnResult, number_text};

pub(super) fn yamlencode(args: FuncArgs) -> FnResult {
    let a = Args::new("yamlencode", &args);
    let v = a.get(0);
    let mut out = String::new();
    if is_block(v) {
        emit_block(v, 0, &mut out);
    } else {
        out.push_str(&scalar(v));
        out.push('\n');
    }
    Ok(Value::String(out))
}

/// A non-empty collection, written as indented lines; everything else fits on one line.
fn is_block(v: &Value) -> bool {
    match v {
        Value::Array(items) => !items.is_empty(),
        Value::Object(map) => !map.is_empty(),
        _ => false,
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::Null => "null".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => number_text(n),
        Value::String(s) => quote(s),
        Value::Array(_) => "[]".to_string(),
        Value::Object(_) => "{}".to_string(),
    }
}

fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Writes a non-empty collection as lines indented by `indent` spaces.
fn emit_block(v: &Value, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match v {
        Value::Object(map) => {
            for (k, item) in sorted(map) {
                out.push_str(&pad);
                out.push_str(&quote(k));
                out.push(':');
                match item {
                    Value::Object(_) if is_block(item) => {
                        out.push('\n');
                        emit_block(item, indent + 2, out);
                    }
                    Value::Array(_) if is_block(item) => {
                        out.push('\n');
                        emit_block(item, indent, out);
                    }
                    _ => {
                        out.push(' ');
                        out.push_str(&scalar(item));
                        out.push('\n');
                    }
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                out.push_str(&pad);
                out.push('-');
                if is_block(item) {
                    // The first line of the nested block goes after the dash.
                    let mut nested = String::new();
                    emit_block(item, indent + 2, &mut nested);
                    out.push(' ');
                    out.push_str(&nested[indent + 2..]);
                } else {
                    out.push(' ');
                    out.push_str(&scalar(item));
                    out.push('\n');
                }
            }
        }
        other => {
            out.push_str(&pad);
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
}

pub(super) fn yamldecode(args: FuncArgs) -> FnResult {
    let a = Args::new("yamldecode", &args);
    let text = a.string(0)?;
    decode(&text).map_err(|e| a.err(e))
}

/// One source line: `text` has its indentation and comment removed; `raw` is kept for
/// block scalars, whose content is taken as written.
#[derive(Debug, Clone)]
struct Line {
    number: usize,
    indent: usize,
    text: String,
    raw: String,
}

struct Parser {
    lines: Vec<Line>,
    pos: usize,
}

fn decode(src: &str) -> Result<Value, String> {
    let mut lines = Vec::new();
    let mut started = false;
    let mut has_content = false;
    for (i, raw) in src.lines().enumerate() {
        let number = i + 1;
        let end_trimmed = raw.trim_end();
        if end_trimmed == "---" || end_trimmed.starts_with("--- ") {
            if started || has_content {
                return Err(format!(
                    "line {number}: multiple documents are not supported"
                ));
            }
            started = true;
            let rest = end_trimmed.trim_start_matches('-').trim_start();
            if !rest.is_empty() && !rest.starts_with('#') {
                lines.push(line(number, rest));
                has_content = true;
            }
            continue;
        }
        if end_trimmed == "..." {
            break;
        }
        if raw.starts_with('%') {
            return Err(format!("line {number}: directives are not supported"));
        }
        let l = line(number, raw);
        has_content |= !l.text.is_empty();
        lines.push(l);
    }
    let mut p = Parser { lines, pos: 0 };
    p.skip_blank();
    let Some(first) = p.peek() else {
        return Ok(Value::Null);
    };
    let value = p.block(first.indent)?;
    p.skip_blank();
    if let Some(extra) = p.peek() {
        return Err(format!(
            "line {}: unexpected content {:?}",
            extra.number, extra.text
        ));
    }
    Ok(value)
}

fn line(number: usize, raw: &str) -> Line {
    let indent = raw.len() - raw.trim_start_matches(' ').len();
    let text = strip_comment(&raw[indent..]).trim_end().to_string();
    Line {
        number,
        indent,
        text,
        raw: raw.to_string(),
    }
}

/// Cuts a `#` comment that starts the text or follows whitespace, outside quotes.
fn strip_comment(text: &str) -> &str {
    let mut quote: Option<char> = None;
    let mut prev_space = true;
    for (i, c) in text.char_indices() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '#' && prev_space => return &text[..i],
            None if (c == '"' || c == '\'') && prev_space_or_flow(text, i) => quote = Some(c),
            None => {}
        }
        prev_space = c.is_whitespace();
    }
    text
}

/// Whether a quote at byte `i` opens a quoted scalar (it starts a value) rather than
/// being part of a plain scalar like `it's`.
fn prev_space_or_flow(text: &str, i: usize) -> bool {
    text[..i]
        .chars()
        .next_back()
        .is_none_or(|p| p.is_whitespace() || matches!(p, '[' | '{' | ',' | ':' | '-'))
}

fn is_seq_item(text: &str) -> bool {
    text == "-" || text.starts_with("- ")
}

/// Splits `key: value` (or `key:`) outside quotes and brackets.
fn split_key(text: &str) -> Option<(&str, &str)> {
    if text.starts_with('[') || text.starts_with('{') {
        return None;
    }
    let bytes = text.as_bytes();
    let mut i = 0;
    if let Some(&q) = bytes.first().filter(|q| **q == b'"' || **q == b'\'') {
        i = 1;
        while i < bytes.len() {
            if bytes[i] == b'\\' && q == b'"' {
                i += 2;
                continue;
            }
            if bytes[i] == q {
                if q == b'\'' && bytes.get(i + 1) == Some(&b'\'') {
                    i += 2;
                    continue;
                }
                break;
            }
            i += 1;
        }
        i += 1;
    }
    while i < bytes.len() {
        if bytes[i] == b':' && (i + 1 == bytes.len() || bytes[i + 1] == b' ') {
            return Some((text[..i].trim_end(), text[i + 1..].trim_start()));
        }
        i += 1;
    }
    None
}

impl Parser {
    fn peek(&self) -> Option<&Line> {
        self.lines.get(self.pos)
    }

    fn skip_blank(&mut self) {
        while self.peek().is_some_and(|l| l.text.is_empty()) {
            self.pos += 1;
        }
    }

    /// The value that starts at the current (non-blank) line, indented by `indent`.
    fn block(&mut self, indent: usize) -> Result<Value, String> {
        let Some(line) = self.peek().cloned() else {
            return Ok(Value::Null);
        };
        if line.text.starts_with("? ") {
            return Err(format!(
                "line {}: complex keys are not supported",
                line.number
            ));
        }
        if is_seq_item(&line.text) {
            return self.sequence(indent);
        }
        if split_key(&line.text).is_some() {
            return self.mapping(indent);
        }
        self.pos += 1;
        if line.text.starts_with('|') || line.text.starts_with('>') {
            return self.block_scalar(&line, indent.saturating_sub(1));
        }
        self.inline_value(&line.text, line.number, indent.saturating_sub(1))
    }

    fn sequence(&mut self, indent: usize) -> Result<Value, String> {
        let mut items = Vec::new();
        loop {
            self.skip_blank();
            let Some(line) = self.peek().cloned() else {
                break;
            };
            if line.indent != indent || !is_seq_item(&line.text) {
                break;
            }
            let after_dash = &line.text[1..];
            let rest = after_dash.trim_start();
            if rest.is_empty() {
                self.pos += 1;
                items.push(self.nested(indent, false)?);
                continue;
            }
            // Treat what follows the dash as a line of its own, indented past the dash, so
            // `- key: value` starts a mapping whose next keys align with `key`.
            let inner = indent + 1 + (after_dash.len() - rest.len());
            let current = &mut self.lines[self.pos];
            current.indent = inner;
            current.text = rest.to_string();
            items.push(self.block(inner)?);
        }
        Ok(Value::Array(items))
    }

    fn mapping(&mut self, indent: usize) -> Result<Value, String> {
        let mut map = Map::new();
        loop {
            self.skip_blank();
            let Some(line) = self.peek().cloned() else {
                break;
            };
            if line.indent != indent {
                break;
            }
            let Some((key, rest)) = split_key(&line.text) else {
                if is_seq_item(&line.text) {
                    break;
                }
                return Err(format!("line {}: expected a mapping key", line.number));
            };
            self.pos += 1;
            let key = parse_key(key, line.number)?;
            let value = if rest.is_empty() {
                self.nested(indent, true)?
            } else if rest.starts_with('|') || rest.starts_with('>') {
                let header = Line {
                    text: rest.to_string(),
                    ..line.clone()
                };
                self.block_scalar(&header, indent)?
            } else {
                self.inline_value(rest, line.number, indent)?
            };
            if map.contains_key(&key) {
                return Err(format!("line {}: duplicate key {key:?}", line.number));
            }
            map.insert(key, value);
        }
        Ok(Value::Object(map))
    }

    /// The value under a `key:` or `-` with nothing after it: a deeper block, a sequence
    /// at the key's own indentation (`in_mapping`), or null.
    fn nested(&mut self, indent: usize, in_mapping: bool) -> Result<Value, String> {
        self.skip_blank();
        match self.peek() {
            Some(next) if next.indent > indent => {
                let inner = next.indent;
                self.block(inner)
            }
            Some(next) if in_mapping && next.indent == indent && is_seq_item(&next.text) => {
                self.sequence(indent)
            }
            _ => Ok(Value::Null),
        }
    }

    /// A value written after `key: ` or `- `, continued on following lines when it is an
    /// unclosed flow collection or quote, or a plain scalar folded over deeper lines.
    fn inline_value(&mut self, first: &str, number: usize, indent: usize) -> Result<Value, String> {
        let mut text = first.to_string();
        loop {
            let open = match text.chars().next() {
                Some('[' | '{') => !flow_closed(&text),
                Some('"') => !quote_closed(&text, '"'),
                Some('\'') => !quote_closed(&text, '\''),
                _ => {
                    matches!(self.peek(), Some(next) if next.indent > indent && !next.text.is_empty())
                }
            };
            if !open {
                break;
            }
            self.skip_blank();
            let Some(next) = self.peek() else {
                return Err(format!("line {number}: unterminated value"));
            };
            let quoted = text.starts_with('"') || text.starts_with('\'');
            // A quoted scalar continues with the raw line: a `#` there is content.
            let more = if quoted {
                next.raw.trim()
            } else {
                next.text.as_str()
            };
            text.push(' ');
            text.push_str(more);
            self.pos += 1;
        }
        let mut flow = Flow {
            chars: text.chars().collect(),
            pos: 0,
            number,
        };
        let value = flow.value(false)?;
        flow.skip_ws();
        if flow.pos < flow.chars.len() {
            return Err(format!("line {number}: unexpected text after a value"));
        }
        Ok(value)
    }

    /// A `|` (literal) or `>` (folded) block scalar whose lines are deeper than `indent`.
    fn block_scalar(&mut self, header: &Line, indent: usize) -> Result<Value, String> {
        let spec = &header.text[1..];
        let literal = header.text.starts_with('|');
        let mut chomp = ' ';
        let mut explicit: Option<usize> = None;
        for c in spec.chars() {
            match c {
                '-' | '+' => chomp = c,
                '1'..='9' => explicit = c.to_digit(10).map(|d| d as usize),
                _ => {
                    return Err(format!(
                        "line {}: invalid block scalar header {:?}",
                        header.number, header.text
                    ));
                }
            }
        }
        let mut raw_lines = Vec::new();
        while let Some(l) = self.peek() {
            if l.raw.trim().is_empty() {
                raw_lines.push(String::new());
            } else if l.indent > indent {
                raw_lines.push(l.raw.clone());
            } else {
                break;
            }
            self.pos += 1;
        }
        let block_indent = explicit.map(|d| indent + d).unwrap_or_else(|| {
            raw_lines
                .iter()
                .find(|l| !l.is_empty())
                .map_or(indent + 1, |l| l.len() - l.trim_start_matches(' ').len())
        });
        let mut body: Vec<String> = raw_lines
            .iter()
            .map(|l| l.get(block_indent..).unwrap_or("").to_string())
            .collect();
        let mut trailing = 0;
        while body.last().is_some_and(String::is_empty) {
            body.pop();
            trailing += 1;
        }
        let mut text = if literal {
            body.join("\n")
        } else {
            let mut out = String::new();
            let mut prev_text = false;
            for l in &body {
                if l.is_empty() {
                    out.push('\n');
                    prev_text = false;
                } else {
                    if prev_text {
                        out.push(' ');
                    }
                    out.push_str(l);
                    prev_text = true;
                }
            }
            out
        };
        match chomp {
            '-' => {}
            '+' => {
                text.push('\n');
                text.push_str(&"\n".repeat(trailing));
            }
            _ if !text.is_empty() => text.push('\n'),
            _ => {}
        }
        Ok(Value::String(text))
    }
}

fn parse_key(key: &str, number: usize) -> Result<String, String> {
    let mut flow = Flow {
        chars: key.chars().collect(),
        pos: 0,
        number,
    };
    match key.chars().next() {
        Some('"' | '\'') => match flow.value(false)? {
            Value::String(s) => Ok(s),
            _ => Err(format!("line {number}: invalid key")),
        },
        Some('&' | '*' | '!') => Err(format!(
            "line {number}: anchors, aliases and tags are not supported"
        )),
        _ => Ok(key.to_string()),
    }
}

fn quote_closed(text: &str, q: char) -> bool {
    let mut chars = text.chars().skip(1).peekable();
    while let Some(c) = chars.next() {
        if q == '"' && c == '\\' {
            chars.next();
        } else if c == q {
            if q == '\'' && chars.peek() == Some(&'\'') {
                chars.next();
            } else {
                return true;
            }
        }
    }
    false
}

fn flow_closed(text: &str) -> bool {
    let mut depth = 0i32;
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for c in text.chars() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' && q == '"' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '"' | '\'' => quote = Some(c),
            '[' | '{' => depth += 1,
            ']' | '}' => depth -= 1,
            _ => {}
        }
    }
    depth <= 0
}

/// Reads one inline value: a flow collection, a quoted scalar or a plain scalar.
struct Flow {
    chars: Vec<char>,
    pos: usize,
    number: usize,
}

impl Flow {
    fn err(&self, msg: &str) -> String {
        format!("line {}: {msg}", self.number)
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    /// `in_flow`: inside `[...]` or `{...}`, where `,` `]` `}` end a plain scalar.
    fn value(&mut self, in_flow: bool) -> Result<Value, String> {
        self.skip_ws();
        match self.peek() {
            Some('[') => self.seq(),
            Some('{') => self.map(),
            Some('"') => self.double_quoted().map(Value::String),
            Some('\'') => self.single_quoted().map(Value::String),
            Some('&' | '*' | '!') => Err(self.err("anchors, aliases and tags are not supported")),
            _ => {
                let plain = self.plain(in_flow, false);
                resolve(&plain).ok_or_else(|| self.err(&format!("unsupported number {plain:?}")))
            }
        }
    }

    fn plain(&mut self, in_flow: bool, is_key: bool) -> String {
        let start = self.pos;
        while let Some(c) = self.peek() {
            if in_flow && matches!(c, ',' | ']' | '}') {
                break;
            }
            if is_key
                && c == ':'
                && self
                    .chars
                    .get(self.pos + 1)
                    .is_none_or(|n| n.is_whitespace() || matches!(n, ',' | '}'))
            {
                break;
            }
            self.pos += 1;
        }
        self.chars[start..self.pos]
            .iter()
            .collect::<String>()
            .trim()
            .to_string()
    }

    fn seq(&mut self) -> Result<Value, String> {
        self.pos += 1;
        let mut items = Vec::new();
        loop {
            self.skip_ws();
            match self.peek() {
                Some(']') => {
                    self.pos += 1;
                    return Ok(Value::Array(items));
                }
                None => return Err(self.err("unterminated flow sequence")),
                _ => {}
            }
            items.push(self.value(true)?);
            self.skip_ws();
            match self.peek() {
                Some(',') => self.pos += 1,
                Some(']') => {}
                _ => return Err(self.err("expected ',' or ']' in a flow sequence")),
            }
        }
    }

    fn map(&mut self) -> Result<Value, String> {
        self.pos += 1;
        let mut map = Map::new();
        loop {
            self.skip_ws();
            match self.peek() {
                Some('}') => {
                    self.pos += 1;
                    return Ok(Value::Object(map));
                }
                None => return Err(self.err("unterminated flow mapping")),
                _ => {}
            }
            let key = match self.peek() {
                Some('"') => self.double_quoted()?,
                Some('\'') => self.single_quoted()?,
                _ => self.plain(true, true),
            };
            self.skip_ws();
            let value = if self.peek() == Some(':') {
                self.pos += 1;
                self.value(true)?
            } else {
                Value::Null
            };
            map.insert(key, value);
            self.skip_ws();
            match self.peek() {
                Some(',') => self.pos += 1,
                Some('}') => {}
                _ => return Err(self.err("expected ',' or '}' in a flow mapping")),
            }
        }
    }

    fn single_quoted(&mut self) -> Result<String, String> {
        self.pos += 1;
        let mut out = String::new();
        loop {
            match self.peek() {
                None => return Err(self.err("unterminated single-quoted string")),
                Some('\'') if self.chars.get(self.pos + 1) == Some(&'\'') => {
                    out.push('\'');
                    self.pos += 2;
                }
                Some('\'') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(c) => {
                    out.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    fn double_quoted(&mut self) -> Result<String, String> {
        self.pos += 1;
        let mut out = String::new();
        loop {
            let Some(c) = self.peek() else {
                return Err(self.err("unterminated double-quoted string"));
            };
            self.pos += 1;
            match c {
                '"' => return Ok(out),
                '\\' => {
                    let Some(e) = self.peek() else {
                        return Err(self.err("unterminated escape"));
                    };
                    self.pos += 1;
                    match e {
                        '0' => out.push('\0'),
                        'a' => out.push('\u{7}'),
                        'b' => out.push('\u{8}'),
                        't' | '\t' => out.push('\t'),
                        'n' => out.push('\n'),
                        'v' => out.push('\u{b}'),
                        'f' => out.push('\u{c}'),
                        'r' => out.push('\r'),
                        'e' => out.push('\u{1b}'),
                        ' ' => out.push(' '),
                        '"' => out.push('"'),
                        '/' => out.push('/'),
                        '\\' => out.push('\\'),
                        'N' => out.push('\u{85}'),
                        '_' => out.push('\u{a0}'),
                        'L' => out.push('\u{2028}'),
                        'P' => out.push('\u{2029}'),
                        'x' => out.push(self.hex_escape(2)?),
                        'u' => out.push(self.hex_escape(4)?),
                        'U' => out.push(self.hex_escape(8)?),
                        other => return Err(self.err(&format!("invalid escape \\{other}"))),
                    }
                }
                c => out.push(c),
            }
        }
    }

    fn hex_escape(&mut self, len: usize) -> Result<char, String> {
        let digits: String = self.chars.iter().skip(self.pos).take(len).collect();
        self.pos += len;
        u32::from_str_radix(&digits, 16)
            .ok()
            .filter(|_| digits.len() == len)
            .and_then(char::from_u32)
            .ok_or_else(|| self.err("invalid hexadecimal escape"))
    }
}

/// Resolves a plain scalar by YAML 1.2's core schema. `None` for the infinities and NaN,
/// which HCL numbers cannot hold.
fn resolve(plain: &str) -> Option<Value> {
    Some(match plain {
        "" | "~" | "null" | "Null" | "NULL" => Value::Null,
        "true" | "True" | "TRUE" => Value::Bool(true),
        "false" | "False" | "FALSE" => Value::Bool(false),
        _ => {
            if let Some(n) = number(plain) {
                return n.map(Value::Number);
            }
            Value::String(plain.to_string())
        }
    })
}

/// `Some(Some(n))` for a number, `Some(None)` for one HCL cannot hold, `None` for text.
fn number(plain: &str) -> Option<Option<Number>> {
    let lower = plain.to_ascii_lowercase();
    let unsigned = lower.trim_start_matches(['+', '-']);
    if matches!(unsigned, ".inf" | ".nan") {
        return Some(None);
    }
    if let Some(hex) = plain.strip_prefix("0x") {
        return u64::from_str_radix(hex, 16)
            .ok()
            .map(|n| Some(Number::from(n)));
    }
    if let Some(oct) = plain.strip_prefix("0o") {
        return u64::from_str_radix(oct, 8)
            .ok()
            .map(|n| Some(Number::from(n)));
    }
    let digits = plain.strip_prefix(['+', '-']).unwrap_or(plain);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        let clean = plain.strip_prefix('+').unwrap_or(plain);
        return clean
            .parse::<i64>()
            .map(Number::from)
            .ok()
            .or_else(|| clean.parse::<f64>().ok().and_then(Number::from_f64))
            .map(Some);
    }
    let is_float = digits.bytes().any(|b| b.is_ascii_digit())
        && digits
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
        && digits.bytes().filter(|b| *b == b'.').count() <= 1;
    if is_float {
        return plain.parse::<f64>().ok().map(Number::from_f64);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{fails, lit, ok, s};
    use hcl::Value;

    #[test]
    fn yamlencode_writes_block_style() {
        assert_eq!(
            ok(r#"yamlencode({a = "b", c = "d"})"#),
            s("\"a\": \"b\"\n\"c\": \"d\"\n")
        );
        assert_eq!(
            ok(r#"yamlencode({foo = [1, 2, 3], bar = "baz"})"#),
            s("\"bar\": \"baz\"\n\"foo\":\n- 1\n- 2\n- 3\n")
        );
        assert_eq!(
            ok(r#"yamlencode({foo = [1, {a = "b", c = "d"}, 3], bar = "baz"})"#),
            s("\"bar\": \"baz\"\n\"foo\":\n- 1\n- \"a\": \"b\"\n  \"c\": \"d\"\n- 3\n")
        );
        assert_eq!(
            ok(r#"yamlencode({a = {b = {c = true}}, e = [], n = null, m = {}})"#),
            s("\"a\":\n  \"b\":\n    \"c\": true\n\"e\": []\n\"m\": {}\n\"n\": null\n")
        );
        assert_eq!(
            ok(r#"yamlencode([[1, 2], "x\ny"])"#),
            s("- - 1\n  - 2\n- \"x\\ny\"\n")
        );
        assert_eq!(ok(r#"yamlencode("hello")"#), s("\"hello\"\n"));
    }

    #[test]
    fn yamldecode_reads_blocks_and_scalars() {
        assert_eq!(
            ok(r#"yamldecode("hello: world")"#),
            lit(r#"{hello = "world"}"#)
        );
        assert_eq!(ok(r#"yamldecode("true")"#), Value::Bool(true));
        assert_eq!(ok(r#"yamldecode("")"#), Value::Null);
        let doc = r#"yamldecode(<<EOT
---
# a comment
name: web   # trailing comment
count: 3
ratio: 0.5
enabled: yes
empty:
nothing: ~
tags: [a, "b c", 1]
meta: {rack: r1, "zone": 'eu-1'}
ports:
- 80
- 443
checks:
  - name: alive
    interval: 10s
  - name: "ready: yes"
    path: /health#frag
url: http://example.com:8080/x
EOT
)"#;
        assert_eq!(
            ok(doc),
            lit(r#"{
                name = "web", count = 3, ratio = 0.5, enabled = "yes", empty = null, nothing = null,
                tags = ["a", "b c", 1], meta = {rack = "r1", zone = "eu-1"}, ports = [80, 443],
                checks = [{name = "alive", interval = "10s"}, {name = "ready: yes", path = "/health#frag"}],
                url = "http://example.com:8080/x"
            }"#)
        );
    }

    #[test]
    fn yamldecode_block_scalars_and_nesting() {
        let doc = r#"yamldecode(<<EOT
script: |
  #!/bin/sh
  echo hi

  exit 0
folded: >-
  one
  two

  three
keep: |+
  x

nested:
  inner:
    - - 1
      - 2
    -
      deep: true
quoted: "tab\tquote\" \u00e9"
single: 'it''s'
EOT
)"#;
        assert_eq!(
            ok(doc),
            lit(r##"{
                script = "#!/bin/sh\necho hi\n\nexit 0\n",
                folded = "one two\nthree",
                keep = "x\n\n",
                nested = {inner = [[1, 2], {deep = true}]},
                quoted = "tab\tquote\" é",
                single = "it's"
            }"##)
        );
    }

    #[test]
    fn yamldecode_round_trips_yamlencode() {
        assert_eq!(
            ok(r#"yamldecode(yamlencode({a = [1, {b = "c"}], d = {e = "f\ng"}, h = []}))"#),
            lit(r#"{a = [1, {b = "c"}], d = {e = "f\ng"}, h = []}"#)
        );
    }

    #[test]
    fn yamldecode_rejects_what_it_does_not_support() {
        fails(
            r#"yamldecode("a: &x 1")"#,
            "yamldecode: line 1: anchors, aliases and tags are not supported",
        );
        fails(
            r#"yamldecode("a: 1\n---\nb: 2")"#,
            "multiple documents are not supported",
        );
        fails(r#"yamldecode("a: [1, 2")"#, "unterminated value");
        fails(r#"yamldecode("a: 1\na: 2")"#, "duplicate key \"a\"");
        fails(
            r#"yamldecode("- a\nb: 1")"#,
            "yamldecode: line 2: unexpected content",
        );
        // A deeper line after a plain value continues it, as in YAML.
        assert_eq!(ok(r#"yamldecode("a: 1\n  - b")"#), lit(r#"{a = "1 - b"}"#));
        fails(r#"yamldecode("a: .inf")"#, "unsupported number");
    }
}
