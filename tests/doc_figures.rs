//! Every figure the docs quote is what simkv computes. docs/beliefs.md and docs/tradeoffs.md
//! quote their numbers in tables headed `| command | figure | value |`; this test runs each
//! command (a `simkv run` with its seed: deterministic) and compares the figure (any
//! `[expect]` figure, or `verdict`) with the quoted value, so the pages cannot go stale.
//! Tables of `simkv compare` runs sit between `<!-- output of: COMMAND -->` and
//! `<!-- end of output -->`, and must be exactly what the command prints (its table, without
//! the title). `scripts/make-doc-figures.sh` rewrites values and tables from the runs instead
//! (`SIMKV_UPDATE_DOCS=1`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use simkv::report::Summary;
use simkv::runner::{Provenance, run_from};
use simkv::scenario::Scenario;

const PAGES: &[&str] = &["docs/beliefs.md", "docs/tradeoffs.md"];
const HEADER: &str = "| command | figure | value |";

/// One quoted figure: where it is, the command, the figure's name and the quoted value.
struct Row {
    line: usize,
    command: String,
    figure: String,
    value: String,
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Splits a command line as a POSIX shell would for simple quoting ('...' and "...").
fn words(command: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut any = false;
    for c in command.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => cur.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                any = true;
            }
            (None, c) if c.is_whitespace() => {
                if any || !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                any = false;
            }
            (None, c) => cur.push(c),
        }
    }
    assert!(quote.is_none(), "unbalanced quote in `{command}`");
    if any || !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn cell(text: &str) -> String {
    text.trim().trim_matches('`').to_string()
}

fn rows(page: &str, text: &str) -> Vec<Row> {
    let mut out = Vec::new();
    let mut in_table = false;
    for (i, line) in text.lines().enumerate() {
        if line.trim() == HEADER {
            in_table = true;
            continue;
        }
        if !in_table || line.starts_with("|---") {
            continue;
        }
        if !line.starts_with('|') {
            in_table = false;
            continue;
        }
        let cells: Vec<&str> = line.trim().trim_matches('|').split(" | ").collect();
        assert_eq!(cells.len(), 3, "{page}:{}: three cells: {line}", i + 1);
        out.push(Row {
            line: i,
            command: cell(cells[0]),
            figure: cell(cells[1]),
            value: cell(cells[2]),
        });
    }
    out
}

/// Runs `simkv run FILE [--seed N] [--set K=V]...` in process.
fn run(command: &str) -> Summary {
    let w = words(command);
    assert!(
        w.len() >= 3 && w[0] == "simkv" && w[1] == "run",
        "only `simkv run` commands are quoted: `{command}`"
    );
    let file = w[2].clone();
    let (mut seed, mut overrides) = (None, Vec::new());
    let mut rest = w[3..].iter();
    while let Some(flag) = rest.next() {
        let value = rest
            .next()
            .unwrap_or_else(|| panic!("`{command}`: {flag} needs a value"));
        match flag.as_str() {
            "--seed" => seed = Some(value.parse::<u64>().expect("a seed")),
            "--set" => overrides.push(value.clone()),
            other => panic!("`{command}`: unsupported flag {other}"),
        }
    }
    let scenario = Scenario::load(&root().join(&file), &overrides)
        .unwrap_or_else(|e| panic!("`{command}`: {e}"));
    let seed = seed.unwrap_or(scenario.seed);
    let source = Provenance {
        scenario_file: file,
        overrides,
        ..Provenance::default()
    };
    run_from(
        &scenario,
        &source,
        seed,
        &mut |_| {},
        &mut |_| {},
        &mut || 0,
    )
    .unwrap_or_else(|e| panic!("`{command}`: {e}"))
    .summary
}

fn figure(s: &Summary, name: &str) -> String {
    match name {
        "verdict" => format!("{:?}", s.verdict).to_lowercase(),
        _ => s.figure(name).to_string(),
    }
}

#[test]
fn every_quoted_figure_is_what_the_command_gives() {
    let update = std::env::var_os("SIMKV_UPDATE_DOCS").is_some();
    let mut runs: BTreeMap<String, Summary> = BTreeMap::new();
    let mut wrong = Vec::new();
    let mut quoted = 0;
    for page in PAGES {
        let path = root().join(page);
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{page}: {e}"));
        let rows = rows(page, &text);
        assert!(!rows.is_empty(), "{page} quotes no figure table");
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        for row in rows {
            quoted += 1;
            let summary = runs
                .entry(row.command.clone())
                .or_insert_with(|| run(&row.command));
            let actual = figure(summary, &row.figure);
            assert!(
                !actual.starts_with("unavailable"),
                "{page}:{}: `{}` of `{}` is {actual}",
                row.line + 1,
                row.figure,
                row.command
            );
            if actual != row.value {
                wrong.push(format!(
                    "{page}:{}: `{}` of `{}` is {actual}, the page says {}",
                    row.line + 1,
                    row.figure,
                    row.command,
                    row.value
                ));
                lines[row.line] = format!("| `{}` | `{}` | {actual} |", row.command, row.figure);
            }
        }
        if update {
            write(&path, &(lines.join("\n") + "\n"));
        }
    }
    assert!(quoted >= 10, "the pages quote {quoted} figures");
    if !update {
        assert!(
            wrong.is_empty(),
            "{}\nrun scripts/make-doc-figures.sh to rewrite them",
            wrong.join("\n")
        );
    }
}

const OUTPUT_OF: &str = "<!-- output of: ";
const END_OF_OUTPUT: &str = "<!-- end of output -->";

/// What a `simkv` command prints on stdout, without its `# title` line.
fn output_of(command: &str) -> String {
    let w = words(command);
    assert_eq!(w.first().map(String::as_str), Some("simkv"), "`{command}`");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_simkv"))
        .args(&w[1..])
        .current_dir(root())
        .env("CI", "1")
        .output()
        .expect("the simkv binary runs");
    assert!(
        out.status.success(),
        "`{command}` failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("UTF-8 output");
    let body: Vec<&str> = text.lines().filter(|l| !l.starts_with("# ")).collect();
    body.join("\n").trim().to_string()
}

/// Replaces every generated block of `text` with what its command prints now; returns the new
/// text and the commands whose output differed.
fn regenerate_outputs(text: &str) -> (String, Vec<String>, usize) {
    let mut out: Vec<String> = Vec::new();
    let mut stale = Vec::new();
    let mut blocks = 0;
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        out.push(line.to_string());
        let Some(command) = line
            .strip_prefix(OUTPUT_OF)
            .and_then(|l| l.strip_suffix(" -->"))
        else {
            continue;
        };
        blocks += 1;
        let mut old = Vec::new();
        for l in lines.by_ref() {
            if l == END_OF_OUTPUT {
                break;
            }
            old.push(l);
        }
        let now = output_of(command);
        if old.join("\n").trim() != now {
            stale.push(command.to_string());
        }
        out.push(String::new());
        out.push(now);
        out.push(String::new());
        out.push(END_OF_OUTPUT.to_string());
    }
    (out.join("\n") + "\n", stale, blocks)
}

#[test]
fn every_generated_table_is_what_the_command_prints() {
    let update = std::env::var_os("SIMKV_UPDATE_DOCS").is_some();
    let path = root().join("docs/tradeoffs.md");
    let text = std::fs::read_to_string(&path).expect("docs/tradeoffs.md");
    let (new, stale, blocks) = regenerate_outputs(&text);
    assert!(
        blocks >= 2,
        "docs/tradeoffs.md has {blocks} generated tables"
    );
    if update {
        write(&path, &new);
    } else {
        assert!(
            stale.is_empty(),
            "docs/tradeoffs.md: the output of {stale:?} changed; run scripts/make-doc-figures.sh"
        );
    }
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

#[test]
fn commands_split_like_a_shell() {
    assert_eq!(
        words("simkv run a.toml --set 'faults=[{kind = \"crash\"}]' --seed 3"),
        [
            "simkv",
            "run",
            "a.toml",
            "--set",
            "faults=[{kind = \"crash\"}]",
            "--seed",
            "3"
        ]
    );
    assert_eq!(words("a '' b"), ["a", "", "b"]);
}
