//! The XML-RPC codec: reads a `<methodCall>` into a [`Call`] and writes a
//! `<methodResponse>` or a fault.
//!
//! Hand-written rather than on an XML crate: the grammar is eight element
//! names deep, the writer is a dozen lines, and the reader only needs tags,
//! text, CDATA and the five entities plus character references. Doctype
//! declarations are refused, so no entity can expand into anything.

use std::fmt::Write as _;

/// Elements nested deeper than this are refused: reading values and
/// dropping the tree recurse once per level, and a 4 MiB body of
/// `<value><array><data>` would otherwise overflow the thread's stack and
/// abort the bridge. supervisorctl's calls are at most a dozen deep.
const MAX_DEPTH: usize = 200;

/// An XML-RPC value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Int(i64),
    Bool(bool),
    Str(String),
    Double(f64),
    Array(Vec<Value>),
    Struct(Vec<(String, Value)>),
    Nil,
}

impl Value {
    pub fn str(text: impl Into<String>) -> Value {
        Value::Str(text.into())
    }

    /// A struct from `(name, value)` pairs, in order.
    pub fn fields<const N: usize>(fields: [(&str, Value); N]) -> Value {
        Value::Struct(
            fields
                .into_iter()
                .map(|(name, value)| (name.to_owned(), value))
                .collect(),
        )
    }

    /// The member `name` of a struct.
    pub fn member(&self, name: &str) -> Option<&Value> {
        match self {
            Value::Struct(fields) => fields.iter().find(|(n, _)| n == name).map(|(_, v)| v),
            _ => None,
        }
    }
}

/// A decoded `<methodCall>`.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub method: String,
    pub params: Vec<Value>,
}

/// A parsed element: its name and its children, text runs included.
#[derive(Debug)]
struct Element {
    name: String,
    children: Vec<Node>,
}

#[derive(Debug)]
enum Node {
    Element(Element),
    Text(String),
}

impl Element {
    fn elements(&self) -> impl Iterator<Item = &Element> {
        self.children.iter().filter_map(|c| match c {
            Node::Element(e) => Some(e),
            Node::Text(_) => None,
        })
    }

    fn child(&self, name: &str) -> Option<&Element> {
        self.elements().find(|e| e.name == name)
    }

    fn text(&self) -> String {
        self.children
            .iter()
            .filter_map(|c| match c {
                Node::Text(t) => Some(t.as_str()),
                Node::Element(_) => None,
            })
            .collect()
    }
}

/// Reads a `<methodCall>` document.
pub fn parse_call(text: &str) -> Result<Call, String> {
    let root = parse_document(text)?;
    if root.name != "methodCall" {
        return Err(format!("expected <methodCall>, found <{}>", root.name));
    }
    let method = root
        .child("methodName")
        .ok_or("<methodCall> has no <methodName>")?
        .text()
        .trim()
        .to_owned();
    let mut params = Vec::new();
    if let Some(list) = root.child("params") {
        for param in list.elements() {
            let value = param.child("value").ok_or("<param> has no <value>")?;
            params.push(read_value(value)?);
        }
    }
    Ok(Call { method, params })
}

fn read_value(value: &Element) -> Result<Value, String> {
    let Some(typed) = value.elements().next() else {
        // A <value> without a type element is a string.
        return Ok(Value::Str(value.text()));
    };
    let text = typed.text();
    let number = |t: &str| {
        t.trim()
            .parse::<i64>()
            .map_err(|_| format!("bad <{}>: {t:?}", typed.name))
    };
    Ok(match typed.name.as_str() {
        "int" | "i4" | "i8" => Value::Int(number(&text)?),
        "boolean" => Value::Bool(number(&text)? != 0),
        "string" | "dateTime.iso8601" | "base64" => Value::Str(text),
        "double" => Value::Double(
            text.trim()
                .parse()
                .map_err(|_| format!("bad <double>: {text:?}"))?,
        ),
        "nil" => Value::Nil,
        "array" => {
            let data = typed.child("data").ok_or("<array> has no <data>")?;
            Value::Array(data.elements().map(read_value).collect::<Result<_, _>>()?)
        }
        "struct" => {
            let mut fields = Vec::new();
            for member in typed.elements() {
                let name = member.child("name").ok_or("<member> has no <name>")?;
                let value = member.child("value").ok_or("<member> has no <value>")?;
                fields.push((name.text(), read_value(value)?));
            }
            Value::Struct(fields)
        }
        other => return Err(format!("unknown XML-RPC type <{other}>")),
    })
}

/// Parses a whole document into its root element.
fn parse_document(text: &str) -> Result<Element, String> {
    let mut stack: Vec<Element> = vec![Element {
        name: String::new(),
        children: Vec::new(),
    }];
    let mut rest = text;
    while !rest.is_empty() {
        let Some(lt) = rest.find('<') else {
            push_text(&mut stack, rest)?;
            break;
        };
        push_text(&mut stack, &rest[..lt])?;
        rest = &rest[lt..];
        if let Some(after) = rest.strip_prefix("<?") {
            rest = skip_past(after, "?>")?;
        } else if let Some(after) = rest.strip_prefix("<!--") {
            rest = skip_past(after, "-->")?;
        } else if let Some(after) = rest.strip_prefix("<![CDATA[") {
            let end = after.find("]]>").ok_or("unterminated CDATA section")?;
            if let Some(top) = stack.last_mut() {
                top.children.push(Node::Text(after[..end].to_owned()));
            }
            rest = &after[end + 3..];
        } else if rest.starts_with("<!") {
            return Err("document type declarations are not accepted".into());
        } else {
            let end = rest.find('>').ok_or("unterminated tag")?;
            let tag = &rest[1..end];
            rest = &rest[end + 1..];
            if let Some(name) = tag.strip_prefix('/') {
                let element = stack.pop().filter(|_| !stack.is_empty());
                match element {
                    Some(e) if e.name == name.trim() => {
                        if let Some(parent) = stack.last_mut() {
                            parent.children.push(Node::Element(e));
                        }
                    }
                    _ => return Err(format!("unexpected </{}>", name.trim())),
                }
            } else {
                let empty = tag.ends_with('/');
                let tag = tag.trim_end_matches('/');
                let name = tag.split_whitespace().next().unwrap_or("").to_owned();
                if name.is_empty() {
                    return Err("empty tag name".into());
                }
                let element = Element {
                    name,
                    children: Vec::new(),
                };
                if empty {
                    if let Some(parent) = stack.last_mut() {
                        parent.children.push(Node::Element(element));
                    }
                } else if stack.len() > MAX_DEPTH {
                    return Err(format!("elements nested deeper than {MAX_DEPTH}"));
                } else {
                    stack.push(element);
                }
            }
        }
    }
    if stack.len() != 1 {
        return Err("the document ends inside an element".into());
    }
    let document = stack.pop().expect("the document node");
    let mut roots = document.children.into_iter().filter_map(|c| match c {
        Node::Element(e) => Some(e),
        Node::Text(_) => None,
    });
    roots.next().ok_or_else(|| "empty document".to_owned())
}

fn skip_past<'a>(text: &'a str, end: &str) -> Result<&'a str, String> {
    text.find(end)
        .map(|at| &text[at + end.len()..])
        .ok_or_else(|| format!("no closing {end:?}"))
}

fn push_text(stack: &mut [Element], raw: &str) -> Result<(), String> {
    if raw.is_empty() {
        return Ok(());
    }
    let text = unescape(raw)?;
    match stack.last_mut() {
        Some(top) if !top.name.is_empty() => top.children.push(Node::Text(text)),
        // Outside the root only white space may stand.
        _ if text.trim().is_empty() => {}
        _ => return Err("text outside the root element".into()),
    }
    Ok(())
}

fn unescape(raw: &str) -> Result<String, String> {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let semi = rest[amp..].find(';').ok_or("'&' without ';'")? + amp;
        let entity = &rest[amp + 1..semi];
        let c = match entity {
            "lt" => '<',
            "gt" => '>',
            "amp" => '&',
            "quot" => '"',
            "apos" => '\'',
            _ => {
                let code = if let Some(hex) = entity.strip_prefix("#x") {
                    u32::from_str_radix(hex, 16).ok()
                } else if let Some(dec) = entity.strip_prefix('#') {
                    dec.parse().ok()
                } else {
                    None
                };
                code.and_then(char::from_u32)
                    .ok_or_else(|| format!("unknown entity &{entity};"))?
            }
        };
        out.push(c);
        rest = &rest[semi + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn escape(text: &str, out: &mut String) {
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            // XML 1.0 cannot carry most control characters, even escaped:
            // a log with such bytes would make the whole reply unreadable.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
}

fn write_value(value: &Value, out: &mut String) {
    out.push_str("<value>");
    match value {
        Value::Int(n) => {
            let _ = write!(out, "<int>{n}</int>");
        }
        Value::Bool(b) => {
            let _ = write!(out, "<boolean>{}</boolean>", u8::from(*b));
        }
        Value::Str(s) => {
            out.push_str("<string>");
            escape(s, out);
            out.push_str("</string>");
        }
        Value::Double(d) => {
            let _ = write!(out, "<double>{d:?}</double>");
        }
        Value::Nil => out.push_str("<nil/>"),
        Value::Array(items) => {
            out.push_str("<array><data>");
            for item in items {
                write_value(item, out);
            }
            out.push_str("</data></array>");
        }
        Value::Struct(fields) => {
            out.push_str("<struct>");
            for (name, value) in fields {
                out.push_str("<member><name>");
                escape(name, out);
                out.push_str("</name>");
                write_value(value, out);
                out.push_str("</member>");
            }
            out.push_str("</struct>");
        }
    }
    out.push_str("</value>");
}

/// A `<methodResponse>` carrying `value`.
pub fn response(value: &Value) -> String {
    let mut out = String::from("<?xml version=\"1.0\"?>\n<methodResponse><params><param>");
    write_value(value, &mut out);
    out.push_str("</param></params></methodResponse>\n");
    out
}

/// A `<methodResponse>` carrying a fault.
pub fn fault(code: i64, message: &str) -> String {
    let mut out = String::from("<?xml version=\"1.0\"?>\n<methodResponse><fault>");
    write_value(
        &Value::fields([
            ("faultCode", Value::Int(code)),
            ("faultString", Value::str(message)),
        ]),
        &mut out,
    );
    out.push_str("</fault></methodResponse>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_call_as_python_writes_it() {
        let text = "<?xml version='1.0'?>\n<methodCall>\n<methodName>supervisor.startProcess</methodName>\n<params>\n<param>\n<value><string>web:0 &amp; &lt;x&gt; &#233;</string></value>\n</param>\n<param>\n<value><boolean>0</boolean></value>\n</param>\n<param><value>bare</value></param>\n<param><value><array><data><value><int>-3</int></value><value><nil/></value></data></array></value></param>\n<param><value><struct><member><name>a</name><value><double>1.5</double></value></member></struct></value></param>\n</params>\n</methodCall>\n";
        let call = parse_call(text).unwrap();
        assert_eq!(call.method, "supervisor.startProcess");
        assert_eq!(
            call.params,
            [
                Value::str("web:0 & <x> é"),
                Value::Bool(false),
                Value::str("bare"),
                Value::Array(vec![Value::Int(-3), Value::Nil]),
                Value::fields([("a", Value::Double(1.5))]),
            ]
        );
    }

    #[test]
    fn a_call_without_params_has_none() {
        let call =
            parse_call("<methodCall><methodName>system.listMethods</methodName></methodCall>")
                .unwrap();
        assert!(call.params.is_empty());
    }

    #[test]
    fn malformed_documents_are_refused_with_a_reason() {
        for (text, reason) in [
            ("<methodCall><methodName>x</methodCall>", "unexpected </methodCall>"),
            ("<methodCall><methodName>x</methodName>", "ends inside"),
            ("<!DOCTYPE x [<!ENTITY a \"b\">]><methodCall/>", "document type"),
            ("<methodResponse/>", "expected <methodCall>"),
            ("<methodCall><methodName>&bogus;</methodName></methodCall>", "&bogus;"),
            ("<methodCall><methodName>x</methodName><params><param><value><int>z</int></value></param></params></methodCall>", "bad <int>"),
        ] {
            let error = parse_call(text).unwrap_err();
            assert!(error.contains(reason), "{text}: {error}");
        }
    }

    #[test]
    fn deep_nesting_is_refused_not_a_stack_overflow() {
        let levels = 200_000;
        let text = format!(
            "<methodCall><methodName>x</methodName><params><param>{}{}</param></params></methodCall>",
            "<value><array><data>".repeat(levels),
            "</data></array></value>".repeat(levels)
        );
        let error = parse_call(&text).unwrap_err();
        assert!(error.contains("nested deeper than"), "{error}");
    }

    #[test]
    fn writes_values_and_faults_escaped() {
        let text = response(&Value::Array(vec![
            Value::str("a<b&c\u{1}"),
            Value::Bool(true),
            Value::Int(20),
        ]));
        assert!(text.contains("<value><array><data><value><string>a&lt;b&amp;c\u{FFFD}</string></value><value><boolean>1</boolean></value><value><int>20</int></value></data></array></value>"), "{text}");
        let text = fault(10, "BAD_NAME: x");
        assert!(text.contains("<fault><value><struct><member><name>faultCode</name><value><int>10</int></value></member><member><name>faultString</name><value><string>BAD_NAME: x</string></value></member></struct></value></fault>"), "{text}");
    }
}
