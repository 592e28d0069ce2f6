//! The examples of `docs/schema.md`, compiled. Every ```` ```toml ````
//! block is a complete schema that must compile (with the shipped schemas
//! beside it, so it may build on them) and generate; every
//! ```` ```toml,fails ```` block must be refused with an error containing
//! the text of its `# error:` line. A failure names the block's line in
//! the document.

use std::path::PathBuf;

use kho_schema::Source;

mod common;

fn doc_path() -> PathBuf {
    common::repo_root().join("docs/schema.md")
}

/// One fenced block: the line of its opening fence, whether it must fail,
/// its text.
struct Block {
    line: usize,
    fails: bool,
    text: String,
}

/// The ```toml and ```toml,fails blocks of `md`.
fn toml_blocks(md: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut open: Option<Block> = None;
    for (i, line) in md.lines().enumerate() {
        match open.as_mut() {
            None => {
                let fence = line.trim_end();
                let fails = match fence {
                    "```toml" => false,
                    "```toml,fails" => true,
                    f if f.starts_with("```toml") => {
                        panic!("docs/schema.md:{}: unknown fence {f:?}", i + 1)
                    }
                    _ => continue,
                };
                open = Some(Block {
                    line: i + 1,
                    fails,
                    text: String::new(),
                });
            }
            Some(b) if line.trim_end() == "```" => {
                let _ = b;
                out.extend(open.take());
            }
            Some(b) => {
                b.text.push_str(line);
                b.text.push('\n');
            }
        }
    }
    if let Some(b) = open {
        panic!("docs/schema.md:{}: the block is not closed", b.line);
    }
    out
}

/// The shipped schemas' sources, and the example's after them.
fn with_shipped(block: &Block) -> Vec<Source> {
    let mut sources =
        kho_schema::read_dir(&common::repo_schemas()).unwrap_or_else(|e| panic!("{e}"));
    sources.push(Source::new(
        format!("docs/schema.md (block at line {})", block.line),
        block.text.clone(),
    ));
    sources
}

#[test]
fn every_example_of_the_schema_reference_compiles_or_fails_as_marked() {
    let md = std::fs::read_to_string(doc_path())
        .unwrap_or_else(|e| panic!("{}: {e}", doc_path().display()));
    let blocks = toml_blocks(&md);
    assert!(
        blocks.iter().filter(|b| !b.fails).count() >= 10 && blocks.iter().any(|b| b.fails),
        "docs/schema.md has {} toml blocks: the reference gives an example per construct",
        blocks.len()
    );
    let mut problems = Vec::new();
    for b in &blocks {
        let result = kho_schema::compile(&with_shipped(b));
        match (b.fails, result) {
            (false, Ok(abis)) => {
                // And every output can be generated from it.
                let files = kho_schema::emit::all(&abis);
                if files.is_empty() {
                    problems.push(format!("docs/schema.md:{}: nothing generated", b.line));
                }
            }
            (false, Err(e)) => problems.push(format!(
                "docs/schema.md:{}: the example does not compile:\n{e}",
                b.line
            )),
            (true, Ok(_)) => problems.push(format!(
                "docs/schema.md:{}: the example is marked `fails` but compiles",
                b.line
            )),
            (true, Err(e)) => {
                let want = b
                    .text
                    .lines()
                    .find_map(|l| l.strip_prefix("# error:"))
                    .map(str::trim);
                match want {
                    None => problems.push(format!(
                        "docs/schema.md:{}: a `fails` example needs a `# error: <text>` line",
                        b.line
                    )),
                    Some(w) if !e.to_string().contains(w) => problems.push(format!(
                        "docs/schema.md:{}: expected an error containing {w:?}, got:\n{e}",
                        b.line
                    )),
                    Some(_) => {}
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

#[test]
fn the_block_reader_finds_fences_and_their_lines() {
    let md = "text\n```toml\na = 1\n```\n\n```toml,fails\n# error: x\n```\n```c\nint x;\n```\n";
    let blocks = toml_blocks(md);
    assert_eq!(blocks.len(), 2);
    assert_eq!(
        (blocks[0].line, blocks[0].fails, blocks[0].text.as_str()),
        (2, false, "a = 1\n")
    );
    assert_eq!((blocks[1].line, blocks[1].fails), (6, true));
}
