//! The examples of `docs/schema.md`, compiled. Every ```` ```toml ````
//! block is a complete schema that must compile (with the shipped schemas
//! beside it, so it may build on them) and whose generated C header gcc
//! must compile at every page size; a ```` ```c ```` block right after it
//! shows part of that header, and each of its lines must be there. Every
//! ```` ```toml,fails ```` block must be refused with an error containing
//! the text of its `# error:` line. A failure names the block's line in
//! the document.
//!
//! Needs `gcc` on `PATH`, as tests/c_headers.rs does.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::Command;

use kho_schema::{Abi, Source};

mod common;

fn doc_path() -> PathBuf {
    common::repo_root().join("docs/schema.md")
}

fn stubs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/kernel-stubs/include")
}

/// What a fenced block is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lang {
    /// ```toml: a schema that compiles.
    Toml,
    /// ```toml,fails: a schema that is refused.
    Fails,
    /// ```c right after a ```toml block: lines of its C header.
    C,
}

/// One fenced block: the line of its opening fence, its kind, its text,
/// and for a C block the index of the toml block it belongs to.
#[derive(Debug)]
struct Block {
    line: usize,
    lang: Lang,
    text: String,
    of: Option<usize>,
}

/// The toml blocks of `md`, and the C blocks that follow one.
fn blocks(md: &str) -> Vec<Block> {
    let mut out: Vec<Block> = Vec::new();
    let mut open: Option<Block> = None;
    // The last block closed, if only blank lines came after it.
    let mut last_closed: Option<usize> = None;
    for (i, line) in md.lines().enumerate() {
        let fence = line.trim_end();
        match open.as_mut() {
            None => {
                let lang = match fence {
                    "```toml" => Lang::Toml,
                    "```toml,fails" => Lang::Fails,
                    "```c" => Lang::C,
                    f if f.starts_with("```toml") => {
                        panic!("docs/schema.md:{}: unknown fence {f:?}", i + 1)
                    }
                    f if f.starts_with("```") => {
                        last_closed = None;
                        // Some other language: skip to its end.
                        open = Some(Block {
                            line: i + 1,
                            lang: Lang::C,
                            text: String::new(),
                            of: Some(usize::MAX),
                        });
                        continue;
                    }
                    "" => continue,
                    _ => {
                        last_closed = None;
                        continue;
                    }
                };
                let of = match lang {
                    Lang::C => Some(
                        last_closed
                            .filter(|&j| out.get(j).is_some_and(|b| b.lang == Lang::Toml))
                            .unwrap_or_else(|| {
                                panic!(
                                    "docs/schema.md:{}: a ```c block shows the header of the \
                                     ```toml block right before it, and there is none",
                                    i + 1
                                )
                            }),
                    ),
                    _ => None,
                };
                open = Some(Block {
                    line: i + 1,
                    lang,
                    text: String::new(),
                    of,
                });
            }
            Some(_) if fence == "```" => {
                let b = open.take();
                match b {
                    Some(b) if b.of == Some(usize::MAX) => last_closed = None,
                    Some(b) => {
                        out.push(b);
                        last_closed = Some(out.len() - 1);
                    }
                    None => {}
                }
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

/// Writes every generated C header under `dir/include` and compiles the
/// last ABI's (the example's) with gcc at every page size.
fn gcc_compiles(dir: &Path, abis: &[Abi]) -> Result<String, String> {
    let include = dir.join("include");
    let mut header = None;
    let example = abis.last().map(|a| a.c.header.clone()).unwrap_or_default();
    for g in kho_schema::emit::all(abis) {
        if let Some(rel) = g.path.strip_prefix("c/") {
            let path = include.join(rel);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
            }
            std::fs::write(&path, &g.text).map_err(|e| e.to_string())?;
            if rel == example {
                header = Some(g.text.clone());
            }
        }
    }
    let header = header.ok_or_else(|| format!("no C header {example} generated"))?;
    let src = dir.join("example.c");
    std::fs::write(&src, format!("#include <{example}>\n")).map_err(|e| e.to_string())?;
    for shift in [12, 14, 16] {
        let out = Command::new("gcc")
            .args(["-std=gnu11", "-Wall", "-Wextra", "-Werror", "-c"])
            .arg(format!("-DPAGE_SHIFT={shift}"))
            .arg(format!("-I{}", include.display()))
            .arg(format!("-I{}", stubs().display()))
            .arg(&src)
            .arg("-o")
            .arg(dir.join("example.o"))
            .output();
        let out = match out {
            Ok(o) => o,
            Err(e) if e.kind() == ErrorKind::NotFound => panic!(
                "gcc is not on PATH: tests/schema_doc.rs compiles the examples' C headers \
                 (Debian/Ubuntu: apt-get install gcc)"
            ),
            Err(e) => panic!("cannot run gcc: {e}"),
        };
        if !out.status.success() {
            return Err(format!(
                "gcc -DPAGE_SHIFT={shift} does not compile {example}:\n{}\n{header}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    Ok(header)
}

#[test]
fn every_example_of_the_schema_reference_compiles_or_fails_as_marked() {
    let md = std::fs::read_to_string(doc_path())
        .unwrap_or_else(|e| panic!("{}: {e}", doc_path().display()));
    let blocks = blocks(&md);
    let count = |l: Lang| blocks.iter().filter(|b| b.lang == l).count();
    assert!(
        count(Lang::Toml) >= 10 && count(Lang::Fails) >= 5 && count(Lang::C) >= 5,
        "docs/schema.md has {} toml, {} toml,fails and {} c blocks: the reference gives an \
         example per construct",
        count(Lang::Toml),
        count(Lang::Fails),
        count(Lang::C)
    );
    let mut problems = Vec::new();
    let mut headers: Vec<Option<String>> = Vec::new();
    for (i, b) in blocks.iter().enumerate() {
        let mut header = None;
        match b.lang {
            Lang::Toml => match kho_schema::compile(&with_shipped(b)) {
                Ok(abis) => {
                    let dir = common::scratch("schema_doc", &format!("line{}", b.line));
                    match gcc_compiles(&dir, &abis) {
                        Ok(h) => header = Some(h),
                        Err(e) => problems.push(format!("docs/schema.md:{}: {e}", b.line)),
                    }
                }
                Err(e) => problems.push(format!(
                    "docs/schema.md:{}: the example does not compile:\n{e}",
                    b.line
                )),
            },
            Lang::Fails => match kho_schema::compile(&with_shipped(b)) {
                Ok(_) => problems.push(format!(
                    "docs/schema.md:{}: the example is marked `fails` but compiles",
                    b.line
                )),
                Err(e) => {
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
            },
            Lang::C => {
                let Some(Some(h)) = b.of.and_then(|j| headers.get(j)) else {
                    // Its schema failed: already reported.
                    headers.push(None);
                    continue;
                };
                let have: Vec<&str> = h.lines().map(str::trim_end).collect();
                for l in b.text.lines().filter(|l| !l.trim().is_empty()) {
                    if !have.contains(&l.trim_end()) {
                        problems.push(format!(
                            "docs/schema.md:{}: the generated header has no line {l:?}:\n{h}",
                            b.line
                        ));
                    }
                }
            }
        }
        debug_assert_eq!(headers.len(), i);
        headers.push(header);
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

#[test]
fn the_block_reader_finds_fences_their_lines_and_their_headers() {
    let md = "text\n```toml\na = 1\n```\n\n```c\nint x;\n```\n\n```toml,fails\n# error: x\n```\n\
              ```sh\nls\n```\n";
    let b = blocks(md);
    assert_eq!(b.len(), 3, "{b:?}");
    assert_eq!(
        (b[0].line, b[0].lang, b[0].text.as_str()),
        (2, Lang::Toml, "a = 1\n")
    );
    assert_eq!((b[1].line, b[1].lang, b[1].of), (6, Lang::C, Some(0)));
    assert_eq!((b[2].line, b[2].lang), (10, Lang::Fails));
}

#[test]
#[should_panic(expected = "a ```c block shows the header of the ```toml block right before it")]
fn a_c_block_needs_its_schema_right_before_it() {
    blocks("```toml\na = 1\n```\nprose\n```c\nint x;\n```\n");
}

/// The keys the compiler accepts in each table, as its "unknown key" error
/// lists them: asked with a schema holding a key no table has.
fn accepted_keys(where_: &str, schema: &str) -> Vec<String> {
    let e = match kho_schema::compile(&[Source::new("keys.toml", schema)]) {
        Ok(_) => panic!("{where_}: a schema with an unknown key compiled"),
        Err(e) => e.to_string(),
    };
    let list = e
        .lines()
        .find(|l| l.contains("unknown key `no_such_key`"))
        .and_then(|l| l.split_once("expected one of: "))
        .map(|(_, rest)| rest.trim_end_matches(')').to_string())
        .unwrap_or_else(|| panic!("{where_}: no list of the keys in:\n{e}"));
    list.split(", ").map(str::to_string).collect()
}

#[test]
fn the_reference_documents_every_key_the_compiler_accepts() {
    let md = std::fs::read_to_string(doc_path())
        .unwrap_or_else(|e| panic!("{}: {e}", doc_path().display()));
    let head = "[abi]\nname = \"t\"\nversion = 1\n";
    let field = "[[struct]]\nname = \"t_ser\"\nfields = [{ name = \"x\", type = \"u64\" }]\n";
    let tables = [
        ("the top level", format!("no_such_key = 1\n{head}{field}")),
        ("[abi]", format!("{head}no_such_key = 1\n{field}")),
        (
            "[abi.c]",
            format!("{head}[abi.c]\nno_such_key = 1\n{field}"),
        ),
        (
            "[[abi.compatible]]",
            format!(
                "{head}[[abi.compatible]]\nmacro = \"T_X\"\nname = \"x\"\nversion = 1\n\
                 structs = [\"t_ser\"]\nno_such_key = 1\n{field}"
            ),
        ),
        (
            "a constant",
            format!("{head}[constants]\nT_X = {{ value = 1, no_such_key = 1 }}\n{field}"),
        ),
        (
            "[[struct]]",
            format!(
                "{head}[[struct]]\nname = \"t_ser\"\nno_such_key = 1\n\
                 fields = [{{ name = \"x\", type = \"u64\" }}]\n"
            ),
        ),
        (
            "a field",
            format!(
                "{head}[[struct]]\nname = \"t_ser\"\n\
                 fields = [{{ name = \"x\", type = \"u64\", no_such_key = 1 }}]\n"
            ),
        ),
        (
            "[[assert]]",
            format!("{head}{field}[[assert]]\nexpr = \"1\"\nno_such_key = 1\n"),
        ),
    ];
    let mut missing = Vec::new();
    for (where_, schema) in &tables {
        let keys = accepted_keys(where_, schema);
        assert!(!keys.is_empty(), "{where_}");
        for k in keys {
            // Documented as `key` in a table row or as `key = ..` in text.
            if !md.contains(&format!("| `{k}` |")) && !md.contains(&format!("`{k} =")) {
                missing.push(format!("{where_}: `{k}`"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "docs/schema.md does not document these keys:\n{}",
        missing.join("\n")
    );
}
