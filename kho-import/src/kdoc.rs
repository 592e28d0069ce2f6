//! A small kernel-doc reader: the `/** ... */` comment convention of the
//! kernel's scripts/kernel-doc (not C syntax). Each block is keyed by what
//! its first line names: `struct x -`, `union x -`, `enum x -`, `NAME -` or
//! `DOC:`.

/// One kernel-doc block.
#[derive(Debug, Default, Clone)]
pub struct Block {
    /// `struct`/`union` name, macro name, or empty for `DOC:`.
    pub name: String,
    /// A `DOC:` section.
    pub is_doc: bool,
    /// The text after `name -` (or after `DOC:`).
    pub summary: String,
    /// `@member: text`, continuation lines joined with spaces.
    pub members: Vec<(String, String)>,
    /// The description paragraphs, `\n\n` between them.
    pub body: String,
}

impl Block {
    /// Summary, then the body as paragraphs.
    pub fn text(&self) -> String {
        match (self.summary.is_empty(), self.body.is_empty()) {
            (_, true) => self.summary.clone(),
            (true, false) => self.body.clone(),
            (false, false) => format!("{}\n\n{}", self.summary, self.body),
        }
    }

    /// The description of member `name`.
    pub fn member(&self, name: &str) -> Option<&str> {
        self.members
            .iter()
            .find(|(m, _)| m == name)
            .map(|(_, t)| t.as_str())
    }
}

/// Every kernel-doc block of `text`, in order.
pub fn blocks(text: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut lines = text.lines().enumerate();
    while let Some((_, line)) = lines.next() {
        let t = line.trim_start();
        if !t.starts_with("/**") || t.starts_with("/**/") {
            continue;
        }
        let mut content: Vec<String> = Vec::new();
        let rest = t.trim_start_matches("/**");
        let mut end = None;
        if let Some(pos) = rest.find("*/") {
            content.push(rest[..pos].trim().to_string());
        } else {
            if !rest.trim().is_empty() {
                content.push(rest.trim().to_string());
            }
            for (i, l) in lines.by_ref() {
                let (body, done) = match l.find("*/") {
                    Some(p) => (&l[..p], true),
                    None => (l, false),
                };
                let b = body.trim_start();
                let b = b.strip_prefix('*').unwrap_or(b);
                let b = b.strip_prefix(' ').unwrap_or(b);
                content.push(b.trim_end().to_string());
                if done {
                    end = Some(i as u32 + 1);
                    break;
                }
            }
        }
        let end_line = end.unwrap_or(0);
        if let Some(b) = parse_block(&content, end_line) {
            out.push(b);
        }
    }
    out
}

fn parse_block(content: &[String], end_line: u32) -> Option<Block> {
    let mut it = content.iter().skip_while(|l| l.trim().is_empty());
    let first = it.next()?.trim();
    let _ = end_line;
    let mut b = Block::default();
    if let Some(title) = first.strip_prefix("DOC:") {
        b.is_doc = true;
        b.summary = title.trim().to_string();
    } else {
        let (head, summary) = match first.split_once(" - ") {
            Some((h, s)) => (h.trim(), s.trim()),
            None => (first.trim_end_matches('-').trim(), ""),
        };
        // An anonymous enum's block (`enum - ..`) is named "".
        let head = head
            .strip_prefix("struct ")
            .or_else(|| head.strip_prefix("union "))
            .or_else(|| head.strip_prefix("enum "))
            .unwrap_or(if head == "enum" { "" } else { head });
        b.name = head.trim().trim_end_matches("()").to_string();
        b.summary = summary.to_string();
    }
    let mut paras: Vec<String> = Vec::new();
    let mut cur = String::new();
    let mut in_member = false;
    // The summary goes on until a blank line or the first `@member:`.
    let mut in_summary = true;
    // Whether the paragraph so far has a line kept as written.
    let mut cur_pre = false;
    for raw in it {
        let l = raw.trim();
        if in_summary {
            if l.is_empty() {
                in_summary = false;
                continue;
            }
            if !l.starts_with('@') {
                if !b.summary.is_empty() {
                    b.summary.push(' ');
                }
                b.summary.push_str(l);
                continue;
            }
            in_summary = false;
        }
        if let Some(m) = l.strip_prefix('@') {
            if let Some((name, text)) = m.split_once(':') {
                b.members
                    .push((name.trim().to_string(), text.trim().to_string()));
                in_member = true;
                continue;
            }
        }
        if l.is_empty() {
            in_member = false;
            cur_pre = false;
            if !cur.is_empty() {
                paras.push(std::mem::take(&mut cur));
            }
            continue;
        }
        if in_member {
            if let Some((_, t)) = b.members.last_mut() {
                t.push(' ');
                t.push_str(l);
            }
            continue;
        }
        // Indented lines (the body of a `::` literal block, a nested
        // description) and list items keep their line and indentation, as
        // kernel-doc renders them; running text is joined.
        let pre = raw.starts_with([' ', '\t']) || l.starts_with("- ") || l.starts_with("* ");
        if !cur.is_empty() {
            cur.push(if pre || cur_pre { '\n' } else { ' ' });
        }
        cur_pre |= pre;
        cur.push_str(if pre { raw.trim_end() } else { l });
    }
    if !cur.is_empty() {
        paras.push(cur);
    }
    b.body = paras.join("\n\n");
    Some(b)
}
