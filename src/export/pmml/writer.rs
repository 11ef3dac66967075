//! A small XML writer into a byte buffer: the PMML export writes millions of
//! elements, and appending bytes straight into a `Vec` (names and labels
//! escaped once, numbers never) is several times faster than building an
//! event per element. Parts of a document (a chunk of tree segments) are
//! written into their own [`Xml`] forked from the document's, so that they
//! can be rendered in parallel and concatenated in order.
//!
//! With indentation the layout is quick-xml's (`Writer::new_with_indent(_,
//! b' ', 1)`), which the export used before: every tag on its own line,
//! indented one space per level, except a tag that follows text.

/// Indentation state: the current depth, and whether the next tag starts a
/// new line (it does not right after text, nor at the very start).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Indent {
    depth: usize,
    line_break: bool,
}

/// An XML writer appending to [`Xml::buf`].
#[derive(Debug)]
pub(crate) struct Xml {
    /// The bytes written so far (the owner drains them).
    pub(crate) buf: Vec<u8>,
    indent: Option<Indent>,
}

/// Appends `v` to `out` escaped for an attribute value or text (the five
/// predefined entities, as quick-xml escapes them).
pub(crate) fn escape_into(out: &mut Vec<u8>, v: &str) {
    let bytes = v.as_bytes();
    let mut from = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let entity: &[u8] = match b {
            b'<' => b"&lt;",
            b'>' => b"&gt;",
            b'&' => b"&amp;",
            b'"' => b"&quot;",
            b'\'' => b"&apos;",
            _ => continue,
        };
        out.extend_from_slice(&bytes[from..i]);
        out.extend_from_slice(entity);
        from = i + 1;
    }
    out.extend_from_slice(&bytes[from..]);
}

/// `v` escaped, for values written many times.
pub(crate) fn escaped(v: &str) -> Box<[u8]> {
    let mut out = Vec::with_capacity(v.len());
    escape_into(&mut out, v);
    out.into_boxed_slice()
}

impl Xml {
    /// An empty document, indented or not.
    pub(crate) fn new(indent: bool) -> Xml {
        Xml {
            buf: Vec::new(),
            indent: indent.then_some(Indent {
                depth: 0,
                line_break: false,
            }),
        }
    }

    /// An empty buffer that continues this writer's layout: what is written
    /// into it, appended to this writer's output, reads as if written here.
    /// The part must leave the depth as it found it (whole elements).
    pub(crate) fn fork(&self, buf: Vec<u8>) -> Xml {
        Xml {
            buf,
            indent: self.indent,
        }
    }

    /// Whether `part` (forked from this writer) ended in the state it
    /// started in, so that parts can be appended in any grouping.
    pub(crate) fn same_layout(&self, part: &Xml) -> bool {
        self.indent == part.indent
    }

    /// `<?xml version="1.0" encoding="UTF-8"?>`.
    pub(crate) fn declaration(&mut self) {
        self.line();
        self.buf
            .extend_from_slice(br#"<?xml version="1.0" encoding="UTF-8"?>"#);
        self.after_tag();
    }

    fn line(&mut self) {
        if let Some(i) = self.indent {
            if i.line_break {
                self.buf.push(b'\n');
                self.buf.resize(self.buf.len() + i.depth, b' ');
            }
        }
    }

    fn after_tag(&mut self) {
        if let Some(i) = &mut self.indent {
            i.line_break = true;
        }
    }

    /// `<name`: a tag whose attributes follow, closed by
    /// [`Xml::close_start`] or [`Xml::close_empty`].
    pub(crate) fn open(&mut self, name: &str) {
        self.line();
        self.buf.push(b'<');
        self.buf.extend_from_slice(name.as_bytes());
    }

    /// ` key="value"`, the value escaped.
    pub(crate) fn attr(&mut self, key: &str, value: &str) {
        self.attr_prefix(key);
        escape_into(&mut self.buf, value);
        self.buf.push(b'"');
    }

    /// ` key="value"`, the value written as is: already escaped, or a
    /// number.
    pub(crate) fn attr_raw(&mut self, key: &str, value: &[u8]) {
        self.attr_prefix(key);
        self.buf.extend_from_slice(value);
        self.buf.push(b'"');
    }

    fn attr_prefix(&mut self, key: &str) {
        self.buf.push(b' ');
        self.buf.extend_from_slice(key.as_bytes());
        self.buf.extend_from_slice(b"=\"");
    }

    /// `>`: the tag opened by [`Xml::open`] starts an element.
    pub(crate) fn close_start(&mut self) {
        self.buf.push(b'>');
        if let Some(i) = &mut self.indent {
            i.depth += 1;
        }
        self.after_tag();
    }

    /// `/>`: the tag opened by [`Xml::open`] is an empty element.
    pub(crate) fn close_empty(&mut self) {
        self.buf.extend_from_slice(b"/>");
        self.after_tag();
    }

    /// `<name attrs..>`.
    pub(crate) fn start(&mut self, name: &str, attrs: &[(&str, &str)]) {
        self.open(name);
        for (k, v) in attrs {
            self.attr(k, v);
        }
        self.close_start();
    }

    /// `<name attrs../>`.
    pub(crate) fn empty(&mut self, name: &str, attrs: &[(&str, &str)]) {
        self.open(name);
        for (k, v) in attrs {
            self.attr(k, v);
        }
        self.close_empty();
    }

    /// `</name>`.
    pub(crate) fn end(&mut self, name: &str) {
        if let Some(i) = &mut self.indent {
            i.depth = i.depth.saturating_sub(1);
        }
        self.line();
        self.buf.extend_from_slice(b"</");
        self.buf.extend_from_slice(name.as_bytes());
        self.buf.push(b'>');
        self.after_tag();
    }

    /// `<name attrs..>text</name>`, the text escaped (no line break before
    /// the end tag, as after any text).
    pub(crate) fn text_element(&mut self, name: &str, attrs: &[(&str, &str)], text: &str) {
        self.start(name, attrs);
        escape_into(&mut self.buf, text);
        if let Some(i) = &mut self.indent {
            i.line_break = false;
        }
        self.end(name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quick_xml(indent: bool, f: impl Fn(&mut quick_xml::Writer<Vec<u8>>)) -> String {
        let mut w = if indent {
            quick_xml::Writer::new_with_indent(Vec::new(), b' ', 1)
        } else {
            quick_xml::Writer::new(Vec::new())
        };
        f(&mut w);
        String::from_utf8(w.into_inner()).unwrap()
    }

    /// The layout is quick-xml's, byte for byte, with and without indentation.
    #[test]
    fn writes_what_quick_xml_writes() {
        use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
        for indent in [false, true] {
            let mut x = Xml::new(indent);
            x.declaration();
            x.start("A", &[("k", "a<b>&\"c'")]);
            x.empty("B", &[]);
            x.text_element("C", &[("t", "x")], "1 < 2");
            x.start("D", &[]);
            x.empty("E", &[("v", "1.5")]);
            x.end("D");
            x.end("A");
            let ours = String::from_utf8(x.buf).unwrap();
            let theirs = quick_xml(indent, |w| {
                let el = |name, attrs: &[(&str, &str)]| {
                    let mut e = BytesStart::new(name);
                    for &a in attrs {
                        e.push_attribute(a);
                    }
                    e
                };
                w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))
                    .unwrap();
                w.write_event(Event::Start(el("A", &[("k", "a<b>&\"c'")])))
                    .unwrap();
                w.write_event(Event::Empty(el("B", &[]))).unwrap();
                w.write_event(Event::Start(el("C", &[("t", "x")]))).unwrap();
                w.write_event(Event::Text(BytesText::new("1 < 2"))).unwrap();
                w.write_event(Event::End(BytesEnd::new("C"))).unwrap();
                w.write_event(Event::Start(el("D", &[]))).unwrap();
                w.write_event(Event::Empty(el("E", &[("v", "1.5")])))
                    .unwrap();
                w.write_event(Event::End(BytesEnd::new("D"))).unwrap();
                w.write_event(Event::End(BytesEnd::new("A"))).unwrap();
            });
            assert_eq!(ours, theirs, "indent {indent}");
        }
    }

    #[test]
    fn a_fork_continues_the_layout() {
        let mut whole = Xml::new(true);
        whole.start("A", &[]);
        whole.empty("B", &[]);
        whole.empty("C", &[]);
        whole.end("A");
        let mut doc = Xml::new(true);
        doc.start("A", &[]);
        let mut part = doc.fork(Vec::new());
        part.empty("B", &[]);
        part.empty("C", &[]);
        assert!(doc.same_layout(&part));
        doc.buf.extend_from_slice(&part.buf);
        doc.end("A");
        assert_eq!(doc.buf, whole.buf);
    }
}
